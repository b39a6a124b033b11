//! Media: devices, capture, processing, codecs and playout. Knows nothing of networks
//! (DESIGN.md). So far: which devices there are.

pub mod audio_host;
pub mod devices;
