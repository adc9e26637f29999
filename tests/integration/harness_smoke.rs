//! Smoke tests of the harness itself: both clusters start, replicate, authenticate their password users the
//! way they should, survive a replica stop/start and a paused replay, and the watchdog cleans up.
//!
//! Deliberately not here: anything about the proxy.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::common::{self, HarnessError};

/// Bound for every wait on replication in these tests.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn pg_primary_replicates_to_hot_standby() -> anyhow::Result<()> {
    let pg = common::pg().await;
    let _replica_up = pg.share_replica().await?;
    let primary = common::pg_client(pg.primary, "postgres", "postgres").await;
    let replica = common::pg_client(pg.replica, "postgres", "postgres").await;
    let in_recovery = |row: tokio_postgres::Row| row.get::<_, bool>(0);
    assert!(!in_recovery(primary.query_one("SELECT pg_is_in_recovery()", &[]).await?));
    assert!(in_recovery(replica.query_one("SELECT pg_is_in_recovery()", &[]).await?));

    primary.batch_execute("CREATE TABLE smoke_pg (id int PRIMARY KEY, note text)").await?;
    primary.execute("INSERT INTO smoke_pg VALUES (1, 'from primary')", &[]).await?;
    let note: String = common::poll_until("row on the PostgreSQL replica", WAIT, async || {
        // Until the CREATE TABLE is replayed the query fails; that is "not yet" too.
        let row = replica.query_opt("SELECT note FROM smoke_pg WHERE id = 1", &[]).await?;
        Ok::<_, tokio_postgres::Error>(row.map(|row| row.get(0)))
    })
    .await?;
    assert_eq!(note, "from primary");

    let write = replica.execute("INSERT INTO smoke_pg VALUES (2, 'on replica')", &[]).await;
    let code = write.err().and_then(|err| err.code().cloned());
    assert_eq!(code, Some(tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION));
    Ok(())
}

#[tokio::test]
async fn pg_password_roles_need_their_method() -> anyhow::Result<()> {
    let pg = common::pg().await;
    let admin = common::pg_client(pg.primary, "postgres", "postgres").await;
    let stored: String = admin
        .query_one("SELECT rolpassword FROM pg_authid WHERE rolname = $1", &[&common::PG_SCRAM_USER])
        .await?
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$"), "scram role stored as {stored:.16}");
    let stored: String =
        admin.query_one("SELECT rolpassword FROM pg_authid WHERE rolname = $1", &[&common::PG_MD5_USER]).await?.get(0);
    assert!(stored.starts_with("md5"), "md5 role stored as {stored:.6}");

    for (user, password) in
        [(common::PG_SCRAM_USER, common::PG_SCRAM_PASSWORD), (common::PG_MD5_USER, common::PG_MD5_PASSWORD)]
    {
        let client = common::pg_connect(pg.primary, user, Some(password), "postgres").await?;
        let who: String = client.query_one("SELECT current_user::text", &[]).await?.get(0);
        assert_eq!(who, user);
        client.batch_execute(&format!("CREATE TABLE smoke_owned_by_{user} (id int)")).await?;

        let wrong = common::pg_connect(pg.primary, user, Some("wrong"), "postgres").await;
        let code = wrong.err().and_then(|err| err.code().cloned());
        assert_eq!(code, Some(tokio_postgres::error::SqlState::INVALID_PASSWORD), "{user} with a wrong password");
    }
    Ok(())
}

