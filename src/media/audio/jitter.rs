//! The adaptive audio jitter buffer: packets arrive when the network lets them, playout takes
//! one 20 ms frame at a time on its own clock, and this sits between them.
//!
//! It steers by headroom, the time a packet waited between arriving and being played. A packet
//! that came too late (or one played with almost no headroom) means the buffer is too short: it
//! grows at once by inserting concealment frames. Headroom to spare is given back two ways: the
//! playout side shortens decoded audio by a pitch period at a time ([`JitterBuffer::excess`],
//! [`JitterBuffer::shed`], NetEQ's "accelerate"), which brings a buffer grown by a burst of
//! jitter back within a second or two without a sound; and, when headroom stayed above a
//! frame's worth for the last few seconds all the same, a whole frame is dropped, at most one a
//! second. The same moves absorb clock drift between sender and receiver, which shows up as
//! headroom creeping up or down.
//!
//! A loss costs no delay: when playout finds the buffer empty it conceals and waits (the
//! packet may be late, or the sender paused), but if the next packet to come is a later one,
//! the frames concealed meanwhile stand for the missing slots and playout goes on from the
//! newcomer at its own time.
//!
//! The buffer holds between 20 and 200 ms. Sans-IO: time is passed in.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

pub const FRAME: Duration = Duration::from_millis(20);
const MIN_DELAY: Duration = Duration::from_millis(20);
const MAX_DELAY: Duration = Duration::from_millis(200);
/// Headroom kept on top of the worst lateness seen, for what the window did not see.
const MARGIN: Duration = Duration::from_millis(5);
/// Before the first frame is played, packets are held this long.
const START_DELAY: Duration = Duration::from_millis(40);
/// The buffer shrinks only after this many one-second windows all had spare headroom.
const SHRINK_WINDOWS: usize = 4;
const WINDOW: Duration = Duration::from_secs(1);
/// A sequence number this far from the expected one means the sender started over.
const RESET_GAP: u64 = 500;
/// How many played slots are remembered to tell how late a late packet was.
const DUE_MEMORY: usize = 64;
/// Headroom kept when shedding: what the latest packet of the last windows waited, less this,
/// is spare.
const KEEP: Duration = Duration::from_millis(10);
/// The windows (besides the current one) whose least headroom says what is spare. One: the
/// jitter of a call's first seconds (both ends' codecs starting on a busy machine) was given
/// back two seconds sooner than with two, in `benches/loss.sh`'s calls, with no more
/// concealment under loss.
const SHED_WINDOWS: usize = 1;

/// What playout gets for the next 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Not started yet: play silence.
    Wait,
    /// The packet for this slot.
    Packet(Vec<u8>),
    /// This slot's packet is missing but the next one is here: decode its FEC data.
    Fec(Vec<u8>),
    /// Nothing to decode: conceal (lost packet, or the buffer growing).
    Conceal,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub packets: u64,
    /// Underruns: a packet that arrived after its slot was played, or playout finding the
    /// buffer empty.
    pub late: u64,
    pub lost: u64,
    pub fec_recovered: u64,
    pub duplicates: u64,
    /// Frames inserted to grow the buffer.
    pub expanded: u64,
    /// Frames dropped to shrink it.
    pub dropped: u64,
    /// Frames played as concealment (a packet missing at its turn, or the buffer growing).
    pub concealed: u64,
    /// Microseconds of audio playout left out to shorten the buffer (time compression).
    pub shed: u64,
}

