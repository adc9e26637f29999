//! The monitor's shared state and its aggregator. Sessions push [`QueryEvent`]s into a bounded lock-free
//! queue and never wait: a full queue drops the event and counts it. Whoever needs the numbers — the
//! aggregator tick, the metrics endpoint, the control port, a test — calls [`Monitor::drain`] first, which folds
//! every queued event into the digests and per-type totals under one lock. No wake-up is sent per statement,
//! so timing costs the data path two clock reads and one queue push.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;

use super::digest::{DigestKey, DigestStats, Digests, Sample};
use super::event::QueryEvent;
use super::params;
use crate::classify::{Dialect, Kind, digest};
use crate::config;

/// Slow records kept in memory for the control port.
const RECENT_SLOW: usize = 1000;

/// Per-type slow thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    by_type: HashMap<String, Duration>,
    other: Duration,
}

impl Thresholds {
    /// From `[monitor] slow_threshold_ms`; a type not listed uses `other` (1 s when that is not listed either).
    pub fn from_config(cfg: &config::Monitor) -> Thresholds {
        let by_type: HashMap<String, Duration> =
            cfg.slow_threshold_ms.iter().map(|(k, v)| (k.clone(), Duration::from_millis(*v))).collect();
        let other = by_type.get("other").copied().unwrap_or(Duration::from_secs(1));
        Thresholds { by_type, other }
    }

    /// The threshold of `kind`.
    pub fn of(&self, kind: Kind) -> Duration {
        self.by_type.get(kind.as_str()).copied().unwrap_or(self.other)
    }

    /// Sets the threshold of one type (`other` changes the fallback too).
    pub fn set(&mut self, kind: &str, threshold: Duration) {
        if kind == "other" {
            self.other = threshold;
        }
        self.by_type.insert(kind.to_string(), threshold);
    }

    /// Every configured threshold, by type name.
    pub fn entries(&self) -> Vec<(String, Duration)> {
        let mut v: Vec<_> = self.by_type.iter().map(|(k, d)| (k.clone(), *d)).collect();
        v.sort();
        v
    }
}

/// A statement that crossed its type's threshold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlowQuery {
    /// When it finished.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Engine name (`postgres` / `mysql`).
    pub engine: &'static str,
    /// Digest fingerprint, 16 hex digits.
    pub digest: String,
    /// Statement type.
    pub kind: &'static str,
    /// The text as sent.
    pub sql: String,
    /// Bound parameters (from Bind / COM_STMT_EXECUTE).
    pub params: Vec<Option<String>>,
    /// Duration.
    pub duration: Duration,
    /// Threshold it crossed.
    pub threshold: Duration,
    /// Pool (`write` / `read` / `analytics`).
    pub pool: &'static str,
    /// Backend server name.
    pub backend: String,
    /// Backend address.
    pub backend_addr: String,
    /// Login user.
    pub user: String,
    /// Database.
    pub database: String,
    /// Rows returned or affected.
    pub rows: u64,
    /// Error code, when it failed.
    pub error: Option<String>,
    /// Tables referenced.
    pub tables: Vec<String>,
    /// MySQL said no (good) index was used.
    pub no_index_used: bool,
}

/// Totals for one engine and statement type since start (or the last reset).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TypeTotals {
    /// Executions.
    pub calls: u64,
    /// Over the threshold.
    pub slow: u64,
    /// Failed.
    pub errors: u64,
    /// Sum of durations, microseconds.
    pub total_us: u64,
}

/// Receives every folded event (the metrics registry) and every slow one (the slow-query pipeline).
pub trait Sink: Send + Sync {
    /// One statement, folded. `slow` says whether it crossed its threshold.
    fn observe(&self, event: &QueryEvent, slow: bool);
    /// A slow statement, already rendered.
    fn slow(&self, query: &SlowQuery);
}

struct State {
    digests: Digests,
    types: HashMap<(Dialect, Kind), TypeTotals>,
    /// (client, digest) -> (second, calls in that second), for N+1 detection; pruned each second.
    rates: HashMap<(u64, DigestKey), (u64, u32)>,
    rates_second: u64,
    recent_slow: VecDeque<SlowQuery>,
    epoch: Instant,
}

