//! Attaching a backend to a client: routing by classification, trying the pool's servers best first, and
//! bringing the backend's session in line with the client's before the first command (COM_RESET_CONNECTION when
//! it carries another client's variables, the client's SETs replayed, COM_INIT_DB when the database differs);
//! and preparing a client's statement on a backend that lacks it.
//!
//! These exchanges are synchronous (the proxy waits for each reply and nobody sees it): they only happen when a
//! backend's state differs from the client's, which pooling keeps rare.

use std::sync::Arc;
use std::time::Instant;

use crate::classify::Classification;
use crate::config::Role;
use crate::pool::topology::Server;
use crate::pool::{ConnectErrorKind, PoolError};
use crate::protocol::mysql::ProtocolError;
use crate::protocol::mysql::command::{COM_INIT_DB, COM_QUERY, COM_RESET_CONNECTION, COM_STMT_CLOSE, COM_STMT_PREPARE};
use crate::protocol::mysql::framer::write_packet;
use crate::protocol::mysql::reply::ReplyKind;
use crate::route::{self, SessionView};

use super::backend::BackendDb;
use super::backend::{BackendStmt, MyBackend, exchange, server_code};
use super::relay::{Attached, Session};
use super::release::clear_backend_state;

/// The schema a backend is switched to for a client without a current database, when a previous client left
/// another one selected.
pub const NO_DATABASE_SCHEMA: &str = "information_schema";
use super::{ClientError, SessionError};

impl Session {
    /// Attaches a backend for `class` when none is held. Returns false when none could be had; the client has
    /// then been sent an ERR with sequence id `seq`.
    pub(super) async fn attach(&mut self, class: &Classification, seq: u8) -> Result<bool, SessionError> {
        if self.backend.is_some() {
            return Ok(true);
        }
        let role = if self.session_mode { Role::Write } else { self.route(class) };
        self.attach_role_or_tell(role, seq).await
    }

    fn route(&self, class: &Classification) -> Role {
        let window = self.engine.config().routing.read_your_writes;
        let view = SessionView {
            in_transaction: self.in_trans || !self.autocommit,
            recent_write: !window.is_zero() && self.last_write.is_some_and(|t| t.elapsed() < window),
            default_route: self.user.default_route,
        };
        route::route(class, &view, &self.engine.rules())
    }

    /// Attaches a backend of `role` when none is held; on failure writes the ERR with `seq` and returns false.
    pub(super) async fn attach_role_or_tell(&mut self, role: Role, seq: u8) -> Result<bool, SessionError> {
        if self.backend.is_some() {
            return Ok(true);
        }
        let servers = self.engine.candidates(role);
        match self.attach_servers(servers, role).await? {
            Ok(()) => Ok(true),
            Err(e) => {
                e.write(&mut self.out, seq);
                Ok(false)
            }
        }
    }

    /// Checks out a backend from the first of `servers` that can give one and syncs its session state.
    pub(super) async fn attach_servers(
        &mut self,
        servers: Vec<Arc<Server>>,
        role: Role,
    ) -> Result<Result<(), ClientError>, SessionError> {
        let ban_time = self.engine.config().health.ban_time;
        let unreachable = || {
            ClientError::new(
                2003,
                "HY000",
                format!("Can't connect to MySQL server: no {} server is reachable", role.as_str()),
            )
        };
        let mut error = unreachable();
        for server in servers {
            let pool = self.engine.pool(&server, &self.user, self.caps, self.charset);
            match pool.checkout().await {
                Ok(conn) => {
                    let in_use = server.begin_use();
                    self.backend = Some(Attached { conn, in_use });
                    match self.sync_state().await {
                        Ok(None) => return Ok(Ok(())),
                        Ok(Some(e)) => {
                            self.maybe_release();
                            return Ok(Err(e));
                        }
                        Err(e) => {
                            tracing::info!(server = %server.name, error = %e, "backend failed while syncing state");
                            if let Some(att) = self.backend.take() {
                                att.conn.discard();
                            }
                        }
                    }
                }
                Err(PoolError::Connect(e))
                    if matches!(e.kind, ConnectErrorKind::Unreachable | ConnectErrorKind::Timeout) =>
                {
                    tracing::warn!(server = %server.name, error = %e.message, "backend connect failed; trying the next");
                    // Refused: the server is down, keep others off it. Slow: maybe only busy; health decides.
                    if e.kind == ConnectErrorKind::Unreachable {
                        server.mark_failed(&e.message, ban_time);
                    }
                    error = unreachable();
                }
                Err(PoolError::Connect(e)) => {
                    error = match server_code(&e) {
                        Some((code, state)) => ClientError { code, sqlstate: state, message: e.message },
                        None => ClientError::new(2003, "HY000", "Can't connect to MySQL server: handshake failed"),
                    };
                    break;
                }
                Err(PoolError::Timeout { waited }) => {
                    let msg = format!(
                        "Too many connections: no backend connection became free within {} ms",
                        waited.as_millis()
                    );
                    error = ClientError::new(1040, "08004", msg);
                    break;
                }
                Err(PoolError::Closed) => {
                    error = ClientError::new(1053, "08S01", "Server shutdown in progress");
                    break;
                }
            }
        }
        Ok(Err(error))
    }

