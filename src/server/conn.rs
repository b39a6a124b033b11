//! One signaling connection: from the WebSocket handshake to its end.
//!
//! The connection's task owns its socket; everything it is sent arrives through its bounded
//! outbox, and everything it reads is checked (size, rate, shape, membership) before the hub
//! sees it. A misbehaving client costs only its own task and gets an `error` message saying why.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Access;
use super::hub::{Admitted, Hub, Membership};
use super::outbox::Outbox;
use super::ratelimit::TokenBucket;
use crate::signal::proto::{ClientMessage, ErrorCode, Join, ProtocolError, ServerMessage};
use crate::token::{TokenError, unix_now};

/// A write that takes longer than this means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one `rate-limited` error a second, or the errors would be the flood.
const RATE_NOTICE_INTERVAL: Duration = Duration::from_secs(1);
/// Outgoing messages written before one flush.
const WRITE_BATCH: usize = 32;

pub struct ConnContext {
    pub hub: Arc<Hub>,
    pub access: Access,
    pub shutdown: watch::Receiver<bool>,
}

enum Flow {
    Continue,
    Close(CloseCode, &'static str),
}

struct Conn<S> {
    ws: WebSocketStream<S>,
    hub: Arc<Hub>,
    access: Access,
    outbox: Arc<Outbox>,
    membership: Option<Membership>,
    left: bool,
    bucket: TokenBucket,
    last_heard: Instant,
    last_rate_notice: Option<Instant>,
}

/// Runs the connection until it ends. `accepted` is when the TCP connection arrived: the join
/// deadline counts from there, so a slow HTTP request cannot stretch it.
pub async fn run<S>(ws: WebSocketStream<S>, ctx: ConnContext, accepted: Instant)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hub = Arc::clone(&ctx.hub);
    let limits = hub.limits();
    let outbox = Arc::new(Outbox::default());
    let now = Instant::now();
    let mut conn = Conn {
        ws,
        hub: Arc::clone(&hub),
        access: ctx.access,
        outbox: Arc::clone(&outbox),
        membership: None,
        left: false,
        bucket: TokenBucket::new(limits.messages_per_second, limits.message_burst, now),
        last_heard: now,
        last_rate_notice: None,
    };
    let mut shutdown = ctx.shutdown;
    let join_deadline = tokio::time::Instant::from_std(accepted + limits.join_timeout);
    // Not `interval()`: its first tick waits for the timer wheel's next millisecond, which
    // would delay reading the join of every new connection by up to 1 ms.
    let period = limits.ping_interval();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);

    // Made once and kept across turns of the loop: rebuilt every turn, each would register
    // and deregister itself (the shutdown signal's waiter list is shared by every connection,
    // the join timer sits in the timer wheel) for every message relayed.
    let mut shutting_down = std::pin::pin!(shutdown.changed());
    let mut join_timer = std::pin::pin!(tokio::time::sleep_until(join_deadline));
    let mut ready = std::pin::pin!(outbox.ready());

    let end = loop {
        let joined = conn.membership.is_some();
        tokio::select! {
            biased;
            _ = &mut shutting_down => break Some((CloseCode::Away, "the server is shutting down")),
            _ = &mut ready => {
                ready.set(outbox.ready());
                if outbox.kicked() {
                    break Some((CloseCode::Policy, "replaced by a newer connection, or too slow to read"));
                }
                if !conn.write_queued().await {
                    break None;
                }
            }
            _ = &mut join_timer, if !joined => {
                let e = ProtocolError::new(ErrorCode::NotJoined, "no join within the time allowed");
                conn.send_error(&e).await;
                break Some((CloseCode::Policy, "no join in time"));
            }
            frame = conn.ws.next() => match frame {
                Some(Ok(message)) => {
                    let received = Instant::now();
                    conn.last_heard = received;
                    match conn.handle(message, received).await {
                        Flow::Continue => {}
                        Flow::Close(code, reason) => break Some((code, reason)),
                    }
                }
                // Closed or broken (including frames over the hard size limit).
                Some(Err(_)) | None => break None,
            },
            _ = ping.tick() => {
                if conn.last_heard.elapsed() > limits.idle_timeout {
                    break Some((CloseCode::Away, "silent for too long"));
                }
                if !conn.write(Message::Ping(Default::default())).await {
                    break None;
                }
            }
        }
    };

    if let Some((code, reason)) = end {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(WRITE_TIMEOUT, conn.ws.send(close)).await;
    }
    let unwritten = outbox.close();
    if let Some(membership) = conn.membership.take()
        && !conn.left
    {
        hub.disconnect(&membership, unwritten);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Writes a message; false when the connection is gone or stopped reading.
    async fn write(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.ws.send(message)).await,
            Ok(Ok(()))
        )
    }

    /// Writes what the outbox holds, a flush for every batch.
    async fn write_queued(&mut self) -> bool {
        let mut sent = Vec::new();
        loop {
            let write = async {
                while sent.len() < WRITE_BATCH {
                    let Some(next) = self.outbox.pop() else { break };
                    sent.push(next.since);
                    self.ws.feed(Message::Text(next.text)).await?;
                }
                self.ws.flush().await
            };
            if !matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(()))) {
                return false;
            }
            let written = Instant::now();
            self.hub.metrics().relay_latencies(
                sent.drain(..)
                    .map(|since| written.saturating_duration_since(since)),
            );
            if self.outbox.is_empty() {
                return true;
            }
        }
    }

    async fn send_error(&mut self, e: &ProtocolError) {
        self.hub.metrics().reject(e.code);
        tracing::debug!(code = %e.code, "refused: {}", e.message);
        self.write(Message::Text(ServerMessage::error(e).encode().into()))
            .await;
    }

    /// `received`: when the frame was read, for the rate limit and the relay latency.
    async fn handle(&mut self, message: Message, received: Instant) -> Flow {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let e = ProtocolError::new(
                    ErrorCode::BadMessage,
                    "binary frames are not part of the protocol; send JSON text",
                );
                self.send_error(&e).await;
                return Flow::Continue;
            }
            Message::Close(_) => return Flow::Close(CloseCode::Normal, "bye"),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Flow::Continue,
        };
        let limits = self.hub.limits();
        if text.len() > limits.max_message_bytes {
            let e = ProtocolError::new(
                ErrorCode::TooLarge,
                format!(
                    "message of {} bytes; at most {}",
                    text.len(),
                    limits.max_message_bytes
                ),
            );
            self.send_error(&e).await;
            return Flow::Continue;
        }
        // Counted before parsing, so that a flood costs as little as possible.
        if !self.bucket.take(received) {
            self.hub.metrics().reject(ErrorCode::RateLimited);
            let notice_due = self
                .last_rate_notice
                .is_none_or(|t| received.duration_since(t) >= RATE_NOTICE_INTERVAL);
            if notice_due {
                self.last_rate_notice = Some(received);
                let e = ProtocolError::new(
                    ErrorCode::RateLimited,
                    "too many messages; this one and others were dropped",
                );
                self.write(Message::Text(ServerMessage::error(&e).encode().into()))
                    .await;
            }
            return Flow::Continue;
        }
        let result = match ClientMessage::decode(text.as_str()) {
            Ok(message) => self.dispatch(message, received).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(flow) => flow,
            Err(e) => {
                self.send_error(&e).await;
                if e.code.closes() {
                    Flow::Close(CloseCode::Policy, e.code.as_str())
                } else {
                    Flow::Continue
                }
            }
        }
    }

    async fn dispatch(
        &mut self,
        message: ClientMessage,
        received: Instant,
    ) -> Result<Flow, ProtocolError> {
        match message {
            ClientMessage::Join(join) => self.join(join).await,
            ClientMessage::Signal { to, data } => {
                let membership = self.joined()?;
                self.hub.signal(membership, to.as_str(), &data, received)?;
                Ok(Flow::Continue)
            }
            ClientMessage::Broadcast { data } => {
                let membership = self.joined()?;
                self.hub.broadcast(membership, &data, received);
                Ok(Flow::Continue)
            }
            ClientMessage::Leave => {
                let membership = self.joined()?;
                self.hub.leave(membership);
                self.left = true;
                Ok(Flow::Close(CloseCode::Normal, "left"))
            }
        }
    }

    fn joined(&self) -> Result<&Membership, ProtocolError> {
        self.membership
            .as_ref()
            .ok_or_else(|| ProtocolError::new(ErrorCode::NotJoined, "send a join first"))
    }

    async fn join(&mut self, join: Join) -> Result<Flow, ProtocolError> {
        if self.membership.is_some() {
            return Err(ProtocolError::new(
                ErrorCode::BadMessage,
                "already joined; one join per connection",
            ));
        }
        let resumed = join
            .resume
            .as_deref()
            .and_then(|secret| self.hub.resume(&join.room, secret, self.outbox.clone()));
        let admitted = match resumed {
            Some(admitted) => admitted,
            None => {
                self.check_token(&join)?;
                self.hub
                    .join(&join.room, &join.name, self.outbox.clone())
                    .await?
            }
        };
        let Admitted {
            membership,
            welcome,
            backlog,
        } = admitted;
        tracing::debug!(room = %join.room, peer = %membership.id, "joined");
        self.membership = Some(membership);
        if !self.write(Message::Text(welcome.into())).await {
            return Ok(Flow::Close(CloseCode::Away, "gone"));
        }
        for outgoing in backlog {
            self.hub
                .metrics()
                .messages_relayed_total
                .fetch_add(1, Relaxed);
            if !self.write(Message::Text(outgoing.text)).await {
                return Ok(Flow::Close(CloseCode::Away, "gone"));
            }
        }
        Ok(Flow::Continue)
    }

    fn check_token(&self, join: &Join) -> Result<(), ProtocolError> {
        let Access::Tokens(secret) = &self.access else {
            return Ok(());
        };
        let Some(token) = join.token.as_deref() else {
            return Err(ProtocolError::new(
                ErrorCode::BadToken,
                "this room needs an invite token",
            ));
        };
        secret.verify(&join.room, token, unix_now()).map_err(|e| {
            let message = match e {
                TokenError::Expired => "the invite has expired; ask for a new one",
                TokenError::Malformed | TokenError::Forged => {
                    "the invite token is not valid for this room"
                }
            };
            ProtocolError::new(ErrorCode::BadToken, message)
        })
    }
}
