//! What the call reports to the window (joins, leaves, mute, camera, chat, devices, levels,
//! stats, why it ended) and asks of the media threads, on simulated time with no sleeps: the
//! real call machine, as in `call_simulated.rs`.

mod sim;

use std::time::Duration;

use confer::call::confer_mesh::ConferEvent;
use confer::call::events::{
    CallControl, CallError, CallReport, Device, DeviceProblem, Notice, PeerState,
};
use confer::call::machine::MediaCommand;
use confer::media::audio::chime::Chime;
use confer::signal::client::{Closed, Event};
use confer::signal::proto::{ErrorCode, PeerId};
use sim::{CameraKind, Sim, clean, video_quality};

/// Alice and Bob in a call, seeing each other.
fn alice_and_bob(seed: u64) -> Sim {
    let mut sim = Sim::new(&["alice", "bob"], clean(), seed);
    sim.join("alice");
    sim.run(Duration::from_millis(500));
    sim.join("bob");
    sim.run_until_connected(Duration::from_secs(3));
    sim
}

/// What `who` was told of `name`'s microphone and camera, changes only.
fn media_of(sim: &Sim, who: &str, name: &str) -> Vec<(bool, bool)> {
    let id = sim.person(who).id_of(name).expect("known");
    let mut changes: Vec<(bool, bool)> = Vec::new();
    for (_, r) in &sim.person(who).reports {
        if let CallReport::Media { id: of, state } = r
            && *of == id
            && changes.last() != Some(&(state.mic_on, state.camera_on))
        {
            changes.push((state.mic_on, state.camera_on));
        }
    }
    changes
}

#[test]
fn joins_mute_camera_chat_and_leaves_are_reported() {
    let mut sim = alice_and_bob(21);
    let joined = |sim: &Sim, who: &str| {
        sim.person(who).reports.iter().find_map(|(_, r)| match r {
            CallReport::Notice(Notice::Joined { already }) => Some(*already),
            _ => None,
        })
    };
    assert_eq!(joined(&sim, "alice"), Some(0));
    assert_eq!(joined(&sim, "bob"), Some(1));
    sim.run(Duration::from_secs(1));

    // Bob turns his microphone off, then his camera, then his microphone back on, chats, then
    // turns his camera on.
    sim.control("bob", CallControl::Mic(false));
    sim.run(Duration::from_millis(500));
    sim.control("bob", CallControl::Camera(false));
    let camera_off = sim.now;
    sim.run(Duration::from_millis(500));
    sim.control("bob", CallControl::Mic(true));
    sim.control("bob", CallControl::Chat("hello from bob \u{7}".into()));
    sim.run(Duration::from_millis(1500));
    sim.control("bob", CallControl::Camera(true));
    let camera_on = sim.now;
    sim.run(Duration::from_secs(2));

    assert_eq!(
        media_of(&sim, "alice", "bob"),
        [
            (true, true),
            (false, true),
            (false, false),
            (true, false),
            (true, true)
        ]
    );
    // Bob's media threads were told, in order; his camera came back with a keyframe.
    let bob = sim.person("bob");
    let switches: Vec<&MediaCommand> = bob
        .commands
        .iter()
        .map(|(_, c)| c)
        .filter(|c| matches!(c, MediaCommand::Microphone(_) | MediaCommand::Camera(_)))
        .collect();
    assert_eq!(
        switches,
        [
            &MediaCommand::Microphone(true),
            &MediaCommand::Camera(true),
            &MediaCommand::Microphone(false),
            &MediaCommand::Camera(false),
            &MediaCommand::Microphone(true),
            &MediaCommand::Camera(true),
        ]
    );
    assert!(
        bob.keyframes()
            .iter()
            .any(|t| *t > camera_on && *t < camera_on + Duration::from_millis(100)),
        "no keyframe when the camera came back"
    );
    // While his camera was off Alice decoded nothing of his; then his pictures came back.
    let seen = sim.person("alice").seen_of("bob");
    let margin = Duration::from_millis(100);
    let (while_off, _) = video_quality(seen, camera_off + margin, camera_on);
    assert_eq!(while_off, 0.0);
    let (back, _) = video_quality(seen, camera_on + margin, sim.now);
    assert!(back >= 29.0, "{back}");
    // His chat, cleaned of the control character, with his name and id.
    let bob_id = sim.person("alice").id_of("bob").unwrap();
    assert!(
        sim.person("alice").reports.iter().any(|(_, r)| matches!(r,
            CallReport::Chat { id, name, text }
            if *id == bob_id && name == "bob" && text == "hello from bob")),
        "no chat from bob"
    );
    // The stats say it too (the `--stats` file of a headless run).
    let muted_stats = sim.person("alice").reports.iter().any(
        |(_, r)| matches!(r, CallReport::Stats { id, stats } if *id == bob_id && !stats.mic_on),
    );
    assert!(muted_stats, "no stats with bob muted");

    // Alice fits Bob's pictures to a tile: her decoder is told; an unknown id is not.
    sim.control(
        "alice",
        CallControl::Fit {
            id: bob_id.clone(),
            width: 300,
            height: 170,
        },
    );
    sim.control(
        "alice",
        CallControl::Fit {
            id: "nobody".into(),
            width: 1,
            height: 1,
        },
    );
    sim.run(Duration::from_millis(100));
    let fits: Vec<&MediaCommand> = sim
        .person("alice")
        .commands
        .iter()
        .map(|(_, c)| c)
        .filter(|c| matches!(c, MediaCommand::Fit { .. }))
        .collect();
    assert_eq!(
        fits,
        [&MediaCommand::Fit {
            from: bob_id.clone(),
            width: 300,
            height: 170
        }]
    );

    // Bob leaves.
    sim.leave("bob");
    sim.run(Duration::from_secs(1));
    assert_eq!(sim.person("bob").ended, Some(Ok(())));
    let alice = sim.person("alice");
    let states = alice.states_of("bob");
    let order: Vec<PeerState> = states.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        order,
        [PeerState::Connecting, PeerState::Connected, PeerState::Left]
    );
    assert!(states.iter().all(|(id, _)| *id == bob_id));
    assert!(alice.notices().contains(&"bob left".to_string()));
    // His decoder and jitter buffer can go.
    assert!(
        alice
            .commands
            .iter()
            .any(|(_, c)| *c == MediaCommand::Gone(bob_id.clone()))
    );
}

