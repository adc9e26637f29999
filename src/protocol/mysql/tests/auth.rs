//! `server_authenticate` against `connect_backend` over an in-memory duplex stream.

use bytes::BytesMut;
use mysql_common::constants::StatusFlags;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, duplex};

use crate::protocol::mysql::auth::{
    AuthMethod, ServerHandshake, read_client_first, read_handshake_response, server_authenticate,
};
use crate::protocol::mysql::backend::{
    BackendLogin, backend_authenticate, connect_backend, read_greeting, ssl_request,
};
use crate::protocol::mysql::handshake::{ClientFirst, ClientHello, greeting};
use crate::protocol::mysql::packets::{access_denied_packet, err_packet, ok_packet};
use crate::protocol::mysql::{ProtocolError, RELAY_CAPABILITIES};

pub(super) const USER_PW: &str = "s3cret-pw";

#[derive(Clone, Copy)]
pub(super) struct ServerSide {
    pub(super) method: AuthMethod,
    /// Plugin named in the greeting; differs from `method` to force an auth switch.
    pub(super) greeting_plugin: Option<&'static str>,
    pub(super) full_auth: bool,
    /// The client sends an SSLRequest first (no real TLS in memory; the flow and `secure` are what is tested).
    pub(super) tls: bool,
    pub(super) password: Option<&'static str>,
}

impl ServerSide {
    pub(super) fn new(method: AuthMethod) -> Self {
        ServerSide { method, greeting_plugin: None, full_auth: false, tls: false, password: Some(USER_PW) }
    }
}

/// Runs the proxy side: greeting, (SSLRequest), response, authentication, then OK or ERR like a session would.
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    side: ServerSide,
) -> Result<ClientHello, ProtocolError> {
    let mut hs = ServerHandshake::new(side.method, RELAY_CAPABILITIES, 1 << 20);
    hs.force_full_auth = side.full_auth;
    let mut out = BytesMut::new();
    let status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
    match side.greeting_plugin {
        Some(plugin) => {
            hs.seq = greeting(&mut out, 7, "8.0.36-switchyard", &hs.scramble, hs.caps, 45, status, plugin);
        }
        None => hs.greeting(&mut out, 7, "8.0.36-switchyard", 45, status),
    }
    s.write_all(&out).await?;
    let hello = match read_client_first(s, buf, &mut hs).await? {
        ClientFirst::Response(h) => h,
        ClientFirst::SslRequest { .. } => read_handshake_response(s, buf, &mut hs).await?,
    };
    let result = server_authenticate(s, buf, &mut hs, hello, side.tls, side.password).await;
    out.clear();
    match &result {
        Ok(_) => ok_packet(&mut out, hs.seq, 0, 0, status, 0, ""),
        Err(ProtocolError::AccessDenied { user, using_password }) => {
            access_denied_packet(&mut out, hs.seq, user, "127.0.0.1", *using_password)
        }
        Err(e) => err_packet(&mut out, hs.seq, 1045, "28000", &e.to_string()),
    };
    s.write_all(&out).await?;
    result
}

fn login(password: Option<&str>) -> BackendLogin<'_> {
    BackendLogin {
        user: "app",
        password,
        database: Some("appdb"),
        caps: RELAY_CAPABILITIES,
        charset: 45,
        max_packet: 1 << 20,
        connect_attrs: &[("program_name", "test")],
    }
}

/// Both sides over a duplex pipe; returns (server result, client result).
async fn pair(
    side: ServerSide,
    password: Option<&str>,
) -> (Result<ClientHello, ProtocolError>, Result<crate::protocol::mysql::backend::BackendHandshake, ProtocolError>) {
    let (client, server) = duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let mut server = server;
        serve(&mut server, &mut BytesMut::new(), side).await
    });
    let mut client = client;
    let mut buf = BytesMut::new();
    let l = login(password);
    let client_result = if side.tls {
        async {
            let g = read_greeting(&mut client, &mut buf, 1 << 20).await?;
            let mut out = BytesMut::new();
            ssl_request(&mut out, RELAY_CAPABILITIES, 45, 1 << 20);
            client.write_all(&out).await?;
            backend_authenticate(&mut client, &mut buf, &g, &l, true).await
        }
        .await
    } else {
        connect_backend(&mut client, &mut buf, &l).await
    };
    (server.await.expect("server task"), client_result)
}

