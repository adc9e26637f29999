//! PostgreSQL maintenance: the tables of each database from `pg_stat_user_tables`, and `ANALYZE` /
//! `VACUUM (ANALYZE)` of one table on a connection with `lock_timeout` and `statement_timeout` set.
//!
//! Statistics are per database, so one connection per database is opened. `VACUUM` (not `VACUUM FULL`, whose
//! exclusive lock blocks every reader) makes dead rows' space reusable and returns empty pages at the end of the
//! table to the operating system.
//!
//! Deliberately not here: deciding (`policy`) and recording (`mod.rs`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};

use super::login::Login;
use super::policy::{self, PgStats};
use super::{Engine, MaintainError, TableStatus, db};
use crate::config::Config;

/// Tables of the connected database, largest first.
const TABLES: &str = "\
SELECT current_database()::text, schemaname::text, relname::text, n_live_tup, n_dead_tup, n_mod_since_analyze,
       greatest(last_analyze, last_autoanalyze), coalesce(pg_table_size(relid), 0)
  FROM pg_stat_user_tables
 ORDER BY 8 DESC, 2, 3";

/// Databases worth maintaining when none are configured.
const DATABASES: &str = "SELECT datname::text FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1";

/// Connects to `database` with maintenance's timeouts.
pub async fn connect(config: &Config, login: &Login, database: &str) -> Result<PgConnection, MaintainError> {
    let (host, port) = login.host_port().ok_or_else(|| MaintainError::Address(login.addr.clone()))?;
    let m = &config.maintenance;
    let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(&host)
        .port(port)
        .username(&login.user)
        .database(database)
        .application_name("switchyard-maintain")
        .statement_cache_capacity(0)
        .options([("lock_timeout", ms(m.lock_timeout)), ("statement_timeout", ms(m.statement_timeout))]);
    if let Some(password) = &login.password {
        opts = opts.password(password);
    }
    let connect = opts.connect();
    match tokio::time::timeout(config.pool.connect_timeout, connect).await {
        Ok(conn) => conn.map_err(db("connect")),
        Err(_) => Err(MaintainError::Timeout(config.pool.connect_timeout)),
    }
}

/// The databases to survey: every database that accepts connections, or those of them named in
/// `maintenance.databases` (a name that is not a PostgreSQL database may be a MariaDB schema: ignored here).
pub async fn databases(config: &Config, login: &Login) -> Result<Vec<String>, MaintainError> {
    let home = if config.health.database.is_empty() { "postgres" } else { config.health.database.as_str() };
    let mut conn = connect(config, login, home).await?;
    let rows = conn.fetch_all(DATABASES).await.map_err(db("list databases"))?;
    let _ = conn.close().await;
    let all = rows.iter().map(|r| r.try_get::<String, _>(0).map_err(db("list databases")));
    let wanted = &config.maintenance.databases;
    let mut out = Vec::new();
    for name in all {
        let name = name?;
        if wanted.is_empty() || wanted.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Every user table of `database` with what it needs.
pub async fn tables(config: &Config, login: &Login, database: &str) -> Result<Vec<TableStatus>, MaintainError> {
    let mut conn = connect(config, login, database).await?;
    let rows = conn.fetch_all(TABLES).await.map_err(db("read pg_stat_user_tables"))?;
    let _ = conn.close().await;
    let m = &config.maintenance;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |e| db("read pg_stat_user_tables")(e);
        let last: Option<DateTime<Utc>> = row.try_get(6).map_err(get)?;
        let stats = PgStats {
            live: row.try_get(3).map_err(get)?,
            dead: row.try_get(4).map_err(get)?,
            modified: row.try_get(5).map_err(get)?,
            analyzed: last.is_some(),
        };
        out.push(TableStatus {
            engine: Engine::Postgres,
            server: login.addr.clone(),
            database: row.try_get(0).map_err(get)?,
            schema: row.try_get(1).map_err(get)?,
            table: row.try_get(2).map_err(get)?,
            live_rows: stats.live,
            dead_rows: Some(stats.dead),
            modified_since_analyze: Some(stats.modified),
            size_bytes: row.try_get(7).map_err(get)?,
            free_bytes: None,
            last_analyzed: last,
            analyze: policy::pg_analyze(m, &stats),
            optimize: policy::pg_optimize(m, &stats),
        });
    }
    Ok(out)
}

/// `"schema"."table"`.
pub fn quoted(t: &TableStatus) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    format!("{}.{}", q(&t.schema), q(&t.table))
}

/// The statement for `action` on `t`.
pub fn statement(t: &TableStatus, action: super::Action) -> String {
    match action {
        super::Action::Analyze => format!("ANALYZE {}", quoted(t)),
        super::Action::Optimize => format!("VACUUM (ANALYZE) {}", quoted(t)),
    }
}

/// Runs `sql` (one statement, outside any transaction: VACUUM refuses to run in one). `Ok(Some(reason))` means
/// the table was skipped (lock not had in time, table gone).
pub async fn run(conn: &mut PgConnection, sql: &str) -> Result<Option<String>, String> {
    match conn.execute(sql).await {
        Ok(_) => Ok(None),
        Err(sqlx::Error::Database(e)) => match e.code().as_deref() {
            Some("55P03") => Ok(Some(format!("lock not available in time: {}", e.message()))),
            Some("42P01") => Ok(Some(format!("table no longer exists: {}", e.message()))),
            _ => Err(e.message().to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}
