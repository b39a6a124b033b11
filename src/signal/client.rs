//! The signaling client the call uses: one task per meeting that keeps a WebSocket to the
//! server, joins, turns server messages into typed [`Event`]s and sends [`Command`]s.
//!
//! A dropped connection is not the end of a meeting: the task reconnects with backoff and joins
//! with its resume secret, so it keeps its peer id and receives what the server kept for it.
//! Commands given while disconnected wait in a bounded queue and go out after the resume.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::proto::{ErrorCode, IceServer, MediaRoute, PeerId, PeerInfo, ServerMessage, outgoing};
use super::relayed::{PeerSignal, RoomMessage};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Nothing heard for this long (the server pings every 10 s) means the path is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(30);
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(10);
/// Commands kept while disconnected.
const PENDING_LIMIT: usize = 256;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// Where and as whom to join.
#[derive(Clone)]
pub struct ClientConfig {
    /// `ws://HOST:PORT/ws` or `wss://HOST[:PORT]/ws` (see `Invite::signaling_url`).
    pub url: String,
    pub room: String,
    pub token: Option<String>,
    pub name: String,
    /// Certificates to trust besides the platform's (a private CA, a test server).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Give up after this many failed connection attempts in a row before the first join
    /// (`None`: never). Once in the room the session keeps trying: media between the peers
    /// outlives a signaling server that restarts.
    pub max_attempts: Option<u32>,
}

/// What the call hears.
#[derive(Debug)]
pub enum Event {
    /// In the room. `resumed` is true when the server gave back the same peer id after a drop
    /// (peer connections carry on); false on the first join or when the old place was gone.
    Joined {
        id: PeerId,
        peers: Vec<PeerInfo>,
        ice_servers: Vec<IceServer>,
        resumed: bool,
        /// Where the room's media goes, when not in a mesh.
        media: Option<MediaRoute>,
    },
    PeerJoined(PeerInfo),
    /// The room's media moves through an SFU from now on.
    MediaMoved(MediaRoute),
    PeerLeft(PeerId),
    /// A signal from a participant; Err says what was wrong with one that could not be read.
    Signal {
        from: PeerId,
        signal: Result<PeerSignal, String>,
    },
    /// A message to the whole room (kinds this version does not know are left out).
    Broadcast {
        from: PeerId,
        message: RoomMessage,
    },
    /// The server refused something (the meeting goes on unless `Closed` follows).
    Refused {
        code: ErrorCode,
        message: String,
    },
    /// The connection dropped; trying again after `after`.
    Reconnecting {
        attempt: u32,
        after: Duration,
    },
    /// The end.
    Closed(Closed),
}

/// Why the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// We left (a `Leave`, or the handle was dropped).
    Left,
    /// Refused for good: a bad token, a full room, another protocol version.
    Refused { code: ErrorCode, message: String },
    /// The server could not be reached this many times in a row before the first join.
    Unreachable { attempts: u32 },
    /// Nobody reads the events any more.
    Abandoned,
}

/// What the call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Signal { to: PeerId, signal: PeerSignal },
    Broadcast(RoomMessage),
    Leave,
}

/// The handle: send commands, receive events. Dropping it leaves the meeting.
pub struct SignalingClient {
    pub commands: mpsc::Sender<Command>,
    pub events: mpsc::Receiver<Event>,
}

impl SignalingClient {
    /// Starts the client's task on the current tokio runtime.
    pub fn start(config: ClientConfig) -> Result<SignalingClient, ClientError> {
        let tls = tls_for(&config.url, &config.extra_roots)?;
        let (commands, command_rx) = mpsc::channel(64);
        let (event_tx, events) = mpsc::channel(256);
        tokio::spawn(run(config, tls, command_rx, event_tx));
        Ok(SignalingClient { commands, events })
    }
}

