//! One load process: its share of the clients, each a task with its own WebSocket. Clients join
//! at a set pace, hold their connection, and on the word go send relayed messages to their room
//! mates at a set rate, timing each delivery.
//!
//! Three protocols are spoken so that other signaling servers can be measured the same way:
//! Confer's own, matchbox_server's and the PeerJS server's.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::histogram::Histogram;
use crate::signal::proto::outgoing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum Protocol {
    /// Confer's protocol (docs/PROTOCOL.md); URL ws://HOST:PORT/ws.
    Confer,
    /// matchbox_server's full-mesh rooms; URL ws://HOST:PORT.
    Matchbox,
    /// The PeerJS server; URL ws://HOST:PORT (path /peerjs, key "peerjs").
    Peerjs,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub protocol: Protocol,
    pub url: String,
    pub addr: SocketAddr,
    /// (client index, room) of each client of this process.
    pub clients: Vec<(usize, usize)>,
    pub room_size: usize,
    /// Joins a second started by this process.
    pub join_rate: f64,
    /// Messages a second each client sends once told to go.
    pub message_rate: f64,
    pub duration: Duration,
    pub source_ips: Vec<IpAddr>,
}

/// After joining: what this process reports.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Joined {
    pub joined: u64,
    pub failed: u64,
    pub join_latency: Histogram,
    pub first_error: Option<String>,
}

/// After the message phase.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Done {
    pub sent: u64,
    pub received: u64,
    /// Connections that ended before the test did.
    pub dropped: u64,
    pub relay_latency: Histogram,
}

