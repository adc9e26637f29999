//! The relay loop of one MySQL client: reads client commands one at a time, relays each reply from the backend
//! packet by packet as it was received (never decoded and re-encoded), and gives the backend back when the
//! reply's status flags say the client is outside a transaction with autocommit on and nothing pins it.
//!
//! One command is in flight at a time: while a reply is relayed, further client bytes are only buffered (a
//! client that pipelines is served in order). LOAD DATA LOCAL INFILE is the exception: after the backend's
//! 0xFB request the client's file packets are forwarded raw until the empty packet that ends them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::classify::{Classification, PinReason, SessionEffect};
use crate::config::User;
use crate::net::ClientStream;
use crate::pool::Pooled;
use crate::pool::topology::InUse;
use crate::protocol::mysql::auth::ServerHandshake;
use crate::protocol::mysql::framer::{HEADER_LEN, MAX_PAYLOAD, packet_len, packets};
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker, Step, Summary};
use crate::protocol::mysql::{CapabilityFlags, StatusFlags};

use super::backend::{MyBackend, MyConnector, exchange, reserve_for_packet};
use super::engine::MyEngine;
use super::state::{ClientState, ClientStmt};
use super::{ClientError, SessionError};

/// Client bytes buffered at most while a reply is in flight (beyond that the client is not read).
const CLIENT_READAHEAD: usize = 64 * 1024;

/// A backend held by the session.
pub(super) struct Attached {
    pub(super) conn: Pooled<MyConnector>,
    pub(super) _use: InUse,
}

/// What a command in flight was, for the effects of its reply.
pub(super) enum Effect {
    /// Nothing to apply beyond the status flags.
    None,
    /// A text statement and its classification.
    Query(Arc<Classification>, Arc<str>),
    /// COM_STMT_PREPARE: the proxy id given to the client.
    Prepare { client_id: u32, key: u64, sql: Arc<[u8]>, class: Arc<Classification> },
    /// COM_STMT_EXECUTE, with the cursor flag.
    Execute { client_id: u32, cursor: bool },
    /// COM_STMT_FETCH.
    Fetch { client_id: u32 },
    /// COM_STMT_RESET.
    StmtReset { client_id: u32 },
    /// COM_INIT_DB.
    InitDb(String),
    /// COM_RESET_CONNECTION.
    ResetConnection,
}

/// The command whose reply is being relayed.
pub(super) struct Inflight {
    pub(super) tracker: ReplyTracker,
    pub(super) effect: Effect,
    /// Some reply bytes reached the client.
    pub(super) relayed: bool,
    /// The client is sending LOCAL INFILE data.
    pub(super) infile: bool,
    /// The last infile packet was a full 16 MiB - 1 piece (the next one continues it).
    pub(super) infile_continued: bool,
    /// A read-only command that may be sent again on another backend if this one fails before replying.
    pub(super) retry: Option<Bytes>,
}

/// One client's session after the handshake.
pub struct Session {
    pub(super) engine: Arc<MyEngine>,
    pub(super) client: ClientStream,
    pub(super) cbuf: BytesMut,
    pub(super) out: BytesMut,
    pub(super) user: Arc<User>,
    /// Capabilities negotiated with the client (and, through the pool key, with its backends).
    pub(super) caps: CapabilityFlags,
    pub(super) charset: u8,
    /// The handshake state: its scramble verifies COM_CHANGE_USER.
    pub(super) hs: ServerHandshake,
    pub(super) secure: bool,
    pub(super) session_mode: bool,
    pub(super) state: ClientState,
    pub(super) backend: Option<Attached>,
    pub(super) inflight: Option<Inflight>,
    pub(super) in_trans: bool,
    pub(super) autocommit: bool,
    pub(super) pinned: Option<PinReason>,
    /// Client statement ids with an open cursor.
    pub(super) cursors: HashSet<u32>,
    /// Client statement ids with long data sent and not yet executed.
    pub(super) long_data: HashSet<u32>,
    /// The backend of an open transaction was lost: the next command is answered with an error and the
    /// connection closed.
    pub(super) lost: bool,
    pub(super) last_write: Option<Instant>,
    pub(super) max_message: usize,
}

impl Session {
    /// Runs the session until the client leaves or the proxy shuts down.
    pub async fn run(mut self) -> Result<(), SessionError> {
        let result = self.relay().await;
        self.finish();
        result
    }

