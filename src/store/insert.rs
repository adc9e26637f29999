//! How records become SQL: the column list of each history table, the parameters of each record in that order,
//! and multi-row `INSERT` text that both backends accept (`$N` placeholders work on SQLite too).
//!
//! Deliberately not here: connections and transactions (`store::Store::insert` owns them).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Postgres;
use sqlx::Sqlite;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::types::Json;

use super::records::Record;

/// A history table: its name, the column that dates a row, and the columns an insert fills (everything but `id`).
#[derive(Debug)]
pub(super) struct Table {
    /// The table's name.
    pub name: &'static str,
    /// The column retention and the reads order by.
    pub time: &'static str,
    /// Columns in the order [`Record::params`] yields values.
    pub columns: &'static [&'static str],
}

/// `database_performance_metrics`.
pub(super) const METRICS: Table = Table {
    name: "database_performance_metrics",
    time: "recorded_at",
    columns: &[
        "recorded_at",
        "engine",
        "connection_usage_pct",
        "avg_query_time_ms",
        "slow_query_pct",
        "total_queries",
        "slow_queries",
        "errors",
        "queries_per_second",
        "active_connections",
        "max_connections",
    ],
};

/// `slow_query_logs`.
pub(super) const SLOW_QUERIES: Table = Table {
    name: "slow_query_logs",
    time: "recorded_at",
    columns: &[
        "recorded_at",
        "engine",
        "digest",
        "query_type",
        "sql",
        "bindings",
        "duration_ms",
        "pool",
        "backend",
        "user_name",
        "database_name",
        "row_count",
        "error",
        "explain",
        "suggestions",
    ],
};

/// `connection_pool_stats`.
pub(super) const POOL_STATS: Table = Table {
    name: "connection_pool_stats",
    time: "recorded_at",
    columns: &[
        "recorded_at",
        "engine",
        "server",
        "role",
        "user_name",
        "database_name",
        "total",
        "idle",
        "active",
        "waiting",
        "max_size",
        "utilisation_pct",
        "checkouts",
        "timeouts",
        "avg_wait_ms",
    ],
};

/// `query_digests`.
pub(super) const DIGESTS: Table = Table {
    name: "query_digests",
    time: "recorded_at",
    columns: &[
        "recorded_at",
        "engine",
        "digest",
        "query_type",
        "normalized",
        "calls",
        "errors",
        "row_count",
        "slow",
        "total_ms",
        "min_ms",
        "max_ms",
        "mean_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "first_seen",
        "last_seen",
    ],
};

/// `maintenance_runs`.
pub(super) const MAINTENANCE: Table = Table {
    name: "maintenance_runs",
    time: "started_at",
    columns: &[
        "started_at",
        "finished_at",
        "engine",
        "server",
        "table_name",
        "action",
        "outcome",
        "duration_ms",
        "detail",
    ],
};

/// `job_runs`.
pub(super) const JOB_RUNS: Table = Table {
    name: "job_runs",
    time: "started_at",
    columns: &["job", "scheduled_for", "started_at", "finished_at", "outcome", "detail"],
};

/// Every table a [`Record`] can go to, indexed by [`Record::slot`].
pub(super) const TABLES: [&Table; 6] = [&METRICS, &SLOW_QUERIES, &POOL_STATS, &DIGESTS, &MAINTENANCE, &JOB_RUNS];

/// Most parameters in one statement: under SQLite's historical limit of 999.
const MAX_PARAMS: usize = 900;

