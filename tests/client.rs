//! The signaling client library against the embedded server (`Server::start`, as the app runs it
//! for the local network): joining, relaying, surviving a dropped connection, TLS, refusals.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confer::server::{Access, Limits, Server, ServerConfig};
use confer::signal::client::{ClientConfig, Closed, Command, Event, SignalingClient};
use confer::signal::proto::{ErrorCode, PeerId};
use confer::signal::relayed::{PeerSignal, RoomMessage};
use confer::token::{Secret, unix_now};
use tokio::net::{TcpListener, TcpStream};

const PATIENCE: Duration = Duration::from_secs(10);

async fn embedded(access: Access, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        access,
        limits: Limits {
            resume_grace: Duration::from_secs(30),
            ..Limits::default()
        },
        ice_servers: Vec::new(),
        tls,
        redis: None,
        janus: None,
    })
    .await
    .expect("the embedded server did not start")
}

fn config(url: String, name: &str) -> ClientConfig {
    ClientConfig {
        url,
        room: "standup".into(),
        token: None,
        name: name.into(),
        extra_roots: Vec::new(),
        max_attempts: Some(20),
    }
}

async fn next(client: &mut SignalingClient) -> Event {
    tokio::time::timeout(PATIENCE, client.events.recv())
        .await
        .expect("no event in time")
        .expect("the client stopped")
}

/// Skips reconnection notices, which arrive whenever the network hiccups.
async fn next_real(client: &mut SignalingClient) -> Event {
    loop {
        match next(client).await {
            Event::Reconnecting { .. } => continue,
            event => return event,
        }
    }
}

async fn joined(client: &mut SignalingClient) -> (PeerId, bool) {
    match next_real(client).await {
        Event::Joined { id, resumed, .. } => (id, resumed),
        other => panic!("expected Joined, got {other:?}"),
    }
}

#[tokio::test]
async fn two_clients_meet_through_the_embedded_server() {
    let server = embedded(Access::Open, None).await;
    let url = format!("ws://{}/ws", server.local_addr());
    let mut a = SignalingClient::start(config(url.clone(), "Ana")).unwrap();
    let (a_id, _) = joined(&mut a).await;
    let mut b = SignalingClient::start(config(url, "Bo")).unwrap();
    let b_id = match next(&mut b).await {
        Event::Joined {
            id, peers, resumed, ..
        } => {
            assert!(!resumed);
            assert_eq!(peers.len(), 1);
            assert_eq!(peers[0].id, a_id);
            id
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(next(&mut a).await, Event::PeerJoined(p) if p.id == b_id && p.name == "Bo"));

    let offer = PeerSignal::Offer {
        sdp: "v=0\r\n".into(),
        session: Some("S".into()),
    };
    b.commands
        .send(Command::Signal {
            to: a_id.clone(),
            signal: offer.clone(),
        })
        .await
        .unwrap();
    match next(&mut a).await {
        Event::Signal { from, signal } => {
            assert_eq!(from, b_id);
            assert_eq!(signal, Ok(offer));
        }
        other => panic!("{other:?}"),
    }
    // Room messages come typed.
    b.commands
        .send(Command::Broadcast(RoomMessage::Chat { text: "hi".into() }))
        .await
        .unwrap();
    match next(&mut a).await {
        Event::Broadcast { from, message } => {
            assert_eq!(from, b_id);
            assert_eq!(message, RoomMessage::Chat { text: "hi".into() });
        }
        other => panic!("{other:?}"),
    }
    b.commands.send(Command::Leave).await.unwrap();
    assert!(matches!(next(&mut b).await, Event::Closed(Closed::Left)));
    assert!(matches!(next(&mut a).await, Event::PeerLeft(id) if id == b_id));
    server.shutdown().await;
}

/// A TCP relay between client and server whose connections the test can cut, like a network
/// that drops.
struct Relay {
    addr: SocketAddr,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::clone(&links);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry.lock().unwrap().push(link);
            }
        });
        Relay { addr, links }
    }

    /// Drops every connection through the relay, without any closing handshake.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

