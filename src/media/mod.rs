//! Media: devices, capture, processing, codecs and playout. Knows nothing of networks
//! (docs/ARCHITECTURE.md, the layers): devices and synthetic sources in, encoded frames out;
//! encoded frames in, pictures and sound out.

pub mod audio;
pub mod audio_host;
pub mod devices;
pub mod source;
pub mod video;

/// Why a device gives nothing. The window words each for the device it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceProblem {
    /// There is none of its kind to open: none plugged in, or none the system offers.
    Missing,
    /// The one there failed, in words (access denied, busy, unplugged).
    Failed(String),
}

impl std::fmt::Display for DeviceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("none was found"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}