/// The query monitor: one per process, shared by both engines.
pub struct Monitor {
    enabled: AtomicBool,
    queue: ArrayQueue<QueryEvent>,
    dropped: AtomicU64,
    thresholds: arc_swap::ArcSwap<Thresholds>,
    n_plus_one_calls: AtomicU64,
    state: Mutex<State>,
    sinks: arc_swap::ArcSwap<Vec<Arc<dyn Sink>>>,
}

impl Monitor {
    /// A monitor configured by `cfg`.
    pub fn new(cfg: &config::Monitor) -> Arc<Monitor> {
        Arc::new(Monitor {
            enabled: AtomicBool::new(cfg.enabled),
            queue: ArrayQueue::new(cfg.event_queue.max(1)),
            dropped: AtomicU64::new(0),
            thresholds: arc_swap::ArcSwap::from_pointee(Thresholds::from_config(cfg)),
            n_plus_one_calls: AtomicU64::new(u64::from(cfg.n_plus_one_calls)),
            state: Mutex::new(State {
                digests: Digests::new(cfg.max_digests),
                types: HashMap::new(),
                rates: HashMap::new(),
                rates_second: 0,
                recent_slow: VecDeque::new(),
                epoch: Instant::now(),
            }),
            sinks: arc_swap::ArcSwap::from_pointee(Vec::new()),
        })
    }

