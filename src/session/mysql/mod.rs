//! MySQL / MariaDB sessions: the handshake and authentication ([`startup`]), the relay loop ([`relay`]), client
//! commands ([`command`]), the effects of replies ([`effects`]), giving backends back ([`release`]), attaching a
//! backend and bringing its session in line with the client's ([`attach`]), client state that follows a client
//! across backends ([`state`]), backend connections and the health probe ([`backend`]) and engine-wide state
//! ([`engine`]).
//!
//! Error codes the proxy itself sends (all as ERR packets; a backend's own ERR is forwarded unchanged):
//! - 1045 / 28000 access denied (wrong password, unknown user);
//! - 1040 / 08004 no backend connection became free within `connection_timeout` (pool exhausted): the closest
//!   server code, "too many connections";
//! - 2003 / HY000 no server of the needed pool is reachable ("Can't connect to MySQL server");
//! - 1927 / 08S01 the backend connection was lost during a query ("Connection was killed");
//! - 1153 / 08S01 a packet larger than `general.max_message_size` (`max_allowed_packet` for clients);
//! - 1047 / 08S01 a malformed command packet;
//! - 1243 / HY000 an unknown statement id, 1421 / HY000 a fetch without an open cursor;
//! - 1235 / 42000 COM_PROCESS_KILL and text `KILL` (proxy connection ids are not backend thread ids).
//!
//! Deliberately not here: KILL mapping, COM_BINLOG_DUMP and other replication commands (forwarded like unknown
//! commands), compression, and re-encoding of anything a backend sends.
//!
//! Known gaps: a client without a current database may see the database a previous client selected on the same
//! backend (MySQL cannot unselect one; COM_RESET_CONNECTION keeps it); a multi-statement text that sets session
//! variables pins the client instead of being tracked, and so does a prepared `SET` or `USE`;
//! caching_sha2_password's full path is never requested (the proxy knows the passwords, so the fast path always
//! verifies).

pub mod attach;
pub mod backend;
pub mod command;
pub mod effects;
pub mod engine;
pub mod relay;
pub mod release;
pub mod startup;
pub mod state;

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::protocol::mysql::ProtocolError;
use crate::protocol::mysql::packets::{ServerError, err_packet};
use crate::session::clients::Client;

pub use engine::MyEngine;

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The client broke the protocol (it has been told).
    #[error("client protocol error: {0}")]
    Client(String),
    /// The client hung up while we were writing to it.
    #[error("client disconnected")]
    ClientGone,
    /// The backend broke the protocol.
    #[error("backend protocol error: {0}")]
    Backend(String),
    /// Socket or TLS failure during start-up.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Protocol failure during start-up.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// An error to report to the client as an ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// MySQL error code.
    pub code: u16,
    /// SQLSTATE.
    pub sqlstate: String,
    /// Message (no hostnames or internals).
    pub message: String,
}

impl ClientError {
    /// A proxy-made error.
    pub fn new(code: u16, sqlstate: &str, message: impl Into<String>) -> ClientError {
        ClientError { code, sqlstate: sqlstate.to_string(), message: message.into() }
    }

    /// Appends it as an ERR packet with sequence id `seq`.
    pub fn write(&self, out: &mut BytesMut, seq: u8) {
        err_packet(out, seq, self.code, &self.sqlstate, &self.message);
    }
}

impl From<ServerError> for ClientError {
    fn from(e: ServerError) -> ClientError {
        ClientError { code: e.code, sqlstate: e.sqlstate, message: e.message }
    }
}

/// Serves one MySQL client connection from accept to close.
/// `client` is its entry in the client registry: the login is recorded there, and killing it ends the session.
pub async fn serve(engine: Arc<MyEngine>, tls: Option<TlsAcceptor>, socket: TcpStream, client: Arc<Client>) {
    let _ = socket.set_nodelay(true);
    let (peer, id) = (client.addr, client.id);
    let span = tracing::info_span!(
        "session",
        conn.id = id,
        client.addr = %peer,
        proto = "mysql",
        user = tracing::field::Empty,
        db = tracing::field::Empty
    );
    async move {
        let handshake = tokio::select! {
            r = startup::handshake(&engine, tls.as_ref(), socket, peer, id) => r,
            _ = client.killed() => return,
        };
        let session = match handshake {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "handshake failed");
                return;
            }
        };
        let (user, database) = session.login();
        client.set_login(user, &database);
        match session.run(&client).await {
            Ok(()) | Err(SessionError::ClientGone) => tracing::debug!("client disconnected"),
            Err(e @ SessionError::Client(_)) => tracing::info!(error = %e, "session closed"),
            Err(e) => tracing::warn!(error = %e, "session failed"),
        }
    }
    .instrument(span)
    .await
}

/// Sends one ERR packet; the caller closes the connection. Write errors are ignored: the client may be gone.
pub async fn fatal<S: AsyncWrite + Unpin>(stream: &mut S, seq: u8, error: &ClientError) {
    let mut out = BytesMut::new();
    error.write(&mut out, seq);
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
}

/// Refuses a client over `max_client_connections` the way a full server does: ERR 1040 instead of a greeting.
pub async fn refuse(mut socket: TcpStream) {
    fatal(&mut socket, 0, &ClientError::new(1040, "08004", "Too many connections")).await;
}
