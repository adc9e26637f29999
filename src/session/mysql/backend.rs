//! MySQL / MariaDB backend connections: the pool connector, the per-connection state the session relies on
//! (which statements are prepared under which backend ids, which session variables and database are applied),
//! synchronous command exchanges for the proxy's own commands (replays, re-prepares, resets), and the health probe
//! (`SELECT @@read_only`, `SHOW SLAVE STATUS`).
//!
//! Deliberately not here: relaying client replies (the session does that from the same buffer, packet by packet).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use lru::LruCache;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pool::topology::{ProbeResult, Server};
use crate::pool::{ConnectError, ConnectErrorKind, Connector, health::Probe};
use crate::protocol::mysql::backend::{BackendLogin, connect_backend, read_greeting};
use crate::protocol::mysql::framer::{HEADER_LEN, MAX_PAYLOAD, header, packets, read_packet, write_packet};
use crate::protocol::mysql::packets::{EOF_HEADER, ERR_HEADER, OK_HEADER, parse_err, read_lenenc};
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker, Step, Summary};
use crate::protocol::mysql::{CapabilityFlags, ProtocolError, RELAY_CAPABILITIES};

/// Largest logical packet the proxy accepts from a backend on its control path (greeting, auth, probes).
pub const BACKEND_MAX_PACKET: usize = 1 << 30;

/// Connection attributes the proxy sends to backends.
const ATTRS: &[(&str, &str)] = &[("program_name", "switchyard")];

/// Login details for one pool: the server, the backend user, the capabilities and charset of its clients.
#[derive(Clone)]
pub struct MyConnector {
    /// The server this pool connects to.
    pub server: Arc<Server>,
    /// Backend user name.
    pub user: String,
    /// Backend password.
    pub password: Option<String>,
    /// Capabilities to ask for: those the pool's clients negotiated (within the relay set).
    pub caps: CapabilityFlags,
    /// Collation id the pool's clients use.
    pub charset: u8,
    /// Most prepared statements kept per connection.
    pub statement_cache: usize,
}

/// A statement prepared on one backend connection.
#[derive(Debug, Clone, Copy)]
pub struct BackendStmt {
    /// Its id on that connection.
    pub id: u32,
}

/// One authenticated backend connection and what the session must know about its state.
pub struct MyBackend {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read from the backend and not yet relayed.
    pub buf: BytesMut,
    /// Commands queued for the backend and not yet written (statement closes wait here for the next write).
    pub out: BytesMut,
    /// Backend thread id.
    pub conn_id: u32,
    /// Capabilities in force.
    pub caps: CapabilityFlags,
    /// Prepared statements on this connection by statement key, most recently used first.
    pub statements: LruCache<u64, BackendStmt>,
    /// Fingerprint of the session variables applied (0 = server defaults).
    pub sets_fingerprint: u64,
    /// The current database as far as the proxy knows.
    pub database: BackendDb,
    /// The server it is connected to.
    pub server: Arc<Server>,
    /// When it was last used.
    pub last_used: Instant,
}

/// Which database a backend connection has selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendDb {
    /// None: a fresh connection (Switchyard logs in without a database).
    NoneSelected,
    /// This one, selected by COM_INIT_DB or `USE` through the proxy.
    Named(String),
    /// Not known (after COM_RESET_CONNECTION): the next client's database is selected again.
    Unknown,
}

impl BackendDb {
    /// True when `want` (a client's current database) is what the backend has selected.
    pub fn is(&self, want: Option<&str>) -> bool {
        match (self, want) {
            (BackendDb::NoneSelected, None) => true,
            (BackendDb::Named(have), Some(want)) => have == want,
            _ => false,
        }
    }
}

impl MyConnector {
    async fn open(&self) -> Result<MyBackend, ConnectError> {
        let mut stream = TcpStream::connect(&self.server.addr).await.map_err(|e| ConnectError {
            kind: ConnectErrorKind::Unreachable,
            sqlstate: None,
            message: format!("connect to {}: {e}", self.server.name),
        })?;
        let _ = stream.set_nodelay(true);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let login = BackendLogin {
            user: &self.user,
            password: self.password.as_deref(),
            database: None,
            caps: self.caps,
            charset: self.charset,
            max_packet: BACKEND_MAX_PACKET,
            connect_attrs: ATTRS,
        };
        let hs =
            connect_backend(&mut stream, &mut buf, &login).await.map_err(|e| connect_error(&self.server.name, e))?;
        let cap = std::num::NonZeroUsize::new(self.statement_cache.max(1)).expect("max(1) is non-zero");
        Ok(MyBackend {
            stream,
            buf,
            out: BytesMut::with_capacity(4 * 1024),
            conn_id: hs.conn_id,
            caps: hs.caps,
            statements: LruCache::new(cap),
            sets_fingerprint: 0,
            database: BackendDb::NoneSelected,
            server: self.server.clone(),
            last_used: Instant::now(),
        })
    }
}

