//! Slow-query advice: turns an EXPLAIN plan, the catalog statistics of the tables it reads and the statement
//! text into concrete suggestions that name tables and columns ("index on users(email)", "ANALYZE orders").
//!
//! Three sources, combined by [`advise`] without duplicates: a PostgreSQL `EXPLAIN (FORMAT JSON)` plan
//! ([`from_postgres_plan`]), a MariaDB/MySQL `EXPLAIN FORMAT=JSON` plan ([`from_mysql_plan`]) and the SQL text
//! ([`from_text`]); plus [`n_plus_one`], which the monitor calls when one client runs one digest many times a
//! second. "Large" means a table's row estimate is at least [`Limits::large_table_rows`].
//!
//! Pure: no IO, no clock, no globals, so every rule is table-tested against plans captured from real servers
//! (`testdata/`). Deliberately not here: running EXPLAIN or reading catalogs ([`super::explain`]), deciding
//! when a statement deserves advice (the monitor's thresholds and rate limits), or executing any suggestion.

mod expr;
mod mysql;
mod postgres;
#[cfg(test)]
mod tests;
mod text;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::explain::{Engine, Explained, TableStats};
use crate::classify::Dialect;

/// Which rule produced a suggestion. Serialised as the lower-case [`Rule::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A sequential / full table scan applying a filter to a large table: index the filter columns.
    FullScan,
    /// A sort (PostgreSQL Sort, MariaDB filesort) over a large input: index the sort key.
    Sort,
    /// A temporary table over a large input (GROUP BY / DISTINCT on unindexed columns).
    TemporaryTable,
    /// A join that scans a large table for every probe or builds a join buffer: index the join column.
    UnindexedJoin,
    /// The planner's row estimate is far from the rows the statement returned: refresh statistics.
    RowMisestimate,
    /// A table the statement reads has never been analysed.
    NeverAnalyzed,
    /// `SELECT *`.
    SelectStar,
    /// A read that can return a whole large table: no LIMIT.
    NoLimit,
    /// `LIKE '%...'`: a leading wildcard defeats a b-tree index.
    LeadingWildcard,
    /// A function or cast wrapped around a filtered column (`lower(email) = ..`) hides it from its index.
    FunctionOnColumn,
    /// `a = .. OR b = ..` across different columns.
    OrAcrossColumns,
    /// One client runs the same statement many times a second (N+1 queries).
    NPlusOne,
}

impl Rule {
    /// Stable lower-case name, as serialised: `full_scan`, `sort`, `temporary_table`, `unindexed_join`,
    /// `row_misestimate`, `never_analyzed`, `select_star`, `no_limit`, `leading_wildcard`, `function_on_column`,
    /// `or_across_columns`, `n_plus_one`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::FullScan => "full_scan",
            Rule::Sort => "sort",
            Rule::TemporaryTable => "temporary_table",
            Rule::UnindexedJoin => "unindexed_join",
            Rule::RowMisestimate => "row_misestimate",
            Rule::NeverAnalyzed => "never_analyzed",
            Rule::SelectStar => "select_star",
            Rule::NoLimit => "no_limit",
            Rule::LeadingWildcard => "leading_wildcard",
            Rule::FunctionOnColumn => "function_on_column",
            Rule::OrAcrossColumns => "or_across_columns",
            Rule::NPlusOne => "n_plus_one",
        }
    }
}

/// How much a suggestion matters. Ordered: `Info < Warning < Critical`. Serialised lower-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; rarely the cause of a slow query by itself.
    Info,
    /// Likely part of why the statement is slow.
    Warning,
    /// Very likely the cause, on a very large table (at least 100 × [`Limits::large_table_rows`] rows).
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One piece of advice about one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The rule that fired.
    pub rule: Rule,
    /// How much it matters.
    pub severity: Severity,
    /// The table it is about (the real table name, never an alias), when there is one.
    pub table: Option<String>,
    /// The columns it is about (index columns in order, the filtered or sorted columns), possibly empty.
    pub columns: Vec<String>,
    /// One or two sentences for an operator, with the DDL or command to run where there is one.
    pub message: String,
}

/// The thresholds the rules use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A table with at least this many rows (catalog estimate) is large. Default 10 000.
    pub large_table_rows: u64,
    /// Estimated and actual rows differing by at least this factor are a mis-estimate. Default 10.
    pub misestimate_factor: u64,
    /// ... and by at least this many rows. Default 1 000.
    pub misestimate_min_rows: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { large_table_rows: 10_000, misestimate_factor: 10, misestimate_min_rows: 1_000 }
    }
}

