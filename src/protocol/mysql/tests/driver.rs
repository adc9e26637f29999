//! `server_authenticate` against a real driver (mysql_async) over TCP, so the server side is not only checked
//! against this module's own client.

use bytes::BytesMut;
use mysql_async::prelude::Queryable;
use mysql_common::constants::StatusFlags;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::auth::{ServerSide, USER_PW, serve};
use crate::protocol::mysql::auth::AuthMethod;
use crate::protocol::mysql::command::{Command, parse_command};
use crate::protocol::mysql::framer::read_packet;
use crate::protocol::mysql::packets::ok_packet;

/// Accepts one connection, authenticates it, answers COM_PING with OK until COM_QUIT or close.
/// Returns the number of pings answered, or the authentication error text.
async fn proxy_once(listener: TcpListener, side: ServerSide) -> Result<u32, String> {
    let (mut s, _) = listener.accept().await.map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    serve(&mut s, &mut buf, side).await.map_err(|e| e.to_string())?;
    let mut pings = 0;
    while let Some((seq, payload)) = read_packet(&mut s, &mut buf, 1 << 20).await.map_err(|e| e.to_string())? {
        match parse_command(&payload).map_err(|e| e.to_string())? {
            Command::Ping => {
                let mut out = BytesMut::new();
                ok_packet(&mut out, seq.wrapping_add(1), 0, 0, StatusFlags::SERVER_STATUS_AUTOCOMMIT, 0, "");
                s.write_all(&out).await.map_err(|e| e.to_string())?;
                pings += 1;
            }
            Command::Quit => break,
            other => return Err(format!("unexpected command {other:?}")),
        }
    }
    Ok(pings)
}

async fn driver_login(side: ServerSide, password: &str) -> (Result<u32, String>, Result<(), mysql_async::Error>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(proxy_once(listener, side));
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .prefer_socket(false)
        .user(Some("app"))
        .pass(Some(password))
        .db_name(Some("appdb"))
        .max_allowed_packet(Some(1 << 20))
        .wait_timeout(Some(28_800));
    let client = async {
        let mut conn = mysql_async::Conn::new(opts).await?;
        conn.ping().await?;
        conn.disconnect().await
    }
    .await;
    (server.await.expect("server task"), client)
}

#[tokio::test]
async fn mysql_async_logs_in_with_each_method_and_switch() {
    let mut switch = ServerSide::new(AuthMethod::CachingSha2Password);
    switch.greeting_plugin = Some("mysql_native_password");
    for side in [ServerSide::new(AuthMethod::NativePassword), ServerSide::new(AuthMethod::CachingSha2Password), switch]
    {
        let (server, client) = driver_login(side, USER_PW).await;
        assert!(client.is_ok(), "{:?}: {client:?}", side.method);
        assert_eq!(server, Ok(1), "{:?}", side.method);
    }
}

#[tokio::test]
async fn mysql_async_sees_1045_for_a_wrong_password() {
    for method in [AuthMethod::NativePassword, AuthMethod::CachingSha2Password] {
        let (server, client) = driver_login(ServerSide::new(method), "wrong").await;
        assert!(server.unwrap_err().contains("access denied"), "{method:?}");
        match client {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1045, "{method:?}"),
            other => panic!("{method:?}: {other:?}"),
        }
    }
}
