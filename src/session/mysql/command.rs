//! One client command: what the proxy answers itself (COM_PING, COM_QUIT, COM_STMT_CLOSE, COM_RESET_CONNECTION
//! without a backend, unknown statement ids), and what it forwards after attaching a backend (routing text
//! statements by classification, COM_STATISTICS / COM_FIELD_LIST to a read server), with statement ids
//! rewritten from the client's proxy-issued ids to the backend's.
//!
//! Deliberately not here: relaying the reply (see [`super::relay`]) and COM_CHANGE_USER's authentication (see
//! [`super::startup`]).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::classify::{PinReason, SessionEffect};
use crate::config::Role;
use crate::monitor::{Params, Probe, Text};
use crate::protocol::mysql::StatusFlags;
use crate::protocol::mysql::command::{Command, parse_command};
use crate::protocol::mysql::packets::ok_packet;
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker};
use crate::protocol::mysql::stmt::{execute_param_types, set_stmt_id, with_param_types};

use super::effects::Effect;
use super::relay::{Inflight, Session};
use super::state::statement_key;
use super::{ClientError, SessionError};

/// Cursor type bits of COM_STMT_EXECUTE's flags (read-only, for update, scrollable).
const CURSOR_FLAGS: u8 = 0x07;

impl Session {
    /// Handles one client command packet (`seq` is its last sequence id). Returns false when the client quit or
    /// must be disconnected.
    pub(super) async fn on_command(&mut self, seq: u8, payload: Bytes) -> Result<bool, SessionError> {
        let reply = seq.wrapping_add(1);
        if self.lost {
            ClientError::new(1927, "08S01", "Lost connection to backend server during a transaction")
                .write(&mut self.out, reply);
            return Ok(false);
        }
        let Ok(cmd) = parse_command(&payload) else {
            ClientError::new(1047, "08S01", "Malformed packet").write(&mut self.out, reply);
            return Ok(true);
        };
        match cmd {
            Command::Quit => return Ok(false),
            Command::Ping => self.ok(reply),
            Command::Query(sql) if starts_with_kill(sql) => match parse_kill(sql) {
                Some((what, id)) => self.kill(what, id, reply),
                None => {
                    let msg = "Switchyard maps KILL [CONNECTION | QUERY] <id> (ids as SHOW PROCESSLIST on the proxy's \
                               connections: CONNECTION_ID() of the greeting); other KILL forms are not supported";
                    ClientError::new(1235, "42000", msg).write(&mut self.out, reply);
                }
            },
            Command::Query(sql) => {
                let started = self.engine.monitor.enabled().then(Instant::now);
                let text: Arc<str> = Arc::from(String::from_utf8_lossy(sql));
                let class = self.engine.classifier.classify(&text);
                self.note_sent(&class);
                if self.attach(&class, reply).await? {
                    let retry = class.read_only.then(|| payload.clone());
                    let probe =
                        started.map(|at| Probe::new(class.clone(), at, Text::Shared(text.clone()), Params::None));
                    self.forward(&payload, ReplyKind::Query, Effect::Query(class, text), retry);
                    self.set_probe(probe);
                }
            }
            Command::InitDb(db) => {
                let name = String::from_utf8_lossy(db).into_owned();
                if self.attach_any(reply).await? {
                    self.forward(&payload, ReplyKind::Simple, Effect::InitDb(name), Some(payload.clone()));
                }
            }
            Command::StmtPrepare(sql) => {
                let class = self.engine.classifier.classify(&String::from_utf8_lossy(sql));
                if self.attach(&class, reply).await? {
                    let client_id = self.state.next_id();
                    let effect = Effect::Prepare { client_id, key: statement_key(sql), sql: Arc::from(sql), class };
                    self.forward(&payload, ReplyKind::StmtPrepare, effect, Some(payload.clone()));
                }
            }
            Command::StmtExecute { stmt_id, flags } => return self.execute(&payload, stmt_id, flags, reply).await,
            Command::StmtSendLongData { stmt_id, .. } => return self.send_long_data(&payload, stmt_id).await,
            Command::StmtClose(id) => {
                self.state.statements.remove(&id);
                self.cursors.remove(&id);
                self.long_data.remove(&id);
                self.maybe_release();
            }
            Command::StmtReset(id) => self.stmt_reset(&payload, id, reply),
            Command::StmtFetch { stmt_id, .. } => self.fetch(&payload, stmt_id, reply),
            Command::Statistics | Command::FieldList { .. } => {
                let kind =
                    if matches!(cmd, Command::Statistics) { ReplyKind::Statistics } else { ReplyKind::FieldList };
                if self.attach_role_or_tell(Role::Read, reply).await? {
                    self.forward(&payload, kind, Effect::None, Some(payload.clone()));
                }
            }
            Command::ResetConnection => self.reset_connection(&payload, reply),
            Command::ChangeUser(_) => return self.change_user(&payload).await,
            Command::SetOption(_) => {
                // Multi-statement mode is connection state the proxy does not replay: keep this backend.
                self.pinned = Some(PinReason::UntrackedSet);
                if self.attach_role_or_tell(Role::Write, reply).await? {
                    self.forward(&payload, ReplyKind::Simple, Effect::None, None);
                }
            }
            Command::ProcessKill(id) => self.kill(Kill::Connection, u64::from(id), reply),
            Command::Other(..) => {
                if self.attach_role_or_tell(Role::Write, reply).await? {
                    self.forward(&payload, ReplyKind::Query, Effect::None, None);
                }
            }
        }
        Ok(true)
    }

