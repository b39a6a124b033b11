//! Peer connections in-process on simulated time over a seeded simulated network: no sockets,
//! no sleeping. Real str0m, real H.264 (OpenH264) and real Opus-sized packets; the network
//! delays, jitters and drops datagrams.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use confer::call::liveness::{Liveness, Verdict};
use confer::call::rate::{PathRate, video_share};
use confer::media::video::{EncoderSettings, H264Decoder, H264Encoder, TestPattern, read_stripe};
use confer::rtc::peer::{Peer, PeerEvent, Transmit};

const FRAME_INTERVAL: Duration = Duration::from_micros(33_333);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
struct Conditions {
    one_way: Duration,
    jitter: Duration,
    loss: f64,
}

/// A bottleneck on one sender's uplink: packets are serialised at `rate_bps` through a
/// first-in first-out queue, and dropped when they would wait longer than `limit` (a router's
/// drop-tail buffer). What a real link does, and what delay-based estimation reads.
struct Link {
    rate_bps: u64,
    limit: Duration,
    busy_until: Instant,
    last_arrival: Instant,
    /// Per packet offered: when, its size on the wire, the queueing delay (None: dropped).
    log: Vec<(Instant, usize, Option<Duration>)>,
}

impl Link {
    fn new(now: Instant, rate_bps: u64, limit: Duration) -> Self {
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
    fn window(&self, from: Instant, to: Instant) -> (f64, Duration) {
        let inside = self.log.iter().filter(|(t, _, _)| *t >= from && *t < to);
        let bytes: usize = inside.clone().map(|(_, b, _)| b).sum();
        let worst = inside.filter_map(|(_, _, q)| *q).max().unwrap_or_default();
        (bytes as f64 * 8.0 / (to - from).as_secs_f64(), worst)
    }
}

/// Datagrams in flight, delivered in time order.
struct Network {
    in_flight: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    packets: HashMap<usize, Transmit>,
    next_id: usize,
    rng: Rng,
    conditions: Conditions,
    /// Addresses cut off the network (a participant whose laptop lid closed).
    gone: Vec<SocketAddr>,
    /// Bottlenecks, by sending address.
    links: HashMap<SocketAddr, Link>,
}

impl Network {
    fn send(&mut self, now: Instant, t: Transmit) {
        if self.gone.contains(&t.source) || self.gone.contains(&t.destination) {
            return;
        }
        if self.rng.unit() < self.conditions.loss {
            return;
        }
        let at = if let Some(link) = self.links.get_mut(&t.source) {
            match link.pass(now, t.data.len(), self.conditions.one_way) {
                Some(at) => at,
                None => return,
            }
        } else {
            let jitter = self.conditions.jitter.mul_f64(self.rng.unit());
            now + self.conditions.one_way + jitter
        };
        let id = self.next_id;
        self.next_id += 1;
        self.packets.insert(id, t);
        self.in_flight.push(Reverse((at, id as u64, id)));
    }

    fn next_at(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _, _))| *at)
    }

    fn due(&mut self, now: Instant) -> Option<Transmit> {
        if self.next_at()? > now {
            return None;
        }
        let Reverse((_, _, id)) = self.in_flight.pop()?;
        self.packets.remove(&id)
    }
}

/// What one participant saw of one remote.
#[derive(Default)]
struct Seen {
    decoder: Option<H264Decoder>,
    /// Simulated arrival times of decoded pictures, and their stripe counters.
    pictures: Vec<(Instant, u32)>,
    audio_packets: u64,
    broken: u64,
    keyframe_requests_sent: u64,
    /// The audio jitter last reported.
    jitter: Option<Duration>,
}

struct Participant {
    name: String,
    addr: SocketAddr,
    peers: BTreeMap<String, Peer>,
    seen: BTreeMap<String, Seen>,
    pattern: TestPattern,
    encoder: H264Encoder,
    next_frame: Instant,
    next_audio: Instant,
    audio_seq: u32,
    wake: BTreeMap<String, Instant>,
    /// Whether the encoder follows the bandwidth estimate as the call engine's does, and the
    /// estimates seen.
    follow_estimate: bool,
    rate: PathRate,
    estimates: Vec<(Instant, u64)>,
    /// The call engine's rules for quiet peers, and the peers they removed (and when).
    liveness: BTreeMap<String, Liveness>,
    removed: Vec<(String, Instant)>,
}

