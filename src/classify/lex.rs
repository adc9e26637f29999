//! A small, allocation-free SQL byte lexer shared by the digest, the hint reader, the keyword fallback and the
//! side-effect scanner.
//!
//! It knows just enough of each dialect's lexical rules to never mistake the inside of a string, quoted
//! identifier or comment for code: `'..'` with `''` (and backslash escapes where the dialect has them), PG
//! `E'..'`, `$$..$$` / `$tag$..$tag$`, nested `/* */`, `--`; MySQL `"..."` strings, backtick identifiers, `#`
//! comments, `-- ` (dash-dash-space) comments and `/*! .. */` executable comments (whose content is code).
//! It does not know keywords or grammar, and it never fails: unterminated constructs run to the end of input.
//!
//! Decisions: `#` is a comment in MySQL (always, as the server treats it) and an operator in PostgreSQL;
//! MySQL `"..."` is a string (the default `sql_mode` without `ANSI_QUOTES`).

use super::Dialect;

/// The sort of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Bare identifier or keyword.
    Word,
    /// `"ident"` (PostgreSQL) or `` `ident` `` (MySQL).
    QuotedIdent,
    /// Any string literal: `'..'`, `E'..'`, `x'..'`, `$$..$$`, MySQL `"..."`, `_utf8mb4'..'`.
    Str,
    /// Numeric literal (decimal, exponent, hex, binary).
    Number,
    /// Bind placeholder: `$1` (PostgreSQL) or `?` (MySQL).
    Param,
    /// MySQL `@var` / `@@var` / `@@session.var`.
    Variable,
    /// A run of operator characters (`=`, `<=`, `::`, `:=`, `->>` ...).
    Op,
    /// Single punctuation: `( ) [ ] , ; .` and anything unrecognised.
    Punct,
    /// A comment (`--`, `#`, `/* */`), text included.
    Comment,
}

/// One token: its sort and its byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    /// The sort.
    pub kind: Tok,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Token {
    /// The token's text in `src`.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// True for a word equal (ASCII case-insensitively) to `kw`.
    pub fn is_word(&self, src: &str, kw: &str) -> bool {
        self.kind == Tok::Word && self.text(src).eq_ignore_ascii_case(kw)
    }

    /// True for the single punctuation or operator `p`.
    pub fn is_punct(&self, src: &str, p: &str) -> bool {
        matches!(self.kind, Tok::Punct | Tok::Op) && self.text(src) == p
    }
}

