//! The history store against both of its backends: every test function below runs once on an SQLite file in a
//! temporary directory (`store::sqlite::*`) and once on a fresh database of the harness's PostgreSQL primary
//! (`store::postgres::*`).
//!
//! Deliberately not here: what the monitor or the scheduler put in the records (their own tests), and the proxy.

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use switchyard::config;
use switchyard::store::{
    DigestRow, JobRunRow, MaintenanceRow, MetricsRow, PoolStatsRow, Record, SlowQueryRow, Store, StoreError,
};
use tokio_util::sync::CancellationToken;

use crate::common;

/// Bound on every wait for the writer task in these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Every table the migrations create.
const TABLES: [&str; 8] = [
    "database_performance_metrics",
    "slow_query_logs",
    "connection_pool_stats",
    "backup_logs",
    "query_digests",
    "maintenance_runs",
    "job_runs",
    "alerts",
];

/// Runs each named `async fn(Fixture) -> anyhow::Result<()>` as a test on SQLite and as a test on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(super::Fixture::sqlite().await?).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(super::Fixture::postgres(stringify!($name)).await?).await
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_create_every_table_with_native_types,
    every_record_type_round_trips,
    reads_filter_order_and_limit,
    a_failed_batch_writes_nothing_and_the_writer_carries_on,
    writer_writes_when_a_batch_is_full,
    writer_writes_when_the_flush_interval_passes,
    flush_returns_once_everything_pushed_is_written,
    full_queue_drops_and_counts,
    shutdown_writes_what_is_queued,
    prune_removes_only_old_history,
    reopening_keeps_rows_and_migrations_are_idempotent,
    bad_url_gives_a_clear_error_without_the_password,
);

/// Where one test's store lives, plus a plain connection to the same database for catalog checks.
struct Fixture {
    url: String,
    raw: Raw,
    /// The SQLite directory, removed when the test ends.
    _dir: Option<tempfile::TempDir>,
}

/// A connection to the store's database that bypasses the store.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Fixture {
    /// An SQLite file two directories below a fresh temporary directory (neither directory exists yet).
    async fn sqlite() -> anyhow::Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/nested/history/store.db", dir.path().display());
        // Lazy, so that the store (not this connection) creates the directory and the file.
        let raw = SqlitePoolOptions::new().max_connections(1).connect_lazy_with(SqliteConnectOptions::from_str(&url)?);
        Ok(Fixture { url, raw: Raw::Sqlite(raw), _dir: Some(dir) })
    }

    /// A fresh database named after the test on the harness's PostgreSQL primary.
    async fn postgres(test: &str) -> anyhow::Result<Fixture> {
        let pg = common::pg().await;
        let db = format!("store_{test}");
        let admin = common::pg_client(pg.primary, "postgres", "postgres").await;
        // Two statements: CREATE DATABASE refuses to run in the implicit transaction of a multi-statement query.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).await?;
        admin.batch_execute(&format!("CREATE DATABASE {db}")).await?;
        let url = format!("postgres://postgres@{}/{db}", pg.primary);
        let raw = PgPool::connect(&url).await?;
        Ok(Fixture { url, raw: Raw::Postgres(raw), _dir: None })
    }

    async fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.url).await?)
    }

    fn is_sqlite(&self) -> bool {
        matches!(self.raw, Raw::Sqlite(_))
    }

    async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::raw_sql(sql).execute(pool).await?;
            }
            Raw::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// The first column of every row of `sql`, as text.
    async fn strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        Ok(match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await?,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await?,
        })
    }

    async fn count(&self, table: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await?,
            Raw::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await?,
        })
    }

    /// The declared type of `table.column` as the catalog reports it.
    async fn column_type(&self, table: &str, column: &str) -> anyhow::Result<String> {
        let sql = if self.is_sqlite() {
            format!("SELECT type FROM pragma_table_info('{table}') WHERE name = '{column}'")
        } else {
            format!(
                "SELECT data_type::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{table}' AND column_name = '{column}'"
            )
        };
        let mut types = self.strings(&sql).await?;
        anyhow::ensure!(types.len() == 1, "{table}.{column}: {types:?}");
        Ok(types.remove(0))
    }
}

