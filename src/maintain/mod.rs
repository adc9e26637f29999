//! Table maintenance (DESIGN §7): which tables need ANALYZE or optimize, chosen from catalog statistics, and
//! running those statements one table at a time with lock and statement timeouts, each outcome recorded as a
//! [`MaintenanceRow`] in the store.
//!
//! PostgreSQL: candidates from `pg_stat_user_tables` of each maintained database (modifications since analyze,
//! dead tuples), actions `ANALYZE` and `VACUUM (ANALYZE)`. MariaDB: candidates from `information_schema.TABLES`
//! (`DATA_FREE`) and the persistent statistics, actions `ANALYZE TABLE .. PERSISTENT FOR ALL` and
//! `OPTIMIZE TABLE`. Only the primary of each engine is maintained (replicas get the results by replication).
//! The thresholds are in `[maintenance]`; the rules are in [`policy`].
//!
//! [`Maintainer`] is the one entry point: the CLI (`switchyard optimize`), the control port (`SHOW TABLES STATUS`,
//! `ANALYZE TABLE`, `OPTIMIZE TABLE`) and the scheduler call it. One maintainer runs one statement at a time; a
//! second request while one runs is refused with [`MaintainError::Busy`] rather than queued behind an hour-long
//! VACUUM.
//!
//! Deliberately not here: when to run (`schedule`), closing idle proxy connections (the control port), and
//! `VACUUM FULL` (its exclusive lock blocks every reader of the table for the whole rewrite).

mod control;
mod login;
mod mysql;
pub mod policy;
mod postgres;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
pub use crate::monitor::explain::Engine;
use crate::store::{MaintenanceRow, Record, Writer};
pub use login::{Login, login};

/// What can go wrong before a table's statement is sent. Once a table is chosen, its outcome (including errors)
/// is a [`MaintenanceRow`] instead.
#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    /// No primary is configured for the engine asked for (or for any engine).
    #[error("no {0} primary is configured")]
    NotConfigured(&'static str),
    /// No maintained table has that name.
    #[error("no table named {0}")]
    NotFound(String),
    /// Several tables match the name.
    #[error("{name} is ambiguous: {}", matches.join(", "))]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The qualified names it matches.
        matches: Vec<String>,
    },
    /// Another maintenance run is in progress.
    #[error("another maintenance run is in progress")]
    Busy,
    /// No configured backend could be surveyed.
    #[error("no backend could be reached: {0}")]
    Unreachable(String),
    /// The server address is not `host:port`.
    #[error("bad server address {0:?}")]
    Address(String),
    /// Connecting took longer than `pool.connect_timeout`.
    #[error("connect timed out after {0:?}")]
    Timeout(Duration),
    /// A catalog read or a connection failed.
    #[error("{what}: {source}")]
    Database {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// A closure turning a driver error into [`MaintainError::Database`] tagged with `what`.
fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> MaintainError {
    move |source| MaintainError::Database { what, source }
}

/// `postgres` or `mysql`.
pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
    }
}

/// A maintenance action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refresh planner statistics.
    Analyze,
    /// Reclaim space (and refresh statistics): PostgreSQL `VACUUM (ANALYZE)`, MariaDB `OPTIMIZE TABLE`.
    Optimize,
}

impl Action {
    /// `analyze` or `optimize`, as stored in `maintenance_runs.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Analyze => "analyze",
            Action::Optimize => "optimize",
        }
    }
}

/// One table as the catalogs describe it, with what it needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableStatus {
    /// The engine.
    pub engine: Engine,
    /// The primary's `host:port`.
    pub server: String,
    /// PostgreSQL database; MariaDB schema.
    pub database: String,
    /// PostgreSQL schema; MariaDB schema (same as `database`).
    pub schema: String,
    /// The table's name.
    pub table: String,
    /// Live rows (PostgreSQL `n_live_tup`; MariaDB `TABLE_ROWS`, an estimate).
    pub live_rows: i64,
    /// Dead rows (PostgreSQL `n_dead_tup`; not known on MariaDB).
    pub dead_rows: Option<i64>,
    /// Rows modified since the last analyze (PostgreSQL `n_mod_since_analyze`; MariaDB the drift of the row
    /// estimate from the persistent statistics, unknown when never analyzed).
    pub modified_since_analyze: Option<i64>,
    /// Space used (PostgreSQL `pg_table_size`; MariaDB `DATA_LENGTH + INDEX_LENGTH`).
    pub size_bytes: i64,
    /// Free space inside the table's files (MariaDB `DATA_FREE`; not known on PostgreSQL).
    pub free_bytes: Option<i64>,
    /// When statistics were last gathered (PostgreSQL the later of `last_analyze` / `last_autoanalyze`; MariaDB
    /// `mysql.innodb_table_stats.last_update`).
    pub last_analyzed: Option<DateTime<Utc>>,
    /// Why it needs ANALYZE, if it does.
    pub analyze: Option<String>,
    /// Why it needs optimize, if it does.
    pub optimize: Option<String>,
}

