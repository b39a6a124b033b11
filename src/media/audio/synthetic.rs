//! The synthetic microphone: a tone, or a WAV file looped, at 48 kHz mono. The tone beeps at
//! each whole second of the wall clock, the instant the synthetic camera flashes (see
//! `video::pattern`), so a receiver can measure audio/video sync.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

pub const RATE: u32 = 48_000;
/// The steady tone and the beep: far apart, so a receiver tells them apart with two filters.
pub const TONE_HZ: f32 = 440.0;
pub const BEEP_HZ: f32 = 1_760.0;
pub const BEEP_MS: u64 = 100;
const TONE_LEVEL: f32 = 0.1;
pub const BEEP_LEVEL: f32 = 0.5;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot read the WAV file {path}: {reason}")]
    Wav { path: String, reason: String },
    #[error("the WAV file {0} holds no sound")]
    Empty(String),
}

pub enum SyntheticMic {
    Tone { phase: f32, beep_phase: f32 },
    Wav { samples: Vec<f32>, position: usize },
}

impl SyntheticMic {
    pub fn tone() -> Self {
        Self::Tone {
            phase: 0.0,
            beep_phase: 0.0,
        }
    }

    /// Loads a WAV file (any rate, channels, integer or float samples) for looping.
    pub fn wav(path: &Path) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let fail = |e: hound::Error| SourceError::Wav {
            path: name.clone(),
            reason: e.to_string(),
        };
        let mut reader = hound::WavReader::open(path).map_err(fail)?;
        let spec = reader.spec();
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader
                .samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(fail)?,
            hound::SampleFormat::Int => {
                let scale =
                    1.0 / (1u64 << spec.bits_per_sample.clamp(1, 32).saturating_sub(1)) as f32;
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(fail)?
            }
        };
        let mut mono = Vec::with_capacity(interleaved.len());
        super::resample::mix_down(&interleaved, usize::from(spec.channels), &mut mono);
        let mut samples = Vec::with_capacity(mono.len());
        super::resample::Resampler::new(spec.sample_rate, RATE)
            .map_err(|e| SourceError::Wav {
                path: name.clone(),
                reason: e.to_string(),
            })?
            .process(&mono, &mut samples);
        if samples.is_empty() {
            return Err(SourceError::Empty(name));
        }
        Ok(Self::Wav {
            samples,
            position: 0,
        })
    }

    /// Fills `out` with the next samples; `start` is the wall-clock time of the first one.
    pub fn fill(&mut self, out: &mut [f32], start: SystemTime) {
        match self {
            Self::Tone { phase, beep_phase } => {
                let micros = start
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros() as u64;
                let step = TAU_F32 * TONE_HZ / RATE as f32;
                let beep_step = TAU_F32 * BEEP_HZ / RATE as f32;
                for (i, sample) in out.iter_mut().enumerate() {
                    let at_us = micros + i as u64 * 1_000_000 / u64::from(RATE);
                    let in_beep = at_us % 1_000_000 < BEEP_MS * 1_000;
                    *sample = phase.sin() * TONE_LEVEL;
                    *phase = (*phase + step) % TAU_F32;
                    if in_beep {
                        *sample += beep_phase.sin() * BEEP_LEVEL;
                        *beep_phase = (*beep_phase + beep_step) % TAU_F32;
                    } else {
                        *beep_phase = 0.0;
                    }
                }
            }
            Self::Wav { samples, position } => {
                for sample in out.iter_mut() {
                    *sample = samples[*position];
                    *position = (*position + 1) % samples.len();
                }
            }
        }
    }
}

const TAU_F32: f32 = std::f32::consts::TAU;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rms(s: &[f32]) -> f32 {
        (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt()
    }

    #[test]
    fn the_tone_beeps_for_the_first_100_ms_of_each_second() {
        let mut mic = SyntheticMic::tone();
        let second = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let mut quiet = vec![0.0; 960];
        mic.fill(&mut quiet, second + Duration::from_millis(500));
        let mut beep = vec![0.0; 960];
        mic.fill(&mut beep, second + Duration::from_millis(20));
        assert!(rms(&quiet) < 0.08, "{}", rms(&quiet));
        assert!(rms(&beep) > 0.3, "{}", rms(&beep));
    }

    #[test]
    fn a_wav_file_loops_and_a_bad_one_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for v in [16_384i16, 16_384, -16_384, -16_384] {
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let mut mic = SyntheticMic::wav(&path).unwrap();
        let mut out = [0.0; 5];
        mic.fill(&mut out, SystemTime::now());
        assert_eq!(out, [0.5, -0.5, 0.5, -0.5, 0.5]);

        std::fs::write(dir.path().join("bad.wav"), b"RIFF nonsense").unwrap();
        let e = SyntheticMic::wav(&dir.path().join("bad.wav"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bad.wav"), "{e}");
        assert!(SyntheticMic::wav(&dir.path().join("missing.wav")).is_err());
    }
}
