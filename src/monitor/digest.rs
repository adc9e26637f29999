//! Per-digest statistics: counts, totals and an HDR histogram of latencies for every statement shape, in a
//! bounded map that evicts the least recently seen shape (and counts it).

use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use lru::LruCache;
use serde::Serialize;

use crate::classify::{Dialect, Kind};

/// Histogram precision: two significant digits (1% relative error), in microseconds.
const SIGFIG: u8 = 2;

/// The key of a digest: the engine and the fingerprint of the normalised text.
pub type DigestKey = (Dialect, u64);

/// The statement that took longest for one digest, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// The text as sent.
    pub sql: String,
    /// Its parameters, rendered.
    pub params: Vec<Option<String>>,
    /// How long it took.
    pub micros: u64,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The login user that ran it (for EXPLAIN on demand).
    pub user: String,
    /// The database it ran in (for EXPLAIN on demand).
    pub database: String,
}

/// Statistics for one digest.
#[derive(Debug, Clone)]
pub struct DigestStats {
    /// Engine.
    pub engine: Dialect,
    /// Fingerprint of the normalised text.
    pub fingerprint: u64,
    /// Statement kind.
    pub kind: Kind,
    /// Normalised text.
    pub normalized: String,
    /// Tables referenced.
    pub tables: Vec<String>,
    /// Executions.
    pub calls: u64,
    /// Executions that failed.
    pub errors: u64,
    /// Rows returned or affected, all executions together.
    pub rows: u64,
    /// Executions over the slow threshold of their kind.
    pub slow: u64,
    /// Sum of durations, microseconds.
    pub total_us: u64,
    /// Sum of squared durations, for the standard deviation (microseconds²).
    sum_sq: f64,
    /// Shortest execution, microseconds.
    pub min_us: u64,
    /// Longest execution, microseconds.
    pub max_us: u64,
    /// First seen.
    pub first_seen: SystemTime,
    /// Last seen.
    pub last_seen: SystemTime,
    /// The slowest execution.
    pub worst: Option<Sample>,
    /// Highest rate one client ran this digest at within one second (an N+1 signal).
    pub peak_client_rate: u32,
    histogram: Histogram<u32>,
}

impl DigestStats {
    /// Empty statistics for a new digest.
    pub fn new(engine: Dialect, fingerprint: u64, kind: Kind, normalized: String, tables: Vec<String>) -> Self {
        let now = SystemTime::now();
        DigestStats {
            engine,
            fingerprint,
            kind,
            normalized,
            tables,
            calls: 0,
            errors: 0,
            rows: 0,
            slow: 0,
            total_us: 0,
            sum_sq: 0.0,
            min_us: u64::MAX,
            max_us: 0,
            first_seen: now,
            last_seen: now,
            worst: None,
            peak_client_rate: 0,
            // Auto-resizing: the histogram grows only as far as the largest value recorded.
            histogram: Histogram::new(SIGFIG).expect("2 significant digits is valid"),
        }
    }

    /// Records one execution. Returns true when it is the slowest so far (the caller may then set `worst`).
    pub fn record(&mut self, duration: Duration, rows: u64, error: bool, slow: bool) -> bool {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1);
        self.calls += 1;
        self.errors += u64::from(error);
        self.slow += u64::from(slow);
        self.rows = self.rows.saturating_add(rows);
        self.total_us = self.total_us.saturating_add(us);
        self.sum_sq += (us as f64) * (us as f64);
        self.min_us = self.min_us.min(us);
        self.last_seen = SystemTime::now();
        // `record` grows the auto-resizing histogram; `saturating_record` would clamp to its current range.
        if self.histogram.record(us).is_err() {
            self.histogram.saturating_record(us);
        }
        if us > self.max_us {
            self.max_us = us;
            return true;
        }
        false
    }

    /// Mean duration in microseconds (0 before the first call).
    pub fn mean_us(&self) -> f64 {
        if self.calls == 0 { 0.0 } else { self.total_us as f64 / self.calls as f64 }
    }

    /// Population standard deviation of the duration, microseconds.
    pub fn stddev_us(&self) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        let mean = self.mean_us();
        (self.sum_sq / self.calls as f64 - mean * mean).max(0.0).sqrt()
    }

    /// The duration at `quantile` (0.0..=1.0), microseconds, within the histogram's 1% precision.
    pub fn percentile_us(&self, quantile: f64) -> u64 {
        if self.calls == 0 { 0 } else { self.histogram.value_at_quantile(quantile) }
    }

    /// Lowest duration recorded (0 before the first call).
    pub fn min(&self) -> u64 {
        if self.calls == 0 { 0 } else { self.min_us }
    }

    /// Bytes the histogram holds (its counts array), to keep memory visible.
    pub fn histogram_bytes(&self) -> usize {
        self.histogram.distinct_values() * std::mem::size_of::<u32>()
    }
}

