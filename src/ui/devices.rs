//! Pickers for camera, microphone and speaker, as the pre-join screen and the settings show
//! them: each lists what the system found, plus the choices that need no device.

use super::i18n::tr;
use crate::media::devices::Device as DeviceInfo;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};

/// The devices to pick from, as the system listed them.
#[derive(Debug, Clone, Default)]
pub struct DeviceLists {
    pub cameras: Vec<DeviceInfo>,
    pub microphones: Vec<DeviceInfo>,
    pub speakers: Vec<DeviceInfo>,
}

impl DeviceLists {
    /// What this machine has now (a device that cannot be listed is left out, and logged).
    pub fn find() -> Self {
        let mut lists = DeviceLists::default();
        match crate::media::devices::cameras() {
            Ok(cameras) => lists.cameras = cameras,
            Err(e) => tracing::warn!("{e}"),
        }
        match crate::media::devices::audio() {
            Ok(audio) => {
                lists.microphones = audio.microphones;
                lists.speakers = audio.speakers;
            }
            Err(e) => tracing::warn!("{e}"),
        }
        lists
    }
}

/// The device lists, found on a thread of their own: listing cameras can take seconds (macOS
/// asks AVFoundation, which may wait for a permission), and the window never waits. Until
/// they come, the pickers offer what needs no device.
pub struct DeviceSearch {
    found: std::sync::mpsc::Receiver<DeviceLists>,
}

impl DeviceSearch {
    /// Starts looking; `wake` is called (from the search's thread) when the lists are ready.
    pub fn start(wake: impl Fn() + Send + 'static) -> Self {
        let (tx, found) = std::sync::mpsc::sync_channel(1);
        let started = std::thread::Builder::new()
            .name("device-search".into())
            .spawn(move || {
                let _ = tx.send(DeviceLists::find());
                wake();
            });
        if let Err(e) = started {
            tracing::warn!("cannot look for devices: {e}");
        }
        Self { found }
    }

    /// The lists, once they are found (given once).
    pub fn take(&self) -> Option<DeviceLists> {
        self.found.try_recv().ok()
    }
}

/// A labelled drop-down; true when the choice changed.
fn picker<T: PartialEq + Clone>(
    ui: &mut egui::Ui,
    label: &str,
    current: &mut T,
    shown: String,
    options: Vec<(T, String)>,
) -> bool {
    let mut changed = false;
    let label = ui.label(label);
    egui::ComboBox::from_id_salt(label.id)
        .selected_text(shown)
        .show_ui(ui, |ui| {
            for (choice, name) in options {
                changed |= ui.selectable_value(current, choice, name).changed();
            }
        })
        .response
        .labelled_by(label.id);
    changed
}

pub fn camera_picker(ui: &mut egui::Ui, camera: &mut CameraChoice, cameras: &[DeviceInfo]) -> bool {
    let mut options = vec![(CameraChoice::Off, tr("None").to_string())];
    for device in cameras {
        if let Ok(index) = device.id.parse() {
            options.push((CameraChoice::Index(index), device.name.clone()));
        }
    }
    options.push((CameraChoice::TestPattern, tr("Test pattern").to_string()));
    let shown = camera_label(camera, cameras);
    picker(ui, tr("Camera"), camera, shown, options)
}

pub fn mic_picker(ui: &mut egui::Ui, mic: &mut MicChoice, microphones: &[DeviceInfo]) -> bool {
    let mut options = vec![(MicChoice::Default, tr("System default").to_string())];
    for device in microphones {
        options.push((MicChoice::Device(device.id.clone()), device.name.clone()));
    }
    options.push((MicChoice::Tone, tr("Test tone").to_string()));
    options.push((MicChoice::Off, tr("None").to_string()));
    let shown = mic_label(mic, microphones);
    picker(ui, tr("Microphone"), mic, shown, options)
}

pub fn speaker_picker(
    ui: &mut egui::Ui,
    speaker: &mut SpeakerChoice,
    speakers: &[DeviceInfo],
) -> bool {
    let mut options = vec![(SpeakerChoice::Default, tr("System default").to_string())];
    for device in speakers {
        options.push((
            SpeakerChoice::Device(device.id.clone()),
            device.name.clone(),
        ));
    }
    let shown = match &*speaker {
        SpeakerChoice::Device(id) => name_of(id, speakers),
        SpeakerChoice::Off => tr("None").to_string(),
        SpeakerChoice::Default => tr("System default").to_string(),
    };
    picker(ui, tr("Speaker"), speaker, shown, options)
}

fn name_of(id: &str, devices: &[DeviceInfo]) -> String {
    devices
        .iter()
        .find(|d| d.id == id)
        .map_or_else(|| id.to_string(), |d| d.name.clone())
}

fn camera_label(choice: &CameraChoice, cameras: &[DeviceInfo]) -> String {
    match choice {
        CameraChoice::Off => tr("None").into(),
        CameraChoice::TestPattern => tr("Test pattern").into(),
        CameraChoice::SizedTestPattern { width, height, .. } => {
            format!("{} {width}×{height}", tr("Test pattern"))
        }
        CameraChoice::Default => cameras
            .first()
            .map_or(tr("System default").into(), |d| d.name.clone()),
        CameraChoice::Index(i) => name_of(&i.to_string(), cameras),
    }
}

fn mic_label(choice: &MicChoice, microphones: &[DeviceInfo]) -> String {
    match choice {
        MicChoice::Default => tr("System default").into(),
        MicChoice::Device(id) => name_of(id, microphones),
        MicChoice::Tone => tr("Test tone").into(),
        MicChoice::Wav(path) => path.display().to_string(),
        MicChoice::Off => tr("None").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn devices_are_found_off_the_window_thread_and_handed_over_once() {
        let woken = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&woken);
        let caller = std::thread::current().id();
        let search = DeviceSearch::start(move || {
            // The wake comes from the search's own thread, never the window's.
            assert_ne!(std::thread::current().id(), caller);
            flag.store(true, Ordering::SeqCst);
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let lists = loop {
            if let Some(lists) = search.take() {
                break lists;
            }
            assert!(Instant::now() < deadline, "no device lists");
            std::thread::sleep(Duration::from_millis(10));
        };
        // (The wake follows the hand-over.)
        while !woken.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the window was not woken");
            std::thread::sleep(Duration::from_millis(10));
        }
        // What this machine has, as `DeviceLists::find` says on this thread.
        let here = DeviceLists::find();
        assert_eq!(lists.cameras.len(), here.cameras.len());
        assert!(search.take().is_none(), "handed over twice");
    }
}
