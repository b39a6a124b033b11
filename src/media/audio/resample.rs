//! Sample-rate conversion between a device's rate and the 48 kHz everything inside runs at
//! (rubato's FFT resampler), fed any number of samples at a time. Runs on the audio threads
//! that may allocate, never in a device callback; after warming up it allocates nothing.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("cannot convert audio from {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    from: u32,
    to: u32,
    reason: String,
}

pub struct Resampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    out: Vec<f32>,
    chunk: usize,
}

impl Resampler {
    /// Mono, `from` Hz to `to` Hz. Equal rates pass samples through untouched.
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        if from == 0 || to == 0 {
            return Err(ResampleError {
                from,
                to,
                reason: "a rate of 0 Hz".into(),
            });
        }
        if from == to {
            return Ok(Self {
                inner: None,
                pending: Vec::new(),
                out: Vec::new(),
                chunk: 0,
            });
        }
        // 10 ms of input a step: short enough for latency, long enough for the FFT.
        let chunk = (from as usize / 100).max(64);
        let inner = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| ResampleError {
                from,
                to,
                reason: e.to_string(),
            })?;
        let out = vec![0.0; inner.output_frames_max()];
        Ok(Self {
            inner: Some(inner),
            pending: Vec::with_capacity(chunk * 2),
            out,
            chunk,
        })
    }

    /// Output samples the resampler holds back (its latency).
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Converts `input`, appending what is ready to `output`.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) {
        let Some(inner) = self.inner.as_mut() else {
            output.extend_from_slice(input);
            return;
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= self.chunk {
            let block = &self.pending[start..start + self.chunk];
            let Ok(src) = InterleavedSlice::new(block, 1, self.chunk) else {
                break;
            };
            let capacity = self.out.len();
            let Ok(mut dst) = InterleavedSlice::new_mut(&mut self.out[..], 1, capacity) else {
                break;
            };
            match inner.process_into_buffer(&src, &mut dst, None) {
                Ok((_, written)) => output.extend_from_slice(&self.out[..written]),
                Err(e) => {
                    tracing::warn!("resampling failed: {e}");
                    break;
                }
            }
            start += self.chunk;
        }
        self.pending.drain(..start);
    }
}

/// Averages interleaved channels into mono.
pub fn mix_down(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) {
    let channels = channels.max(1);
    let scale = 1.0 / channels as f32;
    mono.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    /// Frequency by counting upward zero crossings.
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        crossings as f32 * rate as f32 / samples.len() as f32
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_level_through_44_1_to_48_khz() {
        let input = tone(44_100, 1_000.0, 44_100);
        let mut r = Resampler::new(44_100, 48_000).unwrap();
        let mut out = Vec::new();
        // Odd-sized pieces, as device callbacks deliver.
        for piece in input.chunks(333) {
            r.process(piece, &mut out);
        }
        assert!((47_000..=48_000).contains(&out.len()), "{}", out.len());
        let settled = &out[r.delay() + 1000..];
        let f = frequency(settled, 48_000);
        assert!((f - 1_000.0).abs() < 5.0, "{f} Hz");
        let peak = settled.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.45..0.55).contains(&peak), "{peak}");
    }

    #[test]
    fn equal_rates_pass_through_and_zero_is_refused() {
        let mut r = Resampler::new(48_000, 48_000).unwrap();
        let mut out = Vec::new();
        r.process(&[0.25, -0.5], &mut out);
        assert_eq!(out, vec![0.25, -0.5]);
        assert!(Resampler::new(0, 48_000).is_err());
    }

    #[test]
    fn channels_are_averaged() {
        let mut mono = Vec::new();
        mix_down(&[1.0, 0.0, 0.5, 0.5], 2, &mut mono);
        assert_eq!(mono, vec![0.5, 0.5]);
    }
}
