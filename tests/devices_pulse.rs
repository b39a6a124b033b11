#![cfg(target_os = "linux")]

//! `confer devices` against a real PulseAudio server with a null sink and a virtual microphone,
//! the same setup that later carries real audio through calls in tests.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Owned, confer, require_tool, run, stderr, stdout};

/// A private PulseAudio server on a socket in `dir`, stopped when dropped.
struct Pulse {
    socket: std::path::PathBuf,
    _server: Owned,
}

impl Pulse {
    fn start(dir: &Path, speaker: &str, mic: &str) -> Pulse {
        require_tool("pulseaudio", "pulseaudio");
        let runtime = dir.join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        let socket = dir.join("native");
        let server = Owned(
            Command::new("pulseaudio")
                .args([
                    "-n", // no default.pa: only the modules below
                    "--daemonize=no",
                    "--exit-idle-time=-1",
                    "--use-pid-file=no",
                    "--disable-shm=yes",
                    "--log-target=stderr",
                    "--log-level=error",
                ])
                .arg("-L")
                .arg(format!(
                    "module-null-sink sink_name={speaker} \
                     sink_properties=device.description=Test-Speaker-{speaker}"
                ))
                .arg("-L")
                .arg(format!(
                    "module-remap-source master={speaker}.monitor source_name={mic} \
                     source_properties=device.description=Test-Mic-{mic}"
                ))
                // The socket comes last, so it appears only once the devices exist.
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
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "PulseAudio did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Pulse {
            socket,
            _server: server,
        }
    }
}

#[test]
fn devices_lists_the_pulseaudio_server_devices() {
    let dir = tempfile::tempdir().unwrap();
    let tag = std::process::id();
    let speaker = format!("confer_speaker_{tag}");
    let mic = format!("confer_mic_{tag}");
    let pulse = Pulse::start(dir.path(), &speaker, &mic);

    let out = run(confer(dir.path())
        .arg("devices")
        .env("PULSE_SERVER", format!("unix:{}", pulse.socket.display())));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Microphones (PulseAudio):"), "{text}");
    assert!(text.contains("Speakers (PulseAudio):"), "{text}");
    // The server's defaults are the devices it loaded; they are marked as such.
    let mic_line = format!("* pulseaudio:{mic}");
    let speaker_line = format!("* pulseaudio:{speaker}");
    assert!(text.contains(&mic_line), "{text}");
    assert!(
        text.contains(&format!("Test-Mic-{mic}  (default)")),
        "{text}"
    );
    assert!(text.contains(&speaker_line), "{text}");
    assert!(
        text.contains(&format!("Test-Speaker-{speaker}  (default)")),
        "{text}"
    );
}

#[test]
fn a_dead_pulseaudio_socket_falls_back_to_alsa() {
    let dir = tempfile::tempdir().unwrap();
    // A socket file nobody listens on: what a crashed server leaves behind.
    let socket = dir.path().join("native");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let out = run(confer(dir.path())
        .arg("devices")
        .env("PULSE_SERVER", format!("unix:{}", socket.display())));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).contains("Speakers (ALSA):"),
        "{}",
        stdout(&out)
    );
}
