//! Table maintenance, the `optimize` / `monitor` CLI (standalone: no control port configured) and the scheduler,
//! against the harness's PostgreSQL and MariaDB primaries.
//!
//! Each test keeps to its own PostgreSQL database and MariaDB schema (`maintenance.databases`), so runs in
//! parallel never lock each other's tables. Tables on PostgreSQL have autovacuum off, so only Switchyard
//! analyzes or vacuums them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use serde_json::Value;
use switchyard::config::Config;
use switchyard::maintain::{Action, Maintainer};
use switchyard::schedule::{Scheduler, SystemClock, Zone, maintenance_task, parse_cron};
use switchyard::store::Store;
use tokio_util::sync::CancellationToken;

use crate::common;

const WAIT: Duration = Duration::from_secs(60);

/// A `proxy.toml` with both harness primaries, no listeners (so no control port: standalone), maintaining only
/// `database`.
fn write_config(dir: &Path, pg: SocketAddr, my: SocketAddr, database: &str) -> PathBuf {
    let path = dir.join("proxy.toml");
    let text = format!(
        "[general]\ndata_dir = \"{data}\"\nlog_dir = \"\"\n\
         [listen]\npostgres = \"\"\nmysql = \"\"\nadmin = \"\"\nmetrics = \"\"\n\
         [[users]]\nname = \"postgres\"\nauth = \"trust\"\n\
         [postgres]\nprimary = {{ name = \"pg\", addr = \"{pg}\" }}\n\
         [mysql]\nprimary = {{ name = \"my\", addr = \"{my}\" }}\nhealth_user = \"root\"\n\
         [maintenance]\ndatabases = [\"{database}\"]\noptimize_min_free_bytes = 1048576\n",
        data = dir.join("data").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs `switchyard <args>` to completion.
async fn switchyard(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_switchyard")).args(&args).output().expect("run switchyard")
    })
    .await
    .expect("join")
}

fn args(words: &[&str], config: &Path) -> Vec<String> {
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out.push("--config".into());
    out.push(config.display().to_string());
    out
}

/// A fresh PostgreSQL database and MariaDB schema named `name`.
async fn databases(name: &str) -> (tokio_postgres::Client, mysql_async::Conn) {
    let (pg, my) = (common::pg().await, common::my().await);
    let admin = common::pg_client(pg.primary, "postgres", "postgres").await;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let pgc = common::pg_client(pg.primary, "postgres", name).await;
    let mut myc = common::my_conn(my.primary, "root", None).await;
    myc.query_drop(format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    myc.query_drop(format!("CREATE DATABASE {name}")).await.unwrap();
    myc.query_drop(format!("USE {name}")).await.unwrap();
    (pgc, myc)
}

/// The maintenance runs of a JSON `optimize` report as `(table, action, outcome)`.
fn runs(report: &Value) -> Vec<(String, String, String)> {
    let runs = report["maintenance"]["result"]["runs"].as_array().cloned().unwrap_or_default();
    runs.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("table_name"), s("action"), s("outcome"))
        })
        .collect()
}

