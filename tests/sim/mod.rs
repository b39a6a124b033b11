//! Calls in one process on simulated time: each participant is the real call machine
//! (`confer::call::machine::Call` with Confer's mesh), with real H.264 (OpenH264) from the
//! synthetic camera and Opus-sized audio packets, over a seeded simulated network that delays,
//! jitters, drops and bottlenecks datagrams, and a simulated signaling server that keeps
//! docs/PROTOCOL.md's room rules (welcome, peer-joined, peer-left, relay in order, restart).
//!
//! The harness plays only what lies outside the machine: the network, the server, the
//! camera, the encoder and decoders, and the media threads' measurements. Sound is the real
//! thing: the synthetic microphone's tone and beeps through Opus, and on the receiving side
//! each participant's `PeerPlayout` (jitter buffer, decoder, time compression) on a 20 ms
//! playout clock, whose delay holds the pictures back for lip sync as the decode thread does.
//! Nothing of the call's policy is here: who offers, restarts, keyframes, PLIs and rates are
//! the machine's.

#![allow(dead_code)] // each test file uses its own part of this module

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use confer::call::confer_mesh::{ConferEvent, ConferMesh, ConferMessage};
use confer::call::events::{CallError, CallReport, Device, DeviceProblem, PeerState};
use confer::call::ids::ParticipantId;
use confer::call::machine::{
    Call, CallSettings, Feed, Measurements, MediaCommand, Output, RemoteMeasurement,
};
use confer::media::audio::opus_codec::{FRAME_SAMPLES, OpusEncoder};
use confer::media::audio::playout::PeerPlayout;
use confer::media::audio::synthetic::SyntheticMic;
use confer::media::video::decode_thread::Picture;
use confer::media::video::h264::Content;
use confer::media::video::share_thread::ShareEvent;
use confer::media::video::{
    EncoderSettings, H264Decoder, H264Encoder, I420Frame, RgbaImage, TestPattern,
};
use confer::rtc::peer::Transmit;
use confer::signal::client::{Closed, Command, Event};
use confer::signal::proto::{PeerId, PeerInfo};
use confer::signal::relayed::{PeerSignal, RoomMessage};

pub const FRAME_INTERVAL: Duration = Duration::from_micros(33_333);
/// A shared screen's pictures: five a second (it changes each time: the page is redrawn).
pub const SCREEN_INTERVAL: Duration = Duration::from_millis(200);
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// One way through the signaling server.
pub const SIGNALING_DELAY: Duration = Duration::from_millis(15);

pub struct Rng(pub u64);

impl Rng {
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Conditions {
    pub one_way: Duration,
    pub jitter: Duration,
    pub loss: f64,
    /// Losses come in runs this many packets long on average (1: each on its own), with
    /// `loss` still the share lost overall (a two-state Gilbert model).
    pub burst: f64,
}

pub fn clean() -> Conditions {
    Conditions {
        one_way: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        loss: 0.0,
        burst: 1.0,
    }
}

/// A bottleneck: packets are serialised at `rate_bps` through a first-in first-out queue, and
/// dropped when they would wait longer than `limit` (a router's drop-tail buffer). What a real
/// link does, and what delay-based estimation reads.
pub struct Link {
    pub rate_bps: u64,
    pub limit: Duration,
    busy_until: Instant,
    last_arrival: Instant,
    /// Per packet offered: when, its size on the wire, the queueing delay (None: dropped).
    pub log: Vec<(Instant, usize, Option<Duration>)>,
}

impl Link {
    pub fn new(now: Instant, rate_bps: u64, limit: Duration) -> Self {
        Self {
            rate_bps,
            limit,
            busy_until: now,
            last_arrival: now,
            log: Vec::new(),
        }
    }

    /// When a packet offered now arrives, or None if the queue drops it.
    fn pass(&mut self, now: Instant, bytes: usize, one_way: Duration) -> Option<Instant> {
        // IPv4 and UDP headers travel too.
        let wire = bytes + 28;
        let start = self.busy_until.max(now);
        let waited = start - now;
        if waited > self.limit {
            self.log.push((now, wire, None));
            return None;
        }
        self.log.push((now, wire, Some(waited)));
        self.busy_until =
            start + Duration::from_nanos(wire as u64 * 8 * 1_000_000_000 / self.rate_bps);
        // In order, like a queue.
        self.last_arrival = (self.busy_until + one_way).max(self.last_arrival);
        Some(self.last_arrival)
    }