#[tokio::test]
async fn pg_replica_pauses_stops_and_comes_back() -> anyhow::Result<()> {
    let pg = common::pg().await;
    let _owned = pg.own_replica().await?;
    let primary = common::pg_client(pg.primary, "postgres", "postgres").await;
    primary.batch_execute("CREATE TABLE smoke_pg_lag (id int)").await?;
    pg.sync_replica().await?;

    pg.pause_replay().await?;
    primary.execute("INSERT INTO smoke_pg_lag VALUES (1)", &[]).await?;
    pg.wait_received().await?;
    let replica = common::pg_client(pg.replica, "postgres", "postgres").await;
    let count = |row: tokio_postgres::Row| row.get::<_, i64>(0);
    assert_eq!(count(replica.query_one("SELECT count(*) FROM smoke_pg_lag", &[]).await?), 0, "replay is paused");
    pg.resume_replay().await?;
    pg.sync_replica().await?;
    assert_eq!(count(replica.query_one("SELECT count(*) FROM smoke_pg_lag", &[]).await?), 1);

    pg.stop_replica().await?;
    assert!(common::pg_connect(pg.replica, "postgres", None, "postgres").await.is_err(), "replica is down");
    primary.execute("INSERT INTO smoke_pg_lag VALUES (2)", &[]).await?;
    pg.start_replica().await?;
    pg.sync_replica().await?;
    let replica = common::pg_client(pg.replica, "postgres", "postgres").await;
    assert_eq!(count(replica.query_one("SELECT count(*) FROM smoke_pg_lag", &[]).await?), 2, "caught up after restart");
    Ok(())
}