/// A backend's login failure as a pool error; a server ERR keeps its code as `code/sqlstate` in `sqlstate`.
fn connect_error(server: &str, e: ProtocolError) -> ConnectError {
    match e {
        ProtocolError::Backend { code, sqlstate, message } => {
            let kind = if code == 1045 { ConnectErrorKind::Auth } else { ConnectErrorKind::Rejected };
            ConnectError { kind, sqlstate: Some(format!("{code}/{sqlstate}")), message }
        }
        ProtocolError::Io(e) => ConnectError {
            kind: ConnectErrorKind::Unreachable,
            sqlstate: None,
            message: format!("connect to {server}: {e}"),
        },
        ProtocolError::Closed | ProtocolError::Truncated => ConnectError {
            kind: ConnectErrorKind::Unreachable,
            sqlstate: None,
            message: format!("connect to {server}: closed during the handshake"),
        },
        other => ConnectError {
            kind: ConnectErrorKind::Protocol,
            sqlstate: None,
            message: format!("handshake with {server}: {other}"),
        },
    }
}

/// Splits a [`ConnectError::sqlstate`] written by this module into the MySQL code and SQLSTATE.
pub fn server_code(e: &ConnectError) -> Option<(u16, String)> {
    let (code, state) = e.sqlstate.as_deref()?.split_once('/')?;
    Some((code.parse().ok()?, state.to_string()))
}

impl MyConnector {
    /// Cancels the statement running on backend thread `thread` (`KILL QUERY`) from a connection of its own,
    /// bounded by `timeout`.
    pub async fn kill_query(&self, thread: u32, timeout: std::time::Duration) -> Result<(), String> {
        let run = async {
            let mut conn = self.open().await.map_err(|e| e.message)?;
            let mut payload = Vec::with_capacity(24);
            payload.push(crate::protocol::mysql::command::COM_QUERY);
            payload.extend_from_slice(format!("KILL QUERY {thread}").as_bytes());
            let s = exchange(&mut conn, &payload, ReplyKind::Query).await.map_err(|e| e.to_string())?;
            match s.error {
                Some(e) => Err(format!("{} ({})", e.message, e.code)),
                None => Ok(()),
            }
        };
        tokio::time::timeout(timeout, run).await.map_err(|_| format!("KILL QUERY timed out after {timeout:?}"))?
    }
}

impl Connector for MyConnector {
    type Conn = MyBackend;

    // The pool bounds `connect` and `ping` by `pool.connect_timeout`; no second timer here.
    async fn connect(&self) -> Result<MyBackend, ConnectError> {
        self.open().await
    }

    fn is_open(&self, conn: &mut MyBackend) -> bool {
        conn.buf.is_empty() && crate::net::idle_socket_is_clean(&conn.stream)
    }

    async fn ping(&self, conn: &mut MyBackend) -> bool {
        let fut = exchange(conn, &[crate::protocol::mysql::command::COM_PING], ReplyKind::Simple);
        matches!(fut.await, Ok(s) if s.error.is_none())
    }
}

/// Sends one command the proxy itself issues and reads its whole reply, which nobody else sees.
pub async fn exchange(conn: &mut MyBackend, payload: &[u8], kind: ReplyKind) -> Result<Summary, ProtocolError> {
    write_packet(&mut conn.out, 0, payload);
    let written = conn.stream.write_all(&conn.out).await;
    conn.out.clear();
    written?;
    read_reply(conn, ReplyTracker::new(kind, conn.caps)).await
}

/// Reads physical packets until `tracker` says the reply is complete.
pub async fn read_reply(conn: &mut MyBackend, mut tracker: ReplyTracker) -> Result<Summary, ProtocolError> {
    loop {
        let mut done = None;
        let mut it = packets(&conn.buf, MAX_PAYLOAD);
        for packet in it.by_ref() {
            let (_, payload) = packet?;
            match tracker.feed(payload)? {
                Step::Continue => {}
                Step::Done(s) => {
                    done = Some(s);
                    break;
                }
                Step::LocalInfile { .. } => {
                    return Err(ProtocolError::Unexpected { stage: "a proxy command", first: 0xFB });
                }
            }
        }
        let used = it.consumed();
        conn.buf.advance(used);
        if let Some(s) = done {
            return Ok(s);
        }
        reserve_for_packet(&mut conn.buf);
        if conn.stream.read_buf(&mut conn.buf).await? == 0 {
            return Err(ProtocolError::Closed);
        }
    }
}

/// Makes room in `buf` for the rest of the packet it starts with (or a fresh read).
pub fn reserve_for_packet(buf: &mut BytesMut) {
    let need = match header(buf) {
        Some((len, _)) => (HEADER_LEN + len).saturating_sub(buf.len()),
        None => 0,
    };
    buf.reserve(need.max(16 * 1024));
}

/// Health probe: read-only mode and replication state.
pub struct MyProbe {
    /// User the probe logs in as.
    pub user: String,
    /// Its password.
    pub password: Option<String>,
}

/// Lag reported for a replica whose replication is broken (threads stopped, `Seconds_Behind_Master` NULL):
/// larger than any sensible `max_replication_lag`, so it leaves the read pool.
const BROKEN_REPLICATION_LAG: Duration = Duration::from_secs(365 * 24 * 3600);

