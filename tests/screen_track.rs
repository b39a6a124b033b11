//! A shared screen as a second video section between two of Confer's peer connections, in
//! process (datagrams pass directly, time is simulated, the codecs are real): added by a
//! renegotiation after the call began, received apart from the camera, stopped, and both
//! sides offering at once, where the side that gives way answers and offers again after.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use confer::media::video::h264::{Content, Layer};
use confer::media::video::{EncoderSettings, H264Decoder, H264Encoder, I420Frame, TestPattern};
use confer::rtc::peer::{Peer, PeerError, PeerEvent};

const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);
const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6000);

/// Two peers in a call, and the simulated clock.
struct Pair {
    now: Instant,
    a: Peer,
    b: Peer,
    /// What each side got since the last look.
    a_got: Vec<PeerEvent>,
    b_got: Vec<PeerEvent>,
}

impl Pair {
    /// A offers, B answers, and both run until connected.
    fn connected() -> Pair {
        let now = Instant::now();
        let mut a = Peer::new(now, &[A]);
        let mut b = Peer::new(now, &[B]);
        let answer = b.accept_offer(&a.create_offer().unwrap()).unwrap();
        a.accept_answer(&answer).unwrap();
        let mut pair = Pair {
            now,
            a,
            b,
            a_got: Vec::new(),
            b_got: Vec::new(),
        };
        pair.run(Duration::from_secs(5));
        let up = |got: &[PeerEvent]| got.iter().any(|e| matches!(e, PeerEvent::Connected));
        assert!(
            up(&pair.a_got) && up(&pair.b_got),
            "the call did not connect"
        );
        pair
    }

    /// Both sides' timers and datagrams for `span` of simulated time.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            exchange(self.now, &mut self.a, &mut self.b, &mut self.b_got);
            exchange(self.now, &mut self.b, &mut self.a, &mut self.a_got);
            self.now += Duration::from_millis(2);
        }
    }
}

/// What `from` has to send goes to `to`; what `to` then has to say goes into `got`.
fn exchange(now: Instant, from: &mut Peer, to: &mut Peer, got: &mut Vec<PeerEvent>) {
    from.handle_timeout(now).unwrap();
    while let Ok(Ok(t)) = from.poll() {
        to.handle_datagram(now, t.source, t.destination, &t.data)
            .unwrap();
    }
    to.handle_timeout(now).unwrap();
    got.extend(to.take_events());
}

/// Access units of a page of text, as the screen encoder makes them, and the picture their
/// last decodes to (what the other side must show, to the pixel).
fn screen_units(count: usize) -> (I420Frame, Vec<Arc<[u8]>>) {
    let mut page = I420Frame::black(640, 360);
    {
        let (y, _, _) = page.planes_mut();
        for (i, px) in y.iter_mut().enumerate() {
            // Dark one-pixel strokes on white, as text is.
            let (row, col) = (i / 640, i % 640);
            *px = if row % 12 < 8 && col % 7 == 1 {
                40
            } else {
                235
            };
        }
    }
    let settings = EncoderSettings {
        bitrate_bps: 1_000_000,
        max_fps: 15.0,
    };
    let mut encoder = H264Encoder::for_content(settings, Content::Screen).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let start = SystemTime::now();
    let units: Vec<Arc<[u8]>> = (0..count)
        .filter_map(|i| {
            let mut picture = page.clone();
            picture.captured = start + Duration::from_millis(66 * i as u64);
            encoder.encode(&picture).unwrap().map(|f| f.data)
        })
        .collect();
    let mut decoded = None;
    for unit in &units {
        decoded = decoder.decode(unit).unwrap().or(decoded);
    }
    let decoded = decoded.expect("the encoder made no picture");
    // It is the page (a camera's pattern is nothing like it).
    assert!(decoded.psnr_y(&page).unwrap() > 25.0);
    (decoded, units)
}

/// Whether two pictures have the same pixels.
fn same_pixels(a: &I420Frame, b: &I420Frame) -> bool {
    (a.width(), a.height(), a.y(), a.u(), a.v()) == (b.width(), b.height(), b.y(), b.u(), b.v())
}

