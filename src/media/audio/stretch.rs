//! Time compression of decoded audio, to give back jitter-buffer delay without a sound: a
//! frame is shortened by one pitch period (NetEQ calls this "accelerate"). In voiced sound the
//! two periods that follow each other are nearly the same, so one of them can go: the pair is
//! replaced by a cross-fade from the first into the second, and the ear hears the same pitch a
//! few milliseconds sooner. Silence is shortened the same way by up to half the frame. Sound
//! that is neither (a consonant, a click, noise) is left alone: cutting it would be heard.
//!
//! Pure functions on 48 kHz mono samples; the playout thread calls them when its jitter buffer
//! says it holds more than it needs (`jitter::JitterBuffer::excess`).

use super::opus_codec::SAMPLE_RATE;

/// The shortest period looked for (2.5 ms, 400 Hz).
const MIN_PERIOD: usize = SAMPLE_RATE as usize / 400;
/// The longest (10 ms, 100 Hz): two of them must fit in a 20 ms frame.
const MAX_PERIOD: usize = SAMPLE_RATE as usize / 100;
/// Two periods this alike (normalised correlation) are one sound repeated.
const ALIKE: f32 = 0.9;
/// Below this RMS (about -60 dBFS) a frame is silence.
const SILENCE_RMS: f32 = 1e-3;

/// Shortens `samples` by removing one period of at most `max` samples, where that cannot be
/// heard; returns how many samples were removed (0: left as it was).
pub fn shorten(samples: &mut Vec<f32>, max: usize) -> usize {
    let len = samples.len();
    let longest = max.min(len / 2).min(MAX_PERIOD);
    if longest < MIN_PERIOD {
        return 0;
    }
    let energy: f32 = samples.iter().map(|s| s * s).sum();
    let period = if (energy / len as f32).sqrt() < SILENCE_RMS {
        // Nothing to keep in tune: take as much as allowed.
        longest
    } else {
        match best_period(samples, longest) {
            Some(period) => period,
            None => return 0,
        }
    };
    // samples[0..period] fades into samples[period..2 period]; what follows is unchanged, so
    // both ends join what is around them without a step.
    for i in 0..period {
        let w = i as f32 / period as f32;
        samples[i] = samples[i] * (1.0 - w) + samples[i + period] * w;
    }
    samples.drain(period..2 * period);
    period
}

/// The pitch search runs first on a copy at a quarter of the rate (an average of each four
/// samples, as NetEQ searches at 4 kHz), then at the full rate only around what it found: a
/// tenth of the work of trying every lag at 48 kHz, which cost a quarter of a participant's CPU
/// when six streams were being shortened at once.
const DECIMATION: usize = 4;

/// The lag in [`MIN_PERIOD`, `longest`] at which the sound repeats best, if it repeats well
/// enough to cut there.
fn best_period(samples: &[f32], longest: usize) -> Option<usize> {
    let mut coarse = [0.0f32; 2 * MAX_PERIOD / DECIMATION];
    let coarse_len = (2 * longest / DECIMATION).min(coarse.len());
    for (slot, four) in coarse[..coarse_len]
        .iter_mut()
        .zip(samples.chunks_exact(DECIMATION))
    {
        *slot = four.iter().sum::<f32>() / DECIMATION as f32;
    }
    // Prefer the longer of nearly equal lags: more is given back per cut.
    let (guess, _) = best_lag(
        &coarse[..coarse_len],
        MIN_PERIOD.div_ceil(DECIMATION)..=longest / DECIMATION,
        0.01,
    )?;
    // That preference may have drifted a coarse step past the peak; the fine search takes the
    // peak itself.
    let around = guess * DECIMATION;
    let from = around.saturating_sub(2 * DECIMATION).max(MIN_PERIOD);
    let to = (around + 2 * DECIMATION).min(longest);
    best_lag(samples, from..=to, 0.0)
        .filter(|(_, alike)| *alike >= ALIKE)
        .map(|(lag, _)| lag)
}

/// The lag in `lags` at which `samples` correlates best with itself (normalised), taking a
/// longer lag over a shorter one that correlates up to `slack` better.
fn best_lag(
    samples: &[f32],
    lags: std::ops::RangeInclusive<usize>,
    slack: f32,
) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for lag in lags {
        if 2 * lag > samples.len() {
            break;
        }
        let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
        for (x, y) in samples[..lag].iter().zip(&samples[lag..2 * lag]) {
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        if aa <= f32::EPSILON || bb <= f32::EPSILON {
            continue;
        }
        let alike = ab / (aa * bb).sqrt();
        if best.is_none_or(|(_, b)| alike >= b - slack) {
            best = Some((lag, alike));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, n: usize, phase: usize) -> Vec<f32> {
        (phase..phase + n)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / SAMPLE_RATE as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn a_tone_loses_whole_periods_and_stays_in_tune() {
        // 200 Hz: a period of 240 samples.
        let mut frame = tone(200.0, 960, 0);
        let removed = shorten(&mut frame, 480);
        assert!(removed > 0 && removed.is_multiple_of(240), "{removed}");
        assert_eq!(frame.len(), 960 - removed);
        // What is left joins the next frame of the same tone without a step: the last sample
        // is the original's last.
        let original = tone(200.0, 960, 0);
        assert!((frame[frame.len() - 1] - original[959]).abs() < 1e-6);
        // And no sample jumps more than a sine at this level and pitch can in one step.
        let step = frame
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(step < 0.02, "largest step {step}");
    }

    /// A voice-like sound (a fundamental and two harmonics) at pitches whose periods are no
    /// multiple of the coarse search's step: the cut is still whole periods, to the sample.
    #[test]
    fn the_two_step_search_finds_whole_periods_at_any_pitch() {
        for period in [123usize, 150, 218, 333, 399, 470] {
            let hz = SAMPLE_RATE as f32 / period as f32;
            let voice: Vec<f32> = (0..960)
                .map(|i| {
                    let t = i as f32 * hz * std::f32::consts::TAU / SAMPLE_RATE as f32;
                    0.4 * t.sin() + 0.2 * (2.0 * t + 0.5).sin() + 0.1 * (3.0 * t + 1.0).sin()
                })
                .collect();
            let mut frame = voice.clone();
            let removed = shorten(&mut frame, 480);
            assert!(removed > 0, "period {period}: nothing removed");
            let periods = removed as f32 / period as f32;
            assert!(
                (periods - periods.round()).abs() * period as f32 <= 1.0,
                "period {period}: removed {removed}"
            );
        }
    }

    #[test]
    fn silence_is_shortened_by_up_to_what_is_allowed() {
        let mut frame = vec![0.0; 960];
        assert_eq!(shorten(&mut frame, 300), 300);
        assert_eq!(frame.len(), 660);
        let mut frame = vec![0.0; 960];
        assert_eq!(shorten(&mut frame, 5000), MAX_PERIOD);
    }

    #[test]
    fn noise_and_too_little_room_are_left_alone() {
        let mut x = 0x2545_F491_u32;
        let mut noise: Vec<f32> = (0..960)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32 - 0.5) * 0.5
            })
            .collect();
        let before = noise.clone();
        assert_eq!(shorten(&mut noise, 480), 0);
        assert_eq!(noise, before);
        let mut frame = tone(200.0, 960, 0);
        assert_eq!(shorten(&mut frame, MIN_PERIOD - 1), 0);
    }
}
