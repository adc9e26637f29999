//! Keyword classification for statements sqlparser cannot parse (and for the statement kinds the AST path
//! does not need to look into: DDL, SHOW, VACUUM ...).
//!
//! It decides from the first keyword, with look-ahead for what turns a read into something else: locking
//! clauses (`FOR UPDATE` / `FOR SHARE` / `FOR NO KEY UPDATE` / `FOR KEY SHARE` / `LOCK IN SHARE MODE`), any
//! `INTO` (`INTO OUTFILE`, `INTO @var`, PostgreSQL `SELECT .. INTO newtable`) and data-modifying CTEs. An
//! unknown first keyword is `Kind::Other` and not read-only, so it goes to the primary. Tables, joins and
//! aggregates are estimated from keywords (`FROM x`, `JOIN x`, `GROUP BY`, `OVER`).

use super::facts::{Facts, Src};
use super::lex::Tok;
use super::session;
use super::walk::AGGREGATES;
use super::{Dialect, Kind, PinReason, SessionEffect, TxnEffect};

/// Words that can start the statement an `EXPLAIN` or data-modifying `WITH` is about.
const STATEMENT_WORDS: &[&str] =
    &["select", "insert", "update", "delete", "merge", "replace", "values", "table", "with"];

/// Classifies one statement from its keywords.
pub(crate) fn classify(src: &Src) -> Facts {
    let first = src.text(0).to_ascii_lowercase();
    match first.as_str() {
        "select" | "values" | "table" | "(" => read_query(src, Kind::Select),
        "with" => with_query(src),
        "insert" | "replace" => write(src, Kind::Insert),
        "update" | "merge" => write(src, Kind::Update),
        "delete" | "truncate" => write(src, Kind::Delete),
        "create" => create(src),
        "alter" | "drop" | "grant" | "revoke" | "comment" | "rename" | "security" | "import" | "reassign" => {
            Facts::new(Kind::Ddl, false)
        }
        "begin" | "start" => begin(src),
        "commit" | "end" => Facts::txn(TxnEffect::Commit),
        "rollback" | "abort" if src.find_seq_from(1, &["to"]).is_some() => Facts::txn(TxnEffect::None),
        "rollback" | "abort" => Facts::txn(TxnEffect::Rollback),
        "savepoint" | "release" => Facts::txn(TxnEffect::None),
        "xa" => xa(src),
        "set" => session::set(src),
        "reset" => session::reset(src),
        "discard" => session::discard(src),
        "use" => session::use_db(src),
        "explain" | "describe" | "desc" => explain(src),
        "show" => Facts::new(Kind::Show, true),
        "call" | "do" => Facts::new(Kind::Call, false),
        "copy" | "load" => Facts::new(Kind::Copy, false),
        "listen" => pinned(PinReason::Listen),
        "prepare" => pinned(PinReason::SqlPrepare),
        "declare" if src.has_seq(&["with", "hold"]) => pinned(PinReason::HoldCursor),
        "lock" if src.dialect == Dialect::MySql && (src.is(1, "tables") || src.is(1, "table")) => {
            pinned(PinReason::LockTables)
        }
        _ => Facts::new(Kind::Other, false),
    }
}

fn pinned(reason: PinReason) -> Facts {
    Facts { session: SessionEffect::Pin(reason), ..Facts::new(Kind::Other, false) }
}

/// A SELECT-like statement: read-only unless it locks rows or writes somewhere with `INTO`.
fn read_query(src: &Src, kind: Kind) -> Facts {
    let mut f = Facts::new(kind, true);
    let locks = [&["for", "update"][..], &["for", "share"], &["for", "no", "key"], &["for", "key", "share"]];
    f.locking = locks.iter().any(|s| src.has_seq(s)) || src.has_seq(&["lock", "in", "share", "mode"]);
    f.read_only = !f.locking && !src.has_seq(&["into"]);
    shape(src, &mut f, &[]);
    f
}

/// `WITH ...`: the statement after the CTE list decides the kind; a DML word inside any CTE makes it a write.
fn with_query(src: &Src) -> Facts {
    let ctes = cte_names(src);
    let mut depth = 0usize;
    let mut main = None;
    for i in 1..src.toks.len() {
        match src.text(i) {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            w if depth == 0 && STATEMENT_WORDS[..8].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                main = Some(w.to_ascii_lowercase());
                break;
            }
            _ => {}
        }
    }
    let dml = (0..src.toks.len()).find_map(|i| dml_word(src, i));
    let kind = match main.as_deref() {
        Some("insert" | "replace") => Kind::Insert,
        Some("update" | "merge") => Kind::Update,
        Some("delete") => Kind::Delete,
        _ => dml.unwrap_or(Kind::Select),
    };
    let mut f = read_query(src, kind);
    f.read_only &= dml.is_none();
    f.tables.clear();
    shape(src, &mut f, &ctes);
    f
}

