//! The proxy's live state as the outside sees it: the Prometheus sample behind `/metrics`, readiness behind
//! `/readyz`, the sink that feeds folded statements to the metrics registry, and the periodic performance
//! snapshot written to the store (DESIGN §7: connection usage, average query time, slow-query percentage,
//! totals, pool statistics, changed digests).
//!
//! Deliberately not here: serving HTTP (`metrics::http`), folding statements (`monitor`), writing rows
//! (`store`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::classify::Dialect;
use crate::metrics::http::Endpoints;
use crate::metrics::{ClientSample, Metrics, PoolSample, QueryObservation, Sample, ServerSample};
use crate::monitor::{Monitor, QueryEvent, Sink, SlowLog, SlowQuery, TypeTotals, engine_name};
use crate::pool::PoolStats;
use crate::pool::topology::Topology;
use crate::session::clients::Clients;
use crate::session::mysql::MyEngine;
use crate::session::postgres::PgEngine;
use crate::store::{DigestRow, MetricsRow, PoolStatsRow, Record, Writer};

/// Feeds every folded statement to the Prometheus registry.
pub struct MetricsSink(pub Arc<Metrics>);

impl Sink for MetricsSink {
    fn observe(&self, e: &QueryEvent, slow: bool) {
        self.0.observe_query(&QueryObservation {
            engine: engine_name(e.session.engine),
            pool: e.server.role.as_str(),
            kind: e.class.kind.as_str(),
            ok: e.error.is_none(),
            seconds: e.total.as_secs_f64(),
            slow,
        });
    }

    fn slow(&self, _query: &SlowQuery) {}
}

/// One engine's pools with the role of each pool's server.
struct EnginePools {
    engine: &'static str,
    pools: Vec<(String, String, String, crate::config::Role, PoolStats)>,
}

/// Everything the endpoints and the snapshot read.
pub struct Telemetry {
    /// The PostgreSQL engine, when running.
    pub postgres: Option<Arc<PgEngine>>,
    /// The MySQL engine, when running.
    pub mysql: Option<Arc<MyEngine>>,
    /// The monitor.
    pub monitor: Arc<Monitor>,
    /// The Prometheus registry.
    pub metrics: Arc<Metrics>,
    /// The store writer, when a store is open.
    pub writer: Option<Writer>,
    /// The slow-query pipeline.
    pub slowlog: Arc<SlowLog>,
    /// Live clients of both engines.
    pub clients: Arc<Clients>,
    /// Set when the proxy drains: not ready any more.
    pub draining: CancellationToken,
    /// Totals at the previous snapshot, per engine, and its time.
    last: Mutex<(HashMap<Dialect, TypeTotals>, SystemTime)>,
}

