//! Browser guests: Debian's headless Chromium opens `confer serve`'s page for a room, joins with
//! its fake camera and microphone, and calls native `confer join --headless` participants (a
//! WebRTC stack nobody here wrote, on the other end of every call). Each test runs in a network
//! namespace with only loopback, so the candidates are predictable; the browser tests run one
//! at a time (a Chromium and native 720p encoders fill both cores).

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::browser::{Browser, NetNs, RECEIVED};
use support::serve::Serve;
use support::{Owned, confer, join_synthetic, stats_lines_about};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const ROOM: &str = "guests";
const CALL_SECONDS: u32 = 20;

fn page_url(server: &Serve, name: &str, fragment: &str) -> String {
    format!("http://{}/j/{ROOM}?name={name}{fragment}", server.addr)
}

fn native(home: &Path, server: &Serve, name: &str, seconds: u32) -> Owned {
    let link = format!("confer://{}/{ROOM}?insecure=1", server.addr);
    join_synthetic(confer(home), home, &link, name, seconds)
}

/// Fills the name from the address (`?name=`), checks it, and presses "Join in the browser".
fn join_page(browser: &mut Browser, page: &str, url: &str, name: &str) {
    browser.open(page, url);
    assert_eq!(
        browser.eval(page, "document.getElementById('name').value"),
        name
    );
    assert_eq!(
        browser.eval(page, "document.getElementById('join').textContent"),
        "Join in the browser"
    );
    browser.click(page, "#join");
}

/// Waits for a native participant to end by itself, and returns its last stats line about
/// each remote, by name.
fn finish(home: &Path, participant: Owned, name: &str) -> HashMap<String, Value> {
    support::finish_call(home, participant, name, Duration::from_secs(40))
}

/// Sleeps until `margin` before `at`: the moment to look at a call about to end.
fn sleep_until_before(at: Instant, margin: Duration) {
    let left = at.saturating_duration_since(Instant::now());
    std::thread::sleep(left.saturating_sub(margin));
}

/// What the native side must have had from a browser over `seconds`.
fn check_native_saw_browser(seen: Option<&Value>, who: &str, seconds: f64) {
    let seen = seen.unwrap_or_else(|| panic!("{who} has no stats about the browser"));
    let context = format!("{who} about the browser: {seen}");
    assert_eq!(seen["state"], "connected", "{context}");
    assert_eq!(seen["codec_video"], "H264", "{context}");
    assert!(
        seen["width_in"].as_u64().is_some_and(|w| w > 0),
        "{context}"
    );
    // Chromium's fake camera runs at 20 to 30 fps; the debug build decodes less on two cores.
    let frames = seen["frames_decoded"].as_u64().unwrap_or(0);
    assert!(frames as f64 >= 5.0 * seconds, "{context}");
    let audio = seen["audio_packets_in"].as_u64().unwrap_or(0);
    assert!(audio as f64 >= 40.0 * seconds, "{context}");
}

/// What a page must have had from a native participant over `seconds`.
fn check_browser_saw(received: &Value, name: &str, seconds: f64) {
    let seen = &received[name];
    let context = format!("the browser about {name}: {received}");
    assert_eq!(seen["state"], "connected", "{context}");
    assert_eq!(seen["codec"], "video/H264", "{context}");
    assert_eq!(seen["width"], 1280, "{context}");
    let frames = seen["frames"].as_u64().unwrap_or(0);
    assert!(frames as f64 >= 5.0 * seconds, "{context}");
    assert_eq!(seen["audio_codec"], "audio/opus", "{context}");
    // Chromium offers DTLS 1.3 and Confer takes it (FEFC: 1.3's wire version; 1.2 is FEFD).
    assert_eq!(seen["dtls"], "FEFC", "{context}");
    // 48,000 samples a second when played; most of the call.
    let samples = seen["samples"].as_u64().unwrap_or(0);
    assert!(samples as f64 >= 30_000.0 * seconds, "{context}");
}

