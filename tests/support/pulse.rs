//! A private PulseAudio server for tests: a `speaker` null sink, a `room` null sink and a
//! virtual microphone `mic` that hears the room, all 48 kHz mono float so PulseAudio converts
//! nothing and samples stay exact.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Owned, require_tool};

const MIC_MODULE: &str = "module-remap-source";
const MIC_ARGS: &str = "master=room.monitor source_name=mic rate=48000 channels=1 format=float32le";

pub fn pactl(socket: &Path, args: &[&str]) -> bool {
    Command::new("pactl")
        .args(args)
        .env("PULSE_SERVER", format!("unix:{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn start_pulse(dir: &Path, socket: &Path) -> Owned {
    require_tool("pulseaudio", "pulseaudio");
    require_tool("paplay", "pulseaudio-utils");
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    // Sinks at 48 kHz mono float, so PulseAudio converts nothing and samples stay exact.
    let spec = "rate=48000 channels=1 format=float32le";
    let server = Owned(
        Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "--log-target=stderr",
                "--log-level=error",
            ])
            .arg("-L")
            .arg(format!("module-null-sink sink_name=speaker {spec}"))
            .arg("-L")
            .arg(format!("module-null-sink sink_name=room {spec}"))
            .arg("-L")
            .arg(format!("{MIC_MODULE} {MIC_ARGS}"))
            .arg("-L")
            .arg(format!(
                "module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .env("HOME", dir)
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start pulseaudio"),
    );
    // The socket exists a moment before the server answers on it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if pactl(socket, &["info"]) {
            // A stream that loses its device moves to the defaults: make them the devices a
            // user would have, never a monitor (which would feed the speaker back into a call).
            assert!(pactl(socket, &["set-default-source", "mic"]));
            assert!(pactl(socket, &["set-default-sink", "speaker"]));
            break server;
        }
        assert!(Instant::now() < deadline, "PulseAudio did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Records the `speaker` sink's monitor, 48 kHz mono float, to a file (a pipe nobody reads
/// would fill and stall the recording).
pub fn record(server: &str, path: &Path) -> Owned {
    Owned(
        Command::new("parec")
            .args(["-d", "speaker.monitor", "--raw", "--format=float32le"])
            .args(["--rate=48000", "--channels=1", "--latency-msec=20"])
            .env("PULSE_SERVER", server)
            .stdout(std::fs::File::create(path).expect("cannot create the recording"))
            .stderr(Stdio::null())
            .spawn()
            .expect("parec starts"),
    )
}

/// Plays a WAV file into the `room` the virtual microphone hears. paplay keeps half a second
/// queued in the server: starved for longer than its buffer on a busy machine, it would leave a
/// gap in the signal itself, which a test would blame on the capture it checks (a burst once
/// came through damaged with 20 ms queued, the capture reporting no loss).
pub fn play(server: &str, wav: &Path) -> Owned {
    Owned(
        Command::new("paplay")
            .args(["-d", "room", "--latency-msec=500"])
            .arg(wav)
            .env("PULSE_SERVER", server)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("paplay starts"),
    )
}

/// Writes 48 kHz mono float samples as a WAV file.
pub fn write_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("cannot create the WAV file");
    for s in samples {
        w.write_sample(*s).expect("cannot write the WAV file");
    }
    w.finalize().expect("cannot write the WAV file");
}
