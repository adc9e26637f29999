//! The real CLIs through the proxy: psql (DDL, DML, \copy of 100k rows both ways, a rolled-back transaction)
//! giving the same output as direct, and pgbench in all three query modes with zero failed transactions.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::common;
use crate::proxy::{TestProxy, eventually};

fn psql_file(addr: SocketAddr, db: &str, script: &str, dir: &std::path::Path) -> String {
    let file = dir.join("script.sql");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-U", "postgres", "-d", db, "-f"])
        .arg(&file)
        .current_dir(dir)
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const SCRIPT: &str = r"
DROP TABLE IF EXISTS items_TAG;
CREATE TABLE items_TAG (id int PRIMARY KEY, name text, qty int);
INSERT INTO items_TAG SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 10) g;
SELECT * FROM items_TAG ORDER BY id;
UPDATE items_TAG SET qty = qty + 100 WHERE id <= 3;
DELETE FROM items_TAG WHERE id > 8;
SELECT id, qty FROM items_TAG ORDER BY id;
BEGIN;
DELETE FROM items_TAG;
SELECT count(*) FROM items_TAG;
ROLLBACK;
SELECT count(*) FROM items_TAG;
\copy (SELECT g, md5(g::text), g % 100 FROM generate_series(1, 100000) g) TO 'out_TAG.csv' WITH CSV
CREATE TABLE IF NOT EXISTS bulk_TAG (id int, h text, m int);
TRUNCATE bulk_TAG;
\copy bulk_TAG FROM 'out_TAG.csv' WITH CSV
SELECT count(*), sum(m), min(h), max(h) FROM bulk_TAG;
\copy bulk_TAG TO 'back_TAG.csv' WITH CSV
SELECT 'done';
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_session_matches_direct() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let cluster = common::pg().await;
    // Read-your-writes keeps a client's reads on the primary right after it writes, as an application expects.
    let p = TestProxy::postgres().await.with(|c| c.routing.read_your_writes = Duration::from_secs(5)).start().await;
    let dir = tempfile::tempdir().unwrap();
    let (proxy, direct) = (p.pg_addr(), cluster.primary);
    let d = dir.path().to_path_buf();
    let (via, plain) = tokio::task::spawn_blocking(move || {
        let via = psql_file(proxy, "postgres", &SCRIPT.replace("TAG", "p"), &d);
        let plain = psql_file(direct, "postgres", &SCRIPT.replace("TAG", "d"), &d);
        (via, plain)
    })
    .await
    .unwrap();
    assert_eq!(via.replace("_p", "_d"), plain, "same output through the proxy as direct");
    assert!(via.contains("100000"), "{via}");
    let a = std::fs::read(dir.path().join("back_p.csv")).unwrap();
    let b = std::fs::read(dir.path().join("out_p.csv")).unwrap();
    assert_eq!(a.len(), b.len(), "copy out returns what copy in loaded");
    assert_eq!(a, b);
}