impl TableStatus {
    /// Column names of [`TableStatus::to_row`], for `SHOW TABLES STATUS`.
    pub const COLUMNS: &'static [&'static str] = &[
        "engine",
        "server",
        "table",
        "live_rows",
        "dead_rows",
        "modified_since_analyze",
        "size_bytes",
        "free_bytes",
        "last_analyzed",
        "action",
        "reason",
    ];

    /// The qualified name used in commands and in `maintenance_runs.table_name`: PostgreSQL
    /// `database.schema.table`, MariaDB `schema.table`.
    pub fn name(&self) -> String {
        match self.engine {
            Engine::Postgres => format!("{}.{}.{}", self.database, self.schema, self.table),
            Engine::Mysql => format!("{}.{}", self.schema, self.table),
        }
    }

    /// True when the catalogs say the table needs `action`.
    pub fn needs(&self, action: Action) -> bool {
        match action {
            Action::Analyze => self.analyze.is_some(),
            Action::Optimize => self.optimize.is_some(),
        }
    }

    /// The action to take, optimize first (it refreshes statistics too), and why.
    pub fn recommended(&self) -> Option<(Action, &str)> {
        self.optimize
            .as_deref()
            .map(|r| (Action::Optimize, r))
            .or_else(|| self.analyze.as_deref().map(|r| (Action::Analyze, r)))
    }

    /// One row of `SHOW TABLES STATUS` in [`TableStatus::COLUMNS`] order, as text (`None` = NULL).
    pub fn to_row(&self) -> Vec<Option<String>> {
        let (action, reason) = match self.recommended() {
            Some((a, r)) => (Some(a.as_str().to_string()), Some(r.to_string())),
            None => (None, None),
        };
        vec![
            Some(engine_name(self.engine).to_string()),
            Some(self.server.clone()),
            Some(self.name()),
            Some(self.live_rows.to_string()),
            self.dead_rows.map(|v| v.to_string()),
            self.modified_since_analyze.map(|v| v.to_string()),
            Some(self.size_bytes.to_string()),
            self.free_bytes.map(|v| v.to_string()),
            self.last_analyzed.map(|t| t.to_rfc3339()),
            action,
            reason,
        ]
    }

    /// True when `name` names this table: its qualified name, `schema.table`, or the bare table name, compared
    /// case-insensitively, with `"` or `` ` `` quotes around parts ignored.
    pub fn matches(&self, name: &str) -> bool {
        let parts: Vec<String> =
            name.split('.').map(|p| p.trim().trim_matches(|c| c == '"' || c == '`').to_string()).collect();
        let own: Vec<&str> = match self.engine {
            Engine::Postgres => vec![&self.database, &self.schema, &self.table],
            Engine::Mysql => vec![&self.schema, &self.table],
        };
        parts.len() <= own.len()
            && parts.iter().rev().zip(own.iter().rev()).all(|(a, b)| a.eq_ignore_ascii_case(b))
            && !parts.is_empty()
    }
}

/// Column names of [`outcome_row`], for the reply to `ANALYZE TABLE` / `OPTIMIZE TABLE` on the control port
/// (`switchyard optimize` reads `outcome` and `detail` from it).
pub const OUTCOME_COLUMNS: &[&str] = &["engine", "server", "table", "action", "outcome", "duration_ms", "detail"];

/// One maintenance outcome as text in [`OUTCOME_COLUMNS`] order.
pub fn outcome_row(row: &MaintenanceRow) -> Vec<Option<String>> {
    vec![
        Some(row.engine.clone()),
        Some(row.server.clone()),
        Some(row.table_name.clone()),
        Some(row.action.clone()),
        Some(row.outcome.clone()),
        Some(format!("{:.1}", row.duration_ms)),
        row.detail.clone(),
    ]
}

/// A backend (or one of its databases) that could not be surveyed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyError {
    /// The engine.
    pub engine: Engine,
    /// The primary's `host:port`.
    pub server: String,
    /// The PostgreSQL database, when only that one failed.
    pub database: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Every maintained table of every configured engine, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Survey {
    /// The tables, per engine, largest first.
    pub tables: Vec<TableStatus>,
    /// Backends or databases that could not be read.
    pub errors: Vec<SurveyError>,
}

/// Progress of a run, for a caller that shows it.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// About to run `action` on `table`: the `index`th (from 1) of `total`.
    Started {
        /// Position, from 1.
        index: usize,
        /// Statements in the run.
        total: usize,
        /// The table.
        table: &'a TableStatus,
        /// The action.
        action: Action,
    },
    /// Finished the `index`th statement.
    Finished {
        /// Position, from 1.
        index: usize,
        /// Statements in the run.
        total: usize,
        /// Its outcome.
        row: &'a MaintenanceRow,
    },
}

