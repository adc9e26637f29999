//! The history store (DESIGN §10): an SQLite file by default, or a PostgreSQL database that several proxies share.
//!
//! [`Store::open`] connects and runs the embedded migrations of that backend (`migrations/sqlite`,
//! `migrations/postgres`). The monitor, the maintenance runner and the scheduler queue [`Record`]s on a [`Writer`]
//! ([`Store::spawn_writer`]), which writes them in batches off the data path and prunes old history; the admin port
//! reads them back with the `Store` methods. Timestamps keep microseconds.
//!
//! Deliberately not here: what a record means (the monitor and the scheduler fill them), the backup catalog's
//! rows (`backup_logs` is created here, written by `backup`), and MySQL as a store backend.

mod insert;
pub mod records;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use insert::{BindParam, Param, Table};
pub use records::{DigestRow, JobRunRow, MaintenanceRow, MetricsRow, PoolStatsRow, Record, SlowQueryRow};
pub use writer::Writer;

/// Migrations of the SQLite schema.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// Migrations of the PostgreSQL schema.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long an SQLite statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening the store or checking out one of its connections may take.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per store: one writer task and a few admin reads.
const MAX_CONNECTIONS: u32 = 4;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error("unsupported store URL {url}: expected sqlite://<file> or postgres://...")]
    Unsupported {
        /// The URL, password removed.
        url: String,
    },
    /// The directory of the SQLite file could not be created.
    #[error("create directory {} for store {url}: {source}", path.display())]
    CreateDir {
        /// The URL, password removed.
        url: String,
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The URL did not parse or the database refused the connection.
    #[error("open store {url}: {source}")]
    Open {
        /// The URL, password removed.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("migrate store {url}: {source}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// Why.
        source: MigrateError,
    },
    /// A read, write or prune failed.
    #[error("store query: {0}")]
    Query(#[from] sqlx::Error),
}

/// The connection pool of one backend.
#[derive(Debug, Clone)]
enum Backend {
    /// An SQLite file (or `sqlite::memory:`).
    Sqlite(SqlitePool),
    /// A PostgreSQL database, possibly shared by several proxies.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is; the body is compiled once per
/// backend, so sqlx picks each backend's encoding.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// An open history store. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// The URL without its password, for messages.
    url: Arc<str>,
}

impl Store {
    /// Opens the store at `url` (`sqlite://<file>` or `postgres://...`) and runs its migrations. An SQLite file and
    /// its directory are created if missing; the file is put in WAL mode with a busy timeout.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let shown = redact(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(open_sqlite(url, &shown).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres(open_postgres(url, &shown).await?)
        } else {
            return Err(StoreError::Unsupported { url: shown });
        };
        let migrated = match &backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        migrated.map_err(|source| StoreError::Migrate { url: shown.clone(), source })?;
        Ok(Store { backend, url: shown.into() })
    }

    /// The URL the store was opened with, password removed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the connections; later calls on any clone fail.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Writes `records` in one transaction: all of them or, on error, none.
    pub async fn insert(&self, records: &[Record]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let statements = insert::statements(records);
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (table, rows) in &statements {
                let sql = insert::insert_sql(table, rows.len());
                let mut query = sqlx::query(&sql).persistent(false);
                for row in rows {
                    for param in row.params() {
                        query = query.bind_param(param);
                    }
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes history dated before `older_than` and returns how many rows went. The latest run of each job and
    /// unresolved alerts are kept whatever their age; `backup_logs` is never touched.
    pub async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut statements: Vec<String> = [&insert::METRICS, &insert::SLOW_QUERIES, &insert::POOL_STATS]
            .into_iter()
            .chain([&insert::DIGESTS, &insert::MAINTENANCE])
            .map(|table| format!("DELETE FROM {} WHERE {} < $1", table.name, table.time))
            .collect();
        statements.push(
            "DELETE FROM job_runs WHERE started_at < $1 AND started_at < \
             (SELECT MAX(newer.started_at) FROM job_runs AS newer WHERE newer.job = job_runs.job)"
                .into(),
        );
        statements.push("DELETE FROM alerts WHERE resolved_at IS NOT NULL AND resolved_at < $1".into());
        let mut deleted = 0;
        for sql in &statements {
            deleted += with_pool!(self, pool => {
                sqlx::query(sql).bind_param(Param::Time(older_than)).execute(pool).await?.rows_affected()
            });
        }
        Ok(deleted)
    }

    /// The newest `limit` slow statements, newest first.
    pub async fn slow_queries(&self, limit: usize) -> Result<Vec<SlowQueryRow>, StoreError> {
        let sql = newest(&insert::SLOW_QUERIES, "", 1);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(count(limit)).fetch_all(pool).await?))
    }

    /// The newest `limit` snapshots, of one engine or of all, newest first.
    pub async fn metrics(&self, engine: Option<&str>, limit: usize) -> Result<Vec<MetricsRow>, StoreError> {
        let sql = newest(&insert::METRICS, "WHERE ($1 IS NULL OR engine = $1)", 2);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(engine).bind(count(limit)).fetch_all(pool).await?))
    }

    /// The newest `limit` pool statistics rows, newest first.
    pub async fn pool_stats(&self, limit: usize) -> Result<Vec<PoolStatsRow>, StoreError> {
        let sql = newest(&insert::POOL_STATS, "", 1);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(count(limit)).fetch_all(pool).await?))
    }

    /// The newest `limit` digest rows, newest first.
    pub async fn digests(&self, limit: usize) -> Result<Vec<DigestRow>, StoreError> {
        let sql = newest(&insert::DIGESTS, "", 1);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(count(limit)).fetch_all(pool).await?))
    }

    /// The newest `limit` maintenance runs, newest first.
    pub async fn maintenance_runs(&self, limit: usize) -> Result<Vec<MaintenanceRow>, StoreError> {
        let sql = newest(&insert::MAINTENANCE, "", 1);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(count(limit)).fetch_all(pool).await?))
    }

    /// The newest `limit` runs of one job or of all, newest first.
    pub async fn job_runs(&self, job: Option<&str>, limit: usize) -> Result<Vec<JobRunRow>, StoreError> {
        let sql = newest(&insert::JOB_RUNS, "WHERE ($1 IS NULL OR job = $1)", 2);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(job).bind(count(limit)).fetch_all(pool).await?))
    }

    /// The latest run of `job` (by start time), if it ever ran.
    pub async fn last_job_run(&self, job: &str) -> Result<Option<JobRunRow>, StoreError> {
        let sql = newest(&insert::JOB_RUNS, "WHERE job = $1", 2);
        Ok(with_pool!(self, pool => sqlx::query_as(&sql).bind(job).bind(1_i64).fetch_optional(pool).await?))
    }
}

