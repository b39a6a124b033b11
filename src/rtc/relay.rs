//! One TURN allocation (RFC 8656) over UDP, sans-IO like the rest of `rtc`: the
//! `turn-client-proto` client with our clock and our failure rules around it.
//!
//! Every peer of a call shares the allocation: str0m sends from the relayed address, and
//! [`Relay::wrap`] turns that into a datagram for the TURN server; data the server relays comes
//! back out of [`Relay::handle`] as if it had arrived on the relayed address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use turn_client_proto::api::{SendError, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::prelude::*;
use turn_client_proto::stun::agent::Transmit as TurnTransmit;
use turn_client_proto::types::{Instant as TurnInstant, TransportType, TurnCredentials};
use turn_client_proto::udp::TurnClientUdp;

use super::peer::Transmit;

/// The client retries a refused allocation for half a minute and then closes without saying
/// why (a wrong password looks like that): give up sooner, with a reason.
const ALLOCATE_LIMIT: Duration = Duration::from_secs(10);
/// Datagrams held while the server grants a permission (the first ICE checks and DTLS
/// packets to a peer); more than this are dropped, as a full network queue would.
const WAITING_LIMIT: usize = 64;

/// What a datagram turned out to be.
pub enum Inbound {
    /// An answer to us; nothing for the peers.
    Consumed,
    /// For the peers, as arriving from `source` at `destination`.
    Peer {
        source: SocketAddr,
        destination: SocketAddr,
        data: Vec<u8>,
    },
    /// For the peers as it is.
    Unchanged,
}

pub struct Relay {
    client: TurnClientUdp,
    /// Our socket that talks to the server, and the server.
    local: SocketAddr,
    server: SocketAddr,
    /// The clock the TURN client counts from.
    epoch: Instant,
    started: Instant,
    relayed: Option<SocketAddr>,
    failed: Option<String>,
    gave_up: bool,
    /// When the TURN client wants to be polled again.
    wake: Option<Instant>,
    /// Datagrams for the server, and relayed addresses to announce.
    outgoing: Vec<Transmit>,
    allocated: Vec<SocketAddr>,
    /// Datagrams for peers whose permission the server has not granted yet.
    waiting: Vec<Transmit>,
}

impl Relay {
    pub fn new(
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        user: &str,
        pass: &str,
    ) -> Self {
        let config = turn_client_proto::api::TurnConfig::new(TurnCredentials::new(user, pass));
        let mut relay = Self {
            client: TurnClientUdp::allocate(local, server, config),
            local,
            server,
            epoch: now,
            started: now,
            relayed: None,
            failed: None,
            gave_up: false,
            wake: None,
            outgoing: Vec::new(),
            allocated: Vec::new(),
            waiting: Vec::new(),
        };
        relay.handle_timeout(now);
        relay
    }

    /// When [`Relay::handle_timeout`] is due again; None once it has given up.
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.gave_up {
            return None;
        }
        // Until the allocation is made, its time limit is a deadline too.
        // (Datagrams waiting for a permission go when its grant arrives, which `handle`
        // takes.)
        let limit = self
            .relayed
            .is_none()
            .then_some(self.started + ALLOCATE_LIMIT);
        [self.wake, limit].into_iter().flatten().min()
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Why the allocation failed or ended, once (then the relay is useless).
    pub fn take_failure(&mut self) -> Option<String> {
        self.failed.take()
    }

    /// Relayed addresses allocated since last asked (to announce as candidates).
    pub fn take_allocated(&mut self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.allocated.drain(..)
    }

