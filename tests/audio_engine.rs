#![cfg(target_os = "linux")]

//! The audio engine with real devices on a real PulseAudio server: a tone played into the
//! virtual microphone goes through capture, processing and Opus, comes back as packets (a
//! loop standing in for the network, dropping some), through the jitter buffer, decoder and
//! mixer, and out of the speaker sink. Then the sound server dies and comes back.

mod support;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::TrySendError;
use std::time::{Duration, Instant};

use confer::media::DeviceProblem;
use confer::media::audio::engine::{AudioEngine, AudioEvent, PlayoutInput};
use confer::media::audio::processing::ProcessingSettings;
use confer::media::source::{MicChoice, SpeakerChoice};
use support::pulse::{play, record, start_pulse, write_wav};

const RATE: usize = 48_000;

fn tone_wav(path: &std::path::Path, seconds: usize) {
    let tone: Vec<f32> = (0..seconds * RATE)
        .map(|i| (i as f32 / RATE as f32 * 440.0 * std::f32::consts::TAU).sin() * 0.3)
        .collect();
    write_wav(path, &tone);
}

/// Forwards the engine's own packets back to it as a remote peer's, dropping one in `drop_every`.
fn loop_packets(engine: &AudioEngine, sent: &mut u64, drop_every: u64) {
    while let Ok(packet) = engine.packets.try_recv() {
        *sent += 1;
        if sent.is_multiple_of(drop_every) {
            continue;
        }
        let input = PlayoutInput::Packet {
            peer: "echo".into(),
            seq: packet.seq,
            payload: packet.payload,
            arrived: Instant::now(),
        };
        if let Err(TrySendError::Disconnected(_)) = engine.incoming.try_send(input) {
            panic!("playout thread gone");
        }
    }
}

fn wait_for(engine: &AudioEngine, want: impl Fn(&AudioEvent) -> bool, what: &str) -> AudioEvent {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match engine.events.recv_timeout(left) {
            Ok(event) if want(&event) => return event,
            Ok(other) => eprintln!("while waiting for {what}: {other:?}"),
            Err(_) => panic!("no {what} within 15 s"),
        }
    }
}

#[test]
fn a_tone_goes_through_the_whole_engine_and_the_devices_come_back_after_the_sound_server_dies() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("native");
    let pulse = start_pulse(dir.path(), &socket);
    let server = format!("unix:{}", socket.display());
    // SAFETY: the only test in this binary; set before any thread that reads it starts.
    unsafe { std::env::set_var("PULSE_SERVER", &server) };

    let wav = dir.path().join("tone.wav");
    tone_wav(&wav, 20);
    let first_recording = dir.path().join("first.raw");
    let recorder = record(&server, &first_recording);
    let player = play(&server, &wav);

    // Processing off: the speaker plays back what the microphone sent, so the echo canceller
    // would rightly remove it, and noise suppression takes a steady tone for noise
    // (tests/echo_cancel.rs covers both).
    let settings = ProcessingSettings {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: false,
        rnnoise: false,
    };
    let engine = AudioEngine::start(
        &MicChoice::Device("pulseaudio:mic".into()),
        SpeakerChoice::Device("pulseaudio:speaker".into()),
        settings,
    )
    .unwrap();
    let is_mic_started = |e: &AudioEvent| matches!(e, AudioEvent::MicStarted { .. });
    wait_for(&engine, is_mic_started, "microphone");

    let mut sent = 0;
    let level = run_for(&engine, &mut sent, Duration::from_secs(5));
    let peer = engine.playout.control().peers()["echo"];
    assert!(
        level > 0.1,
        "the tone played back at level {level}: {peer:?}"
    );
    assert!(
        peer.jitter.lost > 0,
        "the dropped packets were noticed: {peer:?}"
    );
    assert!(engine.send.control().level() > 0.1);
    drop(recorder);
    assert_tone(&first_recording);

    // The sound server goes away (the way a USB headset takes both its devices with it):
    // both losses reported, silence sent meanwhile, and both back once it returns.
    while engine.events.try_recv().is_ok() {}
    drop(player);
    drop(pulse);
    let (mut mic_lost, mut speaker_lost) = (false, false);
    while !(mic_lost && speaker_lost) {
        let lost =
            |e: &AudioEvent| matches!(e, AudioEvent::MicLost(_) | AudioEvent::SpeakerLost(_));
        match wait_for(&engine, lost, "loss reports") {
            AudioEvent::MicLost(reason) => {
                // Gone from under us, or no microphone left at all.
                let said = reason.to_string();
                assert!(
                    said.contains("microphone") || reason == DeviceProblem::Missing,
                    "{said}"
                );
                mic_lost = true;
            }
            AudioEvent::SpeakerLost(reason) => {
                let said = reason.to_string();
                assert!(
                    said.contains("speaker") || reason == DeviceProblem::Missing,
                    "{said}"
                );
                speaker_lost = true;
            }
            _ => unreachable!(),
        }
    }
    let packets_before = engine.send.control().packets.load(Relaxed);
    run_for(&engine, &mut sent, Duration::from_secs(2));
    let packets_during = engine.send.control().packets.load(Relaxed) - packets_before;
    assert!(
        packets_during >= 50,
        "{packets_during} packets while unplugged"
    );

    let _pulse = start_pulse(dir.path(), &socket);
    let second_recording = dir.path().join("second.raw");
    let recorder = record(&server, &second_recording);
    let _player = play(&server, &wav);
    wait_for(&engine, is_mic_started, "microphone back");
    let level = run_for(&engine, &mut sent, Duration::from_secs(5));
    assert!(level > 0.1, "after the server came back: {level}");
    drop(recorder);
    drop(engine);
    assert_tone(&second_recording);
}

/// Runs the loop for `how_long`; returns the median level played in its last second (one frame
/// may be a quiet concealment of a dropped packet, so no single reading is trusted).
fn run_for(engine: &AudioEngine, sent: &mut u64, how_long: Duration) -> f32 {
    let started = Instant::now();
    let mut levels = Vec::new();
    while started.elapsed() < how_long {
        loop_packets(engine, sent, 20);
        std::thread::sleep(Duration::from_millis(5));
        if how_long.saturating_sub(started.elapsed()) < Duration::from_secs(1)
            && let Some(peer) = engine.playout.control().peers().get("echo")
        {
            levels.push(peer.level);
        }
    }
    levels.sort_by(f32::total_cmp);
    levels.get(levels.len() / 2).copied().unwrap_or(0.0)
}

/// What reached the speaker sink is the tone: 440 Hz at about its level.
fn assert_tone(recording: &std::path::Path) {
    let raw = std::fs::read(recording).unwrap();
    let samples: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!(
        samples.len() > 4 * RATE,
        "{} samples recorded",
        samples.len()
    );
    let window = &samples[samples.len() - 2 * RATE..];
    let rms = (window.iter().map(|s| s * s).sum::<f32>() / window.len() as f32).sqrt();
    assert!(rms > 0.1, "speaker level {rms}");
    let crossings = window
        .windows(2)
        .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
        .count();
    let hz = crossings as f32 / 2.0;
    assert!((hz - 440.0).abs() < 10.0, "{hz} Hz");
}
