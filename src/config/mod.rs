//! The `proxy.toml` schema: one typed tree with every default in one place.
//!
//! Parsing is a pure function of text plus an environment map ([`Config::parse`]), so it is testable
//! without files or process state. Environment overrides are applied in [`env`], validation that lists
//! every problem with its key lives in [`validate`]. This module never opens sockets or reads other files
//! than the one it is asked to load.

mod env;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use validate::Problem;

/// Errors from loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file or an override is not valid; every problem found is listed.
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Config {
    /// Process-wide settings.
    pub general: General,
    /// Listener addresses.
    pub listen: Listen,
    /// TLS for client connections (both engines).
    pub tls: Tls,
    /// Users that clients log in as.
    pub users: Vec<User>,
    /// Admin users for the control port.
    pub admin: Admin,
    /// Pool settings shared by every pool unless a user overrides them.
    pub pool: PoolSettings,
    /// Routing rules.
    pub routing: Routing,
    /// Replica health checking.
    pub health: Health,
    /// The PostgreSQL cluster.
    pub postgres: Cluster,
    /// The MySQL / MariaDB cluster.
    pub mysql: Cluster,
    /// Query monitor thresholds.
    pub monitor: Monitor,
    /// Where history (snapshots, slow queries, digests, backups) is kept.
    pub store: Store,
    /// Table maintenance (ANALYZE / optimize): login, thresholds, timeouts.
    pub maintenance: Maintenance,
    /// Scheduled jobs in cron form.
    pub schedule: Schedule,
}

/// Process-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// Where the store, logs and backups live.
    pub data_dir: PathBuf,
    /// Where the daily log files (`slow_queries`, `performance`, `database`, `backup`) go; unset =
    /// `<data_dir>/logs`, `""` = no log files (stderr only).
    pub log_dir: Option<PathBuf>,
    /// How long SIGTERM waits for open transactions before cancelling them.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Most client connections accepted at once, both engines together.
    pub max_client_connections: usize,
    /// Largest protocol message accepted from a client, in bytes.
    pub max_message_size: usize,
    /// Capacity of the statement classification cache (entries).
    pub classify_cache_size: usize,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` wins when set.
    pub log_level: String,
    /// Runtime worker threads; 0 = one per core, 1 = a single-threaded runtime (no cross-thread wake-ups).
    pub worker_threads: usize,
}

impl Default for General {
    fn default() -> Self {
        General {
            data_dir: PathBuf::from("data"),
            log_dir: None,
            shutdown_timeout: Duration::from_secs(30),
            max_client_connections: 10_000,
            max_message_size: 64 * 1024 * 1024,
            classify_cache_size: 10_000,
            log_level: "info".into(),
            worker_threads: 0,
        }
    }
}

/// Listener addresses; an empty string turns a listener off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// PostgreSQL data port.
    pub postgres: String,
    /// MySQL data port.
    pub mysql: String,
    /// Control port (PostgreSQL protocol).
    pub admin: String,
    /// Optional control port speaking the MySQL protocol.
    pub admin_mysql: String,
    /// Prometheus metrics and health endpoints.
    pub metrics: String,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            postgres: "127.0.0.1:6432".into(),
            mysql: "127.0.0.1:6033".into(),
            admin: "127.0.0.1:6032".into(),
            admin_mysql: String::new(),
            metrics: "127.0.0.1:9187".into(),
        }
    }
}

/// Client-side TLS. Off unless both files are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

impl Tls {
    /// True when a certificate and key are configured.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

/// How a client proves who it is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// SCRAM-SHA-256 (PostgreSQL) / caching_sha2_password (MySQL).
    #[default]
    ScramSha256,
    /// MD5 (PostgreSQL) / mysql_native_password (MySQL).
    Md5,
    /// No password asked. Only for loopback set-ups that mirror a trusting server.
    Trust,
}

/// Whether a client keeps its backend for a transaction or for its whole session.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// A backend is held from the first statement of a transaction until it ends.
    #[default]
    Transaction,
    /// A backend is held for the client's whole session.
    Session,
}

/// A pool a statement can be sent to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The primary: writes and anything inside a read-write transaction.
    Write,
    /// Replicas (and the primary when `routing.primary_reads`).
    Read,
    /// Dedicated replicas for heavy reads.
    Analytics,
}

impl Role {
    /// Lower-case name, as used in hints, config and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Read => "read",
            Role::Analytics => "analytics",
        }
    }
}

/// A user clients log in as.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Plain password (needed for MD5 and for backend auth when `backend_password` is unset).
    pub password: Option<String>,
    /// Stored SCRAM verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` (instead of a password).
    pub scram_verifier: Option<String>,
    /// How the client authenticates to Switchyard.
    pub auth: AuthMethod,
    /// User name on the backends (default: the same name).
    pub backend_user: Option<String>,
    /// Password on the backends (default: `password`).
    pub backend_password: Option<String>,
    /// Pool mode for this user (default: `pool.mode`).
    pub pool_mode: Option<PoolMode>,
    /// Where this user's statements go when nothing else decides (default: by classification).
    pub default_route: Option<Role>,
    /// Most backends per server for this user's pools (default: `pool.max_connections`).
    pub max_connections: Option<usize>,
}

