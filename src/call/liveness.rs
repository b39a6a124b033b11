//! When to give a quiet peer a new path (ICE restart) and when to give up on it. A working
//! path carries something many times a second (audio every 20 ms, RTCP, ICE consent checks),
//! so seconds of silence mean the path died; str0m's own ICE state says so only after 15 to
//! 25 s.

use std::time::{Duration, Instant};

/// A connection that has not come up this long after it was made is given up.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(30);
/// Silence after which the side that offered restarts ICE, and how often it tries again.
pub const RESTART_AFTER: Duration = Duration::from_secs(3);
pub const RESTART_EVERY: Duration = Duration::from_secs(5);
/// Silence after which the peer is reported and dropped.
pub const DROP_AFTER: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Fine,
    /// Offer an ICE restart now.
    RestartIce,
    /// Unreachable: report it and drop the connection.
    Drop,
}

/// What is known of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    created: Instant,
    /// Whether this side offered (and so restarts: one side only, or the offers would cross).
    offerer: bool,
    last_restart: Option<Instant>,
}

impl Liveness {
    pub fn new(now: Instant, offerer: bool) -> Self {
        Self {
            created: now,
            offerer,
            last_restart: None,
        }
    }

    /// Given whether ICE and DTLS ever came up and when the peer was last heard.
    pub fn check(&mut self, now: Instant, connected: bool, last_heard: Option<Instant>) -> Verdict {
        let since = last_heard.unwrap_or(self.created).max(self.created);
        let silent = now.saturating_duration_since(since);
        if !connected {
            return if now - self.created > CONNECT_LIMIT {
                Verdict::Drop
            } else {
                Verdict::Fine
            };
        }
        if silent > DROP_AFTER {
            return Verdict::Drop;
        }
        let due = self.last_restart.is_none_or(|t| now - t >= RESTART_EVERY);
        if self.offerer && silent > RESTART_AFTER && due {
            self.last_restart = Some(now);
            return Verdict::RestartIce;
        }
        Verdict::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every 100 ms for 40 s a connection heard from until `heard_until`.
    fn run(offerer: bool, connected: bool, heard_until: Duration) -> Vec<(u64, Verdict)> {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, offerer);
        let mut verdicts = Vec::new();
        for ms in (0..40_000u64).step_by(100) {
            let elapsed = Duration::from_millis(ms);
            let last_heard = connected.then(|| start + heard_until.min(elapsed));
            let verdict = liveness.check(start + elapsed, connected, last_heard);
            if verdict != Verdict::Fine {
                verdicts.push((ms, verdict));
                if verdict == Verdict::Drop {
                    break;
                }
            }
        }
        verdicts
    }

    #[test]
    fn a_quiet_path_is_restarted_by_the_offerer_then_dropped() {
        let verdicts = run(true, true, Duration::from_secs(5));
        // Silent from 5 s: restarts at 8.1, 13.1, 18.1, 23.1 s, dropped after 25 s.
        let restarts: Vec<u64> = verdicts
            .iter()
            .filter(|(_, v)| *v == Verdict::RestartIce)
            .map(|(ms, _)| *ms)
            .collect();
        assert_eq!(restarts, vec![8_100, 13_100, 18_100, 23_100]);
        assert_eq!(verdicts.last(), Some(&(25_100, Verdict::Drop)));
    }

    #[test]
    fn the_answerer_only_drops() {
        let verdicts = run(false, true, Duration::from_secs(5));
        assert_eq!(verdicts, vec![(25_100, Verdict::Drop)]);
    }

    #[test]
    fn a_connection_that_never_comes_up_is_dropped_after_the_connect_limit() {
        let verdicts = run(true, false, Duration::ZERO);
        assert_eq!(verdicts, vec![(30_100, Verdict::Drop)]);
    }

    #[test]
    fn a_live_path_is_left_alone() {
        assert!(run(true, true, Duration::from_secs(60)).is_empty());
    }
}
