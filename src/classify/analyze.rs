//! The uncached classification pipeline: lex once, split into statements, parse each with sqlparser (or fall
//! back to keywords), scan tokens for side effects, and combine the statements into one [`Classification`].
//!
//! Splitting is done on the lexer's `;` tokens, so semicolons in strings, comments and dollar quotes do not
//! split; a `CREATE ... BEGIN ... END` body (MySQL routines, PostgreSQL `BEGIN ATOMIC`) is kept whole. Very
//! long statements (bulk INSERTs) skip the parser: it costs time proportional to their size and the keywords
//! already say everything routing needs. No caching here (see [`super::Classifier`]).

use std::ops::Range;

use sqlparser::ast::Statement;
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use super::facts::{Facts, Src};
use super::lex::{Tok, Token, code_tokens};
use super::{Classification, Dialect, Kind, SessionEffect, TxnEffect, digest, fallback, hint, scan, statement};

/// Statements with more tokens than this are classified by keywords only.
pub(crate) const MAX_PARSE_TOKENS: usize = 4096;

/// Classifies `sql` without any cache.
pub fn classify_uncached(dialect: Dialect, sql: &str) -> Classification {
    let toks = code_tokens(dialect, sql);
    let ranges = split(sql, &toks);
    let mut parsed = !ranges.is_empty();
    let mut all: Option<Facts> = None;
    for range in &ranges {
        let src = Src { dialect, sql, toks: &toks[range.clone()] };
        let (facts, ok) = one(&src);
        parsed &= ok;
        all = Some(match all {
            None => facts,
            Some(prev) => combine(prev, facts),
        });
    }
    let f = all.unwrap_or_else(|| Facts::new(Kind::Other, false));
    Classification {
        kind: f.kind,
        read_only: f.read_only,
        locking: f.locking,
        side_effects: f.side_effects,
        txn: f.txn,
        session: f.session,
        hint: hint::leading_hint(dialect, sql),
        tables: f.tables,
        joins: f.joins,
        aggregates: f.aggregates,
        multi_statement: ranges.len() > 1,
        fingerprint: digest::fingerprint_for(dialect, sql),
        parsed,
    }
}

/// Token ranges of the statements in `toks`, without the `;` separators and empty statements.
fn split(sql: &str, toks: &[Token]) -> Vec<Range<usize>> {
    let is_semi = |t: &Token| t.kind == Tok::Punct && t.text(sql) == ";";
    let compound =
        toks.first().is_some_and(|t| t.is_word(sql, "create")) && toks.iter().any(|t| t.is_word(sql, "begin"));
    if compound {
        let end = toks.iter().rposition(|t| !is_semi(t)).map_or(0, |i| i + 1);
        return (end > 0).then_some(0..end).into_iter().collect();
    }
    let mut ranges = Vec::new();
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if is_semi(t) {
            if i > start {
                ranges.push(start..i);
            }
            start = i + 1;
        }
    }
    if toks.len() > start {
        ranges.push(start..toks.len());
    }
    ranges
}

/// One statement: parsed facts (or the fallback's), plus the side-effect scan. The flag says it parsed.
fn one(src: &Src) -> (Facts, bool) {
    let (mut facts, parsed) = match parse(src) {
        Some(stmts) => {
            let mut it = stmts.iter().map(|st| statement::classify(st, src));
            let first = it.next().unwrap_or_else(|| fallback::classify(src));
            (it.fold(first, combine), true)
        }
        None => (fallback::classify(src), false),
    };
    let fx = scan::scan(src);
    if fx.side_effects {
        facts.side_effects = true;
        facts.read_only = false;
    }
    if let Some(pin) = fx.pin
        && !matches!(facts.session, SessionEffect::Pin(_))
    {
        facts.session = SessionEffect::Pin(pin);
    }
    if facts.locking {
        facts.read_only = false;
    }
    (facts, parsed)
}

/// sqlparser's statements for `src`, or None when it fails or the statement is too long to be worth it.
fn parse(src: &Src) -> Option<Vec<Statement>> {
    if src.toks.len() > MAX_PARSE_TOKENS {
        return None;
    }
    let text = src.statement_text();
    let parsed = match src.dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, text),
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, text),
    };
    parsed.ok().filter(|v| !v.is_empty())
}

/// Two statements' facts as one: read-only only if both are; kind of the first; the last transaction effect
/// (so `BEGIN; ...; COMMIT` ends closed); the first pin, else the first session effect.
fn combine(a: Facts, b: Facts) -> Facts {
    let session = match (&a.session, &b.session) {
        (SessionEffect::Pin(_), _) | (_, SessionEffect::None) => a.session,
        (_, SessionEffect::Pin(_)) | (SessionEffect::None, _) => b.session,
        _ => a.session,
    };
    let mut tables = a.tables;
    for t in b.tables {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    Facts {
        kind: a.kind,
        read_only: a.read_only && b.read_only,
        locking: a.locking || b.locking,
        side_effects: a.side_effects || b.side_effects,
        txn: if b.txn == TxnEffect::None { a.txn } else { b.txn },
        session,
        tables,
        joins: a.joins.saturating_add(b.joins),
        aggregates: a.aggregates || b.aggregates,
    }
}
