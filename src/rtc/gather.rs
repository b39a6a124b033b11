//! Candidates beyond the host ones: server-reflexive through the STUN servers, relayed through
//! the TURN servers that `welcome` lists. Sans-IO: the call resolves the servers' names,
//! passes datagrams in and sends what comes out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::Candidate;

use super::peer::Transmit;
pub use super::relay::Inbound;
use super::relay::Relay;
use super::stun::{TransactionId, answers, binding_request, mapped_address};

/// Binding requests go out at 0.5, 1 and 2 s gaps, then the server is given up.
const BINDING_FIRST_WAIT: Duration = Duration::from_millis(500);
const BINDING_TRIES: u32 = 4;
const STUN_PORT: u16 = 3478;

/// A STUN or TURN server from `ice_servers` (RTCIceServer's `urls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceUrl {
    pub relay: bool,
    pub host: String,
    pub port: u16,
}

/// Reads `stun:HOST[:PORT]` and `turn:HOST[:PORT][?transport=udp]`. TURN over TCP or TLS is
/// refused with a reason (this client relays over UDP only).
pub fn parse_ice_url(url: &str) -> Result<IceUrl, String> {
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| format!("\"{url}\" is not a STUN or TURN address"))?;
    let relay = match scheme {
        "stun" => false,
        "turn" => true,
        "stuns" | "turns" => {
            return Err(format!(
                "\"{url}\": STUN and TURN over TLS are not supported"
            ));
        }
        _ => return Err(format!("\"{url}\" is not a STUN or TURN address")),
    };
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !query.is_empty() && query != "transport=udp" {
        return Err(format!("\"{url}\": only TURN over UDP is supported"));
    }
    // An IPv6 literal is bracketed: [::1]:3478.
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            let port = port
                .parse()
                .map_err(|_| format!("\"{url}\": \"{port}\" is not a port"))?;
            (host, port)
        }
        _ => (address, STUN_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("\"{url}\" names no host"));
    }
    Ok(IceUrl {
        relay,
        host: host.to_string(),
        port,
    })
}

struct Binding {
    local: SocketAddr,
    server: SocketAddr,
    id: TransactionId,
    next_send: Instant,
    tries: u32,
    done: bool,
}

/// How a datagram from str0m leaves.
pub enum Route {
    /// From one of our sockets, as it is.
    Direct,
    /// Through a relay: this datagram to its server, or nothing yet (a permission is pending).
    Relayed(Option<Transmit>),
}

pub struct Gatherer {
    bindings: Vec<Binding>,
    relays: Vec<Relay>,
    /// Server-reflexive candidates are worth nothing to a call that may only be relayed.
    relay_only: bool,
    candidates: Vec<Candidate>,
    notices: Vec<String>,
    outgoing: Vec<Transmit>,
}

impl Gatherer {
    pub fn new(relay_only: bool) -> Self {
        Self {
            bindings: Vec::new(),
            relays: Vec::new(),
            relay_only,
            candidates: Vec::new(),
            notices: Vec::new(),
            outgoing: Vec::new(),
        }
    }

    /// Asks `server` which address it sees our socket `local` at.
    pub fn add_stun(&mut self, now: Instant, local: SocketAddr, server: SocketAddr) {
        if self.relay_only {
            return;
        }
        let mut id = [0u8; 12];
        let _ = aws_lc_rs::rand::fill(&mut id);
        self.bindings.push(Binding {
            local,
            server,
            id,
            next_send: now,
            tries: 0,
            done: false,
        });
        self.handle_timeout(now);
    }

