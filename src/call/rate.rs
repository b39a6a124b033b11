//! How much video a path can take. str0m's estimate is delay-based: it sees a queue that is
//! growing, but a router queue that is already full has a high, flat delay that looks like
//! calm, and str0m's loss side forgives up to about 17 % loss at 800 kbit/s. So each path also
//! gets the classic loss rule of Google Congestion Control (draft-ietf-rmcat-gcc, section 6):
//! over 10 % loss cuts the rate by half the loss, under 2 % lets it grow back.
//!
//! Between 2 and 10 % that rule holds the rate, which leaves a sender a little over the path's
//! capacity with the queue full for good (half a second of delay behind a 500 ms buffer). The
//! round trip tells that case apart: far above the lowest seen, with loss, the queue is standing,
//! and the rate drops to 85 % of what gets through (GCC's decrease on overuse) so that it drains.
//!
//! Loss that is not congestion (a radio link, a lossy hop) does not answer to the rate: GCC's
//! rule would cut again every second it is over 10 % and never grow back, down to a picture
//! the encoder can only keep up by skipping frames. So a cut is a question: when the loss of
//! the seconds after it is as high as before it, with no queue to see, the loss is the
//! path's own, the cut is undone, and loss up to that level (and a margin) no longer cuts.
//! A policer answers: less sent, less lost, and cutting goes on.

use std::time::{Duration, Instant};

use crate::media::video::h264;

const AUDIO_BPS: u64 = 40_000;
/// Video's share of what is left after audio: retransmissions and packet headers are not in
/// the encoder's rate.
const VIDEO_MARGIN: f64 = 0.85;
const HEAVY_LOSS: f32 = 0.10;
const LIGHT_LOSS: f32 = 0.02;
/// Loss is reported over the last second: act on it once a second, not on every report of the
/// same loss.
const LOSS_EVERY: Duration = Duration::from_secs(1);
const RECOVERY: f64 = 1.08;
/// A round trip this far above the lowest seen, with loss, is a router queue that stays full.
const STANDING_QUEUE: Duration = Duration::from_millis(100);
/// GCC's decrease on overuse: 85 % of the rate that gets through.
const OVERUSE_DECREASE: f64 = 0.85;
/// The lowest round trip is forgotten after this long (the path may have changed).
const MIN_RTT_KEPT: Duration = Duration::from_secs(30);
/// Loss after a cut at least this share of the loss before it did not answer to the rate.
const UNANSWERED: f32 = 0.8;
/// Loss this far above the path's own is new (congestion on top of it): cut.
const OWN_LOSS_MARGIN: f32 = 0.03;
/// The path's own loss is forgotten after this long, and so is a cut's question.
const OWN_LOSS_KEPT: Duration = Duration::from_secs(30);
const CUT_ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// What video may use of a path's allowance: what is left after audio, less a margin.
pub fn video_share(allowed_bps: u64) -> u32 {
    let video = (allowed_bps.saturating_sub(AUDIO_BPS) as f64 * VIDEO_MARGIN) as u64;
    video.clamp(
        u64::from(h264::MIN_BITRATE_BPS),
        u64::from(h264::MAX_BITRATE_BPS),
    ) as u32
}

/// How video's rate is shared while we share a screen: (camera, screen), bit/s. The screen
/// comes first (people read it), with two thirds; the camera keeps the rest but never less than
/// the encoder's floor, taken from the screen's share when the path is narrow. Each stays within
/// what one encoder takes.
pub fn split_for_share(video_bps: u32) -> (u32, u32) {
    let camera = (video_bps / 3).max(h264::MIN_BITRATE_BPS);
    let screen = video_bps.saturating_sub(camera).max(h264::MIN_BITRATE_BPS);
    (
        camera.min(h264::MAX_BITRATE_BPS),
        screen.min(h264::MAX_BITRATE_BPS),
    )
}

/// One path's rate: str0m's estimate, held down by loss.
#[derive(Debug, Default, Clone)]
pub struct PathRate {
    estimate: Option<u64>,
    loss_cap: Option<f64>,
    last_loss_step: Option<Instant>,
    rtt: Option<Duration>,
    /// The lowest round trip lately, and since when it stands.
    min_rtt: Option<(Duration, Instant)>,
    /// The last cut for loss: when, the loss that made it, and the cap before it.
    last_cut: Option<(Instant, f32, Option<f64>)>,
    /// Loss the path has whatever we send (it did not answer to a cut), and since when.
    own_loss: Option<(f32, Instant)>,
}

