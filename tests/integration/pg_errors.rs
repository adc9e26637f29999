//! Bad input and failures get a clear error with the proper SQLSTATE, and the proxy keeps serving everyone else.

use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::proxy::{TestProxy, connect, eventually, sqlstate};

async fn connect_err(url: &str) -> String {
    match connect(url).await {
        Ok(_) => panic!("connection unexpectedly succeeded: {url}"),
        Err(e) => sqlstate(&e).unwrap_or_else(|| format!("no sqlstate: {e}")),
    }
}

/// Reads one backend-style message from a raw socket: (tag, body).
async fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let tag = s.read_u8().await.ok()?;
    let len = s.read_i32().await.ok()? as usize;
    let mut body = vec![0; len.checked_sub(4)?];
    s.read_exact(&mut body).await.ok()?;
    Some((tag, body))
}

fn error_code(body: &[u8]) -> Option<String> {
    body.split(|b| *b == 0).find(|f| f.first() == Some(&b'C')).map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_startup_errors() {
    let p = TestProxy::postgres().await.start().await;
    let a = p.pg_addr();
    let url = |user: &str, pw: &str, db: &str| {
        format!("host={} port={} user={user} password='{pw}' dbname={db} sslmode=disable", a.ip(), a.port())
    };
    assert_eq!(connect_err(&url("app", "wrong", "postgres")).await, "28P01");
    assert_eq!(connect_err(&url("app_md5", "wrong", "postgres")).await, "28P01");
    assert_eq!(connect_err(&url("nobody", "x", "postgres")).await, "28000");
    assert_eq!(connect_err(&url("postgres", "", "no_such_db")).await, "3D000");
    let ok = connect(&url("app", "app-secret", "postgres")).await.expect("scram login");
    assert_eq!(ok.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    let ok = connect(&url("app_md5", "md5-secret", "postgres")).await.expect("md5 login");
    assert_eq!(ok.query_one("SELECT 2", &[]).await.unwrap().get::<_, i32>(0), 2);

    // Protocol 2.0 start-up packet.
    let mut s = TcpStream::connect(a).await.unwrap();
    let mut pkt = BytesMut::new();
    pkt.put_i32(8 + 9);
    pkt.put_i32(0x0002_0000);
    pkt.put_slice(b"user\0x\0\0\0");
    s.write_all(&pkt).await.unwrap();
    let (tag, body) = read_msg(&mut s).await.expect("an answer");
    assert_eq!(tag, b'E');
    assert_eq!(error_code(&body).as_deref(), Some("0A000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_is_refused_and_others_keep_working() {
    let p = TestProxy::postgres().await.with(|c| c.general.max_message_size = 4096).start().await;
    let big = p.pg("postgres", "postgres").await;
    let other = p.pg("postgres", "postgres").await;
    let sql = format!("SELECT '{}'", "x".repeat(10_000));
    let e = big.simple_query(&sql).await.unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("08P01"), "{e}");
    assert!(big.is_closed() || big.simple_query("SELECT 1").await.is_err());
    assert_eq!(other.query_one("SELECT 7", &[]).await.unwrap().get::<_, i32>(0), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_result_does_not_leak_its_backend() {
    let p = TestProxy::postgres().await.with(|c| c.pool.max_connections = 1).start().await;
    let a = p.pg_addr();
    {
        let mut s = TcpStream::connect(a).await.unwrap();
        let mut pkt = BytesMut::new();
        let params = b"user\0postgres\0database\0postgres\0\0";
        pkt.put_i32(8 + params.len() as i32);
        pkt.put_i32(196_608);
        pkt.put_slice(params);
        s.write_all(&pkt).await.unwrap();
        while let Some((tag, _)) = read_msg(&mut s).await {
            if tag == b'Z' {
                break;
            }
        }
        let q = b"/* switchyard: route=write */ SELECT repeat('x', 1000) FROM generate_series(1, 100000)\0";
        let mut m = BytesMut::new();
        m.put_u8(b'Q');
        m.put_i32(4 + q.len() as i32);
        m.put_slice(q);
        s.write_all(&m).await.unwrap();
        let mut first = [0u8; 4096];
        let n = s.read(&mut first).await.unwrap();
        assert!(n > 0, "result started");
    } // dropped mid-result
    let c = p.pg("postgres", "postgres").await;
    let start = Instant::now();
    let v: i32 = c.query_one("/* switchyard: route=write */ SELECT 3", &[]).await.expect("pool not leaked").get(0);
    assert_eq!(v, 3);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_mid_query_gives_an_error_and_a_fresh_backend() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let cluster = common::pg().await;
    let p = TestProxy::postgres().await.start().await;
    let c = p.pg("postgres", "postgres").await;
    let direct = common::pg_client(cluster.primary, "postgres", "postgres").await;
    let q = tokio::spawn(async move {
        let r = c.simple_query("/* switchyard: route=write */ SELECT pg_sleep(20) /* victim */").await;
        (c, r)
    });
    let seen = eventually(Duration::from_secs(10), || async {
        let rows = direct
            .query("SELECT pid FROM pg_stat_activity WHERE query LIKE '%victim%' AND pid <> pg_backend_pid()", &[])
            .await
            .unwrap();
        if let Some(r) = rows.first() {
            let pid: i32 = r.get(0);
            direct.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
            true
        } else {
            false
        }
    })
    .await;
    assert!(seen, "query reached the primary");
    let (c, r) = q.await.unwrap();
    let e = r.expect_err("client sees an error");
    assert!(matches!(sqlstate(&e).as_deref(), Some("57P01") | Some("08006")), "{e}");
    let v: i32 = c.query_one("SELECT 5", &[]).await.expect("session goes on with a new backend").get(0);
    assert_eq!(v, 5);
    let again = p.pg("postgres", "postgres").await;
    assert_eq!(again.query_one("/* switchyard: route=write */ SELECT 6", &[]).await.unwrap().get::<_, i32>(0), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backend_reachable_is_a_clear_error() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let p = TestProxy::postgres()
        .await
        .with(|c| {
            c.postgres.primary.as_mut().unwrap().addr = dead.to_string();
            c.postgres.replicas.clear();
        })
        .start()
        .await;
    assert_eq!(connect_err(&p.pg_url("postgres", "postgres")).await, "08006");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_a_long_query_within_a_second() {
    let _replica = common::pg().await.share_replica().await.expect("replica up");
    let p = TestProxy::postgres().await.start().await;
    let c = p.pg("postgres", "postgres").await;
    let token = c.cancel_token();
    let q = tokio::spawn(async move { c.simple_query("SELECT pg_sleep(30)").await });
    // Wait until the query is running on some backend: the session holds a backend only while it runs.
    let cluster = common::pg().await;
    let mut running = false;
    for addr in [cluster.replica, cluster.primary] {
        let d = common::pg_client(addr, "postgres", "postgres").await;
        running |= eventually(Duration::from_secs(5), || async {
            let n: i64 = d
                .query_one("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'", &[])
                .await
                .unwrap()
                .get(0);
            n > 0
        })
        .await;
        if running {
            break;
        }
    }
    assert!(running, "query started");
    let start = Instant::now();
    token.cancel_query(tokio_postgres::NoTls).await.expect("cancel sent");
    let e = q.await.unwrap().expect_err("query cancelled");
    assert_eq!(sqlstate(&e).as_deref(), Some("57014"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(1), "cancelled in {:?}", start.elapsed());
}
