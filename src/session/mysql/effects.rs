//! The effects of a finished reply on the client's session: transaction state from the status flags of its last
//! OK / EOF, session variables and the database a successful statement set, prepared statements recorded under
//! their proxy ids, cursors opened and closed.
//!
//! Deliberately not here: deciding to give the backend back (see [`super::release`]).

use std::sync::Arc;

use crate::classify::{Classification, SessionEffect};
use crate::protocol::mysql::StatusFlags;
use crate::protocol::mysql::reply::Summary;

use super::backend::BackendDb;
use super::relay::Session;
use super::state::ClientStmt;

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

impl Session {
    /// Applies a finished reply: transaction state from its status flags, then the command's effects.
    pub(super) fn on_reply_done(&mut self, effect: Effect, s: Summary) {
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
                    att.conn.database = BackendDb::Unknown;
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
            att.conn.database = BackendDb::Named(name.clone());
        }
        self.info.set_database(&name);
        self.state.database = Some(name);
    }
}