impl PathRate {
    pub fn on_estimate(&mut self, bps: u64) {
        self.estimate = Some(bps);
    }

    /// The latest round trip to the remote (from its receiver reports).
    pub fn on_rtt(&mut self, now: Instant, rtt: Duration) {
        self.rtt = Some(rtt);
        let keep = self
            .min_rtt
            .is_some_and(|(min, since)| min <= rtt && now - since < MIN_RTT_KEPT);
        if !keep {
            self.min_rtt = Some((rtt, now));
        }
    }

    fn standing_queue(&self) -> bool {
        self.rtt
            .zip(self.min_rtt)
            .is_some_and(|(rtt, (min, _))| rtt > min + STANDING_QUEUE)
    }

    /// The fraction of what we sent that the remote reports lost over the last second.
    pub fn on_loss(&mut self, now: Instant, loss: f32) {
        if self.last_loss_step.is_some_and(|t| now - t < LOSS_EVERY) {
            return;
        }
        let Some(estimate) = self.estimate else {
            return;
        };
        let estimate = estimate as f64;
        let queued = loss >= LIGHT_LOSS && self.standing_queue();
        if self
            .own_loss
            .is_some_and(|(_, since)| now - since > OWN_LOSS_KEPT)
        {
            self.own_loss = None;
        }
        if !queued && loss > HEAVY_LOSS {
            // The answer to the last cut: loss as high as before it is the path's own.
            if let Some((at, before, cap)) = self.last_cut.take()
                && now - at <= CUT_ANSWER_WITHIN
                && loss >= before * UNANSWERED
            {
                self.own_loss = Some((loss.max(before), now));
                self.loss_cap = cap;
                self.last_loss_step = Some(now);
                return;
            }
            if let Some((own, _)) = self.own_loss
                && loss <= own + OWN_LOSS_MARGIN
            {
                // Refreshed: it is still the path's.
                self.own_loss = Some((own.max(loss), now));
                return;
            }
        }
        if loss > HEAVY_LOSS || queued {
            let base = self.loss_cap.unwrap_or(estimate).min(estimate);
            let mut cap = base * (1.0 - 0.5 * f64::from(loss));
            if queued {
                cap = cap.min(base * (1.0 - f64::from(loss)) * OVERUSE_DECREASE);
            }
            self.last_cut = (!queued).then_some((now, loss, self.loss_cap));
            self.loss_cap = Some(cap);
            self.last_loss_step = Some(now);
        } else if loss < LIGHT_LOSS
            && let Some(cap) = self.loss_cap
        {
            let grown = cap * RECOVERY;
            self.loss_cap = (grown < estimate).then_some(grown);
            self.last_loss_step = Some(now);
        }
    }