/// Runs maintenance against the configured primaries and records each outcome.
pub struct Maintainer {
    config: Arc<ArcSwap<Config>>,
    writer: Option<Writer>,
    busy: tokio::sync::Mutex<()>,
}

impl Maintainer {
    /// A maintainer over a fixed configuration; outcomes go to `writer` when given.
    pub fn new(config: Arc<Config>, writer: Option<Writer>) -> Maintainer {
        Maintainer::shared(Arc::new(ArcSwap::new(config)), writer)
    }

    /// A maintainer that reads the proxy's live configuration at each call (so reloads apply).
    pub fn shared(config: Arc<ArcSwap<Config>>, writer: Option<Writer>) -> Maintainer {
        Maintainer { config, writer, busy: tokio::sync::Mutex::new(()) }
    }

    /// The engines with a primary configured.
    pub fn engines(&self) -> Vec<Engine> {
        let config = self.config.load();
        [Engine::Postgres, Engine::Mysql].into_iter().filter(|e| login(&config, *e).is_some()).collect()
    }

    /// Reads the catalogs of every configured primary: every maintained table and what it needs. A backend
    /// that cannot be read is listed in [`Survey::errors`] and the others are still surveyed.
    pub async fn survey(&self) -> Survey {
        let config = self.config.load_full();
        let mut survey = Survey::default();
        if let Some(login) = login(&config, Engine::Postgres) {
            let error = |database: Option<&str>, e: MaintainError| SurveyError {
                engine: Engine::Postgres,
                server: login.addr.clone(),
                database: database.map(str::to_string),
                message: e.to_string(),
            };
            match postgres::databases(&config, &login).await {
                Ok(databases) => {
                    for database in databases {
                        match postgres::tables(&config, &login, &database).await {
                            Ok(tables) => survey.tables.extend(tables),
                            Err(e) => survey.errors.push(error(Some(&database), e)),
                        }
                    }
                }
                Err(e) => survey.errors.push(error(None, e)),
            }
        }
        if let Some(login) = login(&config, Engine::Mysql) {
            match mysql::tables(&config, &login).await {
                Ok(tables) => survey.tables.extend(tables),
                Err(e) => survey.errors.push(SurveyError {
                    engine: Engine::Mysql,
                    server: login.addr.clone(),
                    database: None,
                    message: e.to_string(),
                }),
            }
        }
        for e in &survey.errors {
            tracing::warn!(target: "database", engine = engine_name(e.engine), server = %e.server, database = ?e.database, error = %e.message, "maintenance survey failed");
        }
        survey
    }

    /// The tables that need ANALYZE or optimize. Fails only when no configured backend could be read (or none is
    /// configured); a partial failure is logged and the readable backends' candidates returned.
    pub async fn candidates(&self) -> Result<Vec<TableStatus>, MaintainError> {
        let survey = self.survey_checked().await?;
        Ok(survey.tables.into_iter().filter(|t| t.recommended().is_some()).collect())
    }

    /// [`Maintainer::survey`], failing when nothing is configured or every engine failed.
    async fn survey_checked(&self) -> Result<Survey, MaintainError> {
        let engines = self.engines();
        if engines.is_empty() {
            return Err(MaintainError::NotConfigured("postgres or mysql"));
        }
        let survey = self.survey().await;
        let failed = |e: &Engine| survey.errors.iter().any(|x| x.engine == *e && x.database.is_none());
        if engines.iter().all(failed) {
            let all: Vec<String> = survey.errors.iter().map(|e| e.message.clone()).collect();
            return Err(MaintainError::Unreachable(all.join("; ")));
        }
        Ok(survey)
    }

