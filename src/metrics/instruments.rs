//! The three kinds of figure a scrape reports: counters, gauges and histograms, each a few
//! atomics, so recording one on a request path costs an uncontended atomic add.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A count that only goes up (Prometheus `counter`).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down (Prometheus `gauge`).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds: from 100 µs (an fsync on a fast SSD, a
/// Metadata request) to 10 s (a stalled disk), about three buckets per decade.
pub const LATENCY_BOUNDS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const LATENCY_BOUNDS_NANOS: [u64; 16] = {
    let mut nanos = [0u64; 16];
    let mut i = 0;
    while i < nanos.len() {
        nanos[i] = (LATENCY_BOUNDS_SECONDS[i] * 1e9) as u64;
        i += 1;
    }
    nanos
};

/// A latency distribution over [`LATENCY_BOUNDS_SECONDS`] (Prometheus `histogram`). Each
/// observation lands in one bucket; the cumulative counts Prometheus expects are summed when
/// a scrape reads them, so recording stays one add to a bucket and one to the sum.
#[derive(Debug, Default)]
pub struct Histogram {
    /// One slot per bound, then the slot above the last bound.
    buckets: [AtomicU64; LATENCY_BOUNDS_NANOS.len() + 1],
    sum_nanos: AtomicU64,
}

/// What a scrape reads from a [`Histogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Observations at or below each bound of [`LATENCY_BOUNDS_SECONDS`], cumulative.
    pub cumulative: Vec<u64>,
    /// Every observation (the `+Inf` bucket and `_count`).
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = LATENCY_BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(LATENCY_BOUNDS_NANOS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The count is the buckets' total, so `+Inf` and `_count` always agree even while
    /// observations land during the read.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let mut cumulative = Vec::with_capacity(LATENCY_BOUNDS_NANOS.len());
        for bucket in &self.buckets[..LATENCY_BOUNDS_NANOS.len()] {
            running += bucket.load(Relaxed);
            cumulative.push(running);
        }
        let count = running + self.buckets[LATENCY_BOUNDS_NANOS.len()].load(Relaxed);
        HistogramSnapshot {
            cumulative,
            count,
            sum_seconds: self.sum_nanos.load(Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_bounds_inclusive() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative[0], 1, "100 µs is within the 0.0001 bucket");
        assert_eq!(s.cumulative[4], 1, "3 ms is above 2.5 ms");
        assert_eq!(s.cumulative[5], 2, "3 ms is within 5 ms");
        assert_eq!(*s.cumulative.last().unwrap(), 2, "60 s is only in +Inf");
        assert!((s.sum_seconds - 60.0031).abs() < 1e-9);
    }

    #[test]
    fn counters_and_gauges() {
        let c = Counter::default();
        c.inc();
        c.add(41);
        assert_eq!(c.get(), 42);
        let g = Gauge::default();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1);
    }
}