fn json_of(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_analyze_analyzes_candidates_on_both_engines() {
    let (pg, my) = (common::pg().await, common::my().await);
    let (pgc, mut myc) = databases("sy_maint_an").await;
    pgc.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, name text) WITH (autovacuum_enabled = false);
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;",
    )
    .await
    .unwrap();
    myc.query_drop("CREATE TABLE items (id int PRIMARY KEY, name varchar(50))").await.unwrap();
    myc.query_drop("INSERT INTO items WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500) SELECT n, concat('item ', n) FROM s")
        .await
        .unwrap();
    // The insert reaches pg_stat_user_tables when the session flushes its statistics.
    common::poll_until("items' modifications in pg_stat_user_tables", WAIT, async || {
        let row =
            pgc.query_one("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'items'", &[]).await?;
        Ok::<_, tokio_postgres::Error>((row.get::<_, i64>(0) > 0).then_some(()))
    })
    .await
    .unwrap();
    let never: Option<i64> = myc
        .query_first("SELECT cardinality FROM mysql.table_stats WHERE db_name = 'sy_maint_an' AND table_name = 'items'")
        .await
        .unwrap();
    assert_eq!(never, None, "no persistent statistics before");

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), pg.primary, my.primary, "sy_maint_an");
    let out = switchyard(args(&["optimize", "--analyze", "--json"], &config)).await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["mode"], "standalone");
    assert_eq!(report["exit_code"], 0);
    let mut got = runs(&report);
    got.sort();
    let want = |t: &str| (t.to_string(), "analyze".to_string(), "ok".to_string());
    assert_eq!(got, [want("sy_maint_an.items"), want("sy_maint_an.public.items")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("[1/2] analyze"), "progress on stderr");

    let analyzed =
        pgc.query_one("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'items'", &[]);
    assert!(analyzed.await.unwrap().get::<_, bool>(0), "pg_stat_user_tables.last_analyze is set");
    let rows: Option<i64> = myc
        .query_first("SELECT cardinality FROM mysql.table_stats WHERE db_name = 'sy_maint_an' AND table_name = 'items'")
        .await
        .unwrap();
    assert_eq!(rows, Some(500), "mysql.table_stats has the table");
    let columns: Option<i64> = myc
        .query_first("SELECT count(*) FROM mysql.column_stats WHERE db_name = 'sy_maint_an' AND table_name = 'items'")
        .await
        .unwrap();
    assert_eq!(columns, Some(2), "column statistics too");

    // The outcomes are in the store, and a second run finds nothing left to do.
    let store = Store::open(&format!("sqlite://{}", dir.path().join("data/switchyard.db").display())).await.unwrap();
    let recorded = store.maintenance_runs(10).await.unwrap();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(recorded.iter().all(|r| r.action == "analyze" && r.outcome == "ok" && r.duration_ms > 0.0));
    store.close().await;
    let again = switchyard(args(&["optimize", "--analyze", "--json"], &config)).await;
    assert_eq!(runs(&json_of(&again)), [], "nothing is stale any more");
    assert_eq!(again.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_optimize_reclaims_space_after_mass_deletes() {
    let (pg, my) = (common::pg().await, common::my().await);
    let (pgc, mut myc) = databases("sy_maint_opt").await;
    pgc.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
         INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g;
         ANALYZE big;
         DELETE FROM big WHERE id > 5000;",
    )
    .await
    .unwrap();
    myc.query_drop("CREATE TABLE big (id int PRIMARY KEY, pad varchar(255)) ENGINE = InnoDB").await.unwrap();
    myc.query_drop("SET SESSION max_recursive_iterations = 100000").await.unwrap();
    myc.query_drop("INSERT INTO big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 60000) SELECT n, repeat('x', 200) FROM s")
        .await
        .unwrap();
    myc.query_drop("DELETE FROM big WHERE id > 5000").await.unwrap();

    common::poll_until("dead rows in pg_stat_user_tables", WAIT, async || {
        let row = pgc.query_one("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'big'", &[]).await?;
        Ok::<_, tokio_postgres::Error>((row.get::<_, i64>(0) >= 40_000).then_some(()))
    })
    .await
    .unwrap();
    let pg_size = async || -> i64 { pgc.query_one("SELECT pg_total_relation_size('big')", &[]).await.unwrap().get(0) };
    let pg_before = pg_size().await;
    // InnoDB frees the deleted rows' pages in the background (purge).
    let my_space = "SELECT CAST(DATA_LENGTH + DATA_FREE AS SIGNED), CAST(DATA_FREE AS SIGNED) FROM information_schema.TABLES \
                    WHERE TABLE_SCHEMA = 'sy_maint_opt' AND TABLE_NAME = 'big'";
    let my_before = common::poll_until("InnoDB purge frees the deleted pages", WAIT, async || {
        let mut c = common::my_conn(my.primary, "root", None).await;
        let row: Option<(i64, i64)> = c.query_first(my_space).await?;
        Ok::<_, mysql_async::Error>(row.filter(|(_, free)| *free >= 8 << 20).map(|(total, _)| total))
    })
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), pg.primary, my.primary, "sy_maint_opt");
    let out = switchyard(args(&["optimize", "--optimize", "--json"], &config)).await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut got = runs(&report);
    got.sort();
    let run = |t: &str, a: &str| (t.to_string(), a.to_string(), "ok".to_string());
    assert_eq!(
        got,
        [
            run("sy_maint_opt.big", "analyze"),
            run("sy_maint_opt.big", "optimize"),
            run("sy_maint_opt.public.big", "optimize")
        ],
        "a MariaDB rebuild is followed by an analyze"
    );

    let pg_after = pg_size().await;
    assert!(pg_after * 2 < pg_before, "VACUUM returned the emptied tail: {pg_before} -> {pg_after} bytes");
    let mut c = common::my_conn(my.primary, "root", None).await;
    let (my_after, free_after): (i64, i64) = c.query_first(my_space).await.unwrap().unwrap();
    assert!(my_after * 2 < my_before, "OPTIMIZE rebuilt the table: {my_before} -> {my_after} bytes");
    assert!(free_after < 8 << 20, "free space went: {free_after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_prints_a_line_per_interval_and_stops_on_sigint() {
    let (pg, my) = (common::pg().await, common::my().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), pg.primary, my.primary, "sy_maint_mon");

    // Once, as JSON: both primaries answer with their connection usage.
    let once = switchyard(args(&["monitor", "--json"], &config)).await;
    assert_eq!(once.status.code(), Some(0), "{}", String::from_utf8_lossy(&once.stderr));
    let reading = json_of(&once);
    let backends = reading["backends"].as_array().expect("backends");
    let engines: Vec<&str> = backends.iter().filter_map(|b| b["engine"].as_str()).collect();
    assert_eq!(engines, ["postgres", "mysql"]);
    assert!(backends.iter().all(|b| b["connections"].as_i64() >= Some(1) && b["max_connections"].as_i64() > Some(1)));

    // --alert is not available yet, and says so.
    let alert = switchyard(args(&["monitor", "--alert"], &config)).await;
    assert_eq!(alert.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&alert.stderr).contains("not available yet"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args(&["monitor", "--continuous", "--interval=1"], &config))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while lines.len() < 3 {
        lines.push(rx.recv_timeout(Duration::from_secs(20)).expect("a line per second"));
    }
    for (_, line) in &lines {
        assert!(line.contains("postgres") && line.contains("mysql") && line.contains("connections"), "{line}");
    }
    let gaps: Vec<Duration> = lines.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|g| *g > Duration::from_millis(500) && *g < Duration::from_secs(5)), "{gaps:?}");

    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "monitor did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "stopped cleanly");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("monitor stopped"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_runs_a_due_job_and_records_it() {
    let (pg, my) = (common::pg().await, common::my().await);
    let (pgc, _myc) = databases("sy_maint_sched").await;
    pgc.batch_execute(
        "CREATE TABLE jobs (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
         INSERT INTO jobs SELECT generate_series(1, 100);",
    )
    .await
    .unwrap();
    common::poll_until("jobs' modifications in pg_stat_user_tables", WAIT, async || {
        let row =
            pgc.query_one("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'jobs'", &[]).await?;
        Ok::<_, tokio_postgres::Error>((row.get::<_, i64>(0) > 0).then_some(()))
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(&write_config(dir.path(), pg.primary, my.primary, "sy_maint_sched")).unwrap();
    let store = Store::open(&config.store_url()).await.unwrap();
    let stop = CancellationToken::new();
    let writer = store.spawn_writer(&config.store, stop.clone());
    let maintainer = Arc::new(Maintainer::new(Arc::new(config), Some(writer.clone())));
    let mut scheduler = Scheduler::new(Zone::Utc, Arc::new(SystemClock), Some(store.clone()), Some(writer.clone()));
    // Every second: the job is due within a second of starting.
    let every_second = parse_cron("* * * * * *").unwrap().unwrap();
    scheduler.add("analyze", every_second, maintenance_task(maintainer, &[Action::Analyze]));
    let jobs = scheduler.spawn(stop.clone());

    let run = common::poll_until("a recorded analyze job run", WAIT, async || {
        writer.flush().await;
        let runs = store.job_runs(Some("analyze"), 10).await?;
        Ok::<_, switchyard::store::StoreError>(runs.into_iter().find(|r| r.outcome == "ok"))
    })
    .await
    .unwrap();
    assert!(run.started_at >= run.scheduled_for && run.finished_at >= run.started_at, "{run:?}");
    assert!(run.detail.as_deref().is_some_and(|d| d.contains("1 ok")), "{run:?}");
    let maintained = store.maintenance_runs(10).await.unwrap();
    assert!(
        maintained.iter().any(|m| m.table_name == "sy_maint_sched.public.jobs" && m.outcome == "ok"),
        "{maintained:?}"
    );
    let analyzed =
        pgc.query_one("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'jobs'", &[]);
    assert!(analyzed.await.unwrap().get::<_, bool>(0));
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), jobs.wait()).await.expect("jobs stop");
    writer.finished().await;
}

