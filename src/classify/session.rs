//! Session statements read from tokens: `SET`, `RESET`, `DISCARD`, `USE`. Used by both the AST path and the
//! keyword fallback, so a statement means the same thing whether or not sqlparser understood it.
//!
//! The name given in [`SessionEffect::Set`] is what the session uses to keep the latest `SET` of each
//! parameter for replay; it is lower-cased, with MySQL's `@@session.` / `@@` / `SESSION` prefixes removed.
//! Scope decisions: PostgreSQL `SET LOCAL` lasts to the end of the transaction, so it is no session effect;
//! MySQL `SET LOCAL` is a synonym of `SET SESSION`. `SET GLOBAL` / `PERSIST` change the server, not the session:
//! no session effect (but still not read-only). Nothing here decides routing.

use super::facts::{Facts, Src};
use super::lex::Tok;
use super::{Dialect, PinReason, SessionEffect};

fn set_named(name: &str) -> SessionEffect {
    SessionEffect::Set { name: name.to_ascii_lowercase() }
}

/// `SET ...` (token 0 is `SET`).
pub(crate) fn set(src: &Src) -> Facts {
    Facts::session(set_effect(src))
}

fn set_effect(src: &Src) -> SessionEffect {
    let mysql = src.dialect == Dialect::MySql;
    if mysql && assigns_user_variable(src) {
        return SessionEffect::Pin(PinReason::UserVariable);
    }
    let mut i = 1;
    match src.text(i).to_ascii_lowercase().as_str() {
        "local" if !mysql => return SessionEffect::None,
        "local" | "session" => i += 1,
        "global" | "persist" | "persist_only" | "transaction" | "password" | "default" => {
            return SessionEffect::None;
        }
        _ => {}
    }
    let word = |k: usize| src.text(i + k).to_ascii_lowercase();
    match word(0).as_str() {
        // MySQL `SET SESSION TRANSACTION ...` sets the session's default; PostgreSQL has no such form.
        "transaction" => return set_named("transaction"),
        "characteristics" => return set_named("session_characteristics"),
        "authorization" => return set_named("session_authorization"),
        "time" if src.is(i + 1, "zone") => return set_named("timezone"),
        "names" if !src.is_punct(i + 1, "=") => return set_named("names"),
        "character" if src.is(i + 1, "set") => return set_named("character_set"),
        "charset" if !src.is_punct(i + 1, "=") => return set_named("character_set"),
        "role" if !src.is_punct(i + 1, "=") && !src.is(i + 1, "to") => return set_named("role"),
        _ => {}
    }
    if src.kind(i) == Some(Tok::Variable) {
        return system_variable(src.text(i));
    }
    match src.dotted_name(i) {
        Some((name, _)) => set_named(&name),
        None => SessionEffect::None,
    }
}

/// `@@x`, `@@session.x`, `@@local.x` -> Set{x}; `@@global.x` / `@@persist.x` -> no session effect.
fn system_variable(text: &str) -> SessionEffect {
    let name = text.trim_start_matches('@').to_ascii_lowercase();
    match name.split_once('.') {
        Some(("session" | "local", rest)) => set_named(rest),
        Some(("global" | "persist" | "persist_only", _)) => SessionEffect::None,
        _ => set_named(&name),
    }
}

/// True when a MySQL user variable (`@x`, not `@@x`) is assigned (`@x = ..` or `@x := ..`).
pub(crate) fn assigns_user_variable(src: &Src) -> bool {
    (0..src.toks.len()).any(|i| {
        src.kind(i) == Some(Tok::Variable)
            && !src.text(i).starts_with("@@")
            && (src.is_punct(i + 1, ":=") || (src.is(0, "set") && src.is_punct(i + 1, "=")))
    })
}

/// `RESET name` / `RESET ALL` (PostgreSQL). MySQL's RESET (MASTER, REPLICA, QUERY CACHE) is server admin.
pub(crate) fn reset(src: &Src) -> Facts {
    if src.dialect == Dialect::MySql {
        return Facts::new(super::Kind::Other, false);
    }
    let effect = if src.is(1, "all") {
        SessionEffect::ResetAll
    } else if src.is(1, "time") && src.is(2, "zone") {
        SessionEffect::Reset { name: "timezone".into() }
    } else if src.is(1, "session") && src.is(2, "authorization") {
        SessionEffect::Reset { name: "session_authorization".into() }
    } else {
        match src.dotted_name(1) {
            Some((name, _)) => SessionEffect::Reset { name: name.to_ascii_lowercase() },
            None => SessionEffect::None,
        }
    };
    Facts::session(effect)
}

/// `DISCARD ALL` resets the whole session; `DISCARD PLANS|SEQUENCES|TEMP` only parts of it.
pub(crate) fn discard(src: &Src) -> Facts {
    Facts::session(if src.is(1, "all") { SessionEffect::DiscardAll } else { SessionEffect::None })
}

/// `USE db`: the database name as written, without quotes.
pub(crate) fn use_db(src: &Src) -> Facts {
    match src.name_part(1) {
        Some(name) => Facts::session(SessionEffect::UseDatabase { name: name.to_string() }),
        None => Facts::session(SessionEffect::None),
    }
}
