//! The call as a sans-IO state machine, in the style of str0m's `Rtc` and quinn-proto's
//! `Connection`: inputs go in with the time (`handle_*`), and everything the call wants done
//! comes out of [`Call::poll`], one [`Output`] at a time, ending with the time it wants to be
//! called again. No sockets, no clock, no threads, no async: the driver (`call::driver`) owns
//! those, and tests drive the same machine on simulated time.
//!
//! Its policy: one encode for everyone (our media goes out on every connection that sends);
//! keyframes at most once a second and PLIs at most twice a second per participant, a request
//! inside that wait served when it ends; the encoder's rate follows the weakest path we send
//! on, and Opus's in-band FEC its worst loss; a connection silent for seconds gets a new path
//! from the side that offered, and is dropped after twenty; pictures are shown on a timeline
//! that waits for resends and for their sound (lip sync, `call::video_timing`). How a meeting
//! is joined is the [`JoinWay`]'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use str0m::media::Mid;

use super::events::{
    CallControl, CallReport, Device, DeviceProblem, MediaState, Notice, PeerState,
};
use super::ids::{ConnectionId, ParticipantId};
use super::liveness::{RESTART_AFTER, Verdict};
use super::rate::{split_for_share, video_share};
pub use super::room::{CallSettings, Feed, Lookup, MediaCommand, Output};
use super::room::{Farewell, Room};
use super::stats::{LinkState, ReportContext};
use super::throttle::Throttled;
use super::way::JoinWay;
use crate::media::video::decode_thread::Picture;
use crate::media::video::h264::Layer;
use crate::media::video::share_thread::ShareEvent;
use crate::rtc::gather::{Inbound, Route};
use crate::rtc::peer::PeerEvent;

/// A participant whose connection is up but whose first picture has not come for this long is
/// asked for a keyframe (and again each time this passes).
const NO_PICTURE_YET: Duration = Duration::from_secs(2);
const KEYFRAME_EVERY_AT_MOST: Duration = Duration::from_secs(1);
const LEVELS_EVERY: Duration = Duration::from_millis(100);
const STATS_EVERY: Duration = Duration::from_secs(1);
/// How often paths are judged alive (`call::liveness` counts in seconds).
const LIVENESS_EVERY: Duration = Duration::from_millis(100);
/// str0m's pacer lets one packet out per timeout, then asks to be woken a microsecond later.
/// Served one turn of the driver each (a millisecond at best, several on a busy machine), a
/// connection that hears little back sent a packet a turn, a few dozen a second under load;
/// the sound, which the pacer lets out first, then kept the video waiting for good (seven
/// publishers through Janus on two cores sent no video at all for tens of seconds). What str0m
/// wants done at once is done in the same turn, up to this many rounds; its clock then runs at
/// most that many microseconds ahead.
const AT_ONCE_ROUNDS: u32 = 500;
/// Lip sync: pictures wait for the sound that waits in the audio jitter buffer and the device,
/// less this much (sound a little after the picture is what people notice least, and every
/// millisecond held is glass-to-glass latency).
const AUDIO_MAY_LAG: Duration = Duration::from_millis(10);

/// What the media threads measured, when the call asked (`Output::Measure`).
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    /// Our microphone's level before processing, RMS in [0, 1].
    pub mic_level: f32,
    /// The wall clock when measured (the synthetic microphone's beeps are placed on it).
    pub wall: Option<SystemTime>,
    pub remotes: Vec<(ParticipantId, RemoteMeasurement)>,
}

/// One participant's media as the media threads see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoteMeasurement {
    /// What playout last played of theirs, RMS in [0, 1].
    pub level: f32,
    /// From a packet's arrival to its sound reaching the speaker.
    pub playout_delay: Duration,
    /// When the synthetic microphone's latest beep started to play.
    pub beep_at: Option<Instant>,
    /// Their pictures decoded so far.
    pub frames_decoded: u64,
    /// Their shared screen's pictures decoded so far.
    pub screen_frames_decoded: u64,
    /// Their audio played as concealment so far.
    pub concealed: Duration,
}

