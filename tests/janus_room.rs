//! Meetings in a room of a real Janus (Debian's `janus`), run with a configuration of the
//! test's own in a network namespace of the test's own (Janus's ICE ignores loopback): natives
//! join with `confer join --headless` and a Janus link, and their stats are checked. Refusals
//! (a wrong PIN, a room that does not exist, a Janus that is not there) end the join with a
//! sentence.

mod support;

use std::path::Path;
use std::time::Duration;

use support::browser::Browser;
use support::janus::{Janus, JanusRoomConfig, Netns};
use support::janus_demo::{PLAYS_REMOTE, PUBLISHES, demo_joins, demo_site};
use support::{
    CONFER, Owned, confer_as, join_synthetic, join_with, last_stats_by_name, require_tool,
};

const ROOM: u64 = 1234;
const PIN_ROOM: u64 = 5678;
const PIN: &str = "s3cret";
/// How long a participant of the heavy tests stays at most: they leave when the test asks
/// (SIGTERM); this only bounds one whose test died.
const STAY: u32 = 240;
/// A room for more than a mesh takes.
const BIG_ROOM: u64 = 4321;

/// One meeting at a time: three natives at 720p beside another test's three starve two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn janus_up() -> (std::sync::MutexGuard<'static, ()>, Netns, Janus) {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_tool("janus", "janus");
    let netns = Netns::new();
    let rooms = [
        JanusRoomConfig {
            id: ROOM,
            pin: None,
            publishers: 6,
        },
        JanusRoomConfig {
            id: PIN_ROOM,
            pin: Some(PIN.into()),
            publishers: 6,
        },
        JanusRoomConfig {
            id: BIG_ROOM,
            pin: None,
            publishers: 12,
        },
    ];
    let janus = Janus::start(&netns, &rooms);
    (turn, netns, janus)
}

/// A native with a small synthetic camera (so that eight and more fit on two cores) joining
/// `link` from inside the namespace, with options of the test's own.
fn small(
    netns: &Netns,
    home: &Path,
    link: &str,
    name: &str,
    seconds: u32,
    options: &[&str],
) -> Owned {
    // 15 pictures a second: eight such natives, a Chromium and Janus fill both cores at 30.
    let mut all = vec!["--camera", "test-pattern:320x180@15"];
    all.extend_from_slice(options);
    join_with(confer_in(netns, home), home, link, name, seconds, &all)
}

/// `confer` run inside the namespace.
fn confer_in(netns: &Netns, home: &Path) -> std::process::Command {
    confer_as(netns.command(CONFER), home)
}

fn join(netns: &Netns, home: &Path, link: &str, name: &str, seconds: u32) -> Owned {
    join_synthetic(confer_in(netns, home), home, link, name, seconds)
}

fn finish(mut participant: Owned, name: &str, janus: &Janus) {
    let (status, stderr) = participant
        .wait_with_stderr(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{name} did not end"));
    assert!(
        status.success(),
        "{name} failed: {stderr}\nJanus's log:\n{}",
        janus.log()
    );
}

/// Asks `participant` to leave now (SIGTERM, as a person closing the call), and checks it
/// ended cleanly.
fn leave(participant: Owned, name: &str, janus: &Janus) {
    participant.signal("TERM");
    finish(participant, name, janus);
}

fn check(seen: &serde_json::Value, who: &str, of: &str, seconds: f64) {
    let context = format!("{who} about {of}: {seen}");
    assert_eq!(seen["state"], "connected", "{context}");
    assert_eq!(seen["width_in"], 1280, "{context}");
    let frames = seen["frames_decoded"].as_u64().unwrap_or(0);
    assert!(frames as f64 >= 5.0 * seconds, "{context}");
    let audio = seen["audio_packets_in"].as_u64().unwrap_or(0);
    assert!(audio as f64 >= 40.0 * seconds, "{context}");
    assert!(seen["g2g_ms_p50"].as_f64().is_some(), "{context}");
    assert!(seen["av_sync_ms"].as_f64().is_some(), "{context}");
}

/// Alice's last figures about Bob and Bob's about Alice, each checked for `seconds` of
/// pictures and sound.
fn saw_each_other(home: &Path, seconds: f64) {
    let alice_saw = last_stats_by_name(&home.join("alice.jsonl"));
    let bob_saw = last_stats_by_name(&home.join("bob.jsonl"));
    let context = format!("alice saw {alice_saw:?}\nbob saw {bob_saw:?}");
    check(
        alice_saw.get("bob").expect(&context),
        "alice",
        "bob",
        seconds,
    );
    check(
        bob_saw.get("alice").expect(&context),
        "bob",
        "alice",
        seconds,
    );
}

/// Alice joins, Bob half a second later, each for the seconds given and with options of their
/// own after `join` (the synthetic camera unless they name another); both are waited for to
/// their end.
fn alice_then_bob(
    netns: &Netns,
    home: &Path,
    janus: &Janus,
    link: &str,
    alice: (u32, &[&str]),
    bob: (u32, &[&str]),
) {
    let alice_joins = join_with(
        confer_in(netns, home),
        home,
        link,
        "alice",
        alice.0,
        alice.1,
    );
    std::thread::sleep(Duration::from_millis(500));
    let bob_joins = join_with(confer_in(netns, home), home, link, "bob", bob.0, bob.1);
    finish(bob_joins, "bob", janus);
    finish(alice_joins, "alice", janus);
}

/// Two natives in a Janus room: each publishes, subscribes to the other through Janus, and
/// sees and hears them.
#[test]
fn two_natives_meet_in_a_janus_room() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    alice_then_bob(&netns, home.path(), &janus, &link, (16, &[]), (13, &[]));
    saw_each_other(home.path(), 8.0);
}

