//! The pre-join check with the synthetic camera and microphone: the real capture, preview and
//! audio send threads, no window and no network.

use std::time::{Duration, Instant};

use confer::call::check::{DeviceCheck, DeviceLink};
use confer::call::events::Device;
use confer::media::source::{CameraChoice, MicChoice, SpeakerChoice};

#[test]
fn the_check_previews_the_camera_and_measures_the_microphone() {
    let mut check = DeviceCheck::start(
        &CameraChoice::TestPattern,
        &MicChoice::Tone,
        &SpeakerChoice::Off,
        || {},
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut preview, mut level) = (None, 0.0f32);
    while Instant::now() < deadline && (preview.is_none() || level <= 0.01) {
        if let Some(image) = check.preview() {
            preview = Some(image);
        }
        level = level.max(check.mic_level());
        std::thread::sleep(Duration::from_millis(50));
    }
    let image = preview.expect("no preview picture");
    // Half of the synthetic camera's 1280x720, opaque.
    assert_eq!((image.width, image.height), (640, 360));
    assert!(image.pixels.chunks_exact(4).all(|p| p[3] == 255));
    assert!(level > 0.01, "microphone level {level}");
    assert!(check.problems().is_empty(), "{:?}", check.problems());
}

#[test]
fn a_camera_that_is_not_there_is_reported_and_the_microphone_still_works() {
    let mut check = DeviceCheck::start(
        &CameraChoice::Index(7),
        &MicChoice::Tone,
        &SpeakerChoice::Off,
        || {},
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !check.problems().contains_key(&Device::Camera) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(check.problems().contains_key(&Device::Camera));
    while Instant::now() < deadline && check.mic_level() <= 0.01 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(check.mic_level() > 0.01);
    assert!(check.preview().is_none());
}

#[test]
fn the_test_sound_is_played_through_the_speaker_path() {
    let mut check = DeviceCheck::start(
        &CameraChoice::Off,
        &MicChoice::Off,
        &SpeakerChoice::Off,
        || {},
    );
    assert_eq!(check.test_sound_frames_played(), 0);
    check.play_test_sound();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && check.test_sound_frames_played() < 30 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        check.test_sound_frames_played() >= 30,
        "{} frames played",
        check.test_sound_frames_played()
    );
}