/// A writer configuration; the tests override what they exercise.
fn writer_config(batch_size: usize, flush_interval: Duration, queue: usize) -> config::Store {
    config::Store { batch_size, flush_interval, queue, ..config::Store::default() }
}

/// `secs_ago` seconds before the start of this test run, plus `micros` (both backends keep microseconds exactly).
/// The same arguments give the same time throughout the run.
fn time(secs_ago: i64, micros: u32) -> DateTime<Utc> {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| Utc::now().timestamp());
    Utc.timestamp_opt(start - secs_ago, micros * 1000).single().expect("valid test time")
}

fn metrics(at: DateTime<Utc>, engine: &str) -> MetricsRow {
    MetricsRow {
        recorded_at: at,
        engine: engine.into(),
        connection_usage_pct: 42.5,
        avg_query_time_ms: 0.1,
        slow_query_pct: 1.0 / 3.0,
        total_queries: 9_000_000_000,
        slow_queries: 3,
        errors: 0,
        queries_per_second: 1234.5678,
        active_connections: 7,
        max_connections: 100,
    }
}

fn slow_query(at: DateTime<Utc>, explain: bool) -> SlowQueryRow {
    SlowQueryRow {
        recorded_at: at,
        engine: "postgres".into(),
        digest: "0123456789abcdef".into(),
        query_type: "select".into(),
        sql: "SELECT * FROM orders WHERE note LIKE '%ünï''code%' AND id = $1".into(),
        bindings: json!([42, "two", null, 3.5, {"nested": [true, false]}, "quote \" and '"]),
        duration_ms: 1500.25,
        pool: "read".into(),
        backend: "127.0.0.1:5433".into(),
        user: "app".into(),
        database: "appdb".into(),
        rows: 17,
        error: if explain { None } else { Some("canceling statement due to statement timeout".into()) },
        explain: explain.then(|| {
            json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders", "Total Cost": 1234.56,
                             "Filter": "(note ~~ '%x%'::text)", "Plans": []}}])
        }),
        suggestions: json!([
            {"kind": "select_star", "message": "List the columns you need instead of SELECT *"},
            {"kind": "seq_scan", "table": "orders", "rows": 120000, "message": "Consider an index on orders(id)"}
        ]),
    }
}

fn pool_stats(at: DateTime<Utc>) -> PoolStatsRow {
    PoolStatsRow {
        recorded_at: at,
        engine: "mysql".into(),
        server: "127.0.0.1:3306".into(),
        role: "primary".into(),
        user: "app".into(),
        database: "appdb".into(),
        total: 10,
        idle: 4,
        active: 6,
        waiting: 2,
        max: 20,
        utilisation_pct: 30.0,
        checkouts: 1_000,
        timeouts: 1,
        avg_wait_ms: 0.75,
    }
}

fn digest(at: DateTime<Utc>, n: i64) -> DigestRow {
    DigestRow {
        recorded_at: at,
        engine: "postgres".into(),
        digest: format!("{n:016x}"),
        query_type: "update".into(),
        normalized: "UPDATE accounts SET balance = balance + ? WHERE id IN (?)".into(),
        calls: 100 + n,
        errors: 2,
        rows: 99,
        slow: 5,
        total_ms: 512.125,
        min_ms: 0.01,
        max_ms: 250.5,
        mean_ms: 5.12125,
        p50_ms: 3.0,
        p95_ms: 20.0,
        p99_ms: 200.0,
        p999_ms: 250.0,
        first_seen: time(86_400, 1),
        last_seen: at,
    }
}

