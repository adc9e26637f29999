//! What a session reports about one statement. Built on the data path, so it holds only cheap handles: the
//! classification and server are shared `Arc`s, the text and parameters are reference-counted views of the
//! frames the client sent. Nothing is decoded until the aggregator decides the statement is worth it (a new
//! digest, a slow statement, a new worst sample).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::classify::{Classification, Dialect};
use crate::pool::topology::Server;

/// Who ran a statement, shared by all the events of one session. Only the current database changes (MySQL
/// `USE` / COM_INIT_DB), rarely, so it is swapped rather than copied into every event.
#[derive(Debug)]
pub struct SessionInfo {
    /// The proxy's id for the client connection (PostgreSQL backend pid / MySQL connection id it was given).
    pub client_id: u64,
    /// Login user.
    pub user: String,
    /// The engine.
    pub engine: Dialect,
    database: arc_swap::ArcSwap<String>,
}

impl SessionInfo {
    /// A session of `user` in `database` (empty: none).
    pub fn new(client_id: u64, user: &str, database: &str, engine: Dialect) -> SessionInfo {
        SessionInfo {
            client_id,
            user: user.to_string(),
            engine,
            database: arc_swap::ArcSwap::from_pointee(database.to_string()),
        }
    }

    /// The session's current database (empty: none).
    pub fn database(&self) -> Arc<String> {
        self.database.load_full()
    }

    /// Records a change of the current database.
    pub fn set_database(&self, database: &str) {
        self.database.store(Arc::new(database.to_string()));
    }
}

/// Where the statement text is.
#[derive(Debug, Clone, Default)]
pub enum Text {
    /// Not known (a FunctionCall, a statement the proxy could not see).
    #[default]
    None,
    /// `bytes[start..end]` of a frame the client sent.
    Frame {
        /// The frame.
        bytes: Bytes,
        /// First byte of the text.
        start: usize,
        /// One past its last byte.
        end: usize,
    },
    /// Already-shared text (a prepared statement's).
    Shared(Arc<str>),
    /// Already-shared bytes (a MySQL prepared statement's text, as the client sent it).
    SharedBytes(Arc<[u8]>),
}

impl Text {
    /// The text of a NUL-terminated string at `start` in `bytes` (a PostgreSQL Query frame).
    pub fn nul_terminated(bytes: Bytes, start: usize) -> Text {
        let end = bytes[start.min(bytes.len())..].iter().position(|b| *b == 0).map_or(bytes.len(), |p| start + p);
        Text::Frame { bytes, start, end }
    }

    /// The text, decoded lossily (the monitor only reads it).
    pub fn to_string_lossy(&self) -> String {
        match self {
            Text::None => String::new(),
            Text::Frame { bytes, start, end } => {
                String::from_utf8_lossy(bytes.get(*start..*end).unwrap_or_default()).into_owned()
            }
            Text::Shared(s) => s.to_string(),
            Text::SharedBytes(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }
}

/// The parameters a statement was executed with, still in wire form.
#[derive(Debug, Clone, Default)]
pub enum Params {
    /// None (simple query, or not captured).
    #[default]
    None,
    /// A whole PostgreSQL Bind frame.
    PgBind(Bytes),
    /// A MySQL COM_STMT_EXECUTE payload (command byte first) and the statement's parameter count.
    MyExecute {
        /// The payload.
        payload: Bytes,
        /// Parameters the statement takes.
        count: u16,
        /// Parameter types from the last execute that sent them (type byte, unsigned flag byte each).
        types: Option<Arc<[u8]>>,
    },
}

/// One finished statement.
#[derive(Debug, Clone)]
pub struct QueryEvent {
    /// Who ran it.
    pub session: Arc<SessionInfo>,
    /// What it is (kind, digest fingerprint, tables).
    pub class: Arc<Classification>,
    /// Its text.
    pub text: Text,
    /// Its parameters.
    pub params: Params,
    /// The server that ran it (name, role = pool).
    pub server: Arc<Server>,
    /// When the statement's first byte was read.
    pub started: Instant,
    /// First byte received to the reply's end.
    pub total: Duration,
    /// Sent to the backend to the reply's end (`total` minus routing and checkout).
    pub backend: Duration,
    /// Rows returned or affected.
    pub rows: u64,
    /// SQLSTATE (PostgreSQL) or error number (MySQL) when it failed.
    pub error: Option<Box<str>>,
    /// MySQL: the server said no index / no good index was used.
    pub no_index_used: bool,
}

/// The timing and outcome a session accumulates for one statement while its reply streams back.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The statement.
    pub class: Arc<Classification>,
    /// When the statement's first byte was read.
    pub started: Instant,
    /// When it was handed to the backend.
    pub sent: Instant,
    /// Its text.
    pub text: Text,
    /// Its parameters.
    pub params: Params,
    /// Rows so far.
    pub rows: u64,
    /// First error seen.
    pub error: Option<Box<str>>,
    /// MySQL index-use flags seen.
    pub no_index_used: bool,
}

impl Probe {
    /// A probe for a statement read at `started` and sent now.
    pub fn new(class: Arc<Classification>, started: Instant, text: Text, params: Params) -> Probe {
        Probe { class, started, sent: Instant::now(), text, params, rows: 0, error: None, no_index_used: false }
    }

    /// The event for this statement, finished now.
    pub fn finish(self, session: &Arc<SessionInfo>, server: &Arc<Server>) -> QueryEvent {
        let now = Instant::now();
        QueryEvent {
            session: session.clone(),
            class: self.class,
            text: self.text,
            params: self.params,
            server: server.clone(),
            started: self.started,
            total: now.saturating_duration_since(self.started),
            backend: now.saturating_duration_since(self.sent),
            rows: self.rows,
            error: self.error,
            no_index_used: self.no_index_used,
        }
    }
}

/// Rows reported by a PostgreSQL CommandComplete tag (`SELECT 5`, `INSERT 0 3`, `UPDATE 2`, `COPY 10`): its
/// last word when that is a number.
pub fn pg_command_rows(tag: &[u8]) -> u64 {
    let tag = tag.strip_suffix(&[0]).unwrap_or(tag);
    let last = tag.rsplit(|b| *b == b' ').next().unwrap_or_default();
    if last.is_empty() || !last.iter().all(u8::is_ascii_digit) || last.len() == tag.len() {
        return 0;
    }
    last.iter().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tags_give_their_row_counts() {
        for (tag, rows) in [
            (&b"SELECT 5\0"[..], 5),
            (b"INSERT 0 3\0", 3),
            (b"UPDATE 12", 12),
            (b"DELETE 0\0", 0),
            (b"COPY 100000\0", 100_000),
            (b"BEGIN\0", 0),
            (b"CREATE TABLE\0", 0),
            (b"\0", 0),
        ] {
            assert_eq!(pg_command_rows(tag), rows, "{}", String::from_utf8_lossy(tag));
        }
    }

    #[test]
    fn query_text_stops_at_the_nul() {
        let frame = Bytes::from_static(b"Q\0\0\0\x0eselect 1\0");
        assert_eq!(Text::nul_terminated(frame, 5).to_string_lossy(), "select 1");
    }
}
