//! Keeps str0m's SRTP rollover counter where a libsrtp sender has it, early in a stream.
//!
//! SRTP encrypts each packet under its 48-bit index (rollover counter × 2^16 + sequence
//! number); the counter is not sent, so both ends guess it from the sequence numbers. They
//! guess alike but for one case: while a stream is still in its first half cycle (index below
//! 2^15), a packet whose sequence number is more than half a cycle ahead. libsrtp (Janus,
//! Chromium) takes it as a jump forward in the first cycle; str0m takes it as a step back into
//! a cycle before the first. From then on every packet is encrypted under a counter one above
//! the one str0m decrypts with, and the stream is lost for good: bytes come, nothing decrypts.
//!
//! Janus sends exactly that. A subscriber's sequence numbers start at 1, and a resend the
//! publisher makes of a packet from before the subscription began is forwarded numbered
//! below 1 (65 528, say): seen under loss, and when a subscription starts mid-meeting.
//!
//! This watch follows each incoming stream's highest sequence number while the two can still
//! disagree, and names the packets where they would: the driver then tells str0m the counter
//! libsrtp uses (`StreamRx::reset_roc`, RFC 3711's out-of-band counter) before handing it in.
//!
//! Such a packet can also be lost on the way (Janus under loss: a resend forwarded into a new
//! subscription, or into a new simulcast layer, early on). libsrtp has moved on all the same,
//! and encrypts everything after it under counter 1; str0m, which never saw it, stays at 0 and
//! decrypts nothing more. So while a stream is in its first half cycle, a packet str0m refused
//! is tried once more under counter 1; if that decrypts, the sender is past its first cycle
//! and the two guess alike from then on. (After the first half cycle libsrtp guesses as str0m
//! does: one odd packet moves neither for good.)
//! Sans-IO: sequence numbers and outcomes in, decisions out.

use std::collections::{HashMap, HashSet};

/// Half a cycle of 16-bit sequence numbers.
const HALF: u16 = 1 << 15;

#[derive(Debug, Default)]
pub struct RolloverWatch {
    /// Each stream still in its first half cycle: its highest sequence number so far.
    first_half: HashMap<u32, u16>,
    /// Streams past it, where the two guesses agree (they never go back).
    settled: HashSet<u32>,
}

impl RolloverWatch {
    /// A packet of stream `ssrc` numbered `seq` is about to be handed in. Returns the rollover
    /// counter to set for it when str0m would guess another one than the sender used.
    pub fn observe(&mut self, ssrc: u32, seq: u16) -> Option<u64> {
        if self.settled.contains(&ssrc) {
            return None;
        }
        let Some(highest) = self.first_half.get_mut(&ssrc) else {
            self.start(ssrc, seq);
            return None;
        };
        // str0m steps back a cycle (below zero) here; libsrtp stays in the first.
        let disagree = *highest < HALF && seq > *highest + HALF;
        if seq > *highest && (disagree || seq - *highest < HALF) {
            *highest = seq;
        }
        if *highest >= HALF {
            self.first_half.remove(&ssrc);
            self.settled.insert(ssrc);
        }
        disagree.then_some(0)
    }

    /// str0m refused a packet of stream `ssrc` (it did not decrypt, or repeated one). Returns
    /// the counter to try it under once more when the sender may have moved a cycle on
    /// unseen: only while the stream is in its first half cycle.
    pub fn refused(&self, ssrc: u32) -> Option<u64> {
        self.first_half.contains_key(&ssrc).then_some(1)
    }

    /// A packet of `ssrc` tried again under the next cycle was taken: the sender is past its
    /// first, and the two guesses agree from here on.
    pub fn taken_in_next_cycle(&mut self, ssrc: u32) {
        self.first_half.remove(&ssrc);
        self.settled.insert(ssrc);
    }

    fn start(&mut self, ssrc: u32, seq: u16) {
        if seq >= HALF {
            self.settled.insert(ssrc);
        } else {
            self.first_half.insert(ssrc, seq);
        }
    }
}

