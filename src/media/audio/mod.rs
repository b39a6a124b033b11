//! Audio: device streams, the synthetic microphone, resampling, echo/noise/gain processing,
//! Opus, and the jitter buffer. 48 kHz mono inside; devices are converted at the edges.

pub mod chime;
pub mod device;
pub mod engine;
pub mod jitter;
pub mod opus_codec;
pub mod playout;
pub mod processing;
pub mod resample;
pub mod send;
pub mod stretch;
pub mod synthetic;