    async fn relay(&mut self) -> Result<(), SessionError> {
        let shutdown = self.engine.shutdown.clone();
        loop {
            if !self.on_client_data().await? {
                return Ok(());
            }
            let infile = self.inflight.as_ref().is_some_and(|i| i.infile);
            let read_client = self.inflight.is_none() || infile || self.cbuf.len() < CLIENT_READAHEAD;
            if self.cbuf.capacity() - self.cbuf.len() < 4096 {
                reserve_for_packet(&mut self.cbuf);
            }
            let event = match &mut self.backend {
                Some(att) => {
                    let conn = &mut *att.conn;
                    if conn.buf.capacity() - conn.buf.len() < 4096 {
                        reserve_for_packet(&mut conn.buf);
                    }
                    tokio::select! {
                        r = self.client.read_buf(&mut self.cbuf), if read_client => Event::Client(r),
                        r = conn.stream.read_buf(&mut conn.buf) => Event::Backend(r),
                    }
                }
                None => tokio::select! {
                    r = self.client.read_buf(&mut self.cbuf) => Event::Client(r),
                    _ = shutdown.cancelled() => Event::Shutdown,
                },
            };
            match event {
                Event::Client(Ok(0)) | Event::Client(Err(_)) => return Ok(()),
                Event::Client(Ok(_)) => {}
                Event::Backend(Ok(n)) if n > 0 => self.on_backend_data().await?,
                Event::Backend(r) => {
                    if let Err(e) = r {
                        tracing::info!(error = %e, "backend read failed");
                    }
                    if !self.on_backend_lost(false).await? {
                        return Ok(());
                    }
                }
                // Idle between transactions: close, as a server that shuts down does.
                Event::Shutdown => return Ok(()),
            }
        }
    }

