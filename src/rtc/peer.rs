//! One remote participant: a str0m `Rtc` with no socket and no clock (sans-IO). Datagrams and
//! time go in, datagrams to send, the next time to be woken and events come out. The driver owns
//! the sockets and the clock; tests drive it on a simulated network.
//!
//! Media: one audio (Opus) and one video (H.264 Constrained Baseline, packetization-mode 1)
//! section, both send-and-receive, bundled; bandwidth estimation on; stats five times a second.
//! A shared screen is a further video section, send-only, that the sharer adds by
//! renegotiation (`offer_share`); the other side tells it from the camera (`PeerEvent::Video`'s
//! `screen`). The call does not use it yet.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsVersion;
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt, Rid, Simulcast,
    SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use thiserror::Error;

use super::srtp_rollover::{RolloverWatch, RtpHead, rtp_head};
use crate::media::video::h264::Layer;

/// What bandwidth estimation starts from (video 150 kbit/s to 2.5 Mbit/s, as the encoder's range in `media::video::h264`).
const START_BITRATE: Bitrate = Bitrate::kbps(800);
const MIN_BITRATE: Bitrate = Bitrate::kbps(150);
const MAX_BITRATE: Bitrate = Bitrate::kbps(2_600);
const H264_CONSTRAINED_BASELINE: u32 = 0x42e01f;
/// Stats come this often: they carry the raw bandwidth estimate, which the encoder follows.
/// (str0m's estimate event is a 3 s average that lags a drop by seconds, time in which the
/// encoder would overfill the bottleneck.)
const STATS_EVERY: Duration = Duration::from_millis(200);
/// Incoming loss is reported per stats interval; this many make the second it is shown for.
const LOSS_SAMPLES: usize = 5;
/// Video resends (RTX): str0m drops every queued resend while retransmissions exceed 15 % of
/// the video sent in the last second, which at 5 % loss both ways (lost resends and NACKs are
/// asked again) happens often enough to lose packets for good: the picture then freezes until
/// str0m gives up on them and a keyframe comes. A higher cap still stops a resend storm.
const RESEND_SHARE_CAP: f32 = 0.3;
const RESEND_CACHE_PACKETS: usize = 1024;
const VIDEO_REPORTS_EVERY: Duration = Duration::from_millis(250);
const RESEND_CACHE_AGE: Duration = Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum PeerError {
    #[error("the session description is not valid: {0}")]
    Sdp(String),
    #[error("the ICE candidate is not valid: {0}")]
    Candidate(String),
    #[error("the connection failed: {0}")]
    Rtc(#[from] RtcError),
    #[error("an answer came with no offer outstanding")]
    NoOffer,
    #[error("an offer of ours is still waiting for its answer")]
    OfferPending,
}

/// Something the call needs to know.
#[derive(Debug, Clone)]
pub enum PeerEvent {
    /// Media can flow (ICE and DTLS are up).
    Connected,
    /// No path works any more (it may recover, or need an ICE restart).
    Disconnected,
    Audio {
        /// The media section it came on (through an SFU, each sender has their own).
        mid: Mid,
        seq: u16,
        payload: Arc<[u8]>,
    },
    Video {
        mid: Mid,
        /// An Annex B access unit.
        data: Arc<[u8]>,
        /// Whether every packet of the frame and of those before it arrived.
        contiguous: bool,
        rtp_time: u64,
        /// A participant's shared screen (a video section they added), not their camera.
        screen: bool,
    },
    /// The participant stopped sharing their screen (their section went inactive).
    ScreenEnded {
        mid: Mid,
    },
    /// The remote wants a keyframe from us: of our shared screen (`screen`) or our camera.
    KeyframeRequested {
        screen: bool,
    },
    /// The other side agreed to receive our share (its section now sends): what went before
    /// was dropped, so it needs a keyframe.
    ShareAgreed,
    /// The bandwidth estimate towards this peer, bits a second.
    BitrateEstimate(u64),
    Stats(PeerStats),
}

/// Per-peer figures from str0m's reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeerStats {
    pub rtt: Option<Duration>,
    pub loss_in: Option<f32>,
    pub loss_out: Option<f32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// "host", "srflx", "prflx" or "relay" for the local side of the pair in use.
    pub candidate_pair: Option<&'static str>,
    /// Interarrival jitter of the incoming audio (RFC 3550), from our latest receiver report.
    pub jitter: Option<Duration>,
    /// NACKs we sent for the incoming video so far.
    pub video_nacks: u64,
}

