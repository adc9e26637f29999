//! EXPLAIN on a side connection: the plan of one slow statement, with the catalog statistics of the tables it
//! reads, for [`super::advice`].
//!
//! Safety is the point of this module. Only plain EXPLAIN is ever sent, never EXPLAIN ANALYZE, so the statement
//! is planned and not executed. Only SELECT / INSERT / UPDATE / DELETE / REPLACE / WITH statements are accepted,
//! one at a time and without side-effect functions; anything else is refused with an error before a connection
//! is opened. Every side connection gets a server-side statement timeout, and the whole call is bounded by the
//! same timeout on the client side. PostgreSQL side connections are also read-only
//! (`default_transaction_read_only`), which plain EXPLAIN of an INSERT/UPDATE/DELETE allows; MariaDB refuses
//! EXPLAIN of a write in a read-only transaction, so there the EXPLAIN runs in a transaction that is rolled back.
//!
//! Bound parameters: a PostgreSQL statement with `$n` placeholders is prepared (`PREPARE sy_explain AS ..`) and
//! explained with `EXPLAIN (FORMAT JSON) EXECUTE sy_explain(<literals>)`, so the planner sees the values (a
//! custom plan), then deallocated; a MySQL statement's `?` placeholders outside strings, comments and quoted
//! identifiers are replaced by quoted literals.
//!
//! Deliberately not here: deciding which statements to explain or how often (the monitor rate-limits per
//! digest), pooling side connections (one short-lived connection per call), and interpreting plans.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};

use crate::classify::lex::{Tok, code_tokens};
use crate::classify::{Dialect, Kind, classify_uncached};

/// The database engine behind a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    Mysql,
}

impl Engine {
    /// The SQL dialect statements for this engine are written in.
    pub fn dialect(self) -> Dialect {
        match self {
            Engine::Postgres => Dialect::Postgres,
            Engine::Mysql => Dialect::MySql,
        }
    }
}

/// Where and as whom to run EXPLAIN.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Engine of the server.
    pub engine: Engine,
    /// `host:port` (`[v6addr]:port` for IPv6).
    pub addr: String,
    /// User to connect as. It needs the privileges the statement's tables require, and read access to the
    /// catalogs (`pg_class`, `pg_stat_all_tables`; `information_schema`, optionally `mysql.innodb_table_stats`).
    pub user: String,
    /// Password, when the server asks for one.
    pub password: Option<String>,
    /// Database to connect to (the one the statement ran in).
    pub database: Option<String>,
}

impl Target {
    /// The target for a statement that login `user` ran in `database` (empty: none) on `addr`, connecting with
    /// that user's backend credentials.
    pub fn for_login(
        config: &crate::config::Config,
        engine: Engine,
        addr: String,
        user: &str,
        database: &str,
    ) -> Target {
        let (user, password) = config.backend_login(user);
        Target { engine, addr, user, password, database: (!database.is_empty()).then(|| database.to_string()) }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("engine", &self.engine)
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .finish()
    }
}

/// A bound parameter value, as captured from Bind / COM_STMT_EXECUTE.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number (non-finite values become `'NaN'`/`'Infinity'` in PostgreSQL, NULL in MySQL).
    Float(f64),
    /// Text.
    Text(String),
    /// Binary data (`bytea` / a binary string).
    Bytes(Vec<u8>),
}

impl Param {
    /// Parameters as the monitor renders them (`None` = NULL), passed as text for the server to cast.
    pub fn from_rendered(params: &[Option<String>]) -> Vec<Param> {
        params.iter().map(|p| p.as_ref().map_or(Param::Null, |v| Param::Text(v.clone()))).collect()
    }
}

/// What the catalog says about one table the plan reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// The table's name as the plan names it (PostgreSQL `Relation Name`; MariaDB the real name behind the
    /// plan's `table_name`), lower-cased when it was written bare.
    pub table: String,
    /// Estimated rows: PostgreSQL `pg_class.reltuples` (or `n_live_tup` when never analysed), MariaDB
    /// `information_schema.TABLES.TABLE_ROWS`. `None` when the catalog does not know.
    pub rows_estimate: Option<u64>,
    /// When statistics were last gathered: PostgreSQL the later of `last_analyze` / `last_autoanalyze` (`None`:
    /// never analysed); MariaDB `mysql.innodb_table_stats.last_update` (informational: `None` may also mean
    /// "not readable" there, so the never-analysed rule applies to PostgreSQL only).
    pub last_analyzed: Option<String>,
    /// Other names the statement uses for the table (`u` in `FROM users u`); MariaDB plans show these.
    pub aliases: Vec<String>,
    /// Columns that lead an existing index (the first column of each index), so advice does not suggest them.
    pub indexed_columns: Vec<String>,
}