    /// Bits a second offered to the link, and the highest queueing delay, in [from, to).
    pub fn window(&self, from: Instant, to: Instant) -> (f64, Duration) {
        let inside = self.log.iter().filter(|(t, _, _)| *t >= from && *t < to);
        let bytes: usize = inside.clone().map(|(_, b, _)| b).sum();
        let worst = inside.filter_map(|(_, _, q)| *q).max().unwrap_or_default();
        (bytes as f64 * 8.0 / (to - from).as_secs_f64(), worst)
    }
}

/// Datagrams in flight, delivered in time order.
pub struct Network {
    in_flight: BinaryHeap<Reverse<(Instant, u64)>>,
    packets: HashMap<u64, Transmit>,
    next_id: u64,
    pub rng: Rng,
    pub conditions: Conditions,
    in_burst: bool,
    /// Addresses cut off the network (a laptop whose lid closed).
    pub gone: Vec<SocketAddr>,
    /// Bottlenecks, by sending address, and by (sending, receiving) address for one path only.
    pub uplinks: HashMap<SocketAddr, Link>,
    pub paths: HashMap<(SocketAddr, SocketAddr), Link>,
    /// The latest arrival on each path: jitter comes from queues, which keep their order, so a
    /// packet never overtakes one sent before it on the same path (independent jitter turned
    /// a burst sent at one instant, as a pacer sends a picture, into a shuffle).
    last_arrival: HashMap<(SocketAddr, SocketAddr), Instant>,
}

impl Network {
    fn new(seed: u64, conditions: Conditions) -> Self {
        Self {
            in_flight: BinaryHeap::new(),
            packets: HashMap::new(),
            next_id: 0,
            rng: Rng(seed),
            conditions,
            in_burst: false,
            gone: Vec::new(),
            uplinks: HashMap::new(),
            paths: HashMap::new(),
            last_arrival: HashMap::new(),
        }
    }

    fn send(&mut self, now: Instant, t: Transmit) {
        if self.gone.contains(&t.source) || self.gone.contains(&t.destination) {
            return;
        }
        if self.lost() {
            return;
        }
        let one_way = self.conditions.one_way;
        let link = match self.paths.get_mut(&(t.source, t.destination)) {
            Some(link) => Some(link),
            None => self.uplinks.get_mut(&t.source),
        };
        let at = match link {
            Some(link) => match link.pass(now, t.data.len(), one_way) {
                Some(at) => at,
                None => return,
            },
            None => {
                let jitter = self.conditions.jitter.mul_f64(self.rng.unit());
                let last = self
                    .last_arrival
                    .entry((t.source, t.destination))
                    .or_insert(now);
                *last = (now + one_way + jitter).max(*last);
                *last
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        self.packets.insert(id, t);
        self.in_flight.push(Reverse((at, id)));
    }

    /// Whether the next packet is lost: in a run of losses, a run ends with the chance that
    /// gives the mean length; out of one, a run starts with the chance that gives the share.
    fn lost(&mut self) -> bool {
        let Conditions { loss, burst, .. } = self.conditions;
        if loss <= 0.0 {
            return false;
        }
        let burst = burst.max(1.0);
        if self.in_burst {
            self.in_burst = self.rng.unit() >= 1.0 / burst;
            return self.in_burst;
        }
        let start = loss / (burst * (1.0 - loss));
        self.in_burst = self.rng.unit() < start;
        self.in_burst
    }

    fn next_at(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _))| *at)
    }

    fn due(&mut self, now: Instant) -> Option<Transmit> {
        if self.next_at()? > now {
            return None;
        }
        let Reverse((_, id)) = self.in_flight.pop()?;
        self.packets.remove(&id)
    }
}

/// The signaling server: rooms as docs/PROTOCOL.md has them, messages delivered in order after
/// [`SIGNALING_DELAY`].
pub struct Server {
    /// (peer id, person) of everyone in the room, in order of joining.
    members: Vec<(PeerId, usize)>,
    next_id: u64,
    queue: VecDeque<(Instant, usize, Event)>,
    /// Messages relayed, by kind (for tests that count them).
    pub relayed: Vec<(Instant, usize, Command)>,
}

impl Server {
    fn new() -> Self {
        Self {
            members: Vec::new(),
            next_id: 0,
            queue: VecDeque::new(),
            relayed: Vec::new(),
        }
    }

    fn to(&mut self, now: Instant, person: usize, event: Event) {
        self.queue.push_back((now + SIGNALING_DELAY, person, event));
    }

    fn id_of(&self, person: usize) -> Option<PeerId> {
        self.members
            .iter()
            .find(|(_, p)| *p == person)
            .map(|(id, _)| id.clone())
    }