impl Participant {
    fn new(name: &str, index: u8, start: Instant) -> Self {
        Self {
            name: name.into(),
            addr: SocketAddr::from(([10, 0, 0, index], 5000)),
            peers: BTreeMap::new(),
            seen: BTreeMap::new(),
            pattern: TestPattern::new(320, 180),
            encoder: H264Encoder::new(EncoderSettings {
                bitrate_bps: 400_000,
                max_fps: 30.0,
            })
            .unwrap(),
            next_frame: start,
            next_audio: start,
            audio_seq: 0,
            wake: BTreeMap::new(),
            follow_estimate: false,
            rate: PathRate::default(),
            estimates: Vec::new(),
            liveness: BTreeMap::new(),
            removed: Vec::new(),
        }
    }
}

struct Call {
    start: Instant,
    now: Instant,
    participants: Vec<Participant>,
    net: Network,
}

impl Call {
    fn new(names: &[&str], conditions: Conditions, seed: u64) -> Self {
        let now = Instant::now();
        let participants = names
            .iter()
            .enumerate()
            .map(|(i, n)| Participant::new(n, i as u8 + 1, now))
            .collect();
        Self {
            start: now,
            now,
            participants,
            net: Network {
                in_flight: BinaryHeap::new(),
                packets: HashMap::new(),
                next_id: 0,
                rng: Rng(seed),
                conditions,
                gone: Vec::new(),
                links: HashMap::new(),
            },
        }
    }

    /// The newcomer `late` offers to `early`, as PROTOCOL.md says; the SDP goes across directly.
    fn connect(&mut self, late: usize, early: usize) {
        let now = self.now;
        let (late_name, late_addr) = (
            self.participants[late].name.clone(),
            self.participants[late].addr,
        );
        let (early_name, early_addr) = (
            self.participants[early].name.clone(),
            self.participants[early].addr,
        );
        let mut offerer = Peer::new(now, &[late_addr]);
        let mut answerer = Peer::new(now, &[early_addr]);
        let offer = offerer.create_offer().unwrap();
        let answer = answerer.accept_offer(&offer).unwrap();
        offerer.accept_answer(&answer).unwrap();
        self.participants[late]
            .peers
            .insert(early_name.clone(), offerer);
        self.participants[late]
            .seen
            .insert(early_name.clone(), Seen::default());
        self.participants[late]
            .liveness
            .insert(early_name.clone(), Liveness::new(now, true));
        self.participants[early]
            .liveness
            .insert(late_name.clone(), Liveness::new(now, false));
        self.participants[early]
            .peers
            .insert(late_name.clone(), answerer);
        self.participants[early]
            .seen
            .insert(late_name, Seen::default());
    }

    /// Runs until every peer connection is up (lost handshake packets are retried on timers).
    fn run_until_connected(&mut self, limit: Duration) {
        let deadline = self.now + limit;
        while !self.connected() {
            assert!(self.now < deadline, "not connected within {limit:?}");
            self.run(Duration::from_millis(250));
        }
    }

    fn connected(&self) -> bool {
        self.participants
            .iter()
            .all(|p| p.peers.values().all(Peer::is_connected))
    }

    /// Runs the call for `how_long` of simulated time.
    fn run(&mut self, how_long: Duration) {
        let end = self.now + how_long;
        while self.now < end {
            self.step();
            let next = self.next_event().min(end);
            self.now = next.max(self.now + Duration::from_micros(100));
        }
    }

    fn next_event(&self) -> Instant {
        let mut next = self.now + Duration::from_millis(10);
        if let Some(at) = self.net.next_at() {
            next = next.min(at);
        }
        for p in &self.participants {
            next = next.min(p.next_frame).min(p.next_audio);
            for at in p.wake.values() {
                next = next.min(*at);
            }
        }
        next
    }