    /// What the path can carry, all media included; None before the first estimate.
    pub fn allowed(&self) -> Option<u64> {
        let estimate = self.estimate?;
        Some(match self.loss_cap {
            Some(cap) => (cap.round() as u64).min(estimate),
            None => estimate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_takes_two_thirds_and_the_camera_keeps_its_floor() {
        assert_eq!(split_for_share(1_500_000), (500_000, 1_000_000));
        // Narrow: both at the floor, the screen no lower.
        let (camera, screen) = split_for_share(200_000);
        assert_eq!(camera, h264::MIN_BITRATE_BPS);
        assert_eq!(screen, h264::MIN_BITRATE_BPS);
        // Wide: neither past one encoder's ceiling.
        let (camera, screen) = split_for_share(9_000_000);
        assert!(camera <= h264::MAX_BITRATE_BPS && screen <= h264::MAX_BITRATE_BPS);
    }

    #[test]
    fn video_gets_what_audio_leaves_less_a_margin_within_the_encoder_range() {
        assert_eq!(video_share(1_040_000), 850_000);
        assert_eq!(video_share(0), h264::MIN_BITRATE_BPS);
        assert_eq!(video_share(100_000_000), h264::MAX_BITRATE_BPS);
    }

    #[test]
    fn heavy_loss_cuts_once_a_second_and_light_loss_lets_it_grow_back() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut rate = PathRate::default();
        rate.on_loss(at(0), 0.5);
        assert_eq!(rate.allowed(), None, "no estimate yet");
        rate.on_estimate(1_000_000);
        rate.on_loss(at(0), 0.30);
        assert_eq!(rate.allowed(), Some(850_000));
        // The same second's loss again: no second cut.
        rate.on_loss(at(200), 0.30);
        assert_eq!(rate.allowed(), Some(850_000));
        rate.on_loss(at(1_000), 0.20);
        assert_eq!(rate.allowed(), Some(765_000));
        // Moderate loss holds; light loss grows 8 % a second until the estimate rules again.
        rate.on_loss(at(2_000), 0.05);
        assert_eq!(rate.allowed(), Some(765_000));
        rate.on_loss(at(3_000), 0.0);
        assert_eq!(rate.allowed(), Some(826_200));
        for second in 4..10 {
            rate.on_loss(at(second * 1_000), 0.0);
        }
        assert_eq!(rate.allowed(), Some(1_000_000));
        // Loss the path always has (5 %) never cuts.
        for second in 10..20 {
            rate.on_loss(at(second * 1_000), 0.05);
        }
        assert_eq!(rate.allowed(), Some(1_000_000));
    }

    #[test]
    fn moderate_loss_behind_a_standing_queue_drains_it_and_random_loss_does_not() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut rate = PathRate::default();
        rate.on_estimate(1_000_000);
        rate.on_rtt(at(0), Duration::from_millis(40));
        // 5 % loss on a calm path: held.
        rate.on_loss(at(0), 0.05);
        assert_eq!(rate.allowed(), Some(1_000_000));
        // The same loss with the round trip half a second up: 85 % of what got through.
        rate.on_rtt(at(1_000), Duration::from_millis(540));
        rate.on_loss(at(1_000), 0.05);
        assert_eq!(rate.allowed(), Some(807_500));
        // A lowest round trip that old is forgotten: the higher one is the path's now.
        rate.on_rtt(at(40_000), Duration::from_millis(540));
        rate.on_loss(at(40_000), 0.05);
        assert_eq!(rate.allowed(), Some(807_500));
    }

    #[test]
    fn loss_that_does_not_answer_to_a_cut_is_the_paths_own_and_cuts_no_more() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut rate = PathRate::default();
        rate.on_estimate(2_000_000);
        rate.on_rtt(at(0), Duration::from_millis(20));
        // 12 % loss, whatever is sent: one cut, then it is undone.
        rate.on_loss(at(0), 0.12);
        assert_eq!(rate.allowed(), Some(1_880_000));
        rate.on_loss(at(1), 0.11);
        assert_eq!(rate.allowed(), Some(2_000_000));
        for second in 2..40 {
            let loss = if second % 2 == 0 { 0.13 } else { 0.10 };
            rate.on_loss(at(second), loss);
            assert_eq!(rate.allowed(), Some(2_000_000), "second {second}");
        }
        // Much more loss than the path's own is congestion on top of it: cut.
        rate.on_loss(at(40), 0.30);
        assert_eq!(rate.allowed(), Some(1_700_000));
    }

    #[test]
    fn loss_that_answers_to_the_rate_goes_on_being_cut() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut rate = PathRate::default();
        rate.on_estimate(2_000_000);
        // A policer: each cut brings less loss, but still over 10 %.
        let mut allowed = 2_000_000;
        for (second, loss) in [0.40f32, 0.30, 0.22, 0.16, 0.12].into_iter().enumerate() {
            rate.on_loss(at(second as u64), loss);
            let now = rate.allowed().unwrap();
            assert!(now < allowed, "second {second}: {now}");
            allowed = now;
        }
    }

    #[test]
    fn a_lower_estimate_rules_over_the_cap() {
        let mut rate = PathRate::default();
        rate.on_estimate(2_000_000);
        rate.on_loss(Instant::now(), 0.2);
        rate.on_estimate(500_000);
        assert_eq!(rate.allowed(), Some(500_000));
    }
}