/// A datagram to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub data: Vec<u8>,
}

pub struct Peer {
    rtc: Rtc,
    /// The sections we send on (and, in a mesh, receive on).
    audio: Option<Mid>,
    video: Option<Mid>,
    /// Every section's kind: through an SFU one connection receives many senders' sections.
    kinds: HashMap<Mid, MediaKind>,
    pending: Option<SdpPendingOffer>,
    audio_pt: Option<Pt>,
    video_pt: Option<Pt>,
    /// What was negotiated for each kind (named in the stats).
    audio_codec: Option<Codec>,
    video_codec: Option<Codec>,
    connected: bool,
    events: VecDeque<PeerEvent>,
    video_base: Option<SystemTime>,
    /// Each local candidate's address and kind, to name the pair in use.
    local_kinds: Vec<(SocketAddr, &'static str)>,
    /// When the remote was last heard from (any datagram str0m took).
    last_heard: Option<Instant>,
    /// The latest incoming loss fractions, one per stats interval.
    loss_in: VecDeque<f32>,
    audio_jitter: Option<Duration>,
    /// NACKs sent so far for each video section we receive.
    nacks_by_mid: HashMap<Mid, u64>,
    /// RTP packets (resends included) received so far in each video section, per layer.
    video_packets: HashMap<(Mid, Option<Rid>), u64>,
    /// Where str0m's SRTP rollover guess would part from the sender's.
    rollover: RolloverWatch,
    /// Who is at the other end (see [`Peer::towards`]).
    towards: Towards,
    /// Our video goes in layers, each under its rid (to an SFU).
    simulcast: bool,
    /// Our shared screen: a second video section, added by a renegotiation the first time we
    /// share and used again after; it sends while `sharing`.
    share: Option<Mid>,
    sharing: bool,
    /// The section our outstanding offer adds for the share: it is ours only once answered
    /// (an offer rolled back by the other side's takes it away).
    share_offered: Option<Mid>,
    share_pt: Option<Pt>,
    share_base: Option<SystemTime>,
    /// The other participant's shared screens: video sections they added after their camera's.
    screens_in: HashSet<Mid>,
    /// The ICE username fragment of the other side's last offer or answer: an offer with
    /// another is an ICE restart, one with the same a change of what the connection carries.
    remote_ufrag: Option<String>,
}

/// Who a connection is with, which decides how it is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Towards {
    /// Another participant (the mesh): both ways, DTLS roles as str0m takes them.
    Participant,
    /// An SFU we publish to.
    SfuSending,
    /// An SFU that sends us everyone else. It estimates no bandwidth: we send nothing on it to
    /// estimate for, and the estimator's probes (RTP padding) would be traffic for nothing, on
    /// the SFU's sections as if they were ours.
    SfuReceiving,
}

impl Peer {
    /// A peer connection with another participant on the given local addresses (each becomes
    /// a host candidate).
    pub fn new(now: Instant, local: &[SocketAddr]) -> Self {
        Self::towards(now, local, Towards::Participant)
    }

