//! Helpers shared by the process tests: running `confer`, owning child processes so that a
//! failing test still stops every process it started.

#![allow(dead_code)] // each test file uses its own part of this module

pub mod browser;
pub mod coturn;
#[cfg(target_os = "linux")]
pub mod document;
pub mod janus;
pub mod janus_demo;
pub mod pulse;
pub mod xvfb;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

pub const CONFER: &str = env!("CARGO_BIN_EXE_confer");

/// A `confer` command with its files kept in `home`, away from the user's own, and no audio
/// server unless the test sets one.
pub fn confer(home: &Path) -> Command {
    confer_as(Command::new(CONFER), home)
}

/// `cmd` (which runs `confer`, perhaps through a wrapper such as `ip netns exec`) set up as
/// [`confer`] sets it up.
pub fn confer_as(mut cmd: Command, home: &Path) -> Command {
    cmd.env("CONFER_CONFIG_DIR", home.join("config"))
        .env("CONFER_DATA_DIR", home.join("data"))
        .env("XDG_RUNTIME_DIR", home)
        .env_remove("PULSE_SERVER")
        .env_remove("PULSE_RUNTIME_PATH")
        .env_remove("RUST_LOG")
        .env_remove("WAYLAND_DISPLAY");
    cmd
}

/// `cmd` (a `confer` command set up by [`confer_as`]) joining `link` without a window as
/// `name`, with the synthetic camera and microphone, for `seconds`; its stats go to
/// `home/NAME.jsonl`, its stderr to a pipe.
pub fn join_synthetic(cmd: Command, home: &Path, link: &str, name: &str, seconds: u32) -> Owned {
    join_with(
        cmd,
        home,
        link,
        name,
        seconds,
        &["--camera", "test-pattern"],
    )
}

/// [`join_synthetic`] with options of the test's own after `join` (another camera, a
/// `--view`); `--camera` among them replaces the test pattern.
pub fn join_with(
    mut cmd: Command,
    home: &Path,
    link: &str,
    name: &str,
    seconds: u32,
    options: &[&str],
) -> Owned {
    let camera: &[&str] = if options.contains(&"--camera") {
        &[]
    } else {
        &["--camera", "test-pattern"]
    };
    cmd.args(["join", link, "--headless", "--name", name])
        .args(camera)
        .args(options)
        .args(["--mic", "tone"])
        .args(["--duration", &seconds.to_string()])
        .arg("--stats")
        .arg(home.join(format!("{name}.jsonl")))
        .stdout(std::process::Stdio::null());
    // For chasing a failure: CONFER_TEST_LOGS=DIR sends each participant's stderr to
    // DIR/NAME.log, with RUST_LOG from CONFER_TEST_RUST_LOG (the test then sees no stderr).
    match std::env::var_os("CONFER_TEST_LOGS") {
        Some(dir) => {
            let file = std::fs::File::create(Path::new(&dir).join(format!("{name}.log")))
                .expect("cannot create the participant's log");
            cmd.stderr(file);
            if let Some(filter) = std::env::var_os("CONFER_TEST_RUST_LOG") {
                cmd.env("RUST_LOG", filter);
            }
        }
        None => {
            cmd.stderr(std::process::Stdio::piped());
        }
    }
    let child = cmd.spawn().expect("cannot start confer join");
    Owned(child)
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("failed to start confer")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A child process that is killed (by its pid) and reaped when dropped.
pub struct Owned(pub Child);

impl Owned {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits up to `limit` for the process to exit by itself, then reads what it wrote to its
    /// stderr (when that was piped).
    pub fn wait_with_stderr(&mut self, limit: Duration) -> Option<(ExitStatus, String)> {
        let status = self.wait_for_exit(limit)?;
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        Some((status, stderr))
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("try_wait failed") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("failed to run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }
}

impl Drop for Owned {
    /// Asks politely first (SIGTERM, so servers remove their sockets and lock files), then
    /// kills.
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid().to_string())
                .status();
            if self.wait_for_exit(Duration::from_secs(3)).is_none() {
                let _ = self.0.kill();
            }
        }
        let _ = self.0.wait();
    }
}

/// A `--stats` file's lines about the remote participant called `name`, in order (lines that
/// are not JSON yet, being written, are skipped).
pub fn stats_lines_about(path: &Path, name: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["name"] == name)
        .collect()
}

/// Waits up to `limit` for a `confer join` participant to end by itself (successfully), and
/// returns its last stats line (`home/NAME.jsonl`) about each remote, by name.
pub fn finish_call(
    home: &Path,
    mut participant: Owned,
    name: &str,
    limit: Duration,
) -> std::collections::HashMap<String, serde_json::Value> {
    let (status, stderr) = participant
        .wait_with_stderr(limit)
        .unwrap_or_else(|| panic!("{name} did not end"));
    assert!(status.success(), "{name} failed: {status}\n{stderr}");
    last_stats_by_name(&home.join(format!("{name}.jsonl")))
}

/// A poll of a participant's stats about `of` until `done` holds (each line is a second's);
/// the last line either way.
pub fn stats_until(
    path: &Path,
    of: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        if let Some(line) = stats_lines_about(path, of).pop() {
            last = line;
        }
        if done(&last) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

/// A finished `--stats` file's last line about each remote participant, by name; every line
/// must be JSON.
pub fn last_stats_by_name(path: &Path) -> std::collections::HashMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut last = std::collections::HashMap::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let name = value["name"]
            .as_str()
            .expect("a stats line names its participant");
        last.insert(name.to_string(), value);
    }
    last
}

/// Fails with a clear message when a tool the test needs is not installed.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    assert!(
        found,
        "`{tool}` is not installed; install the Debian package `{package}` (scripts/test does)"
    );
}

pub mod serve;