/// What Janus refuses ends the join at once, non-zero, with a sentence for people.
#[test]
fn a_wrong_pin_a_missing_room_or_no_janus_ends_the_join_with_a_clear_reason() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let refused = |link: &str| {
        let out = confer_in(&netns, home.path())
            .args([
                "join",
                link,
                "--headless",
                "--camera",
                "off",
                "--mic",
                "off",
            ])
            .args(["--duration", "20"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), stderr)
    };
    let (code, stderr) = refused(&janus.link(PIN_ROOM, Some("wrong")));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PIN is wrong"), "{stderr}");
    // No PIN at all for a room that has one (Janus calls it a missing element).
    let (code, stderr) = refused(&janus.link(PIN_ROOM, None));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PIN is wrong"), "{stderr}");
    let (code, stderr) = refused(&janus.link(999_999, None));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no such room"), "{stderr}");
    // The right PIN gets in (and leaves when its time is up).
    let out = confer_in(&netns, home.path())
        .args(["join", &janus.link(PIN_ROOM, Some(PIN)), "--headless"])
        .args(["--camera", "off", "--mic", "off", "--duration", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", janus.log());
    // Nothing listening: the join gives up after its attempts.
    let nowhere = format!("janus+ws://{}:1/?room={ROOM}", netns.janus_addr());
    let (code, stderr) = refused(&nowhere);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("could not reach"), "{stderr}");
    // A malformed Janus link is the command line's error.
    let (code, stderr) = refused("janus+ws://host/?room=1&rom=2");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("rom"), "{stderr}");
}

/// Waits (polling the stats files a test's participants write, up to `limit`) until `who` has
/// decoded pictures of `of`.
fn sees(home: &Path, who: &str, of: &str, limit: Duration) -> bool {
    seen_until(home, who, of, limit, |l| count(l, "frames_decoded") > 0)
}

/// Whether `who`'s latest figures about `of` come to be `enough` within `limit`.
fn seen_until(
    home: &Path,
    who: &str,
    of: &str,
    limit: Duration,
    enough: impl Fn(&serde_json::Value) -> bool,
) -> bool {
    let path = home.join(format!("{who}.jsonl"));
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if support::stats_lines_about(&path, of)
            .last()
            .is_some_and(&enough)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Waits until `who` has decoded 40 pictures of `of` and played 200 of their sound packets
/// (a few seconds of each: a meeting, not a first frame), and fails the test if that does not
/// come in time.
fn receives_enough(home: &Path, who: &str, of: &str, janus: &Janus, browser: &Browser) {
    assert!(
        seen_until(home, who, of, Duration::from_secs(40), |l| {
            count(l, "frames_decoded") >= 40 && count(l, "audio_packets_in") >= 200
        }),
        "{who} did not see and hear enough of {of}: {:?}\n{}\nthe browser log's end:\n{}",
        last_about(home, who, of),
        janus.log(),
        last_lines(&browser.log(), 300)
    );
}

/// The last `n` lines of `text` (janus.js logs much to the console).
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn count(line: &serde_json::Value, field: &str) -> u64 {
    line[field].as_u64().unwrap_or(0)
}

/// People come and go: a third joins mid-meeting and is heard by those there (and sees and
/// hears them); one leaves and the others see them go.
#[test]
fn participants_join_and_leave_mid_meeting() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    let alice = join(&netns, home.path(), &link, "alice", 30);
    let bob = join(&netns, home.path(), &link, "bob", 12);
    assert!(
        sees(home.path(), "alice", "bob", Duration::from_secs(15)),
        "{}",
        janus.log()
    );
    // Carol stays until near Alice's end, well after Bob has gone.
    let carol = join(&netns, home.path(), &link, "carol", 22);
    finish(bob, "bob", &janus);
    finish(carol, "carol", &janus);
    finish(alice, "alice", &janus);
    let alice_saw = last_stats_by_name(&home.path().join("alice.jsonl"));
    let carol_saw = last_stats_by_name(&home.path().join("carol.jsonl"));
    let context = format!("alice saw {alice_saw:?}\ncarol saw {carol_saw:?}");
    // Alice receives Carol through a renegotiation of her receiving connection (`subscribe`,
    // Janus's `updated` offer); Carol's own first subscription carries Alice.
    check(
        alice_saw.get("carol").expect(&context),
        "alice",
        "carol",
        8.0,
    );
    check(
        carol_saw.get("alice").expect(&context),
        "carol",
        "alice",
        8.0,
    );
    // Bob left while the others stayed: Alice's figures about him stop (a participant who left
    // has none) seconds before those about Carol do.
    let last_t = |of: &str| alice_saw[of]["t"].as_f64().unwrap_or(f64::NAN);
    assert!(last_t("bob") + 5.0 < last_t("carol"), "{context}");
}