/// Suggestions from a PostgreSQL `EXPLAIN (FORMAT JSON)` plan (the whole `[{"Plan": ..}]` array, or one
/// `{"Plan": ..}` object). `stats` are the catalog statistics of the plan's tables (see
/// [`super::explain::explain`]); `actual_rows` is how many rows the statement really returned or changed, when
/// known, compared with the top node's estimate.
pub fn from_postgres_plan(
    limits: &Limits,
    plan: &Value,
    stats: &[TableStats],
    actual_rows: Option<u64>,
) -> Vec<Suggestion> {
    postgres::advise(limits, plan, stats, actual_rows)
}

/// Suggestions from a MariaDB (or MySQL) `EXPLAIN FORMAT=JSON` plan (`{"query_block": ..}`). Plan table names
/// may be aliases; they are resolved through [`TableStats::aliases`]. `actual_rows` is compared with the
/// product of the top-level join's `rows × filtered`, which is only meaningful for a plain SELECT without
/// GROUP BY, aggregates, DISTINCT or LIMIT ([`advise`] checks that before passing it).
pub fn from_mysql_plan(
    limits: &Limits,
    plan: &Value,
    stats: &[TableStats],
    actual_rows: Option<u64>,
) -> Vec<Suggestion> {
    mysql::advise(limits, plan, stats, actual_rows)
}

/// Suggestions from the statement text alone, parsed with `dialect`: `SELECT *`, no LIMIT on an unbounded
/// read, leading-wildcard LIKE, a function on a filtered column, OR across columns. `stats` (possibly empty)
/// say which tables are large. Text sqlparser cannot parse gets no text suggestions.
pub fn from_text(limits: &Limits, sql: &str, dialect: Dialect, stats: &[TableStats]) -> Vec<Suggestion> {
    text::advise(limits, sql, dialect, stats)
}

/// The suggestion for an N+1 pattern: one client runs the statement `normalized_sql` (a digest's text, literals
/// as `?`) `calls_per_second` times a second. `tables` are the tables it reads (the first is named).
pub fn n_plus_one(normalized_sql: &str, calls_per_second: f64, tables: &[String]) -> Suggestion {
    text::n_plus_one(normalized_sql, calls_per_second, tables)
}

/// The `(alias, table)` pairs of the statement's FROM clauses (lower-cased, tables without schema), for
/// resolving the aliases MariaDB plans name tables by. Empty when the text does not parse.
pub fn table_aliases(sql: &str, dialect: Dialect) -> Vec<(String, String)> {
    text::table_aliases(sql, dialect)
}

/// Every suggestion for one statement: from its plan when it was explained (`engine` picks the plan format),
/// and from its text. Duplicates (same rule, table and columns) are dropped; the result is ordered by
/// severity, most severe first, then by source (plan before text).
pub fn advise(
    limits: &Limits,
    engine: Engine,
    explained: Option<&Explained>,
    sql: &str,
    dialect: Dialect,
    actual_rows: Option<u64>,
) -> Vec<Suggestion> {
    let stats = explained.map_or(&[][..], |e| &e.tables[..]);
    let mut all = match (engine, explained) {
        (Engine::Postgres, Some(e)) => from_postgres_plan(limits, &e.plan, stats, actual_rows),
        (Engine::Mysql, Some(e)) => {
            let actual = actual_rows.filter(|_| text::returns_scanned_rows(sql, dialect));
            from_mysql_plan(limits, &e.plan, stats, actual)
        }
        (_, None) => Vec::new(),
    };
    all.extend(from_text(limits, sql, dialect, stats));
    let mut out: Vec<Suggestion> = Vec::with_capacity(all.len());
    for s in all {
        if !out.iter().any(|o| o.rule == s.rule && o.table == s.table && o.columns == s.columns) {
            out.push(s);
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.severity));
    out
}

/// The statistics for `name` (a table name, possibly schema-qualified, or an alias), if any.
fn lookup<'a>(stats: &'a [TableStats], name: &str) -> Option<&'a TableStats> {
    let bare = |n: &str| n.rsplit('.').next().unwrap_or(n).to_ascii_lowercase();
    let want = bare(name);
    stats
        .iter()
        .find(|s| bare(&s.table) == want)
        .or_else(|| stats.iter().find(|s| s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))))
}

/// The severity of a problem on a table of `rows` rows.
fn severity_for(limits: &Limits, rows: u64) -> Severity {
    if rows >= limits.large_table_rows.saturating_mul(100) { Severity::Critical } else { Severity::Warning }
}

