//! Routing as seen from the servers: reads on the replica, transactions, locking reads and hints on the primary,
//! and reads falling back to the primary while the replica is down.

use std::time::Duration;

use crate::common;
use crate::proxy::{TestProxy, eventually};

async fn in_recovery(c: &tokio_postgres::Client, sql: &str) -> bool {
    c.query_one(sql, &[]).await.expect("query through proxy").get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_replica_transactions_locks_and_hints_primary() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.start().await;
    let c = p.pg("postgres", "postgres").await;
    c.batch_execute("CREATE TABLE IF NOT EXISTS route_t (id int); INSERT INTO route_t VALUES (1)").await.unwrap();

    assert!(in_recovery(&c, "SELECT pg_is_in_recovery()").await, "plain read goes to the replica");
    let simple = c.simple_query("SELECT pg_is_in_recovery()::text").await.unwrap();
    let first = simple.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(first.as_deref(), Some("true"), "simple-protocol read goes to the replica");

    c.batch_execute("BEGIN").await.unwrap();
    assert!(!in_recovery(&c, "SELECT pg_is_in_recovery()").await, "inside BEGIN: primary");
    c.batch_execute("COMMIT").await.unwrap();

    assert!(!in_recovery(&c, "SELECT pg_is_in_recovery() FROM route_t LIMIT 1 FOR UPDATE").await, "FOR UPDATE");
    assert!(!in_recovery(&c, "/* switchyard: route=write */ SELECT pg_is_in_recovery()").await, "write hint");
    assert!(in_recovery(&c, "SELECT pg_is_in_recovery()").await, "back on the replica after the transaction");

    c.batch_execute("BEGIN READ ONLY").await.unwrap();
    assert!(in_recovery(&c, "SELECT pg_is_in_recovery()").await, "BEGIN READ ONLY goes to the replica");
    c.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fall_back_to_primary_while_replica_is_down() {
    let _replica = common::pg().await.own_replica().await.expect("replica up");
    let cluster = common::pg().await;
    let p = TestProxy::postgres().await.start().await;
    let c = p.pg("postgres", "postgres").await;
    assert!(in_recovery(&c, "SELECT pg_is_in_recovery()").await);

    cluster.stop_replica().await.expect("stop replica");
    for _ in 0..20 {
        let r = c.query_one("SELECT pg_is_in_recovery()", &[]).await;
        let r: bool = r.expect("no client-visible error while the replica is down").get(0);
        assert!(!r, "reads go to the primary");
    }
    cluster.start_replica().await.expect("start replica");
    let back = eventually(Duration::from_secs(20), || async {
        matches!(c.query_one("SELECT pg_is_in_recovery()", &[]).await, Ok(row) if row.get::<_, bool>(0))
    })
    .await;
    assert!(back, "reads return to the replica once it is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_window_and_analytics_pool() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let cluster = common::pg().await;
    let p = TestProxy::postgres()
        .await
        .with(|c| {
            c.routing.read_your_writes = Duration::from_millis(700);
            c.routing.analytics_tables = vec!["facts_t".into()];
            // The analytics server is the primary here, so that routing there is visible from SQL.
            c.postgres.analytics = vec![switchyard::config::ServerConfig {
                name: "olap".into(),
                addr: cluster.primary.to_string(),
                weight: 1,
            }];
        })
        .start()
        .await;
    let c = p.pg("postgres", "postgres").await;
    c.batch_execute("CREATE TABLE IF NOT EXISTS facts_t (k int, v int); CREATE TABLE IF NOT EXISTS ryw_t (id int)")
        .await
        .unwrap();
    c.execute("INSERT INTO ryw_t VALUES (1)", &[]).await.unwrap();
    assert!(!in_recovery(&c, "SELECT pg_is_in_recovery()").await, "read right after a write stays on the primary");
    let moved =
        eventually(Duration::from_secs(5), || async { in_recovery(&c, "SELECT pg_is_in_recovery()").await }).await;
    assert!(moved, "after the window, reads go back to the replica");
    let olap: bool =
        c.query_one("SELECT pg_is_in_recovery() FROM (SELECT k, sum(v) FROM facts_t GROUP BY k) s UNION ALL SELECT pg_is_in_recovery() LIMIT 1", &[])
            .await
            .unwrap()
            .get(0);
    assert!(!olap, "aggregate over an analytics table goes to the analytics server");
    assert!(p.max_active_seen("olap") >= 1, "the analytics pool served it");
}
