//! Statement digests: the normalised text of a statement and its stable 64-bit fingerprint.
//!
//! Normalising strips comments; turns string, numeric and bind-placeholder literals (`'a'`, `E'a'`, `$$a$$`,
//! `42`, `-1.5e3`, `$1`, `?`) into `?`; collapses `IN (?, ?, ?)`, `ARRAY[?, ?]` and repeated identical
//! `VALUES` rows into one; lower-cases words and simple quoted identifiers; and spaces tokens one way, so
//! `WHERE id = 1` and `where  id=2 -- x` share a digest. It is a hand byte-scanner ([`super::lex`]), about a
//! microsecond per statement. It deliberately does not parse: `a.b` and `a . b` are the same digest, but no
//! attempt is made to reorder or simplify expressions.
//!
//! The fingerprint is FNV-1a 64 over the normalised text: a fixed algorithm, so it is the same in every
//! process and release (a `std` or Fx hash could change between compiler or crate versions).

use super::Dialect;
use super::lex::{Lexer, Tok};

/// Words after which `(` is a grouping, not a call: they get a space before `(` and do not end an operand
/// (so `= -1` and `select -1` fold the sign into the literal). `word` is already lower-case.
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "all"
            | "and"
            | "any"
            | "array"
            | "as"
            | "between"
            | "by"
            | "case"
            | "distinct"
            | "else"
            | "except"
            | "exists"
            | "from"
            | "having"
            | "in"
            | "intersect"
            | "into"
            | "is"
            | "join"
            | "lateral"
            | "like"
            | "limit"
            | "not"
            | "offset"
            | "on"
            | "or"
            | "over"
            | "return"
            | "returning"
            | "select"
            | "set"
            | "some"
            | "table"
            | "then"
            | "union"
            | "using"
            | "value"
            | "values"
            | "when"
            | "where"
            | "with"
    )
}

/// The normalised text of `sql` using PostgreSQL's lexical rules. Use [`normalize_for`] when the dialect is
/// known: MySQL differs in `#` comments, `"..."` strings, backticks and `?` placeholders.
pub fn normalize(sql: &str) -> String {
    normalize_for(Dialect::Postgres, sql)
}

/// The fingerprint of [`normalize`]`(sql)`.
pub fn fingerprint(sql: &str) -> u64 {
    fingerprint_for(Dialect::Postgres, sql)
}

/// The fingerprint of [`normalize_for`]`(dialect, sql)`: FNV-1a 64, stable across processes and releases.
pub fn fingerprint_for(dialect: Dialect, sql: &str) -> u64 {
    fnv1a(normalize_for(dialect, sql).as_bytes())
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The normalised text of `sql` under `dialect`'s lexical rules.
pub fn normalize_for(dialect: Dialect, sql: &str) -> String {
    let mut n = Normalizer { out: String::with_capacity(sql.len()), ..Normalizer::default() };
    for t in Lexer::new(dialect, sql) {
        let text = t.text(sql);
        match t.kind {
            Tok::Comment => {}
            Tok::Str | Tok::Number | Tok::Param => n.literal(),
            Tok::Word => n.word(text),
            Tok::QuotedIdent => n.quoted_ident(dialect, text),
            Tok::Variable => n.push_as(Last::Operand, text, true),
            Tok::Op if text == "?" && dialect == Dialect::MySql => n.literal(),
            Tok::Op | Tok::Punct => n.punct(text),
        }
    }
    n.out
}

/// What the previously emitted token was, for spacing and sign folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Last {
    /// Nothing yet (or after `;`).
    #[default]
    Start,
    /// Identifier, `?`, `)`: something an operator can follow.
    Operand,
    /// A word for which [`is_keyword`] holds.
    Keyword,
    /// `(` or `[`.
    Open,
    /// `.` or `::`: glued to both sides.
    Glue,
    /// `+` or `-`, possibly a sign.
    Sign,
    /// Any other operator or `,`.
    Op,
}

/// An open bracket: where it is in the output and whether its contents may collapse.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Offset of the bracket in `out`.
    at: usize,
    /// The contents are a collapsible list (after `IN`, `VALUES`, `ARRAY`, or a later `VALUES` row).
    list: bool,
    /// This is a `VALUES` row.
    row: bool,
}

#[derive(Default)]
struct Normalizer {
    out: String,
    last: Last,
    /// The kind before `last`, and where `last` began (before its separating space).
    before_last: Last,
    last_at: usize,
    frames: Vec<Frame>,
    /// The previous `VALUES` row at the current depth: (depth, start, end) in `out`.
    prev_row: Option<(usize, usize, usize)>,
    /// A `;` waits until another token follows, so trailing semicolons vanish.
    pending_semicolon: bool,
}

