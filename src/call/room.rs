//! The call's state that a way of joining works on: participants, connections, our candidates,
//! and the queue of everything the call wants done ([`Output`]). A [`super::way::JoinWay`]
//! opens and closes connections, adds and removes participants and sends its protocol's
//! messages through it; the call's own policy (`call::machine`) runs over the same state.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::Candidate;
use str0m::media::Mid;

use super::connection::Connection;
use super::events::{CallError, CallReport, MediaState, Notice, PeerState};
use super::ids::{ConnectionId, ParticipantId};
use super::participant::{Participant, Track};
use crate::media::audio::chime::Chime;
use crate::media::video::screen::ShareTarget;
use crate::rtc::gather::{Gatherer, parse_ice_url};
use crate::rtc::peer::{Peer, Towards, Transmit};
use crate::signal::proto::IceServer;

/// How the call starts, and what it may do.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// Pictures go to a screen (a window), not only into the stats.
    pub render_video: bool,
    /// Reach the others only through TURN servers: no host or server-reflexive candidates.
    pub relay_only: bool,
    /// The most video we send (the settings' quality cap), bit/s.
    pub max_video_bps: u32,
    /// Whether our microphone and camera are on at the start (pre-join's switches). A camera
    /// that is off is never opened.
    pub mic_on: bool,
    pub camera_on: bool,
    /// A sound when someone joins or leaves (the settings' switch).
    pub chimes: bool,
}

/// Everything the call wants done, one at a time, from [`super::machine::Call::poll`]. `M` is
/// the way of joining's message to its signaling server.
#[derive(Debug)]
pub enum Output<M> {
    /// A datagram to send from one of our sockets.
    Transmit(Transmit),
    /// A message for the signaling server.
    Signal(M),
    /// News for the window (or the headless runner).
    Report(CallReport),
    /// Something for the media threads: the encoder, the microphone, the camera, a decoder,
    /// playout.
    Media(MediaCommand),
    /// Find the addresses of an ICE server (DNS); answer with `handle_lookup`.
    Lookup(Lookup),
    /// Open sockets on addresses this machine gained since the last time (another network);
    /// answer with `handle_addresses`, with none if there are none.
    FindAddresses,
    /// Measure the media threads (levels, playout delay, pictures decoded); answer with
    /// `handle_measurements`.
    Measure,
    /// The call is over: Ok when we left, Err when it cannot go on.
    Ended(Result<(), CallError>),
    /// Nothing more to do before this time, or before the next input.
    Timeout(Instant),
}

/// What the media threads are asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// Our next picture is a keyframe.
    Keyframe,
    /// The video encoder's target, bit/s.
    Bitrate(u32),
    /// Whether the encoder makes the quarter-size layer too (simulcast to an SFU).
    Simulcast(bool),
    /// The loss to protect our audio against (Opus in-band FEC), percent.
    AudioLoss(u8),
    /// Our microphone sends sound (true) or silence.
    Microphone(bool),
    /// Open our camera (a failure comes back as device news) or release it.
    Camera(bool),
    /// Share this screen or window (replacing any share), or stop (None). Its start, its
    /// failure and its end come back through `Call::handle_share`.
    Share(Option<ShareTarget>),
    /// Our shared screen's next picture is a keyframe.
    ScreenKeyframe,
    /// The screen encoder's target, bit/s.
    ScreenBitrate(u32),
    /// An H.264 access unit of `from`'s camera or shared screen (`feed`) for its decoder
    /// (started when first needed).
    Decode {
        from: ParticipantId,
        feed: Feed,
        unit: Arc<[u8]>,
        /// How long its picture waits once decoded, to be shown on the participant's
        /// timeline (`call::video_timing`).
        hold: Duration,
    },
    /// An Opus packet of `from`'s for playout.
    Play {
        from: ParticipantId,
        seq: u16,
        payload: Arc<[u8]>,
        arrived: Instant,
    },
    /// `from`'s pictures are shown in a tile this many pixels across and down.
    Fit {
        from: ParticipantId,
        width: u32,
        height: u32,
    },
    /// `from` is gone: their decoders and jitter buffer can go.
    Gone(ParticipantId),
    /// `from` stopped sharing their screen: its decoder can go.
    ScreenGone(ParticipantId),
    /// One of the app's own sounds, through the speaker (someone joined or left).
    Chime(Chime),
}

/// Which of a participant's videos: their camera, or the screen they share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    Camera,
    Screen,
}

/// An ICE server's name to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub host: String,
    pub port: u16,
}

/// An ICE server waiting for its address.
struct PendingServer {
    url: String,
    lookup: Lookup,
    relay: bool,
    credentials: Option<(String, String)>,
}

/// How a participant leaves the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// They left the meeting.
    Left,
    /// No path to them was found again.
    Unreachable,
    /// They were someone already here (a connection that turned out to be a duplicate).
    Quietly,
}