fn pgbench(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("pgbench")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-U", "postgres"])
        .args(args)
        .output()
        .expect("run pgbench");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pgbench {args:?} failed: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_select_only_in_every_mode_has_no_failures() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let cluster = common::pg().await;
    let direct = common::pg_client(cluster.primary, "postgres", "postgres").await;
    direct.batch_execute("DROP DATABASE IF EXISTS bench_sy").await.unwrap();
    direct.batch_execute("CREATE DATABASE bench_sy").await.unwrap();
    let p = TestProxy::postgres().await.start().await;
    let addr = p.pg_addr();
    tokio::task::spawn_blocking(move || pgbench(addr, &["-i", "-s", "5", "-q", "bench_sy"])).await.unwrap();
    let replica = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Ok(c)) = tokio::time::timeout(
                Duration::from_secs(2),
                crate::proxy::connect(&format!(
                    "host={} port={} user=postgres dbname=bench_sy",
                    cluster.replica.ip(),
                    cluster.replica.port()
                )),
            )
            .await
            {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("replica has the new database");
    let caught_up = eventually(Duration::from_secs(30), || async {
        matches!(replica.query_one("SELECT count(*) FROM pgbench_accounts", &[]).await,
            Ok(r) if r.get::<_, i64>(0) == 500_000)
    })
    .await;
    assert!(caught_up, "replica replayed the pgbench data");
    for mode in ["simple", "extended", "prepared"] {
        let out = tokio::task::spawn_blocking(move || {
            pgbench(addr, &["-n", "-S", "-M", mode, "-c", "32", "-j", "2", "-T", "10", "bench_sy"])
        })
        .await
        .unwrap();
        let failed = out
            .lines()
            .find(|l| l.contains("number of failed transactions"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().split(' ').next().unwrap_or("").to_string());
        assert_eq!(failed.as_deref(), Some("0"), "mode {mode}: {out}");
        let processed = out.lines().find(|l| l.contains("actually processed")).unwrap_or_default().to_string();
        assert!(!processed.ends_with(": 0"), "mode {mode} processed transactions: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latin1_client_bytes_pass_through_unchanged() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = TestProxy::postgres().await.start().await;
    let mut s = tokio::net::TcpStream::connect(p.pg_addr()).await.unwrap();
    let params = b"user\0postgres\0database\0postgres\0client_encoding\0LATIN1\0\0";
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&(8 + params.len() as i32).to_be_bytes());
    pkt.extend_from_slice(&196_608i32.to_be_bytes());
    pkt.extend_from_slice(params);
    s.write_all(&pkt).await.unwrap();
    let mut seen = Vec::new();
    let read_until_ready = async |s: &mut tokio::net::TcpStream| -> Vec<(u8, Vec<u8>)> {
        let mut msgs = Vec::new();
        loop {
            let tag = s.read_u8().await.unwrap();
            let len = s.read_i32().await.unwrap() as usize;
            let mut body = vec![0; len - 4];
            s.read_exact(&mut body).await.unwrap();
            msgs.push((tag, body));
            if tag == b'Z' {
                return msgs;
            }
        }
    };
    seen.extend(read_until_ready(&mut s).await);
    // 'café' in LATIN1, in a simple query and in a named prepared statement.
    let sql = b"SELECT 'caf\xe9'::text\0";
    let mut q = vec![b'Q'];
    q.extend_from_slice(&(4 + sql.len() as i32).to_be_bytes());
    q.extend_from_slice(sql);
    s.write_all(&q).await.unwrap();
    let msgs = read_until_ready(&mut s).await;
    let row = msgs.iter().find(|(t, _)| *t == b'D').expect("a row");
    assert!(row.1.ends_with(b"caf\xe9"), "value comes back in LATIN1: {:?}", row.1);
    let mut ext = Vec::new();
    let parse = b"l1\0SELECT 'caf\xe9'::text\0\0\0";
    ext.push(b'P');
    ext.extend_from_slice(&(4 + parse.len() as i32).to_be_bytes());
    ext.extend_from_slice(parse);
    let bind = b"\0l1\0\0\0\0\0\0\0";
    ext.push(b'B');
    ext.extend_from_slice(&(4 + bind.len() as i32).to_be_bytes());
    ext.extend_from_slice(bind);
    ext.extend_from_slice(&[b'E', 0, 0, 0, 9, 0, 0, 0, 0, 0, b'S', 0, 0, 0, 4]);
    s.write_all(&ext).await.unwrap();
    let msgs = read_until_ready(&mut s).await;
    let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, b"12DCZ", "parse, bind, row, complete, ready");
    assert!(msgs[2].1.ends_with(b"caf\xe9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_pins_and_notifications_and_notices_reach_the_client() {
    use futures::StreamExt;
    let cluster = common::pg().await;
    let p = TestProxy::postgres().await.start().await;
    let (client, mut conn) = tokio_postgres::connect(&p.pg_url("postgres", "postgres"), tokio_postgres::NoTls)
        .await
        .expect("connect through the proxy");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            let _ = tx.send(m);
        }
    });
    client.batch_execute("LISTEN sy_chan").await.unwrap();
    client.batch_execute("DO $$ BEGIN RAISE NOTICE 'sy notice'; END $$").await.unwrap();
    let direct = common::pg_client(cluster.primary, "postgres", "postgres").await;
    direct.batch_execute("NOTIFY sy_chan, 'hello'").await.unwrap();
    let mut seen_notice = false;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(m) = rx.recv().await {
            match m {
                tokio_postgres::AsyncMessage::Notice(n) if n.message() == "sy notice" => seen_notice = true,
                tokio_postgres::AsyncMessage::Notification(n) => {
                    return Some((n.channel().to_string(), n.payload().to_string()));
                }
                _ => {}
            }
        }
        None
    })
    .await
    .expect("notification within 10 s");
    assert_eq!(got, Some(("sy_chan".to_string(), "hello".to_string())), "NOTIFY reaches the listening client");
    assert!(seen_notice, "NOTICE relayed");
}
