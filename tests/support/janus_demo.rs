//! Janus's own client in the tests: Debian's `janus-demos` VideoRoom page
//! (`videoroomtest.html` with `janus.js`), served in a test's network namespace for Chromium.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::browser::Browser;
use super::janus::{Janus, Netns};
use super::{Owned, require_tool};

const DEMOS: &str = "/usr/share/janus/demos";

/// The demo pages served from 127.0.0.1 in the namespace (getUserMedia wants a secure
/// context), with a `settings.js` of the test's own: Debian's points at the HTTP transport and
/// leaves out `token` and `apisecret`, which the pages read.
pub fn demo_site(netns: &Netns, janus: &Janus, dir: &Path) -> Owned {
    require_tool("python3", "python3");
    for entry in std::fs::read_dir(DEMOS).expect("janus-demos is not installed") {
        let entry = entry.unwrap();
        if entry.file_name() == "settings.js" {
            continue;
        }
        let target = entry.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(target, dir.join(entry.file_name())).unwrap();
    }
    let settings = format!(
        "var server = \"{}\";\nvar iceServers = null;\nvar token = null;\nvar apisecret = null;\n",
        janus.ws_url()
    );
    std::fs::write(dir.join("settings.js"), settings).unwrap();
    let site = Owned(
        netns
            .command("python3")
            .args([
                "-m",
                "http.server",
                "8080",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !netns.accepts("127.0.0.1", 8080) {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo site did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    site
}

/// The demo page joins as `name` (letters and digits only: the page refuses others) and
/// publishes. Chromium once failed the page's loads with ERR_NETWORK_CHANGED (in about ten
/// runs, when the namespace's IPv6 addresses were still settling; namespaces are IPv4-only
/// since): the page is opened again, up to three times, should a load fail.
pub fn demo_joins(browser: &mut Browser, name: &str, room: u64) {
    const FORM_SHOWN: &str = "!document.querySelector('#registernow').classList.contains('hide')";
    let url = format!("http://127.0.0.1:8080/videoroomtest.html?room={room}");
    for attempt in 1..=3 {
        browser.open(name, &url);
        if attempt == 3 {
            browser.click(name, "#start");
            browser.wait_for(
                name,
                FORM_SHOWN,
                Duration::from_secs(20),
                "the demo's join form",
            );
            break;
        }
        let _ = browser.eval(name, "document.querySelector('#start')?.click()");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut shown = false;
        while std::time::Instant::now() < deadline {
            if browser.eval(name, FORM_SHOWN) == serde_json::Value::Bool(true) {
                shown = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if shown {
            break;
        }
    }
    browser.fill(name, "#username", name);
    browser.click(name, "#register");
}

/// Whether the demo page's own stream has reached Janus: its publishing connection (janus.js
/// keeps it on the plugin handle, `sfutest` in the page) is connected.
pub const PUBLISHES: &str = "window.sfutest?.webrtcStuff?.pc?.connectionState === 'connected'";

/// Whether the demo page plays a remote video with pictures in it and remote audio.
pub const PLAYS_REMOTE: &str = "(() => {
    const videos = [...document.querySelectorAll('video[id^=remotevideo]')];
    const audio = [...document.querySelectorAll('audio[id^=remotevideo]')];
    return videos.some(v => v.videoWidth > 0 && v.currentTime > 2) && audio.length > 0;
})()";
