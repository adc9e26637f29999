//! The query monitor on both engines: per-type slow thresholds (defaults, the seed's environment variable, a
//! runtime change), digests shared by statements that differ only in literals or IN-list length, per-digest
//! calls / errors / rows / percentiles from a controlled workload, and the digest bound with evictions counted.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use switchyard::classify::{Dialect, digest};
use switchyard::config::Config;
use switchyard::monitor::Monitor;

use crate::common;
use crate::proxy::TestProxy;

/// The `[monitor]` section as `proxy.toml` plus `env` would give it.
fn monitor_with_env(env: &[(&str, &str)]) -> switchyard::config::Monitor {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::parse("", &env).expect("valid").monitor
}

fn slow_texts(monitor: &Monitor) -> Vec<String> {
    monitor.slow_queries(100).into_iter().map(|q| q.sql).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_thresholds_per_type_and_from_the_seed_variable() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.start().await;
    let c = p.pg("postgres", "postgres").await;
    c.batch_execute("DROP TABLE IF EXISTS mon_pg_upd; CREATE TABLE mon_pg_upd (id int PRIMARY KEY, v int); INSERT INTO mon_pg_upd VALUES (1, 0)")
        .await
        .unwrap();
    c.simple_query("SELECT pg_sleep(1.2)").await.unwrap();
    c.simple_query("SELECT pg_sleep(0.8)").await.unwrap();
    let update = "UPDATE mon_pg_upd SET v = v + 1 FROM pg_sleep(0.6) WHERE id = 1";
    c.simple_query(update).await.unwrap();

    let slow = p.handle.monitor.slow_queries(100);
    let texts: Vec<&str> = slow.iter().map(|q| q.sql.as_str()).collect();
    assert!(texts.contains(&"SELECT pg_sleep(1.2)"), "{texts:?}");
    assert!(!texts.contains(&"SELECT pg_sleep(0.8)"), "0.8 s is under the 1 s select threshold: {texts:?}");
    let upd = slow.iter().find(|q| q.sql == update).expect("the 0.6 s UPDATE is slow under 500 ms");
    assert_eq!((upd.kind, upd.pool, upd.rows, upd.engine), ("update", "write", 1, "postgres"));
    assert_eq!(upd.threshold, Duration::from_millis(500));
    let sel = slow.iter().find(|q| q.sql == "SELECT pg_sleep(1.2)").unwrap();
    assert!(sel.duration >= Duration::from_millis(1200), "{:?}", sel.duration);
    assert_eq!((sel.kind, sel.user.as_str(), sel.database.as_str()), ("select", "postgres", "postgres"));

    // DB_SLOW_UPDATE_THRESHOLD=1000, as the seed's .env would set it, applied by a reload.
    let monitor = monitor_with_env(&[("DB_SLOW_UPDATE_THRESHOLD", "1000")]);
    assert_eq!(monitor.slow_threshold_ms.get("update"), Some(&1000));
    let mut config = p.handle.config().as_ref().clone();
    config.monitor = monitor;
    p.handle.reload(config);
    p.handle.monitor.reset();
    c.simple_query(update).await.unwrap();
    assert!(p.handle.monitor.slow_queries(100).is_empty(), "0.6 s is under the raised threshold");
    let totals = p.handle.monitor.type_totals();
    let updates = totals.iter().find(|(e, k, _)| *e == Dialect::Postgres && k.as_str() == "update").unwrap().2;
    assert_eq!((updates.calls, updates.slow), (1, 0));

    // A runtime change applies to the next statement.
    p.handle.monitor.set_threshold("select", Duration::from_millis(100));
    c.simple_query("SELECT pg_sleep(0.15)").await.unwrap();
    assert_eq!(slow_texts(&p.handle.monitor), vec!["SELECT pg_sleep(0.15)".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_thresholds_per_type_and_from_the_seed_variable() {
    let _replica = common::my().await.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.start().await;
    let mut c = p.my("root", None, None).await;
    c.query_drop("CREATE DATABASE IF NOT EXISTS mon_my").await.unwrap();
    c.query_drop("CREATE OR REPLACE TABLE mon_my.upd (id INT PRIMARY KEY, v INT)").await.unwrap();
    c.query_drop("INSERT INTO mon_my.upd VALUES (1, 0)").await.unwrap();
    c.query_drop("SELECT SLEEP(1.2)").await.unwrap();
    c.query_drop("SELECT SLEEP(0.8)").await.unwrap();
    let update = "UPDATE mon_my.upd SET v = v + 1 WHERE id = 1 AND SLEEP(0.6) = 0";
    c.query_drop(update).await.unwrap();

    let slow = p.handle.monitor.slow_queries(100);
    let texts: Vec<&str> = slow.iter().map(|q| q.sql.as_str()).collect();
    assert!(texts.contains(&"SELECT SLEEP(1.2)"), "{texts:?}");
    assert!(!texts.contains(&"SELECT SLEEP(0.8)"), "{texts:?}");
    let upd = slow.iter().find(|q| q.sql == update).expect("the 0.6 s UPDATE is slow under 500 ms");
    assert_eq!((upd.kind, upd.pool, upd.rows, upd.engine), ("update", "write", 1, "mysql"));

    let mut config = p.handle.config().as_ref().clone();
    config.monitor = monitor_with_env(&[("DB_SLOW_UPDATE_THRESHOLD", "1000")]);
    p.handle.reload(config);
    p.handle.monitor.reset();
    c.query_drop(update).await.unwrap();
    assert!(p.handle.monitor.slow_queries(100).is_empty(), "0.6 s is under the raised threshold");

    // The slow log names the database the client is in now (after USE), as EXPLAIN needs it.
    c.query_drop("USE mon_my").await.unwrap();
    p.handle.monitor.set_threshold("select", Duration::ZERO);
    c.query_drop("SELECT 1 AS in_db").await.unwrap();
    let q = &p.handle.monitor.slow_queries(1)[0];
    assert_eq!((q.sql.as_str(), q.database.as_str(), q.user.as_str()), ("SELECT 1 AS in_db", "mon_my", "root"));
    c.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_digests_merge_literals_and_count_a_controlled_workload() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.start().await;
    let c = p.pg("postgres", "postgres").await;
    for sql in [
        "SELECT relname FROM pg_class WHERE oid = 1",
        "select relname from pg_class where oid=2",
        "SELECT relname FROM pg_class WHERE oid IN (1, 2, 3)",
        "SELECT relname FROM pg_class WHERE oid IN (4, 5)",
    ] {
        c.simple_query(sql).await.unwrap();
    }
    let digests = p.handle.monitor.digests();
    let by_eq = digest::fingerprint("SELECT relname FROM pg_class WHERE oid = 1");
    let by_in = digest::fingerprint("SELECT relname FROM pg_class WHERE oid IN (1, 2, 3)");
    let eq = digests.iter().find(|d| d.fingerprint == by_eq).expect("= digest");
    let inl = digests.iter().find(|d| d.fingerprint == by_in).expect("IN digest");
    assert_eq!((eq.calls, inl.calls), (2, 2));
    assert_eq!(eq.normalized, "select relname from pg_class where oid = ?");
    assert_eq!(inl.normalized, "select relname from pg_class where oid in (?)");

    // 1,000 executions of one prepared statement: every tenth sleeps 20 ms, the rest 1 ms; ten divide by zero.
    let stmt = c.prepare("SELECT pg_sleep($1::float8), 10 / $2::int").await.unwrap();
    let mut failed = 0;
    for i in 0..1000 {
        let sleep: f64 = if i % 10 == 9 { 0.02 } else { 0.001 };
        let divisor: i32 = if i % 100 == 7 { 0 } else { 1 };
        if c.query(&stmt, &[&sleep, &divisor]).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 10);
    let fp = digest::fingerprint("SELECT pg_sleep($1::float8), 10 / $2::int");
    let d = p.handle.monitor.digest(Dialect::Postgres, fp).expect("workload digest");
    assert_eq!((d.calls, d.errors, d.rows), (1000, 10, 990));
    let ms = |q: f64| d.percentile_us(q) as f64 / 1000.0;
    assert!((1.0..10.0).contains(&ms(0.5)), "p50 {} ms", ms(0.5));
    assert!((20.0..80.0).contains(&ms(0.95)), "p95 {} ms", ms(0.95));
    assert!((20.0..80.0).contains(&ms(0.99)), "p99 {} ms", ms(0.99));
    assert!(d.max_us >= 20_000 && d.min() >= 1_000, "min {} max {}", d.min(), d.max_us);
    let worst = d.worst.as_ref().expect("worst sample");
    assert_eq!(worst.params.len(), 2, "the worst sample keeps its bound parameters: {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_digests_merge_literals_and_the_bound_evicts() {
    let _replica = common::my().await.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.with(|c| c.monitor.max_digests = 100).start().await;
    let mut c = p.my("root", None, None).await;
    for sql in [
        "SELECT user FROM mysql.user WHERE user = 'a'",
        "SELECT user FROM mysql.user WHERE user = 'b'",
        "SELECT user FROM mysql.user WHERE user IN ('a', 'b', 'c')",
        "SELECT user FROM mysql.user WHERE user IN ('d')",
    ] {
        c.query_drop(sql).await.unwrap();
    }
    let eq = digest::fingerprint_for(Dialect::MySql, "SELECT user FROM mysql.user WHERE user = 'a'");
    let inl = digest::fingerprint_for(Dialect::MySql, "SELECT user FROM mysql.user WHERE user IN ('a', 'b', 'c')");
    assert_eq!(p.handle.monitor.digest(Dialect::MySql, eq).map(|d| d.calls), Some(2));
    assert_eq!(p.handle.monitor.digest(Dialect::MySql, inl).map(|d| d.calls), Some(2));

    // Prepared statements through the binary protocol: calls, rows and the bound parameters of the worst.
    let stmt = c.prep("SELECT SLEEP(?), ? + 1").await.unwrap();
    for i in 0..50 {
        let sleep = if i == 49 { 0.05 } else { 0.0 };
        let _: Vec<(i64, i64)> = c.exec(&stmt, (sleep, i)).await.unwrap();
    }
    let fp = digest::fingerprint_for(Dialect::MySql, "SELECT SLEEP(?), ? + 1");
    let d = p.handle.monitor.digest(Dialect::MySql, fp).expect("prepared digest");
    assert_eq!((d.calls, d.rows, d.errors), (50, 50, 0));
    let worst = d.worst.as_ref().expect("worst sample");
    assert_eq!(worst.params, vec![Some("0.05".to_string()), Some("49".to_string())]);

    // 1,000 distinct shapes against a bound of 100.
    p.handle.monitor.reset();
    for i in 0..1000 {
        c.query_drop(format!("SELECT 1 AS c{i}")).await.unwrap();
    }
    let (tracked, evicted) = p.handle.monitor.digest_counts();
    assert_eq!((tracked, evicted), (100, 900));
    let bytes: usize = p.handle.monitor.digests().iter().map(|d| d.histogram_bytes() + d.normalized.len()).sum();
    assert!(bytes < 4 * 1024 * 1024, "100 digests hold {bytes} bytes");
    c.disconnect().await.unwrap();
}