/// Janus restarted mid-meeting forgets everyone: the participants connect again, join again
/// and publish again on their own, and see each other again.
#[test]
fn a_janus_restart_mid_meeting_is_survived() {
    let (_turn, netns, mut janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    let alice = join(&netns, home.path(), &link, "alice", 30);
    let bob = join(&netns, home.path(), &link, "bob", 29);
    for (who, of) in [("alice", "bob"), ("bob", "alice")] {
        assert!(
            sees(home.path(), who, of, Duration::from_secs(15)),
            "{who} never saw {of}\n{}",
            janus.log()
        );
    }
    janus.restart();
    finish(bob, "bob", &janus);
    finish(alice, "alice", &janus);
    // Each came back as a new participant (a new feed in the new Janus): the figures of the
    // last are all from after the restart.
    saw_each_other(home.path(), 6.0);
}

/// Janus gives up on a connection whose DTLS handshake has not finished after 20 s, and hangs
/// it up ("DTLS timeout"; one Chromium page of four met it in the ten-person bench). Carol
/// joins Alice and Bob while Janus's DTLS cannot get through: once Janus has hung up on her and
/// DTLS passes again, she joins Janus again by herself, and sees and is seen by the others.
#[test]
fn a_connection_janus_hangs_up_is_made_again() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    let [alice, bob] = two_who_see_each_other(&netns, home.path(), &janus, &link, ["alice", "bob"]);

    let dtls = janus.hold_back_dtls();
    let carol = small(&netns, home.path(), &link, "carol", STAY, &[]);
    janus_gives_up_on_dtls(&janus, &dtls);
    let before = last_about(home.path(), "carol", "alice");
    assert!(
        before
            .as_ref()
            .is_none_or(|l| count(l, "frames_decoded") == 0),
        "Carol had pictures although DTLS was held back: {before:?}"
    );

    for (who, of) in [("carol", "alice"), ("carol", "bob"), ("alice", "carol")] {
        assert!(
            sees_through_janus(home.path(), who, of, Duration::from_secs(40)),
            "{who} never saw {of} after Janus hung up on Carol: {:?}\n{}",
            last_about(home.path(), who, of),
            janus.log()
        );
    }
    for (participant, name) in [(carol, "carol"), (bob, "bob"), (alice, "alice")] {
        leave(participant, name, &janus);
    }
}

/// Two small natives at `link` for the test's length, once each sees the other through Janus.
fn two_who_see_each_other(
    netns: &Netns,
    home: &Path,
    janus: &Janus,
    link: &str,
    names: [&str; 2],
) -> [Owned; 2] {
    let both = names.map(|name| small(netns, home, link, name, STAY, &[]));
    for (who, of) in [(names[0], names[1]), (names[1], names[0])] {
        assert!(
            sees_through_janus(home, who, of, Duration::from_secs(40)),
            "{who} never saw {of} through Janus\n{}",
            janus.log()
        );
    }
    both
}

/// Waits (up to a minute) for Janus to give up on a DTLS handshake, and lets DTLS through
/// again either way; fails the test if Janus did not give up.
fn janus_gives_up_on_dtls(janus: &Janus, held_back: &[String]) {
    let gave_up = "DTLS taking too much time";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !janus.log().contains(gave_up) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    janus.let_through(held_back);
    assert!(
        janus.log().contains(gave_up),
        "Janus did not give up on a DTLS handshake\n{}",
        janus.log()
    );
}

/// The same for a guest page in a Confer room through Janus: the page that joins while
/// Janus's DTLS is held back joins Janus again once Janus has hung up on it, then receives
/// the natives and they receive it.
#[test]
fn a_guest_page_joins_janus_again_after_janus_hangs_up_on_it() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let _inside = netns.enter();
    // The room moves to Janus as the second joins.
    let server = janus.confer_server(home.path(), 1);
    let link = format!("confer://{}/again?insecure=1", server.addr);
    let [ann, bob] = two_who_see_each_other(&netns, home.path(), &janus, &link, ["ann", "bob"]);

    let dtls = janus.hold_back_dtls();
    let mut browser = Browser::start(&home.path().join("browser.log"));
    browser.open("web", &format!("http://{}/j/again?name=web", server.addr));
    browser.click("web", "#join");
    janus_gives_up_on_dtls(&janus, &dtls);

    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let page = browser.eval("web", PAGE_RECEIVES_VIA_JANUS);
        if ["ann", "bob"]
            .iter()
            .all(|n| page[n].as_u64().unwrap_or(0) > 0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the guest page did not receive the natives after Janus hung up on it: {page}\n\
             its Janus client: {}\nbrowser log:\n{}\n{}",
            browser.eval("web", PAGE_SFU_STATE),
            last_lines(&browser.log(), 100),
            janus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        sees_through_janus(home.path(), "ann", "web", Duration::from_secs(40)),
        "ann never saw the guest page after Janus hung up on it: {:?}",
        last_about(home.path(), "ann", "web")
    );
    leave(bob, "bob", &janus);
    leave(ann, "ann", &janus);
}