/// The TLS set-up a WebSocket link needs: none for `ws://`, so that a call without TLS never
/// depends on the platform's certificate verifier (which can fail where a call without it
/// would work, as under Wine).
pub(crate) fn tls_for(
    url: &str,
    extra_roots: &[CertificateDer<'static>],
) -> Result<Option<Arc<rustls::ClientConfig>>, ClientError> {
    if url
        .get(..4)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss:"))
    {
        tls_config(extra_roots).map(Some)
    } else {
        Ok(None)
    }
}

fn tls_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
        extra_roots.iter().cloned(),
        Arc::clone(&provider),
    )
    .map_err(|e| ClientError::Tls(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .dangerous() // the platform's verifier, not a weaker one
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A WebSocket to a signaling server (`request`: its URL, or a request with headers of its
/// own), within [`CONNECT_TIMEOUT`], with the sizes a signaling message needs; over TLS when
/// `tls` is given.
pub(crate) async fn connect_websocket(
    request: impl IntoClientRequest + Unpin,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(1024 * 1024));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        tls.map(Connector::Rustls),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Why one connection ended.
enum Ended {
    /// Lost: reconnect.
    Dropped,
    /// Over: tell the call and stop.
    Final(Closed),
}

struct Session {
    config: ClientConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    /// Commands not yet sent, oldest first.
    pending: VecDeque<String>,
    id: Option<PeerId>,
    resume: Option<String>,
}

async fn run(
    config: ClientConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) {
    let mut session = Session {
        config,
        tls,
        events,
        commands,
        pending: VecDeque::new(),
        id: None,
        resume: None,
    };
    let mut failures = 0u32;
    let reason = loop {
        match session.connect_and_serve(&mut failures).await {
            Ended::Final(reason) => break reason,
            Ended::Dropped => {
                failures += 1;
                if session.id.is_none()
                    && session
                        .config
                        .max_attempts
                        .is_some_and(|max| failures > max)
                {
                    break Closed::Unreachable { attempts: failures };
                }
                let after = backoff(failures);
                let _ = session
                    .events
                    .send(Event::Reconnecting {
                        attempt: failures,
                        after,
                    })
                    .await;
                // Keep taking commands while waiting, so a Leave is not stuck behind the wait.
                let sleep = tokio::time::sleep(after);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        command = session.commands.recv() => match command {
                            None | Some(Command::Leave) => {
                                let _ = session.events.send(Event::Closed(Closed::Left)).await;
                                return;
                            }
                            Some(command) => session.queue(command),
                        },
                    }
                }
            }
        }
    };
    let _ = session.events.send(Event::Closed(reason)).await;
}

/// 250 ms, 500 ms, 1 s, ... up to 10 s, with up to a quarter added at random so that a crowd
/// dropped at once does not come back at once.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = FIRST_RETRY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_RETRY);
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    base + base.mul_f64(f64::from(byte[0]) / 255.0 / 4.0)
}

