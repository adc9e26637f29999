//! MariaDB maintenance: the tables of every (or every configured) schema from `information_schema.TABLES`
//! joined with the persistent statistics (`mysql.table_stats`, `mysql.innodb_table_stats`), and
//! `ANALYZE TABLE .. PERSISTENT FOR ALL` / `OPTIMIZE TABLE` of one table with `lock_wait_timeout`,
//! `innodb_lock_wait_timeout` and `max_statement_time` set.
//!
//! `PERSISTENT FOR ALL` is what fills `mysql.table_stats` and the column statistics under MariaDB's default
//! `use_stat_tables = PREFERABLY_FOR_QUERIES`; a plain `ANALYZE TABLE` only refreshes InnoDB's own estimates.
//! `OPTIMIZE TABLE` on InnoDB rebuilds the table (online) and drops its persistent statistics, so an optimize is
//! followed by an analyze. Both statements report problems as result rows (`Msg_type = error`), not as SQL
//! errors, so the rows are read.
//!
//! Deliberately not here: deciding (`policy`) and recording (`mod.rs`).

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions, Executor, Row};

use super::login::Login;
use super::policy::{self, MyStats};
use super::{Action, Engine, MaintainError, TableStatus, db};
use crate::config::Config;

/// Tables outside the system schemas, with persistent statistics when the login may read them.
const TABLES: &str = "\
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, CAST(coalesce(t.TABLE_ROWS, 0) AS SIGNED),
       CAST(coalesce(t.DATA_LENGTH, 0) + coalesce(t.INDEX_LENGTH, 0) AS SIGNED), CAST(coalesce(t.DATA_FREE, 0) AS SIGNED),
       t.UPDATE_TIME IS NOT NULL, CAST(s.cardinality AS SIGNED), CAST(UNIX_TIMESTAMP(i.last_update) AS SIGNED)
  FROM information_schema.TABLES t
  LEFT JOIN mysql.table_stats s ON s.db_name = t.TABLE_SCHEMA AND s.table_name = t.TABLE_NAME
  LEFT JOIN mysql.innodb_table_stats i ON i.database_name = t.TABLE_SCHEMA AND i.table_name = t.TABLE_NAME
 WHERE t.TABLE_TYPE = 'BASE TABLE'
   AND t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
 ORDER BY 4 DESC, 1, 2";

/// The same without the `mysql` schema, for a login that may not read it (nothing counts as analyzed then).
const TABLES_NO_STATS: &str = "\
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, CAST(coalesce(t.TABLE_ROWS, 0) AS SIGNED),
       CAST(coalesce(t.DATA_LENGTH, 0) + coalesce(t.INDEX_LENGTH, 0) AS SIGNED), CAST(coalesce(t.DATA_FREE, 0) AS SIGNED),
       t.UPDATE_TIME IS NOT NULL, CAST(NULL AS SIGNED), CAST(NULL AS SIGNED)
  FROM information_schema.TABLES t
 WHERE t.TABLE_TYPE = 'BASE TABLE'
   AND t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
 ORDER BY 4 DESC, 1, 2";

/// Connects and sets maintenance's timeouts (MariaDB counts lock waits in whole seconds).
pub async fn connect(config: &Config, login: &Login) -> Result<MySqlConnection, MaintainError> {
    let (host, port) = login.host_port().ok_or_else(|| MaintainError::Address(login.addr.clone()))?;
    let mut opts = MySqlConnectOptions::new().host(&host).port(port).username(&login.user).statement_cache_capacity(0);
    if let Some(password) = &login.password {
        opts = opts.password(password);
    }
    let connect = opts.connect();
    let mut conn = match tokio::time::timeout(config.pool.connect_timeout, connect).await {
        Ok(conn) => conn.map_err(db("connect"))?,
        Err(_) => return Err(MaintainError::Timeout(config.pool.connect_timeout)),
    };
    let m = &config.maintenance;
    let lock = m.lock_timeout.as_secs_f64().ceil().max(1.0) as u64;
    let setup = format!(
        "SET SESSION lock_wait_timeout = {lock}, innodb_lock_wait_timeout = {lock}, max_statement_time = {:.3}",
        m.statement_timeout.as_secs_f64()
    );
    conn.execute(setup.as_str()).await.map_err(db("set timeouts"))?;
    Ok(conn)
}

