//! Column references in the expressions EXPLAIN prints: PostgreSQL `Filter` / `Hash Cond` / `Sort Key` text
//! (`((email)::text = 'x'::text)`, `(o.user_id = u.id)`) and MariaDB `attached_condition` / `sort_key` text
//! (``u.`status` = 1``, `lcase(users.email) = 'x'`).
//!
//! These are deparsed expressions, not SQL a parser accepts (MariaDB's `<cache>(..)` markers, PostgreSQL's
//! `SubPlan 1`), so this works on tokens from the shared lexer: a word is a column unless it is a keyword, a
//! function name (followed by `(`), a type after `::` / `AS`, a unit after a number (`interval 1 day`) or a
//! MariaDB `<marker>`. Deliberately not here: any understanding of operators beyond "is this an equality".

use crate::classify::Dialect;
use crate::classify::lex::{Tok, Token, code_tokens};

/// One column mentioned in an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ColumnRef {
    /// The alias or table written before the column (`u` in `u.email`), lower-cased; `None` when bare.
    pub qualifier: Option<String>,
    /// The column name: lower-cased when written bare, as written when quoted.
    pub name: String,
    /// The innermost function the column is an argument of (`lower` in `lower((email)::text)`), lower-cased.
    pub function: Option<String>,
    /// Compared with `=` (directly, not inside a function call of its own).
    pub equality: bool,
    /// Not an operand of arithmetic or concatenation (`id % 5`), so an index on it (or on its function) can
    /// serve the comparison.
    pub sargable: bool,
}

impl ColumnRef {
    /// True when the column belongs to the relation known as `alias` or `table`, or is unqualified.
    pub fn belongs_to(&self, alias: &str, table: &str) -> bool {
        match &self.qualifier {
            None => true,
            Some(q) => q.eq_ignore_ascii_case(alias) || q.eq_ignore_ascii_case(table),
        }
    }
}

/// Words that are never columns in deparsed expressions.
const KEYWORDS: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "between",
    "binary",
    "both",
    "case",
    "collate",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "desc",
    "distinct",
    "div",
    "else",
    "end",
    "escape",
    "exists",
    "false",
    "first",
    "from",
    "hashed",
    "ilike",
    "in",
    "initplan",
    "interval",
    "is",
    "last",
    "leading",
    "like",
    "localtime",
    "localtimestamp",
    "mod",
    "not",
    "null",
    "nulls",
    "or",
    "regexp",
    "rlike",
    "session_user",
    "similar",
    "some",
    "subplan",
    "then",
    "to",
    "trailing",
    "true",
    "unknown",
    "using",
    "when",
    "xor",
];

/// Words that continue a type name after `::` (`character varying`, `timestamp with time zone`).
const TYPE_WORDS: &[&str] = &["varying", "precision", "with", "without", "time", "zone"];

/// The column references in `expr`, in order of appearance, duplicates kept.
pub(super) fn columns(dialect: Dialect, expr: &str) -> Vec<ColumnRef> {
    let toks = code_tokens(dialect, expr);
    let is = |i: usize, p: &str| toks.get(i).is_some_and(|t| t.is_punct(expr, p));
    let is_name = |i: usize| toks.get(i).is_some_and(|t| matches!(t.kind, Tok::Word | Tok::QuotedIdent));
    let mut out = Vec::new();
    // One entry per open parenthesis: the function it calls, if any.
    let mut parens: Vec<Option<String>> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let tok = toks[i];
        match tok.kind {
            Tok::Punct if is(i, "(") => {
                parens.push(None);
                i += 1;
                continue;
            }
            Tok::Punct if is(i, ")") => {
                parens.pop();
                i += 1;
                continue;
            }
            Tok::Word | Tok::QuotedIdent => {}
            _ => {
                i += 1;
                continue;
            }
        }
        // A dotted name: parts joined by `.`.
        let start = i;
        let mut parts = vec![ident(tok, expr)];
        while is(i + 1, ".") && is_name(i + 2) {
            parts.push(ident(toks[i + 2], expr));
            i += 2;
        }
        let next = i + 1;
        let bare_word = tok.kind == Tok::Word && parts.len() == 1;
        let prev_kind = start.checked_sub(1).and_then(|p| toks.get(p)).map(|t| t.kind);
        let keyword = bare_word && KEYWORDS.contains(&parts[0].to_ascii_lowercase().as_str());
        if is(next, "(") && !keyword {
            // A function call: its name opens the next parenthesis.
            parens.push(Some(parts.join(".").to_ascii_lowercase()));
            i = next + 1;
            continue;
        }
        let after_cast = start > 0 && is(start - 1, "::");
        let marker = start > 0 && is(start - 1, "<") && is(next, ">");
        let unit = bare_word && prev_kind == Some(Tok::Number);
        if after_cast || marker || unit {
            i = skip_type_words(&toks, expr, next);
            continue;
        }
        if keyword {
            let word = parts[0].to_ascii_lowercase();
            // `AS <type>` (CAST), `COLLATE <name>`, `USING <charset>`: the words after are not columns.
            i = if matches!(word.as_str(), "as" | "collate" | "using") { skip_words(&toks, next) } else { next };
            continue;
        }
        let name = parts.pop().expect("a dotted name has at least one part");
        let qualifier = parts.pop().map(|q| q.to_ascii_lowercase());
        let function = parens.iter().rev().find_map(|f| f.clone());
        let (before, after) = (neighbour(&toks, expr, start, true), neighbour(&toks, expr, i, false));
        let tok_at = |at: Option<usize>| at.and_then(|at| toks.get(at).copied());
        let is_eq = |t: Option<Token>| t.is_some_and(|t| t.is_punct(expr, "=") || t.is_punct(expr, "<=>"));
        let equality = function.is_none() && (is_eq(tok_at(before)) || is_eq(tok_at(after)));
        let sargable = !arithmetic(tok_at(before), expr)
            && !arithmetic(tok_at(after), expr)
            && !after.is_some_and(|at| leading_wildcard(&toks, expr, at));
        out.push(ColumnRef { qualifier, name, function, equality, sargable });
        i = next;
    }
    out
}