    fn join(&mut self, now: Instant, person: usize, name: &str, names: &[String]) {
        self.next_id += 1;
        let id = PeerId::from(format!("p{}", self.next_id));
        let peers = self
            .members
            .iter()
            .map(|(id, p)| PeerInfo {
                id: id.clone(),
                name: names[*p].clone(),
            })
            .collect();
        self.to(
            now,
            person,
            Event::Joined {
                id: id.clone(),
                peers,
                ice_servers: Vec::new(),
                resumed: false,
                media: None,
            },
        );
        let others: Vec<usize> = self.members.iter().map(|(_, p)| *p).collect();
        for other in others {
            let info = PeerInfo {
                id: id.clone(),
                name: name.to_string(),
            };
            self.to(now, other, Event::PeerJoined(info));
        }
        self.members.push((id, person));
    }

    fn leave(&mut self, now: Instant, person: usize) {
        let Some(id) = self.id_of(person) else { return };
        self.members.retain(|(_, p)| *p != person);
        self.to(now, person, Event::Closed(Closed::Left));
        let others: Vec<usize> = self.members.iter().map(|(_, p)| *p).collect();
        for other in others {
            self.to(now, other, Event::PeerLeft(id.clone()));
        }
    }

    /// What a participant sent, as the server relays it (through its JSON, as on the wire).
    fn from(&mut self, now: Instant, person: usize, command: Command) {
        self.relayed.push((now, person, command.clone()));
        let Some(from) = self.id_of(person) else {
            return;
        };
        match command {
            Command::Signal { to, signal } => {
                let Some(&(_, target)) = self.members.iter().find(|(id, _)| *id == to) else {
                    return;
                };
                let signal = PeerSignal::from_json(&signal.to_json().to_string());
                self.to(now, target, Event::Signal { from, signal });
            }
            Command::Broadcast(message) => {
                let Some(message) = RoomMessage::from_json(&message.to_json().to_string()) else {
                    return;
                };
                let others: Vec<usize> = self
                    .members
                    .iter()
                    .map(|(_, p)| *p)
                    .filter(|p| *p != person)
                    .collect();
                for other in others {
                    let event = Event::Broadcast {
                        from: from.clone(),
                        message: message.clone(),
                    };
                    self.to(now, other, event);
                }
            }
            Command::Leave => self.leave(now, person),
        }
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.iter().map(|(at, _, _)| *at).min()
    }
}

/// What one participant saw of another.
#[derive(Default)]
pub struct Seen {
    decoder: Option<H264Decoder>,
    /// When pictures were shown (decoded, then held for lip sync), with their stripe counters.
    pub pictures: Vec<(Instant, u32)>,
    /// Decoded pictures waiting out their hold, with when it ends.
    held: VecDeque<(Instant, Picture)>,
    /// Their sound, as the playout thread plays it.
    pub playout: Option<PeerPlayout>,
    pub audio_packets: u64,
    pub broken: u64,
    pub decoded: u64,
    /// Their shared screen: its decoder, pictures decoded, and the last one.
    screen_decoder: Option<H264Decoder>,
    pub screen_decoded: u64,
    pub screen_last: Option<I420Frame>,
    /// Decoded screen pictures for the call (shown at once: no lip sync).
    screen_held: VecDeque<Picture>,
}

/// A person's shared screen: a page with a moving cursor, through the screen encoder.
pub struct Screen {
    pub page: I420Frame,
    encoder: H264Encoder,
    next: Instant,
}

/// A page of "text": dark strokes on white, in rows, with a mark of `who` in it so that two
/// people's pages differ.
pub fn page(width: usize, height: usize, who: u8) -> I420Frame {
    let mut page = I420Frame::black(width, height);
    {
        let (y, u, v) = page.planes_mut();
        for (i, px) in y.iter_mut().enumerate() {
            let (row, col) = (i / width, i % width);
            let stroke = row % 12 < 8 && (col + row / 12 * usize::from(who)) % 7 == 1;
            *px = if stroke { 40 } else { 235 };
        }
        u.fill(128);
        v.fill(128);
    }
    page
}

/// What a person's camera does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraKind {
    Working,
    /// Never opens (a camera another program holds).
    Broken,
}

