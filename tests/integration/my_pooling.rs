//! Transaction pooling for MySQL clients: 50 clients × 200 transactions mixing text queries and server-side
//! prepared statements over pools of at most 5 backends; every result is checked, and statement ids stay valid
//! while clients move between backends. Session variables and the current database follow a client to
//! whichever backend serves it.

use mysql_async::prelude::Queryable;

use crate::common;
use crate::proxy::{TestProxy, my_code};

const CLIENTS: i64 = 50;
const TRANSACTIONS: i64 = 200;

async fn client(p: &crate::proxy::Running, i: i64) -> Result<(), String> {
    let mut c = p.my("root", None, Some("pool_db")).await;
    let bump = c.prep("UPDATE counters SET n = n + ? WHERE id = ?").await.map_err(|e| e.to_string())?;
    let read = c.prep("SELECT n, ? FROM counters WHERE id = ?").await.map_err(|e| e.to_string())?;
    for t in 1..=TRANSACTIONS {
        c.query_drop("START TRANSACTION").await.map_err(|e| format!("begin: {e}"))?;
        c.exec_drop(&bump, (1, i)).await.map_err(|e| format!("client {i} txn {t} bump: {e}"))?;
        let (n, echo): (i64, String) = c
            .exec_first(&read, (format!("c{i}t{t}"), i))
            .await
            .map_err(|e| format!("client {i} txn {t} read: {e}"))?
            .ok_or("no row")?;
        if n != t || echo != format!("c{i}t{t}") {
            return Err(format!("client {i} txn {t}: prepared read saw n={n} echo={echo}"));
        }
        let text: Option<i64> = c
            .query_first(format!("SELECT n FROM counters WHERE id = {i}"))
            .await
            .map_err(|e| format!("client {i} txn {t} text read: {e}"))?;
        if text != Some(t) {
            return Err(format!("client {i} txn {t}: text read saw {text:?}"));
        }
        c.query_drop("COMMIT").await.map_err(|e| format!("commit: {e}"))?;
        if t % 50 == 0 {
            // Outside a transaction the prepared read may run on the replica: the row exists there too.
            let row: Option<(i64, String)> =
                c.exec_first(&read, ("out", i)).await.map_err(|e| format!("client {i} outside read: {e}"))?;
            match row {
                Some((n, echo)) if n <= t && echo == "out" => {}
                other => return Err(format!("client {i}: read outside a transaction gave {other:?}")),
            }
        }
    }
    c.disconnect().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_share_five_backends_with_prepared_statements() {
    let _replica = common::my().await.share_replica().await.expect("replica up");
    let mut admin = common::my_conn(common::my().await.primary, "root", None).await;
    admin.query_drop("DROP DATABASE IF EXISTS pool_db").await.expect("drop");
    admin.query_drop("CREATE DATABASE pool_db").await.expect("create");
    admin.query_drop("CREATE TABLE pool_db.counters (id INT PRIMARY KEY, n INT NOT NULL)").await.expect("table");
    let values: Vec<String> = (1..=CLIENTS).map(|i| format!("({i}, 0)")).collect();
    admin.query_drop(format!("INSERT INTO pool_db.counters VALUES {}", values.join(","))).await.expect("rows");
    common::my().await.sync_replica().await.expect("replica has the table");

    let p = TestProxy::mysql()
        .await
        .with(|c| {
            c.pool.max_connections = 5;
            c.pool.connection_timeout = std::time::Duration::from_secs(60);
        })
        .start()
        .await;
    let p = std::sync::Arc::new(p);
    let tasks: Vec<_> = (1..=CLIENTS)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { client(&p, i).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task").expect("client results");
    }
    let total: Option<i64> = admin.query_first("SELECT SUM(n) FROM pool_db.counters").await.expect("sum");
    assert_eq!(total, Some(CLIENTS * TRANSACTIONS), "every transaction committed once");
    let wrong: Option<i64> =
        admin.query_first(format!("SELECT COUNT(*) FROM pool_db.counters WHERE n <> {TRANSACTIONS}")).await.expect("c");
    assert_eq!(wrong, Some(0));
    assert!(p.my_max_active_seen("primary") <= 5, "at most 5 primary backends: {}", p.my_max_active_seen("primary"));
    assert!(p.my_max_active_seen("primary") >= 2, "the clients did share backends concurrently");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_variables_and_database_follow_the_client() {
    let p = TestProxy::mysql().await.with(|c| c.pool.max_connections = 1).start().await;
    let mut a = p.my("root", None, Some("mysql")).await;
    let mut b = p.my("root", None, None).await;
    a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'").await.expect("set sql_mode");
    a.query_drop("SET NAMES latin1").await.expect("set names");
    // b now gets the same (only) primary backend: it must not see a's settings.
    let hinted = "/* switchyard: route=write */ SELECT @@sql_mode, @@character_set_client, DATABASE()";
    // (A client without a database may see the database of the backend's previous client: MySQL cannot
    // unselect one. That is the documented exception.)
    let (mode, cs, _db): (String, String, Option<String>) = b.query_first(hinted).await.expect("b reads").expect("row");
    assert!(!mode.contains("ANSI_QUOTES"), "b sees the default sql_mode, not a's: {mode}");
    assert_ne!(cs, "latin1", "b keeps its own charset");
    let (mode, cs, db): (String, String, Option<String>) = a.query_first(hinted).await.expect("a reads").expect("row");
    assert_eq!(mode, "ANSI_QUOTES", "a's sql_mode was replayed");
    assert_eq!(cs, "latin1");
    assert_eq!(db.as_deref(), Some("mysql"), "a's database followed it");
    b.query_drop("USE information_schema").await.expect("use");
    let db: Option<String> = b.query_first("/* switchyard: route=write */ SELECT DATABASE()").await.expect("db");
    assert_eq!(db.as_deref(), Some("information_schema"));
    let db: Option<String> = a.query_first("/* switchyard: route=write */ SELECT DATABASE()").await.expect("db");
    assert_eq!(db.as_deref(), Some("mysql"));
    a.reset().await.expect("COM_RESET_CONNECTION");
    let mode: Option<String> = a.query_first("/* switchyard: route=write */ SELECT @@sql_mode").await.expect("mode");
    assert!(!mode.unwrap_or_default().contains("ANSI_QUOTES"), "reset clears a's variables");
}

/// A client without a current database never works in the one a previous client left selected on a shared
/// backend: it gets a neutral schema (as ProxySQL's default_schema), so an unqualified table is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_database_does_not_inherit_another_clients() {
    let p = TestProxy::mysql()
        .await
        .with(|c| {
            c.pool.max_connections = 1;
            c.routing.primary_reads = true;
            c.mysql.replicas.clear();
        })
        .start()
        .await;
    let mut a = p.my("root", None, None).await;
    a.query_drop("USE mysql").await.expect("USE");
    let n: Option<i64> = a.query_first("SELECT COUNT(*) FROM user").await.expect("a reads mysql.user");
    assert!(n.unwrap_or(0) > 0);
    let mut b = p.my("root", None, None).await;
    let db: Option<Option<String>> = b.query_first("SELECT DATABASE()").await.expect("b's database");
    assert_ne!(db.flatten().as_deref(), Some("mysql"), "b sees a's database");
    let err = b.query_drop("SELECT COUNT(*) FROM user").await.expect_err("unqualified table of a's database");
    assert!(matches!(my_code(&err), Some(1046 | 1109 | 1146)), "{err}");
    // a keeps its own database on the same (only) backend.
    let db: Option<String> = a.query_first("SELECT DATABASE()").await.expect("a's database");
    assert_eq!(db.as_deref(), Some("mysql"));
    assert_eq!(p.my_max_active_seen("primary"), 1, "one shared backend");
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
}
