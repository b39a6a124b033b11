//! The microphone processing on a synthetic room: the far end's voice comes back into the
//! microphone through a 30 ms delay and a 200 ms reverberant tail; the echo canceller must remove
//! it and keep the near end's voice (not delayed much, not inverted).

use confer::media::audio::processing::{AudioProcessor, BLOCK, ProcessingSettings};

const RATE: usize = 48_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Voice-like: a gliding pitch with harmonics and syllable-rate loudness.
fn voice(seconds: f32, pitch: f32, rate_hz: f32) -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..(seconds * RATE as f32) as usize)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            phase += (pitch + 0.25 * pitch * (t * 2.7).sin()) * std::f32::consts::TAU / RATE as f32;
            let syllables = (0.5 + 0.5 * (t * rate_hz * std::f32::consts::TAU).sin()).powi(2);
            0.3 * syllables
                * (phase.sin()
                    + 0.6 * (2.0 * phase).sin()
                    + 0.4 * (3.0 * phase).sin()
                    + 0.2 * (5.0 * phase).sin())
        })
        .collect()
}

/// A room: 30 ms to the first reflection, then a decaying tail of 200 ms.
fn room_response(rng: &mut Rng) -> Vec<f32> {
    let delay = RATE * 30 / 1000;
    let tail = RATE * 200 / 1000;
    let mut h = vec![0.0; delay + tail];
    h[delay] = 0.5;
    // Reflections every 16 samples (a third of a millisecond): dense enough to be a room,
    // sparse enough for a quick convolution in a debug build.
    for (i, tap) in h[delay + 1..].iter_mut().enumerate().step_by(16) {
        *tap = 0.15 * rng.next() * (-(i as f32) / (tail as f32 / 6.0)).exp();
    }
    h
}

fn convolve(signal: &[f32], h: &[f32]) -> Vec<f32> {
    let taps: Vec<(usize, f32)> = h
        .iter()
        .enumerate()
        .filter(|(_, v)| v.abs() > 1e-4)
        .map(|(i, v)| (i, *v))
        .collect();
    (0..signal.len())
        .map(|n| {
            taps.iter()
                .filter(|(i, _)| *i <= n)
                .map(|(i, v)| signal[n - i] * v)
                .sum()
        })
        .collect()
}

fn energy(s: &[f32]) -> f64 {
    s.iter().map(|v| f64::from(*v) * f64::from(*v)).sum()
}

fn seconds(s: &[f32], from: f32, to: f32) -> &[f32] {
    &s[(from * RATE as f32) as usize..(to * RATE as f32) as usize]
}

/// The lag (output behind input) and value of the highest normalised cross-correlation.
fn best_alignment(input: &[f32], output: &[f32], max_lag: usize) -> (usize, f64) {
    (0..max_lag)
        .map(|lag| {
            let n = input.len() - max_lag;
            let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
            for i in 0..n {
                let (x, y) = (f64::from(input[i]), f64::from(output[i + lag]));
                xy += x * y;
                xx += x * x;
                yy += y * y;
            }
            (lag, xy / (xx * yy).sqrt().max(1e-12))
        })
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap()
}

fn run(settings: ProcessingSettings, far: &[f32], mic: &[f32]) -> Vec<f32> {
    let mut processor = AudioProcessor::new(settings);
    let mut out = mic.to_vec();
    for (far_block, mic_block) in far.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
        processor.far_end(far_block);
        processor.process(mic_block);
    }
    out
}

