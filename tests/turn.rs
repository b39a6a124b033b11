//! STUN and TURN against a real coturn on loopback: the address a server sees, a relayed
//! allocation carrying datagrams both ways, and a wrong password reported.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use confer::rtc::gather::{Gatherer, Inbound, Route};
use confer::rtc::peer::Transmit;
use confer::rtc::stun::{binding_request, mapped_address};
use support::coturn::{Coturn, PASSWORD, USER};

fn bound() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Runs the gatherer on a real socket until `done` says so (or 10 s pass).
fn drive(
    gatherer: &mut Gatherer,
    socket: &UdpSocket,
    mut done: impl FnMut(&mut Gatherer, Option<Inbound>) -> bool,
) {
    let local = socket.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        gatherer.handle_timeout(Instant::now());
        for t in gatherer.take_transmits() {
            socket.send_to(&t.data, t.destination).unwrap();
        }
        let mut buffer = [0u8; 2048];
        let inbound = socket
            .recv_from(&mut buffer)
            .ok()
            .map(|(n, from)| gatherer.handle(Instant::now(), from, local, &buffer[..n]));
        if done(gatherer, inbound) {
            return;
        }
    }
    panic!("gave up waiting");
}

#[test]
fn a_stun_binding_reads_the_address_the_server_sees() {
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start(dir.path());
    let (socket, local) = bound();
    let id = [42u8; 12];
    socket.send_to(&binding_request(&id), coturn.addr).unwrap();
    let mut buffer = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buffer).expect("no answer");
    // On loopback there is no NAT: the server sees the socket's own address.
    assert_eq!(mapped_address(&buffer[..n], &id), Some(local));

    // The same through the gatherer: one server-reflexive candidate.
    let mut gatherer = Gatherer::new(false);
    gatherer.add_stun(Instant::now(), local, coturn.addr);
    drive(&mut gatherer, &socket, |g, _| {
        let found: Vec<_> = g.take_candidates().collect();
        if let Some(candidate) = found.first() {
            assert_eq!(candidate.addr(), local);
            assert_eq!(candidate.kind(), str0m::CandidateKind::ServerReflexive);
            return true;
        }
        false
    });
}

#[test]
fn a_relay_carries_datagrams_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start(dir.path());
    let (socket, local) = bound();
    let (peer, peer_addr) = bound();
    let mut gatherer = Gatherer::new(true);
    gatherer.add_turn(Instant::now(), local, coturn.addr, USER, PASSWORD);
    let mut relayed = None;
    drive(&mut gatherer, &socket, |g, _| {
        relayed = g.take_candidates().next().map(|c| c.addr());
        relayed.is_some()
    });
    let relayed = relayed.unwrap();
    assert_ne!(relayed, local);

    // Out: what str0m sends from the relayed address reaches the peer from the relayed
    // address. The first datagram to a peer waits while the permission is asked for, then
    // goes out with the gatherer's transmits: it is sent once, not lost.
    let hello = Transmit {
        source: relayed,
        destination: peer_addr,
        data: b"hello through the relay".to_vec(),
    };
    assert!(matches!(
        gatherer.route(Instant::now(), &hello),
        Route::Relayed(None)
    ));
    let mut buffer = [0u8; 2048];
    let mut arrived = None;
    drive(&mut gatherer, &socket, |_, _| {
        arrived = peer.recv_from(&mut buffer).ok();
        arrived.is_some()
    });
    let (n, from) = arrived.unwrap();
    assert_eq!(&buffer[..n], b"hello through the relay");
    assert_eq!(from, relayed);
    // With the permission in place, the next one is wrapped at once.
    let Route::Relayed(Some(t)) = gatherer.route(Instant::now(), &hello) else {
        panic!("not wrapped with the permission granted");
    };
    assert_eq!(t.destination, coturn.addr);

    // In: the peer's answer comes out as arriving at the relayed address from the peer.
    peer.send_to(b"and back", relayed).unwrap();
    drive(&mut gatherer, &socket, |_, inbound| match inbound {
        Some(Inbound::Peer {
            source,
            destination,
            data,
        }) => {
            assert_eq!((source, destination), (peer_addr, relayed));
            assert_eq!(data, b"and back");
            true
        }
        _ => false,
    });
    // A direct datagram is not the relay's.
    let direct = Transmit {
        source: local,
        destination: peer_addr,
        data: vec![1],
    };
    assert!(matches!(
        gatherer.route(Instant::now(), &direct),
        Route::Direct
    ));
}

#[test]
fn a_wrong_password_is_reported_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let coturn = Coturn::start(dir.path());
    let (socket, local) = bound();
    let mut gatherer = Gatherer::new(true);
    gatherer.add_turn(Instant::now(), local, coturn.addr, USER, "not the password");
    drive(&mut gatherer, &socket, |g, _| {
        assert_eq!(g.take_candidates().count(), 0);
        let notices: Vec<String> = g.take_notices().collect();
        if let Some(notice) = notices.first() {
            assert!(notice.contains("TURN"), "{notice}");
            return true;
        }
        false
    });
}