/// A WebSocket server that speaks `janus-protocol` and answers every message with garbage.
const GARBAGE_SERVER: &str = r#"
import base64, hashlib, socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(8)
while True:
    conn, _ = listener.accept()
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                raise EOFError
            head += chunk
        key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n")
        while conn.recv(65536):
            conn.sendall(b"\x81\x0fnot json at all")
    except Exception:
        pass
    conn.close()
"#;

/// `confer join` at a Janus link whose server is the Python `script` (given the address and
/// port to listen on), in a namespace of its own.
fn join_a_fake_janus(script: &str) -> std::process::Output {
    require_tool("python3", "python3");
    let netns = Netns::new();
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("server.py");
    std::fs::write(&path, script).unwrap();
    let addr = netns.janus_addr();
    let _server = Owned(
        netns
            .command("python3")
            .arg(&path)
            .args([addr.as_str(), "8188"])
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !netns.accepts(&addr, 8188) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    confer_in(&netns, home.path())
        .args([
            "join",
            &format!("janus+ws://{addr}:8188/?room={ROOM}"),
            "--headless",
        ])
        .args(["--camera", "off", "--mic", "off", "--duration", "60"])
        .output()
        .unwrap()
}

/// A server at a Janus link that answers, but not as Janus does, ends the join with a sentence
/// within seconds, never a hang.
#[test]
fn a_server_that_answers_garbage_ends_the_join() {
    let out = join_a_fake_janus(GARBAGE_SERVER);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not reach"), "{stderr}");
}

/// 5 % of the media to and from Janus lost, each way, on every participant's leg (so about
/// 10 % between publisher and subscriber): NACKs and PLIs through the SFU (Janus resends from
/// its own buffer, asks the publisher again, and passes keyframe requests on) keep the
/// pictures coming. Before the two Janus mends (`rtc::srtp_rollover` and
/// `JanusRoom::keyframe_wanted`) a run decoded 0 to 75 pictures of each other in 20 s.
/// Every packet Janus numbers from before a subscription's first is lost too: the one case
/// where its SRTP counter moves a cycle on early (CI once saw a subscriber decode nothing
/// after 11 packets: such a packet lost at random), so that when it happens the subscriber
/// must find the next cycle (`tests/srtp_rollover.rs` makes it happen every time).
#[test]
fn video_through_janus_holds_under_five_percent_loss() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    netns.drop_janus_media(0.05);
    netns.drop_janus_packets_from_before();
    alice_then_bob(&netns, home.path(), &janus, &link, (22, &[]), (20, &[]));
    eprintln!(
        "packets from before a subscription's first, dropped: {}",
        netns.dropped_from_before()
    );
    saw_each_other(home.path(), 12.0);
    for (who, of) in [("alice", "bob"), ("bob", "alice")] {
        let seen = &last_stats_by_name(&home.path().join(format!("{who}.jsonl")))[of];
        // The loss was there and was asked to be repaired.
        assert!(seen["nacks_out"].as_u64().unwrap_or(0) > 0, "{who}: {seen}");
        // Pictures most of the time: 20 s at 30 a second, less the start and a few
        // keyframe waits.
        let frames = seen["frames_decoded"].as_u64().unwrap_or(0);
        assert!(frames >= 200, "{who}: {seen}");
    }
}

