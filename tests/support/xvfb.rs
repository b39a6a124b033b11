//! An Xvfb server for the tests that need a display: the real window, and screens to share.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::{Owned, require_tool};

/// An Xvfb server on a free display, stopped when dropped.
pub struct Xvfb {
    /// `:N`, for `DISPLAY`.
    pub display: String,
    _server: Owned,
}

impl Xvfb {
    /// A server with one 24-bit screen of `(width, height)` and a black root window.
    pub fn start((width, height): (usize, usize)) -> Xvfb {
        require_tool("Xvfb", "xvfb");
        // Two servers choosing a free display at the same instant can trip over each other's
        // lock files; start one at a time.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let screen = format!("{width}x{height}x24");
        // -displayfd makes Xvfb pick a free display and print its number once it is ready.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &screen,
                "-nolisten",
                "tcp",
                "-br",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start Xvfb");
        let stdout = child.stdout.take().expect("piped stdout");
        let server = Owned(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("Xvfb did not report its display");
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb exited without a display");
        Xvfb {
            display: format!(":{number}"),
            _server: server,
        }
    }
}
