//! Transaction pooling under load: many clients over few backends, prepared statements that follow clients
//! across backends, session SETs replayed and isolated, pool exhaustion.

use std::time::{Duration, Instant};

use crate::common;
use crate::proxy::{TestProxy, sqlstate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_two_hundred_transactions_over_five_backends() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.with(|c| c.pool.max_connections = 5).start().await;
    let setup = p.pg("postgres", "postgres").await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS conc; CREATE TABLE conc (client int, i int, v text, PRIMARY KEY (client, i))",
        )
        .await
        .unwrap();
    // Reads of the new table go to the replica: let it replay the CREATE first.
    common::pg().await.sync_replica().await.expect("replica caught up");
    let mut tasks = Vec::new();
    for client in 0..50i32 {
        let url = p.pg_url("postgres", "postgres");
        tasks.push(tokio::spawn(async move {
            let c = crate::proxy::connect(&url).await.expect("connect");
            let insert = c.prepare("INSERT INTO conc (client, i, v) VALUES ($1, $2, $3)").await.unwrap();
            let count = c.prepare("SELECT count(*) FROM conc WHERE client = $1").await.unwrap();
            let echo = c.prepare("SELECT $1::int * 2").await.unwrap();
            for i in 0..200i32 {
                match i % 3 {
                    0 => {
                        let tx = c.simple_query("BEGIN").await.unwrap();
                        drop(tx);
                        c.execute(&insert, &[&client, &i, &format!("c{client}-{i}")]).await.unwrap();
                        let n: i64 = c.query_one(&count, &[&client]).await.unwrap().get(0);
                        assert_eq!(n, i64::from(i / 3 + 1), "client {client} sees its own rows in its transaction");
                        c.simple_query("COMMIT").await.unwrap();
                    }
                    1 => {
                        let v: i32 = c.query_one(&echo, &[&i]).await.unwrap().get(0);
                        assert_eq!(v, i * 2);
                    }
                    _ => {
                        let rows = c.query("SELECT $1::text || 'x'", &[&format!("{client}:{i}")]).await.unwrap();
                        assert_eq!(rows[0].get::<_, String>(0), format!("{client}:{i}x"));
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let rows = setup
        .query("/* switchyard: route=write */ SELECT client, count(*) FROM conc GROUP BY client", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    for r in rows {
        assert_eq!(r.get::<_, i64>(1), 67, "every committed insert is there");
    }
    assert!(p.max_active_seen("primary") <= 5, "primary pool held {}", p.max_active_seen("primary"));
    assert!(p.max_active_seen("replica1") <= 5, "replica pool held {}", p.max_active_seen("replica1"));
    assert!(p.max_active_seen("primary") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_follow_their_client_and_no_other() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.with(|c| c.pool.max_connections = 2).start().await;
    let a = p.pg("postgres", "postgres").await;
    let b = p.pg("postgres", "postgres").await;
    a.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS sy_a; DROP TABLE IF EXISTS sy_a.marker; CREATE TABLE sy_a.marker (v text); \
         INSERT INTO sy_a.marker VALUES ('a')",
    )
    .await
    .unwrap();
    a.batch_execute("SET search_path = sy_a, public").await.unwrap();
    a.batch_execute("SET statement_timeout = '200ms'").await.unwrap();
    for _ in 0..10 {
        // Each transaction may land on another backend; the settings must come along.
        a.batch_execute("BEGIN").await.unwrap();
        let v: String = a.query_one("SELECT v FROM marker", &[]).await.unwrap().get(0);
        assert_eq!(v, "a");
        a.batch_execute("COMMIT").await.unwrap();
        let e = a.batch_execute("/* switchyard: route=write */ SELECT pg_sleep(0.5)").await.unwrap_err();
        assert_eq!(sqlstate(&e).as_deref(), Some("57014"), "statement_timeout applies: {e}");
        let sp: String = b.query_one("SHOW search_path", &[]).await.unwrap().get(0);
        assert_eq!(sp, "\"$user\", public", "client b never sees a's search_path");
        b.batch_execute("/* switchyard: route=write */ SELECT pg_sleep(0.3)")
            .await
            .expect("b has no statement_timeout");
    }
    a.batch_execute("RESET statement_timeout").await.unwrap();
    a.batch_execute("/* switchyard: route=write */ SELECT pg_sleep(0.3)").await.expect("reset applies");
    a.batch_execute("BEGIN; SET search_path = public; ROLLBACK").await.unwrap();
    let sp: String = a.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(sp, "sy_a, public", "a SET rolled back with its transaction is not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhausted_client_gets_error_after_checkout_timeout() {
    let p = TestProxy::postgres()
        .await
        .with(|c| {
            c.pool.max_connections = 1;
            c.pool.connection_timeout = Duration::from_millis(500);
        })
        .start()
        .await;
    let holder = p.pg("postgres", "postgres").await;
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let waiter = p.pg("postgres", "postgres").await;
    let start = Instant::now();
    let e = waiter.batch_execute("/* switchyard: route=write */ SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("53300"), "{e}");
    assert!(start.elapsed() >= Duration::from_millis(450), "waited for the checkout timeout");
    holder.batch_execute("COMMIT").await.unwrap();
    waiter.batch_execute("/* switchyard: route=write */ SELECT 1").await.expect("served once a backend is free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_cache_limit_closes_the_least_recently_used() {
    let p = TestProxy::postgres()
        .await
        .with(|c| {
            c.pool.max_connections = 1;
            c.pool.prepared_statement_cache = 2;
        })
        .start()
        .await;
    let c = p.pg("postgres", "postgres").await;
    let mut stmts = Vec::new();
    for i in 0..5 {
        stmts.push(c.prepare(&format!("/* switchyard: route=write */ SELECT $1::int + {i}")).await.unwrap());
    }
    for round in 0..3 {
        for (i, s) in stmts.iter().enumerate() {
            let v: i32 = c.query_one(s, &[&round]).await.expect("re-prepared after eviction").get(0);
            assert_eq!(v, round + i as i32);
        }
    }
    let n: i64 = c
        .query_one("/* switchyard: route=write */ SELECT count(*) FROM pg_prepared_statements", &[])
        .await
        .unwrap()
        .get(0);
    assert!(n <= 3, "the backend holds at most the cache limit (+1 for this query): {n}");
}
