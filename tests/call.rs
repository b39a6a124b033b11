//! Real calls on loopback: `confer serve` and several `confer join --headless` with the
//! synthetic camera and microphone, each writing its stats file; the stats are checked.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::coturn::{self, Coturn};
use support::serve::Serve;
use support::{Owned, confer, last_stats_by_name, stats_lines_about};

fn start_server(home: &Path) -> (Serve, String) {
    let server = Serve::start(home, &["--open"]);
    let link = format!("confer://{}/standup?insecure=1", server.addr);
    (server, link)
}

fn join(home: &Path, link: &str, name: &str, seconds: u32) -> Owned {
    join_with(home, link, name, seconds, &[])
}

fn join_with(home: &Path, link: &str, name: &str, seconds: u32, extra: &[&str]) -> Owned {
    Owned(
        confer(home)
            .args(["join", link, "--headless", "--name", name])
            .args(extra)
            .args(if extra.contains(&"--camera") {
                &["--mic", "tone"][..]
            } else {
                &["--camera", "test-pattern", "--mic", "tone"][..]
            })
            .args(["--duration", &seconds.to_string()])
            .arg("--stats")
            .arg(home.join(format!("{name}.jsonl")))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// The last line of each remote participant in a stats file, by name.
fn last_lines(home: &Path, name: &str) -> HashMap<String, serde_json::Value> {
    last_stats_by_name(&home.join(format!("{name}.jsonl")))
}

fn finish(mut participant: Owned, name: &str) {
    let (status, stderr) = participant
        .wait_with_stderr(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{name} did not end"));
    assert!(status.success(), "{name} failed: {stderr}");
}

fn check(seen: &serde_json::Value, who: &str, of: &str, seconds: f64) {
    let context = format!("{who} about {of}: {seen}");
    assert_eq!(seen["state"], "connected", "{context}");
    assert_eq!(seen["width_in"], 1280, "{context}");
    assert_eq!(seen["height_in"], 720, "{context}");
    // Video flowed and decoded for most of the call (the debug build on a shared machine is
    // far from the release build's 30 fps; the benchmark measures that).
    let frames = seen["frames_decoded"].as_u64().unwrap();
    assert!(frames as f64 >= 5.0 * seconds, "{context}");
    // Audio: 50 packets a second, nearly all of them.
    let audio = seen["audio_packets_in"].as_u64().unwrap();
    assert!(audio as f64 >= 40.0 * seconds, "{context}");
    assert!(
        seen["rtt_ms"].as_f64().is_some_and(|r| r < 500.0),
        "{context}"
    );
    assert!(seen["g2g_ms_p50"].as_f64().is_some(), "{context}");
    // Loopback adds little jitter, but it is measured.
    assert!(
        seen["jitter_ms"].as_f64().is_some_and(|j| j < 100.0),
        "{context}"
    );
    // Lip sync is measured (the beep and the flash were both found).
    assert!(seen["av_sync_ms"].as_f64().is_some(), "{context}");
    assert!(
        seen["bitrate_in_bps"].as_u64().unwrap() > 100_000,
        "{context}"
    );
}

#[test]
fn two_participants_see_and_hear_each_other() {
    let home = tempfile::tempdir().unwrap();
    let (_server, link) = start_server(home.path());
    let alice = join(home.path(), &link, "alice", 14);
    std::thread::sleep(Duration::from_millis(500));
    let bob = join(home.path(), &link, "bob", 12);
    finish(bob, "bob");
    finish(alice, "alice");
    let alice_saw = last_lines(home.path(), "alice");
    let bob_saw = last_lines(home.path(), "bob");
    check(&alice_saw["bob"], "alice", "bob", 9.0);
    check(&bob_saw["alice"], "bob", "alice", 9.0);
    // The tone was heard (0.1 amplitude sent, though the sender's noise suppression takes a
    // steady tone down; silence would read under 0.005; the last lines may come after the
    // other left, so any second of the call counts).
    let text = std::fs::read_to_string(home.path().join("alice.jsonl")).unwrap();
    let loudest = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["audio_level"].as_f64())
        .fold(0.0, f64::max);
    assert!(loudest > 0.01, "alice heard bob at {loudest} at most");
}

#[test]
fn three_participants_form_a_mesh() {
    let home = tempfile::tempdir().unwrap();
    let (_server, link) = start_server(home.path());
    let names = ["ann", "ben", "cat"];
    let mut running = Vec::new();
    for (i, name) in names.iter().enumerate() {
        running.push((join(home.path(), &link, name, 16 - 2 * i as u32), *name));
        std::thread::sleep(Duration::from_millis(700));
    }
    for (participant, name) in running.into_iter().rev() {
        finish(participant, name);
    }
    for who in names {
        let saw = last_lines(home.path(), who);
        for of in names.iter().filter(|n| **n != who) {
            let seen = saw
                .get(*of)
                .unwrap_or_else(|| panic!("{who} never saw {of}: {saw:?}"));
            assert_eq!(seen["state"], "connected", "{who} about {of}: {seen}");
            assert!(
                seen["frames_decoded"].as_u64().unwrap() > 20,
                "{who} about {of}: {seen}"
            );
            assert!(
                seen["audio_packets_in"].as_u64().unwrap() > 200,
                "{who} about {of}: {seen}"
            );
        }
    }
}

/// Every line about `of` in `who`'s stats file, in order.
fn lines_about(home: &Path, who: &str, of: &str) -> Vec<serde_json::Value> {
    stats_lines_about(&home.join(format!("{who}.jsonl")), of)
}

#[test]
fn a_signaling_server_restart_does_not_stop_the_call() {
    let home = tempfile::tempdir().unwrap();
    let (server, link) = start_server(home.path());
    let listen = server.addr.clone();
    let alice = join(home.path(), &link, "alice", 22);
    std::thread::sleep(Duration::from_millis(500));
    let bob = join(home.path(), &link, "bob", 21);
    std::thread::sleep(Duration::from_millis(6500));
    // The server dies with both in the room, and comes back where it was 3 s later.
    drop(server);
    std::thread::sleep(Duration::from_secs(3));
    let _server = Serve::start_at(home.path(), &listen, &["--open"]);
    finish(bob, "bob");
    finish(alice, "alice");

    for (who, of) in [("alice", "bob"), ("bob", "alice")] {
        let lines = lines_about(home.path(), who, of);
        let context = format!("{who} about {of}: {lines:#?}");
        // Media went on through the outage and the rejoin: frames were decoded in every
        // second, on the one connection (its counter never restarts).
        let during: Vec<_> = lines
            .iter()
            .filter(|l| (5.0..=18.0).contains(&l["t"].as_f64().unwrap()))
            .collect();
        assert!(during.len() >= 12, "{context}");
        for pair in during.windows(2) {
            let (before, after) = (&pair[0]["frames_decoded"], &pair[1]["frames_decoded"]);
            assert!(
                after.as_u64().unwrap() > before.as_u64().unwrap(),
                "no picture from {} to {}: {context}",
                pair[0]["t"],
                pair[1]["t"]
            );
        }
        // Both rejoined: the remote is known under the new id the restarted server gave it,
        // and only one connection is reported at a time.
        let ids: Vec<&str> = lines.iter().map(|l| l["peer"].as_str().unwrap()).collect();
        let mut distinct = ids.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "{context}");
        let per_second = lines
            .iter()
            .map(|l| l["t"].as_f64().unwrap().floor() as i64);
        let mut seconds: Vec<i64> = per_second.collect();
        let before = seconds.len();
        seconds.dedup();
        assert_eq!(seconds.len(), before, "two connections at once: {context}");
    }
}

#[test]
fn two_participants_meet_through_a_turn_relay_only() {
    let home = tempfile::tempdir().unwrap();
    let relay = Coturn::start(home.path());
    let url = relay.url();
    let server = Serve::start(
        home.path(),
        &[
            "--open",
            "--turn",
            &url,
            "--turn-username",
            coturn::USER,
            "--turn-credential",
            coturn::PASSWORD,
        ],
    );
    let link = format!("confer://{}/standup?insecure=1", server.addr);
    // Neither offers a host candidate: the only path is through coturn.
    let alice = join_with(home.path(), &link, "alice", 14, &["--relay-only"]);
    std::thread::sleep(Duration::from_millis(500));
    let bob = join_with(home.path(), &link, "bob", 12, &["--relay-only"]);
    finish(bob, "bob");
    finish(alice, "alice");
    let alice_saw = last_lines(home.path(), "alice");
    let bob_saw = last_lines(home.path(), "bob");
    check(&alice_saw["bob"], "alice", "bob", 8.0);
    check(&bob_saw["alice"], "bob", "alice", 8.0);
    assert_eq!(
        alice_saw["bob"]["candidate"], "relay",
        "{}",
        alice_saw["bob"]
    );
    assert_eq!(
        bob_saw["alice"]["candidate"], "relay",
        "{}",
        bob_saw["alice"]
    );
}

/// Refusals end `confer join` at once, non-zero, with a sentence for people.
#[test]
fn a_bad_invite_or_a_full_room_ends_the_join_with_a_clear_reason() {
    let home = tempfile::tempdir().unwrap();
    // Tokens checked, and room for one.
    let server = Serve::start(home.path(), &["--max-peers-per-room", "1"]);
    let forged = format!(
        "confer://{}/standup?insecure=1#t=1999999999.Zm9yZ2Vk",
        server.addr
    );
    let out = confer(home.path())
        .args([
            "join",
            &forged,
            "--headless",
            "--camera",
            "off",
            "--mic",
            "off",
        ])
        .args(["--duration", "20"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not valid or has expired"), "{stderr}");

    let invite = confer(home.path())
        .args([
            "invite",
            "--server",
            &format!("http://{}", server.addr),
            "--room",
            "standup",
        ])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&invite.stdout).to_string();
    let link = links
        .lines()
        .find(|l| l.starts_with("confer://"))
        .unwrap_or_else(|| panic!("no app link in {links}"))
        .to_string();
    let mut first = join_with(home.path(), &link, "first", 20, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let out = confer(home.path())
        .args(["join", &link, "--headless", "--name", "second"])
        .args(["--camera", "off", "--mic", "off", "--duration", "20"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this meeting is full"), "{stderr}");
    first.signal("TERM");
    assert!(first.wait_for_exit(Duration::from_secs(10)).is_some());
}

/// A camera that cannot be opened does not keep anyone out of the meeting: the call goes on
/// with sound only, and says why.
#[test]
fn a_participant_whose_camera_cannot_open_still_joins_with_sound() {
    let home = tempfile::tempdir().unwrap();
    let (_server, link) = start_server(home.path());
    let seeing = join(home.path(), &link, "seeing", 14);
    std::thread::sleep(Duration::from_secs(1));
    // No such camera on this machine (it has none at all).
    let mut blind = join_with(home.path(), &link, "blind", 10, &["--camera", "7"]);
    let (status, stderr) = blind
        .wait_with_stderr(Duration::from_secs(30))
        .expect("blind did not end");
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Camera"),
        "the reason is not said: {stderr}"
    );
    finish(seeing, "seeing");
    let heard = &last_lines(home.path(), "seeing")["blind"];
    assert!(
        heard["audio_packets_in"].as_u64().unwrap_or(0) > 300,
        "{heard}"
    );
    assert_eq!(heard["frames_decoded"], 0, "{heard}");
    assert_eq!(heard["camera_on"], false, "{heard}");
}