/// A's camera and screen go to B for a second: B gets both, told apart.
fn send_both(pair: &mut Pair, screen: &[Arc<[u8]>]) {
    let mut camera = H264Encoder::new(EncoderSettings::default()).unwrap();
    let mut pattern = TestPattern::new(320, 180);
    for unit in screen {
        let captured = SystemTime::now();
        if let Some(f) = camera.encode(&pattern.frame(captured)).unwrap() {
            pair.a
                .send_video(pair.now, captured, Layer::Full, f.data)
                .unwrap();
        }
        pair.a
            .send_screen(pair.now, captured, Arc::clone(unit))
            .unwrap();
        pair.run(Duration::from_millis(66));
    }
    pair.run(Duration::from_millis(300));
}

/// What B decoded of A's screen (its last picture), and how many camera units came.
fn received(got: &[PeerEvent]) -> (Option<I420Frame>, usize) {
    let mut decoder = H264Decoder::new().unwrap();
    let mut last = None;
    let mut camera = 0;
    for event in got {
        if let PeerEvent::Video { data, screen, .. } = event {
            if *screen {
                last = decoder.decode(data).unwrap().or(last);
            } else {
                camera += 1;
            }
        }
    }
    (last, camera)
}

#[test]
fn a_share_added_mid_call_arrives_apart_from_the_camera_and_ends_when_stopped() {
    let mut pair = Pair::connected();
    let (expected, units) = screen_units(15);
    // Before the share is negotiated nothing of it goes.
    pair.a
        .send_screen(pair.now, SystemTime::now(), Arc::clone(&units[0]))
        .unwrap();
    let offer = pair.a.offer_share(true).unwrap();
    // One offer at a time: a second waits for the first's answer.
    assert!(matches!(
        pair.a.offer_share(false),
        Err(PeerError::OfferPending)
    ));
    let answer = pair.b.accept_offer(&offer).unwrap();
    pair.a.accept_answer(&answer).unwrap();
    pair.b_got.clear();
    send_both(&mut pair, &units);
    let (shown, camera) = received(&pair.b_got);
    let shown = shown.expect("no picture of the share");
    assert!(same_pixels(&shown, &expected), "B shows another picture");
    assert!(camera >= 10, "the camera went with it: {camera} units");

    // Stopped: B is told, and nothing more of it comes.
    let offer = pair.a.offer_share(false).unwrap();
    let answer = pair.b.accept_offer(&offer).unwrap();
    pair.a.accept_answer(&answer).unwrap();
    pair.run(Duration::from_millis(100));
    assert!(
        pair.b_got
            .iter()
            .any(|e| matches!(e, PeerEvent::ScreenEnded { .. })),
        "B was not told the share ended"
    );
    pair.b_got.clear();
    send_both(&mut pair, &units[..5]);
    let screen_units_after = pair
        .b_got
        .iter()
        .filter(|e| matches!(e, PeerEvent::Video { screen: true, .. }))
        .count();
    assert_eq!(screen_units_after, 0);
}

/// Both offer at once (A stops sharing as B starts): B is the polite side, its offer is rolled
/// back by A's, and it offers its share again once A's is answered; A's offer stands.
#[test]
fn when_both_offer_at_once_the_polite_side_gives_way_and_offers_again() {
    let mut pair = Pair::connected();
    let (expected, units) = screen_units(15);
    let offer = pair.a.offer_share(true).unwrap();
    let answer = pair.b.accept_offer(&offer).unwrap();
    pair.a.accept_answer(&answer).unwrap();

    let from_a = pair.a.offer_share(false).unwrap();
    let from_b = pair.b.offer_share(true).unwrap();
    assert!(pair.b.sharing() && pair.b.offer_pending());
    // B gives way: its offer is rolled back, and it answers A's.
    let answer = pair.b.accept_offer(&from_a).unwrap();
    assert!(!pair.b.sharing() && !pair.b.offer_pending());
    // A, the impolite side, leaves B's offer be and takes B's answer to its own.
    drop(from_b);
    pair.a.accept_answer(&answer).unwrap();
    assert!(!pair.a.sharing());
    // Then B offers again.
    let offer = pair.b.offer_share(true).unwrap();
    let answer = pair.a.accept_offer(&offer).unwrap();
    pair.b.accept_answer(&answer).unwrap();
    pair.a_got.clear();
    for unit in &units {
        pair.b
            .send_screen(pair.now, SystemTime::now(), Arc::clone(unit))
            .unwrap();
        pair.run(Duration::from_millis(66));
    }
    pair.run(Duration::from_millis(300));
    let (shown, _) = received(&pair.a_got);
    let shown = shown.expect("A got no picture of B's share");
    assert!(same_pixels(&shown, &expected), "A shows another picture");
}
