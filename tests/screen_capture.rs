#![cfg(target_os = "linux")]

//! Screens and windows to share, on a real X server (Xvfb): the picker's list and thumbnails,
//! pictures of a screen and of a window that hold exactly what was drawn (text included), none
//! while the screen rests, a hidden window pauses and one that goes is an error, not a panic;
//! and a share through the screen encoder and a decoder (real OpenH264) arrives with its text
//! sharp.

mod support;

use std::time::{Duration, Instant};

use confer::media::video::convert::bgrx_to_i420;
use confer::media::video::encode_thread::EncodeThread;
use confer::media::video::h264::Content;
use confer::media::video::mailbox::frame_mailbox;
use confer::media::video::screen::{
    ScreenCapture, ScreenError, ShareTarget, shareables, thumbnail,
};
use confer::media::video::share_thread::{ShareEvent, start_share};
use confer::media::video::{EncodedFrame, EncoderSettings, H264Decoder, I420Frame};
use support::document::{AT, DOC, TITLE, document, document_psnr, draw, read_ppm, show_document};
use support::xvfb::Xvfb;
use x11rb::protocol::xproto::{ConfigureWindowAux, ConnectionExt, Window};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

const SCREEN: (usize, usize) = (1280, 720);

/// The part of `frame` at `(x, y)` of `size`, as its own picture (even offsets and sizes).
fn crop(frame: &I420Frame, (x, y): (usize, usize), (w, h): (usize, usize)) -> I420Frame {
    let fw = frame.width();
    let (ys, us, vs) = (
        &frame.y()[y * fw + x..],
        &frame.u()[(y / 2) * (fw / 2) + x / 2..],
        &frame.v()[(y / 2) * (fw / 2) + x / 2..],
    );
    I420Frame::from_planes((w, h), (ys, us, vs), (fw, fw / 2, fw / 2))
}

/// Whether two pictures have the same pixels (when they were taken aside).
fn same_pixels(a: &I420Frame, b: &I420Frame) -> bool {
    (a.width(), a.height(), a.y(), a.u(), a.v()) == (b.width(), b.height(), b.y(), b.u(), b.v())
}

fn setup() -> (Xvfb, RustConnection, Vec<u8>, Window) {
    let xvfb = Xvfb::start(SCREEN);
    let (conn, _) = x11rb::connect(Some(&xvfb.display)).expect("cannot reach Xvfb");
    let pixels = document([200, 90, 30, 0]);
    let window = show_document(&conn, &pixels);
    (xvfb, conn, pixels, window)
}

#[test]
fn the_picker_lists_the_screen_and_the_window_with_thumbnails() {
    let (xvfb, _conn, _, window) = setup();
    let display = Some(xvfb.display.as_str());
    let found = shareables(display).unwrap();
    let screen = found
        .iter()
        .find(|s| matches!(s.target, ShareTarget::Screen { .. }))
        .unwrap_or_else(|| panic!("no screen in {found:?}"));
    assert_eq!((screen.width, screen.height), (1280, 720), "{found:?}");
    let doc = found
        .iter()
        .find(|s| s.target == ShareTarget::Window(window))
        .unwrap_or_else(|| panic!("no window in {found:?}"));
    assert_eq!(doc.name, TITLE);
    assert_eq!((doc.width, doc.height), (640, 360));
    // Thumbnails fit the picker's cell and keep the shape: the screen's shows the white
    // document on black, where it is.
    let small = thumbnail(display, screen.target, (320, 180)).unwrap();
    assert_eq!((small.width, small.height), (320, 180));
    let at = |x: usize, y: usize| &small.pixels[(y * small.width + x) * 4..][..3];
    assert_eq!(at(5, 5), [0, 0, 0], "the root, outside the document");
    assert!(
        at(100, 80).iter().all(|&c| c > 150),
        "the document: {:?}",
        at(100, 80)
    );
    let small = thumbnail(display, doc.target, (320, 180)).unwrap();
    assert_eq!((small.width, small.height), (320, 180));
}

