//! A MySQL client's connection phase: the v10 greeting (the primary's version string and the capabilities the
//! relay passes through), the TLS upgrade after an SSLRequest, client authentication against the configured
//! users (`md5` -> mysql_native_password, `scram-sha-256` -> caching_sha2_password, `trust` -> accepted), and a
//! first checkout that proves a backend is reachable and the requested database exists (its ERR, e.g. 1049, is
//! forwarded). COM_CHANGE_USER re-runs the same authentication on an established session.
//!
//! Deliberately not here: RSA key exchange for caching_sha2_password's full path on plain connections (the proxy
//! knows the passwords, so the fast path always verifies; see `protocol::mysql::auth`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use crate::config::{AuthMethod as ConfigAuth, PoolMode, Role, User};
use crate::net::ClientStream;
use crate::protocol::mysql::auth::{
    AuthMethod, ServerHandshake, read_client_first, read_handshake_response, server_authenticate,
};
use crate::protocol::mysql::handshake::{ClientFirst, ClientHello, parse_change_user};
use crate::protocol::mysql::packets::access_denied_packet;
use crate::protocol::mysql::{CapabilityFlags, ProtocolError, StatusFlags};

use super::engine::MyEngine;
use super::relay::Session;
use super::state::ClientState;
use super::{ClientError, SessionError, fatal};

/// utf8mb4_general_ci, announced in the greeting (clients pick their own in the response).
const GREETING_CHARSET: u8 = 45;

/// Runs the connection phase of a new client. `Ok(None)`: the client was refused (and told) or left. The
/// connection id the client is given is `id`, its id in the client registry (`SHOW CLIENTS`, `KILL <id>`).
pub async fn handshake(
    engine: &Arc<MyEngine>,
    tls: Option<&TlsAcceptor>,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    id: u64,
) -> Result<Option<Session>, SessionError> {
    let config = engine.config();
    let (version, mut offered) = engine.greeting().await;
    offered.set(CapabilityFlags::CLIENT_SSL, tls.is_some());
    let mut hs = ServerHandshake::new(AuthMethod::NativePassword, offered, 64 * 1024);
    let mut out = BytesMut::with_capacity(256);
    // Registry ids count from 1 for both engines together; beyond u32 they wrap, as server thread ids do.
    let conn_id = (id & u64::from(u32::MAX)) as u32;
    hs.greeting(&mut out, conn_id, &version, GREETING_CHARSET, StatusFlags::SERVER_STATUS_AUTOCOMMIT);
    let mut stream = ClientStream::Plain(socket);
    stream.write_all(&out).await?;
    let mut buf = BytesMut::new();
    let (hello, secure) = match read_client_first(&mut stream, &mut buf, &mut hs).await {
        Ok(ClientFirst::Response(hello)) => (hello, false),
        Ok(ClientFirst::SslRequest { .. }) => {
            let (ClientStream::Plain(plain), Some(acceptor)) = (stream, tls) else {
                return Err(SessionError::Client("SSLRequest without TLS configured".into()));
            };
            stream = ClientStream::Tls(Box::new(acceptor.accept(plain).await?));
            (read_handshake_response(&mut stream, &mut buf, &mut hs).await?, true)
        }
        Err(ProtocolError::Closed) => return Ok(None),
        Err(e) => {
            fatal(&mut stream, hs.seq, &ClientError::new(1043, "08S01", "Bad handshake")).await;
            return Err(e.into());
        }
    };
    tracing::Span::current().record("user", hello.user.as_str());
    if let Some(db) = &hello.database {
        tracing::Span::current().record("db", db.as_str());
    }
    let caps = hs.negotiated(&hello) - CapabilityFlags::CLIENT_SSL;
    let charset = hello.charset;
    let database = hello.database.clone();
    let Some(user) = authenticate(&config, &mut stream, &mut buf, &mut hs, hello, secure, peer).await else {
        return Ok(None);
    };
    let mode = user.pool_mode.unwrap_or(config.pool.mode);
    let info = Arc::new(crate::monitor::SessionInfo::new(
        u64::from(conn_id),
        &user.name,
        database.as_deref().unwrap_or_default(),
        crate::classify::Dialect::MySql,
    ));
    let mut session = Session {
        engine: engine.clone(),
        client: stream,
        cbuf: buf,
        out: BytesMut::with_capacity(1024),
        user: Arc::new(user),
        caps,
        charset,
        hs,
        secure,
        session_mode: mode == PoolMode::Session,
        state: ClientState::new(database),
        backend: None,
        inflight: None,
        in_trans: false,
        autocommit: true,
        pinned: None,
        cursors: HashSet::new(),
        long_data: HashSet::new(),
        lost: false,
        last_write: None,
        max_message: config.general.max_message_size,
        info,
    };
    let seq = session.hs.seq;
    if let Err(e) = session.check_backend().await? {
        fatal(&mut session.client, seq, &e).await;
        return Ok(None);
    }
    session.ok(seq);
    session.flush().await?;
    Ok(Some(session))
}