impl Telemetry {
    /// Telemetry over the running parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        postgres: Option<Arc<PgEngine>>,
        mysql: Option<Arc<MyEngine>>,
        monitor: Arc<Monitor>,
        metrics: Arc<Metrics>,
        writer: Option<Writer>,
        slowlog: Arc<SlowLog>,
        clients: Arc<Clients>,
        draining: CancellationToken,
    ) -> Telemetry {
        Telemetry {
            postgres,
            mysql,
            monitor,
            metrics,
            writer,
            slowlog,
            clients,
            draining,
            last: Mutex::new((HashMap::new(), SystemTime::now())),
        }
    }

    fn engines(&self) -> Vec<(EnginePools, &Arc<Topology>, usize)> {
        let mut out = Vec::new();
        if let Some(pg) = &self.postgres {
            let pools = pg
                .pools()
                .into_iter()
                .map(|(server, user, db, pool)| {
                    let role = pg.topology.server(&server).map_or(crate::config::Role::Write, |s| s.role);
                    (server, user, db, role, pool.stats())
                })
                .collect();
            out.push((EnginePools { engine: "postgres", pools }, &pg.topology, self.clients.count("postgres")));
        }
        if let Some(my) = &self.mysql {
            let pools = my
                .pools()
                .into_iter()
                .map(|(server, user, pool)| {
                    let role = my.topology.server(&server).map_or(crate::config::Role::Write, |s| s.role);
                    (server, user, String::new(), role, pool.stats())
                })
                .collect();
            out.push((EnginePools { engine: "mysql", pools }, &my.topology, self.clients.count("mysql")));
        }
        out
    }

    /// The live sample behind `/metrics`.
    pub fn sample(&self) -> Sample {
        let (digests, evicted) = self.monitor.digest_counts();
        let mut sample = Sample {
            digests: digests as u64,
            digests_evicted_total: evicted,
            monitor_events_dropped_total: self.monitor.dropped() + self.slowlog.dropped(),
            store_rows_dropped_total: self.writer.as_ref().map_or(0, Writer::dropped),
            ..Sample::default()
        };
        for (pools, topology, clients) in self.engines() {
            let active: usize = pools.pools.iter().map(|p| p.4.active).sum();
            let waiting: usize = pools.pools.iter().map(|p| p.4.waiting).sum();
            sample.clients.push(ClientSample {
                engine: pools.engine,
                active: active as u64,
                waiting: waiting as u64,
                idle: clients.saturating_sub(active + waiting) as u64,
            });
            for (server, _, _, role, stats) in pools.pools {
                sample.pools.push(PoolSample { engine: pools.engine, server, role, stats });
            }
            for s in topology.servers() {
                let st = s.snapshot();
                sample.servers.push(ServerSample {
                    engine: pools.engine,
                    server: st.name,
                    role: st.role,
                    up: st.up,
                    replication_lag: st.lag,
                });
            }
        }
        sample
    }

    /// One performance snapshot: a metrics row per engine (since the previous snapshot), a row per pool, and
    /// a row per digest seen since the previous snapshot. Logged on the `performance` channel.
    pub fn snapshot(&self) -> Vec<Record> {
        let now: DateTime<Utc> = Utc::now();
        let totals = self.monitor.type_totals();
        let mut by_engine: HashMap<Dialect, TypeTotals> = HashMap::new();
        for (engine, _, t) in totals {
            let e = by_engine.entry(engine).or_default();
            e.calls += t.calls;
            e.slow += t.slow;
            e.errors += t.errors;
            e.total_us += t.total_us;
        }
        let (previous, since) = {
            let mut last = self.last.lock();
            std::mem::replace(&mut *last, (by_engine.clone(), SystemTime::now()))
        };
        let elapsed = since.elapsed().unwrap_or(Duration::ZERO).as_secs_f64().max(0.001);
        let mut records = Vec::new();
        for (pools, _, _) in self.engines() {
            let dialect = if pools.engine == "postgres" { Dialect::Postgres } else { Dialect::MySql };
            let cur = by_engine.get(&dialect).copied().unwrap_or_default();
            let prev = previous.get(&dialect).copied().unwrap_or_default();
            // A reset in between makes the totals smaller: count from zero then.
            let d = if cur.calls >= prev.calls { delta(cur, prev) } else { cur };
            let active: usize = pools.pools.iter().map(|p| p.4.active).sum();
            let max: usize = pools.pools.iter().map(|p| p.4.max).sum();
            let row = MetricsRow {
                recorded_at: now,
                engine: pools.engine.to_string(),
                connection_usage_pct: if max == 0 { 0.0 } else { active as f64 * 100.0 / max as f64 },
                avg_query_time_ms: if d.calls == 0 { 0.0 } else { d.total_us as f64 / d.calls as f64 / 1000.0 },
                slow_query_pct: if d.calls == 0 { 0.0 } else { d.slow as f64 * 100.0 / d.calls as f64 },
                total_queries: d.calls as i64,
                slow_queries: d.slow as i64,
                errors: d.errors as i64,
                queries_per_second: d.calls as f64 / elapsed,
                active_connections: active as i64,
                max_connections: max as i64,
            };
            tracing::info!(
                target: "performance",
                engine = pools.engine,
                queries = row.total_queries,
                qps = row.queries_per_second,
                avg_ms = row.avg_query_time_ms,
                slow_pct = row.slow_query_pct,
                connection_usage_pct = row.connection_usage_pct,
                "snapshot"
            );
            records.push(Record::Metrics(row));
            for (server, user, database, role, s) in pools.pools {
                records.push(Record::PoolStats(PoolStatsRow {
                    recorded_at: now,
                    engine: pools.engine.to_string(),
                    server,
                    role: role.as_str().to_string(),
                    user,
                    database,
                    total: s.total as i64,
                    idle: s.idle as i64,
                    active: s.active as i64,
                    waiting: s.waiting as i64,
                    max: s.max as i64,
                    utilisation_pct: s.utilisation() * 100.0,
                    checkouts: s.checkouts as i64,
                    timeouts: s.timeouts as i64,
                    avg_wait_ms: if s.checkouts == 0 {
                        0.0
                    } else {
                        s.wait_micros_total as f64 / s.checkouts as f64 / 1000.0
                    },
                }));
            }
        }
        for d in self.monitor.digests().into_iter().filter(|d| d.last_seen >= since) {
            let ms = |us: u64| us as f64 / 1000.0;
            records.push(Record::Digest(DigestRow {
                recorded_at: now,
                engine: engine_name(d.engine).to_string(),
                digest: format!("{:016x}", d.fingerprint),
                query_type: d.kind.as_str().to_string(),
                normalized: d.normalized.clone(),
                calls: d.calls as i64,
                errors: d.errors as i64,
                rows: d.rows as i64,
                slow: d.slow as i64,
                total_ms: ms(d.total_us),
                min_ms: ms(d.min()),
                max_ms: ms(d.max_us),
                mean_ms: d.mean_us() / 1000.0,
                p50_ms: ms(d.percentile_us(0.5)),
                p95_ms: ms(d.percentile_us(0.95)),
                p99_ms: ms(d.percentile_us(0.99)),
                p999_ms: ms(d.percentile_us(0.999)),
                first_seen: d.first_seen.into(),
                last_seen: d.last_seen.into(),
            }));
        }
        records
    }

    /// Takes a snapshot and hands it to the store writer. Returns the number of rows.
    pub fn snapshot_to_store(&self) -> usize {
        let records = self.snapshot();
        let n = records.len();
        if let Some(w) = &self.writer {
            for r in records {
                w.push(r);
            }
        }
        n
    }

    /// A one-line health summary per engine (clients, backends in use, servers up, slow share since start),
    /// logged on the `performance` channel and returned.
    pub fn check(&self) -> String {
        let sample = self.sample();
        let totals = self.monitor.type_totals();
        let mut parts = Vec::new();
        for c in &sample.clients {
            let (up, servers) = sample
                .servers
                .iter()
                .filter(|s| s.engine == c.engine)
                .fold((0, 0), |(up, n), s| (up + usize::from(s.up), n + 1));
            let (calls, slow) = totals
                .iter()
                .filter(|(e, ..)| engine_name(*e) == c.engine)
                .fold((0u64, 0u64), |(calls, slow), (_, _, t)| (calls + t.calls, slow + t.slow));
            let part = format!(
                "{}: {} clients ({} active, {} waiting), servers up {up}/{servers}, {calls} queries, {slow} slow",
                c.engine,
                c.active + c.idle + c.waiting,
                c.active,
                c.waiting
            );
            tracing::info!(target: "performance", "{part}");
            parts.push(part);
        }
        parts.join("; ")
    }

    /// Waits until every statement folded so far has gone through the slow-query pipeline and every row
    /// handed to the writer is written.
    pub async fn settle(&self) {
        self.monitor.drain();
        self.slowlog.flush().await;
        if let Some(w) = &self.writer {
            w.flush().await;
        }
    }
}