pub struct Call<W: JoinWay> {
    room: Room<W::Message>,
    way: W,
    started: Instant,
    mic_on: bool,
    /// The camera is switched on, and it gives pictures (what the others are told).
    camera_wanted: bool,
    camera_live: bool,
    /// Our hand is raised (the window's button), for the others to see.
    hand_up: bool,
    /// Our keyframes, asked for by those who receive our video.
    keyframes: Throttled,
    /// Someone new receives our video: a keyframe now, whatever the throttle says (a picture
    /// they cannot decode is worth nothing to them).
    keyframe_now: bool,
    bitrate: Option<u32>,
    /// Whether the encoder makes the small layer too (a connection takes simulcast).
    simulcast: bool,
    /// A share was asked for (the media threads open it), and whether its pictures come.
    share_wanted: bool,
    share_live: bool,
    /// Keyframes of our shared screen, as `keyframes` for the camera.
    screen_keyframes: Throttled,
    screen_keyframe_now: bool,
    screen_bitrate: Option<u32>,
    audio_loss: Option<u8>,
    next_levels: Instant,
    next_liveness: Instant,
    last_stats: Instant,
    measuring: bool,
    /// Connections whose path is to be restarted once new local addresses are known.
    restarts: Vec<ConnectionId>,
    /// An input came since the connections were last polled.
    dirty: bool,
}

impl<W: JoinWay> Call<W> {
    /// A call on `sockets` (our local addresses), joining the way `way` says.
    pub fn new(now: Instant, settings: CallSettings, way: W, sockets: Vec<SocketAddr>) -> Self {
        let (mic_on, camera_wanted) = (settings.mic_on, settings.camera_on);
        let mut room = Room::new(now, settings, sockets);
        room.media(MediaCommand::Microphone(mic_on));
        if camera_wanted {
            room.media(MediaCommand::Camera(true));
        }
        let mut way = way;
        // The camera counts as on once pictures come.
        let said = MediaState {
            mic_on,
            camera_on: false,
            hand_up: false,
        };
        way.announce_media(&mut room, said);
        Self {
            room,
            way,
            started: now,
            mic_on,
            camera_wanted,
            camera_live: false,
            hand_up: false,
            keyframes: Throttled::new(KEYFRAME_EVERY_AT_MOST),
            keyframe_now: false,
            bitrate: None,
            simulcast: false,
            share_wanted: false,
            share_live: false,
            screen_keyframes: Throttled::new(KEYFRAME_EVERY_AT_MOST),
            screen_keyframe_now: false,
            screen_bitrate: None,
            audio_loss: None,
            next_levels: now + LEVELS_EVERY,
            next_liveness: now,
            last_stats: now,
            measuring: false,
            restarts: Vec::new(),
            dirty: true,
        }
    }

    fn at(&mut self, now: Instant) {
        self.room.now = self.room.now.max(now);
        self.dirty = true;
    }

    /// Something the signaling transport heard.
    pub fn handle_signaling(&mut self, now: Instant, event: W::Event) {
        self.at(now);
        self.way.handle_event(&mut self.room, event);
    }

