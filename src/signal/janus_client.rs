//! The transport for a room on a Janus server: one task that keeps a WebSocket to Janus
//! (subprotocol `janus-protocol`, without which Janus drops the connection), sends the call's
//! requests, keeps its session alive and hands on what Janus says, decoded.
//!
//! The protocol itself (sessions, handles, the VideoRoom) is the call's (`call::janus_room`);
//! this task knows only connections. A connection that drops or goes silent is made again
//! with backoff, and the call hears `Connected` again: a Janus that restarted has forgotten our
//! session, so the call starts a new one. Requests given while disconnected belonged to the
//! old session and are dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::client::{ClientError, Socket, backoff, connect_websocket, tls_for};
use super::janus::{Action, Reply, Request};

/// Janus ends a session it has not heard of for `session_timeout` (60 s by default); janus.js
/// sends a keepalive every 25 s.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(25);
/// A request unanswered this long (Janus acks or answers each one at once) means the server is
/// not there: the connection is made again.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// Nothing at all heard this long (keepalives are answered) means the same.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
const SUBPROTOCOL: &str = "janus-protocol";

/// What the call asks of the transport.
#[derive(Debug, Clone, PartialEq)]
pub enum JanusCommand {
    /// Boxed: far larger than the others (a room's `create` is in it).
    Send(Box<Request>),
    /// Keep this session alive from now on (until the connection drops).
    KeepAlive {
        session_id: u64,
        token: Option<String>,
    },
    /// Close the connection: we are done.
    Leave,
}

