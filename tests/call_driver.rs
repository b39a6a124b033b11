//! The call's driver, the I/O around the machine: two calls in one process on a real embedded
//! signaling server, real UDP sockets, real codec and camera threads (synthetic camera and
//! tone). What the machine decides is tested on simulated time (`call_reports.rs`); here, that
//! the driver carries it to the threads: a tile's size reaches the decoder, the camera is
//! released and opened again, our own picture reaches the window, leaving ends the call.
//! Each step waits for the reports that show it, never for a fixed time.

use std::net::IpAddr;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use confer::call::driver::{CONTROLS_QUEUE, CallConfig, run};
use confer::call::events::{CallControl, CallReport, PeerState};
use confer::media::audio::processing::ProcessingSettings;
use confer::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use confer::server::embedded::EmbeddedServer;
use tokio::sync::{mpsc, watch};

const PATIENCE: Duration = Duration::from_secs(20);

fn config(server: &EmbeddedServer, name: &str, render_video: bool) -> CallConfig {
    CallConfig {
        invite: server.invite("driver", Duration::from_secs(600)),
        name: name.into(),
        camera: CameraChoice::TestPattern,
        mic: MicChoice::Tone,
        speaker: SpeakerChoice::Off,
        mic_on: true,
        camera_on: true,
        processing: ProcessingSettings::default(),
        max_video_bps: confer::media::video::h264::MAX_BITRATE_BPS,
        render_video,
        render_shares: false,
        relay_only: false,
        chimes: false,
    }
}

/// Reports as they come, with when they came.
struct Reports(Receiver<(Instant, CallReport)>);

impl Reports {
    /// Waits for the first report `pick` takes (those before it are passed over).
    fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&CallReport) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((_, report)) => {
                    if let Some(found) = pick(&report) {
                        return found;
                    }
                }
                Err(_) => panic!("no {what} within {PATIENCE:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_carries_the_machines_decisions_to_the_media_threads() {
    let server = EmbeddedServer::start(IpAddr::from([127, 0, 0, 1]), 0)
        .await
        .unwrap();
    let start = |name: &str, render: bool| {
        let (stop, stop_rx) = watch::channel(false);
        let (controls, controls_rx) = mpsc::channel(CONTROLS_QUEUE);
        let (tx, rx) = channel();
        let config = config(&server, name, render);
        let call = tokio::spawn(run(config, stop_rx, controls_rx, move |r| {
            let _ = tx.send((Instant::now(), r));
        }));
        (stop, controls, Reports(rx), call)
    };
    let (stop_alice, _alice_controls, alice, alice_call) = start("alice", false);
    let (stop_bob, bob_controls, bob, bob_call) = start("bob", true);

    // Bob's window shows Alice: her pictures come converted at the stream's size.
    let alice_id = bob.wait_for("alice connected", |r| match r {
        CallReport::Participant {
            id,
            name,
            state: PeerState::Connected,
        } if name == "alice" => Some(id.clone()),
        _ => None,
    });
    bob.wait_for("a full-size picture", |r| match r {
        CallReport::Picture { picture, .. }
            if (picture.image.width, picture.image.height) == (1280, 720) =>
        {
            Some(())
        }
        _ => None,
    });
    // His window shows her in a small tile: her pictures come converted to fit it.
    bob_controls
        .send(CallControl::Fit {
            id: alice_id,
            width: 300,
            height: 170,
        })
        .await
        .unwrap();
    bob.wait_for("a fitted picture", |r| match r {
        CallReport::Picture { picture, .. }
            if (picture.image.width, picture.image.height) == (320, 180)
                && picture.stream_size == (1280, 720) =>
        {
            Some(())
        }
        _ => None,
    });
    // His own camera reaches his window.
    bob.wait_for("a preview", |r| {
        matches!(r, CallReport::Preview(_)).then_some(())
    });

    // He turns his camera off: it is released, so no preview comes, and Alice decodes none of
    // his pictures; once on again, both come back.
    bob_controls.send(CallControl::Camera(false)).await.unwrap();
    let frames_of_bob = |r: &CallReport| match r {
        CallReport::Stats { stats, .. } if stats.name == "bob" => {
            Some((stats.frames_decoded, stats.camera_on))
        }
        _ => None,
    };
    // Alice's stats once she knows his camera is off, then a second later.
    let (frozen, _) = alice.wait_for("bob's camera off", |r| {
        frames_of_bob(r).filter(|(_, on)| !on)
    });
    let (later, _) = alice.wait_for("a second later", |r| frames_of_bob(r).filter(|(_, on)| !on));
    assert!(
        later <= frozen + 3,
        "{frozen} then {later}: pictures while off"
    );
    let off_since = Instant::now();
    bob_controls.send(CallControl::Camera(true)).await.unwrap();
    let on = Instant::now();
    let previews_while_off = bob
        .0
        .try_iter()
        .filter(|(at, r)| matches!(r, CallReport::Preview(_)) && *at > off_since && *at < on);
    assert_eq!(previews_while_off.count(), 0);
    bob.wait_for("a preview once on", |r| {
        matches!(r, CallReport::Preview(_)).then_some(())
    });
    alice.wait_for("bob's pictures back", |r| {
        frames_of_bob(r).filter(|(n, on)| *on && *n > later + 10)
    });

    // Leaving ends both calls well.
    stop_bob.send(true).unwrap();
    bob_call.await.unwrap().unwrap();
    alice.wait_for("bob left", |r| match r {
        CallReport::Participant {
            name,
            state: PeerState::Left,
            ..
        } if name == "bob" => Some(()),
        _ => None,
    });
    stop_alice.send(true).unwrap();
    alice_call.await.unwrap().unwrap();
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signaling_server_that_never_answers_does_not_stall_the_call() {
    // A server that takes the connection and never says a word: the signaling client sits in
    // its connect (ten seconds) and takes no messages meanwhile.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let invite =
        confer::invite::Invite::parse(&format!("confer://127.0.0.1:{port}/mute?insecure=1"))
            .unwrap();
    let server = EmbeddedServer::start(IpAddr::from([127, 0, 0, 1]), 0)
        .await
        .unwrap();
    let config = CallConfig {
        invite,
        ..config(&server, "alice", false)
    };
    let (stop, stop_rx) = watch::channel(false);
    let (controls, controls_rx) = mpsc::channel(CONTROLS_QUEUE);
    let (tx, rx) = channel();
    let call = tokio::spawn(run(config, stop_rx, controls_rx, move |r| {
        let _ = tx.send((Instant::now(), r));
    }));
    let reports = Reports(rx);
    reports.wait_for("levels", |r| {
        matches!(r, CallReport::Levels { .. }).then_some(())
    });
    // Each switch is a message for the server: far more than the client's queue holds.
    for i in 0..400 {
        controls.send(CallControl::Mic(i % 2 == 0)).await.unwrap();
    }
    let sent = Instant::now();
    // The call goes on (its levels keep coming) long before the client gives up connecting.
    let deadline = sent + Duration::from_secs(5);
    let mut after = 0;
    while after < 10 {
        let left = deadline.saturating_duration_since(Instant::now());
        match reports.0.recv_timeout(left) {
            Ok((at, CallReport::Levels { .. })) if at > sent => after += 1,
            Ok(_) => {}
            Err(_) => panic!("the call stalled behind the signaling client"),
        }
    }
    stop.send(true).unwrap();
    call.await.unwrap().unwrap();
    silent.abort();
    server.server.shutdown().await;
}
