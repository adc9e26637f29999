//! Routing: (classification, session state, rules) -> [`Target`] pool. Pure functions, no IO.
//!
//! Consulted only when a client has no backend attached (between transactions in transaction pooling).
//! Inside a transaction everything goes to the backend already held; that is the session's business.
//! Picking a server within the pool, replica health and lag are the pool's business, not this module's.

use crate::classify::{Classification, Hint, TxnEffect};
pub use crate::config::Role as Target;

#[cfg(test)]
mod tests;

/// What the router needs to know about the client at the moment a statement arrives.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionView {
    /// The client is inside a read-write transaction (or autocommit is off, MySQL).
    pub in_transaction: bool,
    /// The client wrote within the read-your-writes window.
    pub recent_write: bool,
    /// The user's configured default pool, if any.
    pub default_route: Option<Target>,
}

/// The rules from `[routing]`, prepared for fast checks.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Split reads to replicas at all.
    pub read_write_split: bool,
    /// Tables whose statements go to analytics (lower-cased).
    pub analytics_tables: Vec<String>,
    /// Reads with at least this many joins go to analytics (0 = off).
    pub analytics_min_joins: usize,
    /// GROUP BY / window over analytics tables goes to analytics.
    pub analytics_aggregates: bool,
}

impl Rules {
    /// The rules for a `[routing]` section (table names lower-cased once, here).
    pub fn from_config(r: &crate::config::Routing) -> Rules {
        Rules {
            read_write_split: r.read_write_split,
            analytics_tables: r.analytics_tables.iter().map(|t| t.to_ascii_lowercase()).collect(),
            analytics_min_joins: r.analytics_min_joins,
            analytics_aggregates: r.analytics_aggregates,
        }
    }
}

/// Picks the pool for a statement. First match wins:
///
/// 1. hint `write` -> Write;
/// 2. anything not read-only (writes, locking reads, side-effect calls, DDL, SET, BEGIN, COPY, unknown) ->
///    Write: no hint or rule can send a write to a replica;
/// 3. inside a read-write transaction -> Write (it must see its own uncommitted writes);
/// 4. `read_write_split = false` -> Write (the switch turns every kind of splitting off, hints included);
/// 5. hint `read` / `analytics` -> that pool (an explicit request beats read-your-writes and the rules below);
/// 6. a write within the read-your-writes window -> Write;
/// 7. `BEGIN READ ONLY` -> the user's default pool, else Read;
/// 8. analytics rules -> Analytics: at least `analytics_min_joins` joins (when that is > 0), or a read over an
///    `analytics_tables` table (when `analytics_aggregates` is set, only if it groups, aggregates or windows);
/// 9. the user's default pool, if any;
/// 10. Read.
pub fn route(c: &Classification, s: &SessionView, rules: &Rules) -> Target {
    if c.hint == Some(Hint::Write) || !c.read_only || s.in_transaction || !rules.read_write_split {
        return Target::Write;
    }
    match c.hint {
        Some(Hint::Read) => return Target::Read,
        Some(Hint::Analytics) => return Target::Analytics,
        Some(Hint::Write) | None => {}
    }
    if s.recent_write {
        return Target::Write;
    }
    if c.txn == TxnEffect::BeginReadOnly {
        return s.default_route.unwrap_or(Target::Read);
    }
    if is_analytics(c, rules) {
        return Target::Analytics;
    }
    s.default_route.unwrap_or(Target::Read)
}

/// The analytics rules of step 8 of [`route`].
fn is_analytics(c: &Classification, rules: &Rules) -> bool {
    if rules.analytics_min_joins > 0 && usize::from(c.joins) >= rules.analytics_min_joins {
        return true;
    }
    let touches = c.tables.iter().any(|t| rules.analytics_tables.iter().any(|a| table_matches(t, a)));
    touches && (!rules.analytics_aggregates || c.aggregates)
}

/// `table` (as classified, maybe `schema.name`) is the configured `rule` name: equal, or equal after the
/// schema when the rule names no schema.
fn table_matches(table: &str, rule: &str) -> bool {
    if table == rule {
        return true;
    }
    !rule.contains('.') && table.rsplit_once('.').is_some_and(|(_, name)| name == rule)
}