/// `SELECT ... FROM <table> <filter> ORDER BY <time> DESC, id DESC LIMIT $<limit_param>`.
fn newest(table: &Table, filter: &str, limit_param: usize) -> String {
    format!("{} {filter} ORDER BY {} DESC, id DESC LIMIT ${limit_param}", insert::select_sql(table), table.time)
}

/// A row count as SQL's LIMIT takes it.
fn count(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Connects to an SQLite file, creating it and its directory if missing.
async fn open_sqlite(url: &str, shown: &str) -> Result<SqlitePool, StoreError> {
    let open_error = |source| StoreError::Open { url: shown.to_owned(), source };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(open_error)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut pool = SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS).acquire_timeout(ACQUIRE_TIMEOUT);
    if in_memory {
        // An in-memory database lives as long as one of its connections does.
        pool = pool.min_connections(1).idle_timeout(None).max_lifetime(None);
    } else if let Some(dir) = options.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir).await.map_err(|source| StoreError::CreateDir {
            url: shown.to_owned(),
            path: dir.to_owned(),
            source,
        })?;
    }
    pool.connect_with(options).await.map_err(open_error)
}

/// Connects to a PostgreSQL database.
async fn open_postgres(url: &str, shown: &str) -> Result<PgPool, StoreError> {
    let open_error = |source| StoreError::Open { url: shown.to_owned(), source };
    let options = PgConnectOptions::from_str(url).map_err(open_error)?.application_name("switchyard-store");
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(open_error)
}

/// `url` with the password of its user info and any `password=` parameter replaced by `***`.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..].find(['/', '?']).map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let user_info = authority_start..authority_start + at;
            if let Some(colon) = out[user_info.clone()].find(':') {
                out.replace_range(user_info.start + colon + 1..user_info.end, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out = format!("{head}{}", params.join("&"));
    }
    out
}
