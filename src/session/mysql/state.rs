//! What a MySQL client has changed in its session that must follow it from backend to backend: session
//! variables (`SET NAMES`, `SET SESSION x`, `SET @@x`, replayed as text on a backend whose applied set differs),
//! the current database (`USE db` / COM_INIT_DB) and its prepared statements (proxy-issued ids mapped to the
//! statement text, re-prepared on a backend that lacks it).
//!
//! Deliberately not here: anything that cannot be replayed (user variables, temporary tables, locks): the
//! session pins the client to its backend for those instead.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::classify::Classification;

/// A client's prepared statement, as the client knows it (by its proxy-issued id).
#[derive(Debug)]
pub struct ClientStmt {
    /// Key shared by every statement with the same text: backends cache their own ids under it.
    pub key: u64,
    /// The statement text as the client sent it (bytes: the connection charset decides the encoding).
    pub sql: Arc<[u8]>,
    /// Its classification (for routing an EXECUTE that starts a transaction).
    pub class: Arc<Classification>,
    /// Number of `?` parameters, from the PREPARE_OK.
    pub num_params: u16,
    /// Parameter types from the client's last EXECUTE that carried them (2 bytes each); re-sent with an
    /// EXECUTE that relies on them, since the backend it lands on may never have seen them.
    pub param_types: Option<Vec<u8>>,
}

/// The key of a statement text: the same text shares one backend statement per backend connection.
pub fn statement_key(sql: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    sql.hash(&mut h);
    h.finish() | 1
}

/// Per-client state that outlives one backend.
#[derive(Debug, Default)]
pub struct ClientState {
    /// Session variable statements in the order they were last set: (name, statement text).
    sets: Vec<(String, String)>,
    /// Fingerprint of `sets` (0 = server defaults).
    fingerprint: u64,
    /// The current database.
    pub database: Option<String>,
    /// Prepared statements by proxy-issued id.
    pub statements: HashMap<u32, ClientStmt>,
    next_stmt_id: u32,
}

impl ClientState {
    /// State for a client that logged in with `database`.
    pub fn new(database: Option<String>) -> ClientState {
        ClientState { database, ..ClientState::default() }
    }

    /// Fingerprint of the session variables in force (0 = none set).
    pub fn sets_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The statements that make a fresh backend session match this client's, oldest first.
    pub fn replay(&self) -> impl Iterator<Item = &str> {
        self.sets.iter().map(|(_, sql)| sql.as_str())
    }

    /// Records `sql` as the statement that sets `name`; a later set of the same name replaces it and moves last.
    pub fn set(&mut self, name: &str, sql: &str) {
        self.sets.retain(|(n, _)| n != name);
        self.sets.push((name.to_string(), sql.trim().trim_end_matches(';').trim_end().to_string()));
        self.refresh();
    }

    /// Forgets every session variable and prepared statement (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn reset(&mut self) {
        self.sets.clear();
        self.statements.clear();
        self.refresh();
    }

    /// A fresh proxy-side statement id (never 0).
    pub fn next_id(&mut self) -> u32 {
        self.next_stmt_id = self.next_stmt_id.wrapping_add(1).max(1);
        self.next_stmt_id
    }

    fn refresh(&mut self) {
        if self.sets.is_empty() {
            self.fingerprint = 0;
            return;
        }
        let mut h = rustc_hash::FxHasher::default();
        self.sets.hash(&mut h);
        self.fingerprint = h.finish() | 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_and_replay_order_follow_sets() {
        let mut s = ClientState::default();
        assert_eq!(s.sets_fingerprint(), 0);
        s.set("sql_mode", "SET sql_mode = 'a', time_zone = '+01:00';");
        s.set("names", "SET NAMES latin1");
        let a = s.sets_fingerprint();
        assert_ne!(a, 0);
        s.set("sql_mode", "SET sql_mode = 'b'");
        assert_ne!(s.sets_fingerprint(), a);
        assert_eq!(s.replay().collect::<Vec<_>>(), ["SET NAMES latin1", "SET sql_mode = 'b'"]);
        s.reset();
        assert_eq!(s.sets_fingerprint(), 0);
        assert_eq!(s.replay().count(), 0);
    }

    #[test]
    fn statement_ids_start_at_one_and_keys_follow_text() {
        let mut s = ClientState::default();
        assert_eq!(s.next_id(), 1);
        assert_eq!(s.next_id(), 2);
        assert_eq!(statement_key(b"SELECT ?"), statement_key(b"SELECT ?"));
        assert_ne!(statement_key(b"SELECT ?"), statement_key(b"SELECT ?, ?"));
    }
}
