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

use crate::classify::PinReason;
use crate::config::User;
use crate::monitor::{Probe, SessionInfo};
use crate::net::ClientStream;
use crate::pool::Pooled;
use crate::pool::topology::InUse;
use crate::protocol::mysql::auth::ServerHandshake;
use crate::protocol::mysql::framer::{HEADER_LEN, MAX_PAYLOAD, packet_len, packets};
use crate::protocol::mysql::reply::{ReplyTracker, Step, Summary};
use crate::protocol::mysql::{CapabilityFlags, StatusFlags};
use crate::session::clients::Client;

use super::backend::{MyConnector, reserve_for_packet};
use super::effects::Effect;
use super::engine::MyEngine;
use super::state::ClientState;
use super::{ClientError, SessionError};

/// Client bytes buffered at most while a reply is in flight (beyond that the client is not read).
const CLIENT_READAHEAD: usize = 64 * 1024;

/// A backend held by the session.
pub(super) struct Attached {
    pub(super) conn: Pooled<MyConnector>,
    pub(super) in_use: InUse,
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
    /// Timing and outcome for the monitor (statements, when monitoring is on).
    pub(super) probe: Option<Probe>,
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
    /// Who this client is, for the monitor's events.
    pub(super) info: Arc<SessionInfo>,
}

impl Session {
    /// Who logged in: user name and current database (empty when none).
    pub fn login(&self) -> (&str, String) {
        (&self.user.name, self.state.database.clone().unwrap_or_default())
    }

    /// Runs the session until the client leaves, the proxy shuts down or `client` is killed. The server the
    /// session holds a backend of is published on `client` whenever it changes.
    pub async fn run(mut self, client: &Client) -> Result<(), SessionError> {
        let result = self.relay(client).await;
        self.finish();
        client.set_server(None);
        result
    }

    async fn relay(&mut self, registry: &Client) -> Result<(), SessionError> {
        let shutdown = self.engine.shutdown.clone();
        let kill = registry.kill_token().clone();
        loop {
            if self.inflight.is_none() {
                // A KILL QUERY that found this client idle cancels nothing, not its next statement.
                registry.take_cancel();
            }
            if !self.on_client_data().await? {
                return Ok(());
            }
            registry.set_server(self.backend.as_ref().map(|a| a.in_use.server()));
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
                        _ = kill.cancelled() => Event::Killed,
                        _ = registry.cancel_notified(), if self.inflight.is_some() => Event::Cancel,
                    }
                }
                None => tokio::select! {
                    r = self.client.read_buf(&mut self.cbuf) => Event::Client(r),
                    _ = shutdown.cancelled() => Event::Shutdown,
                    _ = kill.cancelled() => Event::Killed,
                },
            };
            match event {
                Event::Cancel => self.cancel_inflight(registry).await,
                Event::Killed => {
                    let seq = 0;
                    super::fatal(&mut self.client, seq, &ClientError::new(1927, "70100", "Connection was killed"))
                        .await;
                    return Ok(());
                }
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
            let mut inf = self.inflight.take().expect("checked above");
            if let Some(mut probe) = inf.probe.take()
                && let Some(att) = &self.backend
            {
                probe.rows = summary.rows + summary.affected_rows;
                probe.error = summary.error.as_ref().map(|e| e.code.to_string().into());
                probe.no_index_used = summary.flags_seen.intersects(
                    StatusFlags::SERVER_STATUS_NO_INDEX_USED | StatusFlags::SERVER_STATUS_NO_GOOD_INDEX_USED,
                );
                self.engine.monitor.record(probe.finish(&self.info, att.in_use.server()));
            }
            self.on_reply_done(inf.effect, summary);
            self.maybe_release();
        }
        Ok(())
    }

    /// Answers a pending `KILL QUERY` for this client: while this session still holds the backend running the
    /// statement (so the id cannot name another client's backend), `KILL QUERY <thread>` is sent to the server
    /// from a side connection. The statement's error reply then reaches the client as usual.
    async fn cancel_inflight(&mut self, registry: &Client) {
        if !registry.take_cancel() || self.inflight.is_none() {
            return;
        }
        let Some(att) = &self.backend else { return };
        let pool = self.engine.pool(att.in_use.server(), &self.user, self.caps, self.charset);
        let timeout = self.engine.config().pool.connect_timeout;
        let thread = att.conn.conn_id;
        match pool.connector().kill_query(thread, timeout).await {
            Ok(()) => tracing::info!(thread, "statement cancelled by KILL QUERY"),
            Err(e) => tracing::warn!(thread, error = %e, "KILL QUERY failed"),
        }
    }

    /// Queues `payload` as a command for the attached backend and records the reply expected.
    pub(super) fn send(&mut self, payload: &[u8], inflight: Inflight) {
        let att = self.backend.as_mut().expect("caller attached a backend");
        crate::protocol::mysql::framer::write_packet(&mut att.conn.out, 0, payload);
        self.inflight = Some(inflight);
    }
}

enum Event {
    Client(std::io::Result<usize>),
    Backend(std::io::Result<usize>),
    Shutdown,
    /// A `KILL QUERY` for this client arrived (from another connection).
    Cancel,
    /// `KILL CLIENT` from the control port.
    Killed,
}
