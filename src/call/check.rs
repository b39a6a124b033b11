//! The pre-join check: our camera shown and our microphone measured before joining, through
//! the same devices and threads a call uses, touching no network. The window shows what it
//! finds; choosing other devices starts a new check.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;

use super::events::{Device, DeviceProblem};
use crate::media::audio::chime::{self, Chime};
use crate::media::audio::engine::{AudioEngine, AudioEvent};
use crate::media::audio::processing::ProcessingSettings;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use crate::media::video::RgbaImage;
use crate::media::video::camera::{
    CameraEvent, CameraHandle, VideoWanted, camera_events, start_chosen,
};
use crate::media::video::mailbox::{self, frame_mailbox};
use crate::media::video::preview_thread::PreviewThread;

/// What the pre-join screen needs of a device check; the real one, or a test's.
pub trait DeviceLink {
    /// Our camera's newest picture since the last call.
    fn preview(&mut self) -> Option<RgbaImage>;
    /// The microphone's level, RMS in [0, 1].
    fn mic_level(&self) -> f32;
    /// Devices that do not work, and why.
    fn problems(&mut self) -> BTreeMap<Device, DeviceProblem>;
    /// Plays a short chime through the chosen speaker.
    fn play_test_sound(&mut self);
}

pub struct DeviceCheck {
    // Dropped in this order: the preview stops before the camera.
    _preview_thread: Option<PreviewThread>,
    _camera: Option<CameraHandle>,
    preview: mailbox::Receiver<RgbaImage>,
    camera_events: Receiver<CameraEvent>,
    audio: Option<AudioEngine>,
    problems: BTreeMap<Device, DeviceProblem>,
}

impl DeviceCheck {
    /// Opens the camera, microphone and speaker chosen; what cannot open is reported, not fatal.
    pub fn start(
        camera: &CameraChoice,
        mic: &MicChoice,
        speaker: &SpeakerChoice,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let mut problems = BTreeMap::new();
        let (frames, pictures) = frame_mailbox();
        let (events, news) = camera_events();
        let (preview_tx, preview) = mailbox::mailbox();
        let wanted = VideoWanted::default();
        let camera = start_chosen(camera, wanted, frames, events).unwrap_or_else(|e| {
            problems.insert(Device::Camera, DeviceProblem::Failed(e.to_string()));
            None
        });
        let preview_thread = match camera {
            Some(_) => PreviewThread::start(pictures, preview_tx, wake)
                .map_err(|e| problems.insert(Device::Camera, DeviceProblem::Failed(e.to_string())))
                .ok(),
            None => None,
        };
        // The microphone through the whole send path (what the others would hear), and the
        // speaker for the test sound.
        let audio = AudioEngine::start(mic, speaker.clone(), ProcessingSettings::default())
            .map_err(|e| problems.insert(Device::Microphone, DeviceProblem::Failed(e)))
            .ok();
        Self {
            _preview_thread: preview_thread,
            _camera: camera,
            preview,
            camera_events: news,
            audio,
            problems,
        }
    }
}

impl DeviceCheck {
    /// How many 20 ms frames of the test sound playout has played.
    pub fn test_sound_frames_played(&self) -> u64 {
        self.audio
            .as_ref()
            .and_then(|a| {
                a.playout
                    .control()
                    .peers()
                    .get(Chime::Test.playout_name())
                    .map(|p| p.frames_played)
            })
            .unwrap_or(0)
    }
}

impl DeviceLink for DeviceCheck {
    fn play_test_sound(&mut self) {
        let Some(audio) = &self.audio else { return };
        chime::play(Chime::Test, audio.incoming.clone());
    }

    fn preview(&mut self) -> Option<RgbaImage> {
        self.preview.take()
    }

    fn mic_level(&self) -> f32 {
        self.audio
            .as_ref()
            .map_or(0.0, |a| a.send.control().level())
    }

    fn problems(&mut self) -> BTreeMap<Device, DeviceProblem> {
        while let Ok(event) = self.camera_events.try_recv() {
            match event {
                CameraEvent::Started { .. } => {
                    self.problems.remove(&Device::Camera);
                }
                CameraEvent::Stopped(e) => {
                    self.problems.insert(Device::Camera, e.problem());
                }
                CameraEvent::BadFrame(_) => {}
            }
        }
        if let Some(audio) = &self.audio {
            // Nobody sends these packets anywhere: drop them so the queue never fills.
            while audio.packets.try_recv().is_ok() {}
            while let Ok(event) = audio.events.try_recv() {
                match event {
                    AudioEvent::MicStarted { .. } => {
                        self.problems.remove(&Device::Microphone);
                    }
                    AudioEvent::MicLost(why) => {
                        self.problems.insert(Device::Microphone, why);
                    }
                    AudioEvent::SpeakerStarted { .. } => {
                        self.problems.remove(&Device::Speaker);
                    }
                    AudioEvent::SpeakerLost(why) => {
                        self.problems.insert(Device::Speaker, why);
                    }
                }
            }
        }
        self.problems.clone()
    }
}