#[tokio::test]
async fn my_primary_replicates_to_read_only_replica() -> anyhow::Result<()> {
    let my = common::my().await;
    let _replica_up = my.share_replica().await?;
    let mut primary = common::my_conn(my.primary, "root", None).await;
    let mut replica = common::my_conn(my.replica, "root", None).await;
    assert_eq!(primary.query_first::<i64, _>("SELECT @@read_only").await?, Some(0));
    assert_eq!(replica.query_first::<i64, _>("SELECT @@read_only").await?, Some(1));

    primary.query_drop("CREATE DATABASE smoke_my").await?;
    primary.query_drop("CREATE TABLE smoke_my.t (id INT PRIMARY KEY, note VARCHAR(32))").await?;
    primary.query_drop("INSERT INTO smoke_my.t VALUES (1, 'from primary')").await?;
    let note: String = common::poll_until("row on the MariaDB replica", WAIT, async || {
        replica.query_first::<String, _>("SELECT note FROM smoke_my.t WHERE id = 1").await
    })
    .await?;
    assert_eq!(note, "from primary");
    let status = common::slave_status(&mut replica).await?.ok_or(anyhow::anyhow!("replica has no slave status"))?;
    assert_eq!((status.io_running.as_str(), status.sql_running.as_str()), ("Yes", "Yes"));

    // The application user exists on the replica (replicated) and is refused writes there.
    let native = common::my_connect(my.replica, common::MY_NATIVE_USER, Some(common::MY_NATIVE_PASSWORD), None).await;
    let mut native = native?;
    let who: Option<String> = native.query_first("SELECT CURRENT_USER()").await?;
    assert_eq!(who.as_deref(), Some("sy_native@%"));
    match native.query_drop("INSERT INTO smoke_my.t VALUES (2, 'on replica')").await {
        Err(mysql_async::Error::Server(err)) => assert_eq!(err.code, 1290, "read-only refusal: {}", err.message),
        other => panic!("a write on the replica should be refused, got {other:?}"),
    }
    primary.disconnect().await?;
    replica.disconnect().await?;
    native.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn my_native_user_needs_its_password() -> anyhow::Result<()> {
    let my = common::my().await;
    let mut root = common::my_conn(my.primary, "root", None).await;
    let plugin: Option<String> = root
        .exec_first("SELECT plugin FROM mysql.user WHERE user = ? AND host = '%'", (common::MY_NATIVE_USER,))
        .await?;
    assert_eq!(plugin.as_deref(), Some("mysql_native_password"));
    let ok = common::my_connect(my.primary, common::MY_NATIVE_USER, Some(common::MY_NATIVE_PASSWORD), None).await?;
    ok.disconnect().await?;
    let wrong = common::my_connect(my.primary, common::MY_NATIVE_USER, Some("wrong"), None).await;
    match wrong {
        Err(mysql_async::Error::Server(err)) => assert_eq!(err.code, 1045, "access denied"),
        other => panic!("wrong password should be refused, got {other:?}"),
    }
    root.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn my_replica_pauses_stops_and_comes_back() -> anyhow::Result<()> {
    let my = common::my().await;
    let _owned = my.own_replica().await?;
    let mut primary = common::my_conn(my.primary, "root", None).await;
    primary.query_drop("CREATE DATABASE smoke_my_lag").await?;
    primary.query_drop("CREATE TABLE smoke_my_lag.t (id INT)").await?;
    my.sync_replica().await?;

    my.pause_replay().await?;
    primary.query_drop("INSERT INTO smoke_my_lag.t VALUES (1)").await?;
    my.wait_received().await?;
    let mut replica = common::my_conn(my.replica, "root", None).await;
    let count = "SELECT COUNT(*) FROM smoke_my_lag.t";
    assert_eq!(replica.query_first::<i64, _>(count).await?, Some(0), "SQL thread is stopped");
    my.resume_replay().await?;
    my.sync_replica().await?;
    assert_eq!(replica.query_first::<i64, _>(count).await?, Some(1));
    replica.disconnect().await?;

    my.stop_replica().await?;
    assert!(common::my_connect(my.replica, "root", None, None).await.is_err(), "replica is down");
    primary.query_drop("INSERT INTO smoke_my_lag.t VALUES (2)").await?;
    my.start_replica().await?;
    my.sync_replica().await?;
    let mut replica = common::my_conn(my.replica, "root", None).await;
    assert_eq!(replica.query_first::<i64, _>(count).await?, Some(2), "caught up after restart");
    replica.disconnect().await?;
    primary.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn pg_share_replica_repairs_what_a_failed_test_left() -> anyhow::Result<()> {
    let pg = common::pg().await;
    {
        let _owned = pg.own_replica().await?;
        pg.pause_replay().await?;
        // A test that fails here would leave replay paused.
    }
    let _shared = pg.share_replica().await?;
    let replica = common::pg_client(pg.replica, "postgres", "postgres").await;
    let paused: bool = replica.query_one("SELECT pg_is_wal_replay_paused()", &[]).await?.get(0);
    assert!(!paused, "share_replica resumed replay");
    pg.sync_replica().await?;
    Ok(())
}

#[tokio::test]
async fn my_share_replica_repairs_what_a_failed_test_left() -> anyhow::Result<()> {
    let my = common::my().await;
    {
        let _owned = my.own_replica().await?;
        my.stop_replica().await?;
        // A test that fails here would leave the replica down.
    }
    let _shared = my.share_replica().await?;
    let mut replica = common::my_conn(my.replica, "root", None).await;
    assert_eq!(replica.query_first::<i64, _>("SELECT @@read_only").await?, Some(1));
    let status = common::slave_status(&mut replica).await?.ok_or(anyhow::anyhow!("replica has no slave status"))?;
    assert_eq!((status.io_running.as_str(), status.sql_running.as_str()), ("Yes", "Yes"));
    replica.disconnect().await?;
    my.sync_replica().await?;
    Ok(())
}

#[test]
fn dropped_watchdog_kills_servers_and_removes_dir() -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("switchyard-it-watchdog-test-").tempdir()?.keep();
    let fake_dir = dir.join("fake");
    std::fs::create_dir(&fake_dir)?;
    // A stand-in server whose command line names the directory, as postgres's and mariadbd's do.
    let mut server =
        std::process::Command::new("sh").args(["-c", "while :; do sleep 1; done", "fake-server"]).arg(&dir).spawn()?;
    std::fs::write(fake_dir.join("mariadbd.pid"), format!("{}\n", server.id()))?;
    std::fs::write(dir.join("owner"), std::process::id().to_string())?;

    let watchdog = common::Watchdog::spawn(&dir)?;
    assert!(dir.exists());
    drop(watchdog);

    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = server.try_wait()? {
            break status;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "fake server still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "fake server was killed");
    while dir.exists() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "{} not removed", dir.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn harness_error_names_what_timed_out() {
    let err = HarnessError::Timeout { what: "x".into(), waited: Duration::from_secs(1), last: "y".into() };
    assert!(err.to_string().contains("waiting for x"));
}
