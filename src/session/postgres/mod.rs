//! PostgreSQL sessions: start-up and authentication ([`startup`]), the relay loop ([`relay`]), the reply
//! queue ([`expect`]), client state that follows a client across backends ([`state`]), backend connections and
//! probes ([`backend`]), engine-wide state ([`engine`]) and cancel keys ([`cancel`]).

pub mod backend;
pub mod cancel;
pub mod engine;
pub mod expect;
pub mod relay;
pub mod startup;
pub mod state;

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::protocol::postgres::{ProtocolError, messages};
use crate::session::clients::Client;

pub use engine::PgEngine;

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

/// Serves one PostgreSQL client connection from accept to close.
/// `client` is its entry in the client registry: the login is recorded there, and killing it ends the session.
pub async fn serve(engine: Arc<PgEngine>, tls: Option<TlsAcceptor>, socket: TcpStream, client: Arc<Client>) {
    let _ = socket.set_nodelay(true);
    let (peer, id) = (client.addr, client.id);
    let span = tracing::info_span!(
        "session",
        conn.id = id,
        client.addr = %peer,
        proto = "postgres",
        user = tracing::field::Empty,
        db = tracing::field::Empty
    );
    async move {
        let handshake = tokio::select! {
            r = startup::handshake(&engine, tls.as_ref(), socket, peer) => r,
            _ = client.killed() => return,
        };
        let session = match handshake {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "start-up failed");
                return;
            }
        };
        let (user, database) = session.login();
        client.set_login(user, database);
        match session.run(&client).await {
            Ok(()) | Err(SessionError::ClientGone) => tracing::debug!("client disconnected"),
            Err(e @ SessionError::Client(_)) => tracing::info!(error = %e, "session closed"),
            Err(e) => tracing::warn!(error = %e, "session failed"),
        }
    }
    .instrument(span)
    .await
}

/// Sends a FATAL ErrorResponse; the caller closes the connection. Write errors are ignored: the client may
/// already be gone.
pub async fn fatal<S: AsyncWrite + Unpin>(stream: &mut S, sqlstate: &str, message: &str) {
    let mut out = BytesMut::new();
    messages::error_response(&mut out, "FATAL", sqlstate, message);
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
}
