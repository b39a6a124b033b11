//! When a participant's pictures are shown: on a steady timeline, late enough that a picture
//! repaired by a resend still comes in time, and no sooner than its sound (lip sync).
//!
//! Each picture's transit (arrival less its RTP time) is compared with the least transit of
//! the last half minute: the difference is how late it came. Pictures that lost a packet come
//! a resend later (the NACK's wait, a round trip, and again if the resend was lost too). A
//! gap between pictures longer than a frame plus 150 ms is a freeze (WebRTC's count), so the
//! timeline runs behind arrivals by as much as the latest pictures of the last seconds came
//! late, less [`FREEZE_SLACK`]: those then show a little late, never frozen. Lip sync puts the
//! timeline where the sound is; resends may take it up to a round trip further (the latency a
//! resend costs anyway), and str0m's 33 ms wait to ask for one, no more. It glides, since a
//! step of delay stops the pictures for as long as the step.
//!
//! Sans-IO: the machine passes time and RTP times in and gives each unit the hold the decoder
//! should keep after decoding it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// H.264's RTP clock.
const RTP_HZ: f64 = 90_000.0;
/// Lateness is remembered this long to set the delay.
const LATE_MEMORY: Duration = Duration::from_secs(10);
/// The least transit is taken over this many one-second spans (clocks drift, routes change).
const BASE_SPANS: usize = 30;
/// A picture this much later than its place on the timeline is still no freeze (that takes
/// 150 ms past the frame interval), with room for the picture after it to be late too, for
/// decoding and the screen. 120 ms left too little: at a 200 ms round trip pictures repaired
/// by one resend froze now and then (a gap of 187 ms), and at 10 % loss twice resent ones.
const FREEZE_SLACK: Duration = Duration::from_millis(60);
/// str0m asks for resends on a fixed 33 ms cadence: a resend costs up to that on top of the
/// round trip (and each retry the round trip rounded up to it).
const NACK_CADENCE: Duration = Duration::from_millis(33);
/// Until a round trip is measured, str0m spaces its retries as if it were this.
const UNMEASURED_RTT: Duration = Duration::from_millis(100);
/// Steps of the timeline's delay, per picture.
const RISE_PER_PICTURE: Duration = Duration::from_millis(10);
const FALL_PER_PICTURE: Duration = Duration::from_millis(1);

#[derive(Debug, Default)]
pub struct VideoTiming {
    /// The first picture's arrival and RTP time: transits are counted from it.
    origin: Option<(Instant, u64)>,
    /// Least transit (seconds) of each recent second, with when that second started.
    spans: VecDeque<(Instant, f64)>,
    /// How late each picture of the last [`LATE_MEMORY`] came.
    late: VecDeque<(Instant, Duration)>,
    /// How far the timeline runs behind on-time arrival.
    delay: Duration,
}

impl VideoTiming {
    /// A picture with RTP time `rtp` arrived. `sync` is how long its sound waits (lip sync)
    /// and `rtt` the path's round trip. Returns how long to hold the picture once decoded.
    pub fn picture(
        &mut self,
        now: Instant,
        rtp: u64,
        sync: Duration,
        rtt: Option<Duration>,
    ) -> Duration {
        let late = self.lateness(now, rtp);
        // All that is older goes (after a pause in their video, more than one).
        while self
            .late
            .front()
            .is_some_and(|(at, _)| now - *at > LATE_MEMORY)
        {
            self.late.pop_front();
        }
        self.late.push_back((now, late));
        // Lip sync sets where the timeline is without loss; resends may take it a round trip
        // past that, and str0m's wait to ask, no further.
        let most = sync + rtt.unwrap_or(UNMEASURED_RTT) + NACK_CADENCE;
        let resends = self.for_resends().min(most);
        let wanted = resends.max(sync);
        self.delay = if wanted > self.delay {
            wanted.min(self.delay + RISE_PER_PICTURE)
        } else {
            wanted.max(self.delay.saturating_sub(FALL_PER_PICTURE))
        };
        self.delay.saturating_sub(late)
    }

    /// How far the timeline runs behind on-time arrival now.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// How late a picture is against the least transit of the last half minute.
    fn lateness(&mut self, now: Instant, rtp: u64) -> Duration {
        let (t0, rtp0) = *self.origin.get_or_insert((now, rtp));
        // RTP times come extended (64 bits) and in order; one from before the origin (a
        // restarted sender) only starts the count again.
        let Some(since) = rtp.checked_sub(rtp0) else {
            *self = Self::default();
            return self.lateness(now, rtp);
        };
        let transit = (now - t0).as_secs_f64() - since as f64 / RTP_HZ;
        match self.spans.back_mut() {
            Some((start, least)) if now - *start < Duration::from_secs(1) => {
                *least = least.min(transit);
            }
            _ => {
                if self.spans.len() == BASE_SPANS {
                    self.spans.pop_front();
                }
                self.spans.push_back((now, transit));
            }
        }
        let base = self
            .spans
            .iter()
            .map(|(_, least)| *least)
            .fold(f64::INFINITY, f64::min);
        Duration::try_from_secs_f64(transit - base).unwrap_or_default()
    }

