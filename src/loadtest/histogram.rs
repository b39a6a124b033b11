//! Latency histogram with buckets 1 % apart: small enough to pass between processes as JSON,
//! fine enough for p50/p99 to within 1 % (coarser buckets made two servers look tied).

use serde::{Deserialize, Serialize};

const GROWTH: f64 = 1.01;
const BUCKETS: usize = 2500; // 1 µs .. about 17 hours

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
        }
    }
}

impl Histogram {
    fn bucket(micros: u64) -> usize {
        if micros <= 1 {
            return 0;
        }
        ((micros as f64).ln() / GROWTH.ln())
            .ceil()
            .min((BUCKETS - 1) as f64) as usize
    }

    fn upper_bound(bucket: usize) -> f64 {
        GROWTH.powi(bucket as i32)
    }

    pub fn record(&mut self, micros: u64) {
        self.counts[Self::bucket(micros)] += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value below which `quantile` of the samples lie, in microseconds (None if empty).
    pub fn quantile(&self, quantile: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (quantile * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::upper_bound(bucket));
            }
        }
        Some(Self::upper_bound(BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut h = Histogram::default();
        for us in 1..=1000 {
            h.record(us);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((500.0..=505.0).contains(&p50), "{p50}");
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        let mut other = Histogram::default();
        other.record(1_000_000);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert!(h.quantile(1.0).unwrap() >= 1_000_000.0);
        assert!(Histogram::default().quantile(0.5).is_none());
    }
}
