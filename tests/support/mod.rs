//! Helpers shared by the process tests: running `confer`, owning child processes so that a
//! failing test still stops every process it started.

#![allow(dead_code)] // each test file uses its own part of this module

pub mod browser;
pub mod coturn;
pub mod pulse;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

pub const CONFER: &str = env!("CARGO_BIN_EXE_confer");

/// A `confer` command with its files kept in `home`, away from the user's own, and no audio
/// server unless the test sets one.
pub fn confer(home: &Path) -> Command {
    let mut cmd = Command::new(CONFER);
    cmd.env("CONFER_CONFIG_DIR", home.join("config"))
        .env("CONFER_DATA_DIR", home.join("data"))
        .env("XDG_RUNTIME_DIR", home)
        .env_remove("PULSE_SERVER")
        .env_remove("PULSE_RUNTIME_PATH")
        .env_remove("RUST_LOG")
        .env_remove("WAYLAND_DISPLAY");
    cmd
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