/// Authenticates `hello` against the configured users; on failure the client has been sent ERR 1045.
async fn authenticate(
    config: &crate::config::Config,
    stream: &mut ClientStream,
    buf: &mut BytesMut,
    hs: &mut ServerHandshake,
    hello: ClientHello,
    secure: bool,
    peer: SocketAddr,
) -> Option<User> {
    let user = config.user(&hello.user).cloned();
    let name = hello.user.clone();
    let password = match &user {
        Some(u) if u.auth == ConfigAuth::Trust => {
            hs.seq = hello.seq.wrapping_add(1);
            return user;
        }
        Some(u) => {
            hs.method = match u.auth {
                ConfigAuth::ScramSha256 => AuthMethod::CachingSha2Password,
                _ => AuthMethod::NativePassword,
            };
            Some(u.password.clone().unwrap_or_default())
        }
        None => None,
    };
    match server_authenticate(stream, buf, hs, hello, secure, password.as_deref()).await {
        Ok(_) => user,
        Err(ProtocolError::AccessDenied { using_password, .. }) => {
            tracing::info!(user = %name, %peer, "client authentication failed");
            let mut out = BytesMut::new();
            access_denied_packet(&mut out, hs.seq, &name, &peer.ip().to_string(), using_password);
            let _ = stream.write_all(&out).await;
            None
        }
        Err(ProtocolError::RequiresSecureConnection) => {
            let e = ClientError::new(2061, "HY000", "Authentication requires secure connection.");
            fatal(stream, hs.seq, &e).await;
            None
        }
        Err(e) => {
            tracing::info!(user = %name, error = %e, "client authentication failed");
            None
        }
    }
}

impl Session {
    /// Checks out a backend (primary first) to prove one is reachable and the client's database exists, then
    /// gives it back.
    async fn check_backend(&mut self) -> Result<Result<(), ClientError>, SessionError> {
        let mut servers = self.engine.candidates(Role::Write);
        servers.extend(self.engine.candidates(Role::Read));
        let r = self.attach_servers(servers, Role::Write).await?;
        self.maybe_release();
        Ok(r)
    }

    /// COM_CHANGE_USER: ends what the client had on its backend, authenticates the new user against the
    /// connection's scramble, switches to its pools and database. A failed change closes the connection.
    pub(super) async fn change_user(&mut self, payload: &Bytes) -> Result<bool, SessionError> {
        let Ok(hello) = parse_change_user(payload, self.caps) else {
            ClientError::new(1047, "08S01", "Malformed packet").write(&mut self.out, 1);
            return Ok(true);
        };
        if let Some(att) = self.backend.take() {
            tokio::spawn(super::release::reset_and_release(att.conn));
        }
        self.state = ClientState::new(hello.database.clone());
        self.pinned = None;
        self.cursors.clear();
        self.long_data.clear();
        self.in_trans = false;
        self.autocommit = true;
        if hello.charset != 0 {
            self.charset = hello.charset;
        }
        let config = self.engine.config();
        let peer = self.client_peer();
        let secure = self.secure;
        let Some(user) =
            authenticate(&config, &mut self.client, &mut self.cbuf, &mut self.hs, hello, secure, peer).await
        else {
            return Ok(false);
        };
        self.info = Arc::new(crate::monitor::SessionInfo::new(
            self.info.client_id,
            &user.name,
            self.state.database.as_deref().unwrap_or_default(),
            crate::classify::Dialect::MySql,
        ));
        self.user = Arc::new(user);
        let seq = self.hs.seq;
        match self.check_backend().await? {
            Ok(()) => {
                self.ok(seq);
                Ok(true)
            }
            Err(e) => {
                e.write(&mut self.out, seq);
                Ok(false)
            }
        }
    }

    fn client_peer(&self) -> SocketAddr {
        let addr = match &self.client {
            ClientStream::Plain(s) => s.peer_addr(),
            ClientStream::Tls(s) => s.get_ref().0.peer_addr(),
        };
        addr.unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}