#[test]
fn a_shared_screen_holds_what_was_drawn_and_rests_when_nothing_changes() {
    let (xvfb, conn, pixels, window) = setup();
    let target = ShareTarget::Screen {
        x: 0,
        y: 0,
        width: 1280,
        height: 720,
    };
    let mut capture = ScreenCapture::open(Some(&xvfb.display), target).unwrap();
    // Xvfb has MIT-SHM: the pictures below come through shared memory, not the socket.
    assert!(capture.uses_shared_memory());
    let first = capture
        .next_if_changed()
        .unwrap()
        .expect("the first picture");
    assert_eq!((first.width(), first.height()), SCREEN);
    let (w, h) = (usize::from(DOC.0), usize::from(DOC.1));
    let drawn = bgrx_to_i420(&pixels, w, h, w * 4).unwrap();
    let at = (AT.0 as usize, AT.1 as usize);
    // Exactly what was drawn, every pixel of text: nothing is lost before the encoder.
    assert!(same_pixels(&crop(&first, at, (w, h)), &drawn));
    // At rest: no picture to take.
    assert!(capture.next_if_changed().unwrap().is_none());
    // The heading changes colour: the next picture has it.
    let changed = document([30, 160, 40, 0]);
    draw(&conn, window, &changed);
    let deadline = Instant::now() + Duration::from_secs(10);
    let next = loop {
        if let Some(picture) = capture.next_if_changed().unwrap() {
            break picture;
        }
        assert!(Instant::now() < deadline, "the change was never seen");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(same_pixels(
        &crop(&next, at, (w, h)),
        &bgrx_to_i420(&changed, w, h, w * 4).unwrap()
    ));
}

#[test]
fn a_shared_window_is_its_own_picture_and_its_end_is_an_error() {
    let (xvfb, conn, pixels, window) = setup();
    let mut capture =
        ScreenCapture::open(Some(&xvfb.display), ShareTarget::Window(window)).unwrap();
    let (w, h) = (usize::from(DOC.0), usize::from(DOC.1));
    let picture = capture.grab().unwrap();
    let drawn = bgrx_to_i420(&pixels, w, h, w * 4).unwrap();
    assert!(same_pixels(&picture, &drawn));
    assert!(picture.captured > std::time::SystemTime::UNIX_EPOCH);
    // Hidden (minimized), the share pauses; shown again, it goes on.
    conn.unmap_window(window).unwrap();
    conn.sync().unwrap();
    assert!(capture.next_if_changed().unwrap().is_none());
    conn.map_window(window).unwrap();
    draw(&conn, window, &pixels);
    let again = capture
        .next_if_changed()
        .unwrap()
        .expect("the window shown again");
    assert!(same_pixels(&again, &drawn));
    // Half off the screen: the half people see.
    conn.configure_window(window, &ConfigureWindowAux::new().x(1280 - 320))
        .unwrap();
    conn.sync().unwrap();
    let half = capture.grab().unwrap();
    assert_eq!((half.width(), half.height()), (320, 360));
    conn.destroy_window(window).unwrap();
    conn.sync().unwrap();
    assert_eq!(capture.grab().err(), Some(ScreenError::Gone));
    assert_eq!(
        ScreenCapture::open(Some(&xvfb.display), ShareTarget::Window(window)).err(),
        Some(ScreenError::Gone)
    );
}

/// A shared window through the screen encoder (as a call sends it) and a decoder (as the
/// others receive it): the text arrives sharp, a screen at rest costs next to nothing, and the
/// window's end ends the share with a reason.
#[test]
fn a_shared_window_arrives_sharp_costs_little_at_rest_and_ends_with_the_window() {
    let (xvfb, conn, pixels, window) = setup();
    let (pictures_in, pictures) = frame_mailbox();
    let (encoded_in, encoded) = std::sync::mpsc::sync_channel::<EncodedFrame>(64);
    let settings = EncoderSettings {
        bitrate_bps: 1_000_000,
        max_fps: 15.0,
    };
    let _encoder =
        EncodeThread::start_for(pictures, settings, Content::Screen, encoded_in, None).unwrap();
    let (events_in, events) = std::sync::mpsc::sync_channel(8);
    let share = start_share(
        Some(xvfb.display.clone()),
        ShareTarget::Window(window),
        15,
        pictures_in,
        events_in,
    )
    .unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)),
        Ok(ShareEvent::Started {
            width: 640,
            height: 360
        })
    );
    let (w, h) = (usize::from(DOC.0), usize::from(DOC.1));
    let drawn = bgrx_to_i420(&pixels, w, h, w * 4).unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    // Six seconds of a window at rest: the picture sharpens to where text is crisp, and then
    // costs a few bytes a second.
    let mut best = 0.0f64;
    let mut bytes_by_second = [0usize; 6];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let Ok(unit) = encoded.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let second = (started.elapsed().as_secs() as usize).min(5);
        bytes_by_second[second] += unit.data.len();
        if let Some(picture) = decoder.decode(&unit.data).unwrap() {
            assert_eq!((picture.width(), picture.height()), (w, h));
            best = best.max(picture.psnr_y(&drawn).unwrap_or(0.0));
        }
    }
    eprintln!("window at rest: best {best:.1} dB; bytes each second {bytes_by_second:?}");
    assert!(best > 38.0, "the text did not arrive sharp: {best:.1} dB");
    // The picture is refined for four seconds (repeats the encoder sharpens, a few dozen bytes
    // each once sharp), then sent once a second.
    assert!(
        bytes_by_second[1..4].iter().all(|b| *b < 3000) && bytes_by_second[5] < 500,
        "a window at rest still cost {bytes_by_second:?} bytes a second"
    );
    conn.destroy_window(window).unwrap();
    conn.sync().unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)),
        Ok(ShareEvent::Ended(ScreenError::Gone))
    );
    drop(share);
}

