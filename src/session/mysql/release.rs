//! Giving a backend back: when the client is between transactions and nothing pins it, when the client leaves
//! (after COM_RESET_CONNECTION if it left state behind), and when the backend is lost (the client is told, or a
//! read that never reached the backend is sent elsewhere).
//!
//! Deliberately not here: attaching a backend (see [`super::attach`]).

use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::pool::Pooled;
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker};

use super::backend::{BackendDb, MyBackend, MyConnector, exchange};
use super::effects::Effect;
use super::relay::{Inflight, Session};
use super::{ClientError, SessionError};

impl Session {
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

    /// The client is gone: give the backend back in a known state, or close it.
    pub(super) fn finish(&mut self) {
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
/// as unknown, so the next client's is selected again.
pub(super) fn clear_backend_state(conn: &mut MyBackend) {
    conn.statements.clear();
    conn.sets_fingerprint = 0;
    conn.database = BackendDb::Unknown;
}
