//! Prometheus metrics: one [`Metrics`] owning its own `prometheus::Registry` (never the global one), fed with
//! query outcomes by the monitor's aggregator ([`Metrics::observe_query`]) and rendered in text format 0.0.4
//! together with live state the caller samples at scrape time ([`Sample`], see [`sample`]). [`http`] serves
//! it with `/healthz` and `/readyz`.
//!
//! Naming (STYLE.md): one prefix `switchyard_`, base units (`_seconds`), counters end in `_total`, label values
//! from closed sets (engine, pool role, statement type, server name), never per-digest labels.
//!
//! Deliberately not here: collecting the live state (the server fills a [`Sample`]), per-digest statistics
//! (the monitor keeps those), and anything on the data path: sessions never call into this module.

pub mod http;
pub mod sample;

#[cfg(test)]
mod tests;

use std::hash::{Hash, Hasher};

use parking_lot::RwLock;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use rustc_hash::{FxHashMap, FxHasher};

pub use sample::{ClientSample, PoolSample, Sample, ServerSample};

/// Upper bounds of the query duration histogram, in seconds: 100 µs to 30 s, roughly 1-2.5-5 per decade.
pub const DURATION_BUCKETS: [f64; 17] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Errors building the metric families or rendering them.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The prometheus crate refused a metric definition or failed to encode.
    #[error("prometheus: {0}")]
    Prometheus(#[from] prometheus::Error),
}

/// One finished statement, as the aggregator reports it. The strings are label values and must come from
/// closed sets (engine name, pool role, statement type), never from SQL text or digests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryObservation<'a> {
    /// `postgres` or `mysql` (label `engine`).
    pub engine: &'a str,
    /// The pool role that served it: `write`, `read` or `analytics` (label `pool`).
    pub pool: &'a str,
    /// The statement type, `classify::Kind::as_str()` (label `type`).
    pub kind: &'a str,
    /// The statement succeeded (label `outcome`: `ok` or `error`).
    pub ok: bool,
    /// Duration from first byte received to last reply byte sent, in seconds.
    pub seconds: f64,
    /// It crossed its type's slow threshold.
    pub slow: bool,
}

/// The metric children of one (engine, pool, type) triple, resolved once so that an observation costs a hash
/// lookup and three atomic updates instead of three `with_label_values` calls.
#[derive(Clone)]
struct QueryHandles {
    ok: IntCounter,
    error: IntCounter,
    duration: Histogram,
    slow: IntCounter,
}

/// A cached [`QueryHandles`] with the label values it was resolved for.
struct CachedHandles {
    engine: Box<str>,
    pool: Box<str>,
    kind: Box<str>,
    handles: QueryHandles,
}

/// The registry, the query metric families and the label-handle cache.
pub struct Metrics {
    registry: Registry,
    queries: IntCounterVec,
    durations: HistogramVec,
    slow: IntCounterVec,
    /// Handles keyed by a hash of (engine, pool, type); collisions share a bucket and are told apart by value.
    cache: RwLock<FxHashMap<u64, Vec<CachedHandles>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("cached_label_sets", &self.cache.read().len()).finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with the query families and `switchyard_build_info`.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let queries = IntCounterVec::new(
            Opts::new("switchyard_queries_total", "Statements completed, by engine, pool role, type and outcome."),
            &["engine", "pool", "type", "outcome"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "switchyard_query_duration_seconds",
                "Statement duration from first byte received to last reply byte sent.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["engine", "type"],
        )?;
        let slow = IntCounterVec::new(
            Opts::new("switchyard_slow_queries_total", "Statements over their type's slow threshold."),
            &["engine", "type"],
        )?;
        let build_info = IntGauge::with_opts(
            Opts::new("switchyard_build_info", "Always 1; the labels say which build is running.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build_info.set(1);
        registry.register(Box::new(queries.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(slow.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Metrics { registry, queries, durations, slow, cache: RwLock::new(FxHashMap::default()) })
    }

    /// Counts one statement: `queries_total` (by outcome), the duration histogram and, when slow,
    /// `slow_queries_total`. A negative or NaN duration is recorded as 0.
    pub fn observe_query(&self, q: &QueryObservation<'_>) {
        let handles = self.handles(q.engine, q.pool, q.kind);
        if q.ok {
            handles.ok.inc()
        } else {
            handles.error.inc()
        }
        handles.duration.observe(if q.seconds > 0.0 { q.seconds } else { 0.0 });
        if q.slow {
            handles.slow.inc();
        }
    }

    /// The cached handles for a label triple, resolving and caching them on first use.
    fn handles(&self, engine: &str, pool: &str, kind: &str) -> QueryHandles {
        let key = label_hash(engine, pool, kind);
        let find = |bucket: &Vec<CachedHandles>| {
            bucket
                .iter()
                .find(|c| &*c.engine == engine && &*c.pool == pool && &*c.kind == kind)
                .map(|c| c.handles.clone())
        };
        if let Some(handles) = self.cache.read().get(&key).and_then(find) {
            return handles;
        }
        let mut cache = self.cache.write();
        let bucket = cache.entry(key).or_default();
        if let Some(handles) = find(bucket) {
            return handles;
        }
        let handles = QueryHandles {
            ok: self.queries.with_label_values(&[engine, pool, kind, "ok"]),
            error: self.queries.with_label_values(&[engine, pool, kind, "error"]),
            duration: self.durations.with_label_values(&[engine, kind]),
            slow: self.slow.with_label_values(&[engine, kind]),
        };
        bucket.push(CachedHandles {
            engine: engine.into(),
            pool: pool.into(),
            kind: kind.into(),
            handles: handles.clone(),
        });
        handles
    }

    /// Every family (registered ones and those built from `sample`) in Prometheus text format 0.0.4, sorted
    /// by name. Families without a series (no pools yet, say) are left out.
    pub fn render(&self, sample: &Sample) -> String {
        let mut families = self.registry.gather();
        families.extend(sample.families());
        families.retain(|family| !family.get_metric().is_empty());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = String::with_capacity(8 * 1024);
        // Encoding only fails on a family without series or name, and neither can reach here.
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::error!("encode metrics: {e}");
        }
        out
    }
}

/// One hash over the three label values, with separators so that ("ab", "c") and ("a", "bc") differ.
fn label_hash(engine: &str, pool: &str, kind: &str) -> u64 {
    let mut hasher = FxHasher::default();
    engine.hash(&mut hasher);
    pool.hash(&mut hasher);
    kind.hash(&mut hasher);
    hasher.finish()
}
