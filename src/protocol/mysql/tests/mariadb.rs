//! Real logins and replies against the local MariaDB at 127.0.0.1:3306 (root, empty password).

use bytes::BytesMut;
use mysql_common::constants::CapabilityFlags;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::protocol::mysql::backend::{BackendHandshake, BackendLogin, connect_backend};
use crate::protocol::mysql::command::{COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE};
use crate::protocol::mysql::framer::{read_packet, write_packet};
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker, Step, Summary};
use crate::protocol::mysql::{ProtocolError, RELAY_CAPABILITIES};

const ADDR: &str = "127.0.0.1:3306";
const MAX: usize = 1 << 24;

fn login(
    caps: CapabilityFlags,
    password: Option<&'static str>,
    database: Option<&'static str>,
) -> BackendLogin<'static> {
    BackendLogin {
        user: "root",
        password,
        database,
        caps,
        charset: 45,
        max_packet: MAX,
        connect_attrs: &[("program_name", "switchyard-test")],
    }
}

async fn connect(caps: CapabilityFlags) -> (TcpStream, BytesMut, BackendHandshake) {
    let mut s = TcpStream::connect(ADDR).await.expect("local MariaDB at 127.0.0.1:3306");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = BytesMut::new();
    let hs = connect_backend(&mut s, &mut buf, &login(caps, None, None)).await.expect("login as root");
    (s, buf, hs)
}

/// Sends one command and tracks its reply to the end, as the relay would.
async fn command(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    caps: CapabilityFlags,
    kind: ReplyKind,
    payload: &[u8],
) -> Summary {
    let mut out = BytesMut::new();
    write_packet(&mut out, 0, payload);
    s.write_all(&out).await.expect("write command");
    let mut tracker = ReplyTracker::new(kind, caps);
    loop {
        let (_, packet) = read_packet(s, buf, MAX).await.expect("read reply").expect("open connection");
        match tracker.feed(&packet).expect("well-formed reply") {
            Step::Continue => {}
            Step::Done(summary) => return summary,
            Step::LocalInfile { .. } => panic!("no LOCAL INFILE here"),
        }
    }
}

#[tokio::test]
async fn select_1_with_and_without_deprecate_eof() {
    for caps in [RELAY_CAPABILITIES, RELAY_CAPABILITIES - CapabilityFlags::CLIENT_DEPRECATE_EOF] {
        let (mut s, mut buf, hs) = connect(caps).await;
        assert!(hs.server_version.contains("MariaDB"), "{}", hs.server_version);
        assert!(hs.conn_id > 0);
        assert_eq!(
            hs.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
            caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
        );
        let s1 = command(&mut s, &mut buf, hs.caps, ReplyKind::Query, b"\x03SELECT 1").await;
        assert_eq!((s1.rows, s1.result_sets, s1.error.clone()), (1, 1, None));
        assert!(s1.status.expect("status").contains(crate::protocol::mysql::StatusFlags::SERVER_STATUS_AUTOCOMMIT));
    }
}

#[tokio::test]
async fn multi_statements_errors_and_prepared_statements() {
    let caps = RELAY_CAPABILITIES;
    let (mut s, mut buf, hs) = connect(caps).await;
    let c = hs.caps;
    let multi =
        command(&mut s, &mut buf, c, ReplyKind::Query, b"\x03SELECT 1; SELECT 2, 3 UNION SELECT 4, 5; DO 1").await;
    assert_eq!((multi.rows, multi.result_sets), (3, 2));
    let bad = command(&mut s, &mut buf, c, ReplyKind::Query, b"\x03SELEC 1").await;
    assert_eq!(bad.error.map(|e| (e.code, e.sqlstate)), Some((1064, "42000".to_owned())));

    let prep =
        command(&mut s, &mut buf, c, ReplyKind::StmtPrepare, &[&[COM_STMT_PREPARE][..], b"SELECT ?, 'x'"].concat())
            .await;
    let p = prep.prepared.expect("PREPARE_OK");
    assert_eq!((p.num_params, p.num_columns), (1, 2));
    let id = p.statement_id.to_le_bytes();
    // One LONGLONG parameter = 7, bound now.
    let mut exec = vec![COM_STMT_EXECUTE, id[0], id[1], id[2], id[3], 0, 1, 0, 0, 0, 0, 1, 0x08, 0x00];
    exec.extend_from_slice(&7i64.to_le_bytes());
    let run = command(&mut s, &mut buf, c, ReplyKind::StmtExecute, &exec).await;
    assert_eq!((run.rows, run.error), (1, None));
    let mut out = BytesMut::new();
    write_packet(&mut out, 0, &[COM_STMT_CLOSE, id[0], id[1], id[2], id[3]]);
    s.write_all(&out).await.expect("close");
    let ping = command(&mut s, &mut buf, c, ReplyKind::Simple, &[0x0E]).await;
    assert_eq!(ping.error, None, "no reply to STMT_CLOSE was left in the stream");
}

#[tokio::test]
async fn backend_errors_during_login_are_forwardable() {
    let mut s = TcpStream::connect(ADDR).await.expect("local MariaDB");
    let mut buf = BytesMut::new();
    let e = connect_backend(&mut s, &mut buf, &login(RELAY_CAPABILITIES, Some("definitely-wrong"), None)).await;
    assert!(matches!(e, Err(ProtocolError::Backend { code: 1045, .. })), "{e:?}");

    let mut s = TcpStream::connect(ADDR).await.expect("local MariaDB");
    let mut buf = BytesMut::new();
    let e = connect_backend(&mut s, &mut buf, &login(RELAY_CAPABILITIES, None, Some("no_such_db_switchyard"))).await;
    assert!(matches!(e, Err(ProtocolError::Backend { code: 1049, .. })), "{e:?}");
}