    /// True when sessions should time statements.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Records a finished statement. Never waits: when the queue is full the event is dropped and counted.
    #[inline]
    pub fn record(&self, event: QueryEvent) {
        if self.queue.push(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds a receiver of folded events.
    pub fn add_sink(&self, sink: Arc<dyn Sink>) {
        let mut sinks = Vec::clone(&self.sinks.load());
        sinks.push(sink);
        self.sinks.store(Arc::new(sinks));
    }

    /// Applies a reloaded `[monitor]` section: on/off, thresholds, digest bound, N+1 rate. (The queue size
    /// needs a restart.)
    pub fn reload(&self, cfg: &config::Monitor) {
        self.enabled.store(cfg.enabled, Ordering::Relaxed);
        self.thresholds.store(Arc::new(Thresholds::from_config(cfg)));
        self.n_plus_one_calls.store(u64::from(cfg.n_plus_one_calls), Ordering::Relaxed);
        self.drain();
        self.state.lock().digests.resize(cfg.max_digests);
    }

    /// Turns monitoring on or off at runtime.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> Arc<Thresholds> {
        self.thresholds.load_full()
    }

    /// Changes one type's slow threshold at runtime; it applies to statements folded from now on.
    pub fn set_threshold(&self, kind: &str, threshold: Duration) {
        self.drain();
        let mut t = Thresholds::clone(&self.thresholds.load());
        t.set(kind, threshold);
        self.thresholds.store(Arc::new(t));
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Folds every queued event into the statistics. Returns how many were folded.
    pub fn drain(&self) -> usize {
        if self.queue.is_empty() {
            return 0;
        }
        let thresholds = self.thresholds.load();
        let sinks = self.sinks.load();
        let n_plus_one = u32::try_from(self.n_plus_one_calls.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        let mut st = self.state.lock();
        let mut folded = 0;
        while let Some(event) = self.queue.pop() {
            folded += 1;
            let threshold = thresholds.of(event.class.kind);
            let slow = event.total >= threshold;
            let slow_query = st.fold(&event, slow, threshold, n_plus_one);
            for sink in sinks.iter() {
                sink.observe(&event, slow);
                if let Some(q) = &slow_query {
                    sink.slow(q);
                }
            }
        }
        folded
    }

    /// Runs `f` over the digests (after draining).
    pub fn with_digests<R>(&self, f: impl FnOnce(&Digests) -> R) -> R {
        self.drain();
        f(&self.state.lock().digests)
    }

    /// Copies of every digest's statistics (after draining).
    pub fn digests(&self) -> Vec<DigestStats> {
        self.with_digests(|d| d.iter().cloned().collect())
    }

    /// The statistics of one digest (after draining).
    pub fn digest(&self, engine: Dialect, fingerprint: u64) -> Option<DigestStats> {
        self.with_digests(|d| d.peek(&(engine, fingerprint)).cloned())
    }

    /// (tracked, evicted) digests.
    pub fn digest_counts(&self) -> (usize, u64) {
        self.with_digests(|d| (d.len(), d.evicted))
    }

    /// Totals per (engine, type) (after draining).
    pub fn type_totals(&self) -> Vec<(Dialect, Kind, TypeTotals)> {
        self.drain();
        let st = self.state.lock();
        st.types.iter().map(|((e, k), t)| (*e, *k, *t)).collect()
    }

    /// The most recent slow statements, newest first (after draining).
    pub fn slow_queries(&self, limit: usize) -> Vec<SlowQuery> {
        self.drain();
        self.state.lock().recent_slow.iter().rev().take(limit).cloned().collect()
    }

    /// Forgets digests, totals and recent slow statements.
    pub fn reset(&self) {
        self.drain();
        let mut st = self.state.lock();
        st.digests.clear();
        st.types.clear();
        st.rates.clear();
        st.recent_slow.clear();
        self.dropped.store(0, Ordering::Relaxed);
    }
}

impl State {
    /// Folds one event; returns the slow record when it is slow.
    fn fold(&mut self, e: &QueryEvent, slow: bool, threshold: Duration, n_plus_one: u32) -> Option<SlowQuery> {
        let engine = e.session.engine;
        let key = (engine, e.class.fingerprint);
        let totals = self.types.entry((engine, e.class.kind)).or_default();
        totals.calls += 1;
        totals.slow += u64::from(slow);
        totals.errors += u64::from(e.error.is_some());
        totals.total_us = totals.total_us.saturating_add(u64::try_from(e.total.as_micros()).unwrap_or(u64::MAX));

        let second = e.started.saturating_duration_since(self.epoch).as_secs();
        if second != self.rates_second {
            self.rates.clear();
            self.rates_second = second;
        }
        let rate = self.rates.entry((e.session.client_id, key)).or_insert((second, 0));
        rate.1 += 1;
        let client_rate = rate.1;

        let stats = self.digests.entry(key, || {
            DigestStats::new(
                engine,
                e.class.fingerprint,
                e.class.kind,
                digest::normalize_for(engine, &e.text.to_string_lossy()),
                e.class.tables.clone(),
            )
        });
        if client_rate >= n_plus_one {
            if stats.peak_client_rate < n_plus_one {
                // First time this digest crosses the N+1 rate: say so once on the slow-query channel.
                let advice = super::advice::n_plus_one(&stats.normalized, f64::from(client_rate), &stats.tables);
                tracing::warn!(
                    target: "slow_queries",
                    digest = %format!("{:016x}", e.class.fingerprint),
                    client = e.session.client_id,
                    calls_per_second = client_rate,
                    "{}",
                    advice.message
                );
            }
            stats.peak_client_rate = stats.peak_client_rate.max(client_rate);
        }
        let worst = stats.record(e.total, e.rows, e.error.is_some(), slow);
        let rendered = (worst || slow).then(|| (e.text.to_string_lossy(), params::render(&e.params)));
        if worst && let Some((sql, params)) = &rendered {
            stats.worst = Some(Sample {
                sql: sql.clone(),
                params: params.clone(),
                micros: u64::try_from(e.total.as_micros()).unwrap_or(u64::MAX),
                at: chrono::Utc::now(),
                user: e.session.user.clone(),
                database: e.session.database().to_string(),
            });
        }
        if !slow {
            return None;
        }
        let (sql, params) = rendered.expect("rendered when slow");
        let q = SlowQuery {
            at: chrono::Utc::now(),
            engine: engine_name(engine),
            digest: format!("{:016x}", e.class.fingerprint),
            kind: e.class.kind.as_str(),
            sql,
            params,
            duration: e.total,
            threshold,
            pool: e.server.role.as_str(),
            backend: e.server.name.clone(),
            backend_addr: e.server.addr.clone(),
            user: e.session.user.clone(),
            database: e.session.database().to_string(),
            rows: e.rows,
            error: e.error.as_deref().map(str::to_string),
            tables: e.class.tables.clone(),
            no_index_used: e.no_index_used,
        };
        if self.recent_slow.len() == RECENT_SLOW {
            self.recent_slow.pop_front();
        }
        self.recent_slow.push_back(q.clone());
        Some(q)
    }
}

/// `postgres` / `mysql`.
pub fn engine_name(engine: Dialect) -> &'static str {
    match engine {
        Dialect::Postgres => "postgres",
        Dialect::MySql => "mysql",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::classify::classify_uncached;
    use crate::config::{Role, ServerConfig};
    use crate::monitor::event::{Params, SessionInfo, Text};
    use crate::pool::topology::Server;

    fn event(client: u64, sql: &'static str, ms: u64) -> QueryEvent {
        let server = ServerConfig { name: "primary".into(), addr: "127.0.0.1:1".into(), weight: 1 };
        QueryEvent {
            session: Arc::new(SessionInfo::new(client, "app", "db", Dialect::Postgres)),
            class: Arc::new(classify_uncached(Dialect::Postgres, sql)),
            text: Text::Frame { bytes: Bytes::from_static(sql.as_bytes()), start: 0, end: sql.len() },
            params: Params::None,
            server: Arc::new(Server::new(&server, Role::Write)),
            started: Instant::now(),
            total: Duration::from_millis(ms),
            backend: Duration::from_millis(ms),
            rows: 1,
            error: None,
            no_index_used: false,
        }
    }

    fn monitor(queue: usize) -> Arc<Monitor> {
        Monitor::new(&config::Monitor { event_queue: queue, n_plus_one_calls: 5, ..config::Monitor::default() })
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let m = monitor(4);
        for _ in 0..10 {
            m.record(event(1, "SELECT 1", 1));
        }
        assert_eq!(m.dropped(), 6);
        assert_eq!(m.drain(), 4);
        assert_eq!(m.digests()[0].calls, 4);
    }

    #[test]
    fn slow_is_per_type_and_thresholds_change_at_runtime() {
        let m = monitor(100);
        m.record(event(1, "SELECT * FROM t WHERE id = 1", 999));
        m.record(event(1, "SELECT * FROM t WHERE id = 2", 1000));
        m.record(event(1, "DELETE FROM t WHERE id = 3", 600));
        m.record(event(1, "CREATE TABLE x (a int)", 999));
        let slow: Vec<_> = m.slow_queries(10).into_iter().map(|q| (q.kind, q.sql)).collect();
        assert_eq!(
            slow,
            vec![
                ("delete", "DELETE FROM t WHERE id = 3".to_string()),
                ("select", "SELECT * FROM t WHERE id = 2".into())
            ]
        );
        m.set_threshold("ddl", Duration::from_millis(10));
        m.record(event(1, "CREATE TABLE y (a int)", 11));
        assert_eq!(m.slow_queries(1)[0].kind, "ddl");
        let totals = m.type_totals();
        let select = totals.iter().find(|(_, k, _)| *k == Kind::Select).unwrap().2;
        assert_eq!((select.calls, select.slow, select.total_us), (2, 1, 1_999_000));
    }

    #[test]
    fn one_client_repeating_a_digest_is_flagged_as_n_plus_one() {
        let m = monitor(100);
        for id in 0..4 {
            m.record(event(
                1,
                if id % 2 == 0 { "SELECT * FROM a WHERE id = 1" } else { "SELECT * FROM a WHERE id = 2" },
                1,
            ));
        }
        m.record(event(2, "SELECT * FROM a WHERE id = 9", 1));
        assert_eq!(m.digests()[0].peak_client_rate, 0, "4 calls from one client and 1 from another stay under 5");
        m.record(event(1, "SELECT * FROM a WHERE id = 7", 1));
        let d = &m.digests()[0];
        assert_eq!((d.calls, d.peak_client_rate), (6, 5));
    }

    #[test]
    fn reset_forgets_everything() {
        let m = monitor(100);
        m.record(event(1, "SELECT 1", 2000));
        m.reset();
        assert!(m.digests().is_empty() && m.slow_queries(10).is_empty() && m.type_totals().is_empty());
    }
}