    /// A peer connection set up for what is at its other end.
    ///
    /// Towards an SFU we are the DTLS client (our answers take the client's part, as JSEP
    /// recommends and libwebrtc does; str0m would take the server's), and our lost handshake
    /// flights go again after 250 ms instead of 1 s (`rtc::dtls_timers`). The client sets the
    /// pace: a server waits for the client's timer, and Janus's OpenSSL waits a second, then
    /// two, then four, so a handshake with Janus under 5 % loss took up to 20 s. In the mesh
    /// both ends are str0m and roles and timers stay str0m's: the simulated calls under loss
    /// are reproducible with them (the quicker timer's jitter is random) and tuned for them.
    pub fn towards(now: Instant, local: &[SocketAddr], towards: Towards) -> Self {
        let sends = towards != Towards::SfuReceiving;
        let mut config = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            // Audio goes on the moment it arrives, in any order: the jitter buffer
            // (`media::audio::jitter`) orders it and conceals what is missing. str0m's default
            // holds up to 15 packets (300 ms) behind a lost one, a loss nobody resends, and
            // every packet held that long came late to playout, which then grew to match.
            .set_reordering_size_audio(0)
            // str0m learns a video stream's round trip from the reports (RRTR and DLRR ride on
            // them) and, until it has, spaces its resend requests as if it were 100 ms: a
            // loss in the first seconds of a call waited that long per retry. Four reports a
            // second (about 100 bytes each) have it measured within the first second.
            .set_rtcp_report_interval_video(VIDEO_REPORTS_EVERY)
            // DTLS 1.3 with peers that offer it (Chromium does), 1.2 with those that do not: as
            // a client it sends a hello both accept, as a server it follows the peer's hello.
            .set_dtls_version(DtlsVersion::Auto)
            .set_stats_interval(Some(STATS_EVERY));
        if towards != Towards::Participant {
            config = config.set_crypto_provider(super::dtls_timers::crypto_provider());
        }
        if sends {
            config = config.enable_bwe(Some(START_BITRATE));
        }
        let mut rtc = config.build(now);
        if sends {
            // str0m pads what media leaves of the minimum. A peer drops padding; an SFU
            // forwards it to every receiver (Janus does): seven publishers of small pictures
            // padded each receiver to 0.5-1 Mbit/s and starved the eight-person test. Towards
            // an SFU only str0m's own floor (50 kbit/s, within the estimate) is padded.
            let minimum = if towards == Towards::Participant {
                MIN_BITRATE
            } else {
                Bitrate::ZERO
            };
            rtc.bwe().set_bitrate(minimum, MAX_BITRATE);
        }
        let mut local_kinds = Vec::new();
        for addr in local {
            if let Ok(candidate) = Candidate::host(*addr, "udp")
                && rtc.add_local_candidate(candidate).is_some()
            {
                local_kinds.push((*addr, "host"));
            }
        }
        Self {
            rtc,
            audio: None,
            video: None,
            kinds: HashMap::new(),
            pending: None,
            audio_pt: None,
            video_pt: None,
            audio_codec: None,
            video_codec: None,
            connected: false,
            events: VecDeque::new(),
            video_base: None,
            local_kinds,
            last_heard: None,
            loss_in: VecDeque::with_capacity(LOSS_SAMPLES),
            audio_jitter: None,
            nacks_by_mid: HashMap::new(),
            video_packets: HashMap::new(),
            rollover: RolloverWatch::default(),
            towards,
            simulcast: false,
            share: None,
            sharing: false,
            share_offered: None,
            share_pt: None,
            share_base: None,
            screens_in: HashSet::new(),
            remote_ufrag: None,
        }
    }

    /// Adds a local candidate found later (server-reflexive, relay); returns its line to trickle.
    pub fn add_local_candidate(&mut self, candidate: Candidate) -> Option<String> {
        let addr = candidate.addr();
        let kind = match candidate.kind() {
            str0m::CandidateKind::Host => "host",
            str0m::CandidateKind::ServerReflexive => "srflx",
            str0m::CandidateKind::PeerReflexive => "prflx",
            str0m::CandidateKind::Relayed => "relay",
        };
        let line = self
            .rtc
            .add_local_candidate(candidate)
            .map(|c| c.to_sdp_string())?;
        self.local_kinds.push((addr, kind));
        Some(line)
    }

    /// The media section trickled candidates name (`sdpMid`): the first, which BUNDLE shares.
    pub fn candidate_mid(&self) -> Option<String> {
        self.audio.map(|mid| mid.to_string())
    }

    /// The offer of the participant who joins (PROTOCOL.md: the newcomer offers).
    pub fn create_offer(&mut self) -> Result<String, PeerError> {
        self.offer(None)
    }

    /// An offer that sends our video in layers (simulcast, RFC 8853: each under its rid,
    /// highest first), for an SFU to pick from per receiver.
    pub fn create_simulcast_offer(&mut self) -> Result<String, PeerError> {
        let mut layers = Simulcast::new();
        for layer in [Layer::Full, Layer::Quarter] {
            layers.add_send_layer(SimulcastLayer::new(layer.rid()));
        }
        self.simulcast = true;
        let offer = self.offer(Some(layers))?;
        // As the DTLS client here too (see `accept_offer`): an SFU answering `actpass` takes
        // the client's part, and Janus's OpenSSL client waits a second, then two, then four
        // to send its flight again when ours is lost. RFC 8842 asks offers for `actpass`;
        // Janus and libwebrtc take `active` and answer `passive`.
        self.rtc.direct_api().start_dtls(true)?;
        Ok(offer.replace("a=setup:actpass", "a=setup:active"))
    }

    /// Whether the section `mid` carries video.
    pub fn is_video(&self, mid: Mid) -> bool {
        self.kinds.get(&mid) == Some(&MediaKind::Video)
    }

    /// Whether our video goes in layers on this connection.
    pub fn simulcast(&self) -> bool {
        self.simulcast
    }

