//! The per-statement result ([`Facts`]) and the token view of one statement ([`Src`]) that the AST path, the
//! keyword fallback and the token scanners share. Combining several statements' facts into one
//! [`super::Classification`] happens in [`super::analyze`]; nothing here parses.

use super::lex::{Tok, Token};
use super::{Dialect, Kind, SessionEffect, TxnEffect};

/// What one statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub kind: Kind,
    pub read_only: bool,
    pub locking: bool,
    pub side_effects: bool,
    pub txn: TxnEffect,
    pub session: SessionEffect,
    pub tables: Vec<String>,
    pub joins: u16,
    pub aggregates: bool,
}

impl Facts {
    /// Facts with no effects, tables or joins.
    pub fn new(kind: Kind, read_only: bool) -> Facts {
        Facts {
            kind,
            read_only,
            locking: false,
            side_effects: false,
            txn: TxnEffect::None,
            session: SessionEffect::None,
            tables: Vec::new(),
            joins: 0,
            aggregates: false,
        }
    }

    /// A statement that changes session state.
    pub fn session(effect: SessionEffect) -> Facts {
        Facts { session: effect, ..Facts::new(Kind::Session, false) }
    }

    /// A transaction-control statement.
    pub fn txn(effect: TxnEffect) -> Facts {
        // BEGIN READ ONLY changes nothing anywhere; everything else must reach the primary.
        Facts { txn: effect, ..Facts::new(Kind::Transaction, effect == TxnEffect::BeginReadOnly) }
    }
}

/// One statement's code tokens (comments removed) over the full SQL text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Src<'a> {
    pub dialect: Dialect,
    pub sql: &'a str,
    pub toks: &'a [Token],
}

impl<'a> Src<'a> {
    /// The text of token `i`, or "" past the end.
    pub fn text(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| t.text(self.sql))
    }

    /// True when token `i` is the word `kw` (ASCII case-insensitive).
    pub fn is(&self, i: usize, kw: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_word(self.sql, kw))
    }

    /// True when token `i` is the punctuation or operator `p`.
    pub fn is_punct(&self, i: usize, p: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_punct(self.sql, p))
    }

    /// The kind of token `i`.
    pub fn kind(&self, i: usize) -> Option<Tok> {
        self.toks.get(i).map(|t| t.kind)
    }

    /// Index of the first occurrence of the consecutive words `seq` at or after `from`.
    pub fn find_seq_from(&self, from: usize, seq: &[&str]) -> Option<usize> {
        (from..self.toks.len()).find(|&i| seq.iter().enumerate().all(|(k, w)| self.is(i + k, w)))
    }

    /// True when the consecutive words `seq` occur anywhere.
    pub fn has_seq(&self, seq: &[&str]) -> bool {
        self.find_seq_from(0, seq).is_some()
    }

    /// The statement text from its first to its last code token.
    pub fn statement_text(&self) -> &'a str {
        match (self.toks.first(), self.toks.last()) {
            (Some(a), Some(b)) => self.sql.get(a.start..b.end).unwrap_or(""),
            _ => "",
        }
    }

    /// Token `i` as a name part: a word, or a quoted identifier without its quotes.
    pub fn name_part(&self, i: usize) -> Option<&'a str> {
        let t = self.toks.get(i)?;
        let text = t.text(self.sql);
        match t.kind {
            Tok::Word => Some(text),
            Tok::QuotedIdent => text.get(1..text.len().saturating_sub(1)),
            _ => None,
        }
    }

    /// The dotted name starting at token `i` (`a.b."C"`), and the index after it.
    pub fn dotted_name(&self, mut i: usize) -> Option<(String, usize)> {
        let mut name = self.name_part(i)?.to_string();
        i += 1;
        while self.is_punct(i, ".") {
            let Some(part) = self.name_part(i + 1) else { break };
            name.push('.');
            name.push_str(part);
            i += 2;
        }
        Some((name, i))
    }
}