impl Session {
    fn queue(&mut self, command: Command) {
        let text = match command {
            Command::Signal { to, signal } => outgoing::signal(to.as_str(), &signal.to_json()),
            Command::Broadcast(message) => outgoing::broadcast(&message.to_json()),
            Command::Leave => outgoing::leave(),
        };
        if self.pending.len() >= PENDING_LIMIT {
            self.pending.pop_front();
            tracing::warn!("signaling queue full while disconnected; dropped the oldest message");
        }
        self.pending.push_back(text);
    }

    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }

    async fn connect(&self) -> Result<Socket, String> {
        connect_websocket(self.config.url.as_str(), self.tls.clone()).await
    }

    async fn connect_and_serve(&mut self, failures: &mut u32) -> Ended {
        let mut ws = match self.connect().await {
            Ok(ws) => ws,
            Err(e) => {
                tracing::debug!("cannot reach the signaling server: {e}");
                return Ended::Dropped;
            }
        };
        let join = outgoing::join(
            &self.config.room,
            self.config.token.as_deref(),
            &self.config.name,
            self.resume.as_deref(),
        );
        if ws.send(Message::Text(join.into())).await.is_err() {
            return Ended::Dropped;
        }
        // (Not `interval()`, whose first tick waits for the timer wheel.)
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
        let mut last_heard = tokio::time::Instant::now();
        let mut joined = false;
        loop {
            tokio::select! {
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ended::Dropped,
                        Some(Ok(_)) => {
                            last_heard = tokio::time::Instant::now();
                            continue;
                        }
                    };
                    last_heard = tokio::time::Instant::now();
                    let Ok(message) = ServerMessage::decode(text.as_str()) else {
                        tracing::warn!("ignored a message from the server that is not protocol v1");
                        continue;
                    };
                    if let ServerMessage::Welcome { .. } = message {
                        joined = true;
                        *failures = 0;
                    }
                    if let Some(ended) = self.on_message(message).await {
                        return ended;
                    }
                    if joined && !self.flush_pending(&mut ws).await {
                        return Ended::Dropped;
                    }
                }
                // Commands are taken before the welcome too (they wait in `pending`), so the
                // call's queue never fills while the server is slow to answer.
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        let _ = ws.send(Message::Text(outgoing::leave().into())).await;
                        let _ = ws.close(None).await;
                        return Ended::Final(Closed::Left);
                    };
                    let leaving = matches!(command, Command::Leave);
                    if leaving && !joined {
                        let _ = ws.close(None).await;
                        return Ended::Final(Closed::Left);
                    }
                    self.queue(command);
                    if joined && !self.flush_pending(&mut ws).await {
                        return Ended::Dropped;
                    }
                    if leaving {
                        let _ = ws.close(None).await;
                        return Ended::Final(Closed::Left);
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        tracing::info!("signaling server silent for {SILENCE_LIMIT:?}; reconnecting");
                        return Ended::Dropped;
                    }
                    if ws.send(Message::Ping(Default::default())).await.is_err() {
                        return Ended::Dropped;
                    }
                }
            }
        }
    }

    /// Sends what waited; false when the connection broke (the rest stays queued).
    async fn flush_pending(&mut self, ws: &mut Socket) -> bool {
        while let Some(text) = self.pending.front() {
            if ws.feed(Message::Text(text.clone().into())).await.is_err() {
                return false;
            }
            self.pending.pop_front();
        }
        ws.flush().await.is_ok()
    }

    /// Turns a server message into an event; `Some` when the session ends.
    async fn on_message(&mut self, message: ServerMessage) -> Option<Ended> {
        let event = match message {
            ServerMessage::Welcome {
                id,
                resume,
                peers,
                ice_servers,
                media,
            } => {
                let resumed = self.id.as_ref() == Some(&id);
                if self.id.is_some() && !resumed {
                    // A new identity: what waited was meant for the old session's peers.
                    self.pending.clear();
                }
                self.id = Some(id.clone());
                self.resume = Some(resume);
                Event::Joined {
                    id,
                    peers,
                    ice_servers,
                    resumed,
                    media,
                }
            }
            ServerMessage::Media { route } => Event::MediaMoved(route),
            ServerMessage::PeerJoined { id, name } => Event::PeerJoined(PeerInfo { id, name }),
            ServerMessage::PeerLeft { id } => Event::PeerLeft(id),
            ServerMessage::Signal { from, data } => Event::Signal {
                from,
                signal: PeerSignal::from_json(data.get()),
            },
            ServerMessage::Broadcast { from, data } => match RoomMessage::from_json(data.get()) {
                Some(message) => Event::Broadcast { from, message },
                None => {
                    tracing::debug!("ignored a broadcast of a kind this version does not know");
                    return None;
                }
            },
            ServerMessage::Error { code, message } => {
                let fatal = code.closes();
                if !self
                    .emit(Event::Refused {
                        code,
                        message: message.clone(),
                    })
                    .await
                {
                    return Some(Ended::Final(Closed::Abandoned));
                }
                return fatal.then_some(Ended::Final(Closed::Refused { code, message }));
            }
        };
        if self.emit(event).await {
            None
        } else {
            Some(Ended::Final(Closed::Abandoned))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap_with_some_spread() {
        assert!(backoff(1) >= FIRST_RETRY && backoff(1) <= FIRST_RETRY * 5 / 4);
        assert!(backoff(3) >= FIRST_RETRY * 4);
        for attempt in [10, 20, 1000] {
            let wait = backoff(attempt);
            assert!(wait >= MAX_RETRY && wait <= MAX_RETRY * 5 / 4, "{wait:?}");
        }
    }

    #[test]
    fn tls_is_set_up_only_for_a_wss_link() {
        assert!(tls_for("ws://127.0.0.1:7000/ws", &[]).unwrap().is_none());
        assert!(tls_for("wss://example.org/ws", &[]).unwrap().is_some());
        assert!(tls_for("WSS://example.org/ws", &[]).unwrap().is_some());
        assert!(tls_for("", &[]).unwrap().is_none());
    }
}
