//! The slow-query pipeline: every slow statement the aggregator folds is logged on the `slow_queries` channel,
//! explained on a side connection (plain EXPLAIN, at most once per digest per `explain_interval`), turned into
//! suggestions, and written to `slow_query_logs`. It runs in its own task behind a bounded queue: the
//! aggregator hands a statement over with `try_send` and never waits; a full queue drops it and counts it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::advice::{self, Limits, Suggestion};
use super::explain::{self, Engine, Explained, Param, Target};
use super::{QueryEvent, Sink, SlowQuery};
use crate::config::Config;
use crate::store::{Record, SlowQueryRow, Writer};

/// Slow statements waiting for the pipeline at most.
const QUEUE: usize = 1024;

enum Msg {
    Query(Box<SlowQuery>),
    Flush(oneshot::Sender<()>),
}

/// The aggregator's handle on the pipeline.
pub struct SlowLog {
    tx: mpsc::Sender<Msg>,
    dropped: AtomicU64,
    explained: Arc<AtomicU64>,
}

impl SlowLog {
    /// Starts the pipeline task. `config` is read per statement (so reloads apply); `writer` receives the rows.
    pub fn spawn(
        config: Arc<arc_swap::ArcSwap<Config>>,
        writer: Option<Writer>,
        shutdown: CancellationToken,
    ) -> Arc<SlowLog> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let explained = Arc::new(AtomicU64::new(0));
        let worker = Worker { config, writer, last_explained: HashMap::new(), explained: explained.clone() };
        tokio::spawn(worker.run(rx, shutdown));
        Arc::new(SlowLog { tx, dropped: AtomicU64::new(0), explained })
    }

    /// Slow statements dropped because the pipeline was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Statements explained since start.
    pub fn explained(&self) -> u64 {
        self.explained.load(Ordering::Relaxed)
    }

    /// Returns once every slow statement handed over before the call has been logged, explained and passed
    /// to the store writer.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl Sink for SlowLog {
    fn observe(&self, _event: &QueryEvent, _slow: bool) {}

    fn slow(&self, query: &SlowQuery) {
        if self.tx.try_send(Msg::Query(Box::new(query.clone()))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Worker {
    config: Arc<arc_swap::ArcSwap<Config>>,
    writer: Option<Writer>,
    /// When each digest was last explained.
    last_explained: HashMap<(&'static str, String), Instant>,
    explained: Arc<AtomicU64>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, shutdown: CancellationToken) {
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = shutdown.cancelled() => None,
            };
            match msg {
                Some(Msg::Query(q)) => self.handle(*q).await,
                Some(Msg::Flush(done)) => {
                    let _ = done.send(());
                }
                None => return,
            }
        }
    }

    async fn handle(&mut self, q: SlowQuery) {
        tracing::warn!(
            target: "slow_queries",
            engine = q.engine,
            digest = %q.digest,
            kind = q.kind,
            duration_ms = q.duration.as_secs_f64() * 1000.0,
            threshold_ms = q.threshold.as_millis() as u64,
            pool = q.pool,
            backend = %q.backend,
            user = %q.user,
            database = %q.database,
            rows = q.rows,
            error = q.error.as_deref().unwrap_or(""),
            params = ?q.params,
            sql = %q.sql,
            "slow query"
        );
        let config = self.config.load_full();
        let engine = if q.engine == "postgres" { Engine::Postgres } else { Engine::Mysql };
        let explained = if config.monitor.explain && self.due(&q, config.monitor.explain_interval) {
            self.explain(&config, engine, &q).await
        } else {
            None
        };
        let limits = Limits::default();
        let actual = q.error.is_none().then_some(q.rows);
        let suggestions = advice::advise(&limits, engine, explained.as_ref(), &q.sql, engine.dialect(), actual);
        if !suggestions.is_empty() {
            tracing::info!(
                target: "slow_queries",
                digest = %q.digest,
                suggestions = %suggestions.iter().map(|s| s.message.as_str()).collect::<Vec<_>>().join("; "),
                "suggestions"
            );
        }
        if let Some(writer) = &self.writer {
            writer.push(Record::SlowQuery(row(&q, explained.as_ref(), &suggestions)));
        }
    }

    /// True when the digest was not explained within `interval` (and marks it explained now).
    fn due(&mut self, q: &SlowQuery, interval: Duration) -> bool {
        let now = Instant::now();
        if self.last_explained.len() > 100_000 {
            self.last_explained.retain(|_, at| now.duration_since(*at) < interval);
        }
        let key = (q.engine, q.digest.clone());
        match self.last_explained.get(&key) {
            Some(at) if now.duration_since(*at) < interval => false,
            _ => {
                self.last_explained.insert(key, now);
                true
            }
        }
    }

    async fn explain(&self, config: &Config, engine: Engine, q: &SlowQuery) -> Option<Explained> {
        if explain::check_statement(engine.dialect(), &q.sql).is_err() {
            return None;
        }
        let target = Target::for_login(config, engine, q.backend_addr.clone(), &q.user, &q.database);
        let params = Param::from_rendered(&q.params);
        match explain_boxed(target, q.sql.clone(), params, config.monitor.explain_timeout).await {
            Ok(e) => {
                self.explained.fetch_add(1, Ordering::Relaxed);
                Some(e)
            }
            Err(e) => {
                tracing::info!(target: "slow_queries", digest = %q.digest, error = %e, "EXPLAIN failed");
                None
            }
        }
    }
}

/// [`explain::explain`] as a boxed `Send` future over owned arguments: sqlx's futures are `Send` for every
/// lifetime, but the compiler cannot prove it through this task's `async fn` chain without the concrete box.
fn explain_boxed(
    target: Target,
    sql: String,
    params: Vec<Param>,
    timeout: Duration,
) -> futures::future::BoxFuture<'static, Result<Explained, explain::ExplainError>> {
    Box::pin(async move { explain::explain(&target, &sql, &params, timeout).await })
}

fn row(q: &SlowQuery, explained: Option<&Explained>, suggestions: &[Suggestion]) -> SlowQueryRow {
    SlowQueryRow {
        recorded_at: q.at,
        engine: q.engine.to_string(),
        digest: q.digest.clone(),
        query_type: q.kind.to_string(),
        sql: q.sql.clone(),
        bindings: serde_json::to_value(&q.params).unwrap_or_default(),
        duration_ms: q.duration.as_secs_f64() * 1000.0,
        pool: q.pool.to_string(),
        backend: q.backend.clone(),
        user: q.user.clone(),
        database: q.database.clone(),
        rows: i64::try_from(q.rows).unwrap_or(i64::MAX),
        error: q.error.clone(),
        explain: explained.map(|e| e.plan.clone()),
        suggestions: serde_json::to_value(suggestions).unwrap_or_default(),
    }
}
