//! Two `confer serve` processes sharing rooms through a real redis-server: peers on different
//! servers meet, relay and broadcast, a room's size holds across servers, and a server that dies
//! takes only its own connections.

#![cfg(unix)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use confer::signal::proto::{ServerMessage, outgoing};
use serde_json::json;
use support::serve::{Client, Serve, spawn};
use support::{Owned, require_tool};

/// A private redis-server on a Unix socket, without persistence.
fn redis(dir: &Path) -> (Owned, String) {
    require_tool("redis-server", "redis-server");
    let socket = dir.join("redis.sock");
    let server = spawn(
        "redis-server",
        &[
            "--port",
            "0",
            "--unixsocket",
            socket.to_str().unwrap(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, format!("unix://{}", socket.display()))
}

fn clustered(home: &Path, redis_url: &str, extra: &[&str]) -> Serve {
    let mut args = vec!["--open", "--redis", redis_url];
    args.extend_from_slice(extra);
    Serve::start(home, &args)
}

#[tokio::test]
async fn peers_on_two_servers_share_a_room() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, url) = redis(dir.path());
    let one = clustered(dir.path(), &url, &[]);
    let two = clustered(dir.path(), &url, &[]);

    let mut a = Client::connect(&one.ws_url()).await;
    let (a_id, _, _) = a.join("standup", None, "Ana").await;
    let mut b = Client::connect(&two.ws_url()).await;
    let (b_id, _, peers) = b.join("standup", None, "Bo").await;
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert_eq!(
        (peers[0].id.as_str(), peers[0].name.as_str()),
        (a_id.as_str(), "Ana")
    );
    assert!(
        matches!(a.recv().await, ServerMessage::PeerJoined { id, name } if id == b_id && name == "Bo")
    );

    let offer = json!({"type": "offer", "sdp": "v=0\r\n"});
    a.send(outgoing::signal(&b_id, &offer)).await;
    match b.recv().await {
        ServerMessage::Signal { from, data } => {
            assert_eq!(from, a_id);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(data.get()).unwrap(),
                offer
            );
        }
        other => panic!("{other:?}"),
    }
    b.send(outgoing::broadcast(&json!({"chat": "hello"}))).await;
    assert!(matches!(a.recv().await, ServerMessage::Broadcast { from, .. } if from == b_id));

    // A third peer on the first server sees both, wherever they are.
    let mut c = Client::connect(&one.ws_url()).await;
    let (c_id, _, peers) = c.join("standup", None, "Cy").await;
    let mut names: Vec<_> = peers.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Ana", "Bo"]);
    for other in [&mut a, &mut b] {
        assert!(matches!(other.recv().await, ServerMessage::PeerJoined { id, .. } if id == c_id));
    }

    // Leaving on one server is seen on the other at once.
    b.send(outgoing::leave()).await;
    for other in [&mut a, &mut c] {
        assert!(matches!(other.recv().await, ServerMessage::PeerLeft { id } if id == b_id));
    }

    // Other rooms hear nothing.
    let mut d = Client::connect(&two.ws_url()).await;
    let (_, _, peers) = d.join("elsewhere", None, "Di").await;
    assert!(peers.is_empty());
    a.send(outgoing::broadcast(&json!({"chat": "only standup"})))
        .await;
    assert!(d.try_recv(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_room_holds_its_size_across_servers() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, url) = redis(dir.path());
    let one = clustered(dir.path(), &url, &["--max-peers-per-room", "2"]);
    let two = clustered(dir.path(), &url, &["--max-peers-per-room", "2"]);
    let mut a = Client::connect(&one.ws_url()).await;
    a.join("small", None, "Ana").await;
    let mut b = Client::connect(&two.ws_url()).await;
    b.join("small", None, "Bo").await;
    let mut c = Client::connect(&one.ws_url()).await;
    c.send(outgoing::join("small", None, "Cy", None)).await;
    c.expect_error("room-full").await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_server_that_dies_takes_only_its_own_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, url) = redis(dir.path());
    let one = clustered(dir.path(), &url, &[]);
    let mut two = clustered(dir.path(), &url, &[]);
    let mut a = Client::connect(&one.ws_url()).await;
    let (a_id, _, _) = a.join("r", None, "Ana").await;
    let mut b = Client::connect(&two.ws_url()).await;
    let (b_id, _, _) = b.join("r", None, "Bo").await;
    a.recv().await; // peer-joined

    // No goodbye: the process is killed.
    two.process.0.kill().unwrap();
    two.process.0.wait().unwrap();
    assert!(b.closed().await);

    // Once its heartbeat expires, the survivors see its members leave.
    match a.try_recv(Duration::from_secs(30)).await {
        Some(ServerMessage::PeerLeft { id }) => assert_eq!(id, b_id),
        other => panic!("expected peer-left for the dead server's peer, got {other:?}"),
    }
    // The surviving server goes on: a newcomer meets Ana there.
    let mut c = Client::connect(&one.ws_url()).await;
    let (_, _, peers) = c.join("r", None, "Cy").await;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].id, a_id);
}

/// Without its Redis a clustered server cannot admit anyone safely: a join gets the protocol's
/// `server` error instead of a half-made room, and the connection stays usable.
#[tokio::test]
async fn losing_redis_is_a_server_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (mut redis_server, url) = redis(dir.path());
    let one = clustered(dir.path(), &url, &[]);
    redis_server.0.kill().unwrap();
    redis_server.0.wait().unwrap();
    let mut a = Client::connect(&one.ws_url()).await;
    a.send(outgoing::join("r", None, "Ana", None)).await;
    assert!(a.expect_error("server").await.contains("Redis"));
    let (status, _) = one.get("/healthz").await;
    assert_eq!(status, 200, "the server itself is still up");
}
