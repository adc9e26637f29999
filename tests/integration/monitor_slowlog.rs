//! The slow-query log end to end on both engines and both stores: a slow statement against a 200k-row table
//! filtered on an unindexed column becomes a `slow_query_logs` row with its bindings, the EXPLAIN JSON and an
//! index suggestion naming the table and column; a slow `SELECT *` without LIMIT gets the text suggestions.
//! Also `/metrics`: the query counters move by exactly the statements sent.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::Value;
use switchyard::store::{SlowQueryRow, Store};

use crate::common;
use crate::metrics_http::request;
use crate::proxy::{Running, TestProxy};

/// A fresh store database on the harness PostgreSQL primary.
async fn pg_store(name: &str) -> String {
    let pg = common::pg().await;
    let admin = common::pg_client(pg.primary, "postgres", "postgres").await;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    format!("postgres://postgres@{}/{name}", pg.primary)
}

/// Every select is slow (threshold 0), rows are written at once; the store is SQLite in the proxy's data dir unless
/// `store` names one.
fn slow_everything(store: Option<String>) -> impl FnOnce(&mut switchyard::config::Config) {
    move |c| {
        c.monitor.slow_threshold_ms.insert("select".into(), 0);
        c.store.url = store;
        c.store.flush_interval = Duration::from_millis(50);
    }
}

async fn rows(p: &Running) -> Vec<SlowQueryRow> {
    p.handle.telemetry.settle().await;
    let store: &Store = p.handle.store.as_ref().expect("store open");
    store.slow_queries(100).await.expect("read slow_query_logs")
}

fn rules(row: &SlowQueryRow) -> Vec<(String, Option<String>, Vec<String>)> {
    let list = row.suggestions.as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|s| {
            let rule = s["rule"].as_str().unwrap_or_default().to_string();
            let table = s["table"].as_str().map(str::to_string);
            let cols =
                s["columns"].as_array().map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect());
            (rule, table, cols.unwrap_or_default())
        })
        .collect()
}

fn assert_index_and_text_advice(all: &[SlowQueryRow], filtered: &str, table: &str, star: &str) {
    let row = all.iter().find(|r| r.sql == filtered).unwrap_or_else(|| panic!("no row for {filtered}: {all:#?}"));
    assert_eq!(row.bindings, Value::from(vec!["user77@example.com"]), "bindings captured");
    assert!(row.explain.is_some(), "EXPLAIN JSON stored");
    let advice = rules(row);
    assert!(
        advice.iter().any(|(rule, t, cols)| rule == "full_scan"
            && t.as_deref().is_some_and(|t| t.ends_with(table))
            && cols == &["email".to_string()]),
        "index suggestion on {table}(email): {advice:?}"
    );
    let star_row = all.iter().find(|r| r.sql == star).unwrap_or_else(|| panic!("no row for {star}"));
    let advice = rules(star_row);
    for want in ["select_star", "no_limit"] {
        assert!(advice.iter().any(|(rule, ..)| rule == want), "{want} for {star}: {advice:?}");
    }
}

async fn pg_slow_log(store: Option<String>, table: &str) {
    let pg = common::pg().await;
    let _replica = pg.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.with(slow_everything(store)).start().await;
    let c = p.pg("postgres", "postgres").await;
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; \
         CREATE TABLE {table} (id int PRIMARY KEY, email text, note text); \
         INSERT INTO {table} SELECT g, 'user' || g || '@example.com', 'n' FROM generate_series(1, 200000) g; \
         ANALYZE {table}"
    ))
    .await
    .unwrap();
    pg.sync_replica().await.unwrap();
    let filtered = format!("SELECT id FROM {table} WHERE email = $1");
    let found = c.query(&filtered, &[&"user77@example.com"]).await.unwrap();
    assert_eq!(found.len(), 1);
    let star = format!("SELECT * FROM {table}");
    c.simple_query(&star).await.unwrap();
    let all = rows(&p).await;
    assert_index_and_text_advice(&all, &filtered, table, &star);
    let row = all.iter().find(|r| r.sql == filtered).unwrap();
    assert_eq!((row.engine.as_str(), row.query_type.as_str(), row.rows), ("postgres", "select", 1));
    assert!(row.explain.as_ref().unwrap().to_string().contains("Seq Scan"), "{:?}", row.explain);
}