    /// The one maintained table named `name` (see [`TableStatus::matches`]), on `engine` or on either.
    pub async fn find(&self, engine: Option<Engine>, name: &str) -> Result<TableStatus, MaintainError> {
        if let Some(e) = engine
            && !self.engines().contains(&e)
        {
            return Err(MaintainError::NotConfigured(engine_name(e)));
        }
        let survey = self.survey_checked().await?;
        let mut found: Vec<TableStatus> =
            survey.tables.into_iter().filter(|t| engine.is_none_or(|e| t.engine == e) && t.matches(name)).collect();
        match found.len() {
            0 => Err(MaintainError::NotFound(name.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(MaintainError::Ambiguous {
                name: name.to_string(),
                matches: found.iter().map(|t| format!("{} ({})", t.name(), engine_name(t.engine))).collect(),
            }),
        }
    }

    /// ANALYZEs the table named `name`, whatever its statistics say, and records the outcome.
    pub async fn analyze(&self, engine: Option<Engine>, name: &str) -> Result<MaintenanceRow, MaintainError> {
        self.one(engine, name, Action::Analyze).await
    }

    /// Optimizes the table named `name`, whatever its statistics say, and records the outcome.
    pub async fn optimize(&self, engine: Option<Engine>, name: &str) -> Result<MaintenanceRow, MaintainError> {
        self.one(engine, name, Action::Optimize).await
    }

    async fn one(&self, engine: Option<Engine>, name: &str, action: Action) -> Result<MaintenanceRow, MaintainError> {
        let _running = self.busy.try_lock().map_err(|_| MaintainError::Busy)?;
        let table = self.find(engine, name).await?;
        Ok(self.execute(&table, action).await)
    }

    /// The statements a run of `actions` makes over `tables`, in order: for each table needing it, optimize, then
    /// analyze unless a PostgreSQL optimize (`VACUUM (ANALYZE)`) already did. A MariaDB optimize is always
    /// followed by an analyze: the rebuild drops the table's persistent statistics.
    pub fn plan(tables: &[TableStatus], actions: &[Action]) -> Vec<(TableStatus, Action)> {
        let mut out = Vec::new();
        for t in tables {
            let optimize = actions.contains(&Action::Optimize) && t.needs(Action::Optimize);
            if optimize {
                out.push((t.clone(), Action::Optimize));
            }
            let analyzed_by_vacuum = optimize && t.engine == Engine::Postgres;
            let rebuilt = optimize && t.engine == Engine::Mysql;
            let wanted = actions.contains(&Action::Analyze) && t.needs(Action::Analyze);
            if rebuilt || (wanted && !analyzed_by_vacuum) {
                out.push((t.clone(), Action::Analyze));
            }
        }
        out
    }

    /// Runs `actions` on every table that needs them, one at a time, and returns the outcomes.
    pub async fn run(&self, actions: &[Action]) -> Result<Vec<MaintenanceRow>, MaintainError> {
        self.run_with(actions, &|_| {}).await.map(|(rows, _)| rows)
    }

    /// [`Maintainer::run`] reporting progress to `progress`; also returns the survey's partial failures.
    pub async fn run_with(
        &self,
        actions: &[Action],
        progress: &(dyn Fn(Progress<'_>) + Send + Sync),
    ) -> Result<(Vec<MaintenanceRow>, Vec<SurveyError>), MaintainError> {
        let _running = self.busy.try_lock().map_err(|_| MaintainError::Busy)?;
        let survey = self.survey_checked().await?;
        let plan = Maintainer::plan(&survey.tables, actions);
        let total = plan.len();
        let mut rows = Vec::with_capacity(total);
        for (i, (table, action)) in plan.iter().enumerate() {
            progress(Progress::Started { index: i + 1, total, table, action: *action });
            let row = self.execute(table, *action).await;
            progress(Progress::Finished { index: i + 1, total, row: &row });
            rows.push(row);
        }
        Ok((rows, survey.errors))
    }

    /// Runs `action` on `table` on a connection of its own, logs and records the outcome.
    async fn execute(&self, table: &TableStatus, action: Action) -> MaintenanceRow {
        let config = self.config.load_full();
        let started_at = Utc::now();
        let clock = Instant::now();
        let result = match login(&config, table.engine) {
            None => Err(MaintainError::NotConfigured(engine_name(table.engine)).to_string()),
            Some(login) => match table.engine {
                Engine::Postgres => {
                    let sql = postgres::statement(table, action);
                    match postgres::connect(&config, &login, &table.database).await {
                        Ok(mut conn) => postgres::run(&mut conn, &sql).await,
                        Err(e) => Err(e.to_string()),
                    }
                }
                Engine::Mysql => {
                    let sql = mysql::statement(table, action);
                    match mysql::connect(&config, &login).await {
                        Ok(mut conn) => mysql::run(&mut conn, &sql).await,
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        };
        let (outcome, detail) = match result {
            Ok(None) => ("ok", None),
            Ok(Some(reason)) => ("skipped", Some(reason)),
            Err(e) => ("error", Some(e)),
        };
        let row = MaintenanceRow {
            started_at,
            finished_at: Utc::now(),
            engine: engine_name(table.engine).to_string(),
            server: table.server.clone(),
            table_name: table.name(),
            action: action.as_str().to_string(),
            outcome: outcome.to_string(),
            duration_ms: clock.elapsed().as_secs_f64() * 1000.0,
            detail,
        };
        tracing::info!(
            target: "database",
            engine = %row.engine,
            table = %row.table_name,
            action = %row.action,
            outcome = %row.outcome,
            duration_ms = row.duration_ms,
            detail = row.detail.as_deref().unwrap_or(""),
            "table maintenance"
        );
        if let Some(w) = &self.writer {
            w.push(Record::Maintenance(row.clone()));
        }
        row
    }
}

#[cfg(test)]
mod tests;
