//! PostgreSQL backend connections: the pool connector, the per-connection state the session relies on (which
//! shared prepared statements exist on it, which session SETs are applied), and the health probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lru::LruCache;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pool::topology::{ProbeResult, Server};
use crate::pool::{ConnectError, ConnectErrorKind, Connector, health::Probe};
use crate::protocol::postgres::{self as pg, ProtocolError, messages};

/// Largest message accepted from a backend (PostgreSQL's own limit is 1 GiB).
pub const BACKEND_MAX_MESSAGE: usize = 1 << 30;

/// Idle time after which a backend is checked for EOF or stray bytes before reuse.
const RECHECK_AFTER: Duration = Duration::from_millis(100);

/// Login details for one pool: the server, the backend user and database.
#[derive(Clone)]
pub struct PgConnector {
    /// The server this pool connects to.
    pub server: Arc<Server>,
    /// Backend user name.
    pub user: String,
    /// Backend password, when the server asks for one.
    pub password: Option<String>,
    /// Database.
    pub database: String,
    /// Most named statements kept per connection.
    pub statement_cache: usize,
}

/// One authenticated backend connection and what the session must know about its state.
pub struct PgBackend {
    /// The socket.
    pub stream: TcpStream,
    /// Buffer for bytes read from the backend.
    pub buf: BytesMut,
    /// Backend process id (for cancel requests).
    pub pid: i32,
    /// Backend cancel secret.
    pub secret: i32,
    /// Parameters the server reported at start-up.
    pub parameters: Vec<(String, String)>,
    /// Shared (renamed) prepared statements that exist on this connection, most recently used first.
    pub statements: LruCache<u64, ()>,
    /// Fingerprint of the session SETs applied on this connection (0 = server defaults).
    pub sets_fingerprint: u64,
    /// The server it is connected to.
    pub server: Arc<Server>,
    /// When it was last used.
    pub last_used: Instant,
}

impl PgConnector {
    async fn open(&self) -> Result<PgBackend, ConnectError> {
        let mut stream = TcpStream::connect(&self.server.addr).await.map_err(|e| ConnectError {
            kind: ConnectErrorKind::Unreachable,
            sqlstate: None,
            message: format!("connect to {}: {e}", self.server.name),
        })?;
        let _ = stream.set_nodelay(true);
        let params = [("user", self.user.as_str()), ("database", self.database.as_str())];
        let hs = pg::connect_backend(&mut stream, &params, self.password.as_deref(), BACKEND_MAX_MESSAGE)
            .await
            .map_err(|e| connect_error(&self.server.name, e))?;
        let cap = std::num::NonZeroUsize::new(self.statement_cache.max(1)).expect("max(1) is non-zero");
        Ok(PgBackend {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
            pid: hs.pid,
            secret: hs.secret,
            parameters: hs.parameters,
            statements: LruCache::new(cap),
            sets_fingerprint: 0,
            server: self.server.clone(),
            last_used: Instant::now(),
        })
    }
}

fn connect_error(server: &str, e: ProtocolError) -> ConnectError {
    match e {
        ProtocolError::Backend(f) => {
            let kind = if f.code.starts_with("28") { ConnectErrorKind::Auth } else { ConnectErrorKind::Rejected };
            ConnectError { kind, sqlstate: Some(f.code), message: f.message }
        }
        ProtocolError::Io(e) => ConnectError {
            kind: ConnectErrorKind::Unreachable,
            sqlstate: None,
            message: format!("connect to {server}: {e}"),
        },
        other => ConnectError {
            kind: ConnectErrorKind::Protocol,
            sqlstate: None,
            message: format!("handshake with {server}: {other}"),
        },
    }
}

impl Connector for PgConnector {
    type Conn = PgBackend;

    // The pool bounds `connect` and `ping` by `pool.connect_timeout`; no second timer here.
    async fn connect(&self) -> Result<PgBackend, ConnectError> {
        self.open().await
    }