    fn offer(&mut self, simulcast: Option<Simulcast>) -> Result<String, PeerError> {
        let mut change = self.rtc.sdp_api();
        let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let video = change.add_media(MediaKind::Video, Direction::SendRecv, None, None, simulcast);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| PeerError::Sdp("nothing to offer".into()))?;
        self.audio = Some(audio);
        self.video = Some(video);
        self.kinds.insert(audio, MediaKind::Audio);
        self.kinds.insert(video, MediaKind::Video);
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// An offer with new ICE credentials for the connection we have (its path died, or our
    /// addresses changed): DTLS and media carry on once a new path is found. Local candidates
    /// are kept; add new ones before calling this so the offer carries them.
    pub fn restart_ice(&mut self) -> Result<String, PeerError> {
        let mut change = self.rtc.sdp_api();
        change.ice_restart(true);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| PeerError::Sdp("nothing to offer".into()))?;
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// The remote's offer, for a new connection or one we have (an ICE restart).
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, PeerError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| PeerError::Sdp(e.to_string()))?;
        if self.towards != Towards::Participant && sdp.contains("a=setup:actpass") {
            // Once, at the first offer: later ones leave the role as it is (str0m starts DTLS
            // once).
            self.rtc.direct_api().start_dtls(true)?;
        }
        // str0m rolls back an offer of ours that is still waiting (both offered at once, and
        // this side gives way): a share section it added is not ours. A direction it changed
        // stays changed in str0m, and `sharing` says so: whoever wants otherwise offers again.
        if self.pending.take().is_some()
            && let Some(mid) = self.share_offered.take()
        {
            self.kinds.remove(&mid);
            self.share = None;
            self.sharing = false;
        }
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        self.remote_ufrag = ice_ufrag(sdp);
        self.configure_resends();
        self.share_pt = None;
        Ok(answer.to_sdp_string())
    }

    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), PeerError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| PeerError::Sdp(e.to_string()))?;
        let pending = self.pending.take().ok_or(PeerError::NoOffer)?;
        let agreed_before = self.share_agreed_by_str0m();
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        self.remote_ufrag = ice_ufrag(sdp);
        self.share_offered = None;
        self.share_pt = None;
        self.configure_resends();
        if self.share_agreed() && !agreed_before {
            self.events.push_back(PeerEvent::ShareAgreed);
        }
        Ok(())
    }

    /// An offer that starts (`on`) or stops sending our shared screen, as a second video
    /// section: added the first time, its direction changed after. Err(OfferPending) while an
    /// offer of ours waits for its answer: ask again when it came.
    pub fn offer_share(&mut self, on: bool) -> Result<String, PeerError> {
        if self.pending.is_some() {
            return Err(PeerError::OfferPending);
        }
        let mut change = self.rtc.sdp_api();
        let direction = if on {
            Direction::SendOnly
        } else {
            Direction::Inactive
        };
        let added = match self.share {
            Some(mid) => {
                change.set_direction(mid, direction);
                None
            }
            None if on => Some(change.add_media(MediaKind::Video, direction, None, None, None)),
            None => return Err(PeerError::Sdp("no share to stop".into())),
        };
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| PeerError::Sdp("nothing to offer".into()))?;
        if let Some(mid) = added {
            self.share = Some(mid);
            self.share_offered = Some(mid);
            self.kinds.insert(mid, MediaKind::Video);
        }
        self.sharing = on;
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// Whether our shared screen is sending on this connection, or last offered to.
    pub fn sharing(&self) -> bool {
        self.sharing
    }

    /// Whether an offer of ours waits for its answer.
    pub fn offer_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether the other side agreed to receive our share: its section is negotiated and
    /// sending (what str0m settled on, whatever offers crossed on the way).
    pub fn share_agreed(&self) -> bool {
        self.share_offered.is_none() && self.share_agreed_by_str0m()
    }

    fn share_agreed_by_str0m(&self) -> bool {
        self.share
            .and_then(|mid| self.rtc.media(mid))
            .is_some_and(|media| media.direction().is_sending())
    }

    /// Whether this connection has a section for our share (negotiated, sending or not).
    pub fn has_share(&self) -> bool {
        self.share.is_some()
    }

    /// Whether `offer` restarts ICE (new credentials) rather than changing what the
    /// connection carries.
    pub fn is_ice_restart(&self, offer: &str) -> bool {
        ice_ufrag(offer) != self.remote_ufrag
    }

    /// A trickled candidate line (`candidate:...`, with or without the `a=` prefix, with any
    /// extensions such as Chromium's `network-id` and `network-cost`). Ok(false): a candidate
    /// left out on purpose (see [`unusable_candidate`]).
    pub fn add_remote_candidate(&mut self, line: &str) -> Result<bool, PeerError> {
        let line = line.trim().trim_start_matches("a=");
        if unusable_candidate(line) {
            return Ok(false);
        }
        let candidate =
            Candidate::from_sdp_string(line).map_err(|e| PeerError::Candidate(e.to_string()))?;
        self.rtc.add_remote_candidate(candidate);
        Ok(true)
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The codecs negotiated for audio and video, as SDP names them ("opus", "H264"); None
    /// before the connection is up or for a kind that was not agreed on.
    pub fn codecs(&self) -> (Option<String>, Option<String>) {
        (
            self.audio_codec.map(|c| c.to_string()),
            self.video_codec.map(|c| c.to_string()),
        )
    }

    /// The media section our video is sent and theirs received on.
    pub fn video_mid(&self) -> Option<Mid> {
        self.video
    }

    /// Whether a datagram from `source` to `destination` belongs to this peer.
    pub fn accepts(
        &self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> bool {
        Receive::new(Protocol::Udp, source, destination, data)
            .is_ok_and(|r| self.rtc.accepts(&Input::Receive(now, r)))
    }

    /// Feeds a datagram. Garbage is ignored: it came from the network.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Result<(), PeerError> {
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
            return Ok(());
        };
        let watched = rtp_head(data).filter(|head| self.keep_rollover_in_step(*head));
        self.rtc.handle_input(Input::Receive(now, receive))?;
        self.last_heard = Some(now);
        if let Some(head) = watched {
            self.try_next_cycle_if_refused(now, source, destination, data, head)?;
        }
        Ok(())
    }

    /// Before str0m decrypts an RTP packet of a stream it receives: where it would guess
    /// another rollover counter than the sender, it is told the sender's (see
    /// `rtc::srtp_rollover`). Only streams str0m knows are watched, not every SSRC a datagram
    /// names. True when str0m's taking the packet is to be checked after: the stream is still
    /// where a lost packet can have moved the sender a cycle on unseen.
    fn keep_rollover_in_step(&mut self, head: RtpHead) -> bool {
        let RtpHead { ssrc, seq, .. } = head;
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx(&ssrc.into()) else {
            return false;
        };
        if let Some(roc) = self.rollover.observe(ssrc, seq) {
            tracing::debug!(
                ssrc,
                seq,
                roc,
                "a packet from before the stream's first: kept in its cycle"
            );
            stream.reset_roc(roc);
        }
        self.connected && self.rollover.refused(ssrc).is_some()
    }

    /// After str0m was handed an RTP packet of a stream in its first half cycle: if it did not
    /// take it, the packet is handed in once more under the next rollover counter (see
    /// `rtc::srtp_rollover`: the packet that moved the sender there was lost).
    fn try_next_cycle_if_refused(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
        head: RtpHead,
    ) -> Result<(), PeerError> {
        if self.took(head) {
            return Ok(());
        }
        let Some(roc) = self.rollover.refused(head.ssrc) else {
            return Ok(());
        };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx(&head.ssrc.into()) else {
            return Ok(());
        };
        stream.reset_roc(roc);
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
            return Ok(());
        };
        self.rtc.handle_input(Input::Receive(now, receive))?;
        if self.took(head) {
            tracing::debug!(
                ssrc = head.ssrc,
                seq = head.seq,
                roc,
                "the sender had moved to the next cycle unseen: followed"
            );
            self.rollover.taken_in_next_cycle(head.ssrc);
        }
        Ok(())
    }

    /// Whether str0m took (decrypted) this packet: its stream's last RTP time is the packet's.
    /// A refused packet of the same picture as the last one taken looks taken; the picture
    /// after tells.
    fn took(&mut self, head: RtpHead) -> bool {
        self.rtc
            .direct_api()
            .stream_rx(&head.ssrc.into())
            .and_then(|stream| stream.last_time())
            .is_some_and(|time| time.numer() as u32 == head.time)
    }

    /// When a datagram from the remote last arrived. Media, RTCP and ICE keep this fresh
    /// many times a second while the path works.
    pub fn last_heard(&self) -> Option<Instant> {
        self.last_heard
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), PeerError> {
        self.rtc.handle_input(Input::Timeout(now))?;
        Ok(())
    }

    /// The next datagram to send, or when to be called again (events are queued for
    /// [`Peer::take_events`]). Call until it returns a time.
    pub fn poll(&mut self) -> Result<Result<Transmit, Instant>, PeerError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Transmit(t) => {
                    return Ok(Ok(Transmit {
                        source: t.source,
                        destination: t.destination,
                        data: t.contents.into(),
                    }));
                }
                Output::Timeout(at) => return Ok(Err(at)),
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    pub fn take_events(&mut self) -> impl Iterator<Item = PeerEvent> + '_ {
        self.events.drain(..)
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.find_payload_types();
                self.events.push_back(PeerEvent::Connected);
            }
            // The call judges a path by silence (`call::liveness`), long before ICE
            // gives up on it; this only feeds the stats' state.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.events.push_back(PeerEvent::Disconnected);
            }
            // On the answering side, after `Connected` as often as before it.
            Event::MediaAdded(added) => {
                self.kinds.insert(added.mid, added.kind);
                // The first of each kind is where we send, if we send on this connection.
                match added.kind {
                    MediaKind::Audio => _ = self.audio.get_or_insert(added.mid),
                    MediaKind::Video => {
                        let camera = *self.video.get_or_insert(added.mid);
                        // Another participant's later video is their shared screen. (Through
                        // an SFU every sender's video is a section of its own.)
                        if camera != added.mid && self.towards == Towards::Participant {
                            self.screens_in.insert(added.mid);
                        }
                    }
                }
                if self.connected {
                    self.find_payload_types();
                }
            }
            Event::MediaData(data) => match self.kinds.get(&data.mid) {
                Some(MediaKind::Audio) => self.events.push_back(PeerEvent::Audio {
                    mid: data.mid,
                    seq: data.seq_range.start().as_u16(),
                    payload: data.data,
                }),
                Some(MediaKind::Video) => self.events.push_back(PeerEvent::Video {
                    mid: data.mid,
                    data: data.data,
                    contiguous: data.contiguous,
                    rtp_time: data.time.numer(),
                    screen: self.screens_in.contains(&data.mid),
                }),
                None => {}
            },
            Event::MediaChanged(changed)
                if self.screens_in.contains(&changed.mid) && !changed.direction.is_receiving() =>
            {
                self.events
                    .push_back(PeerEvent::ScreenEnded { mid: changed.mid });
            }
            Event::KeyframeRequest(request) => {
                let screen = self.share == Some(request.mid);
                self.events
                    .push_back(PeerEvent::KeyframeRequested { screen });
            }
            // str0m counts jitter in RTP units: 48 a millisecond for Opus.
            Event::MediaIngressStats(stats) => match self.kinds.get(&stats.mid) {
                Some(MediaKind::Audio) => {
                    self.audio_jitter =
                        Some(Duration::from_micros(u64::from(stats.jitter) * 1000 / 48));
                }
                Some(MediaKind::Video) => {
                    self.nacks_by_mid.insert(stats.mid, stats.nacks);
                    self.video_packets
                        .insert((stats.mid, stats.rid), stats.packets);
                }
                None => {}
            },
            Event::PeerStats(stats) => {
                if let Some(estimate) = stats.bwe_tx {
                    self.events
                        .push_back(PeerEvent::BitrateEstimate(estimate.as_u64()));
                }
                if let Some(loss) = stats.ingress_loss_fraction {
                    if self.loss_in.len() == LOSS_SAMPLES {
                        self.loss_in.pop_front();
                    }
                    self.loss_in.push_back(loss);
                }
                let loss_in = (!self.loss_in.is_empty())
                    .then(|| self.loss_in.iter().sum::<f32>() / self.loss_in.len() as f32);
                let candidate_pair = stats.selected_candidate_pair.as_ref().and_then(|pair| {
                    self.local_kinds
                        .iter()
                        .find(|(addr, _)| *addr == pair.local.addr)
                        .map(|(_, kind)| *kind)
                        .or(Some("prflx"))
                });
                self.events.push_back(PeerEvent::Stats(PeerStats {
                    rtt: stats.rtt,
                    loss_in,
                    loss_out: stats.egress_loss_fraction,
                    bytes_in: stats.bytes_rx,
                    bytes_out: stats.bytes_tx,
                    candidate_pair,
                    jitter: self.audio_jitter,
                    video_nacks: self.nacks_by_mid.values().sum(),
                }));
            }
            _ => {}
        }
    }

    /// Lets video resends take up to [`RESEND_SHARE_CAP`] of what is sent (each negotiation
    /// sets str0m's default again).
    fn configure_resends(&mut self) {
        for mid in [self.video, self.share].into_iter().flatten() {
            if let Some(stream) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                stream.set_rtx_cache(
                    RESEND_CACHE_PACKETS,
                    RESEND_CACHE_AGE,
                    Some(RESEND_SHARE_CAP),
                );
            }
        }
    }

    fn find_payload_types(&mut self) {
        self.configure_resends();
        if let Some(mid) = self.audio
            && let Some(writer) = self.rtc.writer(mid)
        {
            let opus = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus);
            self.audio_pt = opus.map(|p| p.pt());
            self.audio_codec = opus.map(|p| p.spec().codec);
        }
        if let Some(mid) = self.video
            && let Some(writer) = self.rtc.writer(mid)
        {
            let chosen = h264_params(&writer);
            self.video_pt = chosen.map(|p| p.pt());
            self.video_codec = chosen.map(|p| p.spec().codec);
        }
    }

    /// Sends one Opus packet (20 ms, `timestamp` in 48 kHz samples).
    pub fn send_audio(
        &mut self,
        now: Instant,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), PeerError> {
        let (Some(mid), Some(pt), true) = (self.audio, self.audio_pt, self.connected) else {
            return Ok(());
        };
        if let Some(writer) = self.rtc.writer(mid) {
            let time = MediaTime::new(u64::from(timestamp), Frequency::FORTY_EIGHT_KHZ);
            writer.write(pt, now, time, payload.to_vec())?;
        }
        Ok(())
    }

    /// Sends one H.264 access unit of `layer` captured at `captured` (its RTP time follows
    /// capture times, so the receiver sees the camera's own rhythm). A connection without
    /// simulcast takes the full layer alone.
    pub fn send_video(
        &mut self,
        now: Instant,
        captured: SystemTime,
        layer: Layer,
        access_unit: Arc<[u8]>,
    ) -> Result<(), PeerError> {
        let (Some(mid), Some(pt), true) = (self.video, self.video_pt, self.connected) else {
            return Ok(());
        };
        if !self.simulcast && layer != Layer::Full {
            return Ok(());
        }
        let time = video_time(&mut self.video_base, captured);
        if let Some(writer) = self.rtc.writer(mid) {
            let writer = if self.simulcast {
                writer.rid(layer.rid().into())
            } else {
                writer
            };
            writer.write(pt, now, time, access_unit)?;
        }
        Ok(())
    }

    /// Sends one H.264 access unit of our shared screen, captured at `captured`. Nothing goes
    /// before the share's section is negotiated, or while it is stopped.
    pub fn send_screen(
        &mut self,
        now: Instant,
        captured: SystemTime,
        access_unit: Arc<[u8]>,
    ) -> Result<(), PeerError> {
        let (Some(mid), true, true, None) =
            (self.share, self.sharing, self.connected, self.share_offered)
        else {
            return Ok(());
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return Ok(());
        };
        let pt = match self.share_pt {
            Some(pt) => pt,
            None => {
                let Some(pt) = h264_params(&writer).map(|p| p.pt()) else {
                    return Ok(());
                };
                self.share_pt = Some(pt);
                pt
            }
        };
        let time = video_time(&mut self.share_base, captured);
        writer.write(pt, now, time, access_unit)?;
        Ok(())
    }

    /// Video packets received so far in the sections `mids` (None: every section, as in a
    /// mesh), as str0m last reported them: whether anything comes at all, when nothing is
    /// decoded.
    pub fn video_packets_in(&self, mids: Option<&[Mid]>) -> u64 {
        self.video_packets
            .iter()
            .filter(|((mid, _), _)| mids.is_none_or(|mids| mids.contains(mid)))
            .map(|(_, packets)| packets)
            .sum()
    }

    /// Asks the remote for a keyframe (a PLI) of the video received in the sections `mids`
    /// (none: the connection's own video section, as in a mesh), when it is broken.
    pub fn request_keyframe(&mut self, mids: &[Mid]) -> Result<Vec<Mid>, PeerError> {
        let video: Vec<Mid> = if mids.is_empty() {
            self.video.into_iter().collect()
        } else {
            mids.iter()
                .copied()
                .filter(|mid| self.is_video(*mid))
                .collect()
        };
        for &mid in &video {
            if let Some(mut writer) = self.rtc.writer(mid)
                && writer.is_request_keyframe_possible(KeyframeRequestKind::Pli)
            {
                writer.request_keyframe(None, KeyframeRequestKind::Pli)?;
            }
        }
        Ok(video)
    }

    /// The section our share goes on, once there is one.
    pub fn share_mid(&self) -> Option<Mid> {
        self.share
    }

    /// Takes `mid`'s pictures for a shared screen: what an SFU says of a section it offered
    /// (in a mesh a later video section of theirs is one by itself).
    pub fn mark_screen_in(&mut self, mid: Mid) {
        self.screens_in.insert(mid);
    }

    /// The sections the other side shares its screen on (theirs, added by their offers).
    pub fn screens_in(&self) -> Vec<Mid> {
        self.screens_in.iter().copied().collect()
    }

    /// Ends the connection at once (nothing more is sent).
    pub fn close(&mut self) {
        self.rtc.disconnect();
    }
}

