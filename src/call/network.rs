//! The call's side of the network: datagrams to the STUN/TURN clients or the peers, the
//! servers of `welcome` turned into candidate gathering, and sockets for new addresses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use str0m::Candidate;
use tokio::sync::mpsc;

use super::events::{CallReport, Notice};
use super::remote::Remote;
use super::signals::announce;
use crate::rtc::driver::{Datagram, Sockets, local_addresses};
use crate::rtc::gather::{Gatherer, Inbound, parse_ice_url};
use crate::signal::client::Command;
use crate::signal::proto::IceServer;

/// Opens sockets on addresses this machine gained since the call began, and announces them
/// (unless the call is relay-only); returns them, if any.
pub(super) async fn add_new_hosts(
    sockets: &mut Sockets,
    remotes: &mut HashMap<String, Remote>,
    signaling: &mpsc::Sender<Command>,
    relay_only: bool,
) -> Option<Vec<SocketAddr>> {
    let added = sockets.bind_new(&local_addresses()).await;
    if added.is_empty() || relay_only {
        return None;
    }
    for addr in &added {
        if let Ok(candidate) = Candidate::host(*addr, "udp") {
            announce(remotes, &candidate, signaling).await;
        }
    }
    Some(added)
}

/// Hands a datagram to the STUN or TURN client it answers, or to the peer it belongs to.
pub(super) fn deliver(
    remotes: &mut HashMap<String, Remote>,
    gatherer: &mut Gatherer,
    d: &Datagram,
) {
    let unwrapped;
    let (source, destination, data) = match gatherer.handle(d.at, d.source, d.destination, &d.data)
    {
        Inbound::Consumed => return,
        Inbound::Unchanged => (d.source, d.destination, &d.data[..]),
        Inbound::Peer {
            source,
            destination,
            data,
        } => {
            unwrapped = data;
            (source, destination, &unwrapped[..])
        }
    };
    if let Some(remote) = remotes
        .values_mut()
        .find(|r| r.peer.accepts(d.at, source, destination, data))
    {
        let _ = remote.peer.handle_datagram(d.at, source, destination, data);
    }
}

/// Starts asking the STUN and TURN servers of `welcome` for candidates, from the sockets that
/// can reach them (a loopback server only from loopback, others from anything but).
pub(super) async fn gather(
    gatherer: &mut Gatherer,
    servers: &[IceServer],
    local: &[SocketAddr],
    report: &mut impl FnMut(CallReport),
) {
    for server in servers {
        for url in &server.urls {
            let parsed = match parse_ice_url(url) {
                Ok(parsed) => parsed,
                Err(e) => {
                    report(CallReport::Notice(Notice::Problem(e)));
                    continue;
                }
            };
            let address = match tokio::net::lookup_host((parsed.host.as_str(), parsed.port)).await {
                Ok(mut found) => found.next(),
                Err(e) => {
                    report(CallReport::Notice(Notice::Problem(format!("{url}: {e}"))));
                    continue;
                }
            };
            let Some(address) = address else { continue };
            let usable = local.iter().filter(|l| {
                l.is_ipv4() == address.is_ipv4()
                    && l.ip().is_loopback() == address.ip().is_loopback()
            });
            let now = Instant::now();
            if parsed.relay {
                // One allocation serves every peer of the call.
                let (Some(user), Some(pass)) = (&server.username, &server.credential) else {
                    report(CallReport::Notice(Notice::Problem(format!(
                        "{url}: no credentials given"
                    ))));
                    continue;
                };
                match usable.clone().next() {
                    Some(socket) => gatherer.add_turn(now, *socket, address, user, pass),
                    None => report(CallReport::Notice(Notice::Problem(format!(
                        "{url}: no socket can reach it"
                    )))),
                }
            } else {
                for socket in usable {
                    gatherer.add_stun(now, *socket, address);
                }
            }
        }
    }
}