#[test]
fn levels_come_ten_times_a_second_and_stats_every_second() {
    let mut sim = alice_and_bob(22);
    let from = sim.now;
    sim.run(Duration::from_secs(5));
    let alice = sim.person("alice");
    let bob_id = alice.id_of("bob").unwrap();
    let levels: Vec<(f32, Option<f32>)> = alice
        .reports
        .iter()
        .filter(|(t, _)| *t >= from)
        .filter_map(|(_, r)| match r {
            CallReport::Levels { local, remotes } => Some((
                *local,
                remotes
                    .iter()
                    .find(|(id, _)| *id == bob_id)
                    .map(|(_, l)| *l),
            )),
            _ => None,
        })
        .collect();
    assert!((48..=51).contains(&levels.len()), "{} levels", levels.len());
    assert!(
        levels
            .iter()
            .all(|(local, bob)| *local > 0.0 && bob.is_some_and(|b| b > 0.0))
    );
    let stats: Vec<_> = alice
        .reports
        .iter()
        .filter(|(t, _)| *t >= from)
        .filter_map(|(_, r)| match r {
            CallReport::Stats { stats, .. } => Some((**stats).clone()),
            _ => None,
        })
        .collect();
    assert!((4..=6).contains(&stats.len()), "{} stats", stats.len());
    let last = stats.last().unwrap();
    assert_eq!(last.name, "bob");
    assert!(last.fps_in >= 28.0, "{last:?}");
    assert!(last.audio_packets_in > 200, "{last:?}");
    assert!(last.bitrate_in_bps > 100_000, "{last:?}");
    assert_eq!(last.candidate, Some("host"));
    // Alice was in the room half a second before Bob came.
    assert!(last.first_frame_ms.is_some_and(|ms| ms < 800), "{last:?}");
    assert_eq!(last.freezes, 0);
    // Pictures wait for their sound: its measured playout delay, less the 10 ms it may lag.
    assert!(last.audio_delay_ms > 20.0, "{last:?}");
    let sync = last.audio_delay_ms - 10.0;
    assert!((last.video_hold_ms - sync).abs() <= 5.0, "{last:?}");
}