impl User {
    /// The user name on the backends.
    pub fn backend_name(&self) -> &str {
        self.backend_user.as_deref().unwrap_or(&self.name)
    }

    /// The password on the backends.
    pub fn backend_secret(&self) -> Option<&str> {
        self.backend_password.as_deref().or(self.password.as_deref())
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &redact(&self.password))
            .field("scram_verifier", &redact(&self.scram_verifier))
            .field("auth", &self.auth)
            .field("backend_user", &self.backend_user)
            .field("backend_password", &redact(&self.backend_password))
            .field("pool_mode", &self.pool_mode)
            .field("default_route", &self.default_route)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Control-port users.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Admin login name.
    pub user: String,
    /// Admin password.
    pub password: String,
}

impl Default for Admin {
    fn default() -> Self {
        Admin { user: "admin".into(), password: "admin".into() }
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

/// Pool sizing and timeouts (DESIGN §6).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// Default pool mode.
    pub mode: PoolMode,
    /// Backends kept open per server pool even when idle.
    pub min_connections: usize,
    /// Most backends per server pool (per user and database).
    pub max_connections: usize,
    /// How long a client waits for a backend before it gets an error.
    #[serde(with = "humantime_serde")]
    pub connection_timeout: Duration,
    /// How long a backend may connect and authenticate.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Idle backends above `min_connections` are closed after this long.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Backends are closed after this age (when idle).
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// A backend idle longer than this is pinged before reuse.
    #[serde(with = "humantime_serde")]
    pub health_check_after: Duration,
    /// Query run when a client that changed unknown session state gives its backend back.
    pub reset_query: String,
    /// Most named prepared statements kept per backend connection.
    pub prepared_statement_cache: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            mode: PoolMode::Transaction,
            min_connections: 5,
            max_connections: 20,
            connection_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            health_check_after: Duration::from_secs(30),
            reset_query: "DISCARD ALL".into(),
            prepared_statement_cache: 512,
        }
    }
}

/// How balancing picks a server within a pool.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Fewest queries in flight.
    #[default]
    LeastOutstanding,
    /// In turn.
    RoundRobin,
    /// At random, proportional to `weight`.
    WeightedRandom,
}