    /// Brings the attached backend's session variables and database in line with the client's (see
    /// [`NO_DATABASE_SCHEMA`] for a client without one). A database the
    /// backend refuses is the client's error; anything else failing means the backend is unusable.
    async fn sync_state(&mut self) -> Result<Option<ClientError>, ProtocolError> {
        let Session { backend, state, .. } = self;
        let conn: &mut MyBackend = &mut backend.as_mut().expect("caller attached").conn;
        let want = state.sets_fingerprint();
        if conn.sets_fingerprint != want {
            if conn.sets_fingerprint != 0 {
                let s = exchange(conn, &[COM_RESET_CONNECTION], ReplyKind::Simple).await?;
                if let Some(e) = s.error {
                    return Err(e.into());
                }
                clear_backend_state(conn);
            }
            for sql in state.replay() {
                let mut payload = Vec::with_capacity(sql.len() + 1);
                payload.push(COM_QUERY);
                payload.extend_from_slice(sql.as_bytes());
                let s = exchange(conn, &payload, ReplyKind::Query).await?;
                if let Some(e) = s.error {
                    tracing::warn!(code = e.code, error = %e.message, "replaying a session variable failed");
                }
            }
            conn.sets_fingerprint = want;
        }
        if !conn.database.is(state.database.as_deref()) {
            // A backend cannot go back to "no database" short of a new login. A client that has none gets a
            // neutral schema instead of the one a previous client left selected (ProxySQL's default_schema does
            // the same): its unqualified table names then fail as they would on a fresh connection.
            let (db, selected) = match &state.database {
                Some(db) => (db.as_str(), BackendDb::Named(db.clone())),
                None if conn.database == BackendDb::Named(NO_DATABASE_SCHEMA.into()) => return Ok(None),
                None => (NO_DATABASE_SCHEMA, BackendDb::Named(NO_DATABASE_SCHEMA.into())),
            };
            let mut payload = Vec::with_capacity(db.len() + 1);
            payload.push(COM_INIT_DB);
            payload.extend_from_slice(db.as_bytes());
            let s = exchange(conn, &payload, ReplyKind::Simple).await?;
            if let Some(e) = s.error {
                return Ok(Some(e.into()));
            }
            conn.database = selected;
        }
        Ok(None)
    }

    /// The attached backend's id for the statement `key`, preparing `sql` on it first when it lacks it.
    pub(super) async fn ensure_prepared(
        &mut self,
        key: u64,
        sql: &[u8],
    ) -> Result<Result<u32, ClientError>, ProtocolError> {
        let conn: &mut MyBackend = &mut self.backend.as_mut().expect("caller attached").conn;
        if let Some(b) = conn.statements.get(&key) {
            return Ok(Ok(b.id));
        }
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(COM_STMT_PREPARE);
        payload.extend_from_slice(sql);
        let s = exchange(conn, &payload, ReplyKind::StmtPrepare).await?;
        if let Some(e) = s.error {
            return Ok(Err(e.into()));
        }
        let id = s.prepared.ok_or(ProtocolError::Malformed { what: "COM_STMT_PREPARE_OK" })?.statement_id;
        cache_statement(conn, key, id);
        Ok(Ok(id))
    }

    /// Records that the client wrote (for read-your-writes) and pins it for state that cannot move.
    pub(super) fn note_sent(&mut self, class: &Classification) {
        use crate::classify::{PinReason, SessionEffect};
        let pin = match &class.session {
            SessionEffect::Pin(reason) => Some(*reason),
            // A multi-statement text may change several things the proxy does not see one by one.
            SessionEffect::Set { .. } | SessionEffect::UseDatabase { .. } if class.multi_statement => {
                Some(PinReason::UntrackedSet)
            }
            _ => None,
        };
        if let Some(reason) = pin {
            if self.pinned.is_none() {
                tracing::debug!(?reason, "client pinned to its backend");
            }
            self.pinned = Some(reason);
        }
        if !class.read_only {
            self.last_write = Some(Instant::now());
        }
    }
}

/// Records the backend id of statement `key`; an id it replaces or evicts is closed on the backend (queued for
/// its next write: COM_STMT_CLOSE has no reply).
pub(super) fn cache_statement(conn: &mut MyBackend, key: u64, id: u32) {
    if let Some((_, old)) = conn.statements.push(key, BackendStmt { id })
        && old.id != id
    {
        let mut close = [COM_STMT_CLOSE, 0, 0, 0, 0];
        close[1..].copy_from_slice(&old.id.to_le_bytes());
        write_packet(&mut conn.out, 0, &close);
    }
}
