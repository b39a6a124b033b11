//! What `--camera`, `--mic` and the settings name: a device, or a synthetic source that stands
//! in for one (the moving test pattern, a tone, a WAV file looped).

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraChoice {
    /// The first camera there is.
    Default,
    /// A camera by its index in `confer devices`.
    Index(u32),
    TestPattern,
    /// The test pattern at a size of its own (`test-pattern:WxH`), and a rate of its own
    /// (`test-pattern:WxH@FPS`, 30 when not given): small, slow ones let many participants
    /// share one machine's cores in tests.
    SizedTestPattern {
        width: u32,
        height: u32,
        fps: u8,
    },
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicChoice {
    Default,
    /// A microphone by its id in `confer devices` (`pulseaudio:...`, `alsa:...`).
    Device(String),
    Tone,
    Wav(PathBuf),
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerChoice {
    Default,
    Device(String),
    /// Nothing is played (headless participants without a sound card); timing is kept.
    Off,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "unknown camera \"{0}\": give a number from `confer devices`, `test-pattern` (or \
     `test-pattern:WxH` from 64x64 to 1920x1080, or `test-pattern:WxH@FPS` at 1 to 60 \
     pictures a second), `default` or `off`"
)]
pub struct CameraChoiceError(String);

/// The rates a sized test pattern may run at.
const PATTERN_FPS: std::ops::RangeInclusive<u8> = 1..=60;
/// The sizes a sized test pattern may have.
const PATTERN_SIZES: (std::ops::RangeInclusive<u32>, std::ops::RangeInclusive<u32>) =
    (64..=1920, 64..=1080);

impl CameraChoice {
    pub fn parse(text: &str) -> Result<Self, CameraChoiceError> {
        match text.trim() {
            "" | "default" => Ok(Self::Default),
            "test-pattern" | "pattern" => Ok(Self::TestPattern),
            "off" | "none" => Ok(Self::Off),
            other if other.starts_with("test-pattern:") => {
                let spec = &other["test-pattern:".len()..];
                let (size, fps) = match spec.split_once('@') {
                    Some((size, fps)) => (size, fps.parse().ok()),
                    None => (spec, Some(30)),
                };
                let fps = fps
                    .filter(|f| PATTERN_FPS.contains(f))
                    .ok_or_else(|| CameraChoiceError(other.to_string()))?;
                let (width, height) = size
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    .filter(|(w, h)| PATTERN_SIZES.0.contains(w) && PATTERN_SIZES.1.contains(h))
                    .ok_or_else(|| CameraChoiceError(other.to_string()))?;
                Ok(Self::SizedTestPattern { width, height, fps })
            }
            other => other
                .parse()
                .map(Self::Index)
                .map_err(|_| CameraChoiceError(other.to_string())),
        }
    }
}

impl MicChoice {
    /// `tone`, a path ending in `.wav`, `default`, `off`, or a device id.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        match text {
            "" | "default" => Self::Default,
            "tone" => Self::Tone,
            "off" | "none" => Self::Off,
            _ if text.to_ascii_lowercase().ends_with(".wav") => Self::Wav(text.into()),
            _ => Self::Device(text.to_string()),
        }
    }
}

impl SpeakerChoice {
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "" | "default" => Self::Default,
            "off" | "none" => Self::Off,
            other => Self::Device(other.to_string()),
        }
    }

    pub fn device_id(&self) -> Option<&str> {
        match self {
            Self::Device(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for MicChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default microphone"),
            Self::Device(id) => write!(f, "microphone {id}"),
            Self::Tone => f.write_str("a test tone"),
            Self::Wav(path) => write!(f, "{}", path.display()),
            Self::Off => f.write_str("no microphone"),
        }
    }
}

/// How the settings file keeps a choice: the text `parse` reads back, None for the default.
/// A kept text that no longer parses (edited by hand) falls back to the default.
impl CameraChoice {
    pub fn setting(&self) -> Option<String> {
        match self {
            Self::Default => None,
            Self::Off => Some("off".into()),
            Self::TestPattern => Some("test-pattern".into()),
            Self::SizedTestPattern {
                width,
                height,
                fps: 30,
            } => Some(format!("test-pattern:{width}x{height}")),
            Self::SizedTestPattern { width, height, fps } => {
                Some(format!("test-pattern:{width}x{height}@{fps}"))
            }
            Self::Index(i) => Some(i.to_string()),
        }
    }

