//! The call engine's events, as the window will consume them: two engines in one process on
//! a real embedded signaling server, real sockets and codecs, synthetic camera and microphone.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confer::call::engine::{CallConfig, CallControl, CallReport, PeerState, run};
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
    let (stop_alice, alice_stop) = watch::channel(false);
    let (_alice_controls, controls) = mpsc::unbounded_channel();
    let alice = {
        let seen = Arc::clone(&seen);
        let config = config(&server, "alice");
        tokio::spawn(async move {
            run(config, alice_stop, controls, move |r| {
                seen.lock().unwrap().push(r)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (stop_bob, bob_stop) = watch::channel(false);
    let (bob_controls, controls) = mpsc::unbounded_channel();
    let bob = tokio::spawn(run(config(&server, "bob"), bob_stop, controls, |_| {}));
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Bob turns his microphone off, then his camera, then his microphone back on.
    bob_controls.send(CallControl::Mic(false)).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    bob_controls.send(CallControl::Camera(false)).unwrap();
    bob_controls.send(CallControl::Mic(true)).unwrap();
    bob_controls
        .send(CallControl::Chat("hello from bob \u{7}".into()))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_bob.send(true).unwrap();
    bob.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_alice.send(true).unwrap();
    alice.await.unwrap().unwrap();
    server.server.shutdown().await;

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
    assert_eq!(
        changes,
        [(true, true), (false, true), (false, false), (true, false)],
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