fn maintenance(at: DateTime<Utc>, detail: Option<&str>) -> MaintenanceRow {
    MaintenanceRow {
        started_at: at,
        finished_at: at + chrono::Duration::milliseconds(1500),
        engine: "mysql".into(),
        server: "127.0.0.1:3306".into(),
        table_name: "appdb.orders".into(),
        action: "optimize".into(),
        outcome: if detail.is_some() { "error" } else { "ok" }.into(),
        duration_ms: 1500.0,
        detail: detail.map(Into::into),
    }
}

fn job_run(job: &str, at: DateTime<Utc>) -> JobRunRow {
    JobRunRow {
        job: job.into(),
        scheduled_for: at - chrono::Duration::seconds(1),
        started_at: at,
        finished_at: at + chrono::Duration::seconds(3),
        outcome: "ok".into(),
        detail: Some(format!("{job} done")),
    }
}

async fn migrations_create_every_table_with_native_types(fx: Fixture) -> anyhow::Result<()> {
    let _store = fx.open().await?;
    let (tables, indexes) = if fx.is_sqlite() {
        (
            fx.strings("SELECT name FROM sqlite_master WHERE type = 'table'").await?,
            fx.strings("SELECT name FROM sqlite_master WHERE type = 'index'").await?,
        )
    } else {
        (
            fx.strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'").await?,
            fx.strings("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'").await?,
        )
    };
    for table in TABLES {
        assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
    }
    for index in [
        "database_performance_metrics_recorded_at",
        "slow_query_logs_recorded_at",
        "connection_pool_stats_recorded_at",
        "backup_logs_started_at",
        "query_digests_recorded_at",
        "maintenance_runs_started_at",
        "job_runs_started_at",
        "alerts_fired_at",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{index} missing from {indexes:?}");
    }
    let expected: [(&str, &str, &str, &str); 6] = [
        ("slow_query_logs", "recorded_at", "timestamp with time zone", "TEXT"),
        ("slow_query_logs", "bindings", "jsonb", "TEXT"),
        ("slow_query_logs", "duration_ms", "double precision", "REAL"),
        ("query_digests", "calls", "bigint", "INTEGER"),
        ("backup_logs", "size_bytes", "bigint", "INTEGER"),
        ("alerts", "resolved_at", "timestamp with time zone", "TEXT"),
    ];
    for (table, column, pg_type, sqlite_type) in expected {
        let want = if fx.is_sqlite() { sqlite_type } else { pg_type };
        assert_eq!(fx.column_type(table, column).await?, want, "{table}.{column}");
    }
    Ok(())
}

async fn every_record_type_round_trips(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let at = time(60, 123_456);
    let records: Vec<Record> = vec![
        metrics(at, "postgres").into(),
        slow_query(at, true).into(),
        slow_query(at - chrono::Duration::seconds(1), false).into(),
        pool_stats(at).into(),
        digest(at, 7).into(),
        maintenance(at, None).into(),
        maintenance(at - chrono::Duration::seconds(1), Some("lock timeout")).into(),
        job_run("analyze", at).into(),
    ];
    store.insert(&records).await?;

    assert_eq!(store.metrics(None, 10).await?, [metrics(at, "postgres")]);
    assert_eq!(
        store.slow_queries(10).await?,
        [slow_query(at, true), slow_query(at - chrono::Duration::seconds(1), false)]
    );
    assert_eq!(store.pool_stats(10).await?, [pool_stats(at)]);
    assert_eq!(store.digests(10).await?, [digest(at, 7)]);
    assert_eq!(
        store.maintenance_runs(10).await?,
        [maintenance(at, None), maintenance(at - chrono::Duration::seconds(1), Some("lock timeout"))]
    );
    assert_eq!(store.job_runs(None, 10).await?, [job_run("analyze", at)]);
    assert_eq!(store.last_job_run("analyze").await?, Some(job_run("analyze", at)));

    // A batch larger than one statement can carry (19 columns x 300 rows) still goes in whole.
    let many: Vec<Record> = (0..300).map(|n| digest(at - chrono::Duration::seconds(n + 1), n).into()).collect();
    store.insert(&many).await?;
    let read = store.digests(1_000).await?;
    assert_eq!(read.len(), 301);
    assert_eq!(read[1], digest(at - chrono::Duration::seconds(1), 0));
    assert_eq!(read[300], digest(at - chrono::Duration::seconds(300), 299));
    Ok(())
}

