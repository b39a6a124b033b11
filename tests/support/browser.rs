//! Debian's headless Chromium, driven through tests/browser/driver.mjs (playwright-core), and a
//! network namespace with only loopback for the test's thread, so that every process the test
//! starts (server, native participants, the browser) sees the same few, predictable addresses.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Owned;

/// How long one command to the browser may take (opening a page, a click, a script).
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Fails early, with what to do, when the browser or its driver is missing.
pub fn require_browser() {
    super::require_tool("chromium", "chromium");
    super::require_tool("node", "nodejs");
    assert!(
        tools_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test (it runs npm ci in tests/browser)"
    );
}

/// The calling thread in a network namespace of its own with loopback up; children started from
/// this thread are in it too. Dropping it puts the thread back where it was.
pub struct NetNs {
    original: OwnedFd,
}

impl NetNs {
    pub fn enter() -> NetNs {
        let original: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")
            .expect("cannot open this thread's network namespace")
            .into();
        // SAFETY: plain system calls on this thread; no memory is shared with them.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET) failed (needs root or CAP_SYS_ADMIN): {}",
            std::io::Error::last_os_error()
        );
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("cannot run ip (package iproute2)");
        assert!(up.success(), "ip link set lo up failed");
        NetNs { original }
    }

    /// Drops this share of the UDP datagrams that loopback carries in the namespace (each way;
    /// TCP, so signaling, is spared), with iptables' `statistic` match.
    pub fn drop_udp(&self, probability: f64) {
        let status = Command::new("iptables")
            .args(["-A", "INPUT", "-i", "lo", "-p", "udp", "-m", "statistic"])
            .args([
                "--mode",
                "random",
                "--probability",
                &probability.to_string(),
            ])
            .args(["-j", "DROP"])
            .status()
            .expect("cannot run iptables (package iptables)");
        assert!(status.success(), "iptables could not add the drop rule");
    }
}

/// The comment that marks [`NetNs::drop_rtp_from_ssrc`]'s rules, to count what they dropped.
const FROM_SSRC: &str = "confer-test-from-ssrc";

impl NetNs {
    /// Drops every UDP datagram on loopback in the namespace (media stops both ways; TCP, so
    /// signaling, goes on) until `restore_udp`.
    pub fn cut_udp(&self) {
        Self::iptables(&["-I", "INPUT", "-i", "lo", "-p", "udp", "-j", "DROP"]);
    }

    pub fn restore_udp(&self) {
        Self::iptables(&["-D", "INPUT", "-i", "lo", "-p", "udp", "-j", "DROP"]);
    }

    /// Drops, from now on, every RTP packet on loopback sent from `ssrc` (read in the clear in
    /// its header, with iptables' `u32` match): one stream of one sender, such as its resends.
    pub fn drop_rtp_from_ssrc(&self, ssrc: u32) {
        // RTP (first byte 0x80..0xbf) whose SSRC, 8 bytes into the UDP payload, is `ssrc`.
        let from_ssrc = format!("0>>22&0x3C@8>>24=0x80:0xBF&&0>>22&0x3C@16={ssrc}");
        Self::iptables(&[
            "-I",
            "INPUT",
            "-i",
            "lo",
            "-p",
            "udp",
            "-m",
            "u32",
            "--u32",
            &from_ssrc,
            "-m",
            "comment",
            "--comment",
            FROM_SSRC,
            "-j",
            "DROP",
        ]);
    }