async fn my_slow_log(store: Option<String>, table: &str) {
    let my = common::my().await;
    let _replica = my.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.with(slow_everything(store)).start().await;
    let mut c = p.my("root", None, None).await;
    c.query_drop("CREATE DATABASE IF NOT EXISTS mon_slow").await.unwrap();
    c.query_drop(format!(
        "CREATE OR REPLACE TABLE mon_slow.{table} (id INT PRIMARY KEY, email VARCHAR(64), note VARCHAR(8))"
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO mon_slow.{table} SELECT seq, CONCAT('user', seq, '@example.com'), 'n' FROM mon_slow.seq_1_to_200000"
    ))
    .await
    .unwrap();
    c.query_drop(format!("ANALYZE TABLE mon_slow.{table}")).await.unwrap();
    my.sync_replica().await.unwrap();
    let filtered = format!("SELECT id FROM mon_slow.{table} WHERE email = ?");
    let found: Vec<i64> = c.exec(&filtered, ("user77@example.com",)).await.unwrap();
    assert_eq!(found, vec![77]);
    let star = format!("SELECT * FROM mon_slow.{table}");
    c.query_drop(&star).await.unwrap();
    let all = rows(&p).await;
    assert_index_and_text_advice(&all, &filtered, table, &star);
    let row = all.iter().find(|r| r.sql == filtered).unwrap();
    assert_eq!((row.engine.as_str(), row.query_type.as_str(), row.rows), ("mysql", "select", 1));
    c.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_slow_query_log_on_sqlite() {
    pg_slow_log(None, "mon_big_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_slow_query_log_on_postgres_store() {
    pg_slow_log(Some(pg_store("mon_store_pg").await), "mon_big_pgstore").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_slow_query_log_on_sqlite() {
    my_slow_log(None, "big_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_slow_query_log_on_postgres_store() {
    my_slow_log(Some(pg_store("mon_store_my").await), "big_pgstore").await;
}

/// `switchyard_queries_total` summed by (engine, type, outcome).
fn query_counts(body: &str) -> BTreeMap<(String, String, String), f64> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut out = BTreeMap::new();
    for s in scrape.samples.iter().filter(|s| s.metric == "switchyard_queries_total") {
        let key = (
            s.labels.get("engine").unwrap_or_default().to_string(),
            s.labels.get("type").unwrap_or_default().to_string(),
            s.labels.get("outcome").unwrap_or_default().to_string(),
        );
        if let prometheus_parse::Value::Counter(v) = s.value {
            *out.entry(key).or_insert(0.0) += v;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counters_move_by_exactly_the_queries_sent() {
    let _pg = common::pg().await.share_replica().await.expect("replica up");
    let _my = common::my().await.share_replica().await.expect("replica up");
    let pg_proxy = TestProxy::postgres().await;
    let my_proxy = TestProxy::mysql().await;
    let my_cluster = my_proxy.config.mysql.clone();
    let p = pg_proxy
        .with(|c| {
            c.listen.metrics = "127.0.0.1:0".into();
            c.listen.mysql = "127.0.0.1:0".into();
            c.mysql = my_cluster;
            c.users.push(switchyard::config::User {
                name: "root".into(),
                auth: switchyard::config::AuthMethod::Trust,
                ..Default::default()
            });
        })
        .start()
        .await;
    let addr = p.handle.metrics_addr.expect("metrics listener");
    assert_eq!(request(addr, "GET", "/healthz").await.status, 200);
    assert_eq!(request(addr, "GET", "/readyz").await.status, 200);

    let c = p.pg("postgres", "postgres").await;
    let mut m = p.my("root", None, None).await;
    c.simple_query("SELECT 1").await.unwrap(); // warm up: pools exist, so the families appear
    m.query_drop("SELECT 1").await.unwrap();
    let before = query_counts(&request(addr, "GET", "/metrics").await.body);
    for i in 0..7 {
        c.simple_query(&format!("SELECT {i}")).await.unwrap();
    }
    for _ in 0..3 {
        assert!(c.simple_query("SELECT 1/0").await.is_err());
    }
    for i in 0..5 {
        m.query_drop(format!("SELECT {i}")).await.unwrap();
    }
    m.query_drop("DO 1").await.unwrap();
    let reply = request(addr, "GET", "/metrics").await;
    assert_eq!(reply.status, 200);
    let after = query_counts(&reply.body);
    let moved = |engine: &str, kind: &str, outcome: &str| {
        let key = (engine.to_string(), kind.to_string(), outcome.to_string());
        after.get(&key).copied().unwrap_or(0.0) - before.get(&key).copied().unwrap_or(0.0)
    };
    assert_eq!(moved("postgres", "select", "ok"), 7.0, "{after:?}");
    assert_eq!(moved("postgres", "select", "error"), 3.0, "{after:?}");
    assert_eq!(moved("mysql", "select", "ok"), 5.0, "{after:?}");
    assert_eq!(moved("mysql", "call", "ok") + moved("mysql", "other", "ok"), 1.0, "{after:?}");
    for family in ["switchyard_query_duration_seconds", "switchyard_pool_utilisation_ratio", "switchyard_build_info"] {
        assert!(reply.body.contains(family), "{family} missing");
    }
    m.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_write_metrics_pool_and_digest_rows() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.with(slow_everything(None)).start().await;
    let c = p.pg("postgres", "postgres").await;
    for i in 0..10 {
        c.simple_query(&format!("SELECT {i} + 1")).await.unwrap();
    }
    let written = p.handle.telemetry.snapshot_to_store();
    assert!(written >= 3, "a metrics row, a pool row and a digest row at least: {written}");
    p.handle.telemetry.settle().await;
    let store = p.handle.store.as_ref().unwrap();
    let metrics = store.metrics(Some("postgres"), 10).await.unwrap();
    assert_eq!(metrics.len(), 1);
    let m = &metrics[0];
    assert_eq!((m.total_queries, m.slow_queries, m.errors), (10, 10, 0), "{m:?}");
    assert!(m.avg_query_time_ms > 0.0 && m.queries_per_second > 0.0, "{m:?}");
    let pools = store.pool_stats(10).await.unwrap();
    let read = pools.iter().find(|r| r.server == "replica1").expect("the replica's pool");
    assert_eq!((read.role.as_str(), read.checkouts), ("read", 10));
    let digests = store.digests(10).await.unwrap();
    let d = digests.iter().find(|d| d.normalized == "select ? + ?").expect("the digest");
    assert_eq!((d.calls, d.slow, d.query_type.as_str()), (10, 10, "select"));
    assert!(d.p50_ms > 0.0 && d.p99_ms >= d.p50_ms, "{d:?}");

    // The next snapshot counts only what ran since.
    c.simple_query("SELECT 42").await.unwrap();
    p.handle.telemetry.snapshot_to_store();
    p.handle.telemetry.settle().await;
    let metrics = store.metrics(Some("postgres"), 10).await.unwrap();
    assert_eq!(metrics[0].total_queries, 1, "newest first: {metrics:?}");
}
