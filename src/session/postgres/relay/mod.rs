//! The relay loop of one PostgreSQL client: frames client messages, attaches a backend when a transaction
//! starts (routing by classification), relays replies frame by frame without re-encoding, and gives the backend
//! back when ReadyForQuery says idle. Named prepared statements are renamed to shared names and re-parsed on
//! backends that lack them; session SETs are replayed on backends whose applied set differs.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::classify::Dialect;
use crate::classify::{Classification, PinReason, SessionEffect, TxnEffect};
use crate::config::{Role, User};
use crate::monitor::{Params, Probe, SessionInfo, Text, event::pg_command_rows};
use crate::net::ClientStream;
use crate::pool::topology::{InUse, Server};
use crate::pool::{ConnectErrorKind, PoolError, Pooled};
use crate::protocol::postgres::{self as pg, ProtocolError, messages};
use crate::route::{self, SessionView};
use crate::session::clients::Client;

mod attach;
mod effects;
mod statements;

use super::SessionError;
use super::backend::{BACKEND_MAX_MESSAGE, PgConnector};
use super::cancel::{CancelSlot, CancelTarget};
use super::engine::{PgEngine, PgPool};
use super::expect::{Action, Expect, Pending, Sent};
use super::state::{ClientState, shared_name};

/// A backend held by the session.
struct Attached {
    conn: Pooled<PgConnector>,
    in_use: InUse,
}

/// A session-state change that takes effect when its transaction ends well.
enum SessionOp {
    Set(String, Arc<str>),
    Reset(String),
    ResetAll,
}

/// Who an authenticated client is and what start-up established.
pub struct Login {
    /// The configured user.
    pub user: Arc<User>,
    /// The database asked for.
    pub database: String,
    /// The proxy-issued backend pid.
    pub pid: i32,
    /// The session's cancel slot.
    pub cancel: CancelSlot,
    /// Session pooling instead of transaction pooling.
    pub session_mode: bool,
    /// Start-up parameters as session settings.
    pub state: ClientState,
}

/// One client's session after start-up.
pub struct Session {
    engine: Arc<PgEngine>,
    client: ClientStream,
    user: Arc<User>,
    database: String,
    pid: i32,
    /// Where a cancel request for this client goes now.
    cancel: CancelSlot,
    session_mode: bool,
    state: ClientState,
    cbuf: BytesMut,
    out_c: BytesMut,
    out_b: BytesMut,
    backend: Option<Attached>,
    pending: Pending,
    /// Status byte of the last ReadyForQuery relayed ('I' idle, 'T' in transaction, 'E' failed transaction).
    status: u8,
    pinned: Option<PinReason>,
    /// The client changed state the proxy cannot track: reset before the backend is reused.
    dirty: bool,
    last_write: Option<Instant>,
    /// Classification of the statement bound to the unnamed portal (for Execute's effects).
    bound: Option<(Arc<Classification>, Arc<str>)>,
    /// Classification of the last unnamed Parse.
    unnamed: Option<(Arc<Classification>, Arc<str>)>,
    /// SET / RESET waiting for their transaction to end.
    ops: Vec<SessionOp>,
    /// The current transaction was rolled back or failed: drop `ops`.
    txn_aborted: bool,
    /// A backend could not be attached in the middle of an extended-protocol batch: ignore up to Sync.
    skip_to_sync: bool,
    max_message: usize,
    synth: Vec<u8>,
    /// An ErrorResponse was relayed since the last ReadyForQuery.
    error_in_cycle: bool,
    /// Pools this session has used, so that attaching costs no shared-map lookup.
    pools: Vec<(Arc<Server>, Arc<PgPool>)>,
    /// Who this client is, for the monitor's events.
    info: Arc<SessionInfo>,
    /// When the last Bind arrived and the frame itself (kept only while monitoring), for the Execute's event.
    bind_capture: Option<(Instant, Bytes)>,
}

impl Session {
    /// A session for an authenticated client.
    pub fn new(engine: Arc<PgEngine>, client: ClientStream, login: Login) -> Session {
        let Login { user, database, pid, cancel, session_mode, state } = login;
        let max_message = engine.config().general.max_message_size;
        let info = Arc::new(SessionInfo::new(u64::from(pid.unsigned_abs()), &user.name, &database, Dialect::Postgres));
        Session {
            engine,
            client,
            user,
            database,
            pid,
            cancel,
            session_mode,
            state,
            cbuf: BytesMut::with_capacity(8 * 1024),
            out_c: BytesMut::with_capacity(16 * 1024),
            out_b: BytesMut::with_capacity(8 * 1024),
            backend: None,
            pending: Pending::default(),
            status: b'I',
            pinned: None,
            dirty: false,
            last_write: None,
            bound: None,
            unnamed: None,
            ops: Vec::new(),
            txn_aborted: false,
            skip_to_sync: false,
            max_message,
            synth: Vec::new(),
            error_in_cycle: false,
            pools: Vec::new(),
            info,
            bind_capture: None,
        }
    }