    /// Datagrams for the TURN server.
    pub fn take_transmits(&mut self) -> impl Iterator<Item = Transmit> + '_ {
        self.outgoing.drain(..)
    }

    fn clock(&self, now: Instant) -> TurnInstant {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        TurnInstant::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// Requests, refreshes and retransmissions that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.gave_up {
            return;
        }
        let clock = self.clock(now);
        self.wake = None;
        // Each round can queue more; a bounded number of rounds keeps a confused client
        // from spinning the call's task.
        for _ in 0..16 {
            while let Some(t) = self.client.poll_transmit(clock) {
                self.outgoing.push(Transmit {
                    source: self.local,
                    destination: t.to,
                    data: t.data.to_vec(),
                });
            }
            while let Some(event) = self.client.poll_event() {
                self.on_event(event);
            }
            match self.client.poll(clock) {
                TurnPollRet::Closed => {
                    self.fail(if self.relayed.is_some() {
                        "the allocation ended"
                    } else {
                        "the TURN server refused the allocation"
                    });
                    break;
                }
                TurnPollRet::WaitUntil(at) if at > clock => {
                    self.wake = Some(self.epoch + at.saturating_duration_since(TurnInstant::ZERO));
                    break;
                }
                _ => {}
            }
        }
        // What waited for a permission goes once it is granted.
        if !self.waiting.is_empty() {
            let waiting = std::mem::take(&mut self.waiting);
            for t in waiting {
                match self.send_to_peer(clock, &t) {
                    Ok(wrapped) => self.outgoing.push(wrapped),
                    Err(SendError::NoPermission) => self.waiting.push(t),
                    Err(_) => {}
                }
            }
        }
        if self.relayed.is_none() && now - self.started > ALLOCATE_LIMIT {
            self.fail("no allocation from the TURN server (wrong credentials, or unreachable)");
        }
    }

    fn fail(&mut self, why: &str) {
        if !self.gave_up {
            self.gave_up = true;
            self.relayed = None;
            self.failed = Some(format!("TURN {}: {why}", self.server));
        }
    }

    fn on_event(&mut self, event: TurnEvent) {
        match event {
            TurnEvent::AllocationCreated(TransportType::Udp, relayed) => {
                self.relayed = Some(relayed);
                self.allocated.push(relayed);
            }
            TurnEvent::AllocationCreateFailed(_) => {
                self.fail("the TURN server refused the allocation");
            }
            TurnEvent::PermissionCreateFailed(_, ip) => {
                tracing::debug!("TURN {}: no permission for {ip}", self.server);
                self.waiting.retain(|t| t.destination.ip() != ip);
            }
            _ => {}
        }
    }

    /// A datagram that arrived on our socket `destination` from `source`: a TURN message
    /// (consumed), data a peer sent to the relayed address (as if it had arrived there), or not
    /// from this server (unchanged).
    pub fn handle(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Inbound {
        if self.gave_up || source != self.server || destination != self.local {
            return Inbound::Unchanged;
        }
        let clock = self.clock(now);
        let transmit = TurnTransmit::new(data, TransportType::Udp, source, destination);
        let result = match self.client.recv(transmit, clock) {
            TurnRecvRet::PeerData(peer) => match self.relayed {
                Some(relayed) => Inbound::Peer {
                    source: peer.peer,
                    destination: relayed,
                    data: peer.data().to_vec(),
                },
                None => Inbound::Consumed,
            },
            TurnRecvRet::Ignored(_) => Inbound::Unchanged,
            _ => Inbound::Consumed,
        };
        self.handle_timeout(now);
        result
    }

    /// The datagram for the server that carries `t` (sent by str0m from the relayed address);
    /// None when `t` is not ours, or waits for a permission (it goes out with the transmits
    /// once the server grants it: losing the first checks would make ICE back off).
    pub fn wrap(&mut self, now: Instant, t: &Transmit) -> Option<Transmit> {
        if Some(t.source) != self.relayed {
            return None;
        }
        let clock = self.clock(now);
        match self.send_to_peer(clock, t) {
            Ok(wrapped) => Some(wrapped),
            Err(SendError::NoPermission) => {
                // The first packet to a peer asks for the permission (later ones find it
                // pending); all of them wait for it.
                let _ =
                    self.client
                        .create_permission(TransportType::Udp, t.destination.ip(), clock);
                if self.waiting.len() < WAITING_LIMIT {
                    self.waiting.push(t.clone());
                }
                self.handle_timeout(now);
                None
            }
            _ => None,
        }
    }

    /// `t` wrapped for the server (a Send indication, or channel data once a channel is bound).
    fn send_to_peer(&mut self, clock: TurnInstant, t: &Transmit) -> Result<Transmit, SendError> {
        let built = self
            .client
            .send_to(TransportType::Udp, t.destination, &t.data[..], clock)?
            .ok_or(SendError::NoAllocation)?
            .build();
        Ok(Transmit {
            source: self.local,
            destination: built.to,
            data: built.data,
        })
    }

    /// Whether `address` is this relay's relayed address.
    pub fn owns(&self, address: SocketAddr) -> bool {
        Some(address) == self.relayed
    }
}