/// Eight in one room, more than a mesh takes: natives with small synthetic cameras (so that
/// eight fit on two cores) and Janus's own demo page in Chromium, each publishing and
/// receiving the others (a native on one connection each way). A native leaves and another
/// joins mid-meeting; everyone there receives everyone's pictures and sound.
#[test]
fn eight_participants_meet_and_come_and_go_in_one_janus_room() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let site_dir = home.path().join("site");
    std::fs::create_dir(&site_dir).unwrap();
    let _site = demo_site(&netns, &janus, &site_dir);
    let link = janus.link(BIG_ROOM, None);
    let small = |name: &str, seconds: u32| small(&netns, home.path(), &link, name, seconds, &[]);
    let _inside = netns.enter();
    let mut browser = Browser::start(&home.path().join("browser.log"));
    demo_joins(&mut browser, "web", BIG_ROOM);
    browser.wait_for(
        "web",
        PUBLISHES,
        Duration::from_secs(30),
        "the demo page publishing to Janus",
    );
    let stay = ["ann", "ben", "cat", "dan", "eve", "fay"];
    // Everyone stays until the test says otherwise (SIGTERM: leave, then exit 0): on two
    // shared cores how long the joins take is not known in advance, and a fixed stay can end
    // before the checks do. `STAY` only bounds a run whose test died.
    let participants: Vec<(&str, Owned)> =
        stay.iter().map(|name| (*name, small(name, STAY))).collect();
    // Gus is there from the start and leaves once everyone has seen and heard him; Hal comes
    // after.
    let gus = small("gus", STAY);
    for name in stay {
        for other in stay.iter().chain(&["gus", "web"]).filter(|o| **o != name) {
            // Nine processes and Chromium share two cores while everyone connects.
            receives_enough(home.path(), name, other, &janus, &browser);
        }
    }
    leave(gus, "gus", &janus);
    // Gus left while the others stayed: Ann's figures about him stop, and those about the
    // others go on (three seconds of them, a few of her stats lines, without him).
    let last_t = |who: &str, of: &str| {
        last_about(home.path(), who, of).map_or(f64::NAN, |l| l["t"].as_f64().unwrap_or(f64::NAN))
    };
    assert!(
        seen_until(home.path(), "ann", "ben", Duration::from_secs(20), |l| {
            l["t"].as_f64().unwrap_or(0.0) > last_t("ann", "gus") + 3.0
        }),
        "ann's figures about gus did not stop when he left: {:?}",
        last_about(home.path(), "ann", "gus")
    );
    let hal = small("hal", STAY);
    for name in stay {
        receives_enough(home.path(), name, "hal", &janus, &browser);
        receives_enough(home.path(), "hal", name, &janus, &browser);
    }
    receives_enough(home.path(), "hal", "web", &janus, &browser);
    browser.wait_for(
        "web",
        PLAYS_REMOTE,
        Duration::from_secs(20),
        "the natives' video and audio on the demo page",
    );
    leave(hal, "hal", &janus);
    for (name, p) in participants {
        leave(p, name, &janus);
    }
    // Each native got every other's full picture (their tiles' size needs no less).
    let natives: Vec<&str> = stay.iter().copied().chain(["gus", "hal"]).collect();
    for name in stay.iter().copied().chain(["hal"]) {
        let saw = last_stats_by_name(&home.path().join(format!("{name}.jsonl")));
        for other in natives.iter().filter(|o| **o != name) {
            // Hal came after Gus left.
            if (name, *other) == ("hal", "gus") {
                continue;
            }
            let seen = saw
                .get(*other)
                .unwrap_or_else(|| panic!("{name} has no figures about {other}: {saw:?}"));
            assert_eq!(seen["width_in"], 320, "{name} about {other}: {seen}");
        }
    }
}

/// Simulcast: each native publishes its camera whole and at a quarter (rids `f` and `q`);
/// Janus forwards each receiver the layer its tiles need. Alice shows everyone at 320x180 and
/// gets Bob's quarter layer; Bob shows everyone large and gets Alice's full one.
#[test]
fn each_receiver_gets_the_layer_its_tiles_need() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    alice_then_bob(
        &netns,
        home.path(),
        &janus,
        &link,
        (16, &["--view", "320x180"]),
        (13, &["--view", "1280x720"]),
    );
    let alice_saw = last_stats_by_name(&home.path().join("alice.jsonl"));
    let bob_saw = last_stats_by_name(&home.path().join("bob.jsonl"));
    let context = format!("alice saw {alice_saw:?}\nbob saw {bob_saw:?}");
    assert_eq!(alice_saw["bob"]["width_in"], 320, "{context}");
    assert_eq!(bob_saw["alice"]["width_in"], 1280, "{context}");
    // The layer is named as Janus says it forwards it.
    assert_eq!(alice_saw["bob"]["layer_in"], "quarter", "{context}");
    assert_eq!(bob_saw["alice"]["layer_in"], "full", "{context}");
    for seen in [&alice_saw["bob"], &bob_saw["alice"]] {
        assert!(
            seen["frames_decoded"].as_u64().unwrap_or(0) >= 100,
            "{context}"
        );
    }
}

/// A WebSocket server that speaks `janus-protocol` and never answers a request.
const SILENT_SERVER: &str = r#"
import base64, hashlib, socket, sys, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(8)
def serve(conn):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n")
        while conn.recv(65536):
            pass
    except Exception:
        pass
    conn.close()
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// A server at a Janus link that takes the connection and then says nothing ends the join with
/// a sentence once the first request is overdue (10 s), not after five silences.
#[test]
fn a_server_that_answers_nothing_ends_the_join() {
    let out = join_a_fake_janus(SILENT_SERVER);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // At the first silence, not after five.
    assert!(
        stderr.contains("could not reach the server: it did not answer"),
        "{stderr}"
    );
}

