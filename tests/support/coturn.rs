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
    /// answers a STUN Binding request.
    pub fn start(dir: &Path) -> Coturn {
        require_tool("turnserver", "coturn");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("no free port")
            .port();
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
                .args(["--min-port=50000", "--max-port=50999", "--no-tcp-relay"])
                .arg(format!(
                    "--pidfile={}",
                    dir.join("turnserver.pid").display()
                ))
                .arg(format!(
                    "--log-file={}",
                    dir.join("turnserver.log").display()
                ))
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
        loop {
            assert!(Instant::now() < deadline, "coturn did not answer on {addr}");
            socket.send_to(&binding_request(&id), addr).unwrap();
            let mut buffer = [0u8; 512];
            if let Ok((n, _)) = socket.recv_from(&mut buffer)
                && mapped_address(&buffer[..n], &id).is_some()
            {
                break;
            }
        }
        Coturn { addr, process }
    }

    pub fn url(&self) -> String {
        format!("turn:{}", self.addr)
    }
}
