//! One remote participant's sound on its way to the mix: their packets in the jitter buffer,
//! the Opus decoder (FEC, concealment), time compression when the buffer holds more than the
//! network needs, and what is measured of it (level, delay, the synthetic microphone's beep).
//!
//! Sans-IO: the playout thread (`engine`) calls [`PeerPlayout::play`] once per 20 ms frame of
//! its clock; the call simulations call it on simulated time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::jitter::{FRAME, JitterBuffer, JitterStats, Playout};
use super::opus_codec::{FRAME_SAMPLES, OpusDecoder, OpusError, SAMPLE_RATE};
use super::stretch::shorten;
use super::synthetic::{BEEP_HZ, BEEP_LEVEL};

/// A jitter buffer with this much to spare has its sound shortened (a pitch period at most a
/// frame) until it has not.
const SHORTEN_FROM: Duration = Duration::from_millis(5);
/// The synthetic microphone's beep, looked for in steps of 2.5 ms.
const BEEP_STEP: usize = 120;

/// One remote participant's audio as playout sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeerAudio {
    pub jitter: JitterStats,
    pub delay: Duration,
    /// How long a packet takes from arriving to reaching the speaker: the jitter buffer's
    /// wait, what was decoded and waits to be mixed, and the device's queue (what video waits
    /// for, for lip sync).
    pub playout_delay: Duration,
    /// RMS of the last frame played, in [0, 1].
    pub level: f32,
    pub frames_played: u64,
    /// When the latest beep of the synthetic microphone started to play (for lip-sync).
    pub beep_at: Option<Instant>,
}

impl PeerAudio {
    /// Audio played as concealment so far.
    pub fn concealed(&self) -> Duration {
        FRAME * self.jitter.concealed.min(u64::from(u32::MAX)) as u32
    }
}

pub struct PeerPlayout {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    /// Shortening gives back delay: off only to measure what it gives.
    shortening: bool,
    /// What was decoded and not yet mixed: a frame shortened to give back delay leaves the
    /// next one's start here.
    pcm: VecDeque<f32>,
    decoded: Vec<f32>,
    frame: [f32; FRAME_SAMPLES],
    stats: PeerAudio,
    in_beep: bool,
}

impl PeerPlayout {
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            jitter: JitterBuffer::new(),
            decoder: OpusDecoder::new()?,
            shortening: true,
            pcm: VecDeque::with_capacity(FRAME_SAMPLES * 2),
            decoded: Vec::with_capacity(FRAME_SAMPLES),
            frame: [0.0; FRAME_SAMPLES],
            stats: PeerAudio::default(),
            in_beep: false,
        })
    }

    /// Without time compression (the jitter buffer then sheds only whole frames, slowly): for
    /// measuring what it is worth.
    pub fn without_shortening(mut self) -> Self {
        self.shortening = false;
        self
    }

    pub fn push(&mut self, seq: u16, payload: &[u8], arrived: Instant) {
        self.jitter.push(seq, payload, arrived);
    }

    pub fn stats(&self) -> PeerAudio {
        self.stats
    }

    /// The next 20 ms of this participant's sound; `plays_at` is when it will reach the
    /// speaker.
    pub fn play(&mut self, now: Instant, plays_at: Instant) -> &[f32; FRAME_SAMPLES] {
        while self.pcm.len() < FRAME_SAMPLES {
            self.decode_next(now);
        }
        for (slot, sample) in self.frame.iter_mut().zip(self.pcm.drain(..FRAME_SAMPLES)) {
            *slot = sample;
        }
        self.measure(now, plays_at);
        &self.frame
    }

    /// Decodes what the jitter buffer gives for its next slot into `pcm`, shortened when the
    /// buffer holds more than the network needs.
    fn decode_next(&mut self, now: Instant) {
        let mut frame = [0.0f32; FRAME_SAMPLES];
        let playout = self.jitter.pop(now);
        let real = matches!(playout, Playout::Packet(_));
        let decoded = match playout {
            Playout::Wait => Ok(()),
            Playout::Packet(packet) => self.decoder.decode(&packet, &mut frame),
            Playout::Fec(next) => self.decoder.recover(&next, &mut frame),
            Playout::Conceal => self.decoder.conceal(&mut frame),
        };
        if decoded.is_err() {
            // A packet that does not decode is concealed like a lost one.
            let _ = self.decoder.conceal(&mut frame);
        }
        self.decoded.clear();
        self.decoded.extend_from_slice(&frame);
        // Only sound that came in a packet is shortened: concealment is already a guess.
        let spare = self.jitter.excess();
        if self.shortening && real && spare >= SHORTEN_FROM {
            let most = (spare.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as usize;
            let removed = shorten(&mut self.decoded, most);
            if removed > 0 {
                self.jitter.shed(samples_to_time(removed));
            }
        }
        self.pcm.extend(&self.decoded);
    }

    fn measure(&mut self, now: Instant, plays_at: Instant) {
        let frame = &self.frame;
        self.stats.level = (frame.iter().map(|s| s * s).sum::<f32>() / FRAME_SAMPLES as f32).sqrt();
        for (i, step) in frame.chunks_exact(BEEP_STEP).enumerate() {
            let beeping = beep_amplitude(step) > BEEP_LEVEL / 2.5;
            if beeping && !self.in_beep {
                let offset = samples_to_time(i * BEEP_STEP);
                self.stats.beep_at = Some(plays_at + offset);
            }
            self.in_beep = beeping;
        }
        self.stats.jitter = self.jitter.stats();
        self.stats.delay = self.jitter.delay();
        self.stats.playout_delay = self.stats.delay
            + samples_to_time(self.pcm.len())
            + plays_at.saturating_duration_since(now);
        self.stats.frames_played += 1;
    }
}

fn samples_to_time(samples: usize) -> Duration {
    Duration::from_micros(samples as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}

/// Amplitude of the beep's frequency in `samples` (Goertzel).
fn beep_amplitude(samples: &[f32]) -> f32 {
    let w = std::f32::consts::TAU * BEEP_HZ / SAMPLE_RATE as f32;
    let coefficient = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for x in samples {
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beep_is_told_from_the_tone() {
        let tone = |hz: f32, level: f32| -> Vec<f32> {
            (0..BEEP_STEP)
                .map(|i| (i as f32 * hz * std::f32::consts::TAU / SAMPLE_RATE as f32).sin() * level)
                .collect()
        };
        let beep = beep_amplitude(&tone(BEEP_HZ, 0.5));
        assert!((0.4..0.6).contains(&beep), "{beep}");
        assert!(beep_amplitude(&tone(440.0, 0.5)) < 0.1);
        assert!(beep_amplitude(&[0.0; BEEP_STEP]) < 1e-6);
    }
}