/// What the guest page receives through Janus, by the sender's name: pictures decoded on the
/// subscriber connection's sections.
const PAGE_RECEIVES_VIA_JANUS: &str = r#"(async () => {
  const sfu = window.confer.sfu;
  const out = {};
  if (!sfu.subPc) return out;
  for (const r of (await sfu.subPc.getStats()).values()) {
    if (r.type !== "inbound-rtp" || r.kind !== "video") continue;
    const id = sfu.mids.get(r.mid);
    out[window.confer.names.get(id) || id] = r.framesDecoded || 0;
  }
  return out;
})()"#;

/// The guest page's Janus client, for a failure's message.
const PAGE_SFU_STATE: &str = r#"(() => {
  const sfu = window.confer.sfu;
  return { feeds: [...sfu.feeds], subscribed: [...sfu.subscribed], busy: sfu.busy,
           joined: sfu.subJoined, mids: [...sfu.mids], names: [...window.confer.names] };
})()"#;

/// Whether `who`'s stats show pictures of `of` that came through Janus: a participant there
/// is known by their Janus feed id (a number), in the mesh by their Confer peer id.
fn sees_through_janus(home: &Path, who: &str, of: &str, limit: Duration) -> bool {
    let path = home.join(format!("{who}.jsonl"));
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if support::stats_lines_about(&path, of)
            .iter()
            .any(|l| through_janus(l) && l["frames_decoded"].as_u64().unwrap_or(0) > 0)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// `who`'s last stats line about `of`, for a failure's message.
fn last_about(home: &Path, who: &str, of: &str) -> Option<serde_json::Value> {
    support::stats_lines_about(&home.join(format!("{who}.jsonl")), of).pop()
}

fn through_janus(line: &serde_json::Value) -> bool {
    line["peer"]
        .as_str()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// How long `who` went without pictures of `of` when the room moved: from the last second
/// with pictures through the mesh to the first through Janus (seconds, to the stats' second).
fn pause(home: &Path, who: &str, of: &str) -> Option<f64> {
    let lines = support::stats_lines_about(&home.join(format!("{who}.jsonl")), of);
    let t = |l: &serde_json::Value| l["t"].as_f64();
    let last_mesh = lines
        .iter()
        .rev()
        .filter(|l| !through_janus(l) && l["fps_in"].as_f64().unwrap_or(0.0) > 0.0)
        .find_map(t)?;
    let first_janus = lines
        .iter()
        .filter(|l| through_janus(l) && l["frames_decoded"].as_u64().unwrap_or(0) > 0)
        .find_map(t)?;
    Some(first_janus - last_mesh)
}

/// A Confer room past its mesh (`confer serve --janus`): six natives and a browser guest meet
/// as a mesh (`--mesh-limit 7`); when an eighth joins, the server tells everyone to move to the
/// Janus room it made (with its own PIN), and everyone keeps receiving everyone, now through
/// Janus. Chat and mute state still go through the Confer server. The pause in each native's
/// pictures of each other native is printed.
#[test]
fn a_confer_room_moves_to_janus_when_it_outgrows_the_mesh() {
    let (_turn, netns, janus) = janus_up();
    let home = tempfile::tempdir().unwrap();
    let _inside = netns.enter();
    let server = janus.confer_server(home.path(), 7);
    let link = format!("confer://{}/grows?insecure=1", server.addr);
    // -v: the chat they receive is logged. Each stays until the test asks them to leave.
    let small = |name: &str| small(&netns, home.path(), &link, name, STAY, &["-v"]);
    let mesh = ["ann", "ben", "cat", "dan", "eve", "fay"];
    let participants: Vec<(&str, Owned)> = mesh.iter().map(|name| (*name, small(name))).collect();
    let mut browser = Browser::start(&home.path().join("browser.log"));
    browser.open("web", &format!("http://{}/j/grows?name=web", server.addr));
    browser.click("web", "#join");
    // A small camera, as the natives have: in a mesh the page encodes once per peer.
    browser.wait_for(
        "web",
        "(async () => { const t = window.confer.stream.getVideoTracks()[0]; \
         if (!t) return false; await t.applyConstraints({width: 320, height: 180}); return true; })()",
        Duration::from_secs(20),
        "the guest's camera",
    );
    for name in mesh {
        for other in mesh.iter().chain(&["web"]).filter(|o| **o != name) {
            assert!(
                sees(home.path(), name, other, Duration::from_secs(25)),
                "{name} never saw {other} in the mesh: {:?}",
                last_about(home.path(), name, other)
            );
        }
    }
    assert_eq!(
        browser.eval("web", "window.confer.sfu.route"),
        serde_json::Value::Null,
        "the page moved before the room outgrew the mesh"
    );
    // The eighth: the room moves.
    let hal = small("hal");
    let everyone: Vec<&str> = mesh.iter().copied().chain(["hal"]).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = browser.eval("web", PAGE_RECEIVES_VIA_JANUS);
        if everyone.iter().all(|n| page[n].as_u64().unwrap_or(0) > 0) {
            break page;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "the guest page did not receive every native through Janus: {page}\n\
                 its Janus client: {}\nbrowser log:\n{}",
                browser.eval("web", PAGE_SFU_STATE),
                browser.log()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        page.as_object().map(|o| o.len()),
        Some(everyone.len()),
        "{page}"
    );
    for name in &everyone {
        for other in everyone.iter().chain(&["web"]).filter(|o| *o != name) {
            assert!(
                sees_through_janus(home.path(), name, other, Duration::from_secs(30)),
                "{name} never saw {other} through Janus: {:?}\n{}",
                last_about(home.path(), name, other),
                janus.log()
            );
        }
    }
    // Above the media, nothing changed: the page's chat and mute reach the natives.
    browser.click("web", "#chat-toggle");
    browser.fill("web", "#chat-text", "still here");
    browser.click("web", "#send");
    browser.click("web", "#mic");
    let muted = |name: &str| {
        support::stats_lines_about(&home.path().join(format!("{name}.jsonl")), "web")
            .last()
            .is_some_and(|l| l["mic_on"] == false)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !everyone.iter().all(|n| muted(n)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    for name in &everyone {
        assert!(muted(name), "{name} does not show web muted");
    }
    let mut pauses = Vec::new();
    for (name, mut p) in participants.into_iter().chain([("hal", hal)]) {
        p.signal("TERM");
        let (status, stderr) = p
            .wait_with_stderr(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{name} did not end"));
        assert!(status.success(), "{name} failed: {stderr}");
        assert!(
            stderr.contains("chat from web: still here"),
            "{name} did not get the chat: {stderr}"
        );
        if name == "hal" {
            continue;
        }
        for other in mesh.iter().filter(|o| **o != name) {
            let paused = pause(home.path(), name, other)
                .unwrap_or_else(|| panic!("{name} has no pictures of {other} on both sides"));
            pauses.push(paused);
        }
    }
    pauses.sort_by(f64::total_cmp);
    println!(
        "media paused at the move: median {:.1} s, longest {:.1} s ({} pairs, to the stats' second)",
        pauses[pauses.len() / 2],
        pauses[pauses.len() - 1],
        pauses.len()
    );
}

/// A native with a small camera who shares the Xvfb's screen from 5 s into the call, for
/// `seconds`.
fn sharer(
    netns: &Netns,
    home: &Path,
    xvfb: &support::xvfb::Xvfb,
    link: &str,
    name: &str,
    seconds: u32,
) -> Owned {
    let mut cmd = confer_in(netns, home);
    cmd.env("DISPLAY", &xvfb.display);
    let seconds = seconds.to_string();
    let options = [
        "--camera",
        "test-pattern:320x180@15",
        "--share",
        "screen",
        "--share-after",
        "5",
        "--share-for",
        &seconds,
    ];
    join_with(cmd, home, link, name, STAY, &options)
}

/// A native shares its screen through Janus, as a second published stream described as a
/// screen: the other native subscribes to it when it appears, tells it from the camera, and
/// decodes it at the screen's size beside the camera; when the share stops, it hears so.
#[test]
fn a_share_goes_through_janus_as_a_second_stream() {
    let (_turn, netns, janus) = janus_up();
    let xvfb = support::xvfb::Xvfb::start((1280, 720));
    let home = tempfile::tempdir().unwrap();
    let link = janus.link(ROOM, None);
    let bob = small(&netns, home.path(), &link, "bob", STAY, &[]);
    // She begins sharing 5 s into the call, after Bob receives her camera: Janus then adds
    // the screen to his subscription, and asks her for no keyframe by itself (his first
    // offer, when she shared from the start, came with one). Her first keyframe must not
    // reach him before he has the screen's section, as it may on a fast machine: what Janus
    // tells him is held back from when her camera reaches him (the event) until 3 s into her
    // share (her clock, as the share's start is). He can then decode her screen only if he
    // asks for a keyframe, through Janus's API. She stops after 30 s (the share must have
    // been seen before: see below).
    let alice_started = std::time::Instant::now();
    let mut alice = sharer(&netns, home.path(), &xvfb, &link, "alice", 30);
    let stats = home.path().join("bob.jsonl");
    let camera = support::stats_until(&stats, "alice", Duration::from_secs(30), |line| {
        line["frames_decoded"].as_u64().unwrap_or(0) > 0
    });
    assert!(
        camera["frames_decoded"].as_u64().unwrap_or(0) > 0,
        "bob decoded no picture of alice's camera: {camera}"
    );
    let held = (alice_started.elapsed() < Duration::from_secs(5))
        .then(|| janus.hold_back_signaling_to(bob.pid()));
    if let Some(rule) = held {
        std::thread::sleep(Duration::from_secs(8).saturating_sub(alice_started.elapsed()));
        janus.let_through(&rule);
    } else {
        println!("bob took 5 s to decode alice's camera: her share began as he did");
    }
    // The share, and the camera beside it.
    let shared = |line: &serde_json::Value| {
        line["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10
            && line["frames_decoded"].as_u64().unwrap_or(0) > 0
    };
    let last = support::stats_until(&stats, "alice", Duration::from_secs(60), shared);
    let context = format!("bob about alice: {last}\nJanus's log:\n{}", janus.log());
    if !shared(&last) {
        // Her side of it: whether she shared at all, and what Janus told her.
        alice.signal("TERM");
        let said = alice.wait_with_stderr(Duration::from_secs(30));
        panic!("bob decoded no share of alice's: {context}\nalice's end: {said:?}");
    }
    assert_eq!(last["screen_width_in"], 1280, "{context}");
    assert_eq!(last["screen_in"], true, "{context}");
    // The camera goes on beside it, on its own section.
    assert_eq!(last["width_in"], 320, "{context}");

    // Her share stops, her camera goes on: Bob hears of the stop through Janus's renegotiation
    // (the screen's section no longer sends) and keeps decoding her camera.
    let camera_before = last["frames_decoded"].as_u64().unwrap_or(0);
    let last = support::stats_until(&stats, "alice", Duration::from_secs(60), |line| {
        line["screen_in"] == false
            && line["frames_decoded"].as_u64().unwrap_or(0) > camera_before + 30
    });
    let context = format!("bob about alice: {last}\nJanus's log:\n{}", janus.log());
    assert_eq!(
        last["screen_in"], false,
        "the stop did not arrive: {context}"
    );
    assert!(
        last["frames_decoded"].as_u64().unwrap_or(0) > camera_before + 30,
        "her camera did not go on: {context}"
    );
    leave(alice, "alice", &janus);
    leave(bob, "bob", &janus);
}

/// The guest page's tiles: each video's width, the shared screens' apart.
const PAGE_TILES: &str = r#"(() => {
  const widths = (selector) => [...document.querySelectorAll(selector)].map((v) => v.videoWidth);
  return { shares: widths(".tile.share video"), cameras: widths(".tile:not(.share) video") };
})()"#;

/// In a Confer room through Janus, a guest page shows a native's screen, shared mid-meeting,
/// in a tile of its own beside the native's camera in theirs (Janus adds the screen to the
/// page's subscription as a stream described as a screen), and takes the tile away when the
/// share ends (the page drops the stream its publisher disabled: Janus renegotiates nothing
/// by itself). Then the page shares its own screen, a second stream it publishes, described
/// as a screen, and the native decodes it until the page stops.
#[test]
fn a_guest_page_shows_a_share_through_janus_and_shares_its_own() {
    let (_turn, netns, janus) = janus_up();
    let xvfb = support::xvfb::Xvfb::start((1280, 720));
    let home = tempfile::tempdir().unwrap();
    let _inside = netns.enter();
    // The room moves to Janus as the second joins.
    let server = janus.confer_server(home.path(), 1);
    let mut browser = Browser::start(&home.path().join("browser.log"));
    browser.open("web", &format!("http://{}/j/shares?name=web", server.addr));
    browser.click("web", "#join");
    let link = format!("confer://{}/shares?insecure=1", server.addr);
    let ann = sharer(&netns, home.path(), &xvfb, &link, "ann", 20);
    let tiles = browser.wait_for(
        "web",
        &format!(
            "(() => {{ const t = {PAGE_TILES}; \
             return t.shares.includes(1280) && t.cameras.includes(320) && t; }})()"
        ),
        Duration::from_secs(45),
        "ann's screen in a tile of its own and her camera in hers",
    );
    assert_eq!(tiles["shares"], serde_json::json!([1280]), "{tiles}");
    assert_ne!(
        browser.eval("web", "window.confer.sfu.route"),
        serde_json::Value::Null,
        "the room did not go through Janus"
    );
    // Her share ends, her camera goes on.
    browser.wait_for(
        "web",
        &format!(
            "(() => {{ const t = {PAGE_TILES}; \
             return t.shares.length === 0 && t.cameras.includes(320); }})()"
        ),
        Duration::from_secs(40),
        "the share's tile gone, her camera still shown",
    );

    // The page shares its own (Chromium's fake screen) through Janus; Ann decodes it, then
    // hears that it ended.
    browser.click("web", "#share");
    let stats = home.path().join("ann.jsonl");
    let last = support::stats_until(&stats, "web", Duration::from_secs(60), |s| {
        through_janus(s) && count(s, "screen_frames_decoded") >= 10
    });
    assert!(
        through_janus(&last) && count(&last, "screen_frames_decoded") >= 10,
        "ann about the page's share: {last}\n{}",
        last_lines(&browser.log(), 100)
    );
    assert_eq!(last["screen_width_in"], 1280, "{last}");
    assert!(
        last["fps_in"].as_f64().unwrap_or(0.0) >= 5.0,
        "its camera beside it: {last}"
    );
    browser.click("web", "#share");
    let last = support::stats_until(&stats, "web", Duration::from_secs(30), |s| {
        s["screen_in"] == false
    });
    assert_eq!(last["screen_in"], false, "{last}");
    leave(ann, "ann", &janus);
}