    /// Who logged in: user name and database.
    pub fn login(&self) -> (&str, &str) {
        (&self.user.name, &self.database)
    }

    /// Runs the session until the client leaves, the proxy shuts down or `client` is killed. The server the
    /// session holds a backend of is published on `client` whenever it changes.
    pub async fn run(mut self, client: &Client) -> Result<(), SessionError> {
        let result = self.relay(client).await;
        self.engine.cancels.remove(self.pid);
        self.finish();
        client.set_server(None);
        result
    }

    async fn relay(&mut self, registry: &Client) -> Result<(), SessionError> {
        let shutdown = self.engine.shutdown.clone();
        let kill = registry.kill_token().clone();
        loop {
            registry.set_server(self.backend.as_ref().map(|a| a.in_use.server()));
            let event = match &mut self.backend {
                Some(att) => {
                    let backend = &mut *att.conn;
                    tokio::select! {
                        r = self.client.read_buf(&mut self.cbuf) => Event::Client(r),
                        r = backend.stream.read_buf(&mut backend.buf) => Event::Backend(r),
                        _ = kill.cancelled() => Event::Killed,
                    }
                }
                None => tokio::select! {
                    r = self.client.read_buf(&mut self.cbuf) => Event::Client(r),
                    _ = shutdown.cancelled() => Event::Shutdown,
                    _ = kill.cancelled() => Event::Killed,
                },
            };
            match event {
                Event::Killed => {
                    super::fatal(&mut self.client, "57P01", "terminating connection due to administrator command")
                        .await;
                    return Ok(());
                }
                Event::Client(Ok(0)) | Event::Client(Err(_)) => return Ok(()),
                Event::Client(Ok(_)) => {
                    if !self.on_client_data().await? {
                        return Ok(());
                    }
                }
                Event::Backend(Ok(n)) if n > 0 => {
                    if !self.on_backend_data().await? {
                        return Ok(());
                    }
                }
                Event::Backend(r) => {
                    if let Err(e) = r {
                        tracing::info!(error = %e, "backend read failed");
                    }
                    if !self.on_backend_lost().await? {
                        return Ok(());
                    }
                }
                Event::Shutdown => {
                    super::fatal(&mut self.client, "57P01", "terminating connection: the proxy is shutting down").await;
                    return Ok(());
                }
            }
        }
    }

