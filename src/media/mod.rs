//! Media: devices, capture, processing, codecs and playout. Knows nothing of networks
//! (docs/ARCHITECTURE.md, the layers): devices and synthetic sources in, encoded frames out;
//! encoded frames in, pictures and sound out.

pub mod audio;
pub mod audio_host;
pub mod devices;
pub mod source;
pub mod video;
