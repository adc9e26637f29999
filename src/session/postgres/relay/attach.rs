//! Attaching and giving back backends: routing a transaction's first statement to a pool, trying servers in
//! order (banning refused ones), bringing session SETs in line, and the ways a backend goes back to its pool
//! or is closed (released idle, lost mid-request, left behind by a departing client).

use super::*;

impl Session {
    pub(super) async fn attach_for(&mut self, class: Option<&Classification>) -> Result<bool, SessionError> {
        match class {
            Some(c) => self.attach(c).await,
            None => self.attach_role(Role::Write).await,
        }
    }

    /// Attaches a backend for `class` when none is held. Returns false when none could be had; the client has
    /// then been sent an ErrorResponse.
    pub(super) async fn attach(&mut self, class: &Classification) -> Result<bool, SessionError> {
        if self.backend.is_some() {
            return Ok(true);
        }
        let role = if self.session_mode { Role::Write } else { self.route(class) };
        self.attach_role(role).await
    }

    pub(super) fn route(&self, class: &Classification) -> Role {
        let window = self.engine.config().routing.read_your_writes;
        let view = SessionView {
            in_transaction: self.status != b'I',
            recent_write: !window.is_zero() && self.last_write.is_some_and(|t| t.elapsed() < window),
            default_route: self.user.default_route,
        };
        route::route(class, &view, &self.engine.rules())
    }

    pub(super) async fn attach_role(&mut self, role: Role) -> Result<bool, SessionError> {
        if self.backend.is_some() {
            return Ok(true);
        }
        let ban_time = self.engine.config().health.ban_time;
        let mut error = (String::from("08006"), format!("no {} server is available", role.as_str()));
        for server in self.engine.candidates(role) {
            let pool = self.pool_for(&server);
            match pool.checkout().await {
                Ok(conn) => {
                    let in_use = server.begin_use();
                    *self.cancel.lock() =
                        Some(CancelTarget { server: server.clone(), pid: conn.pid, secret: conn.secret });
                    self.backend = Some(Attached { conn, in_use });
                    self.sync_session_state();
                    return Ok(true);
                }
                Err(PoolError::Connect(e))
                    if matches!(e.kind, ConnectErrorKind::Unreachable | ConnectErrorKind::Timeout) =>
                {
                    tracing::warn!(server = %server.name, error = %e.message, "backend connect failed; trying the next");
                    // A refused connection means the server is down: keep others off it for a while. A slow one
                    // may only be busy; the health checker decides about that.
                    if e.kind == ConnectErrorKind::Unreachable {
                        server.mark_failed(&e.message, ban_time);
                    }
                    error = ("08006".into(), format!("no {} server is reachable ({})", role.as_str(), e.kind.as_str()));
                }
                Err(PoolError::Connect(e)) => {
                    error = (e.sqlstate.clone().unwrap_or_else(|| "08006".into()), e.message.clone());
                    break;
                }
                Err(PoolError::Timeout { waited }) => {
                    error =
                        ("53300".into(), format!("no backend connection became free within {} ms", waited.as_millis()));
                    break;
                }
                Err(PoolError::Closed) => {
                    error = ("57P01".into(), "the proxy is shutting down".into());
                    break;
                }
            }
        }
        messages::error_response(&mut self.out_c, "ERROR", &error.0, &error.1);
        Ok(false)
    }

    pub(super) fn pool_for(&mut self, server: &Arc<Server>) -> Arc<PgPool> {
        if let Some((_, p)) = self.pools.iter().find(|(s, _)| Arc::ptr_eq(s, server)) {
            return p.clone();
        }
        let pool = self.engine.pool(server, &self.user, &self.database);
        self.pools.push((server.clone(), pool.clone()));
        pool
    }

    /// Brings a freshly attached backend's session SETs in line with the client's.
    pub(super) fn sync_session_state(&mut self) {
        let att = self.backend.as_mut().expect("just attached");
        let want = self.state.sets_fingerprint();
        if att.conn.sets_fingerprint != want {
            messages::query(&mut self.out_b, &self.state.replay_sql());
            self.pending.push(Expect::plain(Sent::Query, Action::Swallow));
            att.conn.sets_fingerprint = want;
        }
    }

    /// Gives the backend back when the client is between transactions and nothing is outstanding.
    pub(super) fn maybe_release(&mut self) {
        if self.backend.is_none()
            || !self.pending.is_empty()
            || self.status != b'I'
            || self.pinned.is_some()
            || self.session_mode
            || self.skip_to_sync
        {
            return;
        }
        let att = self.backend.take().expect("checked above");
        *self.cancel.lock() = None;
        let mut conn = att.conn;
        conn.last_used = Instant::now();
        conn.release();
    }

    /// The backend connection failed. Returns false when the client must be disconnected too.
    pub(super) async fn on_backend_lost(&mut self) -> Result<bool, SessionError> {
        let Some(att) = self.backend.take() else { return Ok(true) };
        *self.cancel.lock() = None;
        att.conn.discard();
        let in_transaction = self.status != b'I' || self.pinned.is_some() || self.session_mode;
        let cycles = self.pending.outstanding_cycles();
        self.pending.clear();
        self.ops.clear();
        if in_transaction {
            // Relay what the backend said last (its own FATAL, if any) before ours.
            if !self.out_c.is_empty() {
                let _ = self.client.write_all(&self.out_c).await;
                self.out_c.clear();
            }
            crate::session::postgres::fatal(&mut self.client, "08006", "server connection lost during a transaction")
                .await;
            return Ok(false);
        }
        // Finish every request cycle the client is waiting for, as the backend would have after an error.
        // The first cycle may already have its error (the backend's own, relayed before it closed).
        let first_has_error = std::mem::take(&mut self.error_in_cycle);
        for i in 0..cycles {
            if i > 0 || !first_has_error {
                messages::error_response(&mut self.out_c, "ERROR", "08006", "server connection lost; please retry");
            }
            messages::ready_for_query(&mut self.out_c, b'I');
        }
        self.client.write_all(&self.out_c).await.map_err(|_| SessionError::ClientGone)?;
        self.out_c.clear();
        Ok(true)
    }

    /// The client is gone: give the backend back in a known state, or close it.
    pub(super) fn finish(&mut self) {
        let Some(att) = self.backend.take() else { return };
        let clean = self.pending.is_empty() && self.status == b'I' && self.pinned.is_none() && !self.dirty;
        if clean && !self.session_mode {
            att.conn.release();
            return;
        }
        if !self.pending.is_empty() {
            att.conn.discard();
            return;
        }
        let reset = self.engine.config().pool.reset_query.clone();
        let rollback = self.status != b'I';
        tokio::spawn(async move { reset_and_release(att.conn, rollback, &reset).await });
    }
}

/// Rolls back and resets a backend a client left in a transaction or with untracked state; discards it if that
/// fails, so that no connection in an unknown state is reused.
async fn reset_and_release(mut conn: Pooled<PgConnector>, rollback: bool, reset: &str) {
    let mut out = BytesMut::new();
    if rollback {
        messages::query(&mut out, "ROLLBACK");
    }
    messages::query(&mut out, reset);
    let ok = async {
        conn.stream.write_all(&out).await.ok()?;
        if rollback {
            crate::session::postgres::backend::read_until_ready(&mut conn).await?;
        }
        crate::session::postgres::backend::read_until_ready(&mut conn).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), ok).await {
        Ok(Some(b'I')) => {
            conn.statements.clear();
            conn.sets_fingerprint = 0;
            conn.release();
        }
        _ => conn.discard(),
    }
}