    fn step(&mut self) {
        self.check_liveness();
        let now = self.now;
        // Deliver what is due.
        while let Some(t) = self.net.due(now) {
            let Some(to) = self
                .participants
                .iter_mut()
                .find(|p| p.addr == t.destination)
            else {
                continue;
            };
            if let Some(peer) = to
                .peers
                .values_mut()
                .find(|peer| peer.accepts(now, t.source, t.destination, &t.data))
            {
                peer.handle_datagram(now, t.source, t.destination, &t.data)
                    .unwrap();
            }
        }
        for p in &mut self.participants {
            // Media: one encode for every peer, audio every 20 ms.
            let mut keyframe = false;
            for peer in p.peers.values_mut() {
                peer.handle_timeout(now).unwrap();
            }
            if now >= p.next_frame {
                p.next_frame += FRAME_INTERVAL;
                // Simulated capture time, so the stripe and RTP times follow the simulation.
                let captured = SystemTime::UNIX_EPOCH + (now - self.start);
                let frame = p.pattern.frame(captured);
                if let Some(encoded) = p.encoder.encode(&frame).unwrap() {
                    for peer in p.peers.values_mut() {
                        peer.send_video(now, captured, encoded.data.clone())
                            .unwrap();
                    }
                }
            }
            if now >= p.next_audio {
                p.next_audio += AUDIO_INTERVAL;
                let payload = [0xf8u8; 80];
                for peer in p.peers.values_mut() {
                    peer.send_audio(now, p.audio_seq * 960, &payload).unwrap();
                }
                p.audio_seq += 1;
            }
            for (name, peer) in &mut p.peers {
                let seen = p.seen.get_mut(name).unwrap();
                let wake = loop {
                    match peer.poll().unwrap() {
                        Ok(t) => self.net.send(now, t),
                        Err(at) => break at,
                    }
                };
                p.wake
                    .insert(name.clone(), wake.max(now + Duration::from_micros(100)));
                let events: Vec<PeerEvent> = peer.take_events().collect();
                for event in events {
                    match event {
                        PeerEvent::Video {
                            data, contiguous, ..
                        } => {
                            // Something before this frame never came: the pictures that
                            // follow reference what is missing until the next keyframe.
                            if !contiguous {
                                seen.keyframe_requests_sent += 1;
                                peer.request_keyframe().unwrap();
                            }
                            let decoder = seen
                                .decoder
                                .get_or_insert_with(|| H264Decoder::new().unwrap());
                            match decoder.decode(&data) {
                                Ok(Some(picture)) => {
                                    if let Some(stripe) = read_stripe(
                                        picture.y(),
                                        picture.width(),
                                        picture.height(),
                                        picture.width(),
                                    ) {
                                        seen.pictures.push((now, stripe.counter));
                                    }
                                }
                                Ok(None) => {}
                                Err(_) => {
                                    seen.broken += 1;
                                    seen.keyframe_requests_sent += 1;
                                    peer.request_keyframe().unwrap();
                                }
                            }
                        }
                        PeerEvent::Audio { .. } => seen.audio_packets += 1,
                        PeerEvent::KeyframeRequested => keyframe = true,
                        PeerEvent::BitrateEstimate(bps) => {
                            p.estimates.push((now, bps));
                            p.rate.on_estimate(bps);
                        }
                        PeerEvent::Stats(stats) => {
                            if let Some(rtt) = stats.rtt {
                                p.rate.on_rtt(now, rtt);
                            }
                            if let Some(loss) = stats.loss_out {
                                p.rate.on_loss(now, loss);
                            }
                            seen.jitter = stats.jitter.or(seen.jitter);
                        }
                        _ => {}
                    }
                }
                // Anything the events made str0m want to send goes out on the next step.
            }
            if keyframe {
                p.encoder.request_keyframe();
            }
            // The engine's rule (with one peer: that path's allowance).
            if p.follow_estimate
                && let Some(allowed) = p.rate.allowed()
            {
                p.encoder.set_bitrate(video_share(allowed));
            }
        }
    }