#[test]
fn a_camera_that_fails_is_never_announced_as_on_even_when_tried_again() {
    let mut sim = Sim::new(&["alice", "bob"], clean(), 23);
    sim.person_mut("bob").camera = CameraKind::Broken;
    sim.join("alice");
    sim.join("bob");
    sim.run(Duration::from_secs(3));
    sim.control("bob", CallControl::Camera(false));
    sim.run(Duration::from_millis(500));
    sim.control("bob", CallControl::Camera(true));
    sim.run(Duration::from_secs(2));
    let changes = media_of(&sim, "alice", "bob");
    assert!(!changes.is_empty(), "alice heard nothing of bob's camera");
    assert!(changes.iter().all(|(_, camera)| !camera), "{changes:?}");
    // Bob was told, once at the start and once for the second try.
    let problems = sim
        .person("bob")
        .reports
        .iter()
        .filter(|(_, r)| {
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
    // He still sees Alice.
    assert!(!sim.person("bob").seen_of("alice").pictures.is_empty());
}

#[test]
fn pre_joins_switches_hold_from_the_start() {
    let mut sim = Sim::new(&["alice", "bob"], clean(), 24);
    sim.join("alice");
    sim.run(Duration::from_millis(300));
    // Bob joins muted with his camera off: it is never opened, and Alice knows from the first.
    sim.settings().mic_on = false;
    sim.settings().camera_on = false;
    sim.join("bob");
    sim.run(Duration::from_secs(3));
    assert_eq!(media_of(&sim, "alice", "bob"), [(false, false)]);
    let bob = sim.person("bob");
    assert!(
        !bob.commands
            .iter()
            .any(|(_, c)| *c == MediaCommand::Camera(true))
    );
    assert_eq!(
        bob.commands.first().map(|(_, c)| c),
        Some(&MediaCommand::Microphone(false))
    );
    assert_eq!(bob.pictures_sent, 0);
    // Alice's pictures still reach him.
    assert!(!bob.seen_of("alice").pictures.is_empty());
}

#[test]
fn devices_that_stop_and_come_back_are_reported() {
    let mut sim = alice_and_bob(25);
    sim.device("bob", Device::Microphone, Some("the device was unplugged"));
    sim.run(Duration::from_millis(100));
    sim.device("bob", Device::Microphone, None);
    sim.device("bob", Device::Speaker, Some("gone"));
    sim.run(Duration::from_millis(100));
    let news: Vec<(Device, Option<DeviceProblem>)> = sim
        .person("bob")
        .reports
        .iter()
        .filter_map(|(_, r)| match r {
            CallReport::Device { device, problem } if *device != Device::Camera => {
                Some((*device, problem.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        news,
        [
            (
                Device::Microphone,
                Some(DeviceProblem::Failed("the device was unplugged".into()))
            ),
            (Device::Microphone, None),
            (Device::Speaker, Some(DeviceProblem::Failed("gone".into()))),
        ]
    );
    // The call went on.
    sim.run(Duration::from_secs(1));
    let (fps, _) = video_quality(
        sim.person("alice").seen_of("bob"),
        sim.now - Duration::from_secs(1),
        sim.now,
    );
    assert!(fps >= 29.0);
}

#[test]
fn pictures_go_to_the_window_only_when_it_renders_them() {
    let mut sim = Sim::new(&["alice", "bob"], clean(), 26);
    sim.join("alice");
    sim.settings().render_video = true;
    sim.join("bob");
    sim.run_until_connected(Duration::from_secs(3));
    sim.run(Duration::from_secs(1));
    let pictures = |who: &str| {
        sim.person(who)
            .reports
            .iter()
            .filter(|(_, r)| matches!(r, CallReport::Picture { .. }))
            .count()
    };
    assert_eq!(pictures("alice"), 0);
    assert!(pictures("bob") > 25, "{}", pictures("bob"));
}

#[test]
fn signaling_lost_and_back_is_reported_and_the_call_goes_on() {
    let mut sim = alice_and_bob(27);
    let now = sim.now;
    let bob_id = PeerId::from("p2");
    let call = sim.person_mut("alice").call.as_mut().unwrap();
    call.handle_signaling(
        now,
        ConferEvent::Confer(Event::Reconnecting {
            attempt: 1,
            after: Duration::from_millis(250),
        }),
    );
    call.handle_signaling(
        now,
        ConferEvent::Confer(Event::Joined {
            id: PeerId::from("p1"),
            peers: vec![confer::signal::proto::PeerInfo {
                id: bob_id,
                name: "bob".into(),
            }],
            ice_servers: Vec::new(),
            resumed: true,
            media: None,
        }),
    );
    sim.run(Duration::from_secs(1));
    let alice = sim.person("alice");
    let tail: Vec<&CallReport> = alice
        .reports
        .iter()
        .filter(|(t, _)| *t >= now)
        .map(|(_, r)| r)
        .filter(|r| {
            matches!(
                r,
                CallReport::Signaling { .. }
                    | CallReport::Notice(Notice::SignalingLost { .. } | Notice::BackInRoom)
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            &CallReport::Signaling { connected: false },
            &CallReport::Notice(Notice::SignalingLost {
                attempt: 1,
                after: Duration::from_millis(250)
            }),
            &CallReport::Signaling { connected: true },
            &CallReport::Notice(Notice::BackInRoom),
        ]
    );
    // A resumed session offers to nobody again: still one connection to Bob, same id.
    assert_eq!(alice.present(), ["bob"]);
    // Pictures kept coming: one second holds 29 to 31 of 30 a second, as the jitter aligns them.
    let (fps, longest) = video_quality(alice.seen_of("bob"), now, sim.now);
    assert!(fps >= 28.0, "{fps} fps, longest gap {longest:?}");
}

#[test]
fn bad_signals_are_told_and_the_call_goes_on() {
    let mut sim = alice_and_bob(28);
    let now = sim.now;
    let bob = PeerId::from("p2");
    let stranger = PeerId::from("p99");
    let call = sim.person_mut("alice").call.as_mut().unwrap();
    use confer::signal::relayed::{CandidateInit, PeerSignal};
    for (from, signal) in [
        (
            bob.clone(),
            Err("a signal that is not one: unknown variant `dance`".to_string()),
        ),
        (
            stranger.clone(),
            Ok(PeerSignal::Answer {
                sdp: "v=0".into(),
                session: None,
            }),
        ),
        (
            stranger.clone(),
            Ok(PeerSignal::Candidate {
                candidate: Some(CandidateInit {
                    candidate: "candidate:1 1 udp 1 10.0.0.9 5 typ host".into(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                }),
            }),
        ),
        (
            bob.clone(),
            Ok(PeerSignal::Candidate {
                candidate: Some(CandidateInit {
                    candidate: "candidate:garbage".into(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                }),
            }),
        ),
        (
            stranger.clone(),
            Ok(PeerSignal::Offer {
                sdp: "not sdp".into(),
                session: None,
            }),
        ),
        (
            stranger,
            Ok(PeerSignal::Resume {
                session: "nobody's".into(),
            }),
        ),
    ] {
        call.handle_signaling(now, ConferEvent::Confer(Event::Signal { from, signal }));
    }
    sim.run(Duration::from_secs(1));
    let alice = sim.person("alice");
    let problems: Vec<String> = alice
        .reports
        .iter()
        .filter(|(t, _)| *t >= now)
        .filter_map(|(_, r)| match r {
            CallReport::Notice(Notice::Problem(p)) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(problems.len(), 6, "{problems:?}");
    assert!(
        problems[0].starts_with("from bob: a signal that is not one"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("an answer to no offer"),
        "{problems:?}"
    );
    assert!(
        problems[2].contains("a candidate for no connection"),
        "{problems:?}"
    );
    assert!(problems[3].contains("candidate"), "{problems:?}");
    assert!(problems[4].contains("session description"), "{problems:?}");
    assert!(
        problems[5].contains("a resume of no connection"),
        "{problems:?}"
    );
    // Nobody new appeared, and Bob is still there.
    assert_eq!(alice.present(), ["bob"]);
    // Pictures kept coming: one second holds 29 to 31 of 30 a second, as the jitter aligns them.
    let (fps, longest) = video_quality(alice.seen_of("bob"), now, sim.now);
    assert!(fps >= 28.0, "{fps} fps, longest gap {longest:?}");
}

#[test]
fn a_call_that_cannot_go_on_says_why() {
    for (closed, refusal, expected) in [
        (
            Closed::Refused {
                code: ErrorCode::BadToken,
                message: "expired".into(),
            },
            Some(ErrorCode::BadToken),
            CallError::BadInvite,
        ),
        (
            Closed::Refused {
                code: ErrorCode::RoomFull,
                message: "full".into(),
            },
            Some(ErrorCode::RoomFull),
            CallError::RoomFull,
        ),
        (
            Closed::Unreachable { attempts: 6 },
            None,
            CallError::Unreachable { attempts: 6 },
        ),
        (Closed::Abandoned, None, CallError::SignalingEnded),
    ] {
        let mut sim = Sim::new(&["alice"], clean(), 29);
        sim.join("alice");
        sim.run(Duration::from_millis(100));
        let now = sim.now;
        let call = sim.person_mut("alice").call.as_mut().unwrap();
        if let Some(code) = refusal {
            call.handle_signaling(
                now,
                ConferEvent::Confer(Event::Refused {
                    code,
                    message: "no".into(),
                }),
            );
        }
        call.handle_signaling(now, ConferEvent::Confer(Event::Closed(closed)));
        sim.run(Duration::from_millis(100));
        let alice = sim.person("alice");
        assert_eq!(alice.ended, Some(Err(expected.clone())));
        assert!(alice.call.is_none());
        if refusal.is_some() {
            assert!(
                alice
                    .notices()
                    .iter()
                    .any(|n| n.starts_with("the server refused"))
            );
        }
    }
    assert_eq!(
        CallError::RoomFull.to_string(),
        "this meeting is full: try again when someone leaves"
    );
}

/// Someone joining and leaving is a notice, and, where the settings ask for sounds, a chime
/// each (none for those already there when we joined).
#[test]
fn arrivals_and_departures_are_noticed_and_chimed_when_asked() {
    let mut sim = Sim::new(&["alice", "bob", "carol"], clean(), 23);
    sim.settings().chimes = true;
    sim.join("alice");
    sim.run(Duration::from_millis(500));
    sim.join("bob");
    sim.run_until_connected(Duration::from_secs(3));
    sim.settings().chimes = false;
    sim.join("carol");
    sim.run_until_connected(Duration::from_secs(3));
    sim.leave("bob");
    sim.run(Duration::from_secs(1));
    let notices = |who: &str| -> Vec<String> {
        sim.person(who)
            .reports
            .iter()
            .filter_map(|(_, r)| match r {
                CallReport::Notice(n @ (Notice::Arrived { .. } | Notice::Left { .. })) => {
                    Some(n.to_string())
                }
                _ => None,
            })
            .collect()
    };
    let chimes = |who: &str| -> Vec<Chime> {
        sim.person(who)
            .commands
            .iter()
            .filter_map(|(_, c)| match c {
                MediaCommand::Chime(chime) => Some(*chime),
                _ => None,
            })
            .collect()
    };
    assert_eq!(notices("alice"), ["bob joined", "carol joined", "bob left"]);
    assert_eq!(
        chimes("alice"),
        [Chime::Arrived, Chime::Arrived, Chime::Left]
    );
    // Carol found Alice and Bob there: no arrivals for them, and her settings ask no sounds.
    assert_eq!(notices("carol"), ["bob left"]);
    assert!(chimes("carol").is_empty());
}

/// A raised hand reaches the others (`media-state`'s `hand`), and so does lowering it.
#[test]
fn a_raised_hand_reaches_the_others() {
    let mut sim = alice_and_bob(24);
    let hands = |sim: &Sim| -> Vec<bool> {
        let id = sim.person("alice").id_of("bob").expect("known");
        let mut changes: Vec<bool> = Vec::new();
        for (_, r) in &sim.person("alice").reports {
            if let CallReport::Media { id: of, state } = r
                && *of == id
                && changes.last() != Some(&state.hand_up)
            {
                changes.push(state.hand_up);
            }
        }
        changes
    };
    sim.control("bob", CallControl::Hand(true));
    sim.run(Duration::from_millis(500));
    sim.control("bob", CallControl::Hand(false));
    sim.run(Duration::from_millis(500));
    assert_eq!(hands(&sim), [false, true, false]);
}