/// The first `a=ice-ufrag:` of an SDP (str0m bundles: one for all sections).
fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|line| line.trim().strip_prefix("a=ice-ufrag:"))
        .map(str::to_string)
}

/// A picture's RTP time (90 kHz) from its capture time, counted from the stream's first
/// (`base`, set by it): the receiver sees the capture's own rhythm.
fn video_time(base: &mut Option<SystemTime>, captured: SystemTime) -> MediaTime {
    let base = *base.get_or_insert(captured);
    let elapsed = captured.duration_since(base).unwrap_or_default();
    MediaTime::new(
        (elapsed.as_micros() as u64) * 90 / 1000,
        Frequency::NINETY_KHZ,
    )
}

/// The H.264 a writer sends: Constrained Baseline if the remote offered it, else any H.264 in
/// packetization mode 1.
fn h264_params<'a>(
    writer: &'a str0m::media::Writer<'_>,
) -> Option<&'a str0m::format::PayloadParams> {
    let h264 = |p: &&str0m::format::PayloadParams| {
        let spec = p.spec();
        spec.codec == Codec::H264 && spec.format.packetization_mode == Some(1)
    };
    writer
        .payload_params()
        .filter(h264)
        .find(|p| p.spec().format.profile_level_id == Some(H264_CONSTRAINED_BASELINE))
        .or_else(|| writer.payload_params().find(h264))
}