async fn reads_filter_order_and_limit(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let records: Vec<Record> = vec![
        metrics(time(30, 0), "postgres").into(),
        metrics(time(20, 0), "mysql").into(),
        metrics(time(10, 0), "postgres").into(),
        job_run("monitor", time(300, 0)).into(),
        job_run("analyze", time(200, 0)).into(),
        job_run("monitor", time(100, 0)).into(),
    ];
    store.insert(&records).await?;

    let engines = |rows: Vec<MetricsRow>| rows.into_iter().map(|r| r.engine).collect::<Vec<_>>();
    assert_eq!(engines(store.metrics(None, 10).await?), ["postgres", "mysql", "postgres"]);
    assert_eq!(engines(store.metrics(None, 2).await?), ["postgres", "mysql"]);
    assert_eq!(
        store.metrics(Some("postgres"), 10).await?,
        [metrics(time(10, 0), "postgres"), metrics(time(30, 0), "postgres")]
    );
    assert_eq!(store.metrics(Some("mysql"), 10).await?, [metrics(time(20, 0), "mysql")]);
    assert!(store.metrics(Some("oracle"), 10).await?.is_empty());

    assert_eq!(
        store.job_runs(Some("monitor"), 10).await?,
        [job_run("monitor", time(100, 0)), job_run("monitor", time(300, 0))]
    );
    assert_eq!(store.job_runs(None, 10).await?.len(), 3);
    assert_eq!(store.last_job_run("monitor").await?, Some(job_run("monitor", time(100, 0))));
    assert_eq!(store.last_job_run("analyze").await?, Some(job_run("analyze", time(200, 0))));
    assert_eq!(store.last_job_run("backup-full").await?, None);
    Ok(())
}

async fn a_failed_batch_writes_nothing_and_the_writer_carries_on(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    fx.exec("DROP TABLE job_runs").await?;
    // One transaction: the metrics row does not stay behind when the job run fails.
    let mixed = [metrics(time(5, 0), "postgres").into(), job_run("analyze", time(5, 0)).into()];
    let err = store.insert(&mixed).await.expect_err("job_runs is gone");
    assert!(matches!(err, StoreError::Query(_)), "{err:?}");
    assert_eq!(fx.count("database_performance_metrics").await?, 0);

    let writer = store.spawn_writer(&writer_config(100, Duration::from_secs(3600), 100), CancellationToken::new());
    assert!(writer.push(job_run("analyze", time(5, 0)).into()));
    writer.flush().await;
    assert_eq!((writer.failed(), writer.written()), (1, 0));
    assert!(writer.push(metrics(time(5, 0), "mysql").into()));
    writer.flush().await;
    assert_eq!((writer.failed(), writer.written()), (1, 1));
    assert_eq!(store.metrics(None, 10).await?, [metrics(time(5, 0), "mysql")]);
    Ok(())
}

async fn writer_writes_when_a_batch_is_full(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let writer = store.spawn_writer(&writer_config(3, Duration::from_secs(3600), 100), CancellationToken::new());
    for n in 0..7 {
        assert!(writer.push(digest(time(10, 0), n).into()));
    }
    common::poll_until("two full batches written", WAIT, async || {
        Ok::<_, std::convert::Infallible>((writer.written() >= 6).then_some(()))
    })
    .await?;
    // The seventh waits for a full batch, the hour-long interval or a flush.
    assert_eq!((writer.written(), writer.batches()), (6, 2));
    assert_eq!(fx.count("query_digests").await?, 6);
    writer.flush().await;
    assert_eq!((writer.written(), writer.batches()), (7, 3));
    assert_eq!(fx.count("query_digests").await?, 7);
    assert_eq!((writer.dropped(), writer.failed()), (0, 0));
    Ok(())
}