#[tokio::test]
async fn a_dropped_connection_resumes_and_nothing_is_lost() {
    let server = embedded(Access::Open, None).await;
    let relay = Relay::start(server.local_addr()).await;
    let mut a =
        SignalingClient::start(config(format!("ws://{}/ws", server.local_addr()), "Ana")).unwrap();
    let (a_id, _) = joined(&mut a).await;
    let mut b = SignalingClient::start(config(format!("ws://{}/ws", relay.addr), "Bo")).unwrap();
    let (b_id, _) = joined(&mut b).await;
    next(&mut a).await; // peer-joined

    relay.cut();
    // Messages already on the wire when a connection dies are lost with it (the call engine
    // renegotiates after a resume). What is sent once the drop is known must arrive: wait until
    // both B and the server have noticed, then let both sides talk.
    assert!(matches!(next(&mut b).await, Event::Reconnecting { .. }));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server
        .metrics()
        .connections
        .load(std::sync::atomic::Ordering::Relaxed)
        > 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not notice the drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resume = |n: &str| PeerSignal::Resume { session: n.into() };
    a.commands
        .send(Command::Signal {
            to: b_id.clone(),
            signal: resume("1"),
        })
        .await
        .unwrap();
    b.commands
        .send(Command::Signal {
            to: a_id.clone(),
            signal: resume("2"),
        })
        .await
        .unwrap();

    // B notices, reconnects through the relay, and gets its own id back.
    let (id, resumed) = joined(&mut b).await;
    assert_eq!(id, b_id);
    assert!(resumed);
    match next_real(&mut b).await {
        Event::Signal { from, signal } => {
            assert_eq!((from, signal), (a_id.clone(), Ok(resume("1"))))
        }
        other => panic!("{other:?}"),
    }
    match next_real(&mut a).await {
        Event::Signal { from, signal } => {
            assert_eq!((from, signal), (b_id.clone(), Ok(resume("2"))))
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn wss_with_a_trusted_certificate_and_not_without() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let tls = confer::server::tls::from_der(vec![cert_der.clone()], key).unwrap();
    let server = embedded(Access::Open, Some(tls)).await;
    let url = format!("wss://localhost:{}/ws", server.local_addr().port());

    let mut trusting = config(url.clone(), "Ana");
    trusting.extra_roots = vec![cert_der];
    let mut a = SignalingClient::start(trusting).unwrap();
    joined(&mut a).await;

    let mut doubting = config(url, "Eve");
    doubting.max_attempts = Some(1);
    let mut e = SignalingClient::start(doubting).unwrap();
    loop {
        match next(&mut e).await {
            Event::Reconnecting { .. } => continue,
            Event::Closed(reason) => {
                assert_eq!(reason, Closed::Unreachable { attempts: 2 });
                break;
            }
            other => panic!("an untrusted certificate was accepted: {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_token_ends_the_session_without_retrying() {
    let secret = Arc::new(Secret::from_bytes(b"embedded server secret 123456"));
    let server = embedded(Access::Tokens(Arc::clone(&secret)), None).await;
    let url = format!("ws://{}/ws", server.local_addr());

    let mut good = config(url.clone(), "Ana");
    good.token = Some(secret.mint("standup", unix_now() + 60));
    let mut a = SignalingClient::start(good).unwrap();
    joined(&mut a).await;

    let mut bad = config(url, "Eve");
    bad.token = Some(secret.mint("another-room", unix_now() + 60));
    let mut e = SignalingClient::start(bad).unwrap();
    assert!(matches!(
        next(&mut e).await,
        Event::Refused {
            code: ErrorCode::BadToken,
            ..
        }
    ));
    assert!(matches!(
        next(&mut e).await,
        Event::Closed(Closed::Refused {
            code: ErrorCode::BadToken,
            ..
        })
    ));
    server.shutdown().await;
}

/// `confer serve --tls-cert --tls-key` serves wss:// with certificates from PEM files.
#[tokio::test]
async fn serve_reads_its_certificate_from_pem_files() {
    let home = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_file = home.path().join("cert.pem");
    let key_file = home.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let server = support::serve::Serve::start(
        home.path(),
        &[
            "--open",
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    let port = server.addr.rsplit(':').next().unwrap();
    let mut client_config = config(format!("wss://localhost:{port}/ws"), "Ana");
    client_config.extra_roots = vec![cert.cert.der().clone()];
    let mut a = SignalingClient::start(client_config).unwrap();
    joined(&mut a).await;

    // A key file that is not a key is a clear error, not a panic.
    let out = support::run(support::confer(home.path()).args([
        "serve",
        "--open",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        cert_file.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        support::stderr(&out).contains("private key"),
        "{}",
        support::stderr(&out)
    );
}

/// The app's own server for the local network: it binds this machine's LAN address, and its
/// invites (minted with a secret of its own) admit through the client library. The connection
/// is made on loopback, to the same embedded server code, so no traffic leaves this machine.
#[tokio::test]
async fn the_embedded_lan_server_admits_its_own_invites() {
    use confer::server::embedded::{EmbeddedServer, lan_ip};
    if let Some(ip) = lan_ip() {
        assert!(!ip.is_loopback());
        let on_lan = EmbeddedServer::start(ip, 0)
            .await
            .expect("cannot bind the LAN address");
        assert_eq!(on_lan.server.local_addr().ip(), ip);
        let invite = on_lan.invite("lan-room", Duration::from_secs(3600));
        assert!(!invite.secure);
        assert_eq!(invite.port, Some(on_lan.server.local_addr().port()));
        on_lan.server.shutdown().await;
    }

    let embedded = EmbeddedServer::start("127.0.0.1".parse().unwrap(), 0)
        .await
        .unwrap();
    let invite = embedded.invite("lan-room", Duration::from_secs(3600));
    let link = invite.app_link();
    assert!(link.contains("?insecure=1#t="), "{link}");
    let parsed = confer::invite::Invite::parse(&link).unwrap();
    let mut client_config = config(parsed.signaling_url(), "Ana");
    client_config.room = parsed.room.clone();
    client_config.token = parsed.token.clone();
    let mut a = SignalingClient::start(client_config).unwrap();
    joined(&mut a).await;

    // Its invites are its own: a token for another room does not open this one.
    let mut other = config(parsed.signaling_url(), "Eve");
    other.room = "lan-room".into();
    other.token = embedded.invite("elsewhere", Duration::from_secs(60)).token;
    let mut e = SignalingClient::start(other).unwrap();
    assert!(matches!(
        next(&mut e).await,
        Event::Refused {
            code: ErrorCode::BadToken,
            ..
        }
    ));
    embedded.server.shutdown().await;
}