    /// Handles the complete client packets in the buffer while no reply is in flight (or forwards LOCAL
    /// INFILE data). Returns false when the client quit or must be disconnected.
    async fn on_client_data(&mut self) -> Result<bool, SessionError> {
        loop {
            match &self.inflight {
                Some(i) if i.infile => {
                    if !self.forward_infile()? {
                        break;
                    }
                    continue;
                }
                Some(_) => break,
                None => {}
            }
            let packet = match crate::protocol::mysql::framer::take_packet(&mut self.cbuf, self.max_message) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return self.bad_framing(e).await.map(|_| false),
            };
            if !self.on_command(packet.0, packet.1).await? {
                self.flush().await?;
                return Ok(false);
            }
        }
        self.flush().await?;
        Ok(true)
    }

    /// Forwards complete LOCAL INFILE packets from the client to the backend, raw. Returns false when more
    /// bytes are needed.
    fn forward_infile(&mut self) -> Result<bool, SessionError> {
        let len = match packet_len(&self.cbuf, self.max_message) {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(false),
            Err(e) => return Err(SessionError::Client(e.to_string())),
        };
        let raw = self.cbuf.split_to(len);
        let inf = self.inflight.as_mut().expect("caller checked");
        let payload_len = len - HEADER_LEN;
        if payload_len == 0 && !inf.infile_continued {
            inf.infile = false;
        }
        inf.infile_continued = payload_len == MAX_PAYLOAD;
        if let Some(att) = &mut self.backend {
            att.conn.out.extend_from_slice(&raw);
        }
        Ok(true)
    }

    /// A client packet that cannot be framed: tell the client and close.
    async fn bad_framing(&mut self, e: crate::protocol::mysql::ProtocolError) -> Result<(), SessionError> {
        use crate::protocol::mysql::ProtocolError;
        let (err, msg) = match &e {
            ProtocolError::TooLarge { .. } => {
                (ClientError::new(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes"), e.to_string())
            }
            _ => (ClientError::new(1047, "08S01", "Malformed packet"), e.to_string()),
        };
        self.out.clear();
        err.write(&mut self.out, 1);
        let _ = self.client.write_all(&self.out).await;
        let _ = self.client.flush().await;
        self.out.clear();
        // Let the client finish sending what it started, so it reads the error rather than a reset.
        let drain = async {
            let mut sink = vec![0u8; 64 * 1024];
            while matches!(self.client.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
        Err(SessionError::Client(msg))
    }

    /// Writes what is queued for the backend, then what is queued for the client.
    pub(super) async fn flush(&mut self) -> Result<(), SessionError> {
        if let Some(att) = &mut self.backend
            && !att.conn.out.is_empty()
        {
            let conn = &mut *att.conn;
            let r = conn.stream.write_all(&conn.out).await;
            conn.out.clear();
            if let Err(e) = r {
                tracing::info!(error = %e, "backend write failed");
                if !self.on_backend_lost(true).await? {
                    return Err(SessionError::ClientGone);
                }
            }
        }
        if !self.out.is_empty() {
            self.client.write_all(&self.out).await.map_err(|_| SessionError::ClientGone)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Relays the complete reply packets in the backend's buffer to the client in one write.
    async fn on_backend_data(&mut self) -> Result<(), SessionError> {
        let Some(att) = &mut self.backend else { return Ok(()) };
        let conn = &mut *att.conn;
        let Some(inf) = &mut self.inflight else {
            // An idle backend spoke (an ERR before it closes, usually): it cannot be trusted any more.
            tracing::debug!("unsolicited bytes from an idle backend");
            conn.buf.clear();
            return self.on_backend_lost(false).await.map(|_| ());
        };
        let mut done: Option<Summary> = None;
        let mut patch: Option<usize> = None;
        let patch_id = match inf.effect {
            Effect::Prepare { client_id, .. } if !inf.relayed => Some(client_id),
            _ => None,
        };
        let mut it = packets(&conn.buf, MAX_PAYLOAD);
        loop {
            let start = it.consumed();
            let Some(packet) = it.next() else { break };
            let (_, payload) = packet.map_err(|e| SessionError::Backend(e.to_string()))?;
            if start == 0 && patch_id.is_some() && payload.first() == Some(&0) && payload.len() >= 5 {
                patch = Some(start + HEADER_LEN + 1);
            }
            match inf.tracker.feed(payload).map_err(|e| SessionError::Backend(e.to_string()))? {
                Step::Continue => {}
                Step::LocalInfile { .. } => {
                    inf.infile = true;
                    inf.infile_continued = false;
                    break;
                }
                Step::Done(s) => {
                    done = Some(s);
                    break;
                }
            }
        }
        let used = it.consumed();
        if let (Some(at), Some(id)) = (patch, patch_id) {
            conn.buf[at..at + 4].copy_from_slice(&id.to_le_bytes());
        }
        if used > 0 {
            inf.relayed = true;
            self.client.write_all(&conn.buf[..used]).await.map_err(|_| SessionError::ClientGone)?;
            conn.buf.advance(used);
        }
        if let Some(summary) = done {
            let inf = self.inflight.take().expect("checked above");
            self.on_reply_done(inf.effect, summary);
            self.maybe_release();
        }
        Ok(())
    }

    /// Applies a finished reply: transaction state from its status flags, then the command's effects.
    fn on_reply_done(&mut self, effect: Effect, s: Summary) {
        if let Some(status) = s.status {
            self.in_trans = status.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
            self.autocommit = status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT);
        }
        let ok = s.error.is_none();
        match effect {
            Effect::None => {}
            Effect::Query(class, sql) if ok => self.apply_query(&class, &sql),
            Effect::Query(..) => {}
            Effect::Prepare { client_id, key, sql, class } => {
                if let (true, Some(p)) = (ok, s.prepared) {
                    if let Some(att) = &mut self.backend {
                        super::attach::cache_statement(&mut att.conn, key, p.statement_id);
                    }
                    let stmt = ClientStmt { key, sql, class, num_params: p.num_params, param_types: None };
                    self.state.statements.insert(client_id, stmt);
                }
            }
            Effect::Execute { client_id, cursor } => {
                self.long_data.remove(&client_id);
                let opened = s.status.is_some_and(|st| st.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS));
                if ok && cursor && opened {
                    self.cursors.insert(client_id);
                }
            }
            Effect::Fetch { client_id } => {
                let last = s.status.is_some_and(|st| st.contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT));
                if !ok || last {
                    self.cursors.remove(&client_id);
                }
            }
            Effect::StmtReset { client_id } => {
                self.long_data.remove(&client_id);
                self.cursors.remove(&client_id);
            }
            Effect::InitDb(name) if ok => self.set_database(name),
            Effect::InitDb(_) => {}
            Effect::ResetConnection => {
                if let Some(att) = &mut self.backend {
                    att.conn.statements.clear();
                    att.conn.sets_fingerprint = 0;
                    att.conn.database = None;
                }
            }
        }
    }

    fn apply_query(&mut self, class: &Classification, sql: &str) {
        match &class.session {
            SessionEffect::Set { name } if !class.multi_statement && name != "autocommit" => {
                self.state.set(name, sql);
                if let Some(att) = &mut self.backend {
                    att.conn.sets_fingerprint = self.state.sets_fingerprint();
                }
            }
            SessionEffect::UseDatabase { name } if !class.multi_statement => self.set_database(name.clone()),
            _ => {}
        }
    }

    fn set_database(&mut self, name: String) {
        if let Some(att) = &mut self.backend {
            att.conn.database = Some(name.clone());
        }
        self.state.database = Some(name);
    }

    /// Whether the client must keep its backend now.
    fn holds_backend(&self) -> bool {
        self.inflight.is_some()
            || self.in_trans
            || !self.autocommit
            || self.pinned.is_some()
            || !self.cursors.is_empty()
            || !self.long_data.is_empty()
            || self.session_mode
    }

    /// Gives the backend back when the client is between transactions and nothing pins it.
    pub(super) fn maybe_release(&mut self) {
        if self.backend.is_none() || self.holds_backend() {
            return;
        }
        let att = self.backend.take().expect("checked above");
        let mut conn = att.conn;
        conn.last_used = Instant::now();
        conn.release();
    }

    /// The backend connection failed; `unsent` says the command in flight could not even be written. Returns
    /// false when the client must be disconnected too.
    ///
    /// A read-only command that never reached the backend is sent again elsewhere. One that did reach it is not:
    /// the backend may have been killed on purpose, and the client is told.
    pub(super) async fn on_backend_lost(&mut self, unsent: bool) -> Result<bool, SessionError> {
        let Some(att) = self.backend.take() else { return Ok(true) };
        att.conn.discard();
        let inflight = self.inflight.take();
        let held = self.in_trans || !self.autocommit || self.pinned.is_some() || self.session_mode;
        let held = held || !self.cursors.is_empty() || !self.long_data.is_empty();
        self.cursors.clear();
        self.long_data.clear();
        self.in_trans = false;
        self.autocommit = true;
        let Some(inf) = inflight else {
            // Lost between statements of a transaction: the next command learns it.
            self.lost = held;
            return Ok(true);
        };
        if unsent
            && !inf.relayed
            && !held
            && let Some(payload) = inf.retry.clone()
        {
            tracing::info!("backend lost before the command reached it; sending it elsewhere");
            return self.retry(inf, payload).await;
        }
        let err = ClientError::new(1927, "08S01", "Lost connection to backend server during query");
        self.out.clear();
        err.write(&mut self.out, 1);
        self.client.write_all(&self.out).await.map_err(|_| SessionError::ClientGone)?;
        self.out.clear();
        Ok(!held && !inf.relayed)
    }

    /// Sends a read that lost its backend again, on a fresh one.
    async fn retry(&mut self, inf: Inflight, payload: Bytes) -> Result<bool, SessionError> {
        let class = match &inf.effect {
            Effect::Query(c, _) => Some(c.clone()),
            _ => None,
        };
        let attached = match class {
            Some(c) => self.attach(&c, 1).await?,
            None => self.attach_role_or_tell(crate::config::Role::Read, 1).await?,
        };
        if !attached {
            // The ERR is in `out`; the relay loop flushes it.
            return Ok(true);
        }
        let kind = match inf.effect {
            Effect::Prepare { .. } => ReplyKind::StmtPrepare,
            Effect::InitDb(_) => ReplyKind::Simple,
            _ => ReplyKind::Query,
        };
        let tracker = ReplyTracker::new(kind, self.caps);
        self.send(&payload, Inflight { tracker, retry: None, ..inf });
        Ok(true)
    }

    /// Queues `payload` as a command for the attached backend and records the reply expected.
    pub(super) fn send(&mut self, payload: &[u8], inflight: Inflight) {
        let att = self.backend.as_mut().expect("caller attached a backend");
        crate::protocol::mysql::framer::write_packet(&mut att.conn.out, 0, payload);
        self.inflight = Some(inflight);
    }

    /// The client is gone: give the backend back in a known state, or close it.
    fn finish(&mut self) {
        let Some(att) = self.backend.take() else { return };
        if self.inflight.is_some() {
            att.conn.discard();
            return;
        }
        let clean = !self.in_trans
            && self.autocommit
            && self.pinned.is_none()
            && self.cursors.is_empty()
            && self.long_data.is_empty();
        if clean {
            att.conn.release();
            return;
        }
        tokio::spawn(reset_and_release(att.conn));
    }
}

/// Resets a backend a client left in a transaction or with state that cannot be shared (COM_RESET_CONNECTION
/// rolls back, unlocks, drops temporary tables, user variables and prepared statements); discards it if that
/// fails, so that no connection in an unknown state is reused.
pub(super) async fn reset_and_release(mut conn: Pooled<MyConnector>) {
    let reset = exchange(&mut conn, &[crate::protocol::mysql::command::COM_RESET_CONNECTION], ReplyKind::Simple);
    match tokio::time::timeout(std::time::Duration::from_secs(5), reset).await {
        Ok(Ok(s)) if s.error.is_none() => {
            clear_backend_state(&mut conn);
            conn.release();
        }
        _ => conn.discard(),
    }
}

/// What a backend knows after COM_RESET_CONNECTION: no statements, default variables; its database is treated
/// as unknown.
pub(super) fn clear_backend_state(conn: &mut MyBackend) {
    conn.statements.clear();
    conn.sets_fingerprint = 0;
    conn.database = None;
}

enum Event {
    Client(std::io::Result<usize>),
    Backend(std::io::Result<usize>),
    Shutdown,
}