/// Routing rules (DESIGN §5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// Split reads to replicas at all; off sends everything to the primary.
    pub read_write_split: bool,
    /// Include the primary among read servers.
    pub primary_reads: bool,
    /// After a client writes, its reads go to the primary for this long (0 = off).
    #[serde(with = "humantime_serde")]
    pub read_your_writes: Duration,
    /// Balancing within a pool.
    pub balance: Balance,
    /// Statements touching these tables go to the analytics pool.
    pub analytics_tables: Vec<String>,
    /// Reads joining at least this many tables go to the analytics pool (0 = off).
    pub analytics_min_joins: usize,
    /// GROUP BY / window functions over `analytics_tables` go to analytics (always on when tables are set).
    pub analytics_aggregates: bool,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            read_write_split: true,
            primary_reads: false,
            read_your_writes: Duration::ZERO,
            balance: Balance::LeastOutstanding,
            analytics_tables: Vec::new(),
            analytics_min_joins: 0,
            analytics_aggregates: true,
        }
    }
}

/// Replica health checking (DESIGN §5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Health {
    /// How often every server is probed.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long one probe may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Replicas lagging more than this leave the read pool.
    #[serde(with = "humantime_serde")]
    pub max_replication_lag: Duration,
    /// How long a failed server stays out before it is tried again.
    #[serde(with = "humantime_serde")]
    pub ban_time: Duration,
    /// Failed probes in a row before a server is marked down.
    pub down_after: u32,
    /// User the probes log in as (default: the first configured user).
    pub user: Option<String>,
    /// Password for the probe user (default: that user's backend password).
    pub password: Option<String>,
    /// Database the probes connect to.
    pub database: String,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            max_replication_lag: Duration::from_secs(10),
            ban_time: Duration::from_secs(5),
            down_after: 3,
            user: None,
            password: None,
            database: String::new(),
        }
    }
}

/// One backend server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Name used by admin commands and metrics (unique within the cluster).
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// Share of reads for weighted balancing.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// A primary with its replicas and analytics servers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// The writable server; empty turns the engine off.
    pub primary: Option<ServerConfig>,
    /// Read replicas.
    pub replicas: Vec<ServerConfig>,
    /// Analytics replicas (reads of heavy statements).
    pub analytics: Vec<ServerConfig>,
    /// User the health probes of this cluster log in as (default: `health.user`, else the first user).
    pub health_user: Option<String>,
}

impl Cluster {
    /// Every configured server with the role it serves.
    pub fn servers(&self) -> impl Iterator<Item = (&ServerConfig, Role)> {
        self.primary
            .iter()
            .map(|s| (s, Role::Write))
            .chain(self.replicas.iter().map(|s| (s, Role::Read)))
            .chain(self.analytics.iter().map(|s| (s, Role::Analytics)))
    }
}

/// The query monitor (DESIGN §7).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Monitor {
    /// Monitoring on or off (`DB_MONITORING_ENABLED`).
    pub enabled: bool,
    /// Slow thresholds per statement type, in milliseconds (`select`, `insert`, `update`, `delete`, `other`...).
    pub slow_threshold_ms: BTreeMap<String, u64>,
    /// Most digests kept in memory; the least recently seen is evicted (and counted) beyond it.
    pub max_digests: usize,
    /// Capacity of the queue between sessions and the aggregator; a full queue drops (and counts) events.
    pub event_queue: usize,
    /// Run EXPLAIN for slow queries on a side connection.
    pub explain: bool,
    /// Statement timeout of an EXPLAIN.
    #[serde(with = "humantime_serde")]
    pub explain_timeout: Duration,
    /// At most one EXPLAIN per digest per this interval.
    #[serde(with = "humantime_serde")]
    pub explain_interval: Duration,
    /// How often a performance snapshot is taken and stored.
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Duration,
    /// A digest run this many times within one second by one client is reported as an N+1 pattern.
    pub n_plus_one_calls: u32,
}

impl Default for Monitor {
    fn default() -> Self {
        let slow = [("select", 1000), ("insert", 500), ("update", 500), ("delete", 500), ("other", 1000)];
        Monitor {
            enabled: true,
            slow_threshold_ms: slow.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            max_digests: 10_000,
            event_queue: 65_536,
            explain: true,
            explain_timeout: Duration::from_secs(5),
            explain_interval: Duration::from_secs(600),
            snapshot_interval: Duration::from_secs(60),
            n_plus_one_calls: 50,
        }
    }
}