/// Every table of the configured schemas (all non-system ones when none are configured).
pub async fn tables(config: &Config, login: &Login) -> Result<Vec<TableStatus>, MaintainError> {
    let mut conn = connect(config, login).await?;
    let rows = match conn.fetch_all(TABLES).await {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) if e.message().contains("denied") => {
            tracing::info!(user = %login.user, "mysql.table_stats not readable; every table counts as never analyzed");
            conn.fetch_all(TABLES_NO_STATS).await.map_err(db("read information_schema.TABLES"))?
        }
        Err(e) => return Err(db("read information_schema.TABLES")(e)),
    };
    let wanted = &config.maintenance.databases;
    let mut out = Vec::new();
    for row in rows {
        let t = table(config, login, &row).map_err(db("read information_schema.TABLES"))?;
        if wanted.is_empty() || wanted.contains(&t.schema) {
            out.push(t);
        }
    }
    Ok(out)
}

fn table(config: &Config, login: &Login, row: &MySqlRow) -> Result<TableStatus, sqlx::Error> {
    let stats = MyStats {
        rows: row.try_get(2)?,
        bytes: row.try_get(3)?,
        free: row.try_get(4)?,
        written: row.try_get::<i64, _>(5)? != 0,
        stats_rows: row.try_get(6)?,
    };
    let schema: String = row.try_get(0)?;
    let last: Option<i64> = row.try_get(7)?;
    let m = &config.maintenance;
    Ok(TableStatus {
        engine: Engine::Mysql,
        server: login.addr.clone(),
        database: schema.clone(),
        schema,
        table: row.try_get(1)?,
        live_rows: stats.rows,
        dead_rows: None,
        modified_since_analyze: stats.stats_rows.map(|then| (stats.rows - then).abs()),
        size_bytes: stats.bytes,
        free_bytes: Some(stats.free),
        last_analyzed: last.and_then(|s| chrono::DateTime::from_timestamp(s, 0)),
        analyze: policy::my_analyze(m, &stats),
        optimize: policy::my_optimize(m, &stats),
    })
}

/// `` `schema`.`table` ``.
pub fn quoted(t: &TableStatus) -> String {
    let q = |s: &str| format!("`{}`", s.replace('`', "``"));
    format!("{}.{}", q(&t.schema), q(&t.table))
}

/// The statement for `action` on `t`.
pub fn statement(t: &TableStatus, action: Action) -> String {
    match action {
        Action::Analyze => format!("ANALYZE TABLE {} PERSISTENT FOR ALL", quoted(t)),
        Action::Optimize => format!("OPTIMIZE TABLE {}", quoted(t)),
    }
}

/// Runs an ANALYZE / OPTIMIZE and reads its report. `Ok(Some(reason))`: skipped (lock wait timeout, table
/// gone); `Ok(None)`: done; `Err`: the server's error text.
pub async fn run(conn: &mut MySqlConnection, sql: &str) -> Result<Option<String>, String> {
    let rows = match conn.fetch_all(sql).await {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) => return classify(e.message()),
        Err(e) => return Err(e.to_string()),
    };
    for row in &rows {
        let kind = text(row, "Msg_type");
        if kind.eq_ignore_ascii_case("error") {
            return classify(&text(row, "Msg_text"));
        }
    }
    Ok(None)
}

fn classify(message: &str) -> Result<Option<String>, String> {
    if message.contains("Lock wait timeout") {
        Ok(Some(format!("lock not available in time: {message}")))
    } else if message.contains("doesn't exist") {
        Ok(Some(format!("table no longer exists: {message}")))
    } else {
        Err(message.to_string())
    }
}

/// A text column of a report row, whatever character set the server labelled it with.
fn text(row: &MySqlRow, column: &str) -> String {
    row.try_get::<String, _>(column)
        .or_else(|_| row.try_get::<Vec<u8>, _>(column).map(|b| String::from_utf8_lossy(&b).into_owned()))
        .unwrap_or_default()
}
