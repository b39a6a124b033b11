//! Server metrics in Prometheus' text format, kept in atomics so that counting costs no lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::signal::proto::ErrorCode;

/// Upper bounds of the relay latency histogram, in microseconds.
const LATENCY_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub rooms: AtomicU64,
    pub joins_total: AtomicU64,
    pub resumes_total: AtomicU64,
    pub messages_relayed_total: AtomicU64,
    rejections: [AtomicU64; ErrorCode::ALL.len()],
    /// Connections refused before the WebSocket handshake, by reason.
    pub refused_per_ip: AtomicU64,
    pub refused_full: AtomicU64,
    /// Slow receivers dropped because their queue filled.
    pub slow_consumers_dropped: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    pub fn reject(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.rejections[i].fetch_add(1, Relaxed);
        }
    }

    pub fn rejections(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.rejections[i].load(Relaxed))
    }

    /// Records, for a batch of messages written together, the time from each one's arrival to
    /// its delivery to the receiver's socket. Counted locally first: these atomics are shared by
    /// every connection, and touching them once a batch rather than once a message keeps the
    /// cores from fighting over their cache lines under load.
    pub fn relay_latencies(&self, latencies: impl IntoIterator<Item = Duration>) {
        let mut buckets = [0u64; LATENCY_BUCKETS_US.len()];
        let (mut count, mut sum_us) = (0u64, 0u64);
        for latency in latencies {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            if let Some(i) = LATENCY_BUCKETS_US.iter().position(|b| us <= *b) {
                buckets[i] += 1;
            }
            count += 1;
            sum_us = sum_us.saturating_add(us);
        }
        if count == 0 {
            return;
        }
        for (shared, local) in self.latency_buckets.iter().zip(buckets) {
            if local > 0 {
                shared.fetch_add(local, Relaxed);
            }
        }
        self.latency_count.fetch_add(count, Relaxed);
        self.latency_sum_us.fetch_add(sum_us, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "confer_connections",
            "Open signaling connections.",
            "gauge",
            self.connections.load(Relaxed),
        );
        metric(
            "confer_connections_total",
            "Signaling connections accepted.",
            "counter",
            self.connections_total.load(Relaxed),
        );
        metric(
            "confer_rooms",
            "Rooms with participants.",
            "gauge",
            self.rooms.load(Relaxed),
        );
        metric(
            "confer_joins_total",
            "Participants admitted to a room.",
            "counter",
            self.joins_total.load(Relaxed),
        );
        metric(
            "confer_resumes_total",
            "Participants who came back with their resume secret.",
            "counter",
            self.resumes_total.load(Relaxed),
        );
        metric(
            "confer_messages_relayed_total",
            "Messages delivered to a participant (signal, broadcast, membership).",
            "counter",
            self.messages_relayed_total.load(Relaxed),
        );
        metric(
            "confer_slow_consumers_dropped_total",
            "Connections closed because they did not read their messages.",
            "counter",
            self.slow_consumers_dropped.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP confer_rejections_total Messages or connections refused, by reason.\n\
             # TYPE confer_rejections_total counter"
        );
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "confer_rejections_total{{reason=\"{code}\"}} {}",
                self.rejections(code)
            );
        }
        let _ = writeln!(
            out,
            "confer_rejections_total{{reason=\"connections-per-ip\"}} {}\n\
             confer_rejections_total{{reason=\"server-full\"}} {}",
            self.refused_per_ip.load(Relaxed),
            self.refused_full.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP confer_relay_latency_seconds From a message's arrival to its delivery.\n\
             # TYPE confer_relay_latency_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS_US.iter().zip(&self.latency_buckets) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(
                out,
                "confer_relay_latency_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let total = self.latency_count.load(Relaxed);
        let _ = writeln!(
            out,
            "confer_relay_latency_seconds_bucket{{le=\"+Inf\"}} {total}\n\
             confer_relay_latency_seconds_sum {}\n\
             confer_relay_latency_seconds_count {total}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_everything() {
        let m = Metrics::default();
        m.relay_latencies([Duration::from_micros(40), Duration::from_micros(700)]);
        m.relay_latencies([Duration::from_secs(3)]);
        m.relay_latencies([]);
        let text = m.render();
        assert!(
            text.contains("confer_relay_latency_seconds_bucket{le=\"0.00005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("confer_relay_latency_seconds_bucket{le=\"0.001\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("confer_relay_latency_seconds_bucket{le=\"0.25\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("confer_relay_latency_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("confer_relay_latency_seconds_count 3\n"),
            "{text}"
        );
    }

    #[test]
    fn rejections_are_counted_by_reason() {
        let m = Metrics::default();
        m.reject(ErrorCode::BadToken);
        m.reject(ErrorCode::BadToken);
        m.reject(ErrorCode::TooLarge);
        let text = m.render();
        assert!(
            text.contains("confer_rejections_total{reason=\"bad-token\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("confer_rejections_total{reason=\"too-large\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("confer_rejections_total{reason=\"room-full\"} 0\n"),
            "{text}"
        );
    }
}