/// The result of [`explain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explained {
    /// The plan exactly as the server returned it: PostgreSQL `[{"Plan": ..}]`, MariaDB `{"query_block": ..}`.
    pub plan: Value,
    /// Statistics of the tables in the plan, in plan order.
    pub tables: Vec<TableStats>,
}

/// Why a statement could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The statement is not one this module will explain (not a single SELECT / INSERT / UPDATE / DELETE /
    /// REPLACE / WITH, or it calls a function with side effects).
    #[error("refusing to explain: {0}")]
    Refused(String),
    /// The placeholders and the parameters do not match.
    #[error("parameters: {0}")]
    Params(String),
    /// The target address cannot be used.
    #[error("bad target address {0:?}")]
    Address(String),
    /// The whole call took longer than its timeout.
    #[error("explain timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting or running a statement on the side connection failed.
    #[error("{what}: {source}")]
    Database {
        /// What was being done ("connect", "explain", "read table statistics").
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The server's answer was not a JSON plan.
    #[error("unexpected EXPLAIN output: {0}")]
    Plan(String),
}

impl ExplainError {
    /// True when the statement was refused before any connection was made.
    pub fn is_refused(&self) -> bool {
        matches!(self, ExplainError::Refused(_))
    }
}

/// A closure turning a driver error into [`ExplainError::Database`] tagged with `what`.
fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> ExplainError {
    move |source| ExplainError::Database { what, source }
}

/// Explains `sql` with `params` bound on a new side connection to `target`, and reads the statistics of the
/// tables in the plan. Everything (connect included) is bounded by `timeout`, which is also the server-side
/// statement timeout. Never executes the statement: see the module docs for the safety rules.
pub async fn explain(
    target: &Target,
    sql: &str,
    params: &[Param],
    timeout: Duration,
) -> Result<Explained, ExplainError> {
    check_statement(target.engine.dialect(), sql)?;
    let work = async {
        match target.engine {
            Engine::Postgres => postgres(target, sql, params, timeout).await,
            Engine::Mysql => mysql(target, sql, params, timeout).await,
        }
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| ExplainError::Timeout(timeout))?
}

/// Accepts one SELECT / INSERT / UPDATE / DELETE / REPLACE / WITH statement without side-effect functions.
pub fn check_statement(dialect: Dialect, sql: &str) -> Result<(), ExplainError> {
    let toks = code_tokens(dialect, sql);
    let first = toks.iter().find(|t| !t.is_punct(sql, "("));
    let word = first.filter(|t| t.kind == Tok::Word).map(|t| t.text(sql).to_ascii_lowercase());
    let Some(word) = word else { return Err(ExplainError::Refused("empty statement".into())) };
    if !matches!(word.as_str(), "select" | "insert" | "update" | "delete" | "replace" | "with") {
        return Err(ExplainError::Refused(format!("{} statements are not explained", word.to_uppercase())));
    }
    let class = classify_uncached(dialect, sql);
    if class.multi_statement {
        return Err(ExplainError::Refused("more than one statement".into()));
    }
    if !matches!(class.kind, Kind::Select | Kind::Insert | Kind::Update | Kind::Delete) {
        return Err(ExplainError::Refused(format!("a {} statement is not explained", class.kind.as_str())));
    }
    if class.side_effects {
        return Err(ExplainError::Refused("the statement calls a function with side effects".into()));
    }
    Ok(())
}

/// `(host, port)` of the target's address.
fn split_addr(addr: &str) -> Result<(String, u16), ExplainError> {
    crate::net::split_host_port(addr).ok_or_else(|| ExplainError::Address(addr.to_string()))
}