    /// The call engine's checks: a quiet path is restarted by the side that offered (its
    /// current address offered with it, as the engine does), an unreachable peer removed.
    fn check_liveness(&mut self) {
        let now = self.now;
        let mut restarts = Vec::new();
        for (who, p) in self.participants.iter_mut().enumerate() {
            let mut removed = Vec::new();
            for (name, peer) in &p.peers {
                let liveness = p.liveness.get_mut(name).unwrap();
                match liveness.check(now, peer.is_connected(), peer.last_heard()) {
                    Verdict::Fine => {}
                    Verdict::RestartIce => restarts.push((who, name.clone())),
                    Verdict::Drop => removed.push(name.clone()),
                }
            }
            for name in removed {
                p.peers.remove(&name);
                p.wake.remove(&name);
                p.removed.push((name, now));
            }
        }
        for (who, of) in restarts {
            let addr = self.participants[who].addr;
            let name = self.participants[who].name.clone();
            let peer = self.participants[who].peers.get_mut(&of).unwrap();
            if let Ok(host) = str0m::Candidate::host(addr, "udp") {
                peer.add_local_candidate(host);
            }
            let offer = peer.restart_ice().unwrap();
            // Signaling carries the offer and the answer.
            let Some(other) = self.participants.iter_mut().find(|p| p.name == of) else {
                continue;
            };
            let Some(answerer) = other.peers.get_mut(&name) else {
                continue;
            };
            let answer = answerer.accept_offer(&offer).unwrap();
            self.participants[who]
                .peers
                .get_mut(&of)
                .unwrap()
                .accept_answer(&answer)
                .unwrap();
        }
    }

    /// `who` leaves the room: the server tells everyone, who close their connections.
    fn leave(&mut self, who: usize) {
        let name = self.participants[who].name.clone();
        for (i, p) in self.participants.iter_mut().enumerate() {
            if i == who {
                for peer in p.peers.values_mut() {
                    peer.close();
                }
                p.peers.clear();
                p.wake.clear();
            } else if let Some(mut peer) = p.peers.remove(&name) {
                peer.close();
                p.wake.remove(&name);
            }
        }
    }

    fn seen(&self, who: usize, of: usize) -> &Seen {
        &self.participants[who].seen[&self.participants[of].name]
    }
}