/// The bounded set of digests.
pub struct Digests {
    map: LruCache<DigestKey, DigestStats>,
    /// Digests evicted to stay within the bound, since start (or the last reset).
    pub evicted: u64,
}

impl Digests {
    /// An empty set holding at most `max` digests.
    pub fn new(max: usize) -> Digests {
        Digests { map: LruCache::new(NonZeroUsize::new(max.max(1)).expect("at least 1")), evicted: 0 }
    }

    /// The statistics of `key`, created with `make` when new (evicting the least recently seen if full).
    pub fn entry(&mut self, key: DigestKey, make: impl FnOnce() -> DigestStats) -> &mut DigestStats {
        if !self.map.contains(&key) && self.map.len() == self.map.cap().get() {
            self.map.pop_lru();
            self.evicted += 1;
        }
        self.map.get_or_insert_mut(key, make)
    }

    /// The statistics of `key`, if tracked (does not refresh its recency).
    pub fn peek(&self, key: &DigestKey) -> Option<&DigestStats> {
        self.map.peek(key)
    }

    /// Number tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when none are tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every digest, most recently seen first.
    pub fn iter(&self) -> impl Iterator<Item = &DigestStats> {
        self.map.iter().map(|(_, v)| v)
    }

    /// Changes the bound; shrinking evicts (and counts) the least recently seen.
    pub fn resize(&mut self, max: usize) {
        let cap = NonZeroUsize::new(max.max(1)).expect("at least 1");
        while self.map.len() > cap.get() {
            self.map.pop_lru();
            self.evicted += 1;
        }
        self.map.resize(cap);
    }

    /// Forgets everything (the evicted count too).
    pub fn clear(&mut self) {
        self.map.clear();
        self.evicted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> DigestStats {
        DigestStats::new(Dialect::Postgres, 1, Kind::Select, "select ?".into(), vec![])
    }

    #[test]
    fn percentiles_are_within_histogram_precision() {
        let mut s = stats();
        // 1..=1000 ms: p50 = 500 ms, p95 = 950 ms, p99 = 990 ms.
        for ms in 1..=1000u64 {
            s.record(Duration::from_millis(ms), 1, false, ms > 900);
        }
        assert_eq!((s.calls, s.rows, s.slow, s.errors), (1000, 1000, 100, 0));
        for (q, want_ms) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = s.percentile_us(q) as f64 / 1000.0;
            assert!((got - want_ms).abs() / want_ms < 0.01, "p{q}: {got} ms, want {want_ms}");
        }
        assert_eq!((s.min(), s.max_us), (1000, 1_000_000));
        assert!((s.mean_us() - 500_500.0).abs() < 1.0);
        let sd = s.stddev_us();
        assert!((sd - 288_675.0).abs() < 100.0, "stddev {sd}");
    }

    #[test]
    fn the_set_is_bounded_and_counts_evictions() {
        let mut d = Digests::new(100);
        for fp in 0..1000u64 {
            d.entry((Dialect::MySql, fp), stats).record(Duration::from_millis(1), 0, false, false);
        }
        assert_eq!((d.len(), d.evicted), (100, 900));
        // The most recent ones are kept.
        assert!(d.peek(&(Dialect::MySql, 999)).is_some());
        assert!(d.peek(&(Dialect::MySql, 0)).is_none());
        d.resize(10);
        assert_eq!((d.len(), d.evicted), (10, 990));
    }

    #[test]
    fn a_histogram_stays_small_for_ordinary_latencies() {
        let mut s = stats();
        for us in [50u64, 200, 1_000, 20_000, 2_000_000] {
            s.record(Duration::from_micros(us), 0, false, false);
        }
        assert!(s.histogram_bytes() < 16 * 1024, "{} bytes", s.histogram_bytes());
    }
}
