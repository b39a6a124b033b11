//! What `confer devices` prints: plain text for people, with the ids that `--camera`, `--mic`
//! and the settings take.

use std::fmt::Write;

use crate::media::devices::{AudioDevices, Device, DeviceError};
use crate::media::video::screen::{self, ScreenError, Shareable};

pub fn devices(
    cameras: &Result<Vec<Device>, DeviceError>,
    audio: &Result<AudioDevices, DeviceError>,
    shareable: &Result<Vec<Shareable>, ScreenError>,
) -> String {
    let mut out = String::new();
    section(
        &mut out,
        "Cameras",
        None,
        cameras.as_deref(),
        "no camera found",
    );
    match audio {
        Ok(audio) => {
            section(
                &mut out,
                "Microphones",
                Some(audio.host),
                Ok(&audio.microphones),
                "no microphone found",
            );
            section(
                &mut out,
                "Speakers",
                Some(audio.host),
                Ok(&audio.speakers),
                "no speaker found",
            );
        }
        Err(e) => {
            section(&mut out, "Microphones", None, Err(e), "");
            section(&mut out, "Speakers", None, Err(e), "");
        }
    }
    let _ = writeln!(out, "Screens and windows to share:");
    match shareable {
        Ok(found) if found.is_empty() => {
            let _ = writeln!(out, "  nothing to share");
        }
        Ok(found) => {
            let listed = screen::with_ids(found);
            let width = listed.iter().map(|(id, _)| id.len()).max().unwrap_or(0);
            for (id, s) in listed {
                let _ = writeln!(out, "  {id:width$}  {}  {}x{}", s.name, s.width, s.height);
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  {e}");
        }
    }
    out
}

fn section(
    out: &mut String,
    title: &str,
    host: Option<&str>,
    devices: Result<&[Device], &DeviceError>,
    none: &str,
) {
    // Writing to a String cannot fail.
    let _ = match host {
        Some(host) => writeln!(out, "{title} ({host}):"),
        None => writeln!(out, "{title}:"),
    };
    match devices {
        Ok([]) => {
            let _ = writeln!(out, "  {none}");
        }
        Ok(devices) => {
            let width = devices.iter().map(|d| d.id.len()).max().unwrap_or(0);
            for d in devices {
                let mark = if d.is_default { "*" } else { " " };
                let default = if d.is_default { "  (default)" } else { "" };
                let _ = writeln!(out, "{mark} {:width$}  {}{default}", d.id, d.name);
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_say_so_plainly() {
        let audio = AudioDevices {
            host: "ALSA",
            microphones: vec![],
            speakers: vec![],
        };
        let text = devices(&Ok(vec![]), &Ok(audio), &Ok(vec![]));
        assert!(text.contains("Cameras:\n  no camera found\n"), "{text}");
        assert!(
            text.contains("Microphones (ALSA):\n  no microphone found\n"),
            "{text}"
        );
        assert!(
            text.contains("Speakers (ALSA):\n  no speaker found\n"),
            "{text}"
        );
        assert!(
            text.contains("Screens and windows to share:\n  nothing to share\n"),
            "{text}"
        );
    }

    #[test]
    fn devices_show_ids_names_and_the_default() {
        let mic = |id: &str, name: &str, is_default| Device {
            id: id.into(),
            name: name.into(),
            is_default,
        };
        let audio = AudioDevices {
            host: "PulseAudio",
            microphones: vec![
                mic("pulseaudio:a", "Mic A", false),
                mic("pulseaudio:bb", "Mic B", true),
            ],
            speakers: vec![],
        };
        let screens = Err(ScreenError::Unsupported(
            "cannot share the screen: no X".into(),
        ));
        let text = devices(&Err(DeviceError::CameraPermission), &Ok(audio), &screens);
        assert!(
            text.contains("Screens and windows to share:\n  cannot share the screen: no X\n"),
            "{text}"
        );
        assert!(text.contains("  pulseaudio:a   Mic A\n"), "{text}");
        assert!(
            text.contains("* pulseaudio:bb  Mic B  (default)\n"),
            "{text}"
        );
        assert!(text.contains("camera access was denied"), "{text}");
    }
}
