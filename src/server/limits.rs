//! What one server admits: every limit is configurable and has a default safe for the internet.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest text frame (a big SDP offer is about 10 KiB).
    pub max_message_bytes: usize,
    /// Sustained messages a second per connection (token bucket rate).
    pub messages_per_second: f64,
    /// Messages a connection may send at once: a newcomer's offers and trickled candidates to
    /// five peers come in one burst.
    pub message_burst: f64,
    pub max_peers_per_room: usize,
    /// Participants a room's mesh takes; past it the media moves to the SFU, when the server
    /// has one (`--janus`).
    pub mesh_limit: usize,
    pub max_rooms: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// A connection that has not joined by then is closed (this also bounds a slow HTTP request).
    pub join_timeout: Duration,
    /// A connection silent this long (not even answering pings) is gone.
    pub idle_timeout: Duration,
    /// How long a dropped participant keeps its place for `resume` before others see it leave.
    pub resume_grace: Duration,
    /// Messages kept for a dropped participant until it resumes.
    pub backlog_messages: usize,
    /// Messages queued for a connected participant before it counts as too slow and is dropped.
    pub outbox_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            messages_per_second: 50.0,
            message_burst: 200.0,
            max_peers_per_room: 100,
            mesh_limit: 6,
            max_rooms: 50_000,
            max_connections: 100_000,
            max_connections_per_ip: 256,
            join_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            resume_grace: Duration::from_secs(20),
            backlog_messages: 256,
            outbox_messages: 256,
        }
    }
}

impl Limits {
    /// Pings go out at a third of the idle timeout, so two may be lost before a peer is dropped.
    pub fn ping_interval(&self) -> Duration {
        (self.idle_timeout / 3).max(Duration::from_millis(100))
    }
}
