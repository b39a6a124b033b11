//! The microphone's way out, one 20 ms frame at a time: echo cancellation against what the
//! speakers played, noise suppression, gain, then Opus.

use super::opus_codec::{FRAME_SAMPLES, OpusEncoder, OpusError};
use super::processing::{AudioProcessor, ProcessingSettings};

/// Opus bitrate for speech (docs/ARCHITECTURE.md, "Media").
pub const SPEECH_BITRATE_BPS: u32 = 32_000;

pub struct AudioSendPath {
    processor: AudioProcessor,
    encoder: OpusEncoder,
    frame: [f32; FRAME_SAMPLES],
}

impl AudioSendPath {
    pub fn new(settings: ProcessingSettings) -> Result<Self, OpusError> {
        Ok(Self {
            processor: AudioProcessor::new(settings),
            encoder: OpusEncoder::new(SPEECH_BITRATE_BPS)?,
            frame: [0.0; FRAME_SAMPLES],
        })
    }

    pub fn processor(&mut self) -> &mut AudioProcessor {
        &mut self.processor
    }

    pub fn encoder(&mut self) -> &mut OpusEncoder {
        &mut self.encoder
    }

    /// `played`: what the speakers played since the last frame (48 kHz, any multiple of 10 ms);
    /// `mic`: the next 20 ms from the microphone. Returns the Opus packet.
    pub fn send(&mut self, played: &[f32], mic: &[f32]) -> Result<&[u8], OpusError> {
        if mic.len() != FRAME_SAMPLES {
            return Err(OpusError::FrameSize(mic.len()));
        }
        self.processor.far_end(played);
        self.frame.copy_from_slice(mic);
        self.processor.process(&mut self.frame);
        self.encoder.encode(&self.frame)
    }
}