/// What the call hears.
#[derive(Debug, Clone, PartialEq)]
pub enum JanusEvent {
    /// A connection is up: start a session (again).
    Connected,
    /// Janus said something (boxed: it is by far the largest event).
    Reply(Box<Reply>),
    /// Janus sent something that is not its protocol (said, and otherwise ignored).
    Garbage(String),
    /// The connection dropped (`why`); trying again after `after`.
    Reconnecting {
        attempt: u32,
        after: Duration,
        why: String,
    },
    /// The end: we left, or Janus could not be reached.
    Closed(JanusClosed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JanusClosed {
    Left,
    /// Never reached, or never answered, this many times in a row before it first answered.
    Unreachable {
        attempts: u32,
        why: String,
    },
}

/// The handle: send commands, receive events. Dropping it closes the connection.
pub struct JanusClient {
    pub commands: mpsc::Sender<JanusCommand>,
    pub events: mpsc::Receiver<JanusEvent>,
}

impl JanusClient {
    /// Starts the task on the current tokio runtime. `max_attempts`: give up after this many
    /// failed connections in a row until Janus has answered once (`None`: never).
    pub fn start(url: String, max_attempts: Option<u32>) -> Result<JanusClient, ClientError> {
        let tls = tls_for(&url, &[])?;
        let (commands, command_rx) = mpsc::channel(64);
        let (event_tx, events) = mpsc::channel(256);
        let transport = Transport {
            url,
            tls,
            commands: command_rx,
            events: event_tx,
            max_attempts,
            answered_once: false,
        };
        tokio::spawn(transport.run());
        Ok(JanusClient { commands, events })
    }
}

struct Transport {
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    commands: mpsc::Receiver<JanusCommand>,
    events: mpsc::Sender<JanusEvent>,
    max_attempts: Option<u32>,
    answered_once: bool,
}

/// Why one connection ended.
enum Ended {
    Dropped(String),
    /// A request went unanswered past [`ANSWER_LIMIT`].
    Unanswered(String),
    Left,
    Abandoned,
}

impl Transport {
    async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            let why = match self.connect_and_serve(&mut failures).await {
                Ended::Left => {
                    let _ = self
                        .events
                        .send(JanusEvent::Closed(JanusClosed::Left))
                        .await;
                    return;
                }
                Ended::Abandoned => return,
                // A server that takes the connection and never answers, before it ever has,
                // is no Janus to wait for: the join ends now, not after four more silences.
                Ended::Unanswered(why) if !self.answered_once => {
                    let closed = JanusClosed::Unreachable {
                        attempts: failures + 1,
                        why,
                    };
                    let _ = self.events.send(JanusEvent::Closed(closed)).await;
                    return;
                }
                Ended::Dropped(why) | Ended::Unanswered(why) => why,
            };
            failures += 1;
            if !self.answered_once && self.max_attempts.is_some_and(|max| failures >= max) {
                let closed = JanusClosed::Unreachable {
                    attempts: failures,
                    why,
                };
                let _ = self.events.send(JanusEvent::Closed(closed)).await;
                return;
            }
            let after = backoff(failures);
            let event = JanusEvent::Reconnecting {
                attempt: failures,
                after,
                why,
            };
            if self.events.send(event).await.is_err() {
                return;
            }
            let sleep = tokio::time::sleep(after);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = self.commands.recv() => match command {
                        None | Some(JanusCommand::Leave) => {
                            let _ = self.events.send(JanusEvent::Closed(JanusClosed::Left)).await;
                            return;
                        }
                        // Meant for the session the drop ended.
                        Some(_) => {}
                    },
                }
            }
        }
    }

    async fn connect(&self) -> Result<Socket, String> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        connect_websocket(request, self.tls.clone()).await
    }

    async fn connect_and_serve(&mut self, failures: &mut u32) -> Ended {
        let mut ws = match self.connect().await {
            Ok(ws) => ws,
            Err(e) => return Ended::Dropped(format!("cannot connect: {e}")),
        };
        if self.events.send(JanusEvent::Connected).await.is_err() {
            return Ended::Abandoned;
        }
        let mut keepalive: Option<(u64, Option<String>)> = None;
        let mut keepalives = 0u64;
        let mut next_keepalive = Instant::now() + KEEPALIVE_EVERY;
        let mut last_heard = Instant::now();
        // Since when a request has waited for any word from Janus.
        let mut waiting_since: Option<Instant> = None;
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None => {
                            return Ended::Dropped("Janus closed the connection".into());
                        }
                        Some(Err(e)) => return Ended::Dropped(e.to_string()),
                        Some(Ok(_)) => {
                            last_heard = Instant::now();
                            continue;
                        }
                    };
                    last_heard = Instant::now();
                    // The whole exchange, for chasing a negotiation (RUST_LOG=...janus_client=trace).
                    tracing::trace!("janus says: {}", text.as_str());
                    let event = match Reply::decode(text.as_str()) {
                        Ok(reply) => {
                            waiting_since = None;
                            self.answered_once = true;
                            *failures = 0;
                            JanusEvent::Reply(Box::new(reply))
                        }
                        // Whatever answers at this address before Janus ever has is not Janus:
                        // the join must not wait on it.
                        Err(e) if !self.answered_once => {
                            return Ended::Dropped(format!("not a Janus server: {e}"));
                        }
                        // Garbage is no answer: a server that sends only that is dropped when
                        // the answer is overdue.
                        Err(e) => JanusEvent::Garbage(e),
                    };
                    if self.events.send(event).await.is_err() {
                        return Ended::Abandoned;
                    }
                }
                command = self.commands.recv() => {
                    let request = match command {
                        None => return Ended::Abandoned,
                        Some(JanusCommand::Leave) => {
                            let _ = ws.close(None).await;
                            return Ended::Left;
                        }
                        Some(JanusCommand::KeepAlive { session_id, token }) => {
                            keepalive = Some((session_id, token));
                            next_keepalive = Instant::now() + KEEPALIVE_EVERY;
                            continue;
                        }
                        Some(JanusCommand::Send(request)) => *request,
                    };
                    if tracing::enabled!(tracing::Level::TRACE) {
                        tracing::trace!("to janus: {}", request.to_log());
                    }
                    if ws.send(Message::Text(request.to_json().into())).await.is_err() {
                        return Ended::Dropped("the connection broke".into());
                    }
                    waiting_since.get_or_insert_with(Instant::now);
                }
                _ = check.tick() => {
                    let now = Instant::now();
                    if waiting_since.is_some_and(|since| now - since > ANSWER_LIMIT) {
                        return Ended::Unanswered("Janus does not answer".into());
                    }
                    if now - last_heard > SILENCE_LIMIT {
                        return Ended::Dropped("Janus went silent".into());
                    }
                    if let Some((session_id, token)) = &keepalive
                        && now >= next_keepalive
                    {
                        keepalives += 1;
                        let request = Request {
                            action: Action::Keepalive { session_id: *session_id },
                            transaction: format!("keepalive-{keepalives}"),
                            token: token.clone(),
                        };
                        if ws.send(Message::Text(request.to_json().into())).await.is_err() {
                            return Ended::Dropped("the connection broke".into());
                        }
                        waiting_since.get_or_insert(now);
                        next_keepalive = now + KEEPALIVE_EVERY;
                    }
                }
            }
        }
    }
}
