//! Routing hints written in a leading comment: `/* switchyard: route=write */`, `-- switchyard: route=read`,
//! `/* switchyard:analytics */`. Only comments before the first code token count (a hint inside a string or
//! after the statement is ignored); the first comment that is a hint wins. Case and spaces do not matter.
//! Whether a hint is obeyed is the router's decision, not this module's.

use super::lex::{Lexer, Tok};
use super::{Dialect, Hint};

/// The hint in `sql`'s leading comments, if any.
pub(crate) fn leading_hint(dialect: Dialect, sql: &str) -> Option<Hint> {
    Lexer::new(dialect, sql).take_while(|t| t.kind == Tok::Comment).find_map(|t| parse(t.text(sql)))
}

/// Parses one comment's text (markers included).
fn parse(comment: &str) -> Option<Hint> {
    let body = if let Some(b) = comment.strip_prefix("/*") {
        b.strip_suffix("*/").unwrap_or(b)
    } else {
        comment.trim_start_matches(['-', '#'])
    };
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let rest = compact.strip_prefix("switchyard:")?;
    let value = rest.strip_prefix("route=").unwrap_or(rest);
    match value.trim_end_matches([';', ',']) {
        "write" | "primary" => Some(Hint::Write),
        "read" | "replica" => Some(Hint::Read),
        "analytics" => Some(Hint::Analytics),
        _ => None,
    }
}
