//! MySQL routing as seen from the servers (`@@server_id`: 1 on the primary, 2 on the replica): reads outside a
//! transaction on the replica, START TRANSACTION and locking reads on the primary, START TRANSACTION READ ONLY on
//! the replica, and reads falling back to the primary while the replica is down, without errors.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::common;
use crate::proxy::TestProxy;

const PRIMARY: i64 = 1;
const REPLICA: i64 = 2;

async fn server_id(c: &mut mysql_async::Conn, sql: &str) -> i64 {
    match c.query_first::<i64, _>(sql).await {
        Ok(Some(id)) => id,
        other => panic!("{sql}: {other:?}"),
    }
}

/// Polls `SELECT @@server_id` every 50 ms until it answers `want` (errors count as not yet) or `limit` passes.
async fn until_server(c: &mut mysql_async::Conn, want: i64, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        if matches!(c.query_first::<i64, _>("SELECT @@server_id").await, Ok(Some(id)) if id == want) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_replica_transactions_and_locks_primary() {
    let _replica = common::my().await.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.start().await;
    let mut c = p.my("root", None, None).await;
    c.query_drop("CREATE DATABASE IF NOT EXISTS route_db").await.expect("create db");
    c.query_drop("CREATE TABLE IF NOT EXISTS route_db.t (id INT PRIMARY KEY)").await.expect("create table");
    c.query_drop("INSERT IGNORE INTO route_db.t VALUES (1)").await.expect("insert");
    common::my().await.sync_replica().await.expect("replica caught up");

    assert_eq!(server_id(&mut c, "SELECT @@server_id").await, REPLICA, "plain read goes to the replica");
    c.query_drop("START TRANSACTION").await.expect("begin");
    assert_eq!(server_id(&mut c, "SELECT @@server_id").await, PRIMARY, "inside START TRANSACTION: primary");
    c.query_drop("COMMIT").await.expect("commit");
    assert_eq!(server_id(&mut c, "SELECT @@server_id").await, REPLICA, "after COMMIT: replica again");

    c.query_drop("START TRANSACTION READ ONLY").await.expect("begin read only");
    assert_eq!(server_id(&mut c, "SELECT @@server_id").await, REPLICA, "READ ONLY transaction: replica");
    c.query_drop("COMMIT").await.expect("commit");

    let locking = "SELECT @@server_id FROM route_db.t WHERE id = 1 FOR UPDATE";
    assert_eq!(server_id(&mut c, locking).await, PRIMARY, "locking read: primary");
    let hinted = "/* switchyard: route=write */ SELECT @@server_id";
    assert_eq!(server_id(&mut c, hinted).await, PRIMARY, "write hint: primary");

    // Prepared statements route by their text too.
    let stmt = c.prep("SELECT @@server_id + ?").await.expect("prepare");
    let got: Option<i64> = c.exec_first(&stmt, (0,)).await.expect("execute");
    assert_eq!(got, Some(REPLICA), "prepared read: replica");
    c.query_drop("START TRANSACTION").await.expect("begin");
    let got: Option<i64> = c.exec_first(&stmt, (0,)).await.expect("execute in transaction");
    assert_eq!(got, Some(PRIMARY), "prepared read in a transaction: primary");
    c.query_drop("ROLLBACK").await.expect("rollback");

    // autocommit=0 keeps the client on the primary until it is switched back on.
    c.query_drop("SET autocommit = 0").await.expect("autocommit off");
    assert_eq!(server_id(&mut c, "SELECT @@server_id").await, PRIMARY, "autocommit=0: primary");
    c.query_drop("SET autocommit = 1").await.expect("autocommit on");
    assert_eq!(server_id(&mut c, "SELECT @@server_id").await, REPLICA, "autocommit=1: replica again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fall_back_to_primary_while_replica_is_down() {
    let cluster = common::my().await;
    let _replica = cluster.own_replica().await.expect("replica up");
    cluster.start_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.start().await;
    let mut c = p.my("root", None, None).await;
    let up = until_server(&mut c, REPLICA, Duration::from_secs(10)).await;
    assert!(up, "reads reach the replica first");

    cluster.stop_replica().await.expect("stop replica");
    for _ in 0..20 {
        let id = c.query_first::<i64, _>("SELECT @@server_id").await;
        assert_eq!(id.expect("no client-visible error while the replica is down"), Some(PRIMARY));
    }
    let mut fresh = p.my("root", None, None).await;
    assert_eq!(server_id(&mut fresh, "SELECT @@server_id").await, PRIMARY, "new clients read from the primary");

    cluster.start_replica().await.expect("start replica");
    let back = until_server(&mut c, REPLICA, Duration::from_secs(20)).await;
    assert!(back, "reads return to the replica once it is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_stopped_replicating_leaves_the_read_pool() {
    let cluster = common::my().await;
    let _replica = cluster.own_replica().await.expect("replica up");
    cluster.start_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.start().await;
    let mut c = p.my("root", None, None).await;
    let up = until_server(&mut c, REPLICA, Duration::from_secs(10)).await;
    assert!(up, "reads reach the replica first");
    cluster.pause_replay().await.expect("stop the SQL thread");
    let moved = until_server(&mut c, PRIMARY, Duration::from_secs(10)).await;
    cluster.resume_replay().await.expect("start the SQL thread");
    assert!(moved, "a replica whose SQL thread stopped is out of the read pool");
    let back = until_server(&mut c, REPLICA, Duration::from_secs(20)).await;
    assert!(back, "back in the read pool once replicating again");
}