fn one_to_one(browser_first: bool) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ns = NetNs::enter();
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &["--open"]);
    let mut browser = Browser::start(&home.path().join("browser.log"));
    let url = page_url(&server, "Ann", "");
    let nat;
    let ends;
    if browser_first {
        join_page(&mut browser, "ann", &url, "Ann");
        browser.wait_for("ann", "window.confer.id", Duration::from_secs(10), "joined");
        nat = native(home.path(), &server, "nat", CALL_SECONDS);
        ends = Instant::now() + Duration::from_secs(CALL_SECONDS.into());
    } else {
        nat = native(home.path(), &server, "nat", CALL_SECONDS + 3);
        ends = Instant::now() + Duration::from_secs((CALL_SECONDS + 3).into());
        std::thread::sleep(Duration::from_secs(3));
        join_page(&mut browser, "ann", &url, "Ann");
    }
    browser.wait_for(
        "ann",
        &format!("{RECEIVED}.then(r => r.nat && r.nat.frames > 0)"),
        Duration::from_secs(15),
        "no picture from the native participant",
    );
    // The page's view just before the native participant leaves.
    sleep_until_before(ends, Duration::from_secs(2));
    let received = browser.eval("ann", RECEIVED);
    // The page shows the native participant's tile, with its name.
    assert_eq!(
        browser.eval(
            "ann",
            "[...document.querySelectorAll('.tile .label')].map(l => l.firstChild.textContent).sort().join(',')"
        ),
        "Ann (you),nat"
    );
    let seen = finish(home.path(), nat, "nat");
    check_browser_saw(&received, "nat", f64::from(CALL_SECONDS) - 8.0);
    check_native_saw_browser(seen.get("Ann"), "nat", f64::from(CALL_SECONDS) - 8.0);
    // Its call ended: it said so, and its tile goes at once (not after the server's grace
    // period for dropped connections).
    browser.wait_for(
        "ann",
        &format!("{} === null", tile_of("nat")),
        Duration::from_secs(5),
        "the native participant's tile stays after it left",
    );
}

#[test]
fn a_browser_guest_joins_a_native_participant_who_was_there_first() {
    one_to_one(false);
}

#[test]
fn a_native_participant_joins_a_browser_guest_who_was_there_first() {
    one_to_one(true);
}

#[test]
fn a_browser_guest_joins_a_mesh_of_two_native_participants() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ns = NetNs::enter();
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &["--open"]);
    let seconds = CALL_SECONDS + 6;
    let first = native(home.path(), &server, "nat1", seconds);
    std::thread::sleep(Duration::from_secs(2));
    let second = native(home.path(), &server, "nat2", seconds - 2);
    let ends = Instant::now() + Duration::from_secs((seconds - 2).into());
    std::thread::sleep(Duration::from_secs(2));
    let mut browser = Browser::start(&home.path().join("browser.log"));
    // The newcomer offers to both natives at once.
    join_page(&mut browser, "ann", &page_url(&server, "Ann", ""), "Ann");
    browser.wait_for(
        "ann",
        &format!("{RECEIVED}.then(r => r.nat1?.frames > 0 && r.nat2?.frames > 0)"),
        Duration::from_secs(20),
        "no picture from both natives",
    );
    sleep_until_before(ends, Duration::from_secs(2));
    let received = browser.eval("ann", RECEIVED);
    let span = f64::from(CALL_SECONDS) - 10.0;
    let seen_second = finish(home.path(), second, "nat2");
    let seen_first = finish(home.path(), first, "nat1");
    for (who, seen) in [("nat1", &seen_first), ("nat2", &seen_second)] {
        check_browser_saw(&received, who, span);
        check_native_saw_browser(seen.get("Ann"), who, span);
    }
    // And the natives, each other, all along.
    let other = &seen_second["nat1"];
    assert_eq!(other["state"], "connected", "{other}");
    assert!(
        other["frames_decoded"].as_u64().unwrap_or(0) as f64 >= 5.0 * span,
        "{other}"
    );
}

/// The tile of the participant called `name` on a page, as `{audio, video}`, or null.
fn tile_of(name: &str) -> String {
    format!(
        "(() => {{ const t = [...document.querySelectorAll('.tile')].find(t => t.dataset.name === {name:?}); \
         return t ? {{ audio: t.dataset.audio, video: t.dataset.video }} : null; }})()"
    )
}