/// Iterator over the tokens of one SQL text.
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    dialect: Dialect,
    /// Inside a MySQL `/*! ... */` executable comment: the next `*/` is skipped.
    in_exec_comment: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src` with `dialect`'s rules.
    pub fn new(dialect: Dialect, src: &'a str) -> Lexer<'a> {
        Lexer { src: src.as_bytes(), pos: 0, dialect, in_exec_comment: false }
    }

    fn peek(&self, off: usize) -> u8 {
        self.src.get(self.pos + off).copied().unwrap_or(0)
    }

    fn mysql(&self) -> bool {
        self.dialect == Dialect::MySql
    }

    /// Skips whitespace and MySQL executable-comment markers; returns false at end of input.
    fn skip_space(&mut self) -> bool {
        loop {
            let c = self.peek(0);
            if c.is_ascii_whitespace() {
                self.pos += 1;
            } else if self.in_exec_comment && c == b'*' && self.peek(1) == b'/' {
                self.in_exec_comment = false;
                self.pos += 2;
            } else if self.mysql() && c == b'/' && self.peek(1) == b'*' && self.exec_comment_marker() > 0 {
                self.pos += self.exec_comment_marker();
                while self.peek(0).is_ascii_digit() {
                    self.pos += 1;
                }
                self.in_exec_comment = true;
            } else {
                return self.pos < self.src.len();
            }
        }
    }

    /// Length of `/*!` or `/*M!` at the cursor, 0 when neither.
    fn exec_comment_marker(&self) -> usize {
        match (self.peek(2), self.peek(3)) {
            (b'!', _) => 3,
            (b'M', b'!') => 4,
            _ => 0,
        }
    }

    fn line_comment(&mut self) -> Tok {
        while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
            self.pos += 1;
        }
        Tok::Comment
    }

    fn block_comment(&mut self) -> Tok {
        self.pos += 2;
        let mut depth = 1usize;
        while self.pos < self.src.len() {
            if self.peek(0) == b'*' && self.peek(1) == b'/' {
                self.pos += 2;
                depth -= 1;
                if depth == 0 {
                    break;
                }
            } else if !self.mysql() && self.peek(0) == b'/' && self.peek(1) == b'*' {
                self.pos += 2;
                depth += 1;
            } else {
                self.pos += 1;
            }
        }
        Tok::Comment
    }

    /// A quoted run closed by `q`; a doubled `q` is an escape, and so is a backslash when `backslash`.
    fn quoted(&mut self, q: u8, backslash: bool) {
        self.pos += 1;
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            if backslash && c == b'\\' {
                self.pos += 2;
            } else if c == q {
                if self.peek(1) == q {
                    self.pos += 2;
                } else {
                    self.pos += 1;
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
        self.pos = self.src.len();
    }

    /// At a `$`: a dollar-quoted string, a `$n` placeholder, or a lone `$`.
    fn dollar(&mut self) -> Tok {
        if self.peek(1).is_ascii_digit() {
            self.pos += 1;
            while self.peek(0).is_ascii_digit() {
                self.pos += 1;
            }
            return Tok::Param;
        }
        let mut end = self.pos + 1;
        while end < self.src.len() && is_ident_byte(self.src[end]) && self.src[end] != b'$' {
            end += 1;
        }
        let starts_ok = end == self.pos + 1 || !self.src[self.pos + 1].is_ascii_digit();
        if end >= self.src.len() || self.src[end] != b'$' || !starts_ok {
            self.pos += 1;
            return Tok::Punct;
        }
        let tag = &self.src[self.pos..=end];
        let body = end + 1;
        self.pos = match find(&self.src[body..], tag) {
            Some(i) => body + i + tag.len(),
            None => self.src.len(),
        };
        Tok::Str
    }

    fn number(&mut self) -> Tok {
        let c = self.peek(0);
        if c == b'0' && matches!(self.peek(1), b'x' | b'X' | b'b' | b'B' | b'o' | b'O') && is_ident_byte(self.peek(2)) {
            self.pos += 2;
            while is_ident_byte(self.peek(0)) {
                self.pos += 1;
            }
            return Tok::Number;
        }
        while self.peek(0).is_ascii_digit() || self.peek(0) == b'_' {
            self.pos += 1;
        }
        if self.peek(0) == b'.' && self.peek(1) != b'.' {
            self.pos += 1;
            while self.peek(0).is_ascii_digit() || self.peek(0) == b'_' {
                self.pos += 1;
            }
        }
        let e = self.peek(0);
        let sign = matches!(self.peek(1), b'+' | b'-');
        let digit_at = if sign { 2 } else { 1 };
        if (e == b'e' || e == b'E') && self.peek(digit_at).is_ascii_digit() {
            self.pos += digit_at;
            while self.peek(0).is_ascii_digit() {
                self.pos += 1;
            }
        }
        if is_ident_start(self.peek(0)) {
            // MySQL allows identifiers such as `1abc`: the whole run is a word.
            while is_ident_byte(self.peek(0)) {
                self.pos += 1;
            }
            return Tok::Word;
        }
        Tok::Number
    }

    /// A word, or a prefixed string (`E'..'`, `x'..'`, `N'..'`, `_utf8mb4'..'`, `U&'..'`).
    fn word(&mut self) -> Tok {
        let start = self.pos;
        while is_ident_byte(self.peek(0)) {
            self.pos += 1;
        }
        let w = &self.src[start..self.pos];
        let next = self.peek(0);
        if next == b'\'' {
            let escapes = self.mysql() || w.eq_ignore_ascii_case(b"e");
            let prefix = w.len() == 1 && b"eEnNxXbB".contains(&w[0]) || self.mysql() && w.first() == Some(&b'_');
            if prefix {
                self.quoted(b'\'', escapes);
                return Tok::Str;
            }
        }
        if !self.mysql() && w.eq_ignore_ascii_case(b"u") && next == b'&' && matches!(self.peek(1), b'\'' | b'"') {
            self.pos += 1;
            let q = self.peek(0);
            self.quoted(q, false);
            return if q == b'\'' { Tok::Str } else { Tok::QuotedIdent };
        }
        Tok::Word
    }

    /// MySQL `@x`, `@@x`, `@@session.x`, `@'x'`, `` @`x` ``.
    fn variable(&mut self) -> Tok {
        self.pos += 1;
        if self.peek(0) == b'@' {
            self.pos += 1;
        }
        match self.peek(0) {
            q @ (b'\'' | b'"' | b'`') => self.quoted(q, q != b'`'),
            _ => {
                while is_ident_byte(self.peek(0)) || self.peek(0) == b'.' {
                    self.pos += 1;
                }
            }
        }
        Tok::Variable
    }

    /// A run of operator characters, PostgreSQL style: a multi-character run does not end in `+`/`-` unless
    /// it contains one of `~ ! @ # % ^ & | ` ?`, so `=-1` is `=` then `-1`.
    fn operator(&mut self) -> Tok {
        let start = self.pos;
        while is_op_byte(self.peek(0), self.dialect) {
            if self.pos > start && self.starts_comment() {
                break;
            }
            self.pos += 1;
        }
        let run = &self.src[start..self.pos];
        if run.len() > 1 && !run.iter().any(|c| b"~!@#%^&|`?".contains(c)) {
            while self.pos - start > 1 && matches!(self.src[self.pos - 1], b'+' | b'-') {
                self.pos -= 1;
            }
        }
        Tok::Op
    }

    /// True when a comment starts at the cursor.
    fn starts_comment(&self) -> bool {
        let (c, n) = (self.peek(0), self.peek(1));
        if c == b'/' && n == b'*' {
            return true;
        }
        if c == b'-' && n == b'-' {
            return !self.mysql() || self.peek(2) <= b' ';
        }
        c == b'#' && self.mysql()
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if !self.skip_space() {
            return None;
        }
        let start = self.pos;
        let c = self.peek(0);
        let kind = if self.starts_comment() {
            if c == b'/' { self.block_comment() } else { self.line_comment() }
        } else {
            match c {
                b'\'' => {
                    self.quoted(b'\'', self.mysql());
                    Tok::Str
                }
                b'"' if self.mysql() => {
                    self.quoted(b'"', true);
                    Tok::Str
                }
                b'"' => {
                    self.quoted(b'"', false);
                    Tok::QuotedIdent
                }
                b'`' if self.mysql() => {
                    self.quoted(b'`', false);
                    Tok::QuotedIdent
                }
                b'$' if !self.mysql() => self.dollar(),
                b'?' if self.mysql() => {
                    self.pos += 1;
                    Tok::Param
                }
                b'@' if self.mysql() => self.variable(),
                b'0'..=b'9' => self.number(),
                b'.' if self.peek(1).is_ascii_digit() => self.number(),
                _ if is_ident_start(c) => self.word(),
                _ if is_op_byte(c, self.dialect) => self.operator(),
                _ => {
                    // One punctuation byte, or one whole UTF-8 sequence of something unexpected.
                    self.pos += 1;
                    while self.pos < self.src.len() && (self.src[self.pos] & 0xC0) == 0x80 {
                        self.pos += 1;
                    }
                    Tok::Punct
                }
            }
        };
        let end = self.pos.min(self.src.len());
        self.pos = end;
        Some(Token { kind, start, end })
    }
}

/// First byte of an identifier (ASCII letter, `_`, or any non-ASCII byte).
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// Continuation byte of an identifier.
fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_op_byte(c: u8, dialect: Dialect) -> bool {
    match c {
        b'+' | b'-' | b'*' | b'/' | b'<' | b'>' | b'=' | b'~' | b'!' | b'%' | b'^' | b'&' | b'|' | b':' => true,
        b'@' | b'#' | b'?' => dialect == Dialect::Postgres,
        _ => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The tokens of `src`, without comments.
pub(crate) fn code_tokens(dialect: Dialect, src: &str) -> Vec<Token> {
    Lexer::new(dialect, src).filter(|t| t.kind != Tok::Comment).collect()
}