/// The history store (DESIGN §10).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// `sqlite://path` or `postgres://...`; unset = an SQLite file `<data_dir>/switchyard.db`.
    pub url: Option<String>,
    /// Rows older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Most rows written in one transaction.
    pub batch_size: usize,
    /// Longest a row waits before its batch is written.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Capacity of the queue in front of the writer; a full queue drops (and counts) rows.
    pub queue: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            url: None,
            retention: Duration::from_secs(30 * 24 * 3600),
            batch_size: 500,
            flush_interval: Duration::from_secs(1),
            queue: 10_000,
        }
    }
}

/// Table maintenance (DESIGN §7): which tables need ANALYZE or optimize, and how it is run.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Maintenance {
    /// Backend login for maintenance: a configured user's name (its backend credentials are used) or a login of
    /// its own. Default: the engine's health-probe login (`[<engine>] health_user`, `health.user`, first user).
    pub user: Option<String>,
    /// Password for `user` when it is not a configured user (or to override its backend password).
    pub password: Option<String>,
    /// Databases (PostgreSQL) and schemas (MariaDB) whose tables are maintained; empty = every non-system one.
    /// A name that does not exist on one engine is ignored there.
    pub databases: Vec<String>,
    /// Longest wait for a table lock (`lock_timeout`; MariaDB `lock_wait_timeout` and
    /// `innodb_lock_wait_timeout`, rounded up to seconds); a table whose lock is not had in time is an error.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// Longest one ANALYZE / VACUUM / OPTIMIZE may run (`statement_timeout`; MariaDB `max_statement_time`).
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// ANALYZE a table when rows modified since its last analyze reach this percentage of its rows
    /// (PostgreSQL `n_mod_since_analyze`; MariaDB: drift of the row estimate from the persistent statistics).
    pub analyze_threshold_pct: f64,
    /// Optimize a table when dead rows (PostgreSQL) or free space (MariaDB `DATA_FREE`) reach this percentage.
    pub optimize_threshold_pct: f64,
    /// ... and there are at least this many dead rows (PostgreSQL).
    pub optimize_min_dead_rows: u64,
    /// ... and at least this many free bytes (MariaDB `DATA_FREE`).
    pub optimize_min_free_bytes: u64,
}

impl Default for Maintenance {
    fn default() -> Self {
        Maintenance {
            user: None,
            password: None,
            databases: Vec::new(),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(3600),
            analyze_threshold_pct: 10.0,
            optimize_threshold_pct: 20.0,
            optimize_min_dead_rows: 1000,
            optimize_min_free_bytes: 16 * 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("databases", &self.databases)
            .field("lock_timeout", &self.lock_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("analyze_threshold_pct", &self.analyze_threshold_pct)
            .field("optimize_threshold_pct", &self.optimize_threshold_pct)
            .field("optimize_min_dead_rows", &self.optimize_min_dead_rows)
            .field("optimize_min_free_bytes", &self.optimize_min_free_bytes)
            .finish()
    }
}

/// Scheduled jobs (DESIGN §9), in cron form: `minute hour day-of-month month day-of-week`, with an optional
/// leading seconds field. An empty string turns a job off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// ANALYZE the tables that need it (default daily at 02:00).
    pub analyze: String,
    /// Optimize the tables that need it (default Sundays at 03:00).
    pub optimize: String,
    /// Take a performance snapshot into the store (default every 5 minutes).
    pub monitor: String,
    /// Whose clock the expressions read: `local` or `utc`.
    pub timezone: String,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            analyze: "0 2 * * *".into(),
            optimize: "0 3 * * 0".into(),
            monitor: "*/5 * * * *".into(),
            timezone: "local".into(),
        }
    }
}