#[test]
fn the_page_admits_a_valid_invite_and_explains_a_bad_one_and_a_full_room() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ns = NetNs::enter();
    let home = tempfile::tempdir().unwrap();
    // Tokens checked (the server's own secret), and room for one.
    let server = Serve::start(home.path(), &["--max-peers-per-room", "1"]);
    let out = support::run(confer(home.path()).args([
        "invite",
        "--server",
        &format!("http://{}", server.addr),
        "--room",
        ROOM,
    ]));
    assert!(out.status.success(), "{}", support::stderr(&out));
    let stdout = support::stdout(&out);
    let link = stdout
        .lines()
        .find(|l| l.starts_with("http://"))
        .unwrap_or_else(|| panic!("no browser link in {stdout}"));
    let (page, fragment) = link.split_once('#').expect("the token in the fragment");
    let mut browser = Browser::start(&home.path().join("browser.log"));

    let problem = "(() => { const p = document.getElementById('problem'); \
                   return !p.hidden && !document.getElementById('lobby').hidden && p.textContent; })()";
    for (who, fragment) in [("forged", "#t=1999999999.Zm9yZ2Vk"), ("none", "")] {
        join_page(
            &mut browser,
            who,
            &format!("{page}?name={who}{fragment}"),
            who,
        );
        let text = browser.wait_for(who, problem, Duration::from_secs(10), "no problem shown");
        assert!(
            text.as_str().is_some_and(|t| t.contains("not valid")),
            "{who}: {text}"
        );
        browser.close(who);
    }

    join_page(
        &mut browser,
        "ann",
        &format!("{page}?name=Ann#{fragment}"),
        "Ann",
    );
    // The app's form of the same invite, token and all.
    assert_eq!(
        browser.eval("ann", "document.getElementById('open-app').href"),
        format!("confer://{}/{ROOM}?insecure=1#{fragment}", server.addr)
    );
    browser.wait_for(
        "ann",
        "window.confer.id",
        Duration::from_secs(10),
        "not admitted",
    );
    join_page(
        &mut browser,
        "bo",
        &format!("{page}?name=Bo#{fragment}"),
        "Bo",
    );
    let text = browser.wait_for("bo", problem, Duration::from_secs(10), "no problem shown");
    assert!(text.as_str().is_some_and(|t| t.contains("full")), "{text}");
    // The one inside is not disturbed.
    assert!(browser.eval("ann", "!document.getElementById('meeting').hidden") == true);
}

#[test]
fn mute_camera_chat_and_leaving_reach_the_others() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _ns = NetNs::enter();
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &["--open"]);
    let nat = native(home.path(), &server, "nat", 15);
    let mut browser = Browser::start(&home.path().join("browser.log"));
    join_page(&mut browser, "ann", &page_url(&server, "Ann", ""), "Ann");
    join_page(&mut browser, "bo", &page_url(&server, "Bo", ""), "Bo");
    browser.wait_for(
        "bo",
        &format!("{RECEIVED}.then(r => r.Ann?.frames > 0 && r.nat?.frames > 0)"),
        Duration::from_secs(20),
        "Bo does not see Ann and the native participant",
    );
    assert_eq!(browser.eval("bo", &tile_of("Ann"))["audio"], "on");

    // Chat: Ann writes, Bo is told there is something new and reads it as text.
    browser.click("ann", "#chat-toggle");
    browser.fill("ann", "#chat-text", "<b>hi</b> Bo");
    browser.click("ann", "#send");
    browser.wait_for(
        "bo",
        "document.getElementById('chat-toggle').textContent === 'Chat (1 new)'",
        Duration::from_secs(5),
        "Bo is not told of Ann's message",
    );
    browser.click("bo", "#chat-toggle");
    assert_eq!(
        browser.eval(
            "bo",
            "[...document.querySelectorAll('#messages li')].map(l => \
             l.querySelector('.who').textContent + ': ' + l.querySelector('.text').textContent).join('|')"
        ),
        "Ann: <b>hi</b> Bo"
    );
    assert_eq!(
        browser.eval("bo", "document.querySelectorAll('#messages b').length"),
        0
    );

    browser.click("ann", "#mic");
    assert_eq!(
        browser.eval("ann", "document.getElementById('mic').textContent"),
        "Unmute"
    );
    assert_eq!(
        browser.eval("ann", "window.confer.stream.getAudioTracks()[0].enabled"),
        false
    );
    browser.wait_for(
        "bo",
        &format!("{}?.audio === 'off'", tile_of("Ann")),
        Duration::from_secs(5),
        "Ann's mute is not shown",
    );
    // Long enough for a stats line of the native participant's.
    std::thread::sleep(Duration::from_millis(1500));
    browser.click("ann", "#camera");
    browser.wait_for(
        "bo",
        &format!("{}?.video === 'off'", tile_of("Ann")),
        Duration::from_secs(5),
        "Ann's camera-off is not shown",
    );
    browser.click("ann", "#mic");
    browser.wait_for(
        "bo",
        &format!("{}?.audio === 'on'", tile_of("Ann")),
        Duration::from_secs(5),
        "Ann's unmute is not shown",
    );

    // The native participant's call ends: its tile goes.
    let seen = finish(home.path(), nat, "nat");
    assert!(seen.contains_key("Bo"), "{seen:?}");
    // The native side heard it too (its stats, and events for a window).
    let about_ann = stats_lines_about(&home.path().join("nat.jsonl"), "Ann");
    assert!(
        about_ann.iter().any(|l| l["mic_on"] == false),
        "{about_ann:?}"
    );
    let last = about_ann.last().expect("lines about Ann");
    assert!(
        last["mic_on"] == true && last["camera_on"] == false,
        "{last}"
    );
    browser.wait_for(
        "bo",
        &format!("{} === null", tile_of("nat")),
        Duration::from_secs(10),
        "the native participant's tile stays after it left",
    );
    // Ann leaves: her page says so, and her tile goes from Bo's.
    browser.click("ann", "#leave");
    assert_eq!(
        browser.eval("ann", "!document.getElementById('left').hidden"),
        true
    );
    browser.wait_for(
        "bo",
        &format!("{} === null", tile_of("Ann")),
        Duration::from_secs(5),
        "Ann's tile stays after she left",
    );
}