#[test]
fn echo_is_reduced_by_25_db_and_the_near_end_voice_is_kept() {
    let mut rng = Rng(0x5eed);
    // Far end talks for the first 8 s; the near end from 6 s on (double talk 6-8 s).
    let mut far = voice(8.0, 140.0, 3.1);
    far.resize(10 * RATE, 0.0);
    let mut near = vec![0.0; 6 * RATE];
    near.extend(voice(4.0, 230.0, 3.7));
    let echo = convolve(&far, &room_response(&mut rng));
    let mic: Vec<f32> = echo
        .iter()
        .zip(&near)
        .map(|(e, n)| e + n + 0.001 * rng.next())
        .collect();

    let settings = ProcessingSettings {
        echo_cancellation: true,
        noise_suppression: false,
        auto_gain: false,
        rnnoise: false,
    };
    let out = run(settings, &far, &mic);

    // Echo only, once the canceller has had 3 s to learn the room.
    let erle = 10.0 * (energy(seconds(&mic, 3.0, 6.0)) / energy(seconds(&out, 3.0, 6.0))).log10();
    assert!(erle >= 25.0, "echo reduced by {erle:.1} dB");

    // Near end alone: its voice comes through, at its level, in phase, barely delayed.
    let near_in = seconds(&near, 8.5, 9.9);
    let near_out = seconds(&out, 8.5, 9.9);
    let level = 10.0 * (energy(near_out) / energy(near_in)).log10();
    assert!(level.abs() < 3.0, "near end level changed by {level:.1} dB");
    // Not 1.0: the canceller's suppressor still shapes the voice a little after the far end
    // stops (measured 0.84 to 0.93 over half-second windows).
    let (lag, correlation) = best_alignment(near_in, near_out, RATE * 30 / 1000);
    assert!(
        correlation > 0.8,
        "near end correlation {correlation:.2} at {lag} samples"
    );
    assert!(lag < RATE * 20 / 1000, "processing delays by {lag} samples");

    // Both talking: the near end is not gated out to kill the echo (measured: 7 dB quieter,
    // AEC3's suppressor at work; half-duplex gating would be 20 dB or more).
    let double_talk =
        10.0 * (energy(seconds(&out, 6.0, 8.0)) / energy(seconds(&near, 6.0, 8.0))).log10();
    assert!(
        double_talk > -10.0,
        "near end during double talk at {double_talk:.1} dB"
    );
}

#[test]
fn with_everything_off_the_microphone_passes_unchanged() {
    let far = voice(1.0, 140.0, 3.0);
    let mic = voice(1.0, 230.0, 3.5);
    let off = ProcessingSettings {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: false,
        rnnoise: false,
    };
    let out = run(off, &far, &mic);
    let (lag, correlation) = best_alignment(&mic, &out, 200);
    assert!(correlation > 0.99, "{correlation} at {lag}");
    let level = 10.0 * (energy(&out) / energy(&mic)).log10();
    assert!(level.abs() < 0.5, "{level}");
}

#[test]
fn rnnoise_removes_steady_noise_and_gain_lifts_a_quiet_voice() {
    let mut rng = Rng(7);
    let noise: Vec<f32> = (0..3 * RATE).map(|_| 0.05 * rng.next()).collect();
    let rnnoise = ProcessingSettings {
        echo_cancellation: false,
        noise_suppression: true,
        auto_gain: false,
        rnnoise: true,
    };
    let out = run(rnnoise, &vec![0.0; noise.len()], &noise);
    let reduction =
        10.0 * (energy(seconds(&noise, 1.0, 3.0)) / energy(seconds(&out, 1.0, 3.0))).log10();
    assert!(reduction > 10.0, "noise reduced by {reduction:.1} dB");

    let quiet: Vec<f32> = voice(6.0, 200.0, 3.0).iter().map(|v| v * 0.05).collect();
    let gain = ProcessingSettings {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: true,
        rnnoise: false,
    };
    let out = run(gain, &vec![0.0; quiet.len()], &quiet);
    let lift = 10.0 * (energy(seconds(&out, 4.0, 6.0)) / energy(seconds(&quiet, 4.0, 6.0))).log10();
    assert!(lift > 6.0, "a quiet voice lifted by only {lift:.1} dB");
}

#[test]
fn no_setting_inverts_the_voice_or_delays_it_by_more_than_20_ms() {
    let mic = voice(2.0, 230.0, 3.5);
    let far = vec![0.0; mic.len()];
    let all = ProcessingSettings::default();
    let none = ProcessingSettings {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: false,
        rnnoise: false,
    };
    for settings in [
        ProcessingSettings {
            echo_cancellation: true,
            ..none
        },
        ProcessingSettings {
            noise_suppression: true,
            ..none
        },
        ProcessingSettings {
            auto_gain: true,
            ..none
        },
        ProcessingSettings {
            noise_suppression: true,
            rnnoise: true,
            ..none
        },
        all,
        ProcessingSettings {
            rnnoise: true,
            ..all
        },
    ] {
        let out = run(settings, &far, &mic);
        let (lag, correlation) = best_alignment(
            seconds(&mic, 1.0, 1.9),
            seconds(&out, 1.0, 1.9),
            RATE * 30 / 1000,
        );
        assert!(
            correlation > 0.9,
            "{settings:?}: correlation {correlation:.2} at {lag}"
        );
        assert!(
            lag < RATE * 20 / 1000,
            "{settings:?}: delayed {lag} samples"
        );
    }
}