impl Config {
    /// The SQLite file or database URL of the store.
    pub fn store_url(&self) -> String {
        match &self.store.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.general.data_dir.join("switchyard.db").display()),
        }
    }

    /// The directory of the daily log files, if any.
    pub fn log_dir(&self) -> Option<PathBuf> {
        match &self.general.log_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => Some(self.general.data_dir.join("logs")),
        }
    }
}

impl Config {
    /// Parses configuration text, applies the overrides in `env`, and validates the result.
    ///
    /// Each section is deserialised on its own so that one bad section does not hide problems in the
    /// others; semantic checks run on the sections that did parse.
    pub fn parse(text: &str, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map(|s| line_of(text, s.start)).unwrap_or_default();
            ConfigError::Invalid(vec![Problem::new(at, e.message().to_string())])
        })?;
        let mut problems = env::apply(&mut table, env);
        let config = Config {
            general: section(&mut table, "general", &mut problems),
            listen: section(&mut table, "listen", &mut problems),
            tls: section(&mut table, "tls", &mut problems),
            users: section(&mut table, "users", &mut problems),
            admin: section(&mut table, "admin", &mut problems),
            pool: section(&mut table, "pool", &mut problems),
            routing: section(&mut table, "routing", &mut problems),
            health: section(&mut table, "health", &mut problems),
            postgres: section(&mut table, "postgres", &mut problems),
            mysql: section(&mut table, "mysql", &mut problems),
            monitor: section(&mut table, "monitor", &mut problems),
            store: section(&mut table, "store", &mut problems),
            maintenance: section(&mut table, "maintenance", &mut problems),
            schedule: section(&mut table, "schedule", &mut problems),
        };
        for key in table.keys() {
            problems.push(Problem::new(key.clone(), "unknown section".into()));
        }
        // Sections that failed to parse hold their (valid) defaults, so checking the whole tree still reports
        // only real problems, and an operator sees every one of them at once.
        problems.extend(validate::validate(&config));
        if problems.is_empty() { Ok(config) } else { Err(ConfigError::Invalid(problems)) }
    }

    /// Reads and parses a file with the process environment as overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Config::parse(&text, &env)
    }

    /// Every semantic problem of this configuration (empty when valid), as checked at load time; used to
    /// check a configuration changed at runtime before it is applied.
    pub fn problems(&self) -> Vec<Problem> {
        validate::validate(self)
    }

    /// The backend login of `name`: a configured user's backend name and password, else the name itself with
    /// no password.
    pub fn backend_login(&self, name: &str) -> (String, Option<String>) {
        match self.user(name) {
            Some(u) => (u.backend_name().to_string(), u.backend_secret().map(str::to_string)),
            None => (name.to_string(), None),
        }
    }

    /// The backend login of one engine's health probes: `[<engine>] health_user`, else `health.user`, else the
    /// first configured user, else `fallback`; the password is `health.password`, else that user's backend
    /// password.
    pub fn probe_login(&self, cluster: &Cluster, fallback: &str) -> (String, Option<String>) {
        let name = cluster
            .health_user
            .clone()
            .or_else(|| self.health.user.clone())
            .or_else(|| self.users.first().map(|u| u.name.clone()))
            .unwrap_or_else(|| fallback.to_string());
        let (login, password) = self.backend_login(&name);
        (login, self.health.password.clone().or(password))
    }

    /// The user named `name`, if configured.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

fn line_of(text: &str, offset: usize) -> String {
    let line = text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1;
    format!("line {line}")
}

/// Deserialises `table[key]` (or the default when absent), recording a problem with the full key path on error.
fn section<T: serde::de::DeserializeOwned + Default>(
    table: &mut toml::Table,
    key: &str,
    problems: &mut Vec<Problem>,
) -> T {
    let Some(value) = table.remove(key) else { return T::default() };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let full = if path == "." { key.to_string() } else { format!("{key}.{path}") };
            problems.push(Problem::new(full, e.into_inner().message().to_string()));
            T::default()
        }
    }
}

#[cfg(test)]
mod tests;