impl Normalizer {
    fn push(&mut self, kind: Last, text: &str) {
        self.push_as(kind, text, false);
    }

    /// Emits `text` (ASCII-lower-cased when `lower`) after the separator the previous token calls for.
    fn push_as(&mut self, kind: Last, text: &str, lower: bool) {
        if self.pending_semicolon {
            self.pending_semicolon = false;
            self.out.push(';');
            self.last = Last::Op;
            self.frames.clear();
            self.prev_row = None;
        }
        let at = self.out.len();
        if self.space_before(kind, text) {
            self.out.push(' ');
        }
        let from = self.out.len();
        self.out.push_str(text);
        if lower {
            self.out[from..].make_ascii_lowercase();
        }
        self.before_last = self.last;
        self.last = kind;
        self.last_at = at;
    }

    fn space_before(&self, kind: Last, text: &str) -> bool {
        if matches!(self.last, Last::Start | Last::Open | Last::Glue) || kind == Last::Glue {
            return false;
        }
        match text {
            ")" | "]" | "," => false,
            "(" => !matches!(self.last, Last::Operand),
            "[" => self.last != Last::Operand,
            _ => true,
        }
    }

    fn word(&mut self, text: &str) {
        self.push_as(Last::Operand, text, true);
        if is_keyword(&self.out[self.out.len() - text.len()..]) {
            self.last = Last::Keyword;
        }
    }

    fn quoted_ident(&mut self, dialect: Dialect, text: &str) {
        let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
        let simple = !inner.is_empty()
            && !inner.as_bytes()[0].is_ascii_digit()
            && inner.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$');
        match dialect {
            // PostgreSQL folds bare names to lower case, so `"users"` is `users` but `"Users"` is not.
            Dialect::Postgres if simple && !inner.bytes().any(|c| c.is_ascii_uppercase()) => {
                self.push(Last::Operand, inner)
            }
            Dialect::MySql if simple => self.push_as(Last::Operand, inner, true),
            _ => self.push(Last::Operand, text),
        }
    }

    /// A literal or placeholder: `?`, absorbing a preceding unary sign.
    fn literal(&mut self) {
        if self.last == Last::Sign && !matches!(self.before_last, Last::Operand) {
            self.out.truncate(self.last_at);
            self.last = self.before_last;
        }
        self.push(Last::Operand, "?");
    }

    fn punct(&mut self, text: &str) {
        match text {
            ";" => {
                self.pending_semicolon = !self.out.is_empty();
            }
            "(" | "[" => self.open(text),
            ")" | "]" => self.close(text),
            "." | "::" => self.push(Last::Glue, text),
            "+" | "-" => self.push(Last::Sign, text),
            _ => self.push(Last::Op, text),
        }
    }

    fn open(&mut self, text: &str) {
        let prev_word = self.out.get(self.last_at..).unwrap_or("").trim_start();
        let after_row_comma = self.last == Last::Op
            && prev_word == ","
            && self.prev_row.is_some_and(|(d, _, end)| d == self.frames.len() && end == self.last_at);
        let row = text == "(" && (matches!(prev_word, "values" | "value") || after_row_comma);
        let list = row || (text == "(" && prev_word == "in") || (text == "[" && prev_word == "array");
        self.push(Last::Open, text);
        let at = self.out.len() - 1;
        self.frames.push(Frame { at, list, row });
    }

    fn close(&mut self, text: &str) {
        let Some(frame) = self.frames.pop() else {
            self.push(Last::Operand, text);
            return;
        };
        let inner = &self.out[frame.at + 1..];
        if frame.list && inner.contains('?') && inner.bytes().all(|c| matches!(c, b'?' | b',' | b' ')) {
            self.out.truncate(frame.at + 1);
            self.out.push('?');
        }
        self.push(Last::Operand, text);
        if !frame.row {
            return;
        }
        let depth = self.frames.len();
        let end = self.out.len();
        if let Some((d, start, prev_end)) = self.prev_row
            && d == depth
            && self.out.get(prev_end..frame.at) == Some(", ")
            && self.out.get(start..prev_end) == self.out.get(frame.at..end)
        {
            // A row identical to the previous one: drop `, (..)`.
            self.out.truncate(prev_end);
            self.last_at = start;
            return;
        }
        self.prev_row = Some((depth, frame.at, end));
    }
}
