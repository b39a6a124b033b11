//! A stream from an SFU whose sender moved its SRTP rollover counter a cycle on early, by a
//! packet numbered from before the stream's first (Janus forwarding a resend into a new
//! subscription or simulcast layer), keeps decrypting at the receiving peer: when that packet
//! arrives (str0m is told its cycle), and when it is lost on the way (the packets after it are
//! tried in the next cycle). The sender is a str0m in RTP mode, given the extended sequence
//! numbers libsrtp uses in that case; the receiver is Confer's peer towards an SFU; the video
//! is real H.264; datagrams pass in process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use confer::media::video::{EncoderSettings, H264Decoder, H264Encoder, TestPattern};
use confer::rtc::peer::{Peer, PeerEvent, Towards};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

const SFU: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5100);
const US: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6100);

/// The packet an SFU numbers from before the stream's first: 8 below 0.
const FROM_BEFORE: u64 = 65_528;

/// Pictures sent after it: more than str0m holds back for a gap in the sequence numbers (30
/// pictures), which the jump makes in both cases.
const AFTER: usize = 45;

/// An SFU's sending side (str0m in RTP mode) and our receiving peer, connected.
struct Link {
    now: Instant,
    sfu: Rtc,
    video: Mid,
    pt: Pt,
    us: Peer,
    got: Vec<PeerEvent>,
    /// Datagrams from the SFU whose RTP sequence number is this are lost on the way.
    lose_seq: Option<u16>,
}

impl Link {
    fn connected() -> Link {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let now = Instant::now();
        let mut sfu = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(now);
        sfu.add_local_candidate(Candidate::host(SFU, "udp").unwrap())
            .unwrap();
        let mut change = sfu.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = change.apply().unwrap();
        let mut us = Peer::towards(now, &[US], Towards::SfuReceiving);
        let answer = us.accept_offer(&offer.to_sdp_string()).unwrap();
        sfu.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        let remote = sfu.media(video).unwrap().remote_pts().to_vec();
        let pt = sfu
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == Codec::H264 && remote.contains(&p.pt()))
            .expect("H.264 was not agreed")
            .pt();
        let mut link = Link {
            now,
            sfu,
            video,
            pt,
            us,
            got: Vec::new(),
            lose_seq: None,
        };
        let mut sfu_up = false;
        for _ in 0..2500 {
            sfu_up |= link.step();
            if sfu_up && link.got.iter().any(|e| matches!(e, PeerEvent::Connected)) {
                return link;
            }
        }
        panic!("the link did not connect");
    }

    /// 2 ms of simulated time: both sides' timers and datagrams. True when the SFU's side
    /// said it connected.
    fn step(&mut self) -> bool {
        let mut connected = false;
        self.sfu.handle_input(Input::Timeout(self.now)).unwrap();
        loop {
            match self.sfu.poll_output().unwrap() {
                Output::Transmit(t) => {
                    let seq = (t.contents.len() >= 12 && (128..=191).contains(&t.contents[0]))
                        .then(|| u16::from_be_bytes([t.contents[2], t.contents[3]]));
                    if seq.is_some() && seq == self.lose_seq {
                        continue;
                    }
                    self.us
                        .handle_datagram(self.now, t.source, t.destination, &t.contents)
                        .unwrap();
                }
                Output::Event(Event::Connected) => connected = true,
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        self.us.handle_timeout(self.now).unwrap();
        while let Ok(Ok(t)) = self.us.poll() {
            let receive = Receive::new(Protocol::Udp, t.source, t.destination, &t.data).unwrap();
            self.sfu
                .handle_input(Input::Receive(self.now, receive))
                .unwrap();
        }
        self.got.extend(self.us.take_events());
        self.now += Duration::from_millis(2);
        connected
    }

    /// One RTP packet of the video, under the extended sequence number `seq` (its rollover
    /// counter is what the sender encrypts under).
    fn send(&mut self, seq: u64, time: u32, marker: bool, payload: &[u8]) {
        let mut api = self.sfu.direct_api();
        let stream = api
            .stream_tx_by_mid(self.video, None)
            .expect("no video stream to send on");
        let write = RtpWrite::new(self.pt, SeqNo::from(seq), time, self.now, payload.to_vec())
            .marker(marker);
        stream.write_rtp(write);
    }

    /// The video pictures that came since the last look, decoded.
    fn pictures(&mut self, decoder: &mut H264Decoder) -> usize {
        let video = self.video;
        self.got
            .drain(..)
            .filter_map(|e| match e {
                PeerEvent::Video { mid, data, .. } if mid == video => Some(data),
                _ => None,
            })
            .filter(|unit| decoder.decode(unit).ok().flatten().is_some())
            .count()
    }
}

/// The NAL units of an Annex B access unit, without their start codes.
fn nal_units(unit: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= unit.len() {
        if unit[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(unit.len(), |next| next - 3);
        // A four-byte start code leaves its leading zero at the end of the unit before.
        while end > start && unit[end - 1] == 0 {
            end -= 1;
        }
        nals.push(&unit[start..end]);
    }
    nals
}

/// Small keyframes of a moving pattern, each NAL unit small enough for a packet of its own.
fn keyframes(count: usize) -> Vec<Arc<[u8]>> {
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 300_000,
        max_fps: 30.0,
    })
    .unwrap();
    let mut pattern = TestPattern::new(96, 64);
    let start = SystemTime::now();
    let mut units = Vec::new();
    let mut i = 0;
    while units.len() < count {
        encoder.request_keyframe();
        let captured = start + Duration::from_millis(33 * i);
        i += 1;
        if let Some(f) = encoder.encode(&pattern.frame(captured)).unwrap() {
            assert!(nal_units(&f.data).iter().all(|n| n.len() < 1100));
            units.push(f.data);
        }
    }
    units
}

/// Ten pictures before the packet from before, [`AFTER`] after it; how many after it decoded.
fn pictures_after_a_packet_from_before(lost: bool) -> usize {
    let mut link = Link::connected();
    let mut decoder = H264Decoder::new().unwrap();
    let units = keyframes(10 + AFTER);
    let mut seq = 1u64;
    let mut after = 0;
    for (n, unit) in units.iter().enumerate() {
        let time = 3000 * n as u32;
        if n == 10 {
            assert_eq!(link.pictures(&mut decoder), 10, "before it, all came");
            // libsrtp, still in its first half cycle, takes it for a jump forward...
            link.lose_seq = lost.then_some(FROM_BEFORE as u16);
            let nals = nal_units(unit);
            link.send(FROM_BEFORE, time, false, nals[0]);
            // ...and from then on the next cycle is where its numbers are.
            seq += 1 << 16;
        }
        let nals = nal_units(unit);
        for (k, nal) in nals.iter().enumerate() {
            link.send(seq, time, k + 1 == nals.len(), nal);
            seq += 1;
        }
        for _ in 0..17 {
            link.step();
        }
        if n >= 10 {
            after += link.pictures(&mut decoder);
        }
    }
    after
}

#[test]
fn a_packet_from_before_the_first_that_arrives_keeps_the_stream() {
    let after = pictures_after_a_packet_from_before(false);
    eprintln!("{after} of {AFTER}");
    assert!(after >= AFTER - 2, "{after} of {AFTER}");
}

#[test]
fn a_packet_from_before_the_first_lost_on_the_way_keeps_the_stream() {
    // A receiver that never finds the next cycle decodes none.
    let after = pictures_after_a_packet_from_before(true);
    eprintln!("{after} of {AFTER}");
    assert!(after >= AFTER - 2, "{after} of {AFTER}");
}