    /// The delay that keeps every late picture of the last seconds from freezing.
    fn for_resends(&self) -> Duration {
        let latest = self.late.iter().map(|(_, l)| *l).max().unwrap_or_default();
        latest.saturating_sub(FREEZE_SLACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_micros(33_333);

    /// Pictures every frame for `seconds`, each `late(i)` behind its time, and none before
    /// the one ahead of it (str0m hands frames on in order); the holds given.
    fn run(
        timing: &mut VideoTiming,
        t0: Instant,
        seconds: u32,
        late: impl Fn(u32) -> Duration,
    ) -> Vec<Duration> {
        let rtt = Some(Duration::from_millis(200));
        let mut previous = t0;
        (0..seconds * 30)
            .map(|i| {
                let at = (t0 + FRAME * i + Duration::from_millis(20) + late(i)).max(previous);
                previous = at;
                timing.picture(at, u64::from(i) * 3000, Duration::ZERO, rtt)
            })
            .collect()
    }

    #[test]
    fn on_time_pictures_are_not_held() {
        let mut timing = VideoTiming::default();
        let holds = run(&mut timing, Instant::now(), 10, |_| Duration::ZERO);
        assert!(holds.iter().all(|h| *h == Duration::ZERO), "{holds:?}");
    }

    #[test]
    fn pictures_repaired_late_set_a_timeline_that_holds_the_others() {
        let mut timing = VideoTiming::default();
        // Every 50th picture waits for a resend: 220 ms (a 200 ms round trip and the NACK).
        let late = |i: u32| {
            if i % 50 == 49 {
                Duration::from_millis(220)
            } else {
                Duration::ZERO
            }
        };
        let holds = run(&mut timing, Instant::now(), 20, late);
        // Settled: the timeline runs 220 ms less the slack behind (to a microsecond: lateness
        // is reckoned in seconds), and the late ones are not held.
        let near =
            |d: Duration, ms: u64| d.abs_diff(Duration::from_millis(ms)) < Duration::from_micros(5);
        let behind = 220 - FREEZE_SLACK.as_millis() as u64;
        assert!(near(timing.delay(), behind), "{:?}", timing.delay());
        assert!(
            near(holds[holds.len() - 2], behind),
            "{:?}",
            holds[holds.len() - 2]
        );
        assert_eq!(holds[holds.len() - 1], Duration::ZERO);
        // The delay rose in steps of at most 10 ms a picture.
        let mut timing = VideoTiming::default();
        let t0 = Instant::now();
        let mut previous = Duration::ZERO;
        for i in 0..600u32 {
            let at = t0 + FRAME * i + late(i);
            timing.picture(
                at,
                u64::from(i) * 3000,
                Duration::ZERO,
                Some(Duration::from_millis(200)),
            );
            assert!(timing.delay() <= previous + RISE_PER_PICTURE);
            previous = timing.delay();
        }
    }

    #[test]
    fn the_delay_stays_within_a_round_trip_and_comes_back_down() {
        let mut timing = VideoTiming::default();
        let t0 = Instant::now();
        let late = |i: u32| {
            if i % 30 == 5 {
                Duration::from_millis(600)
            } else {
                Duration::ZERO
            }
        };
        run(&mut timing, t0, 5, late);
        // 600 ms late would want 480; a round trip and str0m's NACK wait is the most.
        assert_eq!(timing.delay(), Duration::from_millis(233));
        // Ten seconds on time: what was late is forgotten and the delay glides back to none.
        let rtt = Some(Duration::from_millis(200));
        for i in 150..900u32 {
            let at = t0 + FRAME * i + Duration::from_millis(20);
            timing.picture(at, u64::from(i) * 3000, Duration::ZERO, rtt);
        }
        assert_eq!(timing.delay(), Duration::ZERO);
    }

    #[test]
    fn pictures_wait_for_their_sound() {
        let mut timing = VideoTiming::default();
        let t0 = Instant::now();
        let mut hold = Duration::ZERO;
        for i in 0..30u32 {
            let at = t0 + FRAME * i;
            hold = timing.picture(at, u64::from(i) * 3000, Duration::from_millis(60), None);
        }
        assert_eq!(hold, Duration::from_millis(60));
    }
}