/// The columns of `expr` that belong to the relation `alias` / `table`, deduplicated, equality columns first
/// (the order an index should have them in).
pub(super) fn columns_of(dialect: Dialect, expr: &str, alias: &str, table: &str) -> Vec<ColumnRef> {
    let mut found: Vec<ColumnRef> = Vec::new();
    for col in columns(dialect, expr).into_iter().filter(|c| c.belongs_to(alias, table)) {
        match found.iter_mut().find(|f| f.name == col.name) {
            Some(f) => {
                f.equality |= col.equality;
                if f.function.is_none() {
                    f.function = col.function;
                }
            }
            None => found.push(col),
        }
    }
    found.sort_by_key(|c| !c.equality);
    found
}

/// The name of an identifier token: bare words lower-cased, quotes removed from quoted ones.
fn ident(tok: Token, src: &str) -> String {
    let text = tok.text(src);
    if tok.kind == Tok::QuotedIdent && text.len() >= 2 {
        let q = &text[..1];
        text[1..text.len() - 1].replace(&format!("{q}{q}"), q)
    } else {
        text.to_ascii_lowercase()
    }
}

/// Skips the words of a multi-word type name starting at `i` (`varying`, `with time zone`) and a trailing `[]`.
fn skip_type_words(toks: &[Token], src: &str, mut i: usize) -> usize {
    while let Some(t) = toks.get(i) {
        let type_word = t.kind == Tok::Word && TYPE_WORDS.iter().any(|w| t.is_word(src, w));
        if !(type_word || t.is_punct(src, "[") || t.is_punct(src, "]")) {
            break;
        }
        i += 1;
    }
    i
}

/// Skips consecutive words starting at `i`.
fn skip_words(toks: &[Token], mut i: usize) -> usize {
    while toks.get(i).is_some_and(|t| t.kind == Tok::Word) {
        i += 1;
    }
    i
}

/// The index of the token next to the name at `at` (before it when `before`, else after it), looking past
/// parentheses that only wrap it and `::type` casts.
fn neighbour(toks: &[Token], src: &str, at: usize, before: bool) -> Option<usize> {
    let mut i = at;
    loop {
        if before {
            i = i.checked_sub(1)?;
            if toks[i].is_punct(src, "(") {
                continue;
            }
        } else {
            i += 1;
            let t = toks.get(i)?;
            if t.is_punct(src, ")") {
                continue;
            }
            if t.is_punct(src, "::") {
                i = skip_type_words(toks, src, i + 2) - 1;
                continue;
            }
        }
        return (i < toks.len()).then_some(i);
    }
}

/// True when the token at `op` is LIKE / ILIKE / `~~` / `~~*` and the pattern after it is a string literal
/// starting with a wildcard (`'%x'`, `'_x'`, MariaDB `_utf8mb4'%x'`, PostgreSQL `'%x'::text`).
fn leading_wildcard(toks: &[Token], src: &str, op: usize) -> bool {
    let t = toks[op];
    let like = t.is_word(src, "like") || t.is_word(src, "ilike") || t.is_punct(src, "~~") || t.is_punct(src, "~~*");
    let Some(pattern) = toks.get(op + 1).filter(|p| p.kind == Tok::Str) else { return false };
    let text = pattern.text(src);
    let body = text.find('\'').map_or("", |q| &text[q + 1..]);
    like && (body.starts_with('%') || body.starts_with('_'))
}

/// True for an arithmetic, bitwise or concatenation operator (`+`, `%`, `||`, `MOD`, `DIV` ...).
fn arithmetic(tok: Option<Token>, src: &str) -> bool {
    let Some(tok) = tok else { return false };
    match tok.kind {
        Tok::Op => matches!(tok.text(src), "+" | "-" | "*" | "/" | "%" | "||" | "&" | "|" | "^" | "<<" | ">>" | "#"),
        Tok::Word => tok.is_word(src, "mod") || tok.is_word(src, "div"),
        _ => false,
    }
}