/// What a page's one connection shows of repair and congestion control: NACKs, PLIs and
/// resends each way (`getStats`), the estimate the sender works from, and what the native
/// side's session description agreed to.
const REPAIR: &str = r#"(async () => {
  const pc = [...window.confer.peers.values()][0].pc;
  const stats = await pc.getStats();
  const out = {};
  for (const r of stats.values()) {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      Object.assign(out, { frames: r.framesDecoded, nacks_sent: r.nackCount, plis_sent: r.pliCount,
        resent_in: r.retransmittedPacketsReceived, lost_in: r.packetsLost });
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      Object.assign(out, { nacks_in: r.nackCount, plis_in: r.pliCount, resent_out: r.retransmittedPacketsSent });
    }
    if (r.type === "candidate-pair" && r.nominated) out.estimate_out = r.availableOutgoingBitrate;
  }
  const sdp = pc.currentRemoteDescription.sdp;
  out.agreed = {
    bundle: /^a=group:BUNDLE \S+ \S+/m.test(sdp),
    rtcp_mux: /^a=rtcp-mux/m.test(sdp),
    transport_cc: /^a=extmap:\d+ http:\/\/www\.ietf\.org\/id\/draft-holmer-rmcat-transport-wide-cc-extensions-01/m.test(sdp)
      && /^a=rtcp-fb:\d+ transport-cc/m.test(sdp),
    nack: /^a=rtcp-fb:\d+ nack\r?$/m.test(sdp),
    pli: /^a=rtcp-fb:\d+ nack pli/m.test(sdp),
  };
  return out;
})()"#;

/// The SSRC the native side resends video from (RTX), as its session description to the
/// page's one connection names it (`a=ssrc-group:FID MEDIA RESENDS`).
const NATIVE_VIDEO_RESEND_SSRC: &str = r#"(() => {
  const pc = [...window.confer.peers.values()][0].pc;
  const video = pc.currentRemoteDescription.sdp.split(/^m=/m).find(s => s.startsWith("video"));
  const group = video && video.match(/^a=ssrc-group:FID \d+ (\d+)/m);
  return group ? Number(group[1]) : null;
})()"#;

/// A guest (Ann, in the browser) and a native participant (nat) in a call of
/// `CALL_SECONDS` in a namespace of its own, once Ann has a picture from nat. Fields drop in
/// the order written: the processes first, then the server, the files, the namespace and the
/// turn.
struct GuestAndNative {
    nat: Owned,
    browser: Browser,
    _server: Serve,
    home: tempfile::TempDir,
    ns: NetNs,
    _turn: std::sync::MutexGuard<'static, ()>,
    /// When nat leaves.
    ends: Instant,
}

fn guest_and_native() -> GuestAndNative {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let ns = NetNs::enter();
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &["--open"]);
    let mut browser = Browser::start(&home.path().join("browser.log"));
    join_page(&mut browser, "ann", &page_url(&server, "Ann", ""), "Ann");
    browser.wait_for("ann", "window.confer.id", Duration::from_secs(10), "joined");
    let nat = native(home.path(), &server, "nat", CALL_SECONDS);
    let ends = Instant::now() + Duration::from_secs(CALL_SECONDS.into());
    browser.wait_for(
        "ann",
        &format!("{RECEIVED}.then(r => r.nat && r.nat.frames > 0)"),
        Duration::from_secs(15),
        "no picture from the native participant",
    );
    GuestAndNative {
        nat,
        browser,
        _server: server,
        home,
        ns,
        _turn: turn,
        ends,
    }
}