/// `confer devices` lists what can be shared, with ids, beside the cameras and microphones.
#[test]
fn confer_devices_lists_the_screen_and_the_window() {
    let (xvfb, _conn, _, window) = setup();
    let home = tempfile::tempdir().unwrap();
    let out = support::confer(home.path())
        .arg("devices")
        .env("DISPLAY", &xvfb.display)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let listed = text
        .split_once("Screens and windows to share:\n")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no such section:\n{text}"));
    assert!(listed.contains("  screen:1 "), "{text}");
    assert!(listed.contains("1280x720"), "{text}");
    let line = format!("window:{window:#x}  {TITLE}  640x360");
    assert!(listed.contains(&line), "no '{line}' in\n{text}");
    // In a Wayland session DISPLAY is XWayland, which shows none of the Wayland windows: a
    // sentence says why nothing can be shared, rather than a black screen offered.
    let out = support::confer(home.path())
        .arg("devices")
        .env("DISPLAY", &xvfb.display)
        .env("WAYLAND_DISPLAY", "wayland-0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "Screens and windows to share:\n  cannot share the screen: this is a Wayland session"
        ),
        "{text}"
    );
}

#[test]
fn no_display_is_a_sentence() {
    let e = shareables(Some(":4097")).unwrap_err();
    assert!(matches!(e, ScreenError::NoDisplay(_)), "{e:?}");
    assert!(e.to_string().starts_with("cannot reach the display"), "{e}");
}