/// One value to bind, borrowed from a record; each backend decides its column type.
#[derive(Debug, Clone, Copy)]
pub(super) enum Param<'a> {
    /// TEXT.
    Text(&'a str),
    /// Nullable TEXT.
    OptText(Option<&'a str>),
    /// BIGINT / INTEGER.
    Int(i64),
    /// DOUBLE PRECISION / REAL.
    Real(f64),
    /// TIMESTAMPTZ / TEXT in [`sqlite_time`] form.
    Time(DateTime<Utc>),
    /// JSONB / TEXT.
    Json(&'a Value),
    /// Nullable JSONB / TEXT.
    OptJson(Option<&'a Value>),
}

impl Record {
    /// Index of this record's table in [`TABLES`].
    pub(super) fn slot(&self) -> usize {
        match self {
            Record::Metrics(_) => 0,
            Record::SlowQuery(_) => 1,
            Record::PoolStats(_) => 2,
            Record::Digest(_) => 3,
            Record::Maintenance(_) => 4,
            Record::JobRun(_) => 5,
        }
    }

    /// The values of this record in the order of its table's `columns`.
    pub(super) fn params(&self) -> Vec<Param<'_>> {
        use Param::{Int, Json, OptJson, OptText, Real, Text, Time};
        match self {
            Record::Metrics(r) => vec![
                Time(r.recorded_at),
                Text(&r.engine),
                Real(r.connection_usage_pct),
                Real(r.avg_query_time_ms),
                Real(r.slow_query_pct),
                Int(r.total_queries),
                Int(r.slow_queries),
                Int(r.errors),
                Real(r.queries_per_second),
                Int(r.active_connections),
                Int(r.max_connections),
            ],
            Record::SlowQuery(r) => vec![
                Time(r.recorded_at),
                Text(&r.engine),
                Text(&r.digest),
                Text(&r.query_type),
                Text(&r.sql),
                Json(&r.bindings),
                Real(r.duration_ms),
                Text(&r.pool),
                Text(&r.backend),
                Text(&r.user),
                Text(&r.database),
                Int(r.rows),
                OptText(r.error.as_deref()),
                OptJson(r.explain.as_ref()),
                Json(&r.suggestions),
            ],
            Record::PoolStats(r) => vec![
                Time(r.recorded_at),
                Text(&r.engine),
                Text(&r.server),
                Text(&r.role),
                Text(&r.user),
                Text(&r.database),
                Int(r.total),
                Int(r.idle),
                Int(r.active),
                Int(r.waiting),
                Int(r.max),
                Real(r.utilisation_pct),
                Int(r.checkouts),
                Int(r.timeouts),
                Real(r.avg_wait_ms),
            ],
            Record::Digest(r) => vec![
                Time(r.recorded_at),
                Text(&r.engine),
                Text(&r.digest),
                Text(&r.query_type),
                Text(&r.normalized),
                Int(r.calls),
                Int(r.errors),
                Int(r.rows),
                Int(r.slow),
                Real(r.total_ms),
                Real(r.min_ms),
                Real(r.max_ms),
                Real(r.mean_ms),
                Real(r.p50_ms),
                Real(r.p95_ms),
                Real(r.p99_ms),
                Real(r.p999_ms),
                Time(r.first_seen),
                Time(r.last_seen),
            ],
            Record::Maintenance(r) => vec![
                Time(r.started_at),
                Time(r.finished_at),
                Text(&r.engine),
                Text(&r.server),
                Text(&r.table_name),
                Text(&r.action),
                Text(&r.outcome),
                Real(r.duration_ms),
                OptText(r.detail.as_deref()),
            ],
            Record::JobRun(r) => vec![
                Text(&r.job),
                Time(r.scheduled_for),
                Time(r.started_at),
                Time(r.finished_at),
                Text(&r.outcome),
                OptText(r.detail.as_deref()),
            ],
        }
    }
}

/// Splits a batch into statements: records grouped by table (order kept within a table), at most
/// [`MAX_PARAMS`] parameters per statement. Yields `(table, rows)`.
pub(super) fn statements(records: &[Record]) -> Vec<(&'static Table, Vec<&Record>)> {
    let mut by_table: [Vec<&Record>; TABLES.len()] = Default::default();
    for record in records {
        by_table[record.slot()].push(record);
    }
    let mut out = Vec::new();
    for (table, rows) in TABLES.iter().zip(by_table) {
        let per_statement = (MAX_PARAMS / table.columns.len()).max(1);
        for chunk in rows.chunks(per_statement) {
            out.push((*table, chunk.to_vec()));
        }
    }
    out
}

/// `INSERT INTO <table> (<columns>) VALUES ($1, ...), ...` for `rows` rows.
pub(super) fn insert_sql(table: &Table, rows: usize) -> String {
    let width = table.columns.len();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", table.name, table.columns.join(", "));
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * width + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// `SELECT <columns> FROM <table>`, for reads that map rows back with `FromRow`.
pub(super) fn select_sql(table: &Table) -> String {
    format!("SELECT {} FROM {}", table.columns.join(", "), table.name)
}

/// A timestamp as the SQLite schema stores it: RFC 3339 in UTC with exactly six fractional digits, so that text
/// order is time order and the precision matches PostgreSQL's.
pub(super) fn sqlite_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Binding a [`Param`] the way one backend stores it.
pub(super) trait BindParam<'q> {
    /// Appends `param` as the next bind value.
    fn bind_param(self, param: Param<'q>) -> Self;
}

impl<'q> BindParam<'q> for Query<'q, Sqlite, SqliteArguments<'q>> {
    fn bind_param(self, param: Param<'q>) -> Self {
        match param {
            Param::Text(v) => self.bind(v),
            Param::OptText(v) => self.bind(v),
            Param::Int(v) => self.bind(v),
            Param::Real(v) => self.bind(v),
            Param::Time(v) => self.bind(sqlite_time(v)),
            Param::Json(v) => self.bind(v.to_string()),
            Param::OptJson(v) => self.bind(v.map(Value::to_string)),
        }
    }
}

impl<'q> BindParam<'q> for Query<'q, Postgres, PgArguments> {
    fn bind_param(self, param: Param<'q>) -> Self {
        match param {
            Param::Text(v) => self.bind(v),
            Param::OptText(v) => self.bind(v),
            Param::Int(v) => self.bind(v),
            Param::Real(v) => self.bind(v),
            Param::Time(v) => self.bind(v),
            Param::Json(v) => self.bind(Json(v)),
            Param::OptJson(v) => self.bind(v.map(Json)),
        }
    }
}