    pub fn from_setting(kept: Option<&str>) -> Self {
        kept.and_then(|text| Self::parse(text).ok())
            .unwrap_or(Self::Default)
    }
}

impl MicChoice {
    pub fn setting(&self) -> Option<String> {
        match self {
            Self::Default => None,
            Self::Off => Some("off".into()),
            Self::Tone => Some("tone".into()),
            Self::Wav(path) => Some(path.display().to_string()),
            Self::Device(id) => Some(id.clone()),
        }
    }

    pub fn from_setting(kept: Option<&str>) -> Self {
        kept.map_or(Self::Default, Self::parse)
    }
}

impl SpeakerChoice {
    pub fn setting(&self) -> Option<String> {
        match self {
            Self::Default => None,
            Self::Off => Some("off".into()),
            Self::Device(id) => Some(id.clone()),
        }
    }

    pub fn from_setting(kept: Option<&str>) -> Self {
        kept.map_or(Self::Default, Self::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_from_what_people_type() {
        assert_eq!(
            CameraChoice::parse("test-pattern"),
            Ok(CameraChoice::TestPattern)
        );
        assert_eq!(
            CameraChoice::parse("test-pattern:320x180"),
            Ok(CameraChoice::SizedTestPattern {
                width: 320,
                height: 180,
                fps: 30
            })
        );
        let slow = CameraChoice::parse("test-pattern:320x180@15");
        assert_eq!(
            slow,
            Ok(CameraChoice::SizedTestPattern {
                width: 320,
                height: 180,
                fps: 15
            })
        );
        assert_eq!(
            slow.unwrap().setting().as_deref(),
            Some("test-pattern:320x180@15")
        );
        for bad in [
            "test-pattern:320x180@0",
            "test-pattern:320x180@90",
            "test-pattern:320x180@",
            "test-pattern:",
            "test-pattern:320",
            "test-pattern:320x",
            "test-pattern:0x0",
            "test-pattern:4000x3000",
            "test-pattern:-3x9",
            "test-pattern:320x180x2",
        ] {
            let e = CameraChoice::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("WxH"), "{e}");
        }
        assert_eq!(CameraChoice::parse(" 2 "), Ok(CameraChoice::Index(2)));
        assert_eq!(CameraChoice::parse("off"), Ok(CameraChoice::Off));
        let e = CameraChoice::parse("webcam").unwrap_err().to_string();
        assert!(
            e.contains("\"webcam\"") && e.contains("test-pattern"),
            "{e}"
        );
        assert_eq!(MicChoice::parse("tone"), MicChoice::Tone);
        assert_eq!(
            MicChoice::parse("speech.WAV"),
            MicChoice::Wav("speech.WAV".into())
        );
        assert_eq!(
            MicChoice::parse("pulseaudio:mic"),
            MicChoice::Device("pulseaudio:mic".into())
        );
        assert_eq!(SpeakerChoice::parse("default"), SpeakerChoice::Default);
        assert_eq!(SpeakerChoice::parse("off"), SpeakerChoice::Off);
    }

    #[test]
    fn a_choice_kept_in_the_settings_reads_back_the_same() {
        for mic in [
            MicChoice::Default,
            MicChoice::Tone,
            MicChoice::Off,
            MicChoice::Device("alsa:hw0".into()),
        ] {
            assert_eq!(MicChoice::from_setting(mic.setting().as_deref()), mic);
        }
        for camera in [
            CameraChoice::Default,
            CameraChoice::Off,
            CameraChoice::TestPattern,
            CameraChoice::SizedTestPattern {
                width: 320,
                height: 180,
                fps: 30,
            },
            CameraChoice::SizedTestPattern {
                width: 160,
                height: 90,
                fps: 15,
            },
            CameraChoice::Index(3),
        ] {
            assert_eq!(
                CameraChoice::from_setting(camera.setting().as_deref()),
                camera
            );
        }
        for speaker in [
            SpeakerChoice::Default,
            SpeakerChoice::Off,
            SpeakerChoice::Device("pulseaudio:desk".into()),
        ] {
            assert_eq!(
                SpeakerChoice::from_setting(speaker.setting().as_deref()),
                speaker
            );
        }
        assert_eq!(
            CameraChoice::from_setting(Some("front")),
            CameraChoice::Default
        );
    }
}
