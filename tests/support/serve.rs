//! A `confer serve` process on loopback, and a raw WebSocket client to talk to it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use confer::signal::proto::ServerMessage;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use super::{Owned, confer};

/// How long a test waits for something the server should send promptly.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Serve {
    pub addr: String,
    pub process: Owned,
}

impl Serve {
    /// Starts `confer serve --listen 127.0.0.1:0` with `args`, and waits until it listens.
    pub fn start(home: &Path, args: &[&str]) -> Serve {
        Self::spawn(home, "127.0.0.1:0", args, Stdio::inherit(), None)
    }

    /// Like `start`, on a given address (a server that comes back where it was).
    pub fn start_at(home: &Path, listen: &str, args: &[&str]) -> Serve {
        Self::spawn(home, listen, args, Stdio::inherit(), None)
    }

    /// Like `start`, logging everything (`RUST_LOG=trace`) to `log`.
    pub fn start_logging_to(home: &Path, args: &[&str], log: &Path) -> Serve {
        let file = std::fs::File::create(log).expect("cannot create the log file");
        Self::spawn(home, "127.0.0.1:0", args, Stdio::from(file), Some("trace"))
    }

    fn spawn(
        home: &Path,
        listen: &str,
        args: &[&str],
        stderr: Stdio,
        rust_log: Option<&str>,
    ) -> Serve {
        let mut command = confer(home);
        if let Some(level) = rust_log {
            command.env("RUST_LOG", level);
        }
        let mut child = command
            .args(["serve", "--listen", listen])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("cannot start confer serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let process = Owned(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("confer serve printed nothing");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_once("://"))
            .and_then(|(_, rest)| rest.strip_suffix("/ws"))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Serve { addr, process }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A plain HTTP GET; returns the status code and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path).await
    }
}

pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("no HTTP response in time")
        .expect("read failed");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A WebSocket client speaking the protocol by hand, as a third party would.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio::time::timeout(PATIENCE, connect_async(url))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Client { ws }
    }

    pub async fn send(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .expect("send failed");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send failed");
    }

    /// The next protocol message (pings are answered and skipped).
    pub async fn recv(&mut self) -> ServerMessage {
        self.try_recv(PATIENCE)
            .await
            .expect("nothing arrived in time")
    }

    /// The next protocol message within `wait`, or `None` when none came or the socket closed.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<ServerMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(text) => {
                    return Some(
                        ServerMessage::decode(text.as_str())
                            .unwrap_or_else(|e| panic!("undecodable {text}: {e}")),
                    );
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Expects an error with `code`, returning its message.
    pub async fn expect_error(&mut self, code: &str) -> String {
        match self.recv().await {
            ServerMessage::Error { code: c, message } if c.as_str() == code => message,
            other => panic!("expected error {code}, got {other:?}"),
        }
    }

    /// True once the server has closed the connection (within the patience).
    pub async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Joins and returns (id, resume secret, peers).
    pub async fn join(
        &mut self,
        room: &str,
        token: Option<&str>,
        name: &str,
    ) -> (String, String, Vec<confer::signal::proto::PeerInfo>) {
        self.send(confer::signal::proto::outgoing::join(
            room, token, name, None,
        ))
        .await;
        match self.recv().await {
            ServerMessage::Welcome {
                id, resume, peers, ..
            } => (id.to_string(), resume, peers),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Drops the TCP connection without a close handshake or `leave`, like a lost network.
    pub fn drop_connection(self) {
        drop(self.ws);
    }
}

/// Starts a process that is not confer (redis-server), for tests that need one.
pub fn spawn(program: &str, args: &[&str]) -> Owned {
    Owned(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}")),
    )
}