async fn writer_writes_when_the_flush_interval_passes(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let interval = Duration::from_millis(300);
    let writer = store.spawn_writer(&writer_config(1_000, interval, 100), CancellationToken::new());
    let pushed = Instant::now();
    for n in 0..5 {
        assert!(writer.push(pool_stats(time(n, 0)).into()));
    }
    common::poll_until("rows written after the flush interval", WAIT, async || {
        Ok::<_, std::convert::Infallible>((writer.written() == 5).then_some(()))
    })
    .await?;
    assert!(pushed.elapsed() >= interval, "written after {:?}, before the interval", pushed.elapsed());
    assert_eq!(writer.batches(), 1);
    assert_eq!(store.pool_stats(10).await?.len(), 5);
    Ok(())
}

async fn flush_returns_once_everything_pushed_is_written(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let writer = store.spawn_writer(&writer_config(1_000, Duration::from_secs(3600), 100), CancellationToken::new());
    writer.flush().await; // nothing queued: returns at once
    let at = time(1, 500);
    let records: Vec<Record> = vec![
        metrics(at, "mysql").into(),
        slow_query(at, true).into(),
        pool_stats(at).into(),
        digest(at, 1).into(),
        maintenance(at, None).into(),
        job_run("optimize", at).into(),
    ];
    // From another clone, as the monitor and the scheduler would.
    let other = writer.clone();
    for record in &records {
        assert!(other.push(record.clone()));
    }
    writer.flush().await;
    assert_eq!(writer.written(), 6);
    assert_eq!(store.metrics(None, 10).await?, [metrics(at, "mysql")]);
    assert_eq!(store.slow_queries(10).await?, [slow_query(at, true)]);
    assert_eq!(store.pool_stats(10).await?, [pool_stats(at)]);
    assert_eq!(store.digests(10).await?, [digest(at, 1)]);
    assert_eq!(store.maintenance_runs(10).await?, [maintenance(at, None)]);
    assert_eq!(store.last_job_run("optimize").await?, Some(job_run("optimize", at)));
    Ok(())
}

async fn full_queue_drops_and_counts(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let writer = store.spawn_writer(&writer_config(1_000, Duration::from_secs(3600), 4), CancellationToken::new());
    // No await between the pushes: on this single-threaded test runtime the writer task cannot drain the queue.
    let accepted: Vec<bool> = (0..10).map(|n| writer.push(metrics(time(n, 0), "postgres").into())).collect();
    assert_eq!(accepted, [true, true, true, true, false, false, false, false, false, false]);
    assert_eq!(writer.dropped(), 6);
    writer.flush().await;
    assert_eq!(writer.written(), 4);
    assert_eq!(fx.count("database_performance_metrics").await?, 4);
    // Room again once the task has drained the queue.
    assert!(writer.push(metrics(time(0, 0), "mysql").into()));
    writer.flush().await;
    assert_eq!((writer.written(), writer.dropped()), (5, 6));
    Ok(())
}

async fn shutdown_writes_what_is_queued(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let shutdown = CancellationToken::new();
    let writer = store.spawn_writer(&writer_config(1_000, Duration::from_secs(3600), 100), shutdown.clone());
    for n in 0..5 {
        assert!(writer.push(job_run("monitor", time(n, 0)).into()));
    }
    shutdown.cancel();
    tokio::time::timeout(WAIT, writer.finished()).await?;
    assert_eq!(writer.written(), 5);
    assert_eq!(fx.count("job_runs").await?, 5);
    // After the task ended: pushes are refused and counted, flush does not hang.
    assert!(!writer.push(job_run("monitor", time(0, 0)).into()));
    assert_eq!(writer.dropped(), 1);
    tokio::time::timeout(WAIT, writer.flush()).await?;
    Ok(())
}