fn delta(cur: TypeTotals, prev: TypeTotals) -> TypeTotals {
    TypeTotals {
        calls: cur.calls - prev.calls,
        slow: cur.slow.saturating_sub(prev.slow),
        errors: cur.errors.saturating_sub(prev.errors),
        total_us: cur.total_us.saturating_sub(prev.total_us),
    }
}

impl Endpoints for Telemetry {
    fn metrics(&self) -> String {
        self.metrics.render(&self.sample())
    }

    fn ready(&self) -> Result<(), String> {
        if self.draining.is_cancelled() {
            return Err("draining: the proxy is shutting down".into());
        }
        for (engine, topology) in [
            ("postgres", self.postgres.as_ref().map(|e| &e.topology)),
            ("mysql", self.mysql.as_ref().map(|e| &e.topology)),
        ] {
            if let Some(t) = topology
                && !t.servers().iter().any(|s| s.snapshot().up)
            {
                return Err(format!("no {engine} server is up"));
            }
        }
        Ok(())
    }
}

/// Writes a snapshot every `interval` until `shutdown`.
pub fn spawn_snapshots(telemetry: Arc<Telemetry>, interval: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    telemetry.snapshot_to_store();
                }
                _ = shutdown.cancelled() => return,
            }
        }
    });
}
