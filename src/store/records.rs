//! The rows of the history store: one plain struct per table, and [`Record`], the one type the writer queues.
//!
//! Field names are the column names except where a column avoids an SQL keyword (`user` is `user_name`,
//! `database` is `database_name`, `rows` is `row_count`, `max` is `max_size`); the `sqlx(rename)` attributes say so.
//! Timestamps are stored with microsecond precision: a value with nanoseconds comes back truncated.
//!
//! Deliberately not here: SQL text. Reads map columns to fields through `sqlx::FromRow`; the insert column lists
//! and their binding live in `store::insert`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A monitor snapshot of one engine (`database_performance_metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MetricsRow {
    /// When the snapshot was taken.
    pub recorded_at: DateTime<Utc>,
    /// `postgres` or `mysql`.
    pub engine: String,
    /// Backend connections in use as a percentage of the configured maximum.
    pub connection_usage_pct: f64,
    /// Mean statement time over the snapshot interval.
    pub avg_query_time_ms: f64,
    /// Slow statements as a percentage of all statements in the interval.
    pub slow_query_pct: f64,
    /// Statements in the interval.
    pub total_queries: i64,
    /// Slow statements in the interval.
    pub slow_queries: i64,
    /// Statements that ended in an error in the interval.
    pub errors: i64,
    /// Statement rate over the interval.
    pub queries_per_second: f64,
    /// Backend connections in use when the snapshot was taken.
    pub active_connections: i64,
    /// The configured maximum of backend connections.
    pub max_connections: i64,
}

/// One slow statement (`slow_query_logs`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SlowQueryRow {
    /// When the statement finished.
    pub recorded_at: DateTime<Utc>,
    /// `postgres` or `mysql`.
    pub engine: String,
    /// The statement's fingerprint: 16 hex digits.
    pub digest: String,
    /// `select`, `insert`, `update`, `delete`, ...
    pub query_type: String,
    /// The statement text as the client sent it.
    pub sql: String,
    /// The bound parameters, a JSON array (empty for a simple query).
    pub bindings: Value,
    /// From the first byte of the statement to the last byte of its reply.
    pub duration_ms: f64,
    /// The pool that served it (`write`, `read`, `analytics`).
    pub pool: String,
    /// The backend server that ran it.
    pub backend: String,
    /// The client's user.
    #[sqlx(rename = "user_name")]
    pub user: String,
    /// The client's database.
    #[sqlx(rename = "database_name")]
    pub database: String,
    /// Rows returned or affected.
    #[sqlx(rename = "row_count")]
    pub rows: i64,
    /// The server's error message, if the statement failed.
    pub error: Option<String>,
    /// The EXPLAIN plan as JSON, if one was taken.
    pub explain: Option<Value>,
    /// Advice for this statement, a JSON array of objects.
    pub suggestions: Value,
}

/// One backend pool at a snapshot (`connection_pool_stats`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PoolStatsRow {
    /// When the snapshot was taken.
    pub recorded_at: DateTime<Utc>,
    /// `postgres` or `mysql`.
    pub engine: String,
    /// The backend server (`host:port`).
    pub server: String,
    /// `primary`, `replica` or `analytics`.
    pub role: String,
    /// The backend user of the pool.
    #[sqlx(rename = "user_name")]
    pub user: String,
    /// The backend database of the pool.
    #[sqlx(rename = "database_name")]
    pub database: String,
    /// Connections open.
    pub total: i64,
    /// Connections open and idle.
    pub idle: i64,
    /// Connections checked out.
    pub active: i64,
    /// Clients waiting for a connection.
    pub waiting: i64,
    /// The pool's maximum size.
    #[sqlx(rename = "max_size")]
    pub max: i64,
    /// `active` as a percentage of `max`.
    pub utilisation_pct: f64,
    /// Checkouts since the previous snapshot.
    pub checkouts: i64,
    /// Checkouts that timed out since the previous snapshot.
    pub timeouts: i64,
    /// Mean wait for a checkout since the previous snapshot.
    pub avg_wait_ms: f64,
}

/// Statistics of one statement digest at a snapshot (`query_digests`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DigestRow {
    /// When the snapshot was taken.
    pub recorded_at: DateTime<Utc>,
    /// `postgres` or `mysql`.
    pub engine: String,
    /// The fingerprint: 16 hex digits.
    pub digest: String,
    /// `select`, `insert`, `update`, `delete`, ...
    pub query_type: String,
    /// The normalised text (literals as `?`, lists collapsed, comments stripped).
    pub normalized: String,
    /// Executions.
    pub calls: i64,
    /// Executions that ended in an error.
    pub errors: i64,
    /// Rows returned or affected, summed.
    #[sqlx(rename = "row_count")]
    pub rows: i64,
    /// Executions over the slow threshold.
    pub slow: i64,
    /// Time summed over all executions.
    pub total_ms: f64,
    /// Fastest execution.
    pub min_ms: f64,
    /// Slowest execution.
    pub max_ms: f64,
    /// Mean execution time.
    pub mean_ms: f64,
    /// Median execution time.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// First execution seen.
    pub first_seen: DateTime<Utc>,
    /// Latest execution seen.
    pub last_seen: DateTime<Utc>,
}

/// One ANALYZE or OPTIMIZE of one table (`maintenance_runs`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MaintenanceRow {
    /// When the statement was sent.
    pub started_at: DateTime<Utc>,
    /// When it finished (or was given up).
    pub finished_at: DateTime<Utc>,
    /// `postgres` or `mysql`.
    pub engine: String,
    /// The backend server (`host:port`).
    pub server: String,
    /// The table, schema-qualified.
    pub table_name: String,
    /// `analyze` or `optimize`.
    pub action: String,
    /// `ok`, `error` or `skipped`.
    pub outcome: String,
    /// How long it took.
    pub duration_ms: f64,
    /// The error or the reason for skipping.
    pub detail: Option<String>,
}

/// One run of a scheduled job (`job_runs`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct JobRunRow {
    /// The job's name (`analyze`, `optimize`, `monitor`, `backup-full`, ...).
    pub job: String,
    /// When the schedule said it should run.
    pub scheduled_for: DateTime<Utc>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// `ok`, `error`, `skipped`, ...
    pub outcome: String,
    /// The error or a summary.
    pub detail: Option<String>,
}

/// Anything the writer can queue: one row of one history table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Record {
    /// A row of `database_performance_metrics`.
    Metrics(MetricsRow),
    /// A row of `slow_query_logs`.
    SlowQuery(SlowQueryRow),
    /// A row of `connection_pool_stats`.
    PoolStats(PoolStatsRow),
    /// A row of `query_digests`.
    Digest(DigestRow),
    /// A row of `maintenance_runs`.
    Maintenance(MaintenanceRow),
    /// A row of `job_runs`.
    JobRun(JobRunRow),
}

impl From<MetricsRow> for Record {
    fn from(row: MetricsRow) -> Self {
        Record::Metrics(row)
    }
}

impl From<SlowQueryRow> for Record {
    fn from(row: SlowQueryRow) -> Self {
        Record::SlowQuery(row)
    }
}

impl From<PoolStatsRow> for Record {
    fn from(row: PoolStatsRow) -> Self {
        Record::PoolStats(row)
    }
}

impl From<DigestRow> for Record {
    fn from(row: DigestRow) -> Self {
        Record::Digest(row)
    }
}

impl From<MaintenanceRow> for Record {
    fn from(row: MaintenanceRow) -> Self {
        Record::Maintenance(row)
    }
}

impl From<JobRunRow> for Record {
    fn from(row: JobRunRow) -> Self {
        Record::JobRun(row)
    }
}
