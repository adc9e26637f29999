//! The MySQL commands besides COM_QUERY through the proxy: COM_PING, COM_INIT_DB, COM_STATISTICS,
//! COM_FIELD_LIST, COM_CHANGE_USER, COM_RESET_CONNECTION and the COM_STMT_* family, including statement ids
//! after a reset and long parameter data.

use mysql_async::prelude::Queryable;
use mysql_async::{ChangeUserOpts, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::proxy::{TestProxy, my_code};

async fn send(s: &mut TcpStream, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 0];
    p.extend_from_slice(payload);
    s.write_all(&p).await.expect("write packet");
}

async fn recv(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.expect("header");
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.expect("body");
    body
}

/// Logs in as root over a raw socket with classic EOF packets.
async fn raw_login(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    recv(&mut s).await;
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1 | 0x2000 | 0x2_0000;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"root\0\0mysql_native_password\0");
    let len = p.len() as u32;
    let mut packet = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 1];
    packet.extend_from_slice(&p);
    s.write_all(&packet).await.expect("login");
    assert_eq!(recv(&mut s).await.first(), Some(&0), "login OK");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_init_db_statistics_and_field_list() {
    let p = TestProxy::mysql().await.start().await;
    let mut s = raw_login(p.my_addr()).await;
    send(&mut s, &[0x0E]).await;
    assert_eq!(recv(&mut s).await.first(), Some(&0), "COM_PING: OK");
    send(&mut s, b"\x02no_such_db").await;
    let err = recv(&mut s).await;
    assert_eq!(&err[..3], &[0xFF, 0x19, 0x04], "COM_INIT_DB of an unknown database: 1049 from the server");
    send(&mut s, b"\x02mysql").await;
    assert_eq!(recv(&mut s).await.first(), Some(&0), "COM_INIT_DB: OK");
    send(&mut s, &[0x09]).await;
    let stats = recv(&mut s).await;
    assert!(String::from_utf8_lossy(&stats).starts_with("Uptime"), "COM_STATISTICS: {stats:?}");
    send(&mut s, b"\x04db\0").await;
    let mut defs = 0;
    loop {
        let packet = recv(&mut s).await;
        if packet.first() == Some(&0xFE) && packet.len() < 9 {
            break;
        }
        assert_ne!(packet.first(), Some(&0xFF), "COM_FIELD_LIST on mysql.db in the database set by COM_INIT_DB");
        defs += 1;
    }
    assert!(defs > 5, "column definitions of mysql.db: {defs}");
    send(&mut s, b"\x03SELECT DATABASE()").await;
    let mut rows = Vec::new();
    loop {
        let packet = recv(&mut s).await;
        if packet.first() == Some(&0xFE) && packet.len() < 9 {
            if rows.len() > 2 {
                break;
            }
            rows.push(packet);
            continue;
        }
        rows.push(packet);
    }
    assert!(rows.iter().any(|r| r.ends_with(b"mysql")), "the database follows the client: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_reauthenticates_and_switches_pools() {
    let p = TestProxy::mysql().await.start().await;
    let mut c = p.my("root", None, None).await;
    c.query_drop("SET @v = 1").await.expect("user variable pins");
    let opts = ChangeUserOpts::default()
        .with_user(Some("app_native".into()))
        .with_pass(Some("native-pw".into()))
        .with_db_name(Some("mysql".into()));
    c.change_user(opts).await.expect("COM_CHANGE_USER to app_native");
    let (who, db, v): (String, Option<String>, Option<i64>) =
        c.query_first("SELECT CURRENT_USER(), DATABASE(), @v").await.expect("query").expect("row");
    assert!(who.starts_with(common::MY_NATIVE_USER), "now the native backend user: {who}");
    assert_eq!(db.as_deref(), Some("mysql"));
    assert_eq!(v, None, "the old session's variables are gone");

    let bad = ChangeUserOpts::default().with_user(Some("app".into())).with_pass(Some("wrong".into()));
    let e = c.change_user(bad).await.expect_err("wrong password");
    assert_eq!(my_code(&e), Some(1045), "{e}");
    let mut other = p.my("app", Some("app-secret"), None).await;
    assert_eq!(other.query_first::<i64, _>("SELECT 1").await.expect("others unaffected"), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_survive_resets_and_carry_long_data() {
    let cluster = common::my().await;
    let _replica = cluster.share_replica().await.expect("replica up");
    let p = TestProxy::mysql().await.with(|c| c.pool.max_connections = 2).start().await;
    let mut c = p.my("root", None, None).await;
    c.query_drop("CREATE DATABASE IF NOT EXISTS stmt_db").await.expect("db");
    c.query_drop("CREATE TABLE IF NOT EXISTS stmt_db.blobs (id INT PRIMARY KEY, b LONGBLOB)").await.expect("t");
    c.query_drop("DELETE FROM stmt_db.blobs").await.expect("clean");
    let insert = c.prep("INSERT INTO stmt_db.blobs VALUES (?, ?)").await.expect("prepare insert");
    let big = vec![b'z'; 3 * 1024 * 1024];
    c.exec_drop(&insert, (1, big.clone())).await.expect("insert a 3 MiB value");
    // The SELECT below is prepared on a replica: it must have the table and the row.
    cluster.sync_replica().await.expect("replica caught up");
    let check = c.prep("SELECT LENGTH(b), MD5(b) = MD5(?) FROM stmt_db.blobs WHERE id = ?").await.expect("prepare");
    let hinted = c.prep("/* switchyard: route=write */ SELECT ? + 1").await.expect("prepare hinted");
    // Other clients take the backends in between, so the statements are re-prepared where needed.
    for i in 0..20i64 {
        let mut other = p.my("root", None, None).await;
        let s = other.prep("/* switchyard: route=write */ SELECT ? * 2").await.expect("other prepare");
        let v: Option<i64> = other.exec_first(&s, (i,)).await.expect("other execute");
        assert_eq!(v, Some(i * 2));
        let v: Option<i64> = c.exec_first(&hinted, (i,)).await.expect("execute after others used the backends");
        assert_eq!(v, Some(i + 1));
    }
    c.query_drop("START TRANSACTION").await.expect("begin");
    let row: Option<(i64, i64)> = c.exec_first(&check, (big, 1)).await.expect("long data round trip");
    assert_eq!(row, Some((3 * 1024 * 1024, 1)));
    c.query_drop("COMMIT").await.expect("commit");
    let v: Vec<Value> = c.exec(&hinted, (Value::NULL,)).await.expect("NULL parameter");
    assert_eq!(v, vec![Value::NULL]);
    c.close(hinted).await.expect("COM_STMT_CLOSE");
    let v: Option<i64> = c.exec_first("SELECT ? - 1", (10,)).await.expect("prepare and execute a new one");
    assert_eq!(v, Some(9));
}