pub struct Room<M> {
    pub(crate) now: Instant,
    pub(crate) settings: CallSettings,
    pub(crate) participants: BTreeMap<ParticipantId, Participant>,
    pub(crate) connections: BTreeMap<ConnectionId, Connection>,
    next_connection: u64,
    /// Every local address we have a socket on, and those offered as host candidates (none
    /// when relay-only).
    pub(crate) sockets: Vec<SocketAddr>,
    pub(crate) hosts: Vec<SocketAddr>,
    /// Candidates found through STUN and TURN: every new connection starts with them.
    pub(crate) gathered: Vec<Candidate>,
    pub(crate) gatherer: Gatherer,
    pending_servers: Vec<PendingServer>,
    pub(crate) queue: VecDeque<Output<M>>,
    /// When we first entered the room (for the time to a participant's first picture).
    pub(crate) entered: Option<Instant>,
    pub(crate) ended: bool,
    /// New local addresses are to be looked for (an ICE restart is due, or was asked for).
    pub(crate) addresses_wanted: bool,
}

impl<M> Room<M> {
    pub(crate) fn new(now: Instant, settings: CallSettings, sockets: Vec<SocketAddr>) -> Self {
        let hosts = if settings.relay_only {
            Vec::new()
        } else {
            sockets.clone()
        };
        Self {
            now,
            gatherer: Gatherer::new(settings.relay_only),
            settings,
            participants: BTreeMap::new(),
            connections: BTreeMap::new(),
            next_connection: 0,
            sockets,
            hosts,
            gathered: Vec::new(),
            pending_servers: Vec::new(),
            queue: VecDeque::new(),
            entered: None,
            ended: false,
            addresses_wanted: false,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// A message for the signaling server.
    pub fn send(&mut self, message: M) {
        self.queue.push_back(Output::Signal(message));
    }

    pub fn report(&mut self, report: CallReport) {
        self.queue.push_back(Output::Report(report));
    }

    pub fn notice(&mut self, notice: Notice) {
        if self.settings.chimes {
            match notice {
                Notice::Arrived { .. } => self.media(MediaCommand::Chime(Chime::Arrived)),
                Notice::Left { .. } => self.media(MediaCommand::Chime(Chime::Left)),
                _ => {}
            }
        }
        self.report(CallReport::Notice(notice));
    }

    pub(crate) fn media(&mut self, command: MediaCommand) {
        self.queue.push_back(Output::Media(command));
    }

    /// We are in the room; the first time counts for the time to first pictures.
    pub fn enter(&mut self) {
        self.entered.get_or_insert(self.now);
    }

    /// Whether we have been in the room before (this is a rejoin).
    pub fn entered_before(&self) -> bool {
        self.entered.is_some()
    }

    /// Whether we are in touch with the signaling server.
    pub fn signaling(&mut self, connected: bool) {
        self.report(CallReport::Signaling { connected });
    }

    /// The call cannot go on (Err) or we left (Ok).
    pub fn end(&mut self, result: Result<(), CallError>) {
        if !self.ended {
            self.ended = true;
            self.queue.push_back(Output::Ended(result));
        }
    }

    /// Ask the driver for addresses this machine gained (an offer may be an ICE restart after
    /// the path died: if this machine moved to another network, the peer needs them).
    pub fn find_new_addresses(&mut self) {
        if !self.addresses_wanted {
            self.addresses_wanted = true;
            self.queue.push_back(Output::FindAddresses);
        }
    }

    /// Starts gathering candidates from the meeting's STUN and TURN servers (names are looked
    /// up by the driver: `Output::Lookup`).
    pub fn use_ice_servers(&mut self, servers: &[IceServer]) {
        for server in servers {
            for url in &server.urls {
                let parsed = match parse_ice_url(url) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        self.notice(Notice::Problem(e));
                        continue;
                    }
                };
                let credentials = server.username.clone().zip(server.credential.clone());
                if parsed.relay && credentials.is_none() {
                    self.notice(Notice::Problem(format!("{url}: no credentials given")));
                    continue;
                }
                let lookup = Lookup {
                    host: parsed.host,
                    port: parsed.port,
                };
                if !self.pending_servers.iter().any(|p| p.lookup == lookup) {
                    self.queue.push_back(Output::Lookup(lookup.clone()));
                }
                self.pending_servers.push(PendingServer {
                    url: url.clone(),
                    lookup,
                    relay: parsed.relay,
                    credentials,
                });
            }
        }
    }

