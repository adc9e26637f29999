//! What a client has changed in its session that must follow it from backend to backend: session SETs (replayed
//! as text on a backend whose applied set differs) and named prepared statements (renamed to shared names and
//! re-parsed on a backend that lacks them).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::classify::Classification;
use crate::protocol::postgres::messages;

/// A client's named prepared statement.
#[derive(Debug)]
pub struct Statement {
    /// Shared name key: a hash of the text and parameter types; the backend name is `sy_<hex>`.
    pub key: u64,
    /// The Parse message re-addressed to the shared name, ready to send to a backend that lacks it.
    pub parse: Bytes,
    /// Its classification.
    pub class: Arc<Classification>,
    /// The SQL text.
    pub sql: Arc<str>,
}

/// The shared backend name for a statement key.
pub fn shared_name(key: u64) -> String {
    format!("sy_{key:016x}")
}

/// The key of a statement: the same text with the same parameter types shares one backend statement.
pub fn statement_key(sql: &str, param_types: &[u32]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    sql.hash(&mut h);
    param_types.hash(&mut h);
    // Never 0, which could be mistaken for "no statement" in logs.
    h.finish() | 1
}

/// Per-client state that outlives one backend.
#[derive(Debug, Default)]
pub struct ClientState {
    /// Session parameters set by the client: name -> statement that sets it.
    sets: BTreeMap<String, String>,
    /// Fingerprint of `sets` (0 = nothing set).
    fingerprint: u64,
    /// Named prepared statements by the client's name.
    pub statements: HashMap<String, Arc<Statement>>,
}

impl ClientState {
    /// Fingerprint of the SETs in force (0 = none).
    pub fn sets_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Records `SET name = value` style text for `name`.
    pub fn set(&mut self, name: &str, sql: &str) {
        self.sets.insert(name.to_string(), sql.trim().trim_end_matches(';').to_string());
        self.refresh();
    }

    /// Records a start-up parameter as a SET.
    pub fn set_parameter(&mut self, name: &str, value: &str) {
        if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            let sql = format!("SET {name} = '{}'", value.replace('\'', "''"));
            self.sets.insert(name.to_ascii_lowercase(), sql);
            self.refresh();
        }
    }

    /// Forgets `name` (RESET name).
    pub fn reset(&mut self, name: &str) {
        self.sets.remove(name);
        self.refresh();
    }

    /// Forgets everything (RESET ALL).
    pub fn reset_all(&mut self) {
        self.sets.clear();
        self.refresh();
    }

    /// The text that makes a backend's session match this client's: `RESET ALL` then every SET.
    pub fn replay_sql(&self) -> String {
        let mut sql = String::from("RESET ALL");
        for s in self.sets.values() {
            sql.push_str("; ");
            sql.push_str(s);
        }
        sql
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

    /// Remembers a client's Parse of a named statement; returns the stored statement.
    pub fn remember(
        &mut self,
        name: &str,
        sql: &str,
        param_types: &[u32],
        class: Arc<Classification>,
    ) -> Arc<Statement> {
        let key = statement_key(sql, param_types);
        let mut parse = BytesMut::new();
        messages::parse(&mut parse, &shared_name(key), sql, param_types);
        let stmt = Arc::new(Statement { key, parse: parse.freeze(), class, sql: Arc::from(sql) });
        self.statements.insert(name.to_string(), stmt.clone());
        stmt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_sets() {
        let mut s = ClientState::default();
        assert_eq!(s.sets_fingerprint(), 0);
        s.set("search_path", "SET search_path = a;");
        let a = s.sets_fingerprint();
        assert_ne!(a, 0);
        s.set("search_path", "SET search_path = b");
        assert_ne!(s.sets_fingerprint(), a);
        s.set("search_path", "SET search_path = a");
        assert_eq!(s.sets_fingerprint(), a);
        assert_eq!(s.replay_sql(), "RESET ALL; SET search_path = a");
        s.reset("search_path");
        assert_eq!(s.sets_fingerprint(), 0);
    }

    #[test]
    fn parameters_are_quoted_and_names_checked() {
        let mut s = ClientState::default();
        s.set_parameter("application_name", "it's");
        s.set_parameter("bad name;drop", "x");
        assert_eq!(s.replay_sql(), "RESET ALL; SET application_name = 'it''s'");
    }

    #[test]
    fn same_text_shares_a_key() {
        assert_eq!(statement_key("select 1", &[]), statement_key("select 1", &[]));
        assert_ne!(statement_key("select 1", &[]), statement_key("select 1", &[23]));
    }
}