async fn prune_removes_only_old_history(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    let day = 86_400;
    let (old, new) = (time(10 * day, 0), time(3600, 0));
    let mut records: Vec<Record> = Vec::new();
    for at in [old, new] {
        records.push(metrics(at, "postgres").into());
        records.push(slow_query(at, true).into());
        records.push(pool_stats(at).into());
        records.push(digest(at, 1).into());
        records.push(maintenance(at, None).into());
        records.push(job_run("both", at).into());
    }
    // A job that last ran long ago keeps its latest run, so the scheduler still knows when that was.
    records.push(job_run("rare", time(20 * day, 0)).into());
    records.push(job_run("rare", old).into());
    store.insert(&records).await?;
    let stamp = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    fx.exec(&format!(
        "INSERT INTO alerts (rule, severity, state, value, message, fired_at, resolved_at) VALUES \
         ('slow', 'warning', 'resolved', 12.5, 'old and resolved', '{o}', '{o}'), \
         ('usage', 'critical', 'firing', 97.0, 'old and still firing', '{o}', NULL), \
         ('slow', 'warning', 'resolved', 11.0, 'recent', '{n}', '{n}'); \
         INSERT INTO backup_logs (name, engine, kind, status, started_at) VALUES ('full-1', 'postgres', 'full', 'ok', '{o}')",
        o = stamp(old),
        n = stamp(new)
    ))
    .await?;

    let deleted = store.prune(time(5 * day, 0)).await?;
    // One old row in each of five tables, job "both"'s old run, job "rare"'s older run, the old resolved alert.
    assert_eq!(deleted, 8);
    for table in ["database_performance_metrics", "slow_query_logs", "connection_pool_stats", "query_digests"] {
        assert_eq!(fx.count(table).await?, 1, "{table}");
    }
    assert_eq!(store.metrics(None, 10).await?, [metrics(new, "postgres")]);
    assert_eq!(store.maintenance_runs(10).await?, [maintenance(new, None)]);
    assert_eq!(store.job_runs(Some("both"), 10).await?, [job_run("both", new)]);
    assert_eq!(store.job_runs(Some("rare"), 10).await?, [job_run("rare", old)]);
    let mut alerts = fx.strings("SELECT message FROM alerts").await?;
    alerts.sort();
    assert_eq!(alerts, ["old and still firing", "recent"]);
    assert_eq!(fx.count("backup_logs").await?, 1);
    assert_eq!(store.prune(time(5 * day, 0)).await?, 0);
    Ok(())
}

async fn reopening_keeps_rows_and_migrations_are_idempotent(fx: Fixture) -> anyhow::Result<()> {
    let store = fx.open().await?;
    store.insert(&[metrics(time(1, 0), "postgres").into()]).await?;
    store.close().await;
    let again = fx.open().await?;
    assert_eq!(again.metrics(None, 10).await?, [metrics(time(1, 0), "postgres")]);
    // A third open while the second is still in use.
    let third = fx.open().await?;
    assert_eq!(third.metrics(None, 10).await?.len(), 1);
    let applied = fx.strings("SELECT CAST(version AS TEXT) FROM _sqlx_migrations WHERE success").await?;
    assert_eq!(applied, ["1"]);
    Ok(())
}

async fn bad_url_gives_a_clear_error_without_the_password(fx: Fixture) -> anyhow::Result<()> {
    let (url, shown, cause) = if fx.is_sqlite() {
        let url = format!("{}?mode=sideways", fx.url);
        (url.clone(), url, "sideways")
    } else {
        let pg = common::pg().await;
        (
            format!("postgres://postgres:hunter2@{}/store_no_such_database", pg.primary),
            format!("postgres://postgres:***@{}/store_no_such_database", pg.primary),
            "does not exist",
        )
    };
    let started = Instant::now();
    let err = Store::open(&url).await.expect_err("the URL is bad");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(message.contains(&shown), "{message}");
    assert!(message.contains(cause), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    Ok(())
}