/// Two natives in a meeting (`confer serve`, `confer join --headless`): one shares the X
/// screen showing the document (`--share screen`), the other receives it beside the camera,
/// and the picture it keeps (`--save-share`) holds the document's text.
#[test]
fn a_native_shares_its_screen_and_another_sees_the_text_in_its_pictures() {
    let (xvfb, _conn, pixels, _window) = setup();
    let home = tempfile::tempdir().unwrap();
    let server = support::serve::Serve::start(home.path(), &["--open"]);
    let link = format!("confer://{}/share?insecure=1", server.addr);
    let saved = home.path().join("bob-share.ppm");
    let join = |name: &str, extra: &[&str]| {
        let mut cmd = support::confer(home.path());
        cmd.env("DISPLAY", &xvfb.display);
        support::join_with(cmd, home.path(), &link, name, 120, extra)
    };
    let alice = join(
        "alice",
        &["--camera", "test-pattern:320x180", "--share", "screen"],
    );
    let bob_options = [
        "--camera",
        "test-pattern:320x180",
        "--save-share",
        saved.to_str().unwrap(),
    ];
    let bob = join("bob", &bob_options);
    // Until Bob has decoded a few seconds of the share (what his stats say each second).
    let stats = home.path().join("bob.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        if let Some(line) = support::stats_lines_about(&stats, "alice").pop() {
            last = line;
        }
        if last["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        last["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10,
        "bob about alice: {last}"
    );
    assert_eq!(last["screen_in"], true, "{last}");
    assert_eq!(
        (
            last["screen_width_in"].as_u64(),
            last["screen_height_in"].as_u64()
        ),
        (Some(1280), Some(720)),
        "{last}"
    );
    // The camera goes on beside the share.
    assert_eq!(last["width_in"], 320, "{last}");
    for (name, mut participant) in [("bob", bob), ("alice", alice)] {
        participant.signal("TERM");
        let (status, stderr) = participant
            .wait_with_stderr(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{name} did not end"));
        assert!(status.success(), "{name}: {stderr}");
    }
    // The document, where it is on the screen, in what Bob kept: compared as luma.
    let ((width, height), rgb) = read_ppm(&saved);
    assert_eq!((width, height), SCREEN);
    let psnr = document_psnr(&pixels, &rgb, width);
    eprintln!("the document in bob's picture of alice's screen: {psnr:.1} dB");
    assert!(psnr > 28.0, "the text did not arrive: {psnr:.1} dB");
}

/// A browser guest and a native in one meeting: the guest's page shows the native's shared
/// screen on its stage (the document's colours found where they are on the screen), then the
/// guest shares its own (Chromium's fake screen, through getDisplayMedia) and the native
/// decodes it; the guest stops, and the native hears of it.
#[test]
fn a_browser_guest_sees_a_native_share_and_shares_its_own() {
    let (xvfb, _conn, _, _window) = setup();
    let home = tempfile::tempdir().unwrap();
    let server = support::serve::Serve::start(home.path(), &["--open"]);
    let link = format!("confer://{}/share?insecure=1", server.addr);
    let saved = home.path().join("alice-share.ppm");
    let mut cmd = support::confer(home.path());
    cmd.env("DISPLAY", &xvfb.display);
    let options = [
        "--camera",
        "test-pattern:320x180",
        "--share",
        "screen",
        "--save-share",
        saved.to_str().unwrap(),
    ];
    let mut alice = support::join_with(cmd, home.path(), &link, "alice", 120, &options);
    let mut browser = support::browser::Browser::start(&home.path().join("browser.log"));
    browser.open("web", &format!("http://{}/j/share?name=Web", server.addr));
    browser.click("web", "#join");
    let share_video =
        "document.querySelector('.tile.share[data-share]:not([data-share=\"self\"]) video')";
    browser.wait_for(
        "web",
        &format!("{share_video}?.videoWidth === 1280"),
        Duration::from_secs(60),
        "alice's screen on the guest's stage",
    );
    // Colours of the picture the page shows, where the document is on alice's screen: its
    // heading bar (blue), its page (white), and the black desktop beside it.
    let probe = format!(
        "(() => {{ const v = {share_video}; const c = document.createElement('canvas');
           c.width = v.videoWidth; c.height = v.videoHeight;
           const g = c.getContext('2d'); g.drawImage(v, 0, 0);
           const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
           return [at({hx}, {hy}), at({px}, {py}), at(1200, 700)]; }})()",
        hx = AT.0 + 320,
        hy = AT.1 + 12,
        px = AT.0 + 600,
        py = AT.1 + 300,
    );
    let colours = browser.eval("web", &probe);
    let near = |got: &serde_json::Value, want: [i64; 3]| {
        (0..3).all(|i| (got[i].as_i64().unwrap_or(-999) - want[i]).abs() <= 30)
    };
    assert!(near(&colours[0], [30, 90, 200]), "heading {colours}");
    assert!(near(&colours[1], [255, 255, 255]), "page {colours}");
    assert!(near(&colours[2], [0, 0, 0]), "desktop {colours}");

    // The guest shares; alice decodes it.
    browser.click("web", "#share");
    browser.wait_for(
        "web",
        "document.getElementById('share').textContent === 'Stop sharing'",
        Duration::from_secs(20),
        "the page sharing",
    );
    let stats = home.path().join("alice.jsonl");
    let last = support::stats_until(&stats, "Web", Duration::from_secs(60), |s| {
        s["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10
    });
    assert!(
        last["screen_frames_decoded"].as_u64().unwrap_or(0) >= 10,
        "alice about the guest: {last}\n{}",
        browser.log()
    );
    assert_eq!(last["screen_width_in"], 1280, "{last}");
    // The guest's camera goes on beside it (Chromium sizes it to the rate it has).
    assert!(
        last["fps_in"].as_f64().unwrap_or(0.0) >= 5.0,
        "the guest's camera: {last}"
    );
    // The guest stops; alice hears of it.
    browser.click("web", "#share");
    let last = support::stats_until(&stats, "Web", Duration::from_secs(30), |s| {
        s["screen_in"] == false
    });
    assert_eq!(last["screen_in"], false, "{last}");
    alice.signal("TERM");
    let (status, stderr) = alice
        .wait_with_stderr(Duration::from_secs(30))
        .expect("alice did not end");
    assert!(status.success(), "{stderr}");
    // What alice kept of the guest's screen: Chromium's fake screen, not a black picture.
    let ((width, height), rgb) = read_ppm(&saved);
    assert_eq!((width, height), (1280, 720));
    let mean = rgb.iter().map(|&b| f64::from(b)).sum::<f64>() / rgb.len() as f64;
    assert!(mean > 10.0, "a black picture: mean {mean:.1}");
}