    /// Appends an OK with the client's current status flags.
    pub(super) fn ok(&mut self, seq: u8) {
        let status = self.status();
        ok_packet(&mut self.out, seq, 0, 0, status, 0, "");
    }

    fn status(&self) -> StatusFlags {
        let mut s = StatusFlags::empty();
        s.set(StatusFlags::SERVER_STATUS_AUTOCOMMIT, self.autocommit);
        s.set(StatusFlags::SERVER_STATUS_IN_TRANS, self.in_trans);
        s
    }

    /// Queues `payload` for the attached backend and expects a reply of `kind`.
    fn forward(&mut self, payload: &[u8], kind: ReplyKind, effect: Effect, retry: Option<Bytes>) {
        let caps = self.backend.as_ref().map_or(self.caps, |a| a.conn.caps);
        let tracker = ReplyTracker::new(kind, caps);
        let inflight =
            Inflight { tracker, effect, relayed: false, infile: false, infile_continued: false, retry, probe: None };
        self.send(payload, inflight);
    }

    /// Attaches the monitor's probe to the command just forwarded.
    fn set_probe(&mut self, probe: Option<Probe>) {
        if let (Some(p), Some(inf)) = (probe, &mut self.inflight) {
            inf.probe = Some(p);
        }
    }

    /// Attaches any server (the primary first), for commands that only need a connection.
    async fn attach_any(&mut self, reply: u8) -> Result<bool, SessionError> {
        if self.backend.is_some() {
            return Ok(true);
        }
        let mut servers = self.engine.candidates(Role::Write);
        servers.extend(self.engine.candidates(Role::Read));
        match self.attach_servers(servers, Role::Write).await? {
            Ok(()) => Ok(true),
            Err(e) => {
                e.write(&mut self.out, reply);
                Ok(false)
            }
        }
    }

    fn unknown_statement(&mut self, id: u32, what: &str, reply: u8) {
        let msg = format!("Unknown prepared statement handler ({id}) given to {what}");
        ClientError::new(1243, "HY000", msg).write(&mut self.out, reply);
    }