    /// The address of an ICE server was found (or not): ask it for candidates from the sockets
    /// that can reach it (a loopback server only from loopback, others from anything but).
    pub(crate) fn ice_server_found(&mut self, lookup: &Lookup, found: Result<SocketAddr, String>) {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_servers)
            .into_iter()
            .partition(|p| p.lookup == *lookup);
        self.pending_servers = waiting;
        for server in ready {
            let address = match &found {
                Ok(address) => *address,
                Err(e) => {
                    self.notice(Notice::Problem(format!("{}: {e}", server.url)));
                    continue;
                }
            };
            let mut usable = self.sockets.iter().copied().filter(|l| {
                l.is_ipv4() == address.is_ipv4()
                    && l.ip().is_loopback() == address.ip().is_loopback()
            });
            match server.credentials {
                // One allocation serves every connection of the call.
                Some((user, pass)) if server.relay => match usable.next() {
                    Some(socket) => self
                        .gatherer
                        .add_turn(self.now, socket, address, &user, &pass),
                    None => self.notice(Notice::Problem(format!(
                        "{}: no socket can reach it",
                        server.url
                    ))),
                },
                _ => {
                    for socket in usable {
                        self.gatherer.add_stun(self.now, socket, address);
                    }
                }
            }
        }
    }

    /// A new connection with our candidates so far.
    pub fn open_connection(&mut self, offerer: bool, towards: Towards) -> ConnectionId {
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        let connection = Connection::new(self.now, &self.hosts, &self.gathered, offerer, towards);
        self.connections.insert(id, connection);
        id
    }

    pub fn peer(&mut self, id: ConnectionId) -> Option<&mut Peer> {
        self.connections.get_mut(&id).map(|c| &mut c.peer)
    }

    pub fn is_connected(&self, id: ConnectionId) -> bool {
        self.connections
            .get(&id)
            .is_some_and(|c| c.peer.is_connected())
    }

    /// Ends a connection at once. Its participants lose the media it carried; those left with
    /// none go as `farewell` says.
    pub fn close_connection(&mut self, id: ConnectionId, farewell: Farewell) {
        let Some(mut connection) = self.connections.remove(&id) else {
            return;
        };
        connection.peer.close();
        let mut orphans = Vec::new();
        for participant in self.participants.values_mut() {
            let had = participant.tracks.len();
            participant.tracks.retain(|t| t.connection != id);
            if had > 0 && participant.tracks.is_empty() {
                orphans.push(participant.id.clone());
            }
        }
        for orphan in orphans {
            self.remove_participant(&orphan, farewell);
        }
    }

    /// Someone whose media will come: `id` is how the window will know them, `peer` their id
    /// in the signaling. The window hears of them at once when `told`, else at [`Room::tell`].
    pub fn add_participant(
        &mut self,
        id: ParticipantId,
        peer: String,
        name: String,
        media: Option<MediaState>,
        told: bool,
    ) {
        let mut participant = Participant::new(id.clone(), peer, name);
        participant.media = media;
        self.participants.insert(id.clone(), participant);
        if told {
            self.tell(&id);
        }
    }

    /// The window hears of a participant it did not know yet.
    pub fn tell(&mut self, id: &ParticipantId) {
        let Some(p) = self.participants.get_mut(id) else {
            return;
        };
        if p.told {
            return;
        }
        p.told = true;
        let state = PeerState::Connecting;
        p.shown = Some(state);
        let (name, media) = (p.name.clone(), p.media);
        self.report(CallReport::Participant {
            id: id.clone(),
            name,
            state,
        });
        if let Some(state) = media {
            self.report(CallReport::Media {
                id: id.clone(),
                state,
            });
        }
    }

    /// `participant`'s media arrives on `connection` (in section `mid`, or all of it).
    pub fn attach(
        &mut self,
        participant: &ParticipantId,
        connection: ConnectionId,
        mid: Option<Mid>,
    ) {
        if let Some(p) = self.participants.get_mut(participant) {
            p.tracks.push(Track { connection, mid });
        }
    }

    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.get(id)
    }

    /// The participant whose media arrives on `connection` in section `mid`.
    pub(crate) fn receiver(
        &mut self,
        connection: ConnectionId,
        mid: Mid,
    ) -> Option<&mut Participant> {
        self.participants
            .values_mut()
            .find(|p| p.receives(connection, mid))
    }

    /// Their id in the signaling changed (a server restart gave them a new one).
    pub fn set_peer_id(&mut self, id: &ParticipantId, peer: String) {
        if let Some(p) = self.participants.get_mut(id) {
            p.peer = peer;
        }
    }

    /// A participant is gone; the window hears it as `farewell` says.
    pub fn remove_participant(&mut self, id: &ParticipantId, farewell: Farewell) {
        let Some(p) = self.participants.remove(id) else {
            return;
        };
        self.media(MediaCommand::Gone(id.clone()));
        if !p.told {
            return;
        }
        let state = match farewell {
            Farewell::Left => {
                self.notice(Notice::Left {
                    name: p.name.clone(),
                });
                PeerState::Left
            }
            Farewell::Unreachable => {
                self.notice(Notice::Dropped {
                    name: p.name.clone(),
                });
                PeerState::Unreachable
            }
            Farewell::Quietly => PeerState::Left,
        };
        self.report(CallReport::Participant {
            id: id.clone(),
            name: p.name,
            state,
        });
    }

    /// What a participant said of their microphone and camera.
    pub fn set_media(&mut self, id: &ParticipantId, state: MediaState) {
        let Some(p) = self.participants.get_mut(id) else {
            return;
        };
        p.media = Some(state);
        if p.told {
            self.report(CallReport::Media {
                id: id.clone(),
                state,
            });
        }
    }
}
