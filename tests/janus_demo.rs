//! Interop with Janus's own client: Debian's `janus-demos` VideoRoom page (`videoroomtest.html`
//! with `janus.js`) in Chromium, and a native participant, in the same room of a real Janus, in
//! both join orders: each sees and hears the other.

mod support;

use std::path::Path;
use std::time::Duration;

use support::browser::Browser;
use support::janus::{Janus, JanusRoomConfig, Netns};
use support::janus_demo::{PLAYS_REMOTE, demo_joins, demo_site};
use support::{CONFER, Owned, confer_as, join_synthetic, last_stats_by_name, require_tool};

const ROOM: u64 = 1234;

fn join_native(netns: &Netns, home: &Path, link: &str, seconds: u32) -> Owned {
    join_synthetic(
        confer_as(netns.command(CONFER), home),
        home,
        link,
        "native",
        seconds,
    )
}

fn meet(native_first: bool) {
    require_tool("janus", "janus");
    let netns = Netns::new();
    let janus = Janus::start(
        &netns,
        &[JanusRoomConfig {
            id: ROOM,
            pin: None,
            publishers: 6,
        }],
    );
    let home = tempfile::tempdir().unwrap();
    let site_dir = home.path().join("site");
    std::fs::create_dir(&site_dir).unwrap();
    let _site = demo_site(&netns, &janus, &site_dir);
    let link = janus.link(ROOM, None);
    let _inside = netns.enter();
    let mut browser = Browser::start(&home.path().join("browser.log"));
    let native = if native_first {
        let native = join_native(&netns, home.path(), &link, 25);
        // The native publishes first: its connection to Janus is up before the page comes.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !janus.log().contains("WebRTC media is now available") {
            assert!(
                std::time::Instant::now() < deadline,
                "the native never published\n{}",
                janus.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        demo_joins(&mut browser, "demo", ROOM);
        native
    } else {
        demo_joins(&mut browser, "demo", ROOM);
        browser.wait_for(
            "demo",
            "document.querySelector('#videolocal video') !== null",
            Duration::from_secs(20),
            "the demo publishing",
        );
        join_native(&netns, home.path(), &link, 20)
    };
    browser.wait_for(
        "demo",
        PLAYS_REMOTE,
        Duration::from_secs(25),
        "the native's video and audio on the demo page",
    );
    let mut native = native;
    let (status, stderr) = native
        .wait_with_stderr(Duration::from_secs(40))
        .expect("the native did not end");
    assert!(status.success(), "{stderr}\n{}", janus.log());
    let seen = last_stats_by_name(&home.path().join("native.jsonl"));
    let demo = seen
        .get("demo")
        .unwrap_or_else(|| panic!("the native never saw the demo page: {seen:?}"));
    let context = format!("native about the demo page: {demo}");
    assert_eq!(demo["state"], "connected", "{context}");
    assert!(
        demo["frames_decoded"].as_u64().unwrap_or(0) >= 50,
        "{context}"
    );
    assert!(
        demo["audio_packets_in"].as_u64().unwrap_or(0) >= 250,
        "{context}"
    );
    assert_eq!(demo["codec_video"], "H264", "{context}");
}

#[test]
fn janus_demo_page_then_a_native() {
    meet(false);
}

#[test]
fn a_native_then_janus_demo_page() {
    meet(true);
}