    fn is_open(&self, conn: &mut PgBackend) -> bool {
        // A connection given back moments ago is reused without a check: under load that saves a system call
        // per transaction, and a backend that dies in that window fails like one that dies mid-query.
        if conn.last_used.elapsed() < RECHECK_AFTER {
            return true;
        }
        crate::net::idle_socket_is_clean(&conn.stream)
    }

    async fn ping(&self, conn: &mut PgBackend) -> bool {
        let fut = async {
            let mut out = BytesMut::new();
            messages::query(&mut out, "");
            conn.stream.write_all(&out).await.ok()?;
            read_until_ready(conn).await
        };
        fut.await == Some(b'I')
    }
}

/// Reads and drops backend messages until ReadyForQuery; returns its status byte, or None on any failure.
pub async fn read_until_ready(conn: &mut PgBackend) -> Option<u8> {
    loop {
        while let Ok(Some(len)) = pg::frame_len(&conn.buf, BACKEND_MAX_MESSAGE) {
            let frame = conn.buf.split_to(len);
            if frame[0] == b'Z' {
                return messages::ready_status(&frame[5..]).ok();
            }
        }
        if pg::frame_len(&conn.buf, BACKEND_MAX_MESSAGE).is_err() {
            return None;
        }
        match conn.stream.read_buf(&mut conn.buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Health probe: is the server in recovery, and how far behind is its replay.
pub struct PgProbe {
    /// User the probe logs in as.
    pub user: String,
    /// Its password.
    pub password: Option<String>,
    /// Database to connect to.
    pub database: String,
}

/// Lag is zero when everything received has been replayed; otherwise the age of the last replayed transaction.
const PROBE_SQL: &str = "SELECT pg_is_in_recovery()::text, COALESCE(CASE WHEN NOT pg_is_in_recovery() \
    OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END, 0)::float8::text";

impl Probe for PgProbe {
    async fn probe(&self, server: &Server) -> Result<ProbeResult, String> {
        let mut stream = TcpStream::connect(&server.addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let params = [("user", self.user.as_str()), ("database", self.database.as_str())];
        pg::connect_backend(&mut stream, &params, self.password.as_deref(), BACKEND_MAX_MESSAGE)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let mut out = BytesMut::new();
        messages::query(&mut out, PROBE_SQL);
        messages::terminate(&mut out);
        stream.write_all(&out).await.map_err(|e| format!("send probe: {e}"))?;
        let mut buf = BytesMut::new();
        let mut row: Option<Vec<Option<String>>> = None;
        loop {
            match pg::frame_len(&buf, BACKEND_MAX_MESSAGE) {
                Ok(Some(len)) => {
                    let frame = buf.split_to(len);
                    match frame[0] {
                        b'D' => row = Some(data_row_text(&frame[5..]).ok_or("malformed DataRow")?),
                        b'E' => {
                            let f = messages::error_fields(&frame[5..]).map_err(|e| e.to_string())?;
                            return Err(f.message);
                        }
                        b'Z' => break,
                        _ => {}
                    }
                }
                Ok(None) => {
                    if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                        return Err("closed during probe".into());
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let row = row.ok_or("probe returned no row")?;
        let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let read_only = get(0) == "true";
        let lag = get(1).parse::<f64>().ok().filter(|s| *s >= 0.0).map(Duration::from_secs_f64);
        Ok(ProbeResult { read_only, lag })
    }
}

/// Reads a text-format DataRow body into its column values (None for SQL NULL). Only for the probe: the data
/// path never decodes rows.
fn data_row_text(body: &[u8]) -> Option<Vec<Option<String>>> {
    let n = u16::from_be_bytes(body.get(..2)?.try_into().ok()?) as usize;
    let mut pos = 2;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = i32::from_be_bytes(body.get(pos..pos + 4)?.try_into().ok()?);
        pos += 4;
        if len < 0 {
            out.push(None);
            continue;
        }
        let v = body.get(pos..pos + len as usize)?;
        pos += len as usize;
        out.push(Some(String::from_utf8_lossy(v).into_owned()));
    }
    Some(out)
}