#[test]
fn under_loss_a_guest_and_a_native_repair_each_others_video() {
    let mut call = guest_and_native();
    // 3 % of the media lost each way from here on.
    call.ns.drop_udp(0.03);
    let before = call.browser.eval("ann", REPAIR);
    sleep_until_before(call.ends, Duration::from_secs(2));
    let after = call.browser.eval("ann", REPAIR);
    let seen = finish(call.home.path(), call.nat, "nat");
    let context = format!("before the loss {before}\nat the end {after}");
    for (what, agreed) in after["agreed"].as_object().expect("agreed").iter() {
        assert_eq!(agreed, true, "{what} not agreed: {context}");
    }
    let grew = |key: &str| after[key].as_u64().unwrap_or(0) > before[key].as_u64().unwrap_or(0);
    // Chromium asked for what it lost and the native side resent it (RTX), and the other way.
    assert!(grew("nacks_sent") && grew("resent_in"), "{context}");
    assert!(grew("nacks_in") && grew("resent_out"), "{context}");
    // Chromium's sender works from an estimate, which needs the native side's transport-wide
    // feedback.
    assert!(
        after["estimate_out"].as_f64().is_some_and(|b| b > 0.0),
        "{context}"
    );
    // Video went on: most of what the loss window should hold was decoded, both ways.
    let frames = after["frames"].as_u64().unwrap_or(0) - before["frames"].as_u64().unwrap_or(0);
    assert!(frames >= 60, "{frames} frames under loss: {context}");
    check_native_saw_browser(seen.get("Ann"), "nat", f64::from(CALL_SECONDS) - 10.0);
}

#[test]
fn after_a_blackout_each_side_asks_the_other_for_a_keyframe_and_video_comes_back() {
    let mut call = guest_and_native();
    std::thread::sleep(Duration::from_secs(2));
    let before = call.browser.eval("ann", REPAIR);
    let native_stats = call.home.path().join("nat.jsonl");
    let native_plis = || {
        stats_lines_about(&native_stats, "Ann")
            .last()
            .and_then(|l| l["pli_count"].as_u64())
            .unwrap_or(0)
    };
    let native_plis_before = native_plis();
    let native_resends = call
        .browser
        .eval("ann", NATIVE_VIDEO_RESEND_SSRC)
        .as_u64()
        .and_then(|ssrc| u32::try_from(ssrc).ok())
        .expect("the native side's video resend SSRC in its session description");
    // A second and a half without any media either way: short of an ICE restart (3 s of
    // silence). The native side keeps 3 s of video to resend, so Chromium's NACKs alone could
    // mend the gap (they did once on CI, with no PLI): its resends are lost from here on, and
    // only a keyframe can bring Chromium's picture back.
    call.ns.drop_rtp_from_ssrc(native_resends);
    call.ns.cut_udp();
    std::thread::sleep(Duration::from_millis(1500));
    call.ns.restore_udp();
    let restored = call.browser.eval("ann", REPAIR);
    let plis_before = before["plis_sent"].as_u64().unwrap_or(0);
    call.browser.wait_for(
        "ann",
        &format!("{REPAIR}.then(r => r.plis_sent > {plis_before})"),
        Duration::from_secs(8),
        "Chromium sent no PLI after the blackout",
    );
    sleep_until_before(call.ends, Duration::from_secs(2));
    let after = call.browser.eval("ann", REPAIR);
    let native_plis_after = native_plis();
    let resends_dropped = call.ns.dropped_from_ssrc();
    let seen = finish(call.home.path(), call.nat, "nat");
    let context = format!(
        "before {before}\nas the path came back {restored}\nat the end {after}\n\
         the native side's PLIs: {native_plis_before} before, {native_plis_after} after\n\
         its resends dropped: {resends_dropped}"
    );
    // The gap was there to mend: Chromium asked for what it lost, and what the native side
    // resent did not arrive.
    assert!(resends_dropped > 0, "no resend dropped: {context}");
    let count = |stats: &serde_json::Value, key: &str| stats[key].as_u64().unwrap_or(0);
    // Chromium asked the native side for a keyframe (a PLI).
    assert!(
        count(&after, "plis_sent") > count(&before, "plis_sent"),
        "Chromium sent no PLI: {context}"
    );
    // The native side asks Chromium when its decoder saw a gap that resends did not mend
    // (most runs: Chromium's resend history is shorter than the blackout); its PLIs reach
    // Chromium. Where resends mended everything it needs none, and its pictures coming back
    // (below) is what shows it.
    if native_plis_after > native_plis_before {
        assert!(
            count(&after, "plis_in") > count(&before, "plis_in"),
            "the native side's PLIs did not reach Chromium: {context}"
        );
    }
    // Pictures came back both ways.
    assert!(
        count(&after, "frames") >= count(&restored, "frames") + 60,
        "Chromium's pictures did not come back: {context}"
    );
    // The native side's last stats line, a second before it left: pictures flowing again
    // (Chromium's fake camera runs at 20 to 30 fps).
    let fps = seen.get("Ann").and_then(|l| l["fps_in"].as_f64());
    assert!(
        fps.is_some_and(|fps| fps >= 10.0),
        "the native side's pictures did not come back: {seen:?}"
    );
}

