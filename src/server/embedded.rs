//! The server the app runs itself for a meeting on the local network ("New meeting").
//!
//! It listens on this machine's LAN address and admits only holders of invites it minted, with a
//! secret made for this run of the app: a meeting on a shared network is not open to everyone
//! on it. Signaling is plain `ws://` (`confer://...?insecure=1` links), which PROTOCOL.md allows on
//! the local network; media is DTLS-SRTP regardless.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Access, Limits, Server, ServerConfig, ServerError};
use crate::invite::Invite;
use crate::token::{Secret, unix_now};

/// The address other machines on the local network most likely reach this one at: a private
/// IPv4 address if there is one, else any other non-loopback IPv4, else a unique-local IPv6.
pub fn lan_ip() -> Option<IpAddr> {
    let addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .collect();
    let rank = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) if v4.is_private() => 0,
        IpAddr::V4(v4) if !v4.is_link_local() && !v4.is_unspecified() => 1,
        IpAddr::V6(v6) if v6.is_unique_local() => 2,
        _ => 3,
    };
    addresses
        .into_iter()
        .filter(|ip| rank(ip) < 3)
        .min_by_key(rank)
}

/// The app's server and the secret its invites are signed with.
pub struct EmbeddedServer {
    pub server: Server,
    secret: Arc<Secret>,
}

impl EmbeddedServer {
    /// Starts on `ip` (usually [`lan_ip`]) and `port` (0: any free port).
    pub async fn start(ip: IpAddr, port: u16) -> Result<EmbeddedServer, ServerError> {
        let mut key = [0u8; 32];
        // A fresh secret each run: invites die with the meeting.
        let _ = aws_lc_rs::rand::fill(&mut key);
        let secret = Arc::new(Secret::from_bytes(&key));
        let server = Server::start(ServerConfig {
            listen: SocketAddr::new(ip, port),
            access: Access::Tokens(Arc::clone(&secret)),
            limits: Limits {
                max_peers_per_room: 50,
                max_rooms: 16,
                ..Limits::default()
            },
            ice_servers: Vec::new(),
            tls: None,
            redis: None,
            janus: None,
        })
        .await?;
        Ok(EmbeddedServer { server, secret })
    }

    /// An invite to `room` on this server, valid for `ttl`.
    pub fn invite(&self, room: &str, ttl: Duration) -> Invite {
        let addr = self.server.local_addr();
        let host = match addr.ip() {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        Invite {
            host,
            port: Some(addr.port()),
            room: room.to_string(),
            token: Some(self.secret.mint(room, unix_now() + ttl.as_secs().max(1))),
            secure: false,
            janus: None,
        }
    }
}

/// How long a "New meeting" invite stays valid.
const LAN_INVITE_TTL: Duration = Duration::from_secs(24 * 3600);

/// The embedded server on a thread of its own, for the window (which has no async runtime):
/// it serves one meeting until dropped.
pub struct LanMeeting {
    invite: Invite,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LanMeeting {
    /// Starts a server on this machine's LAN address (loopback when there is none) and mints
    /// the invite to `room`.
    pub fn start(room: &str) -> Result<LanMeeting, String> {
        let ip = lan_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let room = room.to_string();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lan-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start the server: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match EmbeddedServer::start(ip, 0).await {
                        Ok(embedded) => {
                            let _ = ready_tx.send(Ok(embedded.invite(&room, LAN_INVITE_TTL)));
                            let _ = stopped.await;
                            embedded.server.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("cannot start the server: {e}")));
                        }
                    }
                });
            })
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let invite = ready
            .recv()
            .map_err(|_| "the server stopped while starting".to_string())??;
        Ok(LanMeeting {
            invite,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn invite(&self) -> &Invite {
        &self.invite
    }
}

impl Drop for LanMeeting {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
