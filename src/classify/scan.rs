//! Token scan for side effects that look like reads: functions such as `nextval()`, `pg_advisory_lock()`,
//! `GET_LOCK()`, `LAST_INSERT_ID()`, `set_config()`; MySQL user-variable assignment (`@x := 1`,
//! `SELECT .. INTO @x`), `SQL_CALC_FOUND_ROWS` / `FOUND_ROWS()` and `NEXT VALUE FOR`.
//!
//! It runs on every statement, parsed or not, so the AST walk never has to find calls buried in exotic
//! expressions. A name counts only when followed by `(`, so a column called `nextval` is not a call. Strings,
//! comments and quoted identifiers are never scanned (the lexer keeps them apart). Being a token scan it can
//! over-report (a user function shadowing a listed name): that only sends a read to the primary.

use super::facts::Src;
use super::lex::Tok;
use super::session::assigns_user_variable;
use super::{Dialect, PinReason};

/// Functions whose call changes state (or depends on the session's own earlier writes): never a read.
const SIDE_EFFECT_FUNCTIONS: &[&str] = &[
    // PostgreSQL sequences, transaction ids, notifications, advisory unlocks and transaction-level locks.
    "currval",
    "dblink_exec",
    "lastval",
    "nextval",
    "pg_advisory_unlock",
    "pg_advisory_unlock_all",
    "pg_advisory_unlock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_cancel_backend",
    "pg_create_logical_replication_slot",
    "pg_create_physical_replication_slot",
    "pg_create_restore_point",
    "pg_current_xact_id",
    "pg_drop_replication_slot",
    "pg_logical_emit_message",
    "pg_notify",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_stat_reset",
    "pg_stat_statements_reset",
    "pg_switch_wal",
    "pg_terminate_backend",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "setval",
    "txid_current",
    // MySQL / MariaDB.
    "last_insert_id",
    "release_all_locks",
    "release_lock",
    "row_count",
    "uuid_short",
];

/// Functions taking a session-level lock: the client must keep its backend.
const ADVISORY_LOCK_FUNCTIONS: &[&str] =
    &["get_lock", "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared"];

/// What the scan found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effects {
    /// A side-effect function, sequence access or pin-worthy call.
    pub side_effects: bool,
    /// The first reason found to pin the client to its backend.
    pub pin: Option<PinReason>,
}

impl Effects {
    fn pin(&mut self, reason: PinReason) {
        self.side_effects = true;
        self.pin.get_or_insert(reason);
    }
}

/// Scans one statement's tokens.
pub(crate) fn scan(src: &Src) -> Effects {
    let mut fx = Effects::default();
    let mysql = src.dialect == Dialect::MySql;
    if mysql && assigns_user_variable(src) {
        fx.pin(PinReason::UserVariable);
    }
    for i in 0..src.toks.len() {
        if src.kind(i) != Some(Tok::Word) {
            continue;
        }
        let word = src.text(i).to_ascii_lowercase();
        if mysql && word == "sql_calc_found_rows" {
            fx.pin(PinReason::FoundRows);
        }
        if mysql && word == "into" && src.kind(i + 1) == Some(Tok::Variable) {
            fx.pin(PinReason::UserVariable);
        }
        if (word == "next" || word == "previous") && src.is(i + 1, "value") && src.is(i + 2, "for") {
            fx.side_effects = true;
        }
        if !src.is_punct(i + 1, "(") {
            continue;
        }
        let name = word.as_str();
        if ADVISORY_LOCK_FUNCTIONS.contains(&name) {
            fx.pin(PinReason::AdvisoryLock);
        } else if name == "found_rows" {
            fx.pin(PinReason::FoundRows);
        } else if name == "set_config" {
            fx.side_effects = true;
            if !third_argument_is_true(src, i + 1) {
                fx.pin(PinReason::UntrackedSet);
            }
        } else if SIDE_EFFECT_FUNCTIONS.contains(&name) || name.starts_with("lo_") {
            fx.side_effects = true;
        }
    }
    fx
}

/// For a call whose `(` is token `open`: true when the third argument is the literal `true` (`set_config`'s
/// `is_local`). Anything else, a bind parameter included, counts as not local.
fn third_argument_is_true(src: &Src, open: usize) -> bool {
    let (mut depth, mut commas) = (0usize, 0usize);
    for i in open..src.toks.len() {
        match src.text(i) {
            "(" => depth += 1,
            ")" => {
                depth -= 1;
                if depth == 0 {
                    return false;
                }
            }
            "," if depth == 1 => commas += 1,
            _ if depth == 1 && commas == 2 => {
                return src.is(i, "true") && (src.is_punct(i + 1, ")") || src.is_punct(i + 1, ","));
            }
            _ => {}
        }
    }
    false
}
