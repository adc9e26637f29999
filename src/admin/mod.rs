//! The control port: SQL-like commands over the proxy's live state (pools, servers, clients, monitor, store,
//! maintenance), served by one command engine ([`Context::execute`]) behind two listeners — the PostgreSQL
//! protocol ([`pg`], `listen.admin`, default 127.0.0.1:6032) and optionally the MySQL protocol ([`mysql`],
//! `listen.admin_mysql`) — both authenticating against `[admin] user / password`.
//!
//! The parser ([`parse`]) is pure; each command (or small family) lives in its own file under [`commands`];
//! every command answers a [`ResultSet`] of text columns. Errors never close a control connection.
//!
//! Deliberately not here: table maintenance itself (plugged in through the [`Maintenance`] trait), the CLI,
//! and anything on the data path.

pub mod commands;
pub mod mysql;
pub mod parse;
pub mod pg;
pub mod result;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::server::{Live, ServerError};
use crate::session::clients::Clients;
use crate::store::{MaintenanceRow, Store};
use crate::telemetry::Telemetry;

pub use parse::{Command, ParseError};
pub use result::ResultSet;

/// Why a command failed. Each kind maps to a SQLSTATE ([`AdminError::sqlstate`]) and a MySQL error code.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Not a command, or bad arguments (42601).
    #[error(transparent)]
    Syntax(#[from] ParseError),
    /// A named server, client, pool, digest or setting does not exist (42704).
    #[error("{0}")]
    NotFound(String),
    /// A value is out of range or not of the right type (22023).
    #[error("{0}")]
    InvalidValue(String),
    /// The feature is not available in this process (0A000).
    #[error("{0}")]
    Unavailable(String),
    /// The command ran and failed (XX000 / 58000 for the store).
    #[error("{0}")]
    Failed(String),
}

impl AdminError {
    /// The SQLSTATE a PostgreSQL client sees.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            AdminError::Syntax(_) => "42601",
            AdminError::NotFound(_) => "42704",
            AdminError::InvalidValue(_) => "22023",
            AdminError::Unavailable(_) => "0A000",
            AdminError::Failed(_) => "XX000",
        }
    }
}

/// Table maintenance as the control port uses it (implemented by [`crate::maintain::Maintainer`]; a trait so
/// that the command engine does not depend on how maintenance connects).
pub trait Maintenance: Send + Sync {
    /// `SHOW TABLES STATUS`: the maintenance candidates of every engine, with the statistics they were chosen
    /// by (any columns the implementation finds useful; text values).
    fn tables_status(&self) -> BoxFuture<'_, Result<ResultSet, String>>;
    /// `ANALYZE TABLE <table>`: refreshes the statistics of `table` (as the operator wrote it, possibly
    /// `schema.table` / `db.table`) on every engine that has it; one row per table and server touched.
    fn analyze<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Vec<MaintenanceRow>, String>>;
    /// `OPTIMIZE TABLE <table>`: PostgreSQL `VACUUM (ANALYZE)`, MariaDB `OPTIMIZE TABLE`; as [`Maintenance::analyze`].
    fn optimize<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Vec<MaintenanceRow>, String>>;
}

/// Everything the commands read and change.
pub struct Context {
    /// Configuration, monitor and engines.
    pub live: Arc<Live>,
    /// Metrics, samples and the store writer.
    pub telemetry: Arc<Telemetry>,
    /// The history store, when open.
    pub store: Option<Store>,
    /// Live client sessions.
    pub clients: Arc<Clients>,
    /// Table maintenance (`SHOW TABLES STATUS`, `ANALYZE TABLE`, `OPTIMIZE TABLE`).
    pub maintenance: Arc<dyn Maintenance>,
    /// When the proxy started.
    pub started: Instant,
}

impl Context {
    /// The command engine over a running proxy.
    pub fn new(
        live: Arc<Live>,
        telemetry: Arc<Telemetry>,
        store: Option<Store>,
        clients: Arc<Clients>,
        maintenance: Arc<dyn Maintenance>,
    ) -> Arc<Context> {
        Arc::new(Context { live, telemetry, store, clients, maintenance, started: Instant::now() })
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// Parses and runs one command.
    pub async fn execute(&self, text: &str) -> Result<ResultSet, AdminError> {
        let command = parse::parse(text)?;
        self.run(&command).await
    }

    /// Runs a parsed command.
    pub async fn run(&self, command: &Command) -> Result<ResultSet, AdminError> {
        commands::run(self, command).await
    }
}

/// Binds the configured control ports and starts serving them until `shutdown`. Returns the bound addresses
/// (PostgreSQL protocol, MySQL protocol).
pub async fn listen(
    context: &Arc<Context>,
    config: &Config,
    shutdown: CancellationToken,
) -> Result<(Option<SocketAddr>, Option<SocketAddr>), ServerError> {
    let bind = |what: &'static str, addr: String| async move {
        TcpListener::bind(&addr).await.map_err(|source| ServerError::Bind { what, addr, source })
    };
    let mut pg_addr = None;
    if !config.listen.admin.is_empty() {
        let listener = bind("admin", config.listen.admin.clone()).await?;
        pg_addr = listener.local_addr().ok();
        tracing::info!(addr = ?pg_addr, "control port (postgres protocol) ready");
        tokio::spawn(pg::serve(listener, context.clone(), shutdown.clone()));
    }
    let mut my_addr = None;
    if !config.listen.admin_mysql.is_empty() {
        let listener = bind("admin_mysql", config.listen.admin_mysql.clone()).await?;
        my_addr = listener.local_addr().ok();
        tracing::info!(addr = ?my_addr, "control port (mysql protocol) ready");
        tokio::spawn(mysql::serve(listener, context.clone(), shutdown));
    }
    Ok((pg_addr, my_addr))
}