    async fn execute(&mut self, payload: &Bytes, client_id: u32, flags: u8, reply: u8) -> Result<bool, SessionError> {
        let Some(st) = self.state.statements.get_mut(&client_id) else {
            self.unknown_statement(client_id, "mysqld_stmt_execute", reply);
            return Ok(true);
        };
        let Ok(types) = execute_param_types(payload, st.num_params) else {
            ClientError::new(1047, "08S01", "Malformed packet").write(&mut self.out, reply);
            return Ok(true);
        };
        let sent_types = types.is_some();
        if let Some(t) = types {
            st.param_types = Some(t.to_vec());
        }
        let (key, sql, class, num_params) = (st.key, st.sql.clone(), st.class.clone(), st.num_params);
        let saved = if sent_types { None } else { st.param_types.clone() };
        let probe = self.engine.monitor.enabled().then(|| {
            let params = Params::MyExecute {
                payload: payload.clone(),
                count: num_params,
                types: saved.as_deref().map(Arc::from),
            };
            Probe::new(class.clone(), Instant::now(), Text::SharedBytes(sql.clone()), params)
        });
        self.note_sent(&class);
        if matches!(class.session, SessionEffect::Set { .. } | SessionEffect::UseDatabase { .. }) {
            // A prepared SET or USE changes the backend's session in ways not replayed: keep this backend.
            self.pinned = Some(PinReason::UntrackedSet);
        }
        if !self.attach(&class, reply).await? {
            return Ok(true);
        }
        let id = match self.ensure_prepared(key, &sql).await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => {
                e.write(&mut self.out, reply);
                self.maybe_release();
                return Ok(true);
            }
            Err(e) => return self.backend_failed(&e, reply).await,
        };
        // The backend may never have seen the types this client sent once: send them again.
        let mut p = match saved {
            Some(t) => with_param_types(payload, num_params, &t).unwrap_or_else(|_| BytesMut::from(&payload[..])),
            None => BytesMut::from(&payload[..]),
        };
        set_stmt_id(&mut p, id).map_err(|e| SessionError::Client(e.to_string()))?;
        let cursor = flags & CURSOR_FLAGS != 0;
        self.forward(&p, ReplyKind::StmtExecute, Effect::Execute { client_id, cursor }, None);
        self.set_probe(probe.map(|p| Probe { sent: Instant::now(), ..p }));
        Ok(true)
    }

    async fn send_long_data(&mut self, payload: &Bytes, client_id: u32) -> Result<bool, SessionError> {
        // No reply is expected: failures surface at the EXECUTE that follows.
        let Some(st) = self.state.statements.get(&client_id) else { return Ok(true) };
        let (key, sql, class) = (st.key, st.sql.clone(), st.class.clone());
        let mark = self.out.len();
        if !self.attach(&class, 1).await? {
            self.out.truncate(mark);
            return Ok(true);
        }
        let id = match self.ensure_prepared(key, &sql).await {
            Ok(Ok(id)) => id,
            Ok(Err(_)) => return Ok(true),
            Err(_) => {
                self.on_backend_lost(false).await?;
                return Ok(!std::mem::take(&mut self.lost));
            }
        };
        let mut p = BytesMut::from(&payload[..]);
        set_stmt_id(&mut p, id).map_err(|e| SessionError::Client(e.to_string()))?;
        let att = self.backend.as_mut().expect("attached above");
        crate::protocol::mysql::framer::write_packet(&mut att.conn.out, 0, &p);
        self.long_data.insert(client_id);
        Ok(true)
    }

    fn stmt_reset(&mut self, payload: &Bytes, client_id: u32, reply: u8) {
        let Some(st) = self.state.statements.get(&client_id) else {
            self.unknown_statement(client_id, "mysqld_stmt_reset", reply);
            return;
        };
        let key = st.key;
        let backend_id = self.backend.as_mut().and_then(|a| a.conn.statements.peek(&key).map(|b| b.id));
        match backend_id {
            Some(id) => {
                let mut p = BytesMut::from(&payload[..]);
                if set_stmt_id(&mut p, id).is_ok() {
                    self.forward(&p, ReplyKind::Simple, Effect::StmtReset { client_id }, None);
                }
            }
            None => {
                self.long_data.remove(&client_id);
                self.cursors.remove(&client_id);
                self.ok(reply);
            }
        }
    }

    fn fetch(&mut self, payload: &Bytes, client_id: u32, reply: u8) {
        let Some(st) = self.state.statements.get(&client_id) else {
            self.unknown_statement(client_id, "mysqld_stmt_fetch", reply);
            return;
        };
        let key = st.key;
        let backend_id = match self.cursors.contains(&client_id) {
            true => self.backend.as_mut().and_then(|a| a.conn.statements.peek(&key).map(|b| b.id)),
            false => None,
        };
        let Some(id) = backend_id else {
            let msg = format!("The statement ({client_id}) has no open cursor.");
            ClientError::new(1421, "HY000", msg).write(&mut self.out, reply);
            return;
        };
        let mut p = BytesMut::from(&payload[..]);
        if set_stmt_id(&mut p, id).is_ok() {
            self.forward(&p, ReplyKind::StmtFetch, Effect::Fetch { client_id }, None);
        }
    }

    fn reset_connection(&mut self, payload: &Bytes, reply: u8) {
        self.state.reset();
        self.pinned = None;
        self.cursors.clear();
        self.long_data.clear();
        if self.backend.is_some() {
            self.forward(payload, ReplyKind::Simple, Effect::ResetConnection, None);
        } else {
            self.in_trans = false;
            self.autocommit = true;
            self.ok(reply);
        }
    }

    /// The backend failed during a proxy exchange: tell the client. Returns whether the session goes on.
    async fn backend_failed(
        &mut self,
        e: &crate::protocol::mysql::ProtocolError,
        reply: u8,
    ) -> Result<bool, SessionError> {
        tracing::info!(error = %e, "backend failed");
        self.on_backend_lost(false).await?;
        ClientError::new(1927, "08S01", "Lost connection to backend server during query").write(&mut self.out, reply);
        Ok(!std::mem::take(&mut self.lost))
    }
}

