//! Opus for speech: 48 kHz mono, 20 ms frames, in-band FEC whose strength follows the loss the
//! receivers report; decoding with FEC recovery and concealment for packets that never came.

use thiserror::Error;

/// Samples in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
pub const SAMPLE_RATE: u32 = 48_000;
/// Big enough for any 20 ms Opus packet (the format's own maximum is 1275 bytes a frame).
const MAX_PACKET: usize = 1500;

#[derive(Debug, Error)]
pub enum OpusError {
    #[error("cannot start Opus: {0}")]
    Init(String),
    #[error("Opus encoding failed: {0}")]
    Encode(String),
    #[error("an Opus packet could not be decoded: {0}")]
    Decode(String),
    #[error("Opus works on 20 ms frames of {FRAME_SAMPLES} samples, not {0}")]
    FrameSize(usize),
}

pub struct OpusEncoder {
    encoder: opus::Encoder,
    packet: Vec<u8>,
    loss_percent: u8,
}

impl OpusEncoder {
    pub fn new(bitrate_bps: u32) -> Result<Self, OpusError> {
        let init = |e: opus::Error| OpusError::Init(e.to_string());
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(init)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(bitrate_bps as i32))
            .map_err(init)?;
        encoder.set_inband_fec(true).map_err(init)?;
        // FEC is only sent when the encoder expects loss; start by expecting a little.
        encoder.set_packet_loss_perc(5).map_err(init)?;
        encoder.set_signal(opus::Signal::Voice).map_err(init)?;
        Ok(Self {
            encoder,
            packet: vec![0; MAX_PACKET],
            loss_percent: 5,
        })
    }

    /// Tells the encoder how much loss to protect against (from the receivers' reports).
    pub fn set_loss_percent(&mut self, percent: u8) -> Result<(), OpusError> {
        let percent = percent.min(100);
        if percent != self.loss_percent {
            self.encoder
                .set_packet_loss_perc(i32::from(percent))
                .map_err(|e| OpusError::Encode(e.to_string()))?;
            self.loss_percent = percent;
        }
        Ok(())
    }

    /// Encodes one 20 ms frame; the packet borrows the encoder's buffer.
    pub fn encode(&mut self, frame: &[f32]) -> Result<&[u8], OpusError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(OpusError::FrameSize(frame.len()));
        }
        let len = self
            .encoder
            .encode_float(frame, &mut self.packet)
            .map_err(|e| OpusError::Encode(e.to_string()))?;
        Ok(&self.packet[..len])
    }
}

pub struct OpusDecoder {
    decoder: opus::Decoder,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, OpusError> {
        let decoder = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
            .map_err(|e| OpusError::Init(e.to_string()))?;
        Ok(Self { decoder })
    }

    /// Decodes a packet into one 20 ms frame.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<(), OpusError> {
        self.run(packet, out, false)
    }

    /// Rebuilds a lost frame from the redundancy carried in the packet that followed it.
    pub fn recover(&mut self, next_packet: &[u8], out: &mut [f32]) -> Result<(), OpusError> {
        self.run(next_packet, out, true)
    }

    /// Invents a plausible frame where one is missing (packet loss concealment).
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<(), OpusError> {
        self.run(&[], out, false)
    }

    fn run(&mut self, packet: &[u8], out: &mut [f32], fec: bool) -> Result<(), OpusError> {
        if out.len() != FRAME_SAMPLES {
            return Err(OpusError::FrameSize(out.len()));
        }
        let n = self
            .decoder
            .decode_float(packet, out, fec)
            .map_err(|e| OpusError::Decode(e.to_string()))?;
        // A shorter packet (2.5 to 10 ms from another sender) leaves the rest silent.
        out[n.min(FRAME_SAMPLES)..].fill(0.0);
        Ok(())
    }
}
