//! Routing: (classification, session state, rules) -> [`Target`] pool. Pure functions, no IO.
//!
//! Consulted only when a client has no backend attached (between transactions in transaction pooling).
//! Inside a transaction everything goes to the backend already held; that is the session's business.

use crate::classify::Classification;
pub use crate::config::Role as Target;

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

/// Picks the pool for a statement.
pub fn route(c: &Classification, s: &SessionView, rules: &Rules) -> Target {
    let _ = (c, s, rules);
    Target::Write
}
