//! Unit tests of the store's SQL building, URL redaction and SQLite opening. The behaviour shared by both
//! backends (round trips, the writer, pruning) is tested in `tests/integration/store.rs` against SQLite and
//! PostgreSQL alike.

use chrono::{DateTime, TimeZone, Utc};

use super::insert::{self, TABLES};
use super::records::{JobRunRow, MetricsRow, Record};
use super::{Store, StoreError, redact};

fn at(secs: i64, micros: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, micros * 1000).single().expect("valid test time")
}

fn metrics(engine: &str) -> Record {
    Record::Metrics(MetricsRow {
        recorded_at: at(1_700_000_000, 0),
        engine: engine.into(),
        connection_usage_pct: 1.0,
        avg_query_time_ms: 2.0,
        slow_query_pct: 3.0,
        total_queries: 4,
        slow_queries: 5,
        errors: 6,
        queries_per_second: 7.0,
        active_connections: 8,
        max_connections: 9,
    })
}

fn job(name: &str) -> Record {
    let t = at(1_700_000_000, 0);
    Record::JobRun(JobRunRow {
        job: name.into(),
        scheduled_for: t,
        started_at: t,
        finished_at: t,
        outcome: "ok".into(),
        detail: None,
    })
}

#[test]
fn redact_hides_passwords_only() {
    let check = |url: &str, want: &str| assert_eq!(redact(url), want, "{url}");
    check("postgres://app:s3cret@db.example:5432/hist", "postgres://app:***@db.example:5432/hist");
    check("postgres://app@db/hist", "postgres://app@db/hist");
    check("postgres://app:p@ss@db/hist?sslmode=require", "postgres://app:***@db/hist?sslmode=require");
    check(
        "postgres://db/hist?user=app&password=x&sslmode=disable",
        "postgres://db/hist?user=app&password=***&sslmode=disable",
    );
    check("sqlite:///var/lib/switchyard/switchyard.db", "sqlite:///var/lib/switchyard/switchyard.db");
    check("sqlite://data/a:b@c.db", "sqlite://data/a:b@c.db");
}

#[test]
fn sqlite_time_is_fixed_width_and_sorts_as_time() {
    let times = [at(1_700_000_000, 0), at(1_700_000_000, 5), at(1_700_000_000, 500_000), at(1_700_000_001, 0)];
    let texts: Vec<String> = times.iter().map(|t| insert::sqlite_time(*t)).collect();
    assert_eq!(texts[0], "2023-11-14T22:13:20.000000Z");
    assert!(texts.iter().all(|t| t.len() == texts[0].len()), "{texts:?}");
    assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
    // Nanoseconds are cut to microseconds, as PostgreSQL does.
    let nanos = Utc.timestamp_opt(1_700_000_000, 1_999).single().expect("valid");
    assert_eq!(insert::sqlite_time(nanos), "2023-11-14T22:13:20.000001Z");
}

#[test]
fn insert_sql_numbers_placeholders_row_by_row() {
    let sql = insert::insert_sql(&insert::JOB_RUNS, 2);
    assert_eq!(
        sql,
        "INSERT INTO job_runs (job, scheduled_for, started_at, finished_at, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"
    );
}

#[test]
fn every_record_binds_one_value_per_column() {
    for table in TABLES {
        assert!(!table.columns.contains(&"id"), "{}", table.name);
        assert!(table.columns.contains(&table.time), "{}", table.name);
    }
    let record = metrics("postgres");
    assert_eq!(record.params().len(), TABLES[record.slot()].columns.len());
    let record = job("analyze");
    assert_eq!(record.params().len(), TABLES[record.slot()].columns.len());
}

#[test]
fn statements_group_by_table_and_respect_the_parameter_limit() {
    let mut records = Vec::new();
    for i in 0..200 {
        records.push(metrics(if i % 2 == 0 { "postgres" } else { "mysql" }));
        records.push(job("monitor"));
    }
    let statements = insert::statements(&records);
    let mut metrics_rows = 0;
    let mut job_rows = 0;
    for (table, rows) in &statements {
        assert!(rows.len() * table.columns.len() <= 900, "{} x {}", rows.len(), table.name);
        assert!(rows.iter().all(|r| TABLES[r.slot()].name == table.name));
        match table.name {
            "database_performance_metrics" => metrics_rows += rows.len(),
            "job_runs" => job_rows += rows.len(),
            other => panic!("unexpected table {other}"),
        }
    }
    assert_eq!((metrics_rows, job_rows), (200, 200));
    // Order within a table is kept: the engines still alternate.
    let (_, first) = &statements[0];
    let engines: Vec<&str> = first
        .iter()
        .take(4)
        .map(|r| match r {
            Record::Metrics(m) => m.engine.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(engines, ["postgres", "mysql", "postgres", "mysql"]);
}

#[tokio::test]
async fn sqlite_open_creates_directories_and_uses_wal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("a/b/history.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).await?;
    assert!(path.is_file(), "{} not created", path.display());
    assert_eq!(store.backend(), "sqlite");
    let super::Backend::Sqlite(pool) = &store.backend else { panic!("not sqlite") };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await?;
    assert_eq!(mode, "wal");
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(pool).await?;
    assert_eq!(timeout, 5000);
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn sqlite_in_memory_store_works() -> anyhow::Result<()> {
    let store = Store::open("sqlite::memory:").await?;
    store.insert(&[metrics("mysql")]).await?;
    let rows = store.metrics(None, 10).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(Record::Metrics(rows[0].clone()), metrics("mysql"));
    Ok(())
}

#[tokio::test]
async fn sqlite_directory_that_cannot_exist_is_named() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory")?;
    let url = format!("sqlite://{}/sub/store.db", file.display());
    let err = Store::open(&url).await.expect_err("a file cannot be a directory");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("{}/sub", file.display())), "{message}");
    Ok(())
}

#[tokio::test]
async fn unknown_scheme_is_refused_without_the_password() {
    let err = Store::open("mysql://root:topsecret@127.0.0.1/hist").await.expect_err("mysql is not a store");
    assert!(matches!(err, StoreError::Unsupported { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("mysql://root:***@127.0.0.1/hist"), "{message}");
    assert!(!message.contains("topsecret"), "{message}");
}