    /// Allocates a relayed address on `server` for our socket `local`.
    pub fn add_turn(
        &mut self,
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        user: &str,
        pass: &str,
    ) {
        self.relays.push(Relay::new(now, local, server, user, pass));
        self.handle_timeout(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for binding in self.bindings.iter_mut().filter(|b| !b.done) {
            if now < binding.next_send {
                continue;
            }
            if binding.tries == BINDING_TRIES {
                binding.done = true;
                self.notices
                    .push(format!("STUN {}: no answer", binding.server));
                continue;
            }
            self.outgoing.push(Transmit {
                source: binding.local,
                destination: binding.server,
                data: binding_request(&binding.id).to_vec(),
            });
            binding.next_send = now + BINDING_FIRST_WAIT * (1 << binding.tries);
            binding.tries += 1;
        }
        for relay in &mut self.relays {
            relay.handle_timeout(now);
        }
        self.collect();
    }

    fn collect(&mut self) {
        for relay in &mut self.relays {
            self.outgoing.extend(relay.take_transmits());
            let local = relay.local();
            for relayed in relay.take_allocated() {
                if let Ok(candidate) = Candidate::relayed(relayed, local, "udp") {
                    self.candidates.push(candidate);
                }
            }
            if let Some(why) = relay.take_failure() {
                self.notices.push(why);
            }
        }
    }

    /// Sorts out a datagram that arrived on `destination` from `source`.
    pub fn handle(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Inbound {
        if let Some(binding) = self
            .bindings
            .iter_mut()
            .find(|b| b.server == source && b.local == destination && answers(data, &b.id))
        {
            if !binding.done {
                binding.done = true;
                match mapped_address(data, &binding.id)
                    .map(|mapped| Candidate::server_reflexive(mapped, binding.local, "udp"))
                {
                    Some(Ok(candidate)) => self.candidates.push(candidate),
                    _ => self.notices.push(format!(
                        "STUN {}: an answer without an address",
                        binding.server
                    )),
                }
            }
            return Inbound::Consumed;
        }
        for relay in &mut self.relays {
            let inbound = relay.handle(now, source, destination, data);
            if !matches!(inbound, Inbound::Unchanged) {
                self.collect();
                return inbound;
            }
        }
        Inbound::Unchanged
    }

    /// How str0m's datagram `t` leaves: through the relay whose address it comes from, if any.
    pub fn route(&mut self, now: Instant, t: &Transmit) -> Route {
        let Some(relay) = self.relays.iter_mut().find(|r| r.owns(t.source)) else {
            return Route::Direct;
        };
        let wrapped = relay.wrap(now, t);
        self.collect();
        Route::Relayed(wrapped)
    }

    /// When [`Gatherer::handle_timeout`] has something to do next: a STUN retry, or the TURN
    /// client's next request, refresh or retransmission. None when nothing is pending.
    pub fn next_timeout(&self) -> Option<Instant> {
        let bindings = self
            .bindings
            .iter()
            .filter(|b| !b.done)
            .map(|b| b.next_send);
        let relays = self.relays.iter().filter_map(Relay::next_timeout);
        bindings.chain(relays).min()
    }

    /// Datagrams for the STUN and TURN servers.
    pub fn take_transmits(&mut self) -> impl Iterator<Item = Transmit> + '_ {
        self.outgoing.drain(..)
    }

    /// Candidates found since last asked, to add to every peer and trickle.
    pub fn take_candidates(&mut self) -> impl Iterator<Item = Candidate> + '_ {
        self.candidates.drain(..)
    }

    /// Servers that did not help, and why.
    pub fn take_notices(&mut self) -> impl Iterator<Item = String> + '_ {
        self.notices.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_urls_browsers_take() {
        let stun = parse_ice_url("stun:stun.example.org").unwrap();
        assert_eq!(
            (stun.relay, stun.host.as_str(), stun.port),
            (false, "stun.example.org", 3478)
        );
        let turn = parse_ice_url("turn:10.0.0.1:3479?transport=udp").unwrap();
        assert_eq!(
            (turn.relay, turn.host.as_str(), turn.port),
            (true, "10.0.0.1", 3479)
        );
        let v6 = parse_ice_url("turn:[2001:db8::1]:5349").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", 5349));
        let bare_v6 = parse_ice_url("stun:[2001:db8::1]").unwrap();
        assert_eq!((bare_v6.host.as_str(), bare_v6.port), ("2001:db8::1", 3478));
    }

    #[test]
    fn refuses_what_it_cannot_use_with_a_reason() {
        for (url, why) in [
            ("turns:relay.example.org", "TLS"),
            ("turn:relay.example.org?transport=tcp", "UDP"),
            ("http://relay.example.org", "not a STUN"),
            ("turn::3478", "no host"),
            ("stun:host:port", "not a port"),
            ("nonsense", "not a STUN"),
        ] {
            let error = parse_ice_url(url).unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
        }
    }

    #[test]
    fn a_silent_stun_server_is_asked_four_times_then_reported() {
        let start = Instant::now();
        let local: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let server: SocketAddr = "192.0.2.9:3478".parse().unwrap();
        let mut gatherer = Gatherer::new(false);
        gatherer.add_stun(start, local, server);
        let mut sent = gatherer.take_transmits().count();
        for ms in (0..10_000).step_by(50) {
            gatherer.handle_timeout(start + Duration::from_millis(ms));
            sent += gatherer.take_transmits().count();
        }
        assert_eq!(sent, 4);
        let notices: Vec<String> = gatherer.take_notices().collect();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("no answer"));
    }
}