/// A screenshot, as RGB pixels.
struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Shot {
    fn read(path: &Path) -> Shot {
        use zune_jpeg::zune_core::{
            bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions,
        };
        let data = std::fs::read(path).expect("the screenshot");
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&data), options);
        let rgb = decoder.decode().expect("a JPEG");
        let (width, height) = decoder.dimensions().expect("its size");
        Shot { width, height, rgb }
    }

    /// Whether the pixel at (x, y) is within a JPEG's error of `colour`.
    fn is(&self, x: usize, y: usize, colour: [u8; 3]) -> bool {
        let at = (y * self.width + x) * 3;
        (0..3).all(|c| self.rgb[at + c].abs_diff(colour[c]) <= 8)
    }
}

/// The page's background and its control bar's (room.css).
const PAGE: [u8; 3] = [0x1b, 0x1b, 0x1f];
const BAR: [u8; 3] = [0x11, 0x11, 0x11];

/// The meeting page's layout, read from screenshots at four window sizes once the banner is
/// gone: the control bar stays a bar at the bottom, and the tiles take the height above it
/// (the bar once took the stage's share: 360 px of a 700 px window).
#[test]
fn the_meeting_page_gives_the_tiles_the_height_at_every_window_size() {
    let mut call = guest_and_native();
    call.browser.wait_for(
        "ann",
        "document.getElementById('banner').hidden",
        Duration::from_secs(10),
        "the banner gone",
    );
    for (width, height) in [(1100, 700), (800, 600), (480, 700), (1400, 900)] {
        let path = call.home.path().join(format!("page-{width}x{height}.jpg"));
        call.browser.screenshot("ann", width, height, &path);
        let shot = Shot::read(&path);
        assert_eq!((shot.width, shot.height), (width as usize, height as usize));
        let keep = || {
            let kept = std::env::temp_dir().join(format!("confer-page-{width}x{height}.jpg"));
            let _ = std::fs::copy(&path, &kept);
            kept.display().to_string()
        };
        // The bar: rows of its colour at the left edge, up from the bottom.
        let bar = (0..shot.height)
            .rev()
            .take_while(|y| shot.is(2, *y, BAR))
            .count();
        assert!(
            (30..=120).contains(&bar),
            "{width}x{height}: the control bar is {bar} px tall (screenshot: {})",
            keep()
        );
        // Above it, rows with a tile in them (anything but the page's background).
        let stage = shot.height - bar;
        let tiled = (0..stage)
            .filter(|y| (0..shot.width).step_by(4).any(|x| !shot.is(x, *y, PAGE)))
            .count();
        assert!(
            tiled * 100 >= stage * 85,
            "{width}x{height}: tiles fill {tiled} of the {stage} px above the bar (screenshot: {})",
            keep()
        );
    }
    // The page's raised hand reaches the native participant (`media-state`'s `hand`).
    call.browser.click("ann", "#hand");
    assert_eq!(
        call.browser
            .eval("ann", "document.getElementById('hand').textContent"),
        "Lower hand"
    );
    let seen = finish(call.home.path(), call.nat, "nat");
    assert_eq!(seen["Ann"]["hand_up"], true, "{:?}", seen.get("Ann"));
}