    /// How many packets [`NetNs::drop_rtp_from_ssrc`] dropped so far.
    pub fn dropped_from_ssrc(&self) -> u64 {
        let out = Command::new("iptables")
            .args(["-L", "INPUT", "-v", "-x", "-n"])
            .output()
            .expect("cannot run iptables (package iptables)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|line| line.contains(FROM_SSRC))
            .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    fn iptables(args: &[&str]) {
        let status = Command::new("iptables")
            .args(args)
            .status()
            .expect("cannot run iptables (package iptables)");
        assert!(status.success(), "iptables {args:?} failed");
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // SAFETY: the fd is a network namespace this thread was in.
        unsafe { libc::setns(self.original.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}

pub struct Browser {
    process: Owned,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
    next_id: u64,
    log: PathBuf,
}

impl Browser {
    /// Starts the driver and its Chromium; page consoles go to `log`.
    pub fn start(log: &Path) -> Browser {
        require_browser();
        let file = std::fs::File::create(log).expect("cannot create the browser log");
        let mut child = Command::new("node")
            .arg(tools_dir().join("driver.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("cannot start node");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, answers) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Browser {
            process: Owned(child),
            stdin,
            answers,
            next_id: 1,
            log: log.to_path_buf(),
        }
    }

    /// What the pages printed, for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(&mut self, mut command: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        let stdin = self.stdin.as_mut().expect("the driver's stdin");
        writeln!(stdin, "{command}").map_err(|e| format!("the driver is gone: {e}"))?;
        let deadline = Instant::now() + COMMAND_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .answers
                .recv_timeout(left)
                .map_err(|_| format!("no answer to {command} in time"))?;
            let Ok(answer) = serde_json::from_str::<Value>(&line) else {
                continue; // not ours (a stray line)
            };
            if answer["id"] != json!(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                return Err(format!("{command}: {error}"));
            }
            return Ok(answer["ok"].clone());
        }
    }

    fn must(&mut self, command: Value) -> Value {
        match self.request(command) {
            Ok(value) => value,
            Err(e) => panic!("{e}\nbrowser log:\n{}", self.log()),
        }
    }

    pub fn open(&mut self, page: &str, url: &str) {
        self.must(json!({"op": "open", "page": page, "url": url}));
    }

    pub fn click(&mut self, page: &str, selector: &str) {
        self.must(json!({"op": "click", "page": page, "selector": selector}));
    }

    pub fn fill(&mut self, page: &str, selector: &str, value: &str) {
        self.must(json!({"op": "fill", "page": page, "selector": selector, "value": value}));
    }

    /// Resizes the page's window to `width` x `height` and saves what it shows as a JPEG.
    pub fn screenshot(&mut self, page: &str, width: u32, height: u32, path: &Path) {
        self.must(json!({
            "op": "screenshot", "page": page, "width": width, "height": height,
            "path": path.to_str().expect("a UTF-8 path"),
        }));
    }

    pub fn close(&mut self, page: &str) {
        self.must(json!({"op": "close", "page": page}));
    }

    /// The value of a JavaScript expression in the page (a promise is awaited).
    pub fn eval(&mut self, page: &str, expression: &str) -> Value {
        self.must(json!({"op": "eval", "page": page, "expression": expression}))
    }

    /// Evaluates `expression` until it is truthy, and returns that value; panics with `what`
    /// and the last value after `limit`.
    pub fn wait_for(&mut self, page: &str, expression: &str, limit: Duration, what: &str) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(page, expression);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "{page}: {what} (last: {value})\nbrowser log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End of input closes the browser; a driver still running after that is stopped by
        // its pid when `process` drops (SIGTERM, on which Playwright closes its Chromium).
        drop(self.stdin.take());
        let _ = self.process.wait_for_exit(Duration::from_secs(5));
    }
}

/// What a page's peer connections have received, by the remote participant's name:
/// `{NAME: {state, frames, codec, width, samples, audio_codec, dtls}}` from `getStats`.
pub const RECEIVED: &str = r#"(async () => {
  const out = {};
  for (const peer of window.confer.peers.values()) {
    const stats = await peer.pc.getStats();
    const seen = { state: peer.pc.connectionState, frames: 0, samples: 0 };
    for (const r of stats.values()) {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        seen.frames = r.framesDecoded || 0;
        seen.codec = stats.get(r.codecId)?.mimeType;
        seen.width = r.frameWidth;
      }
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        seen.samples = r.totalSamplesReceived || 0;
        seen.audio_codec = stats.get(r.codecId)?.mimeType;
      }
      if (r.type === "transport") seen.dtls = r.tlsVersion;
    }
    out[peer.name] = seen;
  }
  return out;
})()"#;