/// The shortest interval between a client's sends.
const MIN_TICK: Duration = Duration::from_millis(10);

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The text after `"key":"` up to the next quote.
fn str_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// The digits after `"key":`.
fn num_field(text: &str, key: &str) -> Option<u64> {
    let start = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

fn peerjs_id(room: usize, slot: usize) -> String {
    format!("lt{room}p{slot}")
}

struct Client {
    protocol: Protocol,
    room: usize,
    peers: Vec<String>,
    next_peer: usize,
}

enum Incoming {
    Admitted,
    Sample(u64),
    Other,
}

impl Client {
    fn url(&self, base: &str, index: usize, slot: usize) -> String {
        match self.protocol {
            Protocol::Confer => base.to_string(),
            Protocol::Matchbox => format!("{}/lt{}", base.trim_end_matches('/'), self.room),
            Protocol::Peerjs => format!(
                "{}/peerjs?key=peerjs&id={}&token=t{index}",
                base.trim_end_matches('/'),
                peerjs_id(self.room, slot)
            ),
        }
    }

    fn join_message(&self) -> Option<String> {
        match self.protocol {
            Protocol::Confer => Some(outgoing::join(
                &format!("lt{}", self.room),
                None,
                "load",
                None,
            )),
            Protocol::Matchbox | Protocol::Peerjs => None,
        }
    }

    fn learn(&mut self, id: &str) {
        if !self.peers.iter().any(|p| p == id) {
            self.peers.push(id.to_string());
        }
    }

    fn on_text(&mut self, text: &str) -> Incoming {
        match self.protocol {
            Protocol::Confer => {
                if text.starts_with(r#"{"type":"signal""#) {
                    return num_field(text, "t").map_or(Incoming::Other, Incoming::Sample);
                }
                if text.starts_with(r#"{"type":"welcome""#) {
                    if let Ok(welcome) = serde_json::from_str::<serde_json::Value>(text)
                        && let Some(peers) = welcome["peers"].as_array()
                    {
                        for peer in peers {
                            if let Some(id) = peer["id"].as_str() {
                                self.learn(id);
                            }
                        }
                    }
                    return Incoming::Admitted;
                }
                if text.starts_with(r#"{"type":"peer-joined""#)
                    && let Some(id) = str_field(text, "id")
                {
                    self.learn(id);
                }
                Incoming::Other
            }
            Protocol::Matchbox => {
                if text.starts_with(r#"{"Signal""#) {
                    if let Some(sender) = str_field(text, "sender") {
                        self.learn(sender);
                    }
                    return num_field(text, "t").map_or(Incoming::Other, Incoming::Sample);
                }
                if text.starts_with(r#"{"IdAssigned""#) {
                    return Incoming::Admitted;
                }
                if text.starts_with(r#"{"NewPeer""#)
                    && let Some(id) = str_field(text, "NewPeer")
                {
                    self.learn(id);
                }
                Incoming::Other
            }
            Protocol::Peerjs => {
                if text.contains(r#""type":"CANDIDATE""#) {
                    return num_field(text, "t").map_or(Incoming::Other, Incoming::Sample);
                }
                if text.contains(r#""type":"OPEN""#) {
                    return Incoming::Admitted;
                }
                Incoming::Other
            }
        }
    }

    fn message(&mut self) -> Option<String> {
        if self.peers.is_empty() {
            return None;
        }
        let to = &self.peers[self.next_peer % self.peers.len()];
        self.next_peer += 1;
        let t = now_ns();
        Some(match self.protocol {
            Protocol::Confer => format!(r#"{{"type":"signal","to":"{to}","data":{{"t":{t}}}}}"#),
            Protocol::Matchbox => {
                format!(r#"{{"Signal":{{"receiver":"{to}","data":{{"t":{t}}}}}}}"#)
            }
            Protocol::Peerjs => {
                format!(r#"{{"type":"CANDIDATE","dst":"{to}","payload":{{"t":{t}}}}}"#)
            }
        })
    }
}

/// Connects, joins, holds; returns the join latency or why it failed, then (through `done`)
/// the message phase's counts.
async fn client(
    plan: std::sync::Arc<Plan>,
    index: usize,
    room: usize,
    joined: mpsc::UnboundedSender<Result<Duration, String>>,
    mut go: watch::Receiver<bool>,
) -> Done {
    let slot = index % plan.room_size;
    let mut state = Client {
        protocol: plan.protocol,
        room,
        peers: Vec::new(),
        next_peer: slot,
    };
    if plan.protocol == Protocol::Peerjs {
        for other in 0..plan.room_size {
            if other != slot {
                state.peers.push(peerjs_id(room, other));
            }
        }
    }
    let started = Instant::now();
    let mut ws = match connect(&plan, &state.url(&plan.url, index, slot), index).await {
        Ok(ws) => ws,
        Err(e) => {
            let _ = joined.send(Err(e));
            return Done::default();
        }
    };
    if let Some(join) = state.join_message()
        && let Err(e) = ws.send(Message::Text(join.into())).await
    {
        let _ = joined.send(Err(e.to_string()));
        return Done::default();
    }
    // Wait for admission.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Incoming::Admitted = state.on_text(text.as_str()) {
                    let _ = joined.send(Ok(started.elapsed()));
                    break;
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => {
                let _ = joined.send(Err(format!("closed before admission: {other:?}")));
                return Done::default();
            }
            Err(_) => {
                let _ = joined.send(Err("no admission within 30 s".into()));
                return Done::default();
            }
        }
    }

    let mut done = Done::default();
    // Hold: keep reading (pings, peers arriving) until told to go.
    loop {
        tokio::select! {
            changed = go.changed() => {
                if changed.is_err() || *go.borrow() {
                    break;
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => { state.on_text(text.as_str()); }
                Some(Ok(_)) => {}
                _ => {
                    done.dropped = 1;
                    return done;
                }
            },
        }
    }

    // Messages: stop sending at the deadline, keep reading a little longer for stragglers.
    let send_until = tokio::time::Instant::now() + plan.duration;
    let read_until = send_until + Duration::from_secs(1);
    // Ticks of at least 10 ms; faster rates send several messages a tick with one flush, as
    // bursts of candidates do, so that the generator's own syscalls do not set the ceiling.
    let period = Duration::from_secs_f64(1.0 / plan.message_rate.max(0.001)).max(MIN_TICK);
    let per_tick = plan.message_rate * period.as_secs_f64();
    let mut credit = 0.0;
    // Spread the first sends so that the clients do not all send in the same instant.
    let offset = period.mul_f64((index % 997) as f64 / 997.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(read_until) => break,
            _ = tick.tick(), if plan.message_rate > 0.0 && tokio::time::Instant::now() < send_until => {
                credit += per_tick;
                let mut wrote = false;
                while credit >= 1.0 {
                    credit -= 1.0;
                    let Some(text) = state.message() else { break };
                    if ws.feed(Message::Text(text.into())).await.is_err() {
                        done.dropped = 1;
                        break;
                    }
                    done.sent += 1;
                    wrote = true;
                }
                if wrote && ws.flush().await.is_err() {
                    done.dropped = 1;
                    break;
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Incoming::Sample(t) = state.on_text(text.as_str()) {
                        done.received += 1;
                        done.relay_latency.record(now_ns().saturating_sub(t) / 1000);
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    done.dropped = 1;
                    break;
                }
            },
        }
    }
    let _ = ws.close(None).await;
    done
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(plan: &Plan, url: &str, index: usize) -> Result<Ws, String> {
    let socket = if plan.addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if !plan.source_ips.is_empty() {
        let ip = plan.source_ips[index % plan.source_ips.len()];
        choose_port_at_connect(&socket);
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(30), socket.connect(plan.addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// A socket bound to an address before connecting takes a port at bind time, when the kernel
/// cannot yet share it between destinations; after a few runs the ports in TIME_WAIT run out.
/// Linux can choose the port at connect instead.
fn choose_port_at_connect(socket: &TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a c_int option of the right size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Runs this process's clients: joins, reports, waits for `go`, sends, reports.
pub async fn run(
    plan: Plan,
    report_joined: impl FnOnce(&Joined),
    go_signal: impl std::future::Future<Output = ()>,
) -> Done {
    let plan = std::sync::Arc::new(plan);
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(plan.clients.len());
    let pace = Duration::from_secs_f64(1.0 / plan.join_rate.max(0.001));
    let mut ticker = tokio::time::interval(pace);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for &(index, room) in &plan.clients {
        ticker.tick().await;
        tasks.push(tokio::spawn(client(
            std::sync::Arc::clone(&plan),
            index,
            room,
            joined_tx.clone(),
            go_rx.clone(),
        )));
    }
    drop(joined_tx);
    let mut joined = Joined::default();
    while let Some(result) = joined_rx.recv().await {
        match result {
            Ok(latency) => {
                joined.joined += 1;
                joined
                    .join_latency
                    .record(latency.as_micros().min(u64::MAX as u128) as u64);
            }
            Err(e) => {
                joined.failed += 1;
                joined.first_error.get_or_insert(e);
            }
        }
        if joined.joined + joined.failed == plan.clients.len() as u64 {
            break;
        }
    }
    report_joined(&joined);
    go_signal.await;
    let _ = go_tx.send(true);
    let mut done = Done::default();
    for task in tasks {
        if let Ok(client) = task.await {
            done.sent += client.sent;
            done.received += client.received;
            done.dropped += client.dropped;
            done.relay_latency.merge(&client.relay_latency);
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_without_parsing_json() {
        let text = r#"{"type":"signal","from":"abc","data":{"t":1234567}}"#;
        assert_eq!(num_field(text, "t"), Some(1_234_567));
        assert_eq!(str_field(text, "from"), Some("abc"));
        assert_eq!(str_field(r#"{"NewPeer":"p-1"}"#, "NewPeer"), Some("p-1"));
        assert_eq!(num_field(text, "missing"), None);
    }

    #[test]
    fn each_protocol_counts_its_own_deliveries() {
        let mut confer = Client {
            protocol: Protocol::Confer,
            room: 0,
            peers: Vec::new(),
            next_peer: 0,
        };
        assert!(confer.message().is_none(), "no peer known yet");
        assert!(matches!(
            confer.on_text(r#"{"type":"welcome","id":"me","resume":"s","peers":[{"id":"p1","name":"x"}],"ice_servers":[]}"#),
            Incoming::Admitted
        ));
        assert!(confer.message().unwrap().contains(r#""to":"p1""#));
        assert!(matches!(
            confer.on_text(r#"{"type":"signal","from":"p1","data":{"t":42}}"#),
            Incoming::Sample(42)
        ));

        let mut matchbox = Client {
            protocol: Protocol::Matchbox,
            room: 0,
            peers: Vec::new(),
            next_peer: 0,
        };
        matchbox.on_text(r#"{"NewPeer":"u-2"}"#);
        assert!(matchbox.message().unwrap().contains(r#""receiver":"u-2""#));
        assert!(matches!(
            matchbox.on_text(r#"{"Signal":{"sender":"u-3","data":{"t":7}}}"#),
            Incoming::Sample(7)
        ));
        assert_eq!(matchbox.peers, ["u-2", "u-3"]);
    }
}
