//! The control port driven by the real clients: `psql` on the PostgreSQL-protocol port and `mariadb` on the
//! MySQL-protocol port run every command, and the answers are checked against live state: digests after known
//! queries, BAN / UNBAN moving reads between replica and primary, a runtime slow threshold, KILL CLIENT ending a
//! connection, PAUSE / RESUME holding and releasing a transaction, RELOAD from a file, CLEANUP, RESET, and a
//! plugged-in maintenance implementation running a real ANALYZE. Wrong passwords, unknown and malformed
//! commands get errors and the port keeps answering.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::common;
use crate::proxy::{TestProxy, eventually, run_command};

const PASSWORD: &str = "adm-secret";

/// A result as the CLI printed it: a header and rows of text (NULL shown as empty).
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }

    /// The first row whose `column` equals `value`.
    fn find(&self, column: &str, value: &str) -> Option<&Vec<String>> {
        if self.header.is_empty() {
            return None; // an empty result (the mariadb client prints no header for one)
        }
        let i = self.col(column);
        self.rows.iter().find(|r| r[i] == value)
    }

    fn get<'a>(&self, row: &'a [String], column: &str) -> &'a str {
        &row[self.col(column)]
    }
}

/// Runs `sql` with psql as `admin`; returns (success, parsed output, stderr).
async fn psql(port: u16, password: &str, sql: &str) -> (bool, Table, String) {
    let mut cmd = std::process::Command::new("psql");
    cmd.args(["-X", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "admin", "-d", "switchyard"])
        .args(["-v", "ON_ERROR_STOP=1", "-A", "-F", "\x1f", "-R", "\x1e", "-P", "footer=off", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10");
    let out = run_command(cmd, None, Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut records = stdout.trim_end_matches('\n').split('\x1e').filter(|r| !r.is_empty());
    let header = records.next().map(|h| h.split('\x1f').map(str::to_string).collect()).unwrap_or_default();
    let rows = records.map(|r| r.split('\x1f').map(str::to_string).collect()).collect();
    (out.status.success(), Table { header, rows }, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `sql` with psql and expects success.
async fn admin(port: u16, sql: &str) -> Table {
    let (ok, table, err) = psql(port, PASSWORD, sql).await;
    assert!(ok, "{sql}: {err}");
    table
}

/// Runs `sql` with the mariadb client as `admin`; returns (success, parsed output, stderr).
async fn mariadb(port: u16, password: &str, sql: &str) -> (bool, Table, String) {
    let mut cmd = std::process::Command::new("mariadb");
    cmd.arg("--no-defaults")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "admin", &format!("-p{password}")])
        .args(["--batch", "--connect-timeout=10", "-e", sql]);
    let out = run_command(cmd, None, Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().map(|h| h.split('\t').map(str::to_string).collect()).unwrap_or_default();
    let rows = lines.map(|r| r.split('\t').map(str::to_string).collect()).collect();
    (out.status.success(), Table { header, rows }, String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn my_admin(port: u16, sql: &str) -> Table {
    let (ok, table, err) = mariadb(port, PASSWORD, sql).await;
    assert!(ok, "{sql}: {err}");
    table
}

fn with_admin(c: &mut switchyard::config::Config) {
    c.listen.admin = "127.0.0.1:0".into();
    c.listen.admin_mysql = "127.0.0.1:0".into();
    c.admin.password = PASSWORD.into();
}

async fn in_recovery(c: &tokio_postgres::Client) -> Option<bool> {
    c.query_one("SELECT pg_is_in_recovery()", &[]).await.ok().map(|r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_runs_every_command_against_live_state() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.with(with_admin).start().await;
    let port = p.handle.admin_addr.expect("control port bound").port();
    let c = p.pg("postgres", "postgres").await;

    // Ten known queries: one digest with ten calls and ten rows.
    for i in 1..=10 {
        c.simple_query(&format!("SELECT 'adm' || {i} AS adm_probe")).await.unwrap();
    }
    let q = admin(port, "SHOW QUERIES ORDER BY calls DESC LIMIT 50;").await;
    let row = q.find("query", "select ? || ? as adm_probe").unwrap_or_else(|| panic!("digest listed: {q:?}"));
    assert_eq!((q.get(row, "calls"), q.get(row, "rows"), q.get(row, "errors")), ("10", "10", "0"));
    assert_eq!((q.get(row, "engine"), q.get(row, "type")), ("postgres", "select"));
    let digest = q.get(row, "digest").to_string();
    assert_eq!(digest.len(), 16);
    let limited = admin(port, "show queries limit 1").await;
    assert_eq!(limited.rows.len(), 1);

    // EXPLAIN DIGEST: the worst sample's plan from the primary, plus advice rows.
    let e = admin(port, &format!("EXPLAIN DIGEST {digest}")).await;
    assert_eq!(e.get(e.find("item", "digest").unwrap(), "value"), digest);
    let plan = e.find("item", "plan").unwrap_or_else(|| panic!("plan row: {e:?}"));
    assert!(e.get(plan, "value").contains("\"Plan\""), "{plan:?}");
    assert!(e.find("item", "suggestion").is_some());

    // Informational commands.
    let help = admin(port, "SHOW HELP").await;
    assert!(
        help.find("command", "KILL CLIENT <id>").is_some()
            && help.find("command", "SHOW QUERIES [ORDER BY <column> [ASC|DESC]] [LIMIT <n>]").is_some()
    );
    let v = admin(port, "show version").await;
    assert_eq!(v.get(&v.rows[0], "version"), env!("CARGO_PKG_VERSION"));
    let cfg = admin(port, "SHOW CONFIG").await;
    assert_eq!(cfg.get(cfg.find("key", "admin.password").unwrap(), "value"), "<redacted>");
    assert_eq!(cfg.get(cfg.find("key", "postgres.replicas[0].name").unwrap(), "value"), "replica1");
    let servers = admin(port, "SHOW SERVERS").await;
    let replica = servers.find("name", "replica1").unwrap();
    assert_eq!((servers.get(replica, "role"), servers.get(replica, "manual_ban")), ("read", "false"));
    assert_eq!(servers.get(servers.find("name", "primary").unwrap(), "role"), "write");
    let pools = admin(port, "SHOW POOLS").await;
    assert!(
        pools.rows.iter().any(|r| pools.get(r, "server") == "replica1" && pools.get(r, "user") == "postgres"),
        "{pools:?}"
    );
    let stats = admin(port, "SHOW STATS").await;
    let all = stats.rows.iter().find(|r| stats.get(r, "engine") == "postgres" && stats.get(r, "type") == "*").unwrap();
    assert!(stats.get(all, "total_queries").parse::<u64>().unwrap() >= 10, "{all:?}");
    assert_eq!(stats.get(all, "clients"), "1");

    // BAN moves reads to the primary; UNBAN brings them back.
    assert!(
        eventually(Duration::from_secs(10), || async { in_recovery(&c).await == Some(true) }).await,
        "replica serves reads"
    );
    let ban = admin(port, "BAN SERVER replica1").await;
    assert_eq!(ban.get(&ban.rows[0], "status"), "banned");
    assert_eq!(in_recovery(&c).await, Some(false), "banned replica: the read went to the primary");
    let servers = admin(port, "SHOW SERVERS").await;
    assert_eq!(servers.get(servers.find("name", "replica1").unwrap(), "manual_ban"), "true");
    admin(port, "UNBAN SERVER replica1").await;
    assert_eq!(in_recovery(&c).await, Some(true), "unbanned: reads back on the replica");

    // A runtime threshold applies to the next statement.
    let set = admin(port, "SET slow_threshold.select = 100").await;
    assert!(set.get(&set.rows[0], "detail").contains("(was 1000)"), "{set:?}");
    c.simple_query("SELECT pg_sleep(0.15)").await.unwrap();
    c.simple_query("SELECT *, pg_sleep(0.15) FROM pg_database WHERE datname = 'postgres'").await.unwrap();
    let slow = admin(port, "SHOW SLOW QUERIES LIMIT 10").await;
    let s = slow.find("query", "SELECT pg_sleep(0.15)").unwrap_or_else(|| panic!("slow: {slow:?}"));
    assert_eq!(slow.get(s, "threshold_ms"), "100");
    assert!(slow.get(s, "duration_ms").parse::<f64>().unwrap() >= 150.0);
    let sug = admin(port, "SHOW SUGGESTIONS").await;
    assert!(
        sug.rows.iter().any(|r| sug.get(r, "rule") == "select_star" && sug.get(r, "source") == "slow_log"),
        "{sug:?}"
    );

    // SET on pool sizes reaches the pools and SHOW CONFIG.
    admin(port, "SET pool.max_connections = 7").await;
    let pools = admin(port, "SHOW POOLS").await;
    assert!(pools.rows.iter().all(|r| pools.get(r, "max") == "7"), "{pools:?}");
    let cfg = admin(port, "SHOW CONFIG").await;
    assert_eq!(cfg.get(cfg.find("key", "pool.max_connections").unwrap(), "value"), "7");

    // KILL CLIENT ends exactly that client's connection.
    let victim = crate::proxy::connect(&format!("{} password=md5-secret", p.pg_url("app_md5", "postgres")))
        .await
        .expect("victim connects");
    victim.simple_query("SELECT 1").await.unwrap();
    let clients = admin(port, "SHOW CLIENTS").await;
    let row = clients.find("user", "app_md5").unwrap_or_else(|| panic!("victim listed: {clients:?}"));
    assert_eq!(clients.get(row, "state"), "idle");
    let id = clients.get(row, "id").to_string();
    admin(port, &format!("KILL CLIENT {id}")).await;
    let err = victim.simple_query("SELECT 1").await.expect_err("killed connection");
    let code = err.as_db_error().map(|e| e.code().code().to_string());
    assert!(err.is_closed() || code.as_deref() == Some("57P01"), "{err:?}");
    assert!(
        eventually(Duration::from_secs(5), || async { admin(port, "SHOW CLIENTS").await.find("id", &id).is_none() })
            .await,
        "killed client gone from SHOW CLIENTS"
    );
    c.simple_query("SELECT 1").await.expect("other clients unaffected");

    // PAUSE holds a new transaction; RESUME releases it.
    let c2 = p.pg("postgres", "postgres").await;
    admin(port, "PAUSE").await;
    let held = tokio::spawn(async move { c2.simple_query("SELECT 42").await.map(|_| ()) });
    let waiting = || async {
        let pools = p.handle.admin.execute("SHOW POOLS").await.unwrap();
        pools.rows.iter().any(|r| r[pools.columns.iter().position(|c| c == "waiting").unwrap()].as_deref() == Some("1"))
    };
    assert!(eventually(Duration::from_secs(5), waiting).await, "the transaction waits for RESUME");
    assert!(!held.is_finished());
    let resumed = admin(port, "RESUME").await;
    assert!(resumed.get(&resumed.rows[0], "detail").starts_with("resumed"), "{resumed:?}");
    tokio::time::timeout(Duration::from_secs(5), held).await.expect("released").unwrap().expect("query ran");

    // CLEANUP closes idle backends.
    let cleanup = admin(port, "CLEANUP CONNECTIONS").await;
    let total = cleanup.find("engine", "*").unwrap();
    assert!(cleanup.get(total, "closed").parse::<usize>().unwrap() >= 1, "{cleanup:?}");
    let pools = admin(port, "SHOW POOLS").await;
    assert!(pools.rows.iter().all(|r| pools.get(r, "idle") == "0"), "{pools:?}");

    // Maintenance: the proxy's own maintainer runs a real ANALYZE / VACUUM (ANALYZE) on the primary.
    let (ok, _, err) = psql(port, PASSWORD, "ANALYZE TABLE adm_no_such_table").await;
    assert!(!ok && err.contains("no table named adm_no_such_table"), "{err}");
    c.batch_execute(
        "DROP TABLE IF EXISTS adm_maint; CREATE TABLE adm_maint (id int); INSERT INTO adm_maint VALUES (1)",
    )
    .await
    .unwrap();
    let a = admin(port, "ANALYZE TABLE adm_maint").await;
    assert_eq!((a.get(&a.rows[0], "action"), a.get(&a.rows[0], "outcome")), ("analyze", "ok"));
    // Statistics views are per server: ask the primary, where the ANALYZE ran.
    let direct = common::pg_client(common::pg().await.primary, "postgres", "postgres").await;
    let analyzed = direct
        .query_one("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'adm_maint'", &[])
        .await
        .unwrap();
    assert!(analyzed.get::<_, bool>(0), "ANALYZE TABLE ran on the primary");
    let o = admin(port, "OPTIMIZE TABLE adm_maint").await;
    assert_eq!(o.get(&o.rows[0], "action"), "optimize");
    let t = admin(port, "SHOW TABLES STATUS").await;
    assert!(t.rows.iter().any(|r| t.get(r, "table") == "postgres.public.adm_maint"), "{t:?}");

    // RELOAD: without a file it says so; with one it applies it; a broken file changes nothing.
    let (ok, _, err) = psql(port, PASSWORD, "RELOAD").await;
    assert!(!ok && err.contains("no configuration file"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    let mut next = p.handle.config().as_ref().clone();
    next.pool.max_connections = 9;
    std::fs::write(&file, toml::to_string(&next).expect("config serialises")).unwrap();
    p.handle.set_config_file(file.clone());
    admin(port, "RELOAD").await;
    let cfg = admin(port, "SHOW CONFIG").await;
    assert_eq!(cfg.get(cfg.find("key", "pool.max_connections").unwrap(), "value"), "9");
    std::fs::write(&file, "[pool]\nmax_connections = \"lots\"\n").unwrap();
    let (ok, _, err) = psql(port, PASSWORD, "RELOAD").await;
    assert!(!ok && err.contains("reload refused") && err.contains("pool.max_connections"), "{err}");
    assert_eq!(p.handle.config().pool.max_connections, 9, "a bad file changes nothing");

    // RESET STATS forgets the digests.
    admin(port, "RESET STATS").await;
    assert!(admin(port, "SHOW QUERIES").await.find("query", "select ? || ? as adm_probe").is_none());

    // Errors: each gets a clear message and the port keeps answering.
    let (ok, _, err) = psql(port, "wrong", "SHOW VERSION").await;
    assert!(!ok && err.to_lowercase().contains("password authentication failed"), "{err}");
    let (ok, _, err) = psql(port, PASSWORD, "FROBNICATE").await;
    assert!(!ok && err.contains("unknown command") && err.contains("SHOW HELP"), "{err}");
    let (ok, _, err) = psql(port, PASSWORD, "KILL CLIENT abc").await;
    assert!(!ok && err.contains("expected KILL CLIENT <id>"), "{err}");
    let (ok, _, err) = psql(port, PASSWORD, "BAN SERVER nosuch").await;
    assert!(!ok && err.contains("no server named"), "{err}");
    let (ok, _, err) = psql(port, PASSWORD, "SET listen.postgres = 'x'").await;
    assert!(!ok && err.contains("settable keys"), "{err}");
    assert_eq!(admin(port, "SHOW VERSION").await.rows.len(), 1, "the port is still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_uses_the_extended_protocol() {
    let p = TestProxy::postgres().await.with(with_admin).start().await;
    let a = p.handle.admin_addr.unwrap();
    let url = format!("host={} port={} user=admin password={PASSWORD} dbname=switchyard", a.ip(), a.port());
    let c = crate::proxy::connect(&url).await.expect("admin login over SCRAM");
    let rows = c.query("SHOW SERVERS", &[]).await.expect("extended protocol");
    let names: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    assert_eq!(names, vec!["primary".to_string(), "replica1".into()]);
    let ban = c.query("BAN SERVER replica1", &[]).await.unwrap();
    assert_eq!(ban[0].get::<_, String>("status"), "banned");
    c.query("UNBAN SERVER replica1", &[]).await.unwrap();
    let err = c.query("SHOW NONSENSE", &[]).await.expect_err("unknown command");
    assert_eq!(crate::proxy::sqlstate(&err).as_deref(), Some("42601"));
    let err = c.query("KILL CLIENT 999999", &[]).await.expect_err("no such client");
    assert_eq!(crate::proxy::sqlstate(&err).as_deref(), Some("42704"));
    assert_eq!(c.query("SHOW VERSION", &[]).await.unwrap().len(), 1, "still usable after errors");
    let bad = crate::proxy::connect(&url.replace(PASSWORD, "nope")).await.expect_err("wrong password");
    assert_eq!(crate::proxy::sqlstate(&bad).as_deref(), Some("28P01"));
}

async fn server_id(c: &mut mysql_async::Conn) -> Option<i64> {
    c.query_first::<i64, _>("SELECT @@server_id").await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_runs_every_command_against_live_state() {
    let _replica = common::my().await.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.with(with_admin).start().await;
    let port = p.handle.admin_mysql_addr.expect("mysql control port bound").port();
    assert!(p.handle.admin_addr.is_some(), "both control ports run");
    let mut c = p.my("root", None, None).await;

    for i in 1..=10 {
        c.query_drop(format!("SELECT {i} + 0 AS adm_probe")).await.unwrap();
    }
    let q = my_admin(port, "SHOW QUERIES ORDER BY calls").await;
    let row = q.find("query", "select ? + ? as adm_probe").unwrap_or_else(|| panic!("digest listed: {q:?}"));
    assert_eq!((q.get(row, "calls"), q.get(row, "rows"), q.get(row, "engine")), ("10", "10", "mysql"));
    let digest = q.get(row, "digest").to_string();

    // Every command answers through the MySQL protocol too.
    // (The mariadb client prints nothing for an empty result, so only non-empty answers are looked into.)
    for (cmd, rows) in [
        ("SHOW HELP", true),
        ("SHOW VERSION", true),
        ("SHOW CONFIG", true),
        ("SHOW POOLS", true),
        ("SHOW SERVERS", true),
        ("SHOW CLIENTS", true),
        ("SHOW STATS", true),
        ("SHOW SLOW QUERIES LIMIT 5", false),
        ("SHOW SUGGESTIONS", false),
        (&format!("EXPLAIN DIGEST {digest}"), true),
        ("SET monitor.explain = on", true),
        ("CLEANUP CONNECTIONS", true),
    ] {
        let t = my_admin(port, cmd).await;
        assert!(!rows || !t.rows.is_empty(), "{cmd}: {t:?}");
    }
    let e = my_admin(port, &format!("EXPLAIN DIGEST {digest}")).await;
    assert!(e.get(e.find("item", "plan").expect("plan row"), "value").contains("query_block"), "{e:?}");
    let servers = my_admin(port, "SHOW SERVERS").await;
    assert_eq!(servers.get(servers.find("name", "replica1").unwrap(), "engine"), "mysql");

    // BAN / UNBAN move reads between the replica (server_id 2) and the primary (1).
    let start = std::time::Instant::now();
    while server_id(&mut c).await != Some(2) {
        assert!(start.elapsed() < Duration::from_secs(10), "the replica serves reads");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    my_admin(port, "BAN SERVER mysql.replica1").await;
    assert_eq!(server_id(&mut c).await, Some(1), "banned replica: the read went to the primary");
    my_admin(port, "UNBAN SERVER replica1").await;
    assert_eq!(server_id(&mut c).await, Some(2), "unbanned: reads back on the replica");

    // A runtime threshold applies to the next statement.
    my_admin(port, "SET slow_threshold.select = 100").await;
    c.query_drop("SELECT SLEEP(0.15)").await.unwrap();
    let slow = my_admin(port, "SHOW SLOW QUERIES").await;
    assert!(slow.find("query", "SELECT SLEEP(0.15)").is_some(), "{slow:?}");

    // KILL CLIENT.
    let mut victim = p.my("app_native", Some("native-pw"), None).await;
    victim.query_drop("SELECT 1").await.unwrap();
    let clients = my_admin(port, "SHOW CLIENTS").await;
    let id = clients.get(clients.find("user", "app_native").unwrap(), "id").to_string();
    my_admin(port, &format!("KILL CLIENT {id}")).await;
    assert!(victim.query_drop("SELECT 1").await.is_err(), "killed connection");

    // PAUSE / RESUME on one server's pools.
    // (Connected first: mysql_async reads server variables while connecting, which a pause would hold.)
    let mut c2 = p.my("root", None, None).await;
    my_admin(port, "PAUSE replica1").await;
    let held = tokio::spawn(async move { c2.query_drop("SELECT 42").await });
    let waiting = || async {
        let pools = p.handle.admin.execute("SHOW POOLS").await.unwrap();
        (0..pools.rows.len())
            .any(|i| pools.get(i, "server") == Some("replica1") && pools.get(i, "waiting") == Some("1"))
    };
    assert!(eventually(Duration::from_secs(5), waiting).await, "the read waits for RESUME");
    my_admin(port, "RESUME replica1").await;
    tokio::time::timeout(Duration::from_secs(5), held).await.expect("released").unwrap().expect("query ran");

    my_admin(port, "RESET STATS").await;
    assert!(my_admin(port, "SHOW QUERIES").await.find("query", "select ? + ? as adm_probe").is_none());

    // Errors keep the port up.
    let (ok, _, err) = mariadb(port, "wrong", "SHOW VERSION").await;
    assert!(!ok && err.contains("Authenticate failed"), "{err}");
    let (ok, _, err) = mariadb(port, PASSWORD, "FROBNICATE").await;
    assert!(!ok && err.contains("unknown command"), "{err}");
    let (ok, _, err) = mariadb(port, PASSWORD, "SHOW QUERIES LIMIT many").await;
    assert!(!ok && err.contains("LIMIT needs a number"), "{err}");
    let (ok, _, err) = mariadb(port, PASSWORD, "OPTIMIZE TABLE adm_no_such_table").await;
    assert!(!ok && err.contains("no table named adm_no_such_table"), "{err}");
    let (ok, t, err) = mariadb(port, PASSWORD, "SHOW VERSION").await;
    assert!(ok && t.rows.len() == 1, "still up: {err}");
    // A client that names a database at login is answered (opensrv would hang without on_init).
    let mut cmd = std::process::Command::new("mariadb");
    cmd.arg("--no-defaults")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "admin", &format!("-p{PASSWORD}"), "switchyard"])
        .args(["--batch", "-e", "SHOW VERSION"]);
    let out = run_command(cmd, None, Duration::from_secs(30)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
