//! sysbench through the proxy, 32 threads, 10 s each: oltp_read_write with server-side prepared statements, and
//! oltp_point_select with text queries (`--db-ps-mode=disable`). Both must finish with zero errors and zero
//! reconnects. The transaction rates are printed for comparison with a direct run.
//!
//! oltp_read_write at 32 threads on small tables deadlocks now and then against the server directly too
//! (sysbench retries those and counts them as "ignored errors"); the test checks that every ignored error is one
//! of the primary's own deadlocks (`Innodb_deadlocks`), so that no error comes from the proxy.

use mysql_async::prelude::Queryable;

use crate::common;
use crate::proxy::TestProxy;

const TABLES: &str = "--tables=4";
const SIZE: &str = "--table-size=10000";

/// Runs sysbench `test` `cmd` against `port` with `extra` arguments; returns its output, panicking on failure.
async fn sysbench(port: u16, test: &str, cmd: &str, extra: &[&str]) -> String {
    let mut c = std::process::Command::new("sysbench");
    c.arg(test)
        .args(["--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-user=root", "--mysql-db=sbtest"])
        .arg(format!("--mysql-port={port}"))
        .args([TABLES, SIZE])
        .args(extra)
        .arg(cmd);
    let out = crate::proxy::run_command(c, None, std::time::Duration::from_secs(120)).await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sysbench {test} {cmd} failed:\n{text}");
    text
}

/// The number after `label` on its line of sysbench's report (e.g. `ignored errors:`).
fn number_after(report: &str, label: &str) -> Option<f64> {
    let line = report.lines().find(|l| l.trim_start().starts_with(label))?;
    line.trim_start()[label.len()..].split_whitespace().next()?.parse().ok()
}

fn check(report: &str, what: &str, deadlocks: f64) -> f64 {
    let tx = number_after(report, "transactions:").unwrap_or(0.0);
    let rate = report
        .lines()
        .find(|l| l.trim_start().starts_with("transactions:"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or(0.0);
    eprintln!("sysbench {what}: {tx} transactions, {rate} per second");
    assert!(tx > 0.0, "{what}: transactions ran:\n{report}");
    let ignored = number_after(report, "ignored errors:").unwrap_or(f64::MAX);
    eprintln!("sysbench {what}: {ignored} ignored errors, {deadlocks} InnoDB deadlocks on the primary");
    assert!(ignored <= deadlocks, "{what}: no errors but the server's own deadlocks:\n{report}");
    assert_eq!(number_after(report, "reconnects:"), Some(0.0), "{what}: zero reconnects:\n{report}");
    rate
}

/// The primary's deadlock count so far.
async fn deadlocks(admin: &mut mysql_async::Conn) -> f64 {
    let row: Option<(String, String)> =
        admin.query_first("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'").await.expect("status");
    row.and_then(|(_, v)| v.parse().ok()).expect("Innodb_deadlocks is reported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_read_write_and_point_select_run_without_errors() {
    let cluster = common::my().await;
    let _replica = cluster.share_replica().await.expect("replica up");
    let mut admin = common::my_conn(cluster.primary, "root", None).await;
    admin.query_drop("DROP DATABASE IF EXISTS sbtest").await.expect("drop");
    admin.query_drop("CREATE DATABASE sbtest").await.expect("create");
    sysbench(cluster.primary.port(), "oltp_read_write", "prepare", &[]).await;
    cluster.sync_replica().await.expect("replica has the tables");

    let p = TestProxy::mysql().await.with(|c| c.pool.max_connections = 32).start().await;
    let port = p.my_addr().port();
    let run = ["--threads=32", "--time=10", "--report-interval=0"];
    let before = deadlocks(&mut admin).await;
    let rw = sysbench(port, "oltp_read_write", "run", &[&run[..], &["--db-ps-mode=auto"]].concat()).await;
    let during = deadlocks(&mut admin).await - before;
    check(&rw, "oltp_read_write (prepared statements) through the proxy", during);
    let ps = sysbench(port, "oltp_point_select", "run", &[&run[..], &["--db-ps-mode=disable"]].concat()).await;
    check(&ps, "oltp_point_select (text) through the proxy", 0.0);
    admin.query_drop("DROP DATABASE sbtest").await.expect("drop");
}
