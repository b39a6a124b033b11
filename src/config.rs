//! Settings, kept as TOML in the platform's config dir (`paths::settings_file`).
//!
//! A settings file is user input: a broken one is reported with its path and line and the app
//! goes on with defaults, leaving the file as it is so nothing the user wrote is lost.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read settings from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot save settings to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything the user can set. Unknown keys are ignored and missing ones take their defaults,
/// so settings files from older and newer versions both load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub profile: Profile,
    pub devices: Devices,
    pub audio: AudioProcessing,
    pub video: Video,
    pub appearance: Appearance,
    pub notifications: Notifications,
    /// Meetings joined lately, newest first (their app links, tokens included: they are this
    /// user's invites, kept in this user's settings).
    pub recent: Vec<Recent>,
}

/// How many recent meetings are kept.
pub const RECENT_KEPT: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Recent {
    pub link: String,
    pub room: String,
    pub host: String,
}

impl Settings {
    /// Puts a meeting first in the recent list (once), keeping the list short.
    pub fn remember(&mut self, recent: Recent) {
        self.recent
            .retain(|r| !(r.room == recent.room && r.host == recent.host));
        self.recent.insert(0, recent);
        self.recent.truncate(RECENT_KEPT);
    }
}

/// The most video we send: a cap for slow or metered connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VideoQuality {
    /// About 500 kbit/s.
    Low,
    /// About 1.5 Mbit/s.
    Standard,
    /// What the path allows, up to 2.5 Mbit/s.
    #[default]
    High,
}

impl VideoQuality {
    pub fn max_bitrate_bps(self) -> u32 {
        match self {
            VideoQuality::Low => 500_000,
            VideoQuality::Standard => 1_500_000,
            VideoQuality::High => 2_500_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Video {
    pub quality: VideoQuality,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Profile {
    /// The name others see; empty until the user gives one.
    pub name: String,
}

/// Chosen devices, by the ids `confer devices` prints; `None` means the system default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Devices {
    pub camera: Option<String>,
    pub microphone: Option<String>,
    pub speaker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioProcessing {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
}

impl Default for AudioProcessing {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    System,
    Dark,
    Light,
}

/// What the meeting says when someone joins or leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notifications {
    /// A short sound through the speaker.
    pub sounds: bool,
    /// A notice in the window.
    pub notices: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            sounds: true,
            notices: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Appearance {
    pub theme: Theme,
    pub language: Language,
}

/// The window's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Language {
    #[default]
    #[serde(rename = "en")]
    English,
    #[serde(rename = "zh-CN")]
    SimplifiedChinese,
}

impl Settings {
    /// Loads settings; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            // toml's message spans several lines (it quotes the input); one line is enough here.
            message: one_line(&e),
        })
    }

    /// Loads settings, or reports why not and returns the defaults.
    pub fn load_or_default(path: &Path) -> Self {
        Self::load(path).unwrap_or_else(|e| {
            tracing::warn!("{e}; using default settings");
            Self::default()
        })
    }

    /// Saves atomically: a crash mid-write leaves the old file, never half a file.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let text = toml::to_string_pretty(self)
            .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        let tmp = path.with_extension("toml.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
        file.write_all(text.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }
}

fn one_line(e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load(&dir.path().join("none.toml")).unwrap();
        assert_eq!(settings, Settings::default());
        assert!(settings.audio.echo_cancellation);
    }

    #[test]
    fn settings_survive_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/settings.toml");
        let mut settings = Settings::default();
        settings.profile.name = "Zhāng Wěi 张伟".into();
        settings.devices.microphone = Some("pulseaudio:mic".into());
        settings.audio.noise_suppression = false;
        settings.appearance.theme = Theme::Dark;
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), settings);
        assert!(!path.with_extension("toml.tmp").exists());
    }

    #[test]
    fn partial_and_unknown_keys_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(
            &path,
            "[profile]\nname = \"Ana\"\nfuture = 1\n[newer]\nx = 2\n",
        )
        .unwrap();
        let settings = Settings::load(&path).unwrap();
        assert_eq!(settings.profile.name, "Ana");
        assert_eq!(settings.audio, AudioProcessing::default());
    }

    #[test]
    fn a_broken_file_is_a_one_line_error_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "[profile\nname = 3").unwrap();
        let err = Settings::load(&path).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }), "{message}");
        assert!(message.contains("settings.toml"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert_eq!(Settings::load_or_default(&path), Settings::default());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[profile\nname = 3"
        );
    }
}