/// Milliseconds of `d`, at least 1 (0 would mean "no timeout" to both servers).
fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// The placeholders of a PostgreSQL statement: the highest `$n`.
fn pg_placeholders(sql: &str) -> usize {
    code_tokens(Dialect::Postgres, sql)
        .iter()
        .filter(|t| t.kind == Tok::Param)
        .filter_map(|t| t.text(sql).trim_start_matches('$').parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// A PostgreSQL literal for `p` (with `standard_conforming_strings` on).
fn pg_literal(p: &Param) -> String {
    match p {
        Param::Null => "NULL".to_string(),
        Param::Int(i) => i.to_string(),
        Param::Float(f) if f.is_nan() => "'NaN'".to_string(),
        Param::Float(f) if f.is_infinite() => if *f > 0.0 { "'Infinity'" } else { "'-Infinity'" }.to_string(),
        Param::Float(f) => format!("{f:?}"),
        Param::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Param::Bytes(b) => format!("'\\x{}'::bytea", hex(b)),
    }
}

/// A MySQL literal for `p`; backslashes are escaped unless the session has `NO_BACKSLASH_ESCAPES`.
fn my_literal(p: &Param, backslash_escapes: bool) -> String {
    match p {
        Param::Null => "NULL".to_string(),
        Param::Int(i) => i.to_string(),
        Param::Float(f) if !f.is_finite() => "NULL".to_string(),
        Param::Float(f) => format!("{f:?}"),
        Param::Text(s) if backslash_escapes => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        Param::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Param::Bytes(b) => format!("X'{}'", hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sql` with its `?` placeholders replaced by `params` as literals.
fn bind_mysql(sql: &str, params: &[Param], backslash_escapes: bool) -> Result<String, ExplainError> {
    let marks: Vec<_> =
        code_tokens(Dialect::MySql, sql).into_iter().filter(|t| t.kind == Tok::Param && t.text(sql) == "?").collect();
    if marks.len() != params.len() {
        return Err(ExplainError::Params(format!("{} placeholders but {} parameters", marks.len(), params.len())));
    }
    let mut out = String::with_capacity(sql.len() + 16 * params.len());
    let mut at = 0;
    for (mark, param) in marks.iter().zip(params) {
        out.push_str(&sql[at..mark.start]);
        out.push_str(&my_literal(param, backslash_escapes));
        at = mark.end;
    }
    out.push_str(&sql[at..]);
    Ok(out)
}

async fn postgres(target: &Target, sql: &str, params: &[Param], timeout: Duration) -> Result<Explained, ExplainError> {
    let (host, port) = split_addr(&target.addr)?;
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(&host)
        .port(port)
        .username(&target.user)
        .application_name("switchyard-explain")
        .statement_cache_capacity(0);
    if let Some(password) = &target.password {
        opts = opts.password(password);
    }
    if let Some(database) = &target.database {
        opts = opts.database(database);
    }
    let mut conn: PgConnection = opts.connect().await.map_err(db("connect"))?;
    let setup = format!(
        "SET statement_timeout = {}; SET default_transaction_read_only = on; SET standard_conforming_strings = on",
        millis(timeout)
    );
    conn.execute(setup.as_str()).await.map_err(db("set up side connection"))?;
    let wanted = pg_placeholders(sql);
    let plan = if wanted == 0 {
        pg_plan(&mut conn, &format!("EXPLAIN (FORMAT JSON) {sql}")).await?
    } else {
        if params.len() < wanted {
            return Err(ExplainError::Params(format!("${wanted} used but {} parameters", params.len())));
        }
        conn.execute(format!("PREPARE sy_explain AS {sql}").as_str()).await.map_err(db("prepare"))?;
        let args: Vec<String> = params[..wanted].iter().map(pg_literal).collect();
        let plan = pg_plan(&mut conn, &format!("EXPLAIN (FORMAT JSON) EXECUTE sy_explain({})", args.join(", "))).await;
        // The connection is closed next; deallocating is tidiness, so its failure does not matter.
        let _ = conn.execute("DEALLOCATE sy_explain").await;
        plan?
    };
    let relations = pg_relations(&plan);
    let tables = pg_stats(&mut conn, &relations).await?;
    let _ = conn.close().await;
    Ok(Explained { plan, tables })
}

async fn pg_plan(conn: &mut PgConnection, explain: &str) -> Result<Value, ExplainError> {
    let row = conn.fetch_one(explain).await.map_err(db("explain"))?;
    let plan: Value = row.try_get(0).map_err(db("read plan"))?;
    if !plan.is_array() {
        return Err(ExplainError::Plan(format!("expected a JSON array, got {}", kind_of(&plan))));
    }
    Ok(plan)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `(relation, aliases)` of every scan in a PostgreSQL plan, in plan order.
fn pg_relations(plan: &Value) -> Vec<(String, Vec<String>)> {
    fn walk(v: &Value, out: &mut Vec<(String, Vec<String>)>) {
        match v {
            Value::Object(obj) => {
                if let Some(rel) = obj.get("Relation Name").and_then(Value::as_str) {
                    let idx = match out.iter().position(|(r, _)| r == rel) {
                        Some(i) => i,
                        None => {
                            out.push((rel.to_string(), Vec::new()));
                            out.len() - 1
                        }
                    };
                    if let Some(alias) = obj.get("Alias").and_then(Value::as_str)
                        && alias != rel
                        && !out[idx].1.iter().any(|a| a == alias)
                    {
                        out[idx].1.push(alias.to_string());
                    }
                }
                obj.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(plan, &mut out);
    out
}

/// Statistics of `relations` from `pg_class` / `pg_stat_all_tables` / `pg_index`. A name found in several
/// schemas resolves to the one visible on the search path, else to any.
const PG_STATS: &str = "\
SELECT DISTINCT ON (n.name) n.name,
       c.reltuples::float8,
       s.n_live_tup::float8,
       greatest(s.last_analyze, s.last_autoanalyze)::text,
       coalesce((SELECT array_agg(DISTINCT a.attname::text)
                   FROM pg_index i
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = c.oid), '{}')
  FROM unnest($1::text[]) AS n(name)
  JOIN pg_class c ON c.relname = n.name AND c.relkind IN ('r', 'p', 'm', 'f')
  LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 ORDER BY n.name, pg_table_is_visible(c.oid) DESC";

async fn pg_stats(
    conn: &mut PgConnection,
    relations: &[(String, Vec<String>)],
) -> Result<Vec<TableStats>, ExplainError> {
    let names: Vec<String> = relations.iter().map(|(r, _)| r.clone()).collect();
    let rows = sqlx::query(PG_STATS).bind(&names).fetch_all(&mut *conn).await.map_err(db("read table statistics"))?;
    let mut out = Vec::with_capacity(relations.len());
    for (rel, aliases) in relations {
        let Some(row) = rows.iter().find(|r| r.try_get::<String, _>(0).is_ok_and(|n| n == *rel)) else { continue };
        let reltuples: f64 = row.try_get(1).map_err(db("read table statistics"))?;
        let live: Option<f64> = row.try_get(2).map_err(db("read table statistics"))?;
        // reltuples is -1 until the first ANALYZE / VACUUM; the live-tuple counter is the better guess then.
        let rows_estimate = if reltuples >= 0.0 { Some(reltuples as u64) } else { live.map(|l| l as u64) };
        out.push(TableStats {
            table: rel.clone(),
            rows_estimate,
            last_analyzed: row.try_get(3).map_err(db("read table statistics"))?,
            aliases: aliases.clone(),
            indexed_columns: row.try_get(4).map_err(db("read table statistics"))?,
        });
    }
    Ok(out)
}

async fn mysql(target: &Target, sql: &str, params: &[Param], timeout: Duration) -> Result<Explained, ExplainError> {
    let (host, port) = split_addr(&target.addr)?;
    // No session changes beyond the character set: PIPES_AS_CONCAT or another time zone could change the plan.
    let mut opts = MySqlConnectOptions::new()
        .host(&host)
        .port(port)
        .username(&target.user)
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(None)
        .statement_cache_capacity(0);
    if let Some(password) = &target.password {
        opts = opts.password(password);
    }
    if let Some(database) = &target.database {
        opts = opts.database(database);
    }
    let mut conn: MySqlConnection = opts.connect().await.map_err(db("connect"))?;
    let secs = timeout.as_secs_f64().max(0.001);
    let mariadb = format!("SET SESSION max_statement_time = {secs:.3}, SESSION lock_wait_timeout = {}", secs.ceil());
    if conn.execute(mariadb.as_str()).await.is_err() {
        // MySQL: max_execution_time (milliseconds, SELECT only) instead of MariaDB's max_statement_time.
        let mysql = format!(
            "SET SESSION max_execution_time = {}, SESSION lock_wait_timeout = {}",
            millis(timeout),
            secs.ceil()
        );
        conn.execute(mysql.as_str()).await.map_err(db("set up side connection"))?;
    }
    let mode: String =
        sqlx::query_scalar("SELECT @@SESSION.sql_mode").fetch_one(&mut conn).await.map_err(db("read sql_mode"))?;
    let bound = bind_mysql(sql, params, !mode.to_ascii_uppercase().contains("NO_BACKSLASH_ESCAPES"))?;
    // A rolled-back transaction: MariaDB refuses EXPLAIN of a write in a READ ONLY one.
    conn.execute("START TRANSACTION").await.map_err(db("begin"))?;
    let plan = my_plan(&mut conn, &format!("EXPLAIN FORMAT=JSON {bound}")).await;
    let _ = conn.execute("ROLLBACK").await;
    let plan = plan?;
    let aliases = super::advice::table_aliases(sql, Dialect::MySql);
    let tables = my_stats(&mut conn, &my_tables(&plan, &aliases)).await?;
    let _ = conn.close().await;
    Ok(Explained { plan, tables })
}

async fn my_plan(conn: &mut MySqlConnection, explain: &str) -> Result<Value, ExplainError> {
    let row = conn.fetch_one(explain).await.map_err(db("explain"))?;
    let text: String = match row.try_get::<String, _>(0) {
        Ok(s) => s,
        Err(_) => String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(0).map_err(db("read plan"))?).into_owned(),
    };
    let plan: Value = serde_json::from_str(&text).map_err(|e| ExplainError::Plan(e.to_string()))?;
    if plan.get("query_block").is_none() {
        return Err(ExplainError::Plan("no query_block".into()));
    }
    Ok(plan)
}

/// `(schema, table, aliases)` of every table access in a MariaDB plan: plan names resolved through the
/// statement's aliases, MariaDB's `<derived2>`-style names skipped.
fn my_tables(plan: &Value, aliases: &[(String, String)]) -> Vec<(Option<String>, String, Vec<String>)> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(obj) => {
                if let Some(name) = obj.get("table_name").and_then(Value::as_str)
                    && !name.starts_with('<')
                    && !out.iter().any(|n| n == name)
                {
                    out.push(name.to_string());
                }
                obj.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk(plan, &mut names);
    let mut out: Vec<(Option<String>, String, Vec<String>)> = Vec::new();
    for name in names {
        let real = aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(&name)).map_or(name.as_str(), |(_, t)| t);
        let (schema, table) = match real.rsplit_once('.') {
            Some((s, t)) => (Some(s.to_string()), t.to_string()),
            None => (None, real.to_string()),
        };
        let entry = match out.iter_mut().find(|(s, t, _)| *s == schema && t.eq_ignore_ascii_case(&table)) {
            Some(e) => e,
            None => {
                out.push((schema, table.clone(), Vec::new()));
                out.last_mut().expect("just pushed")
            }
        };
        if !name.eq_ignore_ascii_case(&table) && !entry.2.contains(&name) {
            entry.2.push(name);
        }
    }
    out
}

async fn my_stats(
    conn: &mut MySqlConnection,
    tables: &[(Option<String>, String, Vec<String>)],
) -> Result<Vec<TableStats>, ExplainError> {
    let mut out = Vec::with_capacity(tables.len());
    for (schema, table, aliases) in tables {
        let row = sqlx::query(
            "SELECT CAST(TABLE_ROWS AS UNSIGNED) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(schema)
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("read table statistics"))?;
        let Some(row) = row else { continue };
        let rows_estimate: Option<u64> = row.try_get(0).map_err(db("read table statistics"))?;
        let indexed_columns: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("read index columns"))?;
        // Readable only with privileges on the mysql schema; without them the time is simply unknown.
        let last_analyzed: Option<String> = sqlx::query_scalar(
            "SELECT CAST(last_update AS CHAR) FROM mysql.innodb_table_stats \
             WHERE database_name = COALESCE(?, DATABASE()) AND table_name = ?",
        )
        .bind(schema)
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .ok()
        .flatten();
        out.push(TableStats {
            table: table.clone(),
            rows_estimate,
            last_analyzed,
            aliases: aliases.clone(),
            indexed_columns,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_other_than_dml_are_refused() {
        let ok = |d, sql| check_statement(d, sql).is_ok();
        assert!(ok(Dialect::Postgres, "SELECT * FROM t WHERE a = $1"));
        assert!(ok(Dialect::Postgres, "WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(ok(Dialect::Postgres, "UPDATE t SET a = 1 WHERE b = 2"));
        assert!(ok(Dialect::Postgres, "/* c */ (SELECT 1) UNION (SELECT 2)"));
        assert!(ok(Dialect::MySql, "REPLACE INTO t VALUES (1)"));
        assert!(ok(Dialect::MySql, "delete from t where a = ?"));
        for (d, sql) in [
            (Dialect::Postgres, "DROP TABLE t"),
            (Dialect::Postgres, "EXPLAIN ANALYZE DELETE FROM t"),
            (Dialect::Postgres, "ANALYZE t"),
            (Dialect::Postgres, "VACUUM t"),
            (Dialect::Postgres, "SELECT 1; DROP TABLE t"),
            (Dialect::Postgres, "SELECT nextval('s')"),
            (Dialect::Postgres, "SELECT pg_advisory_lock(1)"),
            (Dialect::Postgres, ""),
            (Dialect::Postgres, "-- only a comment"),
            (Dialect::MySql, "CREATE TABLE t (a int)"),
            (Dialect::MySql, "SET @a = 1"),
            (Dialect::MySql, "SELECT GET_LOCK('x', 1)"),
            (Dialect::MySql, "CALL p()"),
            (Dialect::MySql, "SHOW TABLES"),
        ] {
            let err = check_statement(d, sql).expect_err(sql);
            assert!(err.is_refused(), "{sql}: {err}");
        }
    }

    #[test]
    fn mysql_placeholders_outside_strings_comments_and_identifiers_are_bound() {
        let sql = "SELECT '?', `a?b`, \"?\" /* ? */ FROM t WHERE a = ? AND b = ? -- ?\n AND c = ?";
        let params = [Param::Text("it's \\ x".into()), Param::Int(-3), Param::Bytes(vec![0, 0xff])];
        let bound = bind_mysql(sql, &params, true).expect("three placeholders");
        assert_eq!(
            bound,
            "SELECT '?', `a?b`, \"?\" /* ? */ FROM t WHERE a = 'it''s \\\\ x' AND b = -3 -- ?\n AND c = X'00ff'"
        );
        let bound = bind_mysql("SELECT ?", &[Param::Text("a\\b".into())], false).expect("one");
        assert_eq!(bound, "SELECT 'a\\b'");
        assert_eq!(bind_mysql("SELECT ?", &[Param::Float(f64::NAN)], true).expect("one"), "SELECT NULL");
        assert!(matches!(bind_mysql("SELECT ?, ?", &[Param::Null], true), Err(ExplainError::Params(_))));
    }

    #[test]
    fn postgres_literals_and_placeholders() {
        assert_eq!(pg_placeholders("SELECT $2, '$3', \"$4\" FROM t WHERE a = $1 -- $9"), 2);
        assert_eq!(pg_placeholders("SELECT 1"), 0);
        assert_eq!(pg_literal(&Param::Text("o'k\\".into())), "'o''k\\'");
        assert_eq!(pg_literal(&Param::Bytes(vec![1, 0xab])), "'\\x01ab'::bytea");
        assert_eq!(pg_literal(&Param::Float(1.5)), "1.5");
        assert_eq!(pg_literal(&Param::Float(f64::NEG_INFINITY)), "'-Infinity'");
        assert_eq!(pg_literal(&Param::Null), "NULL");
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_addr("127.0.0.1:5432").expect("v4"), ("127.0.0.1".to_string(), 5432));
        assert_eq!(split_addr("[::1]:3306").expect("v6"), ("::1".to_string(), 3306));
        assert!(split_addr("localhost").is_err());
        assert!(split_addr(":5432").is_err());
        assert!(split_addr("h:99999").is_err());
    }

    #[test]
    fn target_debug_redacts_the_password() {
        let t = Target {
            engine: Engine::Postgres,
            addr: "h:1".into(),
            user: "u".into(),
            password: Some("hunter2".into()),
            database: None,
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn mysql_plan_tables_resolve_aliases() {
        let plan: Value = serde_json::from_str(include_str!("testdata/my_join_buffer.json")).expect("fixture");
        let aliases = vec![("u".to_string(), "users".to_string()), ("o".to_string(), "orders".to_string())];
        let tables = my_tables(&plan, &aliases);
        assert_eq!(
            tables,
            vec![
                (None, "users".to_string(), vec!["u".to_string()]),
                (None, "orders".to_string(), vec!["o".to_string()])
            ]
        );
        let rels = pg_relations(&serde_json::from_str(include_str!("testdata/pg_join.json")).expect("fixture"));
        assert_eq!(
            rels,
            vec![("orders".to_string(), vec!["o".to_string()]), ("users".to_string(), vec!["u".to_string()])]
        );
    }
}
