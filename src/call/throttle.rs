//! A request that may be served at most once in a while: our keyframes (once a second) and the
//! PLIs we send each participant (twice a second). One that comes inside the wait is not lost:
//! it is served when the wait ends.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Throttled {
    every: Duration,
    wanted: bool,
    last: Option<Instant>,
}

impl Throttled {
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            wanted: false,
            last: None,
        }
    }

    /// It is wanted (again).
    pub fn want(&mut self) {
        self.wanted = true;
    }

    /// Whether it is to be served now: wanted, and the last one is old enough. Serving it
    /// starts the wait.
    pub fn take(&mut self, now: Instant) -> bool {
        let ready = self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= self.every);
        if self.wanted && ready {
            self.serve(now);
            return true;
        }
        false
    }

    /// Served now whatever the wait says (it starts the wait all the same).
    pub fn serve(&mut self, now: Instant) {
        self.wanted = false;
        self.last = Some(now);
    }

    /// When one that waits may be served.
    pub fn next(&self) -> Option<Instant> {
        self.wanted
            .then(|| self.last.map(|t| t + self.every))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_once_a_period_and_a_request_inside_the_wait_is_served_when_it_ends() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut t = Throttled::new(Duration::from_secs(1));
        assert!(!t.take(at(0)), "nothing wanted");
        t.want();
        assert!(t.take(at(0)));
        assert_eq!(t.next(), None);
        // Asked again and again inside the second: nothing until it ends, then one.
        for ms in (100..1000).step_by(100) {
            t.want();
            assert!(!t.take(at(ms)), "{ms}");
        }
        assert_eq!(t.next(), Some(at(1000)));
        assert!(t.take(at(1000)));
        assert!(!t.take(at(1500)));
        // Served regardless (someone new must have one): the wait starts from then.
        t.want();
        t.serve(at(1600));
        assert!(!t.take(at(2000)));
        t.want();
        assert!(!t.take(at(2500)));
        assert!(t.take(at(2600)));
    }
}