/// With a running proxy's control port configured and reachable, `optimize` and `monitor` take their figures from
/// it: the live counters of the statements just sent, and `--cleanup` closes the idle backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_uses_the_running_proxys_control_port() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = crate::proxy::TestProxy::postgres()
        .await
        .with(|c| {
            c.listen.admin = "127.0.0.1:0".into();
            c.monitor.slow_threshold_ms.insert("select".into(), 0);
        })
        .start()
        .await;
    let admin = p.handle.admin_addr.expect("control port bound");
    let c = p.pg("postgres", "postgres").await;
    for i in 0..3 {
        c.simple_query(&format!("SELECT {i} AS cli_probe")).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let pg = common::pg().await;
    let config = dir.path().join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\ndata_dir = \"{}\"\nlog_dir = \"\"\n[listen]\npostgres = \"\"\nmysql = \"\"\nmetrics = \"\"\n\
             admin = \"{admin}\"\n[[users]]\nname = \"postgres\"\nauth = \"trust\"\n\
             [postgres]\nprimary = {{ name = \"primary\", addr = \"{}\" }}\n",
            dir.path().join("data").display(),
            pg.primary
        ),
    )
    .unwrap();

    let out = switchyard(args(&["optimize", "--metrics", "--cleanup", "--json"], &config)).await;
    let doc = json_of(&out);
    assert_eq!(doc["mode"], "control", "{doc}");
    assert_eq!(
        (doc["metrics"]["status"].as_str(), doc["cleanup"]["status"].as_str()),
        (Some("ok"), Some("ok")),
        "{doc}"
    );
    let stats = doc["metrics"]["result"]["SHOW STATS"].as_array().expect("SHOW STATS rows");
    let select = stats
        .iter()
        .find(|r| r["engine"] == "postgres" && r["type"] == "select")
        .unwrap_or_else(|| panic!("postgres select row: {stats:?}"));
    assert_eq!(select["total_queries"], "3", "{select}");
    assert_eq!(select["slow_queries"], "3", "{select}");
    let pools = p.handle.postgres.as_ref().unwrap().pools();
    assert!(pools.iter().all(|(.., pool)| pool.stats().idle == 0), "--cleanup closed the idle backends");

    // --explain: the slowest digests' plans (EXPLAIN DIGEST) and the suggestions, through the control port.
    c.simple_query("SELECT * FROM pg_class").await.unwrap();
    p.handle.telemetry.settle().await; // explained and stored
    let out = switchyard(args(&["optimize", "--explain", "--json"], &config)).await;
    let doc = json_of(&out);
    assert_eq!(doc["explain"]["status"], "ok", "{doc}");
    let result = doc["explain"]["result"].as_object().expect("explain result");
    let plans: Vec<&Value> = result.iter().filter(|(k, _)| k.starts_with("EXPLAIN DIGEST")).map(|(_, v)| v).collect();
    assert!(!plans.is_empty(), "{doc}");
    assert!(
        plans.iter().any(|rows| rows.as_array().unwrap().iter().any(|r| r["item"] == "plan")),
        "a plan among {plans:?}"
    );
    let suggestions = result["SHOW SUGGESTIONS"].as_array().expect("suggestions");
    assert!(suggestions.iter().any(|s| s["rule"] == "select_star" && s["table"] == "pg_class"), "{suggestions:?}");

    let out = switchyard(args(&["monitor", "--json"], &config)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("monitor --json parses");
    assert!(doc.to_string().contains("postgres"), "{doc}");
}