/// Candidates Confer leaves out: ICE over TCP (browsers list `tcptype active` ones on port 9,
/// which only ever connect to a TCP listener, and Confer's sockets are UDP), and mDNS names
/// (`UUID.local`), which a browser gives out before it has camera or microphone permission.
/// Those browsers still connect: their checks reach our host candidates, and str0m answers the
/// address they come from (a peer-reflexive candidate).
pub fn unusable_candidate(line: &str) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    // Shorter than `candidate:F C TRANSPORT PRIORITY ADDRESS PORT typ TYPE`: the parser says why.
    let [_, _, transport, _, address, _, _, _, ..] = fields[..] else {
        return false;
    };
    !transport.eq_ignore_ascii_case("udp") || address.to_ascii_lowercase().ends_with(".local")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_candidate_lines_are_taken_or_left_out_on_purpose() {
        let now = Instant::now();
        let mut peer = Peer::new(now, &["127.0.0.1:5000".parse().unwrap()]);
        let taken = [
            "candidate:3684617590 1 udp 2122260223 127.0.0.1 50028 typ host generation 0 \
             ufrag Zx1a network-id 1 network-cost 10",
            "a=candidate:1 1 UDP 1686052607 198.51.100.7 31267 typ srflx raddr 10.0.0.2 rport \
             50028 generation 0 network-id 1 network-cost 900",
            "candidate:3936339338 1 udp 2122265343 ::1 59125 typ host generation 0 network-id 4",
        ];
        for line in taken {
            assert!(peer.add_remote_candidate(line).unwrap(), "{line}");
        }
        let left_out = [
            "candidate:2501718406 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active \
             generation 0 network-id 1 network-cost 10",
            "candidate:1 1 udp 2122260223 5c6b2f4e-8f1a-4f3b-9f61-0a6c1b7d2e11.local 53540 typ \
             host generation 0 network-id 1",
        ];
        for line in left_out {
            assert!(!peer.add_remote_candidate(line).unwrap(), "{line}");
        }
        for garbage in [
            "candidate:",
            "candidate:1 1 udp x 127.0.0.1 5 typ host",
            "hello",
        ] {
            assert!(peer.add_remote_candidate(garbage).is_err(), "{garbage}");
        }
    }
}