pub struct Person {
    pub name: String,
    pub addr: SocketAddr,
    pub call: Option<Call<ConferMesh>>,
    pub reports: Vec<(Instant, CallReport)>,
    /// Every media command, but the decoder's and playout's input.
    pub commands: Vec<(Instant, MediaCommand)>,
    pub seen: BTreeMap<ParticipantId, Seen>,
    pub ended: Option<Result<(), CallError>>,
    pub pattern: TestPattern,
    /// Sensor noise added to each picture's luma (empty: none), a window into it that moves
    /// each picture: detail that uses any rate, as a camera in poor light gives (the test
    /// picture alone is calm: the encoder's quantiser floor keeps it well under 1 Mbit/s).
    noise: Vec<u8>,
    noise_at: usize,
    pub encoder: H264Encoder,
    pub camera: CameraKind,
    camera_open: bool,
    camera_started: bool,
    next_frame: Instant,
    next_audio: Instant,
    audio_seq: u32,
    mic: SyntheticMic,
    opus: OpusEncoder,
    /// The playout thread's clock: every remote's next 20 ms is played then.
    next_playout: Instant,
    /// Played without time compression (to measure what it gives).
    pub no_shortening: bool,
    wake: Instant,
    /// Addresses the next `FindAddresses` reports (a new network).
    pub new_addresses: Vec<SocketAddr>,
    /// Encoded pictures handed to the call.
    pub pictures_sent: u64,
    /// The screen this person shares, while the call has it open.
    pub screen: Option<Screen>,
    /// What their share shows (a page of their own unless a test says otherwise).
    pub screen_page: I420Frame,
    /// Encoded pictures of the shared screen handed to the call.
    pub screen_pictures_sent: u64,
}

impl Person {
    fn new(name: &str, index: u8, now: Instant) -> Self {
        Self {
            name: name.into(),
            addr: SocketAddr::from(([10, 0, 0, index], 5000)),
            call: None,
            reports: Vec::new(),
            commands: Vec::new(),
            seen: BTreeMap::new(),
            ended: None,
            pattern: TestPattern::new(320, 180),
            noise: Vec::new(),
            noise_at: 0,
            encoder: H264Encoder::new(EncoderSettings {
                bitrate_bps: 400_000,
                max_fps: 30.0,
            })
            .expect("an encoder"),
            camera: CameraKind::Working,
            camera_open: false,
            camera_started: false,
            next_frame: now,
            next_audio: now,
            audio_seq: 0,
            mic: SyntheticMic::tone(),
            opus: OpusEncoder::new(32_000).expect("an Opus encoder"),
            // Out of step with the sender's clock, as two machines are.
            next_playout: now + Duration::from_millis(7),
            no_shortening: false,
            wake: now,
            new_addresses: Vec::new(),
            pictures_sent: 0,
            screen: None,
            screen_page: page(640, 360, index),
            screen_pictures_sent: 0,
        }
    }