/// What a KILL ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// The connection (`KILL [CONNECTION] id`, COM_PROCESS_KILL).
    Connection,
    /// The statement it is running (`KILL QUERY id`).
    Query,
}

impl Session {
    /// KILL of a proxy connection id (the id in the client's greeting, as `SHOW CLIENTS` lists it). Proxy ids
    /// are not backend thread ids, so the statement is never forwarded: the connection is ended through the
    /// client registry, and `KILL QUERY` asks the target session to cancel its own statement in flight (it does
    /// so while it still holds that backend). Only the same user may kill a connection, as on the server.
    fn kill(&mut self, what: Kill, id: u64, reply: u8) {
        let target = self.engine.clients.get().and_then(|c| c.get(id)).filter(|c| c.engine == "mysql");
        match target {
            None => ClientError::new(1094, "HY000", format!("Unknown thread id: {id}")).write(&mut self.out, reply),
            Some(t) if t.login().map(|(user, _)| user) != Some(self.user.name.as_str()) => {
                ClientError::new(1095, "HY000", format!("You are not owner of thread {id}")).write(&mut self.out, reply)
            }
            Some(t) => {
                match what {
                    Kill::Connection => t.kill(),
                    Kill::Query => t.request_cancel(),
                }
                self.ok(reply);
            }
        }
    }
}

/// `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>`: what and whom. `None` for other forms (`KILL QUERY ID`,
/// `KILL USER`) or a malformed id.
fn parse_kill(sql: &[u8]) -> Option<(Kill, u64)> {
    let text = std::str::from_utf8(skip_leading_comments(sql)?).ok()?.to_ascii_lowercase();
    let mut words =
        text.strip_prefix("kill")?.split_ascii_whitespace().map(|w| w.trim_end_matches(';')).filter(|w| !w.is_empty());
    let mut word = words.next()?;
    if word == "hard" || word == "soft" {
        word = words.next()?;
    }
    let what = match word {
        "connection" => {
            word = words.next()?;
            Kill::Connection
        }
        "query" => {
            word = words.next()?;
            Kill::Query
        }
        _ => Kill::Connection,
    };
    let id = word.parse().ok()?;
    words.next().is_none().then_some((what, id))
}

/// `sql` after leading white space and comments (`None` when a comment is not closed).
fn skip_leading_comments(sql: &[u8]) -> Option<&[u8]> {
    let mut rest = sql;
    loop {
        rest = rest.trim_ascii_start();
        if let Some(r) = rest.strip_prefix(b"/*") {
            let end = r.windows(2).position(|w| w == b"*/")?;
            rest = &r[end + 2..];
        } else if rest.starts_with(b"--") || rest.starts_with(b"#") {
            let end = rest.iter().position(|b| *b == b'\n')?;
            rest = &rest[end + 1..];
        } else {
            return Some(rest);
        }
    }
}

/// True when the statement's first keyword (after white space and comments) is `KILL`.
fn starts_with_kill(sql: &[u8]) -> bool {
    let Some(rest) = skip_leading_comments(sql) else { return false };
    rest.len() >= 4
        && rest[..4].eq_ignore_ascii_case(b"kill")
        && rest.get(4).is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_')
}

#[cfg(test)]
mod kill_tests {
    use super::{Kill, parse_kill, starts_with_kill};

    #[test]
    fn kill_forms_name_what_and_whom() {
        for (sql, want) in [
            ("KILL 5", Some((Kill::Connection, 5))),
            ("/* kill it */ KILL 9", Some((Kill::Connection, 9))),
            ("kill connection 7;", Some((Kill::Connection, 7))),
            ("/* c */ KILL QUERY 12", Some((Kill::Query, 12))),
            ("KILL HARD QUERY 3", Some((Kill::Query, 3))),
            ("KILL QUERY ID 3", None),
            ("KILL USER bob", None),
            ("KILL 5 6", None),
            ("KILL", None),
        ] {
            assert_eq!(parse_kill(sql.as_bytes()), want, "{sql}");
        }
    }

    #[test]
    fn kill_is_recognised_behind_comments_only_as_a_keyword() {
        for yes in ["KILL 5", "  kill query 7", "/* x */ KiLL CONNECTION 3", "-- c\nKILL 1", "# c\n kill 2", "kill"] {
            assert!(starts_with_kill(yes.as_bytes()), "{yes}");
        }
        for no in ["SELECT 'kill 5'", "killer()", "SELECT kill FROM t", "/* KILL 5", "kill_switch = 1"] {
            assert!(!starts_with_kill(no.as_bytes()), "{no}");
        }
    }
}
