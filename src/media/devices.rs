//! The devices Confer can use: cameras (nokhwa), microphones and speakers (cpal), each with the id
//! that settings and `--camera`/`--mic` take. A system with none of them is normal (servers,
//! CI, a desktop without a webcam) and is reported as such, never as a failure.

use cpal::traits::{DeviceTrait, HostTrait};
use thiserror::Error;

use super::audio_host;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeviceError {
    #[error("cannot list cameras: {0}")]
    Cameras(String),
    #[error("camera access was denied; allow Confer to use the camera in the system settings")]
    CameraPermission,
    #[error("cannot list audio devices: {0}")]
    Audio(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Stable id: nokhwa's camera index, or cpal's `host:device` id.
    pub id: String,
    /// Name for people.
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDevices {
    /// The audio system in use ("PulseAudio", "ALSA", "CoreAudio", "WASAPI").
    pub host: &'static str,
    pub microphones: Vec<Device>,
    pub speakers: Vec<Device>,
}

/// Lists cameras. Empty when there are none.
pub fn cameras() -> Result<Vec<Device>, DeviceError> {
    ensure_camera_permission()?;
    let found = nokhwa::query(nokhwa::utils::ApiBackend::Auto)
        .map_err(|e| DeviceError::Cameras(e.to_string()))?;
    Ok(found
        .iter()
        .enumerate()
        .map(|(i, info)| Device {
            id: info.index().to_string(),
            name: info.human_name(),
            // nokhwa has no notion of a default camera; the first is what apps open by default.
            is_default: i == 0,
        })
        .collect())
}

#[cfg(target_os = "macos")]
fn ensure_camera_permission() -> Result<(), DeviceError> {
    // AVFoundation lists nothing until the user has answered the permission prompt.
    let (tx, rx) = std::sync::mpsc::channel();
    nokhwa::nokhwa_initialize(move |granted| {
        let _ = tx.send(granted);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(true) => Ok(()),
        _ => Err(DeviceError::CameraPermission),
    }
}

#[cfg(not(target_os = "macos"))]
fn ensure_camera_permission() -> Result<(), DeviceError> {
    Ok(())
}

/// Lists microphones and speakers of the audio system Confer uses.
pub fn audio() -> Result<AudioDevices, DeviceError> {
    let host = audio_host::open().map_err(|e| DeviceError::Audio(e.to_string()))?;
    let default_in = host.default_input_device().and_then(|d| d.id().ok());
    let default_out = host.default_output_device().and_then(|d| d.id().ok());

    let microphones = host
        .input_devices()
        .map_err(|e| DeviceError::Audio(e.to_string()))?
        .filter_map(|d| describe(&d, default_in.as_ref()))
        .filter(is_user_facing)
        .collect();
    let speakers = host
        .output_devices()
        .map_err(|e| DeviceError::Audio(e.to_string()))?
        .filter_map(|d| describe(&d, default_out.as_ref()))
        .filter(is_user_facing)
        .collect();
    Ok(AudioDevices {
        host: audio_host::display_name(&host),
        microphones,
        speakers,
    })
}

/// ALSA lists every PCM its configuration defines, most of them plugins (rate converters, `null`,
/// `jack`, `oss`, `pulse`, ...) that are not something a person would pick as a microphone. Keep
/// the default and the PCMs bound to a sound card, as desktop apps do.
fn is_user_facing(device: &Device) -> bool {
    match device.id.strip_prefix("alsa:") {
        Some(pcm) => pcm == "default" || pcm.starts_with("sysdefault") || pcm.contains("CARD="),
        None => true,
    }
}

/// A device that vanished between listing and asking is left out, not an error.
fn describe(device: &cpal::Device, default: Option<&cpal::DeviceId>) -> Option<Device> {
    let id = device.id().ok()?;
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| id.id().to_string());
    Some(Device {
        is_default: default == Some(&id),
        id: id.to_string(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> Device {
        Device {
            id: id.into(),
            name: String::new(),
            is_default: false,
        }
    }

    #[test]
    fn alsa_plugins_are_not_offered_as_devices() {
        for plugin in [
            "alsa:null",
            "alsa:lavrate",
            "alsa:jack",
            "alsa:pulse",
            "alsa:upmix",
        ] {
            assert!(!is_user_facing(&device(plugin)), "{plugin}");
        }
        for card in [
            "alsa:default",
            "alsa:sysdefault:CARD=PCH",
            "alsa:front:CARD=PCH,DEV=0",
            "alsa:hw:CARD=USB,DEV=0",
            "pulseaudio:alsa_input.usb-mic",
            "coreaudio:BuiltInMicrophoneDevice",
        ] {
            assert!(is_user_facing(&device(card)), "{card}");
        }
    }
}