/// True when `estimate` and `actual` differ by at least the factor and the row count in `limits`.
fn misestimated(limits: &Limits, estimate: u64, actual: u64) -> bool {
    let (lo, hi) = (estimate.min(actual), estimate.max(actual));
    hi - lo >= limits.misestimate_min_rows && hi >= lo.max(1).saturating_mul(limits.misestimate_factor)
}

/// `name` quoted for `engine` when it is not a plain lower-case identifier.
fn quote(engine: Engine, name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    match engine {
        _ if plain => name.to_string(),
        Engine::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        Engine::Mysql => format!("`{}`", name.replace('`', "``")),
    }
}

/// How to index `table` over `columns` (each optionally wrapped in a function): the DDL to run, or for an
/// expression MariaDB cannot index directly, what to do instead.
fn index_ddl(engine: Engine, table: &str, columns: &[expr::ColumnRef]) -> String {
    let wrapped = |c: &expr::ColumnRef| match &c.function {
        Some(f) => format!("{f}({})", quote(engine, &c.name)),
        None => quote(engine, &c.name),
    };
    let parts: Vec<String> =
        columns.iter().map(|c| if c.function.is_some() { format!("({})", wrapped(c)) } else { wrapped(c) }).collect();
    match engine {
        Engine::Postgres => format!("CREATE INDEX ON {} ({})", quote(engine, table), parts.join(", ")),
        Engine::Mysql if columns.iter().any(|c| c.function.is_some()) => {
            let exprs: Vec<String> = columns.iter().filter(|c| c.function.is_some()).map(wrapped).collect();
            format!(
                "index a virtual column defined AS ({}) on {} (MariaDB cannot index an expression directly), or \
                 compare the bare column",
                exprs.join(", "),
                quote(engine, table)
            )
        }
        Engine::Mysql => format!("ALTER TABLE {} ADD INDEX ({})", quote(engine, table), parts.join(", ")),
    }
}

/// The command that refreshes `table`'s planner statistics.
fn analyze_command(engine: Engine, table: &str) -> String {
    match engine {
        Engine::Postgres => format!("ANALYZE {}", quote(engine, table)),
        // Plain ANALYZE TABLE refreshes only InnoDB's estimates; PERSISTENT FOR ALL also collects the
        // column histograms MariaDB's default `use_stat_tables` uses for condition selectivity.
        Engine::Mysql => format!("ANALYZE TABLE {} PERSISTENT FOR ALL", quote(engine, table)),
    }
}

/// Statistics rules shared by both plan formats: tables never analysed (PostgreSQL), then (for the others) a row
/// mis-estimate of `estimate` against `actual_rows`. `tables` are the real names of the plan's tables.
fn statistics(
    limits: &Limits,
    engine: Engine,
    tables: &[String],
    stats: &[TableStats],
    estimate: Option<u64>,
    actual_rows: Option<u64>,
) -> Vec<Suggestion> {
    let mut out = Vec::new();
    let mut fresh = Vec::new();
    for table in tables {
        match lookup(stats, table) {
            // Only PostgreSQL's catalog reliably says "never": see TableStats::last_analyzed.
            Some(s) if engine == Engine::Postgres && s.last_analyzed.is_none() => out.push(Suggestion {
                rule: Rule::NeverAnalyzed,
                severity: Severity::Warning,
                table: Some(s.table.clone()),
                columns: Vec::new(),
                message: format!(
                    "{} has never been analysed, so the planner guesses its size and value distribution; run {}",
                    s.table,
                    analyze_command(engine, &s.table)
                ),
            }),
            Some(s) => fresh.push(s.table.clone()),
            None => fresh.push(table.clone()),
        }
    }
    let (Some(estimate), Some(actual)) = (estimate, actual_rows) else { return out };
    if !misestimated(limits, estimate, actual) {
        return out;
    }
    let hint = match engine {
        Engine::Postgres => "; if the estimate stays off, the filtered columns may be correlated (CREATE STATISTICS)",
        Engine::Mysql => "",
    };
    for table in fresh {
        out.push(Suggestion {
            rule: Rule::RowMisestimate,
            severity: Severity::Warning,
            columns: Vec::new(),
            message: format!(
                "the planner expected {estimate} rows but the statement returned {actual}: statistics on {table} \
                 look stale; run {}{hint}",
                analyze_command(engine, &table)
            ),
            table: Some(table),
        });
    }
    out
}
