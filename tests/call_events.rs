//! The call engine's events, as the window will consume them: two engines in one process on
//! a real embedded signaling server, real sockets and codecs, synthetic camera and microphone.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confer::call::engine::{CallConfig, CallControl, CallReport, Device, PeerState, run};
use confer::media::audio::processing::ProcessingSettings;
use confer::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use confer::server::embedded::EmbeddedServer;
use tokio::sync::{mpsc, watch};

fn config(server: &EmbeddedServer, name: &str) -> CallConfig {
    CallConfig {
        invite: server.invite("events", Duration::from_secs(600)),
        name: name.into(),
        camera: CameraChoice::TestPattern,
        mic: MicChoice::Tone,
        speaker: SpeakerChoice::Off,
        mic_on: true,
        camera_on: true,
        processing: ProcessingSettings::default(),
        max_video_bps: confer::media::video::h264::MAX_BITRATE_BPS,
        render_video: false,
        relay_only: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_states_and_audio_levels_are_reported() {
    let server = EmbeddedServer::start(IpAddr::from([127, 0, 0, 1]), 0)
        .await
        .unwrap();
    let seen: Arc<Mutex<Vec<CallReport>>> = Arc::default();
    let stats_at: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let (stop_alice, alice_stop) = watch::channel(false);
    let (_alice_controls, controls) = mpsc::unbounded_channel();
    let alice = {
        let seen = Arc::clone(&seen);
        let stats_at = Arc::clone(&stats_at);
        let config = config(&server, "alice");
        tokio::spawn(async move {
            run(config, alice_stop, controls, move |r| {
                // When Bob's pictures were decoded.
                if let CallReport::Stats { line, .. } = &r {
                    let line: serde_json::Value = serde_json::from_str(line).unwrap();
                    if line["name"] == "bob" {
                        let decoded = line["frames_decoded"].as_u64().unwrap();
                        stats_at.lock().unwrap().push((Instant::now(), decoded));
                    }
                }
                seen.lock().unwrap().push(r)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (stop_bob, bob_stop) = watch::channel(false);
    let (bob_controls, controls) = mpsc::unbounded_channel();
    // Bob's window would show his own camera: when did it have a picture? And Alice's
    // pictures, as his window gets them: when, converted at what size, sent at what size.
    let previews: Arc<Mutex<Vec<Instant>>> = Arc::default();
    type Sizes = Vec<(Instant, (usize, usize), (usize, usize))>;
    let alice_pictures: Arc<Mutex<Sizes>> = Arc::default();
    let alice_id: Arc<Mutex<Option<String>>> = Arc::default();
    let bob = {
        let previews = Arc::clone(&previews);
        let alice_pictures = Arc::clone(&alice_pictures);
        let alice_id = Arc::clone(&alice_id);
        let config = CallConfig {
            render_video: true,
            ..config(&server, "bob")
        };
        tokio::spawn(run(config, bob_stop, controls, move |r| match r {
            CallReport::Preview(_) => previews.lock().unwrap().push(Instant::now()),
            CallReport::Participant { id, name, .. } if name == "alice" => {
                *alice_id.lock().unwrap() = Some(id);
            }
            CallReport::Picture { picture, .. } => alice_pictures.lock().unwrap().push((
                Instant::now(),
                (picture.image.width, picture.image.height),
                picture.stream_size,
            )),
            _ => {}
        }))
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    // His window shows Alice in a small tile: her pictures come converted to fit it.
    let alice_key = alice_id
        .lock()
        .unwrap()
        .clone()
        .expect("bob never saw alice");
    bob_controls
        .send(CallControl::Fit {
            id: alice_key,
            width: 300,
            height: 170,
        })
        .unwrap();
    let fitted = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Bob turns his microphone off, then his camera, then his microphone back on, then his
    // camera.
    bob_controls.send(CallControl::Mic(false)).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    bob_controls.send(CallControl::Camera(false)).unwrap();
    let camera_off = Instant::now();
    bob_controls.send(CallControl::Mic(true)).unwrap();
    bob_controls
        .send(CallControl::Chat("hello from bob \u{7}".into()))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob_controls.send(CallControl::Camera(true)).unwrap();
    let camera_on = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_bob.send(true).unwrap();
    bob.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_alice.send(true).unwrap();
    alice.await.unwrap().unwrap();
    server.server.shutdown().await;

    let alice_pictures = alice_pictures.lock().unwrap();
    let before: Vec<_> = alice_pictures.iter().filter(|p| p.0 < fitted).collect();
    let after: Vec<_> = alice_pictures
        .iter()
        .filter(|p| p.0 > fitted + Duration::from_millis(300))
        .collect();
    assert!(before.len() > 10 && after.len() > 10, "{alice_pictures:?}");
    assert!(
        before
            .iter()
            .all(|p| p.1 == (1280, 720) && p.2 == (1280, 720))
    );
    assert!(
        after
            .iter()
            .all(|p| p.1 == (320, 180) && p.2 == (1280, 720))
    );

    // With the camera off, nothing is captured (a real camera's light goes out): no picture
    // of his own for Bob's window, none for Alice; both come back when he turns it on.
    let margin = Duration::from_millis(300);
    let previews = previews.lock().unwrap();
    let while_off = |at: &&Instant| **at > camera_off + margin && **at < camera_on;
    assert!(
        previews.iter().any(|at| *at < camera_off),
        "no preview at all"
    );
    assert_eq!(previews.iter().filter(while_off).count(), 0);
    assert!(
        previews.iter().any(|at| *at > camera_on),
        "no preview once back on"
    );
    let decoded = stats_at.lock().unwrap();
    let decoded_by = |until: Instant| {
        decoded
            .iter()
            .filter(|(at, _)| *at <= until)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    };
    assert!(decoded_by(camera_off) > 0, "{decoded:?}");
    assert_eq!(
        decoded_by(camera_off + margin * 2),
        decoded_by(camera_on),
        "pictures decoded while bob's camera was off: {decoded:?}"
    );
    assert!(
        decoded_by(camera_on + Duration::from_secs(3)) > decoded_by(camera_on) + 10,
        "bob's pictures did not come back: {decoded:?}"
    );

    let seen = seen.lock().unwrap();
    // Bob's connection as Alice saw it: connecting, connected, left, under one id.
    let states: Vec<(String, PeerState)> = seen
        .iter()
        .filter_map(|r| match r {
            CallReport::Participant { id, name, state } if name == "bob" => {
                Some((id.clone(), *state))
            }
            _ => None,
        })
        .collect();
    let order: Vec<PeerState> = states.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        order,
        [PeerState::Connecting, PeerState::Connected, PeerState::Left],
        "{states:?}"
    );
    let bob_id = &states[0].0;
    assert!(states.iter().all(|(id, _)| id == bob_id));
    // Levels ten times a second: her own tone, and Bob's once it played.
    let levels: Vec<(f32, Option<f32>)> = seen
        .iter()
        .filter_map(|r| match r {
            CallReport::Levels { local, remotes } => Some((
                *local,
                remotes.iter().find(|(id, _)| id == bob_id).map(|(_, l)| *l),
            )),
            _ => None,
        })
        .collect();
    assert!(levels.len() >= 80, "{} level reports", levels.len());
    assert!(levels.iter().any(|(local, _)| *local > 0.01));
    let loudest_bob = levels.iter().filter_map(|(_, b)| *b).fold(0.0, f32::max);
    assert!(loudest_bob > 0.01, "bob's level at most {loudest_bob}");
    // What Bob said of his microphone and camera, in order, under his connection's id.
    let media: Vec<(bool, bool)> = seen
        .iter()
        .filter_map(|r| match r {
            CallReport::Media {
                id,
                mic_on,
                camera_on,
            } if id == bob_id => Some((*mic_on, *camera_on)),
            _ => None,
        })
        .collect();
    let changes: Vec<(bool, bool)> = media.iter().copied().fold(Vec::new(), |mut changes, m| {
        if changes.last() != Some(&m) {
            changes.push(m);
        }
        changes
    });
    // His camera counts as on once it gives pictures, which may be after he joined.
    let changes = match changes.split_first() {
        Some((&(true, false), rest)) => rest.to_vec(),
        _ => changes,
    };
    assert_eq!(
        changes,
        [
            (true, true),
            (false, true),
            (false, false),
            (true, false),
            (true, true)
        ],
        "{media:?}"
    );
    // His chat message, cleaned of the control character, with his name.
    assert!(
        seen.iter()
            .any(|r| matches!(r, CallReport::Chat { id, name, text }
            if id == bob_id && name == "bob" && text == "hello from bob")),
        "no chat from bob"
    );
    // The stats lines say it too (the `--stats` file of a headless run).
    let stats: Vec<serde_json::Value> = seen
        .iter()
        .filter_map(|r| match r {
            CallReport::Stats { line, .. } => serde_json::from_str(line).ok(),
            _ => None,
        })
        .filter(|l: &serde_json::Value| l["name"] == "bob")
        .collect();
    assert!(
        stats.iter().any(|l| l["mic_on"] == false),
        "no stats line with bob muted: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_fails_is_never_announced_as_on_even_when_tried_again() {
    let server = EmbeddedServer::start(IpAddr::from([127, 0, 0, 1]), 0)
        .await
        .unwrap();
    let seen: Arc<Mutex<Vec<CallReport>>> = Arc::default();
    let (stop_alice, alice_stop) = watch::channel(false);
    let (_alice_controls, controls) = mpsc::unbounded_channel();
    let alice = {
        let seen = Arc::clone(&seen);
        tokio::spawn(run(
            config(&server, "alice"),
            alice_stop,
            controls,
            move |r| seen.lock().unwrap().push(r),
        ))
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (stop_bob, bob_stop) = watch::channel(false);
    let (bob_controls, controls) = mpsc::unbounded_channel();
    let bob_saw: Arc<Mutex<Vec<CallReport>>> = Arc::default();
    let bob = {
        let bob_saw = Arc::clone(&bob_saw);
        let config = CallConfig {
            // No such camera: it fails to open, at the start and at every try.
            camera: CameraChoice::Index(97),
            ..config(&server, "bob")
        };
        tokio::spawn(run(config, bob_stop, controls, move |r| {
            bob_saw.lock().unwrap().push(r)
        }))
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    bob_controls.send(CallControl::Camera(false)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    bob_controls.send(CallControl::Camera(true)).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_bob.send(true).unwrap();
    bob.await.unwrap().unwrap();
    stop_alice.send(true).unwrap();
    alice.await.unwrap().unwrap();
    server.server.shutdown().await;

    let seen = seen.lock().unwrap();
    let bob_media: Vec<bool> = seen
        .iter()
        .filter_map(|r| match r {
            CallReport::Media { camera_on, .. } => Some(*camera_on),
            _ => None,
        })
        .collect();
    assert!(!bob_media.is_empty(), "alice heard nothing of bob's camera");
    assert!(bob_media.iter().all(|on| !on), "{bob_media:?}");
    // Bob was told, once at the start and once for the second try.
    let problems = bob_saw
        .lock()
        .unwrap()
        .iter()
        .filter(|r| {
            matches!(
                r,
                CallReport::Device {
                    device: Device::Camera,
                    problem: Some(_)
                }
            )
        })
        .count();
    assert_eq!(problems, 2);
}
