//! Protocol conformance of `confer serve` over real sockets: join, relay, broadcast, leave,
//! resume, every error code, and bad input from clients that do not follow the protocol.

mod support;

use std::time::Duration;

use confer::signal::proto::{ServerMessage, outgoing};
use confer::token::{Secret, unix_now};
use serde_json::json;
use support::serve::{Client, PATIENCE, Serve};

const SECRET: &str = "a test secret that is long enough";

fn open_server(home: &tempfile::TempDir, extra: &[&str]) -> Serve {
    let mut args = vec!["--open"];
    args.extend_from_slice(extra);
    Serve::start(home.path(), &args)
}

#[tokio::test]
async fn join_relay_broadcast_and_leave() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &[]);
    let mut a = Client::connect(&server.ws_url()).await;
    let (a_id, _, peers) = a.join("standup", None, "Ana").await;
    assert!(peers.is_empty());

    let mut b = Client::connect(&server.ws_url()).await;
    let (b_id, _, peers) = b.join("standup", None, "Bo").await;
    assert_eq!(peers.len(), 1);
    assert_eq!(
        (peers[0].id.as_str(), peers[0].name.as_str()),
        (a_id.as_str(), "Ana")
    );
    assert!(
        matches!(a.recv().await, ServerMessage::PeerJoined { id, name } if id == b_id && name == "Bo")
    );

    // A signal reaches exactly its peer, with its data untouched.
    let offer = json!({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"});
    b.send(outgoing::signal(&a_id, &offer)).await;
    match a.recv().await {
        ServerMessage::Signal { from, data } => {
            assert_eq!(from, b_id);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(data.get()).unwrap(),
                offer
            );
        }
        other => panic!("{other:?}"),
    }

    // A third peer; a broadcast reaches everyone else, in order.
    let mut c = Client::connect(&server.ws_url()).await;
    let (c_id, _, peers) = c.join("standup", None, "Cy").await;
    assert_eq!(peers.len(), 2);
    a.recv().await; // peer-joined Cy
    b.recv().await;
    for n in 0..3 {
        c.send(outgoing::broadcast(&json!({"chat": n}))).await;
    }
    for receiver in [&mut a, &mut b] {
        for n in 0..3 {
            match receiver.recv().await {
                ServerMessage::Broadcast { from, data } => {
                    assert_eq!(from, c_id);
                    assert_eq!(data.get(), format!(r#"{{"chat":{n}}}"#));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    // Another room hears nothing of this one.
    let mut elsewhere = Client::connect(&server.ws_url()).await;
    let (_, _, peers) = elsewhere.join("other-room", None, "Di").await;
    assert!(peers.is_empty());

    b.send(outgoing::leave()).await;
    assert!(b.closed().await, "leave closes the connection");
    for receiver in [&mut a, &mut c] {
        assert!(matches!(receiver.recv().await, ServerMessage::PeerLeft { id } if id == b_id));
    }
    assert!(
        elsewhere
            .try_recv(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_dropped_peer_resumes_with_its_id_and_what_it_missed() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--resume-grace", "30s"]);
    let mut a = Client::connect(&server.ws_url()).await;
    let (a_id, _, _) = a.join("r", None, "Ana").await;
    let mut b = Client::connect(&server.ws_url()).await;
    let (b_id, b_resume, _) = b.join("r", None, "Bo").await;
    a.recv().await; // peer-joined

    b.drop_connection();
    // Give the server a moment to notice the drop; messages sent meanwhile must not be lost
    // either way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.send(outgoing::signal(
        &b_id,
        &json!({"type": "answer", "sdp": "x"}),
    ))
    .await;
    a.send(outgoing::broadcast(&json!({"muted": true}))).await;

    let mut b2 = Client::connect(&server.ws_url()).await;
    b2.send(outgoing::join("r", None, "Bo", Some(&b_resume)))
        .await;
    match b2.recv().await {
        ServerMessage::Welcome {
            id, resume, peers, ..
        } => {
            assert_eq!(id, b_id, "resume gives the same id");
            assert_eq!(resume, b_resume);
            assert_eq!(peers.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(b2.recv().await, ServerMessage::Signal { from, .. } if from == a_id));
    assert!(matches!(b2.recv().await, ServerMessage::Broadcast { from, .. } if from == a_id));
    // The others saw nothing of the drop.
    assert!(a.try_recv(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn after_the_grace_period_the_others_see_the_peer_leave() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--resume-grace", "500ms"]);
    let mut a = Client::connect(&server.ws_url()).await;
    a.join("r", None, "Ana").await;
    let mut b = Client::connect(&server.ws_url()).await;
    let (b_id, b_resume, _) = b.join("r", None, "Bo").await;
    a.recv().await;
    b.drop_connection();
    assert!(matches!(a.recv().await, ServerMessage::PeerLeft { id } if id == b_id));

    // Too late to resume: a fresh join with a new id.
    let mut b2 = Client::connect(&server.ws_url()).await;
    b2.send(outgoing::join("r", None, "Bo", Some(&b_resume)))
        .await;
    assert!(matches!(b2.recv().await, ServerMessage::Welcome { id, .. } if id != b_id));
}

#[tokio::test]
async fn tokens_admit_to_their_room_only_until_they_expire() {
    let home = tempfile::tempdir().unwrap();
    let secret_file = home.path().join("secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let server = Serve::start(
        home.path(),
        &["--secret-file", secret_file.to_str().unwrap()],
    );
    let secret = Secret::from_bytes(SECRET.as_bytes());
    let valid = secret.mint("room", unix_now() + 3600);

    let mut ok = Client::connect(&server.ws_url()).await;
    ok.join("room", Some(&valid), "Ana").await;

    let forged = Secret::from_bytes(b"someone else's secret, long").mint("room", unix_now() + 3600);
    let expired = secret.mint("room", unix_now() - 1);
    let other_room = secret.mint("elsewhere", unix_now() + 3600);
    for (token, words) in [
        (None, "needs an invite token"),
        (Some(forged.as_str()), "not valid for this room"),
        (Some(expired.as_str()), "expired"),
        (Some(other_room.as_str()), "not valid for this room"),
        (Some("garbage"), "not valid for this room"),
    ] {
        let mut c = Client::connect(&server.ws_url()).await;
        c.send(outgoing::join("room", token, "Eve", None)).await;
        let message = c.expect_error("bad-token").await;
        assert!(message.contains(words), "{token:?}: {message}");
        assert!(c.closed().await, "bad-token closes the connection");
    }
    // Nobody of those got in.
    assert!(ok.try_recv(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn malformed_messages_get_bad_message_and_the_connection_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &[]);
    let mut c = Client::connect(&server.ws_url()).await;
    for text in [
        "not json",
        "[]",
        r#"{"type":"dance"}"#,
        r#"{"type":"join","room":7,"name":"x","v":1}"#,
        r#"{"type":"join","room":"bad room","name":"x","v":1}"#,
        r#"{"no":"type"}"#,
    ] {
        c.send(text).await;
        c.expect_error("bad-message").await;
    }
    c.send_binary(vec![0, 1, 2]).await;
    assert!(c.expect_error("bad-message").await.contains("binary"));

    // Still usable: join works, and a second join is refused.
    c.join("r", None, "Ana").await;
    c.send(outgoing::join("r", None, "Ana", None)).await;
    assert!(
        c.expect_error("bad-message")
            .await
            .contains("already joined")
    );
    c.send(r#"{"type":"signal","to":"p","data":"not an object"}"#)
        .await;
    c.expect_error("bad-message").await;
}

#[tokio::test]
async fn unknown_peers_and_messages_before_join() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &[]);
    let mut c = Client::connect(&server.ws_url()).await;
    c.send(outgoing::signal("someone", &json!({}))).await;
    c.expect_error("not-joined").await;
    c.send(outgoing::broadcast(&json!({}))).await;
    c.expect_error("not-joined").await;
    let (id, _, _) = c.join("r", None, "Ana").await;
    c.send(outgoing::signal("nobody-here", &json!({}))).await;
    c.expect_error("unknown-peer").await;
    c.send(outgoing::signal(&id, &json!({}))).await;
    c.expect_error("unknown-peer").await;
}

#[tokio::test]
async fn version_and_room_full_close_the_connection() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--max-peers-per-room", "1"]);
    let mut c = Client::connect(&server.ws_url()).await;
    c.send(r#"{"type":"join","room":"r","name":"x","v":2}"#)
        .await;
    c.expect_error("version").await;
    assert!(c.closed().await);

    let mut first = Client::connect(&server.ws_url()).await;
    first.join("r", None, "Ana").await;
    let mut second = Client::connect(&server.ws_url()).await;
    second.send(outgoing::join("r", None, "Bo", None)).await;
    assert!(second.expect_error("room-full").await.contains("full"));
    assert!(second.closed().await);
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_connection_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--max-message-bytes", "1024"]);
    let mut a = Client::connect(&server.ws_url()).await;
    let (a_id, _, _) = a.join("r", None, "Ana").await;
    let mut b = Client::connect(&server.ws_url()).await;
    b.join("r", None, "Bo").await;
    a.recv().await;

    let big = outgoing::signal(&a_id, &json!({"sdp": "x".repeat(2000)}));
    b.send(big).await;
    assert!(b.expect_error("too-large").await.contains("at most 1024"));
    b.send(outgoing::signal(&a_id, &json!({"small": true})))
        .await;
    assert!(matches!(a.recv().await, ServerMessage::Signal { .. }));

    // Far over the limit ends the connection instead of being read.
    let huge = "y".repeat(1024 * 64);
    b.send(huge).await;
    assert!(b.closed().await);
}

#[tokio::test]
async fn a_flood_is_rate_limited_without_holding_up_others() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--max-messages-per-sec", "5", "--max-burst", "10"]);
    let mut flooder = Client::connect(&server.ws_url()).await;
    let (flood_id, _, _) = flooder.join("flood", None, "F").await;
    let mut victim = Client::connect(&server.ws_url()).await;
    victim.join("flood", None, "V").await;
    flooder.recv().await; // peer-joined

    let mut a = Client::connect(&server.ws_url()).await;
    let (a_id, _, _) = a.join("calm", None, "A").await;
    let mut b = Client::connect(&server.ws_url()).await;
    b.join("calm", None, "B").await;
    a.recv().await;

    for n in 0..200 {
        flooder.send(outgoing::broadcast(&json!({"n": n}))).await;
    }
    // Meanwhile another room works as usual.
    b.send(outgoing::signal(
        &a_id,
        &json!({"type": "offer", "sdp": "x"}),
    ))
    .await;
    assert!(matches!(a.recv().await, ServerMessage::Signal { .. }));

    flooder.expect_error("rate-limited").await;
    // The burst got through (less the token the join took), the rest did not.
    let mut delivered = 0;
    while let Some(message) = victim.try_recv(Duration::from_millis(500)).await {
        assert!(matches!(message, ServerMessage::Broadcast { ref from, .. } if *from == flood_id));
        delivered += 1;
    }
    assert!(
        (9..=60).contains(&delivered),
        "{delivered} of 200 delivered"
    );
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("confer_rejections_total{reason=\"rate-limited\"}")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_connection_that_never_joins_is_closed() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--join-timeout", "1s"]);
    let mut idle = Client::connect(&server.ws_url()).await;
    assert!(idle.expect_error("not-joined").await.contains("no join"));
    assert!(idle.closed().await);
}

#[tokio::test]
async fn a_slow_http_request_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--join-timeout", "1s"]);
    let mut slow = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never finish the head; the server answers 408 and closes.
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, slow.read_to_string(&mut response))
        .await
        .expect("the server kept a slow request open")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
}

#[tokio::test]
async fn http_endpoints_on_the_same_port() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &[]);
    let mut c = Client::connect(&server.ws_url()).await;
    c.join("r", None, "Ana").await;

    // /metrics first: a request before it may not have closed yet when it counts (it was
    // once counted as a third connection on a busy machine).
    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(status, 200);
    for line in [
        "confer_connections 2", // the WebSocket and this request
        "confer_rooms 1",
        "confer_joins_total 1",
        "# TYPE confer_relay_latency_seconds histogram",
        "confer_rejections_total{reason=\"bad-token\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let (status, page) = server.get("/j/team-42").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("team-42") && page.contains(r#"<script src="/web/room.js">"#),
        "{page}"
    );
    // Both ways in: the app (the link's confer:// form, set by the script) and the browser.
    assert!(
        page.contains(r##"<a id="open-app" class="button" href="#">Open in Confer</a>"##),
        "{page}"
    );
    assert!(page.contains(">Join in the browser</button>"), "{page}");
    let (status, script) = server.get("/web/room.js").await;
    assert_eq!(status, 200);
    assert!(script.contains("\"confer://\""), "{script}");
    assert_eq!(server.get("/j/bad%20room").await.0, 404);
    assert_eq!(server.get("/nowhere").await.0, 404);
    assert_eq!(server.get("/ws").await.0, 426);
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--max-conns-per-ip", "2"]);
    let _one = Client::connect(&server.ws_url()).await;
    let _two = Client::connect(&server.ws_url()).await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let mut server = open_server(&home, &[]);
    let mut c = Client::connect(&server.ws_url()).await;
    c.join("r", None, "Ana").await;
    server.process.signal("TERM");
    assert!(
        c.closed().await,
        "clients are told the server is going away"
    );
    let status = server
        .process
        .wait_for_exit(PATIENCE)
        .expect("the server did not exit");
    assert!(status.success(), "{status}");
}

/// Even at the most verbose level, the server's log holds no session description, candidate or
/// token: they are people's addresses and keys.
#[tokio::test]
async fn logs_never_hold_sdp_candidates_or_tokens() {
    let home = tempfile::tempdir().unwrap();
    let secret_file = home.path().join("secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let log = home.path().join("serve.log");
    let mut server = Serve::start_logging_to(
        home.path(),
        &["-vvv", "--secret-file", secret_file.to_str().unwrap()],
        &log,
    );
    let secret = Secret::from_bytes(SECRET.as_bytes());
    let token = secret.mint("room", unix_now() + 60);
    let mut a = Client::connect(&server.ws_url()).await;
    let (a_id, _, _) = a.join("room", Some(&token), "Ana").await;
    let mut b = Client::connect(&server.ws_url()).await;
    b.join("room", Some(&token), "Bo").await;
    a.recv().await;
    let sdp = "v=0\r\no=- 4611731400430051336 2 IN IP4 203.0.113.77\r\ns=-\r\n";
    let candidate = "candidate:842163049 1 udp 1677729535 198.51.100.23 46154 typ srflx";
    b.send(outgoing::signal(
        &a_id,
        &json!({"type": "offer", "sdp": sdp}),
    ))
    .await;
    b.send(outgoing::signal(
        &a_id,
        &json!({"type": "candidate", "candidate": {"candidate": candidate}}),
    ))
    .await;
    b.send(outgoing::join("room", Some(&token), "Bo", None))
        .await; // refused: logs the refusal
    a.recv().await;
    a.recv().await;
    b.expect_error("bad-message").await;
    // A refused token must not be logged either.
    let forged = format!("{}.AAAA", unix_now() + 60);
    let mut e = Client::connect(&server.ws_url()).await;
    e.send(outgoing::join("room", Some(&forged), "Eve", None))
        .await;
    e.expect_error("bad-token").await;

    server.process.signal("TERM");
    server.process.wait_for_exit(PATIENCE);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("joined"), "the log is not verbose: {text}");
    for secret_part in [
        token.as_str(),
        forged.as_str(),
        "203.0.113.77",
        "198.51.100.23",
        "4611731400430051336",
        SECRET,
    ] {
        assert!(
            !text.contains(secret_part),
            "{secret_part} is in the log:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_client_that_stops_answering_is_dropped() {
    let home = tempfile::tempdir().unwrap();
    let server = open_server(&home, &["--idle-timeout", "1s"]);
    let mut a = Client::connect(&server.ws_url()).await;
    a.join("r", None, "Ana").await;
    // Not reading means not answering the server's pings.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a.closed().await, "a silent client was kept");
}