    /// A datagram that arrived on our socket `destination` from `source`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        self.at(now);
        let unwrapped;
        let (source, destination, data) =
            match self.room.gatherer.handle(now, source, destination, data) {
                Inbound::Consumed => {
                    self.collect_gathered();
                    return;
                }
                Inbound::Unchanged => (source, destination, data),
                Inbound::Peer {
                    source,
                    destination,
                    data,
                } => {
                    unwrapped = data;
                    (source, destination, &unwrapped[..])
                }
            };
        if let Some(connection) = self
            .room
            .connections
            .values_mut()
            .find(|c| c.peer.accepts(now, source, destination, data))
            && let Err(e) = connection
                .peer
                .handle_datagram(now, source, destination, data)
        {
            tracing::debug!("a datagram from {source}: {e}");
        }
    }

    /// An Opus packet of ours (20 ms, `timestamp` in 48 kHz samples), for everyone.
    pub fn handle_audio(&mut self, now: Instant, timestamp: u32, payload: &[u8]) {
        self.at(now);
        for connection in self.room.connections.values_mut().filter(|c| c.sends) {
            let _ = connection.peer.send_audio(now, timestamp, payload);
        }
    }

    /// An encoded picture of ours captured at `captured`, of `layer`, for everyone: one
    /// encode for all.
    pub fn handle_video(
        &mut self,
        now: Instant,
        captured: SystemTime,
        layer: Layer,
        unit: Arc<[u8]>,
    ) {
        self.at(now);
        if !self.camera_live {
            return;
        }
        for connection in self.room.connections.values_mut().filter(|c| c.sends) {
            let _ = connection
                .peer
                .send_video(now, captured, layer, Arc::clone(&unit));
        }
    }

    /// An encoded picture of our shared screen, captured at `captured`, for everyone.
    pub fn handle_screen(&mut self, now: Instant, captured: SystemTime, unit: Arc<[u8]>) {
        self.at(now);
        if !self.share_live {
            return;
        }
        for connection in self.room.connections.values_mut().filter(|c| c.sends) {
            let _ = connection
                .peer
                .send_screen(now, captured, Arc::clone(&unit));
        }
    }

    /// What the share's capture said: it began (its first picture is coming), or it ended by
    /// itself or could not start (the window closed, the display refused).
    pub fn handle_share(&mut self, now: Instant, event: ShareEvent) {
        self.at(now);
        match event {
            ShareEvent::Started { .. } => {
                if !self.share_wanted {
                    return;
                }
                // A new share (or a new size) starts with a picture everyone can decode.
                self.screen_keyframe_now = true;
                if !self.share_live {
                    self.share_live = true;
                    self.way.share(&mut self.room, true);
                    self.room.report(CallReport::Sharing(true));
                    self.follow_paths();
                }
            }
            ShareEvent::Ended(why) => {
                self.room
                    .notice(Notice::Problem(format!("screen sharing ended: {why}")));
                self.stop_sharing();
            }
        }
    }

    fn stop_sharing(&mut self) {
        let was_live = self.share_live;
        self.share_wanted = false;
        self.share_live = false;
        self.room.media(MediaCommand::Share(None));
        if was_live {
            self.way.share(&mut self.room, false);
            self.room.report(CallReport::Sharing(false));
            self.follow_paths();
        }
    }

    /// What the window asks.
    pub fn handle_control(&mut self, now: Instant, control: CallControl) {
        self.at(now);
        match control {
            CallControl::Share(Some(target)) => {
                self.share_wanted = true;
                self.room.media(MediaCommand::Share(Some(target)));
            }
            CallControl::Share(None) => self.stop_sharing(),
            CallControl::Chat(text) => self.way.send_chat(&mut self.room, text),
            CallControl::Fit { id, width, height } => {
                if self.room.participants.contains_key(&id) {
                    self.way.tile_fit(&mut self.room, &id, width, height);
                    self.room.media(MediaCommand::Fit {
                        from: id,
                        width,
                        height,
                    });
                }
            }
            CallControl::Mic(on) => {
                self.mic_on = on;
                self.room.media(MediaCommand::Microphone(on));
                self.announce();
            }
            CallControl::Hand(up) => {
                self.hand_up = up;
                self.announce();
            }
            CallControl::Camera(on) => {
                self.camera_wanted = on;
                self.room.media(MediaCommand::Camera(on));
                if !on {
                    // On again once pictures come (device news); off at once.
                    self.camera_live = false;
                    self.follow_paths();
                }
                self.announce();
            }
        }
    }

    /// A device started working (`problem` None: for the camera, pictures are coming) or
    /// stopped. The call goes on without it.
    pub fn handle_device(&mut self, now: Instant, device: Device, problem: Option<DeviceProblem>) {
        self.at(now);
        if device == Device::Camera {
            let live = problem.is_none() && self.camera_wanted;
            if live && !self.camera_live {
                // The first picture after a pause is one the others can decode (our own
                // doing, not a request: it does not count against the throttle).
                self.room.media(MediaCommand::Keyframe);
            }
            if live != self.camera_live {
                self.camera_live = live;
                self.announce();
                // A share's rate depends on whether the camera's pictures go too.
                self.follow_paths();
            }
        }
        self.room.report(CallReport::Device { device, problem });
    }

    /// Something below the call went wrong in a way people should hear of (the call goes on).
    pub fn handle_problem(&mut self, now: Instant, problem: String) {
        self.at(now);
        self.room.notice(Notice::Problem(problem));
    }

    /// A picture of `from`'s was decoded (and held for lip sync): counted, and shown when the
    /// call renders video. A shared screen's is counted apart, and always told: a window
    /// shows it, a headless participant may keep it.
    pub fn handle_picture(
        &mut self,
        now: Instant,
        from: &ParticipantId,
        feed: Feed,
        picture: Picture,
    ) {
        self.at(now);
        let entered = self.room.entered;
        let Some(p) = self.room.participants.get_mut(from) else {
            return;
        };
        if feed == Feed::Screen {
            p.figures.screen_size = picture.stream_size;
            p.figures.screen_in = true;
            if p.told {
                self.room.report(CallReport::ScreenPicture {
                    id: from.clone(),
                    picture,
                });
            }
            return;
        }
        if p.figures.first_frame.is_none() {
            p.figures.first_frame = entered.map(|t| now.saturating_duration_since(t));
        }
        p.figures.picture(
            now,
            picture.stream_size.0,
            picture.stream_size.1,
            picture.stripe.map(|s| s.captured),
            picture.shown_at,
        );
        if self.room.settings.render_video && p.told {
            self.room.report(CallReport::Picture {
                id: from.clone(),
                picture,
            });
        }
    }

    /// `from`'s camera or screen cannot be decoded until a keyframe (a picture failed, or
    /// units were dropped): a PLI is due.
    pub fn handle_keyframe_needed(&mut self, now: Instant, from: &ParticipantId, feed: Feed) {
        self.at(now);
        if let Some(p) = self.room.participants.get_mut(from) {
            match feed {
                Feed::Camera => p.pli.want(),
                Feed::Screen => p.screen_pli.want(),
            }
        }
    }

    /// The answer to `Output::Measure`.
    pub fn handle_measurements(&mut self, now: Instant, measured: Measurements) {
        self.at(now);
        self.measuring = false;
        for (id, m) in measured.remotes {
            let Some(p) = self.room.participants.get_mut(&id) else {
                continue;
            };
            p.figures.audio_level = m.level;
            p.figures.audio_concealed = m.concealed;
            p.figures.audio_delay = m.playout_delay;
            p.frames_decoded = p.frames_decoded.max(m.frames_decoded);
            p.figures.screen_frames = p.figures.screen_frames.max(m.screen_frames_decoded);
            p.sync = m.playout_delay.saturating_sub(AUDIO_MAY_LAG);
            // The beep starts at a whole second of the sender's clock (same machine, or
            // synchronised clocks): its latency is how far past the second it played.
            if let (Some(at), Some(wall)) = (m.beep_at, measured.wall) {
                let played = if at > now {
                    wall + (at - now)
                } else {
                    wall - (now - at)
                };
                let into_second = played
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_micros();
                p.figures.audio_latency_ms = Some(f64::from(into_second / 100) / 10.0);
            }
        }
        let remotes = self
            .room
            .participants
            .values()
            .filter(|p| p.told)
            .map(|p| (p.id.clone(), p.figures.audio_level))
            .collect();
        self.room.report(CallReport::Levels {
            local: measured.mic_level,
            remotes,
        });
        if now.saturating_duration_since(self.last_stats) >= STATS_EVERY {
            self.report_stats(now);
        }
    }

    /// The address of an ICE server (`Output::Lookup`), or why it has none.
    pub fn handle_lookup(
        &mut self,
        now: Instant,
        lookup: &Lookup,
        found: Result<Option<SocketAddr>, String>,
    ) {
        self.at(now);
        match found {
            Ok(Some(address)) => self.room.ice_server_found(lookup, Ok(address)),
            Ok(None) => self
                .room
                .ice_server_found(lookup, Err("no address found".into())),
            Err(e) => self.room.ice_server_found(lookup, Err(e)),
        }
        self.collect_gathered();
    }

    /// The answer to `Output::FindAddresses`: sockets opened on addresses this machine gained.
    /// They are offered to every connection, then the restarts that waited for them go out.
    pub fn handle_addresses(&mut self, now: Instant, added: Vec<SocketAddr>) {
        self.at(now);
        self.room.addresses_wanted = false;
        for address in added {
            if self.room.sockets.contains(&address) {
                continue;
            }
            self.room.sockets.push(address);
            if self.room.settings.relay_only {
                continue;
            }
            self.room.hosts.push(address);
            if let Ok(candidate) = str0m::Candidate::host(address, "udp") {
                self.add_local_candidate(candidate);
            }
        }
        for connection in std::mem::take(&mut self.restarts) {
            if self.room.connections.contains_key(&connection) {
                self.way.restart_path(&mut self.room, connection);
            }
        }
    }

    /// Time passed: timers of the connections and the gatherer, paths judged, keyframes and
    /// PLIs that waited, levels and stats due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.at(now);
        for connection in self.room.connections.values_mut() {
            if now >= connection.wake
                && let Err(e) = connection.peer.handle_timeout(now)
            {
                tracing::debug!("a connection's timer: {e}");
            }
        }
        if self
            .room
            .gatherer
            .next_timeout()
            .is_some_and(|at| now >= at)
        {
            self.room.gatherer.handle_timeout(now);
        }
        self.collect_gathered();
        if now >= self.next_liveness {
            self.next_liveness = now + LIVENESS_EVERY;
            self.judge_paths(now);
        }
        if now >= self.next_levels && !self.measuring {
            self.next_levels = now + LEVELS_EVERY;
            self.measuring = true;
            self.room.queue.push_back(Output::Measure);
        }
        self.keyframes_and_plis(now);
    }

    /// We leave: the way says goodbye, and media stops at once.
    pub fn leave(&mut self, now: Instant) {
        self.at(now);
        self.way.leave(&mut self.room);
        for connection in self.room.connections.values_mut() {
            connection.peer.close();
        }
    }

    /// The next thing to do: drain until `Output::Timeout`.
    pub fn poll(&mut self) -> Output<W::Message> {
        loop {
            if let Some(output) = self.room.queue.pop_front() {
                return output;
            }
            if !self.dirty {
                return Output::Timeout(self.next_timeout());
            }
            self.dirty = false;
            self.service_connections();
        }
    }

    fn next_timeout(&self) -> Instant {
        let now = self.room.now;
        // (Stats go out with the measurements that follow `next_levels`.)
        let mut next = self.next_liveness;
        if !self.measuring {
            next = next.min(self.next_levels);
        }
        for connection in self.room.connections.values() {
            next = next.min(connection.wake);
        }
        if let Some(at) = self.room.gatherer.next_timeout() {
            next = next.min(at);
        }
        let waiting = self
            .room
            .participants
            .values()
            .flat_map(|p| [p.pli.next(), p.screen_pli.next()]);
        let ours = [self.keyframes.next(), self.screen_keyframes.next()];
        for at in waiting.chain(ours).flatten() {
            next = next.min(at);
        }
        // Something overdue is done at the next turn, not in a loop that never sleeps.
        next.max(now + Duration::from_millis(1))
    }

    fn announce(&mut self) {
        let said = MediaState {
            mic_on: self.mic_on,
            camera_on: self.camera_live,
            hand_up: self.hand_up,
        };
        self.way.announce_media(&mut self.room, said);
    }

    /// A local candidate found after connections were made: added to each, and trickled.
    fn add_local_candidate(&mut self, candidate: str0m::Candidate) {
        let mut trickles = Vec::new();
        for (id, connection) in &mut self.room.connections {
            if let Some(line) = connection.peer.add_local_candidate(candidate.clone()) {
                trickles.push((*id, line));
            }
        }
        for (id, line) in trickles {
            self.way.trickle(&mut self.room, id, line);
        }
    }

    /// What the STUN and TURN clients have: datagrams, candidates, problems.
    fn collect_gathered(&mut self) {
        let transmits: Vec<_> = self.room.gatherer.take_transmits().collect();
        for t in transmits {
            self.room.queue.push_back(Output::Transmit(t));
        }
        let found: Vec<_> = self.room.gatherer.take_candidates().collect();
        for candidate in found {
            self.room.gathered.push(candidate.clone());
            self.add_local_candidate(candidate);
        }
        let notices: Vec<_> = self.room.gatherer.take_notices().collect();
        for notice in notices {
            self.room.notice(Notice::Problem(notice));
        }
    }

    /// Every connection's datagrams to send and what it has to say.
    fn service_connections(&mut self) {
        let now = self.room.now;
        let ids: Vec<ConnectionId> = self.room.connections.keys().copied().collect();
        for id in ids {
            let Some(connection) = self.room.connections.get_mut(&id) else {
                continue;
            };
            let mut rounds = 0;
            loop {
                match connection.peer.poll() {
                    Ok(Ok(t)) => match self.room.gatherer.route(now, &t) {
                        Route::Direct => self.room.queue.push_back(Output::Transmit(t)),
                        Route::Relayed(Some(r)) => self.room.queue.push_back(Output::Transmit(r)),
                        Route::Relayed(None) => {}
                    },
                    Ok(Err(at)) => {
                        let at_once = at <= now + Duration::from_micros(u64::from(rounds) + 1);
                        if at_once
                            && rounds < AT_ONCE_ROUNDS
                            && connection.peer.handle_timeout(at.max(now)).is_ok()
                        {
                            rounds += 1;
                            continue;
                        }
                        connection.wake = at;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!("connection {id}: {e}");
                        // str0m is done with it; liveness will tell.
                        connection.wake = now + LIVENESS_EVERY;
                        break;
                    }
                }
            }
            let events: Vec<PeerEvent> = connection.peer.take_events().collect();
            for event in events {
                self.on_peer_event(now, id, event);
            }
        }
        self.collect_gathered();
        self.show_states(now);
        self.keyframes_and_plis(now);
    }

    fn on_peer_event(&mut self, now: Instant, id: ConnectionId, event: PeerEvent) {
        let Some(connection) = self.room.connections.get_mut(&id) else {
            return;
        };
        match event {
            PeerEvent::Connected => {
                connection.path.state = Some(LinkState::Connected);
                connection.path.codecs = connection.peer.codecs();
                // Someone new receives our video: it starts with a keyframe.
                self.keyframe_now |= connection.sends;
                if self.share_live && connection.sends {
                    // And our share, once its section is negotiated (the way offers it).
                    self.way.share(&mut self.room, true);
                }
            }
            PeerEvent::Disconnected => connection.path.state = Some(LinkState::Disconnected),
            PeerEvent::Audio { mid, seq, payload } => {
                let Some(p) = self.room.receiver(id, mid) else {
                    return;
                };
                p.figures.audio_packets_in += 1;
                let from = p.id.clone();
                self.room.media(MediaCommand::Play {
                    from,
                    seq,
                    payload,
                    arrived: now,
                });
            }
            // Someone's shared screen (`Peer::offer_share` negotiates one): its own decoder,
            // shown as it comes (no lip sync: it has no sound of its own).
            PeerEvent::Video {
                mid,
                data,
                contiguous,
                screen: true,
                ..
            } => {
                let Some(p) = self.room.receiver(id, mid) else {
                    return;
                };
                if !contiguous {
                    p.screen_pli.want();
                }
                let from = p.id.clone();
                self.room.media(MediaCommand::Decode {
                    from,
                    feed: Feed::Screen,
                    unit: data,
                    hold: Duration::ZERO,
                });
            }
            PeerEvent::ScreenEnded { mid } => {
                let Some(p) = self.room.receiver(id, mid) else {
                    return;
                };
                p.figures.screen_in = false;
                let from = p.id.clone();
                self.room.media(MediaCommand::ScreenGone(from.clone()));
                self.room.report(CallReport::ScreenEnded { id: from });
            }
            PeerEvent::Video {
                mid,
                data,
                contiguous,
                rtp_time,
                screen: false,
            } => {
                let rtt = connection.path.stats.rtt;
                let Some(p) = self.room.receiver(id, mid) else {
                    return;
                };
                let hold = p.timing.picture(now, rtp_time, p.sync, rtt);
                p.figures.video_hold = p.timing.delay();
                // A gap before this frame breaks every picture until a keyframe.
                if !contiguous {
                    p.pli.want();
                }
                let from = p.id.clone();
                self.room.media(MediaCommand::Decode {
                    from,
                    feed: Feed::Camera,
                    unit: data,
                    hold,
                });
            }
            PeerEvent::ShareAgreed => self.screen_keyframe_now = true,
            PeerEvent::KeyframeRequested { screen } => {
                if connection.sends && screen {
                    self.screen_keyframes.want();
                } else if connection.sends {
                    self.keyframes.want();
                }
            }
            PeerEvent::BitrateEstimate(bps) => {
                connection.rate.on_estimate(bps);
                self.follow_paths();
            }
            PeerEvent::Stats(s) => {
                if let Some(rtt) = s.rtt {
                    connection.rate.on_rtt(now, rtt);
                }
                if let Some(loss) = s.loss_out {
                    connection.rate.on_loss(now, loss);
                }
                let loss_in = s.loss_in;
                connection.path.stats = s;
                self.follow_paths();
                if let Some(loss) = loss_in {
                    self.way.receive_loss(&mut self.room, id, loss);
                }
            }
        }
    }

    /// The encoder follows the weakest path we send on, and Opus protects against the loss of
    /// the worst.
    fn follow_paths(&mut self) {
        let sending = || self.room.connections.values().filter(|c| c.sends);
        let lowest = sending().filter_map(|c| c.rate.allowed()).min();
        let worst = sending()
            .filter_map(|c| c.path.stats.loss_out)
            .fold(0.0f32, f32::max);
        let simulcast = sending().any(|c| c.peer.simulcast());
        if let Some(bps) = lowest {
            let video = video_share(bps);
            // The share takes it all while no pictures of the camera go out.
            let (camera, screen) = match (self.share_live, self.camera_live) {
                (true, true) => split_for_share(video),
                (true, false) => (video, video),
                (false, _) => (video, 0),
            };
            let bitrate = camera.min(self.room.settings.max_video_bps);
            if self.bitrate != Some(bitrate) {
                self.bitrate = Some(bitrate);
                self.room.media(MediaCommand::Bitrate(bitrate));
            }
            if self.share_live && self.screen_bitrate != Some(screen) {
                self.screen_bitrate = Some(screen);
                self.room.media(MediaCommand::ScreenBitrate(screen));
            }
        }
        if !self.share_live {
            self.screen_bitrate = None;
        }
        if self.simulcast != simulcast {
            self.simulcast = simulcast;
            self.room.media(MediaCommand::Simulcast(simulcast));
        }
        let percent = (worst * 100.0).round().clamp(0.0, 100.0) as u8;
        if self.audio_loss != Some(percent) {
            self.audio_loss = Some(percent);
            self.room.media(MediaCommand::AudioLoss(percent));
        }
    }

    /// A keyframe when one is wanted and the last is a second old; a PLI for each participant
    /// whose video is broken, at most twice a second each. What waits is served when it may.
    fn keyframes_and_plis(&mut self, now: Instant) {
        if std::mem::take(&mut self.keyframe_now) {
            self.keyframes.serve(now);
            self.room.media(MediaCommand::Keyframe);
        } else if self.keyframes.take(now) {
            self.room.media(MediaCommand::Keyframe);
        }
        if std::mem::take(&mut self.screen_keyframe_now) {
            self.screen_keyframes.serve(now);
            self.room.media(MediaCommand::ScreenKeyframe);
        } else if self.screen_keyframes.take(now) && self.share_live {
            self.room.media(MediaCommand::ScreenKeyframe);
        }
        let room = &mut self.room;
        let mut asked = Vec::new();
        for p in room.participants.values_mut() {
            let Some(id) = p.connection() else { continue };
            let Some(connection) = room.connections.get_mut(&id) else {
                continue;
            };
            // Pictures that never start (an SFU that waits for a keyframe to forward a layer,
            // a first keyframe lost): nothing is there to be found broken, so ask.
            if p.figures.first_frame.is_none() && p.media.is_none_or(|said| said.camera_on) {
                let due = *p.no_picture_yet.get_or_insert(now + NO_PICTURE_YET);
                if now >= due && connection.peer.is_connected() {
                    p.pli.want();
                    p.no_picture_yet = Some(now + NO_PICTURE_YET);
                }
            }
            if !p.pli.take(now) {
                continue;
            }
            p.figures.plis += 1;
            // Their sections of the connection (through an SFU), or all of it (a mesh).
            let mids: Vec<Mid> = p
                .tracks
                .iter()
                .filter(|t| t.connection == id)
                .filter_map(|t| t.mid)
                .collect();
            if let Ok(video) = connection.peer.request_keyframe(&mids) {
                asked.push((id, video));
            }
            self.dirty = true;
        }
        // Shared screens: their own sections, asked apart (a mesh's connection carries one
        // camera and at most one screen; an SFU's, everyone's screens, so only theirs). Asked
        // of the way too, as cameras are: Janus passes on no PLI of ours, and asks a publisher
        // for a keyframe by itself only when a subscription starts, not when a screen is added
        // to one (a share begun mid-meeting was never seen there).
        for p in room.participants.values_mut() {
            let Some(id) = p.connection() else { continue };
            let Some(connection) = room.connections.get_mut(&id) else {
                continue;
            };
            if !p.screen_pli.take(now) {
                continue;
            }
            let screens: Vec<Mid> = connection
                .peer
                .screens_in()
                .into_iter()
                .filter(|mid| p.receives(id, *mid))
                .collect();
            if !screens.is_empty() {
                if let Ok(video) = connection.peer.request_keyframe(&screens) {
                    asked.push((id, video));
                }
                self.dirty = true;
            }
        }
        for (connection, mids) in asked {
            self.way.keyframe_wanted(&mut self.room, connection, &mids);
        }
    }

    /// Each path judged: restarted when silent (by the side that offered), dropped when
    /// silent for long.
    fn judge_paths(&mut self, now: Instant) {
        let mut dropped = Vec::new();
        let mut restart = false;
        for (id, connection) in &mut self.room.connections {
            let verdict = connection.liveness.check(
                now,
                connection.peer.is_connected(),
                connection.peer.last_heard(),
            );
            match verdict {
                Verdict::Fine => {}
                Verdict::RestartIce => {
                    self.restarts.push(*id);
                    restart = true;
                }
                Verdict::Drop => dropped.push(*id),
            }
        }
        if restart {
            // The path died: perhaps this machine moved to another network, so its new
            // addresses go with the restart (`handle_addresses`).
            self.room.find_new_addresses();
        }
        for id in dropped {
            self.room.close_connection(id, Farewell::Unreachable);
            self.way.connection_closed(&mut self.room, id);
        }
        self.show_states(now);
    }

    /// Tells the window of each participant whose connection changed state.
    fn show_states(&mut self, now: Instant) {
        let room = &mut self.room;
        let mut changed = Vec::new();
        for p in room.participants.values_mut().filter(|p| p.told) {
            let Some(connection) = p.connection().and_then(|c| room.connections.get(&c)) else {
                continue;
            };
            let state = if !connection.peer.is_connected() {
                PeerState::Connecting
            } else if connection
                .peer
                .last_heard()
                .is_some_and(|t| now.saturating_duration_since(t) > RESTART_AFTER)
            {
                PeerState::Reconnecting
            } else {
                PeerState::Connected
            };
            if p.shown != Some(state) {
                p.shown = Some(state);
                changed.push(CallReport::Participant {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    state,
                });
            }
        }
        for report in changed {
            room.report(report);
        }
    }

    fn report_stats(&mut self, now: Instant) {
        let interval = now.saturating_duration_since(self.last_stats).as_secs_f64();
        self.last_stats = now;
        let t = now.saturating_duration_since(self.started).as_secs_f64();
        let room = &mut self.room;
        let mut reports = Vec::new();
        for p in room.participants.values_mut().filter(|p| p.told) {
            let default = Default::default();
            let connection = p
                .connection()
                .and_then(|id| Some((id, room.connections.get(&id)?)));
            let path = connection.map_or(&default, |(_, c)| &c.path);
            let video_packets_in = connection.map_or(0, |(id, c)| {
                c.peer.video_packets_in(p.sections_on(id).as_deref())
            });
            let stats = p.figures.report(ReportContext {
                t,
                interval,
                peer: &p.peer,
                name: &p.name,
                frames_total: p.frames_decoded,
                video_packets_in,
                path,
                media: p.media,
            });
            reports.push(CallReport::Stats {
                id: p.id.clone(),
                stats: Box::new(stats),
            });
        }
        for report in reports {
            room.report(report);
        }
    }
}
