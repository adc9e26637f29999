//! Drain on shutdown, reload of pool sizes, and the real binary's SIGTERM / SIGHUP handling.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::proxy::{TestProxy, connect, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_open_transactions_commit_and_refuses_new_clients() {
    let p = TestProxy::postgres().await.with(|c| c.general.shutdown_timeout = Duration::from_secs(10)).start().await;
    let setup = p.pg("postgres", "postgres").await;
    setup.batch_execute("DROP TABLE IF EXISTS drain_t; CREATE TABLE drain_t (id int)").await.unwrap();
    let mut clients = Vec::new();
    for i in 0..10 {
        let c = p.pg("postgres", "postgres").await;
        c.batch_execute(&format!("BEGIN; INSERT INTO drain_t VALUES ({i})")).await.unwrap();
        clients.push(c);
    }
    let url = p.pg_url("postgres", "postgres");
    let started = Instant::now();
    let handle = std::sync::Arc::new(p);
    let h = handle.clone();
    let shutdown = tokio::spawn(async move { h.handle.shutdown().await });
    let refused = eventually(Duration::from_secs(5), || async { connect(&url).await.is_err() }).await;
    assert!(refused, "new connections are refused while draining");
    for c in &clients {
        c.batch_execute("COMMIT").await.expect("an open transaction can still commit");
    }
    shutdown.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "drained before the timeout");
    let direct = common::pg_client(common::pg().await.primary, "postgres", "postgres").await;
    let n: i64 = direct.query_one("SELECT count(*) FROM drain_t", &[]).await.unwrap().get(0);
    assert_eq!(n, 10, "every committed row is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_what_is_left_after_the_timeout() {
    let p = TestProxy::postgres().await.with(|c| c.general.shutdown_timeout = Duration::from_millis(500)).start().await;
    let c = p.pg("postgres", "postgres").await;
    c.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let start = Instant::now();
    p.handle.shutdown().await;
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    assert!(c.batch_execute("COMMIT").await.is_err(), "the lingering session was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_pool_size_without_dropping_clients() {
    let p = TestProxy::postgres().await.with(|c| c.pool.max_connections = 1).start().await;
    let c = p.pg("postgres", "postgres").await;
    c.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let mut bigger = (*p.handle.config()).clone();
    bigger.pool.max_connections = 3;
    bigger.pool.connection_timeout = Duration::from_secs(2);
    p.handle.reload(bigger);
    let d = p.pg("postgres", "postgres").await;
    d.batch_execute("/* switchyard: route=write */ SELECT 1").await.expect("a second backend is allowed now");
    c.batch_execute("COMMIT").await.expect("the first client was not dropped");
}

fn write_config(dir: &std::path::Path, port: u16, primary: std::net::SocketAddr, pool: usize) -> std::path::PathBuf {
    let path = dir.join("proxy.toml");
    std::fs::write(
        &path,
        format!(
            "[listen]\npostgres = \"127.0.0.1:{port}\"\nmysql = \"\"\nadmin = \"\"\nmetrics = \"\"\n\
             [general]\nshutdown_timeout = \"5s\"\ndata_dir = \"{data}\"\n[pool]\nmax_connections = {pool}\nmin_connections = 0\n\
             [[users]]\nname = \"postgres\"\nauth = \"trust\"\n\
             [postgres]\nprimary = {{ name = \"primary\", addr = \"{primary}\" }}\n",
            data = dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reloads_on_sighup_and_drains_on_sigterm() {
    let cluster = common::pg().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = write_config(dir.path(), port, cluster.primary, 2);
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let url = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable");
    assert!(eventually(Duration::from_secs(20), || async { connect(&url).await.is_ok() }).await, "binary serves");
    let c = connect(&url).await.unwrap();
    c.batch_execute("BEGIN; SELECT 1").await.unwrap();

    // A broken file: the running configuration stays, every problem is reported.
    std::fs::write(&path, "[pool]\nmax_connections = \"lots\"\n[listen]\npostgres = \"nowhere\"\n").unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    unsafe_kill(pid, "HUP");
    let mut report = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !(report.contains("pool.max_connections") && report.contains("listen.postgres"))
    {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            report.push_str(&line);
            report.push('\n');
        }
    }
    assert!(report.contains("pool.max_connections"), "reload report names the bad key: {report}");
    assert!(report.contains("listen.postgres"), "and every other bad key: {report}");
    c.batch_execute("SELECT 1").await.expect("still serving after a bad reload");

    // A good file with a bigger pool.
    write_config(dir.path(), port, cluster.primary, 4);
    unsafe_kill(pid, "HUP");
    let reloaded =
        eventually(Duration::from_secs(10), || async { rx.try_iter().any(|l| l.contains("configuration reloaded")) })
            .await;
    assert!(reloaded, "good reload is logged");

    unsafe_kill(pid, "TERM");
    c.batch_execute("COMMIT").await.expect("open transaction commits during drain");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "exits within shutdown_timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
}

fn unsafe_kill(pid: i32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{sig} {pid}");
}