    /// Handles every complete client frame in the buffer. Returns false when the client asked to terminate.
    async fn on_client_data(&mut self) -> Result<bool, SessionError> {
        loop {
            let len = match pg::frame_len(&self.cbuf, self.max_message) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(ProtocolError::TooLarge { len, max }) => {
                    let msg = format!("message of {len} bytes exceeds the limit of {max} bytes");
                    super::fatal(&mut self.client, "08P01", &msg).await;
                    return Err(SessionError::Client(msg));
                }
                Err(e) => {
                    super::fatal(&mut self.client, "08P01", "invalid message framing").await;
                    return Err(SessionError::Client(e.to_string()));
                }
            };
            let frame = self.cbuf.split_to(len).freeze();
            if frame[0] == b'X' {
                return Ok(false);
            }
            if let Err(e) = self.on_client_frame(frame).await {
                if let SessionError::Client(msg) = &e {
                    super::fatal(&mut self.client, "08P01", msg).await;
                }
                return Err(e);
            }
        }
        self.flush().await?;
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), SessionError> {
        if !self.out_b.is_empty() {
            if let Some(att) = &mut self.backend
                && let Err(e) = att.conn.stream.write_all(&self.out_b).await
            {
                tracing::info!(error = %e, "backend write failed");
                self.out_b.clear();
                self.on_backend_lost().await?;
            }
            self.out_b.clear();
        }
        if !self.out_c.is_empty() {
            self.client.write_all(&self.out_c).await.map_err(|_| SessionError::ClientGone)?;
            self.out_c.clear();
        }
        Ok(())
    }

    async fn on_client_frame(&mut self, frame: Bytes) -> Result<(), SessionError> {
        let tag = frame[0];
        let body = &frame[5..];
        if self.skip_to_sync {
            if tag == b'S' {
                self.skip_to_sync = false;
                messages::ready_for_query(&mut self.out_c, self.status);
            }
            return Ok(());
        }
        match tag {
            b'Q' => {
                let started = self.engine.monitor.enabled().then(Instant::now);
                let sql = lossy_text(body);
                let sql = sql.as_ref();
                let class = self.engine.classifier.classify(sql);
                if !self.attach(&class).await? {
                    messages::ready_for_query(&mut self.out_c, self.status);
                    return Ok(());
                }
                self.note_sent(&class);
                // The text is kept only when it is a SET to replay later: no copy per ordinary query.
                let sql = matches!(class.session, SessionEffect::Set { .. }).then(|| Arc::from(sql));
                let probe = started
                    .map(|at| Probe::new(class.clone(), at, Text::nul_terminated(frame.clone(), 5), Params::None));
                self.out_b.extend_from_slice(&frame);
                self.pending.push(Expect {
                    sent: Sent::Query,
                    action: Action::Forward,
                    effects: Some(class),
                    sql,
                    failed: false,
                    probe,
                });
            }
            b'P' => self.on_parse(&frame).await?,
            b'B' => {
                let (_portal, name) = messages::bind_names(body).map_err(client_err)?;
                let stmt = if name.is_empty() { None } else { self.state.statements.get(name).cloned() };
                let bound = match &stmt {
                    Some(s) => Some((s.class.clone(), s.sql.clone())),
                    None if name.is_empty() => self.unnamed.clone(),
                    None => None,
                };
                let class = bound.as_ref().map(|(c, _)| c.clone());
                if !self.attach_for(class.as_deref()).await? {
                    self.skip_to_sync = true;
                    return Ok(());
                }
                self.forward_naming(stmt.as_deref(), &frame)?;
                if let Some((c, _)) = &bound {
                    self.note_sent(c);
                }
                self.bound = bound;
                if self.engine.monitor.enabled() {
                    self.bind_capture = Some((Instant::now(), frame.clone()));
                }
                self.pending.push(Expect::plain(Sent::Bind, Action::Forward));
            }
            b'D' => {
                let (kind, name) = messages::describe_or_close(body).map_err(client_err)?;
                let stmt =
                    if kind == b'S' && !name.is_empty() { self.state.statements.get(name).cloned() } else { None };
                if !self.attach_for(stmt.as_ref().map(|s| &*s.class)).await? {
                    self.skip_to_sync = true;
                    return Ok(());
                }
                self.forward_naming(stmt.as_deref(), &frame)?;
                self.pending.push(Expect::plain(Sent::Describe, Action::Forward));
            }
            b'E' => {
                if !self.attach_for(None).await? {
                    self.skip_to_sync = true;
                    return Ok(());
                }
                self.out_b.extend_from_slice(&frame);
                let (effects, sql) = match &self.bound {
                    Some((c, s)) => (Some(c.clone()), Some(s.clone())),
                    None => (None, None),
                };
                let capture = self.bind_capture.take();
                let probe = match (&effects, &sql) {
                    (Some(class), Some(text)) if self.engine.monitor.enabled() => {
                        let (at, params) = match capture {
                            Some((at, bind)) => (at, Params::PgBind(bind)),
                            None => (Instant::now(), Params::None),
                        };
                        Some(Probe::new(class.clone(), at, Text::Shared(text.clone()), params))
                    }
                    _ => None,
                };
                self.pending.push(Expect {
                    sent: Sent::Execute,
                    action: Action::Forward,
                    effects,
                    sql,
                    failed: false,
                    probe,
                });
            }
            b'C' => {
                let (kind, name) = messages::describe_or_close(body).map_err(client_err)?;
                if kind == b'S' && !name.is_empty() {
                    // Shared statements stay on the backend for other clients; only the client's name goes.
                    self.state.statements.remove(name);
                    self.pending.push(Expect::plain(Sent::Close, Action::Synthesize(b'3')));
                } else if self.backend.is_some() {
                    self.out_b.extend_from_slice(&frame);
                    self.pending.push(Expect::plain(Sent::Close, Action::Forward));
                } else {
                    self.pending.push(Expect::plain(Sent::Close, Action::Synthesize(b'3')));
                }
            }
            b'S' => {
                if self.backend.is_some() {
                    self.out_b.extend_from_slice(&frame);
                    self.pending.push(Expect::plain(Sent::Sync, Action::Forward));
                } else {
                    self.drain_synthesized();
                    messages::ready_for_query(&mut self.out_c, self.status);
                }
            }
            b'H' | b'd' | b'c' | b'f' => {
                if self.backend.is_some() {
                    self.out_b.extend_from_slice(&frame);
                }
            }
            b'F' => {
                if !self.attach_for(None).await? {
                    messages::ready_for_query(&mut self.out_c, self.status);
                    return Ok(());
                }
                self.out_b.extend_from_slice(&frame);
                self.pending.push(Expect::plain(Sent::Query, Action::Forward));
            }
            other => {
                return Err(SessionError::Client(format!("unexpected message type 0x{other:02x}")));
            }
        }
        self.drain_synthesized();
        Ok(())
    }

    /// Records what sending `class` changes at once (pins, writes).
    fn note_sent(&mut self, class: &Classification) {
        if let SessionEffect::Pin(reason) = class.session {
            if self.pinned.is_none() {
                tracing::debug!(?reason, "client pinned to its backend");
            }
            self.pinned = Some(reason);
            self.dirty = true;
        }
        if !class.read_only {
            self.last_write = Some(Instant::now());
        }
    }

    fn drain_synthesized(&mut self) {
        self.synth.clear();
        self.pending.take_synthesized(&mut self.synth);
        for tag in &self.synth {
            self.out_c.extend_from_slice(&[*tag, 0, 0, 0, 4]);
        }
    }

    /// Relays the complete backend frames in the buffer. Returns false when the client must be disconnected.
    async fn on_backend_data(&mut self) -> Result<bool, SessionError> {
        let Some(att) = &mut self.backend else { return Ok(true) };
        let mut dying = false;
        let backend = &mut *att.conn;
        let buf = &backend.buf;
        let mut failed_parses: Vec<u64> = Vec::new();
        let mut pos = 0;
        let mut done: Vec<Expect> = Vec::new();
        let mut statuses: Vec<u8> = Vec::new();
        loop {
            let len = match pg::frame_len(&buf[pos..], BACKEND_MAX_MESSAGE) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => return Err(SessionError::Backend(e.to_string())),
            };
            let frame = &buf[pos..pos + len];
            let tag = frame[0];
            if matches!(tag, b'C' | b'E')
                && let Some(probe) = self.pending.head_probe()
            {
                if tag == b'C' {
                    probe.rows += pg_command_rows(&frame[5..]);
                } else if probe.error.is_none() {
                    probe.error =
                        Some(messages::error_fields(&frame[5..]).map_or_else(|_| "XX000".into(), |f| f.code.into()));
                }
            }
            let m = self.pending.on_message(tag);
            if m.forward {
                if tag == b'E' {
                    self.error_in_cycle = true;
                    // A backend that is about to die says FATAL; the client keeps its session (on another
                    // backend) unless it was inside a transaction, so it is told ERROR with the same code.
                    let keep = self.status == b'I' && self.pinned.is_none() && !self.session_mode;
                    match messages::error_fields(&frame[5..]) {
                        Ok(f) if matches!(f.severity.as_str(), "FATAL" | "PANIC") => {
                            dying = true;
                            if keep {
                                messages::error_response(&mut self.out_c, "ERROR", &f.code, &f.message);
                            } else {
                                self.out_c.extend_from_slice(frame);
                            }
                        }
                        _ => self.out_c.extend_from_slice(frame),
                    }
                } else {
                    self.out_c.extend_from_slice(frame);
                }
            }
            if tag == b'Z' {
                self.error_in_cycle = false;
                let status = messages::ready_status(&frame[5..]).map_err(|e| SessionError::Backend(e.to_string()))?;
                statuses.push(status);
                self.status = status;
            }
            if let Some(e) = m.completed {
                if let Sent::Parse(Some(key)) = e.sent
                    && tag == b'E'
                {
                    failed_parses.push(key);
                }
                done.push(e);
            }
            self.synth.clear();
            self.pending.take_synthesized(&mut self.synth);
            for t in &self.synth {
                self.out_c.extend_from_slice(&[*t, 0, 0, 0, 4]);
            }
            pos += len;
        }
        backend.buf.advance(pos);
        for key in failed_parses {
            backend.statements.pop(&key);
        }
        for mut e in done {
            if let Some(probe) = e.probe.take()
                && let Some(att) = &self.backend
            {
                self.engine.monitor.record(probe.finish(&self.info, att.in_use.server()));
            }
            self.apply(e);
        }
        for s in statuses {
            self.on_ready(s);
        }
        if dying {
            // The backend said FATAL and is closing: drop it now, so that the client's next statement cannot be
            // sent to it, and finish the client's outstanding cycles (the error itself is already queued).
            return self.on_backend_lost().await;
        }
        if !self.out_c.is_empty() {
            self.client.write_all(&self.out_c).await.map_err(|_| SessionError::ClientGone)?;
            self.out_c.clear();
        }
        self.maybe_release();
        Ok(true)
    }
}

enum Event {
    Client(std::io::Result<usize>),
    Backend(std::io::Result<usize>),
    Shutdown,
    /// `KILL CLIENT` from the control port.
    Killed,
}

/// The text of a NUL-terminated string field, read lossily: classification needs only keywords, and the
/// original bytes are what gets forwarded.
fn lossy_text(body: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
    String::from_utf8_lossy(&body[..end])
}

fn client_err(e: ProtocolError) -> SessionError {
    SessionError::Client(e.to_string())
}