/// The DML kind when token `i` is an INSERT/UPDATE/DELETE/MERGE keyword (not `FOR UPDATE`, not `replace(`).
fn dml_word(src: &Src, i: usize) -> Option<Kind> {
    if src.kind(i) != Some(Tok::Word) || src.is_punct(i + 1, "(") {
        return None;
    }
    if i > 0 && (src.is(i - 1, "for") || src.is(i - 1, "key") || src.is(i - 1, "on")) {
        return None;
    }
    match src.text(i).to_ascii_lowercase().as_str() {
        "insert" | "replace" => Some(Kind::Insert),
        "update" | "merge" => Some(Kind::Update),
        "delete" => Some(Kind::Delete),
        _ => None,
    }
}

/// Names defined by `name [(cols)] AS (` at the top level of a WITH.
fn cte_names(src: &Src) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for i in 0..src.toks.len() {
        match src.text(i) {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            _ if depth == 0 && src.is(i, "as") => {
                // Walk back over an optional column list to the name.
                let mut j = i;
                if j > 0 && src.is_punct(j - 1, ")") {
                    while j > 0 && !src.is_punct(j - 1, "(") {
                        j -= 1;
                    }
                    j = j.saturating_sub(1);
                }
                if let Some(name) = j.checked_sub(1).and_then(|k| src.name_part(k)) {
                    names.push(name.to_lowercase());
                }
            }
            _ => {}
        }
    }
    names
}

fn write(src: &Src, kind: Kind) -> Facts {
    let mut f = Facts::new(kind, false);
    shape(src, &mut f, &[]);
    f
}

fn create(src: &Src) -> Facts {
    let temp = ["temporary", "temp"].iter().any(|w| src.find_seq_from(1, &[w, "table"]).is_some_and(|i| i <= 4));
    let session = if temp { SessionEffect::Pin(PinReason::TempTable) } else { SessionEffect::None };
    Facts { session, ..Facts::new(Kind::Ddl, false) }
}

/// BEGIN / START TRANSACTION (MySQL's `START SLAVE` and the like are not).
fn begin(src: &Src) -> Facts {
    if src.is(0, "start") && !src.is(1, "transaction") {
        return Facts::new(Kind::Other, false);
    }
    let read_only = src.has_seq(&["read", "only"]);
    Facts::txn(if read_only { TxnEffect::BeginReadOnly } else { TxnEffect::Begin })
}

/// MySQL XA transactions: START/BEGIN opens one, COMMIT/ROLLBACK end it, the rest change nothing we track.
fn xa(src: &Src) -> Facts {
    let effect = match src.text(1).to_ascii_lowercase().as_str() {
        "start" | "begin" => TxnEffect::Begin,
        "commit" => TxnEffect::Commit,
        "rollback" => TxnEffect::Rollback,
        _ => TxnEffect::None,
    };
    Facts { read_only: false, ..Facts::txn(effect) }
}

/// Index of the statement an EXPLAIN / DESCRIBE is about, if it has one.
pub(crate) fn explain_target(src: &Src) -> Option<usize> {
    let mut depth = 0usize;
    for i in 1..src.toks.len() {
        match src.text(i) {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            w if depth == 0 && STATEMENT_WORDS.iter().any(|k| w.eq_ignore_ascii_case(k)) => return Some(i),
            _ => {}
        }
    }
    None
}

/// True when an EXPLAIN runs its statement (`ANALYZE`, `ANALYSE`, `(ANALYZE, ...)`).
pub(crate) fn explain_analyzes(src: &Src, target: usize) -> bool {
    (1..target).any(|i| src.is(i, "analyze") || src.is(i, "analyse"))
}

/// EXPLAIN / DESCRIBE: a read, unless it is EXPLAIN ANALYZE of a statement that is not.
fn explain(src: &Src) -> Facts {
    let Some(target) = explain_target(src) else {
        return Facts::new(Kind::Show, true);
    };
    let inner = classify(&Src { toks: &src.toks[target..], ..*src });
    if explain_analyzes(src, target) {
        inner
    } else {
        let (txn, session) = (TxnEffect::None, SessionEffect::None);
        Facts { kind: Kind::Show, read_only: true, locking: false, txn, session, ..inner }
    }
}

/// Tables (names after FROM / JOIN / INTO / UPDATE / TABLE), joins and aggregates, from keywords.
fn shape(src: &Src, f: &mut Facts, ctes: &[String]) {
    for i in 0..src.toks.len() {
        let word = src.text(i).to_ascii_lowercase();
        match word.as_str() {
            "update" if i > 0 && (src.is(i - 1, "for") || src.is(i - 1, "key") || src.is(i - 1, "no")) => {}
            "from" | "join" | "into" | "update" | "table" => {
                if word == "join" {
                    f.joins = f.joins.saturating_add(1);
                }
                if let Some((name, _)) = src.dotted_name(i + 1) {
                    let name = name.to_lowercase();
                    let keyword = matches!(name.as_str(), "only" | "lateral" | "select" | "outfile" | "dumpfile");
                    if !keyword && !ctes.contains(&name) && !f.tables.contains(&name) {
                        f.tables.push(name);
                    }
                }
            }
            "group" if src.is(i + 1, "by") => f.aggregates = true,
            "over" if src.kind(i + 1) == Some(Tok::Word) || src.is_punct(i + 1, "(") => f.aggregates = true,
            w if src.is_punct(i + 1, "(") && AGGREGATES.contains(&w) => f.aggregates = true,
            _ => {}
        }
    }
}
