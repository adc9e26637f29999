//! Bad input and failures on the MySQL side: each gets a clear MySQL error for that client only, and the proxy
//! keeps serving everyone else. Wrong password and unknown database are in `my_clients`.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::proxy::{TestProxy, eventually, my_code};

/// Writes one packet.
async fn send(s: &mut TcpStream, seq: u8, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
    p.extend_from_slice(payload);
    s.write_all(&p).await.expect("write packet");
}

/// Reads one packet: (sequence id, payload).
async fn recv(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.ok()?;
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((h[3], body))
}

/// The error code of an ERR payload.
fn err_code(p: &[u8]) -> Option<u16> {
    match p {
        [0xFF, lo, hi, ..] => Some(u16::from_le_bytes([*lo, *hi])),
        _ => None,
    }
}

/// Logs in as `root` (trust) over a raw socket; returns the socket after the OK.
async fn raw_login(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let (_, greeting) = recv(&mut s).await.expect("greeting");
    assert_eq!(greeting.first(), Some(&10), "protocol v10 greeting");
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | TRANSACTIONS | MULTI_RESULTS
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1 | 0x2000 | 0x2_0000;
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"root\0");
    p.push(0);
    p.extend_from_slice(b"mysql_native_password\0");
    send(&mut s, 1, &p).await;
    let (_, ok) = recv(&mut s).await.expect("login reply");
    assert_eq!(ok.first(), Some(&0), "login OK: {ok:?}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_an_error_and_the_session_goes_on() {
    let p = TestProxy::mysql().await.start().await;
    // A handshake response that is not one.
    let mut s = TcpStream::connect(p.my_addr()).await.expect("connect");
    recv(&mut s).await.expect("greeting");
    send(&mut s, 1, &[1, 2, 3]).await;
    let (_, reply) = recv(&mut s).await.expect("an answer to a bad handshake");
    assert_eq!(err_code(&reply), Some(1043), "bad handshake: {reply:?}");

    let mut s = raw_login(p.my_addr()).await;
    // COM_STMT_EXECUTE without its statement id.
    send(&mut s, 0, &[0x17, 1]).await;
    let (seq, reply) = recv(&mut s).await.expect("an answer");
    assert_eq!((seq, err_code(&reply)), (1, Some(1047)), "malformed command: {reply:?}");
    // An empty command packet.
    send(&mut s, 0, &[]).await;
    let (_, reply) = recv(&mut s).await.expect("an answer");
    assert_eq!(err_code(&reply), Some(1047));
    // Unknown statement id.
    send(&mut s, 0, &[0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0]).await;
    let (_, reply) = recv(&mut s).await.expect("an answer");
    assert_eq!(err_code(&reply), Some(1243));
    // The same session still answers queries.
    send(&mut s, 0, b"\x03SELECT 1").await;
    let (_, first) = recv(&mut s).await.expect("result");
    assert_eq!(first, vec![1], "one column");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_over_max_allowed_packet_is_refused_and_others_keep_working() {
    let p = TestProxy::mysql().await.with(|c| c.general.max_message_size = 4096).start().await;
    let mut big = p.my("root", None, None).await;
    let mut other = p.my("root", None, None).await;
    let e = big.query_drop(format!("SELECT '{}'", "x".repeat(10_000))).await.expect_err("too large");
    assert_eq!(my_code(&e), Some(1153), "{e}");
    assert!(big.query_drop("SELECT 1").await.is_err(), "that connection is closed");
    assert_eq!(other.query_first::<i64, _>("SELECT 7").await.expect("other client"), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_result_does_not_leak_its_backend() {
    let p = TestProxy::mysql().await.with(|c| c.pool.max_connections = 1).start().await;
    {
        let mut s = raw_login(p.my_addr()).await;
        let q = b"\x03/* switchyard: route=write */ SELECT REPEAT('x', 1000) FROM seq_1_to_100000";
        send(&mut s, 0, q).await;
        let mut first = [0u8; 4096];
        let n = s.read(&mut first).await.expect("result starts");
        assert!(n > 0);
    } // dropped mid-result
    let mut c = p.my("root", None, None).await;
    let start = Instant::now();
    let v = c.query_first::<i64, _>("/* switchyard: route=write */ SELECT 3").await.expect("pool not leaked");
    assert_eq!(v, Some(3));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_mid_query_gives_an_error_and_a_fresh_backend() {
    let cluster = common::my().await;
    let p = TestProxy::mysql().await.start().await;
    let mut c = p.my("root", None, None).await;
    let mut direct = common::my_conn(cluster.primary, "root", None).await;
    let q = tokio::spawn(async move {
        let r = c.query_drop("/* switchyard: route=write */ SELECT SLEEP(20) /* victim */").await;
        (c, r)
    });
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !killed && Instant::now() < deadline {
        let ids: Vec<u64> = direct
            .query("SELECT id FROM information_schema.processlist WHERE info LIKE '%victim%' AND id <> CONNECTION_ID()")
            .await
            .expect("processlist");
        for id in ids {
            direct.query_drop(format!("KILL {id}")).await.expect("kill");
            killed = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(killed, "query reached the primary");
    let (mut c, r) = q.await.expect("query task");
    let e = r.expect_err("client sees an error");
    assert!(matches!(my_code(&e), Some(1927) | Some(2013)), "{e}");
    let v = c.query_first::<i64, _>("SELECT 5").await.expect("session goes on with a new backend");
    assert_eq!(v, Some(5));
    let mut again = p.my("root", None, None).await;
    assert_eq!(again.query_first::<i64, _>("/* switchyard: route=write */ SELECT 6").await.expect("q"), Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhausted_is_a_clear_error_for_the_waiting_client_only() {
    let p = TestProxy::mysql()
        .await
        .with(|c| {
            c.pool.max_connections = 1;
            c.pool.connection_timeout = Duration::from_millis(500);
        })
        .start()
        .await;
    let mut holder = p.my("root", None, None).await;
    let mut waiter = p.my("root", None, None).await;
    holder.query_drop("START TRANSACTION").await.expect("begin holds the only primary backend");
    let e = waiter.query_drop("/* switchyard: route=write */ SELECT 1").await.expect_err("no backend free");
    assert_eq!(my_code(&e), Some(1040), "{e}");
    assert_eq!(holder.query_first::<i64, _>("SELECT 8").await.expect("holder unaffected"), Some(8));
    holder.query_drop("COMMIT").await.expect("commit");
    let v = waiter.query_first::<i64, _>("/* switchyard: route=write */ SELECT 9").await.expect("free again");
    assert_eq!(v, Some(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backend_reachable_is_a_clear_error() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let p = TestProxy::mysql()
        .await
        .with(|c| {
            if let Some(primary) = c.mysql.primary.as_mut() {
                primary.addr = dead.to_string();
            }
            c.mysql.replicas.clear();
        })
        .start()
        .await;
    let e = p.my_try("root", None, None).await.expect_err("nothing to connect to");
    assert_eq!(my_code(&e), Some(2003), "{e}");
    let refused = eventually(Duration::from_secs(5), || async {
        matches!(p.my_try("root", None, None).await, Err(e) if my_code(&e) == Some(2003))
    })
    .await;
    assert!(refused, "the proxy keeps answering");
}

/// KILL names the proxy's connection ids (the greeting's, `conn.id()`): `KILL QUERY` cancels that client's
/// statement in flight and leaves its connection, `KILL` ends the connection; unknown ids, other users' connections
/// and unsupported forms get the server's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_maps_proxy_connection_ids() {
    let _replica = crate::common::my().await.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.start().await;
    let mut victim = p.my("root", None, None).await;
    let mut killer = p.my("root", None, None).await;
    let id = victim.id();
    assert_ne!(id, killer.id());

    let started = std::time::Instant::now();
    let sleeper = tokio::spawn(async move {
        let r = victim.query_first::<i64, _>("SELECT SLEEP(20)").await;
        (victim, r)
    });
    // Wait until the victim's statement is running on a backend.
    let running = crate::proxy::eventually(std::time::Duration::from_secs(10), || async {
        p.handle.clients.get(u64::from(id)).is_some_and(|c| c.active())
    })
    .await;
    assert!(running, "the victim's SLEEP reached a backend");
    killer.query_drop(format!("KILL QUERY {id}")).await.expect("KILL QUERY");
    let (mut victim, r) = sleeper.await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "cancelled, not slept out: {r:?}");
    match r {
        Ok(v) => assert_eq!(v, Some(1), "an interrupted SLEEP returns 1"),
        Err(e) => assert_eq!(my_code(&e), Some(1317), "{e}"),
    }
    assert_eq!(victim.query_first::<i64, _>("SELECT 8").await.expect("the connection survives"), Some(8));

    let e = killer.query_drop("KILL 999999").await.expect_err("unknown id");
    assert_eq!(my_code(&e), Some(1094), "{e}");
    let e = killer.query_drop("KILL USER root").await.expect_err("unsupported form");
    assert_eq!(my_code(&e), Some(1235), "{e}");
    let mut other = p.my("app", Some("app-secret"), None).await;
    let e = other.query_drop(format!("KILL {id}")).await.expect_err("another user's connection");
    assert_eq!(my_code(&e), Some(1095), "{e}");

    killer.query_drop(format!("KILL CONNECTION {id}")).await.expect("KILL CONNECTION");
    assert!(victim.query_drop("SELECT 1").await.is_err(), "the victim's connection is closed");
    assert_eq!(killer.query_first::<i64, _>("SELECT 9").await.expect("the killer goes on"), Some(9));
}