pub struct JitterBuffer {
    packets: BTreeMap<u64, (Vec<u8>, Instant)>,
    /// The extended sequence number of the next slot to play; None before the first packet.
    next: Option<u64>,
    highest: u64,
    started: bool,
    first_arrival: Option<Instant>,
    /// Frames still to insert before playing on.
    expand_pending: u32,
    /// Since when playout has found the buffer empty (it waits, concealing, rather than
    /// skipping slots nobody has sent yet), and how many frames it concealed since.
    starved_since: Option<(Instant, u32)>,
    /// When each recently played slot was due.
    due: VecDeque<(u64, Instant)>,
    window_start: Option<Instant>,
    window_min: Option<Duration>,
    recent_mins: VecDeque<Duration>,
    last_shrink: Option<Instant>,
    headroom_sum: Duration,
    headroom_count: u32,
    delay: Duration,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl JitterBuffer {
    pub fn new() -> Self {
        Self {
            packets: BTreeMap::new(),
            next: None,
            highest: 0,
            started: false,
            first_arrival: None,
            expand_pending: 0,
            starved_since: None,
            due: VecDeque::with_capacity(DUE_MEMORY),
            window_start: None,
            window_min: None,
            recent_mins: VecDeque::with_capacity(SHRINK_WINDOWS),
            last_shrink: None,
            headroom_sum: Duration::ZERO,
            headroom_count: 0,
            delay: START_DELAY,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// How long packets wait before playout, averaged over the last second.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Audio queued ahead of playout.
    fn span(&self) -> Duration {
        match self.next {
            Some(next) if self.highest >= next => FRAME * (self.highest - next + 1) as u32,
            _ => Duration::ZERO,
        }
    }

    /// A packet arrived.
    pub fn push(&mut self, seq: u16, payload: &[u8], now: Instant) {
        self.stats.packets += 1;
        let reference = self.next.unwrap_or(u64::from(seq) + (1 << 16));
        let ext = extend(seq, reference.max(self.highest));
        let Some(next) = self.next else {
            self.restart(ext, now);
            self.packets.insert(ext, (payload.to_vec(), now));
            return;
        };
        if ext.abs_diff(next) > RESET_GAP && ext.abs_diff(self.highest) > RESET_GAP {
            self.packets.clear();
            self.restart(ext, now);
            self.packets.insert(ext, (payload.to_vec(), now));
            return;
        }
        if ext < next {
            self.late(ext, now);
            return;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.highest = self.highest.max(ext);
        self.packets.insert(ext, (payload.to_vec(), now));
        if let Some((since, concealed)) = self.starved_since.take() {
            if ext == next {
                // Playout waited for this very packet: grow by as long as it waited.
                self.stats.late += 1;
                self.grow_for(now.saturating_duration_since(since));
            } else {
                // A later one came first: the missing ones were lost (or come out of order, and
                // will be late). The frames concealed while waiting played their slots.
                let covered = u64::from(concealed).min(ext - next);
                for (i, slot) in (next..next + covered).enumerate() {
                    self.stats.lost += 1;
                    self.advance(slot, since + FRAME * i as u32);
                }
            }
        }
        self.trim(now);
    }

    /// A burst after an outage would hold playout far behind: keep at most the maximum delay.
    fn trim(&mut self, now: Instant) {
        while self.span() > MAX_DELAY + FRAME {
            let Some(next) = self.next else { return };
            if self.packets.remove(&next).is_some() {
                self.stats.dropped += 1;
            }
            self.advance(next, now);
        }
    }

    fn grow_for(&mut self, missed: Duration) {
        let missed = missed + MARGIN;
        let frames = missed.as_micros().div_ceil(FRAME.as_micros()) as u32;
        let room = (MAX_DELAY.saturating_sub(self.span()).as_micros() / FRAME.as_micros()) as u32;
        self.expand_pending = self.expand_pending.max(frames.min(room));
    }

    fn restart(&mut self, ext: u64, now: Instant) {
        self.next = Some(ext);
        self.highest = ext;
        self.started = false;
        self.first_arrival = Some(now);
        self.due.clear();
    }

    /// A packet whose slot has passed: grow by as much as it missed by, plus the margin.
    fn late(&mut self, ext: u64, now: Instant) {
        let Some(&(_, due)) = self.due.iter().find(|(seq, _)| *seq == ext) else {
            // Older than we remember: a duplicate or a straggler, nothing to learn.
            self.stats.duplicates += 1;
            return;
        };
        self.stats.late += 1;
        self.grow_for(now.saturating_duration_since(due));
    }

    /// The next 20 ms of playout. Call once per frame, on the playout clock.
    pub fn pop(&mut self, now: Instant) -> Playout {
        let Some(next) = self.next else {
            return Playout::Wait;
        };
        if !self.started {
            let waited = self
                .first_arrival
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            if waited < START_DELAY {
                return Playout::Wait;
            }
            self.started = true;
        }
        if self.expand_pending > 0 {
            self.expand_pending -= 1;
            self.stats.expanded += 1;
            self.stats.concealed += 1;
            return Playout::Conceal;
        }
        self.end_window(now);
        if self.should_shrink(now) {
            // Every packet seen will now have waited a frame less.
            for min in self.recent_mins.iter_mut().chain(self.window_min.as_mut()) {
                *min = min.saturating_sub(FRAME);
            }
            self.last_shrink = Some(now);
            if self.packets.remove(&next).is_some() {
                self.stats.dropped += 1;
                self.advance(next, now);
                return self.pop_slot(next + 1, now);
            }
        }
        self.pop_slot(next, now)
    }

    /// Headroom to spare: how much sooner every packet of the last seconds could have been
    /// played, less what is kept for safety. Playout may shorten what it plays by up to this
    /// much (and says so with [`Self::shed`]).
    pub fn excess(&self) -> Duration {
        if !self.started || self.expand_pending > 0 || self.starved_since.is_some() {
            return Duration::ZERO;
        }
        // Only windows seen in full say what the network does.
        if self.recent_mins.is_empty() {
            return Duration::ZERO;
        }
        let least = self
            .recent_mins
            .iter()
            .rev()
            .take(SHED_WINDOWS)
            .chain(self.window_min.as_ref())
            .min()
            .copied()
            .unwrap_or_default();
        least.saturating_sub(KEEP)
    }

    /// Playout shortened what it played by `shortened`: every packet from now on waits that
    /// much less.
    pub fn shed(&mut self, shortened: Duration) {
        for min in self.recent_mins.iter_mut().chain(self.window_min.as_mut()) {
            *min = min.saturating_sub(shortened);
        }
        self.stats.shed += shortened.as_micros() as u64;
    }

    fn pop_slot(&mut self, slot: u64, now: Instant) -> Playout {
        if self.packets.is_empty() {
            // Nothing sent for this slot has come yet: wait for it rather than skip it.
            self.starved_since.get_or_insert((now, 0)).1 += 1;
            self.stats.concealed += 1;
            return Playout::Conceal;
        }
        self.advance(slot, now);
        if let Some((payload, arrived)) = self.packets.remove(&slot) {
            self.headroom(now.saturating_duration_since(arrived));
            return Playout::Packet(payload);
        }
        self.stats.lost += 1;
        match self.packets.get(&(slot + 1)) {
            Some((payload, _)) => {
                self.stats.fec_recovered += 1;
                Playout::Fec(payload.clone())
            }
            None => {
                self.stats.concealed += 1;
                Playout::Conceal
            }
        }
    }

    fn advance(&mut self, slot: u64, now: Instant) {
        if self.due.len() == DUE_MEMORY {
            self.due.pop_front();
        }
        self.due.push_back((slot, now));
        self.next = Some(slot + 1);
        self.highest = self.highest.max(slot);
    }

    fn headroom(&mut self, headroom: Duration) {
        self.window_min = Some(self.window_min.map_or(headroom, |m| m.min(headroom)));
        self.headroom_sum += headroom;
        self.headroom_count += 1;
        // Played with almost none: the next one like it would be late. Grow before it is.
        if headroom < MARGIN / 2 && self.span() + FRAME <= MAX_DELAY {
            self.expand_pending = self.expand_pending.max(1);
        }
    }

    fn end_window(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) < WINDOW {
            return;
        }
        self.window_start = Some(now);
        if self.headroom_count > 0 {
            self.delay = self.headroom_sum / self.headroom_count;
        }
        self.headroom_sum = Duration::ZERO;
        self.headroom_count = 0;
        if self.recent_mins.len() == SHRINK_WINDOWS {
            self.recent_mins.pop_front();
        }
        // A window where nothing was played says nothing about spare headroom.
        if let Some(min) = self.window_min.take() {
            self.recent_mins.push_back(min);
        } else {
            self.recent_mins.clear();
        }
    }

    fn should_shrink(&self, now: Instant) -> bool {
        self.recent_mins.len() == SHRINK_WINDOWS
            && self
                .last_shrink
                .is_none_or(|t| now.saturating_duration_since(t) >= WINDOW)
            && self.expand_pending == 0
            && self.delay > MIN_DELAY
            && self.recent_mins.iter().all(|min| *min >= FRAME + MARGIN)
    }
}

/// The 64-bit sequence number nearest to `reference` whose low 16 bits are `seq`.
fn extend(seq: u16, reference: u64) -> u64 {
    let base = reference & !0xFFFF;
    let candidates = [
        base.wrapping_sub(1 << 16) | u64::from(seq),
        base | u64::from(seq),
        (base + (1 << 16)) | u64::from(seq),
    ];
    candidates
        .into_iter()
        .min_by_key(|c| c.abs_diff(reference))
        .unwrap_or(u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_the_wrap() {
        assert_eq!(extend(5, 65_535 + 65_536), 65_536 * 2 + 5);
        assert_eq!(extend(65_530, 65_536 * 2 + 3), 65_536 + 65_530);
        assert_eq!(extend(7, 70_000), 65_536 + 7);
    }

    #[test]
    fn in_order_packets_come_out_in_order_after_the_start_delay() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new();
        let mut out = Vec::new();
        for i in 0..20u16 {
            let now = t0 + FRAME * u32::from(i);
            jb.push(i, &[i as u8], now);
            out.push(jb.pop(now));
        }
        assert_eq!(out[0], Playout::Wait);
        let played: Vec<u8> = out
            .iter()
            .filter_map(|p| match p {
                Playout::Packet(p) => Some(p[0]),
                _ => None,
            })
            .collect();
        assert!(played.windows(2).all(|w| w[1] == w[0] + 1), "{played:?}");
        assert_eq!(played[0], 0);
    }

    #[test]
    fn a_missing_packet_is_recovered_from_the_next_ones_fec() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new();
        for i in [0u16, 1, 3, 4] {
            jb.push(i, &[i as u8], t0);
        }
        let now = t0 + START_DELAY;
        assert_eq!(jb.pop(now), Playout::Packet(vec![0]));
        assert_eq!(jb.pop(now), Playout::Packet(vec![1]));
        assert_eq!(jb.pop(now), Playout::Fec(vec![3]));
        assert_eq!(jb.pop(now), Playout::Packet(vec![3]));
        assert_eq!(jb.stats().fec_recovered, 1);
    }

    #[test]
    fn frames_concealed_while_waiting_stand_for_a_lost_packet() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut jb = JitterBuffer::new();
        jb.push(0, &[0], at(0));
        jb.push(1, &[1], at(20));
        assert_eq!(jb.pop(at(40)), Playout::Packet(vec![0]));
        assert_eq!(jb.pop(at(60)), Playout::Packet(vec![1]));
        // Packet 2 is lost: playout finds nothing and conceals, waiting.
        assert_eq!(jb.pop(at(80)), Playout::Conceal);
        jb.push(3, &[3], at(85));
        // The concealment played slot 2: 3 comes next, at its own time, not a frame later.
        assert_eq!(jb.pop(at(100)), Playout::Packet(vec![3]));
        assert_eq!(jb.stats().lost, 1);
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn a_packet_playout_waited_for_grows_the_buffer() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut jb = JitterBuffer::new();
        jb.push(0, &[0], at(0));
        assert_eq!(jb.pop(at(40)), Playout::Packet(vec![0]));
        assert_eq!(jb.pop(at(60)), Playout::Conceal);
        // Packet 1 was only late: it is played, and the buffer grows by what it waited.
        jb.push(1, &[1], at(75));
        assert_eq!(jb.pop(at(80)), Playout::Conceal);
        assert_eq!(jb.pop(at(100)), Playout::Packet(vec![1]));
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn garbage_sequence_jumps_restart_instead_of_stalling() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new();
        jb.push(10, &[1], t0);
        jb.push(40_000, &[2], t0);
        assert_eq!(jb.pop(t0 + START_DELAY), Playout::Packet(vec![2]));
    }
}
