#![cfg(target_os = "linux")]

//! The real audio path through a real PulseAudio server with null sinks, for 30 s in both
//! directions at once: a known signal played into a virtual microphone comes out of Confer's
//! capture, and what Confer plays reaches the speaker sink's monitor; both sample-aligned
//! (every burst of the signal at the same lag, so no sample was lost or repeated) and no xruns.

mod support;

use std::time::{Duration, Instant};

use confer::media::audio::device::{open_microphone, open_speaker};
use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use support::pulse::{play, record, start_pulse, write_wav};

const RATE: usize = 48_000;
const SECONDS: usize = 30;
const BURST_EVERY: usize = RATE / 2;
const BURST_LEN: usize = RATE / 50;
/// Silence before the first burst, so that nothing is cut by a stream starting.
const LEAD: usize = RATE / 4;

/// Bursts of seeded noise every half second, silence between: each burst is unlike the others,
/// so its position in a recording can be found exactly.
fn bursts(seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut signal = vec![0.0f32; SECONDS * RATE];
    for start in (LEAD..signal.len() - BURST_LEN).step_by(BURST_EVERY) {
        for s in &mut signal[start..start + BURST_LEN] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *s = ((state >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 0.5;
        }
    }
    signal
}

/// The lag of every burst of `sent` in `recorded`: first found by the first loud sample, then
/// refined by correlation. Returns (lag, normalised correlation) per burst found.
fn burst_lags(sent: &[f32], recorded: &[f32]) -> Vec<(usize, f64)> {
    let Some(onset) = recorded.iter().position(|s| s.abs() > 0.05) else {
        return Vec::new();
    };
    let mut lag = onset.saturating_sub(LEAD);
    let mut found = Vec::new();
    for start in (LEAD..sent.len() - BURST_LEN).step_by(BURST_EVERY) {
        let burst = &sent[start..start + BURST_LEN];
        let best = (lag.saturating_sub(64)..=lag + 64)
            .filter(|l| start + l + BURST_LEN <= recorded.len())
            .map(|l| {
                let seg = &recorded[start + l..start + l + BURST_LEN];
                let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
                for (x, y) in burst.iter().zip(seg) {
                    let (x, y) = (f64::from(*x), f64::from(*y));
                    xy += x * y;
                    xx += x * x;
                    yy += y * y;
                }
                (l, xy / (xx * yy).sqrt().max(1e-12))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some(best) = best else { break };
        lag = best.0;
        found.push(best);
    }
    found
}

#[test]
fn thirty_seconds_in_and_out_through_pulseaudio_sample_aligned_without_xruns() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("native");
    let _pulse = start_pulse(dir.path(), &socket);
    let server = format!("unix:{}", socket.display());
    // SAFETY: this test binary has this one test, and no other thread reads the environment
    // while it is set; cpal's PulseAudio client reads it when connecting.
    unsafe { std::env::set_var("PULSE_SERVER", &server) };

    let into_mic = bursts(1);
    let out_of_speaker = bursts(2);
    let wav = dir.path().join("into_mic.wav");
    write_wav(&wav, &into_mic);

    // Capture: Confer's microphone stream on the virtual microphone.
    let (mic_ring, mut captured_ring) = HeapRb::<f32>::new(RATE * 4).split();
    let mic = open_microphone(Some("pulseaudio:mic"), mic_ring).expect("microphone opens");
    assert_eq!(mic.rate, 48_000);

    // Playout: the whole signal queued up front, so the callback always has samples.
    let (mut speaker_ring, speaker_source) = HeapRb::<f32>::new(RATE * (SECONDS + 2)).split();
    assert_eq!(
        speaker_ring.push_slice(&out_of_speaker),
        out_of_speaker.len()
    );
    let (played_ring, mut played) = HeapRb::<f32>::new(RATE * 4).split();
    let recording = dir.path().join("speaker.raw");
    let recorder = record(&server, &recording);
    let player = play(&server, &wav);
    // The recorder is connected once it writes (silence, until Confer plays).
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&recording).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "parec recorded nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let speaker = open_speaker(
        Some("pulseaudio:speaker"),
        speaker_source,
        Some(played_ring),
    )
    .expect("speaker opens");
    assert_eq!(speaker.rate, 48_000);

    // Drain the capture ring (and the echo reference) for the signal's length and a little.
    let mut captured = Vec::with_capacity(RATE * (SECONDS + 3));
    let mut buffer = vec![0.0f32; 4_800];
    let mut misses_while_playing = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(SECONDS as u64 + 2) {
        let n = captured_ring.pop_slice(&mut buffer);
        captured.extend_from_slice(&buffer[..n]);
        played.skip(played.occupied_len());
        if misses_while_playing.is_none()
            && started.elapsed() > Duration::from_secs(SECONDS as u64 - 1)
        {
            misses_while_playing = Some(speaker.health.ring_misses());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(player);
    let mic_health = (
        mic.health.xruns(),
        mic.health.ring_misses(),
        mic.health.is_lost(),
    );
    let speaker_health = (speaker.health.xruns(), speaker.health.is_lost());
    drop(speaker);
    drop(mic);
    drop(recorder);
    let raw = std::fs::read(&recording).unwrap();
    let recorded: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    assert_eq!(
        mic_health,
        (0, 0, false),
        "microphone xruns, ring overflows, lost"
    );
    assert_eq!(speaker_health, (0, false), "speaker xruns, lost");
    assert_eq!(
        misses_while_playing,
        Some(0),
        "the speaker ran dry while playing"
    );

    for (what, sent, got) in [
        ("microphone", &into_mic, &captured),
        ("speaker", &out_of_speaker, &recorded),
    ] {
        if std::env::var_os("AUDIO_DUMP").is_some() {
            let bytes: Vec<u8> = got.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(format!("/tmp/{what}.raw"), bytes).unwrap();
        }
        let lags = burst_lags(sent, got);
        assert!(
            lags.len() >= SECONDS * 2 - 2,
            "{what}: found {} of {} bursts",
            lags.len(),
            SECONDS * 2
        );
        let first = lags[0].0;
        for (i, (lag, correlation)) in lags.iter().enumerate() {
            assert!(
                *correlation > 0.99,
                "{what}: burst {i} correlation {correlation}"
            );
            assert_eq!(
                *lag, first,
                "{what}: burst {i} moved: samples lost or repeated"
            );
        }
    }
}