/// Pictures a second and the longest gap between pictures, over the simulated window.
fn video_quality(seen: &Seen, from: Instant, to: Instant) -> (f64, Duration) {
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

fn clean() -> Conditions {
    Conditions {
        one_way: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        loss: 0.0,
    }
}

#[test]
fn two_peers_connect_and_exchange_audio_and_video() {
    let mut call = Call::new(&["alice", "bob"], clean(), 1);
    call.connect(1, 0);
    call.run(Duration::from_secs(2));
    assert!(call.connected(), "not connected after 2 s");
    let start = call.now;
    call.run(Duration::from_secs(5));
    for (who, of) in [(0, 1), (1, 0)] {
        let seen = call.seen(who, of);
        let (fps, longest) = video_quality(seen, start, call.now);
        assert!(fps >= 29.0, "{who} sees {of} at {fps:.1} fps");
        assert!(longest < Duration::from_millis(100), "{longest:?}");
        let counters: Vec<u32> = seen.pictures.iter().map(|(_, c)| *c).collect();
        assert!(counters.windows(2).all(|w| w[1] > w[0]), "out of order");
        assert!(
            seen.audio_packets >= 240,
            "{} audio packets",
            seen.audio_packets
        );
    }
}

#[test]
fn three_peers_form_a_mesh() {
    let mut call = Call::new(&["alice", "bob", "carol"], clean(), 2);
    call.connect(1, 0);
    call.run(Duration::from_secs(1));
    // Carol joins later and offers to both.
    call.connect(2, 0);
    call.connect(2, 1);
    call.run(Duration::from_secs(2));
    assert!(call.connected());
    let start = call.now;
    call.run(Duration::from_secs(4));
    for who in 0..3 {
        for of in (0..3).filter(|o| *o != who) {
            let (fps, _) = video_quality(call.seen(who, of), start, call.now);
            assert!(fps >= 29.0, "{who} sees {of} at {fps:.1} fps");
            assert!(call.seen(who, of).audio_packets >= 190);
        }
    }
}

#[test]
fn five_percent_loss_keeps_video_flowing() {
    let mut freezes = Vec::new();
    for seed in 3..13 {
        let conditions = Conditions {
            one_way: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            loss: 0.05,
        };
        let mut call = Call::new(&["alice", "bob"], conditions, seed);
        call.connect(1, 0);
        call.run_until_connected(Duration::from_secs(20));
        // A second for the receivers to recover from what was lost while connecting.
        call.run(Duration::from_secs(1));
        let start = call.now;
        call.run(Duration::from_secs(10));
        for (who, of) in [(0, 1), (1, 0)] {
            let (fps, longest) = video_quality(call.seen(who, of), start, call.now);
            assert!(fps >= 27.0, "seed {seed}: {who} sees {of} at {fps:.1} fps");
            freezes.push(longest);
        }
    }
    // The target is no freeze over 300 ms. Most of these 20 ten-second windows stay under
    // 250 ms, but a packet lost three times over (or its NACK lost) still takes a little over
    // 300 ms now and then (str0m NACKs every 33 ms and retries after an RTT). Until the resend
    // cap was raised (rtc::peer), str0m dropped queued resends and froze pictures for 0.5 to
    // 0.8 s in one window of six.
    // (A window over 450 ms is rare now: at most one of the twenty is allowed; before, three
    // in twenty was usual.)
    freezes.sort();
    let long = freezes
        .iter()
        .filter(|f| **f > Duration::from_millis(450))
        .count();
    assert!(long <= 1, "{freezes:?}");
    let typical = freezes[freezes.len() / 2];
    assert!(typical <= Duration::from_millis(300), "{freezes:?}");
}

#[test]
fn at_200_ms_rtt_with_1_percent_loss_lost_video_is_recovered() {
    let conditions = Conditions {
        one_way: Duration::from_millis(100),
        jitter: Duration::from_millis(5),
        loss: 0.01,
    };
    let mut call = Call::new(&["alice", "bob"], conditions, 5);
    call.connect(1, 0);
    call.run(Duration::from_secs(4));
    assert!(call.connected());
    let start = call.now;
    call.run(Duration::from_secs(15));
    for (who, of) in [(0, 1), (1, 0)] {
        let seen = call.seen(who, of);
        let (fps, longest) = video_quality(seen, start, call.now);
        // Lost packets are retransmitted or, past that, a keyframe is asked for: the picture
        // keeps coming.
        assert!(fps >= 25.0, "{who} sees {of} at {fps:.1} fps");
        // Delays spread over 5 ms: RFC 3550's jitter of that is a couple of milliseconds.
        let jitter = seen.jitter.expect("jitter reported");
        assert!(
            jitter > Duration::from_micros(200) && jitter < Duration::from_millis(5),
            "{jitter:?}"
        );
        assert!(longest <= Duration::from_secs(1), "a freeze of {longest:?}");
    }
}

#[test]
fn a_peer_that_vanishes_is_removed_while_the_others_carry_on() {
    let mut call = Call::new(&["alice", "bob", "carol"], clean(), 6);
    call.connect(1, 0);
    call.connect(2, 0);
    call.connect(2, 1);
    call.run_until_connected(Duration::from_secs(5));
    call.run(Duration::from_secs(1));
    let carol = call.participants[2].addr;
    call.net.gone.push(carol);
    let cut = call.now;
    call.run(Duration::from_secs(40));
    for who in 0..2 {
        let p = &call.participants[who];
        let (name, at) = p
            .removed
            .first()
            .unwrap_or_else(|| panic!("{} did not remove carol", p.name));
        assert_eq!(name, "carol");
        // Twenty seconds of silence: not on a short outage, long before ICE would say.
        let after = *at - cut;
        assert!(
            after > Duration::from_secs(15) && after < Duration::from_secs(25),
            "{after:?}"
        );
        assert!(!p.peers.contains_key("carol"));
    }
    // Alice and Bob never stopped seeing each other.
    for (who, of) in [(0, 1), (1, 0)] {
        let (fps, longest) = video_quality(call.seen(who, of), cut, call.now);
        assert!(fps >= 29.0, "{who} sees {of} at {fps:.1} fps");
        assert!(longest < Duration::from_millis(200), "{longest:?}");
    }
}

#[test]
fn a_participant_who_changes_networks_is_back_through_an_ice_restart() {
    let mut call = Call::new(&["alice", "bob"], clean(), 7);
    call.connect(1, 0);
    call.run_until_connected(Duration::from_secs(5));
    call.run(Duration::from_secs(2));
    // Bob's laptop leaves the Wi-Fi for a cable: his old address is gone for good.
    let old = call.participants[1].addr;
    call.net.gone.push(old);
    call.participants[1].addr = SocketAddr::from(([10, 0, 1, 2], 6000));
    let moved = call.now;
    call.run(Duration::from_secs(15));
    for (who, of) in [(0, 1), (1, 0)] {
        let seen = call.seen(who, of);
        // The picture came back on the same connection (no new call, no new DTLS) within
        // the silence that triggers a restart plus a few round trips.
        let back = seen
            .pictures
            .iter()
            .map(|(t, _)| *t)
            .find(|t| *t > moved + Duration::from_millis(100))
            .unwrap_or_else(|| panic!("{who} never saw {of} again"));
        assert!(back - moved < Duration::from_secs(5), "{:?}", back - moved);
        let (fps, _) = video_quality(seen, call.now - Duration::from_secs(5), call.now);
        assert!(fps >= 29.0, "{who} sees {of} at {fps:.1} fps");
        assert!(call.participants[who].removed.is_empty());
    }
}

#[test]
fn an_800_kbit_bottleneck_brings_the_send_rate_under_it_without_a_growing_queue() {
    let conditions = Conditions {
        one_way: Duration::from_millis(20),
        jitter: Duration::ZERO,
        loss: 0.0,
    };
    let mut call = Call::new(&["alice", "bob"], conditions, 8);
    // Alice sends a picture with detail enough to use any rate, following her estimate.
    let alice = &mut call.participants[0];
    alice.pattern = TestPattern::new(1280, 720);
    alice.follow_estimate = true;
    call.connect(1, 0);
    call.run_until_connected(Duration::from_secs(5));
    // The estimate climbs well above 800 kbit/s on the clean link first.
    call.run(Duration::from_secs(8));
    // Then her uplink drops to 800 kbit/s behind a 500 ms drop-tail buffer.
    let addr = call.participants[0].addr;
    let cut = call.now;
    call.net
        .links
        .insert(addr, Link::new(cut, 800_000, Duration::from_millis(500)));
    call.run(Duration::from_secs(20));
    let link = &call.net.links[&addr];
    let at = |s: u64| cut + Duration::from_secs(s);
    let seconds: Vec<String> = (0..20)
        .map(|s| {
            let (bps, worst) = link.window(at(s), at(s + 1));
            format!("{s}: {:.0} kbit/s, queue up to {worst:.0?}", bps / 1000.0)
        })
        .collect();
    let context = seconds.join("\n");
    // At first the queue fills (the encoder sent at its clean-link rate)...
    assert!(
        link.window(at(0), at(1)).1 > Duration::from_millis(300),
        "{context}"
    );
    // ...within 5 s the send rate is under the link's...
    let (by_five, _) = link.window(at(4), at(5));
    assert!(by_five < 800_000.0, "{context}");
    // ...and from then on it stays under on average, using most of it, with the queue
    // drained and never building back up towards the buffer's 500 ms.
    let (after, worst) = link.window(at(5), at(20));
    assert!(after < 800_000.0 && after > 500_000.0, "{context}");
    assert!(worst < Duration::from_millis(200), "{context}");
    // Bob kept seeing her throughout the last ten seconds.
    let (fps, longest) = video_quality(call.seen(1, 0), at(10), at(20));
    assert!(
        fps >= 25.0 && longest < Duration::from_millis(500),
        "{fps} {longest:?}"
    );
}

#[test]
fn six_peers_mesh_with_people_joining_and_leaving() {
    let names = ["ann", "ben", "cat", "dan", "eve", "fay"];
    let mut call = Call::new(&names, clean(), 9);
    // They arrive one at a time; each newcomer offers to everyone already there.
    for late in 1..names.len() {
        for early in 0..late {
            call.connect(late, early);
        }
        call.run(Duration::from_millis(700));
    }
    call.run_until_connected(Duration::from_secs(5));
    // Cat leaves: the others close their connections to her and carry on.
    call.leave(2);
    let start = call.now;
    call.run(Duration::from_secs(3));
    for who in (0..names.len()).filter(|w| *w != 2) {
        assert!(!call.participants[who].peers.contains_key("cat"));
        for of in (0..names.len()).filter(|o| *o != who && *o != 2) {
            let (fps, _) = video_quality(call.seen(who, of), start, call.now);
            assert!(fps >= 29.0, "{who} sees {of} at {fps:.1} fps");
        }
    }
}
