//! What one connection has yet to write: filled by the hub (any thread), drained by the
//! connection's task. Holds no allocation while empty, so that a held, quiet connection costs
//! next to nothing; a receiver that falls too far behind is kicked rather than waited for.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A message on its way to one connection, stamped with its arrival for the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub text: Utf8Bytes,
    pub since: Instant,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The receiver is too far behind: it has been kicked, and the message dropped.
    Full,
    /// The connection has ended; the message is handed back.
    Closed(Outgoing),
}

#[derive(Debug, Default)]
struct State {
    messages: VecDeque<Outgoing>,
    kicked: bool,
    closed: bool,
}

#[derive(Debug, Default)]
pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the connection: messages to write, or a kick.
    ready: Notify,
}

/// Once drained, a queue that grew in a burst gives its memory back.
const KEEP_CAPACITY: usize = 8;

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, outgoing: Outgoing, limit: usize) -> Pushed {
        let mut state = self.lock();
        if state.closed {
            return Pushed::Closed(outgoing);
        }
        if state.messages.len() >= limit {
            state.kicked = true;
            drop(state);
            self.ready.notify_one();
            return Pushed::Full;
        }
        state.messages.push_back(outgoing);
        drop(state);
        self.ready.notify_one();
        Pushed::Queued
    }

    /// Asks the connection to close (replaced by a resumed one).
    pub fn kick(&self) {
        self.lock().kicked = true;
        self.ready.notify_one();
    }

    /// Waits until there is something to do.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    pub fn kicked(&self) -> bool {
        self.lock().kicked
    }

    pub fn is_empty(&self) -> bool {
        self.lock().messages.is_empty()
    }

    /// The next message to write.
    pub fn pop(&self) -> Option<Outgoing> {
        let mut state = self.lock();
        let next = state.messages.pop_front();
        if state.messages.is_empty() && state.messages.capacity() > KEEP_CAPACITY {
            state.messages.shrink_to(KEEP_CAPACITY);
        }
        next
    }

    /// The connection ends: later pushes are handed back, and what was not written yet is
    /// returned to be kept for a resume.
    pub fn close(&self) -> VecDeque<Outgoing> {
        let mut state = self.lock();
        state.closed = true;
        std::mem::take(&mut state.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Outgoing {
        Outgoing {
            text: text.to_string().into(),
            since: Instant::now(),
        }
    }

    #[test]
    fn messages_come_out_in_order_until_the_limit() {
        let outbox = Outbox::default();
        assert_eq!(outbox.push(msg("a"), 2), Pushed::Queued);
        assert_eq!(outbox.push(msg("b"), 2), Pushed::Queued);
        assert_eq!(outbox.push(msg("c"), 2), Pushed::Full);
        assert!(outbox.kicked());
        assert_eq!(outbox.pop().unwrap().text.as_str(), "a");
        assert_eq!(outbox.pop().unwrap().text.as_str(), "b");
        assert!(outbox.pop().is_none());
    }

    #[test]
    fn a_closed_outbox_hands_messages_back() {
        let outbox = Outbox::default();
        outbox.push(msg("unwritten"), 8);
        let left = outbox.close();
        assert_eq!(left.len(), 1);
        assert!(
            matches!(outbox.push(msg("late"), 8), Pushed::Closed(m) if m.text.as_str() == "late")
        );
    }

    #[test]
    fn a_drained_queue_gives_back_what_a_burst_took() {
        let outbox = Outbox::default();
        for _ in 0..1000 {
            outbox.push(msg("x"), 2000);
        }
        while outbox.pop().is_some() {}
        assert!(outbox.lock().messages.capacity() <= KEEP_CAPACITY);
    }
}
