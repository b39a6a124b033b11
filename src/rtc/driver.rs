//! The network side of a call: one UDP socket per usable local address (str0m drops STUN that
//! arrives on an address it does not know, so never a wildcard socket reported as a candidate).
//! Each socket has a task that forwards what arrives to the call's driver; sends go straight out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Biggest datagram read; WebRTC stays under 1500.
const MAX_DATAGRAM: usize = 2048;
/// Datagrams waiting for the call; beyond that they are dropped like a full socket buffer.
const QUEUE: usize = 4096;
/// The kernel's receive buffer asked for each media socket. The default (208 KiB on Linux)
/// holds about 90 datagrams on loopback, where each costs its buffer's true size: a call of
/// seven that receives 650 a second lost bursts whenever its reader was kept off the CPU for
/// 150 ms (0.4 % of the datagrams in the eight-person test, counted as `RcvbufErrors`). The
/// kernel caps what is asked at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 2 << 20;

#[derive(Debug, Error)]
pub enum DriverError {
    #[error("no network address to use for media")]
    NoAddress,
    #[error("cannot open a UDP socket on {addr}: {reason}")]
    Bind { addr: IpAddr, reason: String },
}

/// A datagram that arrived.
pub struct Datagram {
    pub at: Instant,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub data: Vec<u8>,
}

pub struct Sockets {
    sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    incoming: mpsc::Sender<Datagram>,
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The addresses to gather host candidates on: every interface's IPv4 and global IPv6
/// address, loopback included (a meeting on one machine, tests in a namespace with only `lo`).
pub fn local_addresses() -> Vec<IpAddr> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return vec![IpAddr::from([127, 0, 0, 1])];
    };
    let mut found: Vec<IpAddr> = interfaces
        .iter()
        .map(|i| i.ip())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_unspecified(),
            // Link-local v6 needs a scope id str0m does not carry.
            IpAddr::V6(v6) => {
                !v6.is_unicast_link_local() && !v6.is_unspecified() && !v6.is_loopback()
            }
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

impl Sockets {
    /// Binds one socket per address (an ephemeral port each) and starts reading.
    pub async fn bind(
        addresses: &[IpAddr],
        incoming: mpsc::Sender<Datagram>,
    ) -> Result<Self, DriverError> {
        if addresses.is_empty() {
            return Err(DriverError::NoAddress);
        }
        let mut sockets = Self {
            sockets: Vec::new(),
            tasks: Vec::new(),
            incoming,
        };
        for ip in addresses {
            sockets.bind_one(*ip).await?;
        }
        Ok(sockets)
    }

    /// Binds the addresses among `addresses` that have no socket yet (the machine joined
    /// another network); returns their sockets' addresses. One that cannot be bound is left
    /// out: the others still serve.
    pub async fn bind_new(&mut self, addresses: &[IpAddr]) -> Vec<SocketAddr> {
        let mut added = Vec::new();
        for ip in addresses {
            if self.sockets.iter().any(|(addr, _)| addr.ip() == *ip) {
                continue;
            }
            match self.bind_one(*ip).await {
                Ok(addr) => added.push(addr),
                Err(e) => tracing::debug!("{e}"),
            }
        }
        added
    }

    async fn bind_one(&mut self, ip: IpAddr) -> Result<SocketAddr, DriverError> {
        let error = |e: std::io::Error| DriverError::Bind {
            addr: ip,
            reason: e.to_string(),
        };
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(error)?;
        let local = socket.local_addr().map_err(error)?;
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECEIVE_BUFFER) {
            tracing::debug!("receive buffer of {local}: {e}");
        }
        let socket = Arc::new(socket);
        let reader = Arc::clone(&socket);
        let tx = self.incoming.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; MAX_DATAGRAM];
            loop {
                match reader.recv_from(&mut buffer).await {
                    Ok((n, source)) => {
                        let datagram = Datagram {
                            at: Instant::now(),
                            source,
                            destination: local,
                            data: buffer[..n].to_vec(),
                        };
                        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(datagram) {
                            return;
                        }
                    }
                    // ICMP unreachable from a peer that left shows up here: keep reading.
                    Err(e) => tracing::trace!("udp receive on {local}: {e}"),
                }
            }
        }));
        self.sockets.push((local, socket));
        Ok(local)
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|(addr, _)| *addr).collect()
    }

    /// Sends from the socket bound to `source`. Errors (no route, buffer full) lose the
    /// datagram, as the network would.
    pub fn send(&self, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        if let Some((_, socket)) = self.sockets.iter().find(|(addr, _)| *addr == source)
            && let Err(e) = socket.try_send_to(data, destination)
        {
            tracing::trace!("udp send {source} -> {destination}: {e}");
        }
    }
}

/// The queue the socket tasks fill.
pub fn datagram_queue() -> (mpsc::Sender<Datagram>, mpsc::Receiver<Datagram>) {
    mpsc::channel(QUEUE)
}