/// What the watch reads of an RTP header, which SRTP leaves in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHead {
    pub ssrc: u32,
    pub seq: u16,
    /// The RTP time: str0m's `StreamRx::last_time` shows it once the packet is taken.
    pub time: u32,
}

/// The head of an RTP packet (not RTCP, STUN or DTLS); None for anything else or too short
/// (RFC 7983's first-byte ranges, RFC 5761's payload types for RTCP).
pub fn rtp_head(datagram: &[u8]) -> Option<RtpHead> {
    let header = datagram.get(..12)?;
    if !(128..=191).contains(&header[0]) || (64..=95).contains(&(header[1] & 0x7f)) {
        return None;
    }
    Some(RtpHead {
        seq: u16::from_be_bytes([header[2], header[3]]),
        time: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
        ssrc: u32::from_be_bytes([header[8], header[9], header[10], header[11]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resets(seqs: &[u16]) -> Vec<(u16, u64)> {
        let mut watch = RolloverWatch::default();
        seqs.iter()
            .filter_map(|&seq| watch.observe(7, seq).map(|roc| (seq, roc)))
            .collect()
    }

    #[test]
    fn a_packet_numbered_below_the_first_early_in_a_stream_is_set_in_the_first_cycle() {
        // Janus: a subscription numbered from 1, then a forwarded resend from before it.
        assert_eq!(resets(&[1, 2, 3, 14, 65_528, 16, 17]), vec![(65_528, 0)]);
    }

    #[test]
    fn ordinary_streams_are_left_alone() {
        // Reordering, a loss, a wrap from the second half, a start in the second half.
        assert!(resets(&[10, 12, 11, 15, 14, 400]).is_empty());
        assert!(resets(&[40_000, 50_000, 65_535, 3, 2, 9]).is_empty());
        assert!(resets(&[100, 20_000, 32_000, 40_000, 2]).is_empty());
    }

    #[test]
    fn streams_are_watched_apart_and_only_until_the_guesses_agree_for_good() {
        let mut watch = RolloverWatch::default();
        assert_eq!(watch.observe(1, 5), None);
        assert_eq!(watch.observe(2, 40_000), None);
        assert_eq!(watch.observe(1, 60_000), Some(0));
        assert_eq!(watch.observe(2, 60_000), None);
        // Stream 1 is past its first half now: a later jump is ordinary wrapping.
        assert_eq!(watch.observe(1, 10), None);
    }

    #[test]
    fn a_refused_packet_is_tried_in_the_next_cycle_only_in_the_first_half() {
        let mut watch = RolloverWatch::default();
        assert_eq!(watch.refused(1), None, "a stream not seen yet");
        watch.observe(1, 3);
        assert_eq!(watch.refused(1), Some(1));
        watch.taken_in_next_cycle(1);
        assert_eq!(watch.refused(1), None, "settled in the next cycle");
        assert_eq!(watch.observe(1, 65_530), None, "and never set back");
        watch.observe(2, 40_000);
        assert_eq!(watch.refused(2), None, "started past the first half");
        watch.observe(3, 100);
        watch.observe(3, 33_000);
        assert_eq!(watch.refused(3), None, "grown past the first half");
    }

    #[test]
    fn only_rtp_is_read() {
        let mut rtp = [0u8; 20];
        rtp[0] = 0x80;
        rtp[1] = 96;
        rtp[2..4].copy_from_slice(&65_528u16.to_be_bytes());
        rtp[4..8].copy_from_slice(&90_000u32.to_be_bytes());
        rtp[8..12].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        let head = RtpHead {
            ssrc: 0xdead_beef,
            seq: 65_528,
            time: 90_000,
        };
        assert_eq!(rtp_head(&rtp), Some(head));
        let mut rtcp = rtp;
        rtcp[1] = 201;
        assert_eq!(rtp_head(&rtcp), None);
        assert_eq!(rtp_head(&rtp[..11]), None);
        assert_eq!(rtp_head(&[0, 1, 0, 0]), None);
        let mut dtls = rtp;
        dtls[0] = 22;
        assert_eq!(rtp_head(&dtls), None);
    }
}
