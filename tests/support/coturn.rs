//! A real coturn on loopback with long-term credentials, for calls through a TURN relay.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use confer::rtc::stun::{binding_request, mapped_address};

use super::{Owned, require_tool};

pub const USER: &str = "confer";
pub const PASSWORD: &str = "relay-secret";

pub struct Coturn {
    pub addr: SocketAddr,
    pub process: Owned,
}

impl Coturn {
    /// Starts `turnserver` on a free loopback port, logging to `dir`, and waits until it
    /// answers a STUN Binding request. A port taken between picking it and coturn binding it
    /// (tests start servers side by side) gets another try on another port.
    pub fn start(dir: &Path) -> Coturn {
        require_tool("turnserver", "coturn");
        let mut failures = Vec::new();
        for attempt in 0..3 {
            match Self::try_start(dir, attempt) {
                Ok(coturn) => return coturn,
                Err(why) => failures.push(why),
            }
        }
        panic!("coturn did not start: {failures:#?}");
    }

    fn try_start(dir: &Path, attempt: u32) -> Result<Coturn, String> {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("no free port")
            .port();
        let log = dir.join(format!("turnserver-{attempt}.log"));
        let process = Owned(
            Command::new("turnserver")
                .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
                .arg(format!("--listening-port={port}"))
                .args(["--lt-cred-mech", "--realm=confer.test"])
                .arg(format!("--user={USER}:{PASSWORD}"))
                .args([
                    "--no-tls",
                    "--no-dtls",
                    "--no-cli",
                    "--allow-loopback-peers",
                ])
                // No second port for NAT behaviour discovery (port + 1, maybe another test's).
                .arg("--no-rfc5780")
                .args(["--min-port=50000", "--max-port=50999", "--no-tcp-relay"])
                .arg(format!(
                    "--pidfile={}",
                    dir.join(format!("turnserver-{attempt}.pid")).display()
                ))
                .arg(format!("--log-file={}", log.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start turnserver"),
        );
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let id = [3u8; 12];
        while Instant::now() < deadline {
            socket.send_to(&binding_request(&id), addr).unwrap();
            let mut buffer = [0u8; 512];
            if let Ok((n, _)) = socket.recv_from(&mut buffer)
                && mapped_address(&buffer[..n], &id).is_some()
            {
                return Ok(Coturn { addr, process });
            }
        }
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = logged.lines().rev().take(15).collect();
        Err(format!("no answer on {addr}; its log ends: {tail:#?}"))
    }

    pub fn url(&self) -> String {
        format!("turn:{}", self.addr)
    }
}