#[tokio::test]
async fn native_password_ok() {
    let (server, client) = pair(ServerSide::new(AuthMethod::NativePassword), Some(USER_PW)).await;
    let hello = server.unwrap();
    assert_eq!((hello.user.as_str(), hello.database.as_deref()), ("app", Some("appdb")));
    assert_eq!(hello.connect_attrs.get("program_name").map(String::as_str), Some("test"));
    let b = client.unwrap();
    assert_eq!(
        (b.conn_id, b.server_version.as_str(), b.auth_plugin.as_str()),
        (7, "8.0.36-switchyard", "mysql_native_password")
    );
    assert_eq!(b.status, StatusFlags::SERVER_STATUS_AUTOCOMMIT);
    assert!(b.caps.contains(mysql_common::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF));
}

#[tokio::test]
async fn caching_sha2_fast_path_ok() {
    let (server, client) = pair(ServerSide::new(AuthMethod::CachingSha2Password), Some(USER_PW)).await;
    assert_eq!(server.unwrap().auth_plugin.as_deref(), Some("caching_sha2_password"));
    assert_eq!(client.unwrap().auth_plugin, "caching_sha2_password");
}

#[tokio::test]
async fn wrong_password_is_denied_on_both_methods() {
    for method in [AuthMethod::NativePassword, AuthMethod::CachingSha2Password] {
        let (server, client) = pair(ServerSide::new(method), Some("wrong")).await;
        assert!(
            matches!(server, Err(ProtocolError::AccessDenied { ref user, using_password: true }) if user == "app"),
            "{method:?}: {server:?}"
        );
        match client {
            Err(ProtocolError::Backend { code, sqlstate, .. }) => {
                assert_eq!((code, sqlstate.as_str()), (1045, "28000"))
            }
            other => panic!("{method:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unknown_user_and_missing_password_are_denied() {
    let mut side = ServerSide::new(AuthMethod::CachingSha2Password);
    side.password = None;
    let (server, client) = pair(side, Some(USER_PW)).await;
    assert!(matches!(server, Err(ProtocolError::AccessDenied { .. })));
    assert!(matches!(client, Err(ProtocolError::Backend { code: 1045, .. })));
    let (server, _) = pair(ServerSide::new(AuthMethod::NativePassword), None).await;
    assert!(matches!(server, Err(ProtocolError::AccessDenied { using_password: false, .. })));
}

#[tokio::test]
async fn empty_passwords_verify_on_both_methods() {
    for method in [AuthMethod::NativePassword, AuthMethod::CachingSha2Password] {
        let mut side = ServerSide::new(method);
        side.password = Some("");
        let (server, client) = pair(side, None).await;
        assert!(server.is_ok(), "{method:?}: {server:?}");
        assert!(client.is_ok(), "{method:?}: {client:?}");
    }
}

#[tokio::test]
async fn auth_switch_both_ways() {
    let mut side = ServerSide::new(AuthMethod::CachingSha2Password);
    side.greeting_plugin = Some("mysql_native_password");
    let (server, client) = pair(side, Some(USER_PW)).await;
    assert_eq!(server.unwrap().auth_response.len(), 32, "sha256 scramble after the switch");
    assert_eq!(client.unwrap().auth_plugin, "caching_sha2_password");

    let mut side = ServerSide::new(AuthMethod::NativePassword);
    side.greeting_plugin = Some("caching_sha2_password");
    let (server, client) = pair(side, Some(USER_PW)).await;
    assert_eq!(server.unwrap().auth_response.len(), 20);
    assert_eq!(client.unwrap().auth_plugin, "mysql_native_password");

    let mut side = ServerSide::new(AuthMethod::NativePassword);
    side.greeting_plugin = Some("caching_sha2_password");
    let (server, _) = pair(side, Some("wrong")).await;
    assert!(matches!(server, Err(ProtocolError::AccessDenied { .. })));
}

#[tokio::test]
async fn caching_sha2_full_path_over_tls_sends_cleartext() {
    let mut side = ServerSide::new(AuthMethod::CachingSha2Password);
    side.full_auth = true;
    side.tls = true;
    let (server, client) = pair(side, Some(USER_PW)).await;
    assert!(server.is_ok(), "{server:?}");
    assert!(client.is_ok(), "{client:?}");
    let (server, client) = pair(side, Some("wrong")).await;
    assert!(matches!(server, Err(ProtocolError::AccessDenied { .. })));
    assert!(matches!(client, Err(ProtocolError::Backend { code: 1045, .. })));
}

#[tokio::test]
async fn caching_sha2_full_path_without_tls_requires_secure_connection() {
    let mut side = ServerSide::new(AuthMethod::CachingSha2Password);
    side.full_auth = true;
    let (server, client) = pair(side, Some(USER_PW)).await;
    assert!(matches!(server, Err(ProtocolError::RequiresSecureConnection)), "{server:?}");
    match client {
        Err(ProtocolError::Backend { message, .. }) => assert!(message.contains("secure"), "{message}"),
        other => panic!("{other:?}"),
    }
}