impl Probe for MyProbe {
    async fn probe(&self, server: &Server) -> Result<ProbeResult, String> {
        let mut stream = TcpStream::connect(&server.addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut buf = BytesMut::new();
        let caps = RELAY_CAPABILITIES - CapabilityFlags::CLIENT_DEPRECATE_EOF - CapabilityFlags::CLIENT_LOCAL_FILES;
        let login = BackendLogin {
            user: &self.user,
            password: self.password.as_deref(),
            database: None,
            caps,
            charset: 45,
            max_packet: BACKEND_MAX_PACKET,
            connect_attrs: ATTRS,
        };
        connect_backend(&mut stream, &mut buf, &login).await.map_err(|e| format!("handshake: {e}"))?;
        let (_, rows) = text_query(&mut stream, &mut buf, "SELECT @@read_only").await?;
        let read_only = rows.first().and_then(|r| r.first()).cloned().flatten().is_some_and(|v| v != "0");
        let (names, rows) = text_query(&mut stream, &mut buf, "SHOW SLAVE STATUS").await?;
        let lag = rows.first().map(|row| {
            let get = |name: &str| names.iter().position(|n| n == name).and_then(|i| row.get(i).cloned().flatten());
            let running =
                get("Slave_IO_Running").as_deref() == Some("Yes") && get("Slave_SQL_Running").as_deref() == Some("Yes");
            match get("Seconds_Behind_Master").and_then(|s| s.parse::<u64>().ok()) {
                Some(secs) if running => Duration::from_secs(secs),
                _ => BROKEN_REPLICATION_LAG,
            }
        });
        let mut out = BytesMut::new();
        write_packet(&mut out, 0, &[crate::protocol::mysql::command::COM_QUIT]);
        let _ = stream.write_all(&out).await;
        Ok(ProbeResult { read_only, lag })
    }
}

/// Runs a text query on a connection without CLIENT_DEPRECATE_EOF and decodes its single result set: column
/// names and rows (None for NULL). Only for the probe: the data path never decodes rows.
async fn text_query(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    sql: &str,
) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), String> {
    let mut out = BytesMut::new();
    let mut payload = vec![crate::protocol::mysql::command::COM_QUERY];
    payload.extend_from_slice(sql.as_bytes());
    write_packet(&mut out, 0, &payload);
    s.write_all(&out).await.map_err(|e| format!("send probe: {e}"))?;
    let mut next = async || match read_packet(s, buf, BACKEND_MAX_PACKET).await {
        Ok(Some((_, p))) => Ok(p),
        Ok(None) => Err("closed during probe".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let first = next().await?;
    match first.first() {
        Some(&ERR_HEADER) => return Err(parse_err(&first).map(|e| e.message).unwrap_or_else(|e| e.to_string())),
        Some(&OK_HEADER) => return Ok((Vec::new(), Vec::new())),
        _ => {}
    }
    let (count, _) = read_lenenc(&first).ok_or("malformed column count")?;
    let mut names = Vec::new();
    for _ in 0..count {
        let def = next().await?;
        names.push(lenenc_fields(&def, 5).and_then(|f| f.into_iter().nth(4).flatten()).unwrap_or_default());
    }
    let _eof = next().await?;
    let mut rows = Vec::new();
    loop {
        let p = next().await?;
        match p.first() {
            Some(&EOF_HEADER) if p.len() < 9 => return Ok((names, rows)),
            Some(&ERR_HEADER) => return Err(parse_err(&p).map(|e| e.message).unwrap_or_else(|e| e.to_string())),
            _ => rows.push(lenenc_fields(&p, count as usize).ok_or("malformed row")?),
        }
    }
}

/// The first `n` length-encoded strings of a packet (0xFB is NULL).
fn lenenc_fields(p: &[u8], n: usize) -> Option<Vec<Option<String>>> {
    let mut pos = 0;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if p.get(pos) == Some(&0xFB) {
            out.push(None);
            pos += 1;
            continue;
        }
        let (len, used) = read_lenenc(p.get(pos..)?)?;
        let start = pos + used;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        out.push(Some(String::from_utf8_lossy(p.get(start..end)?).into_owned()));
        pos = end;
    }
    Some(out)
}

/// The version string and capabilities a server announces in its greeting (no login).
pub async fn greeting_facts(addr: &str, timeout: Duration) -> Option<(String, CapabilityFlags)> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let mut buf = BytesMut::new();
        let g = read_greeting(&mut s, &mut buf, BACKEND_MAX_PACKET).await.ok()?;
        Some((g.server_version, g.caps))
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::lenenc_fields;

    #[test]
    fn lenenc_fields_reads_strings_and_nulls() {
        let p = [3, b'a', b'b', b'c', 0xFB, 0, 1, b'x'];
        let got = lenenc_fields(&p, 4).expect("well formed");
        assert_eq!(got, vec![Some("abc".into()), None, Some(String::new()), Some("x".into())]);
        assert!(lenenc_fields(&p, 5).is_none(), "past the end");
        assert!(lenenc_fields(&[5, b'a'], 1).is_none(), "short string");
    }
}