    /// The id under which this person's call knows the participant called `name`.
    /// From now on their camera is `pattern` with sensor noise on it (see `noise`).
    pub fn noisy_camera(&mut self, pattern: TestPattern) {
        let (width, height) = pattern.size();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        self.noise = (0..width * height + 65_536)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 24) as u8
            })
            .collect();
        self.pattern = pattern;
    }

    pub fn id_of(&self, name: &str) -> Option<ParticipantId> {
        self.reports.iter().rev().find_map(|(_, r)| match r {
            CallReport::Participant { id, name: n, .. } if n == name => Some(id.clone()),
            _ => None,
        })
    }

    /// What this person saw of `name`.
    pub fn seen_of(&self, name: &str) -> &Seen {
        let id = self
            .id_of(name)
            .unwrap_or_else(|| panic!("{} never heard of {name}", self.name));
        self.seen
            .get(&id)
            .unwrap_or_else(|| panic!("{} never received from {name}", self.name))
    }

    /// The states reported for `name`, in order, with the ids they came under.
    pub fn states_of(&self, name: &str) -> Vec<(ParticipantId, PeerState)> {
        self.reports
            .iter()
            .filter_map(|(_, r)| match r {
                CallReport::Participant { id, name: n, state } if n == name => {
                    Some((id.clone(), *state))
                }
                _ => None,
            })
            .collect()
    }

    /// The participants present now (by the reports), by name.
    pub fn present(&self) -> Vec<String> {
        let mut present: BTreeMap<ParticipantId, String> = BTreeMap::new();
        for (_, r) in &self.reports {
            if let CallReport::Participant { id, name, state } = r {
                match state {
                    PeerState::Left | PeerState::Unreachable => {
                        present.remove(id);
                    }
                    _ => {
                        present.insert(id.clone(), name.clone());
                    }
                }
            }
        }
        present.into_values().collect()
    }

    /// When this person's encoder was asked for a keyframe.
    pub fn keyframes(&self) -> Vec<Instant> {
        self.commands
            .iter()
            .filter(|(_, c)| *c == MediaCommand::Keyframe)
            .map(|(at, _)| *at)
            .collect()
    }

    /// Whether the call told this person's window it shares now, by its last word.
    pub fn sharing(&self) -> bool {
        self.reports
            .iter()
            .rev()
            .find_map(|(_, r)| match r {
                CallReport::Sharing(on) => Some(*on),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// The screen encoder's rates, as asked.
    pub fn screen_bitrates(&self) -> Vec<(Instant, u32)> {
        self.commands
            .iter()
            .filter_map(|(at, c)| match c {
                MediaCommand::ScreenBitrate(bps) => Some((*at, *bps)),
                _ => None,
            })
            .collect()
    }

    /// The encoder's rates, as asked.
    pub fn bitrates(&self) -> Vec<(Instant, u32)> {
        self.commands
            .iter()
            .filter_map(|(at, c)| match c {
                MediaCommand::Bitrate(bps) => Some((*at, *bps)),
                _ => None,
            })
            .collect()
    }

    /// Whether a notice (in English) said `words`.
    pub fn noticed(&self, words: &str) -> bool {
        self.notices().iter().any(|n| n.contains(words))
    }

    /// The notices, in English.
    pub fn notices(&self) -> Vec<String> {
        self.reports
            .iter()
            .filter_map(|(_, r)| match r {
                CallReport::Notice(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub net: Network,
    pub server: Server,
    pub people: Vec<Person>,
    /// The least time between two turns of everyone's call: a driver woken when asked turns
    /// every 100 µs at most; a busy machine, every few milliseconds.
    pub turn: Duration,
    settings: CallSettings,
}

impl Sim {
    pub fn new(names: &[&str], conditions: Conditions, seed: u64) -> Self {
        let now = Instant::now();
        let people = names
            .iter()
            .enumerate()
            .map(|(i, n)| Person::new(n, i as u8 + 1, now))
            .collect();
        Self {
            start: now,
            now,
            net: Network::new(seed, conditions),
            server: Server::new(),
            people,
            turn: Duration::from_micros(100),
            settings: CallSettings {
                render_video: false,
                relay_only: false,
                max_video_bps: confer::media::video::h264::MAX_BITRATE_BPS,
                mic_on: true,
                camera_on: true,
                chimes: false,
            },
        }
    }

    /// The settings calls start with from now on.
    pub fn settings(&mut self) -> &mut CallSettings {
        &mut self.settings
    }

    pub fn index(&self, name: &str) -> usize {
        self.people
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("nobody called {name}"))
    }

    pub fn person(&self, name: &str) -> &Person {
        &self.people[self.index(name)]
    }

    pub fn person_mut(&mut self, name: &str) -> &mut Person {
        let i = self.index(name);
        &mut self.people[i]
    }

    /// `name` starts a call and joins the room.
    pub fn join(&mut self, name: &str) {
        let i = self.index(name);
        let now = self.now;
        let person = &mut self.people[i];
        let session = format!("session-{name}-{}", person.reports.len());
        person.call = Some(Call::new(
            now,
            self.settings.clone(),
            ConferMesh::new(session),
            vec![person.addr],
        ));
        person.ended = None;
        person.wake = now;
        let names: Vec<String> = self.people.iter().map(|p| p.name.clone()).collect();
        self.server.join(now, i, name, &names);
    }

    /// `name` leaves, as the window's Leave does.
    pub fn leave(&mut self, name: &str) {
        let now = self.now;
        if let Some(call) = self.person_mut(name).call.as_mut() {
            call.leave(now);
        }
    }

    /// `name`'s machine drops off the network for good, with no goodbye.
    pub fn vanish(&mut self, name: &str) {
        let addr = self.person(name).addr;
        self.net.gone.push(addr);
    }

    /// The signaling server restarts: everyone loses it, then rejoins in order under new ids
    /// (`welcome` with `resumed: false`), as the signaling client does.
    pub fn restart_server(&mut self, down_for: Duration) {
        let now = self.now;
        let members: Vec<usize> = self.server.members.iter().map(|(_, p)| *p).collect();
        self.server.members.clear();
        for &person in &members {
            self.server.to(
                now,
                person,
                Event::Reconnecting {
                    attempt: 1,
                    after: down_for,
                },
            );
        }
        self.run(down_for);
        let names: Vec<String> = self.people.iter().map(|p| p.name.clone()).collect();
        for person in members {
            let name = names[person].clone();
            self.server.join(self.now, person, &name, &names);
        }
    }

    /// A control from `name`'s window.
    pub fn control(&mut self, name: &str, control: confer::call::events::CallControl) {
        let now = self.now;
        if let Some(call) = self.person_mut(name).call.as_mut() {
            call.handle_control(now, control);
        }
    }

    /// Device news from `name`'s media threads.
    pub fn device(&mut self, name: &str, device: Device, problem: Option<&str>) {
        let now = self.now;
        if let Some(call) = self.person_mut(name).call.as_mut() {
            let problem = problem.map(|why| DeviceProblem::Failed(why.to_string()));
            call.handle_device(now, device, problem);
        }
    }

    /// Runs until every pair of joined people sees the other's pictures.
    pub fn run_until_connected(&mut self, limit: Duration) {
        let deadline = self.now + limit;
        while !self.all_see_each_other() {
            assert!(self.now < deadline, "not connected within {limit:?}");
            self.run(Duration::from_millis(100));
        }
    }

    fn all_see_each_other(&self) -> bool {
        let joined: Vec<&Person> = self.people.iter().filter(|p| p.call.is_some()).collect();
        joined.iter().all(|p| {
            joined.iter().filter(|o| o.name != p.name).all(|o| {
                p.id_of(&o.name)
                    .and_then(|id| p.seen.get(&id))
                    .is_some_and(|s| !s.pictures.is_empty())
            })
        })
    }

    /// Runs the simulation for `how_long`.
    pub fn run(&mut self, how_long: Duration) {
        let end = self.now + how_long;
        while self.now < end {
            self.step();
            let next = self.next_event().min(end);
            self.now = next.max(self.now + self.turn);
        }
    }

    fn next_event(&self) -> Instant {
        let mut next = self.now + Duration::from_millis(10);
        if let Some(at) = self.net.next_at() {
            next = next.min(at);
        }
        if let Some(at) = self.server.next_at() {
            next = next.min(at);
        }
        for p in self.people.iter().filter(|p| p.call.is_some()) {
            next = next.min(p.wake).min(p.next_audio).min(p.next_playout);
            for seen in p.seen.values() {
                if let Some((due, _)) = seen.held.front() {
                    next = next.min(*due);
                }
            }
            if p.camera_open {
                next = next.min(p.next_frame);
            }
            if let Some(screen) = &p.screen {
                next = next.min(screen.next);
            }
        }
        next
    }

    fn wall(&self, at: Instant) -> SystemTime {
        SystemTime::UNIX_EPOCH + (at - self.start)
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some(t) = self.net.due(now) {
            if let Some(p) = self.people.iter_mut().find(|p| p.addr == t.destination)
                && let Some(call) = p.call.as_mut()
            {
                call.handle_datagram(now, t.source, t.destination, &t.data);
            }
        }
        while let Some(i) = self.server.queue.iter().position(|(at, _, _)| *at <= now) {
            let Some((_, person, event)) = self.server.queue.remove(i) else {
                break;
            };
            if let Some(call) = self.people[person].call.as_mut() {
                call.handle_signaling(now, ConferEvent::Confer(event));
            }
        }
        for i in 0..self.people.len() {
            self.media(i);
            self.drain(i);
        }
    }

    /// The person's camera and microphone, and the call's timers.
    fn media(&mut self, i: usize) {
        let now = self.now;
        let wall = self.wall(now);
        let p = &mut self.people[i];
        let Some(call) = p.call.as_mut() else { return };
        if p.camera_open && now >= p.next_frame {
            p.next_frame = now.max(p.next_frame + FRAME_INTERVAL);
            if !p.camera_started {
                // Pictures come: the camera counts as on.
                p.camera_started = true;
                call.handle_device(now, Device::Camera, None);
            }
            let mut frame = p.pattern.frame(wall);
            if !p.noise.is_empty() {
                let (y, _, _) = frame.planes_mut();
                let spare = p.noise.len() - y.len();
                p.noise_at = (p.noise_at + 7919) % spare.max(1);
                for (pixel, noise) in y.iter_mut().zip(&p.noise[p.noise_at..]) {
                    *pixel = pixel.saturating_add(*noise).min(235);
                }
            }
            if let Some(encoded) = p.encoder.encode(&frame).expect("encoding") {
                p.pictures_sent += 1;
                call.handle_video(now, wall, encoded.layer, encoded.data);
            }
        }
        if let Some(screen) = p.screen.as_mut()
            && now >= screen.next
        {
            screen.next = now.max(screen.next + SCREEN_INTERVAL);
            let mut picture = screen.page.clone();
            picture.captured = wall;
            // A text cursor that moves each picture: the page changes, as a screen in use
            // does (an unchanged one costs the screen encoder no picture at all).
            let width = picture.width();
            let x = (p.screen_pictures_sent as usize * 8) % width.saturating_sub(4).max(1);
            let (y, _, _) = picture.planes_mut();
            for row in 4..16 {
                y[row * width + x..row * width + x + 4].fill(16);
            }
            if let Some(encoded) = screen.encoder.encode(&picture).expect("encoding a screen") {
                p.screen_pictures_sent += 1;
                call.handle_screen(now, wall, encoded.data);
            }
        }
        if now >= p.next_audio {
            p.next_audio = now.max(p.next_audio + AUDIO_INTERVAL);
            let mut samples = [0.0f32; FRAME_SAMPLES];
            p.mic.fill(&mut samples, wall);
            let packet = p.opus.encode(&samples).expect("Opus encoding");
            call.handle_audio(now, p.audio_seq * 960, packet);
            p.audio_seq += 1;
        }
        if now >= p.next_playout {
            p.next_playout = now.max(p.next_playout + AUDIO_INTERVAL);
            for seen in p.seen.values_mut() {
                if let Some(playout) = seen.playout.as_mut() {
                    playout.play(now, now);
                }
            }
        }
        // Pictures whose hold is over are shown, in order.
        for (from, seen) in p.seen.iter_mut() {
            while seen.held.front().is_some_and(|(due, _)| *due <= now) {
                let Some((_, mut picture)) = seen.held.pop_front() else {
                    break;
                };
                picture.shown_at = wall;
                if let Some(stripe) = picture.stripe {
                    seen.pictures.push((now, stripe.counter));
                }
                call.handle_picture(now, from, Feed::Camera, picture);
            }
            while let Some(picture) = seen.screen_held.pop_front() {
                call.handle_picture(now, from, Feed::Screen, picture);
            }
        }
        if now >= p.wake {
            call.handle_timeout(now);
        }
    }

    /// Everything the person's call wants done.
    fn drain(&mut self, i: usize) {
        let now = self.now;
        let wall = self.wall(now);
        loop {
            let p = &mut self.people[i];
            let Some(call) = p.call.as_mut() else { return };
            match call.poll() {
                Output::Transmit(t) => self.net.send(now, t),
                Output::Signal(ConferMessage::Confer(command)) => self.server.from(now, i, command),
                // No SFU in the simulation.
                Output::Signal(_) => {}
                Output::Report(r) => p.reports.push((now, r)),
                Output::Media(command) => {
                    if let Some((broken, feed)) = apply(p, now, wall, command)
                        && let Some(call) = p.call.as_mut()
                    {
                        call.handle_keyframe_needed(now, &broken, feed);
                    }
                }
                Output::Lookup(lookup) => {
                    call.handle_lookup(now, &lookup, Err("no DNS here".into()))
                }
                Output::FindAddresses => {
                    let added = std::mem::take(&mut p.new_addresses);
                    if let Some(&addr) = added.first() {
                        p.addr = addr;
                    }
                    call.handle_addresses(now, added);
                }
                Output::Measure => {
                    let remotes = p
                        .seen
                        .iter()
                        .map(|(id, seen)| {
                            let audio =
                                seen.playout.as_ref().map(|p| p.stats()).unwrap_or_default();
                            let m = RemoteMeasurement {
                                level: audio.level,
                                playout_delay: audio.playout_delay,
                                beep_at: audio.beep_at,
                                frames_decoded: seen.decoded,
                                screen_frames_decoded: seen.screen_decoded,
                                concealed: audio.concealed(),
                            };
                            (id.clone(), m)
                        })
                        .collect();
                    let measured = Measurements {
                        mic_level: 0.1,
                        wall: Some(wall),
                        remotes,
                    };
                    call.handle_measurements(now, measured);
                }
                Output::Ended(result) => {
                    p.ended = Some(result);
                    p.call = None;
                    p.camera_open = false;
                    p.camera_started = false;
                    return;
                }
                Output::Timeout(at) => {
                    p.wake = at;
                    return;
                }
            }
        }
    }
}

/// Does a media command as the media threads would. A decoded picture waits out its hold in
/// `Seen::held` (shown by `Sim::media`); a stream that breaks is returned, for the call to ask
/// for a keyframe.
fn apply(
    p: &mut Person,
    now: Instant,
    wall: SystemTime,
    command: MediaCommand,
) -> Option<(ParticipantId, Feed)> {
    match command {
        MediaCommand::Decode {
            from,
            feed: Feed::Screen,
            unit,
            ..
        } => {
            let seen = p.seen.entry(from.clone()).or_default();
            let decoder = seen
                .screen_decoder
                .get_or_insert_with(|| H264Decoder::new().expect("a decoder"));
            match decoder.decode(&unit) {
                Ok(Some(frame)) => {
                    seen.screen_decoded += 1;
                    seen.screen_held.push_back(Picture {
                        image: RgbaImage {
                            width: 0,
                            height: 0,
                            pixels: Vec::new(),
                        },
                        stream_size: (frame.width(), frame.height()),
                        stripe: None,
                        shown_at: wall,
                    });
                    seen.screen_last = Some(frame);
                    None
                }
                Ok(None) => None,
                Err(_) => Some((from, Feed::Screen)),
            }
        }
        MediaCommand::Decode {
            from, unit, hold, ..
        } => {
            let seen = p.seen.entry(from.clone()).or_default();
            let decoder = seen
                .decoder
                .get_or_insert_with(|| H264Decoder::new().expect("a decoder"));
            match decoder.decode_info(&unit) {
                Ok(Some(decoded)) => {
                    seen.decoded += 1;
                    let picture = Picture {
                        image: RgbaImage {
                            width: 0,
                            height: 0,
                            pixels: Vec::new(),
                        },
                        stream_size: (decoded.width, decoded.height),
                        stripe: decoded.stripe,
                        shown_at: wall,
                    };
                    seen.held.push_back((now + hold, picture));
                    None
                }
                Ok(None) => None,
                // What the decoder thread does: the stream is broken until a keyframe.
                Err(_) => {
                    seen.broken += 1;
                    Some((from, Feed::Camera))
                }
            }
        }
        MediaCommand::Play {
            from,
            seq,
            payload,
            arrived,
        } => {
            let no_shortening = p.no_shortening;
            let seen = p.seen.entry(from).or_default();
            seen.audio_packets += 1;
            let playout = seen.playout.get_or_insert_with(|| {
                let playout = PeerPlayout::new().expect("an Opus decoder");
                if no_shortening {
                    playout.without_shortening()
                } else {
                    playout
                }
            });
            playout.push(seq, &payload, arrived);
            None
        }
        MediaCommand::Gone(ref from) => {
            if let Some(seen) = p.seen.get_mut(from) {
                seen.decoder = None;
                seen.playout = None;
                seen.held.clear();
                seen.screen_decoder = None;
            }
            p.commands.push((now, command));
            None
        }
        MediaCommand::ScreenGone(ref from) => {
            if let Some(seen) = p.seen.get_mut(from) {
                seen.screen_decoder = None;
            }
            p.commands.push((now, command));
            None
        }
        MediaCommand::Share(ref target) => {
            p.screen = target.map(|_| Screen {
                page: p.screen_page.clone(),
                encoder: H264Encoder::for_content(
                    EncoderSettings {
                        bitrate_bps: 600_000,
                        max_fps: 5.0,
                    },
                    Content::Screen,
                )
                .expect("a screen encoder"),
                next: now,
            });
            p.commands.push((now, command));
            if let (Some(screen), Some(call)) = (&p.screen, p.call.as_mut()) {
                let started = ShareEvent::Started {
                    width: screen.page.width() as u32,
                    height: screen.page.height() as u32,
                };
                call.handle_share(now, started);
            }
            None
        }
        other => {
            match &other {
                MediaCommand::Keyframe => p.encoder.request_keyframe(),
                MediaCommand::Bitrate(bps) => p.encoder.set_bitrate(*bps),
                MediaCommand::ScreenKeyframe => {
                    if let Some(screen) = p.screen.as_mut() {
                        screen.encoder.request_keyframe();
                    }
                }
                MediaCommand::ScreenBitrate(bps) => {
                    if let Some(screen) = p.screen.as_mut() {
                        screen.encoder.set_bitrate(*bps);
                    }
                }
                MediaCommand::Camera(on) => {
                    p.camera_open = *on && p.camera == CameraKind::Working;
                    p.camera_started = false;
                    if *on && p.camera == CameraKind::Broken {
                        let problem = Some(DeviceProblem::Failed("the camera is busy".into()));
                        p.commands.push((now, other.clone()));
                        if let Some(call) = p.call.as_mut() {
                            call.handle_device(now, Device::Camera, problem);
                        }
                        return None;
                    }
                }
                _ => {}
            }
            p.commands.push((now, other));
            None
        }
    }
}

/// Pictures a second and the longest gap between pictures in [from, to].
pub fn video_quality(seen: &Seen, from: Instant, to: Instant) -> (f64, Duration) {
    let times: Vec<Instant> = seen
        .pictures
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= from && *t <= to)
        .collect();
    let fps = times.len() as f64 / (to - from).as_secs_f64();
    let longest = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(to - from);
    (fps, longest)
}
