//! Listeners and the process lifecycle: bind, accept (bounded by `max_client_connections`), one task per
//! client on a `TaskTracker`, health checkers, SIGHUP-style reload and SIGTERM-style drain.
//!
//! Drain: stop accepting, let sessions inside a transaction finish it (idle ones are closed at once), and after
//! `shutdown_timeout` cancel whatever is left.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin;
use crate::config::{Config, ConfigError};
use crate::maintain::Maintainer;
use crate::monitor::{Monitor, SlowLog};
use crate::pool::health::spawn_health;
use crate::schedule;
use crate::session::clients::{Client, Clients};
use crate::session::mysql::{self as mysession, MyEngine, backend::MyProbe};
use crate::session::postgres::{self as pgsession, PgEngine, backend::PgProbe};
use crate::store::Store;
use crate::telemetry::{MetricsSink, Telemetry, spawn_snapshots};

/// Errors starting the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("bind {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::net::TlsError),
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The history store could not be opened.
    #[error("store: {0}")]
    Store(String),
}

/// The parts a configuration change touches, shared by the [`Handle`] and the control port: the configuration
/// in force, the monitor, the engines, and the file the configuration came from (for `RELOAD`).
pub struct Live {
    config: Arc<arc_swap::ArcSwap<Config>>,
    monitor: Arc<Monitor>,
    postgres: Option<Arc<PgEngine>>,
    mysql: Option<Arc<MyEngine>>,
    file: parking_lot::Mutex<Option<PathBuf>>,
}

impl Live {
    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Swaps in a new (already validated) configuration. Pool sizes, timeouts, thresholds and routing take
    /// effect at once; listener addresses need a restart and are reported.
    pub fn apply(&self, new: Config) -> Vec<String> {
        let old = self.config();
        let mut notes = Vec::new();
        if old.listen != new.listen {
            notes.push("listener addresses changed: restart to apply".to_string());
        }
        if old.schedule != new.schedule {
            notes.push("schedule changed: restart to apply".to_string());
        }
        let new = Arc::new(new);
        self.monitor.reload(&new.monitor);
        if let Some(pg) = &self.postgres {
            pg.reload(new.clone());
        }
        if let Some(my) = &self.mysql {
            my.reload(new.clone());
        }
        self.config.store(new);
        notes
    }

    /// The PostgreSQL engine, when running.
    pub fn postgres(&self) -> Option<&Arc<PgEngine>> {
        self.postgres.as_ref()
    }

    /// The MySQL engine, when running.
    pub fn mysql(&self) -> Option<&Arc<MyEngine>> {
        self.mysql.as_ref()
    }

    /// The query monitor.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// Remembers the file the configuration was loaded from, for [`Live::reload_file`].
    pub fn set_file(&self, path: PathBuf) {
        *self.file.lock() = Some(path);
    }

    /// The file the configuration was loaded from, when known.
    pub fn file(&self) -> Option<PathBuf> {
        self.file.lock().clone()
    }

    /// Re-reads the configuration file and applies it; a file that does not load or validate changes nothing.
    /// Returns the notes of [`Live::apply`].
    pub fn reload_file(&self) -> Result<Vec<String>, ReloadError> {
        let path = self.file().ok_or(ReloadError::NoFile)?;
        let new = Config::load(&path)?;
        Ok(self.apply(new))
    }
}

/// Why a reload from the configuration file changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The proxy was started from a configuration built in memory, not from a file.
    #[error("no configuration file is known (the proxy was not started from a file)")]
    NoFile,
    /// The file could not be read or is invalid; every problem is listed.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// A running proxy.
pub struct Handle {
    /// Where the PostgreSQL listener is bound (resolved port when configured with port 0).
    pub postgres_addr: Option<SocketAddr>,
    /// The PostgreSQL engine, for admin and tests.
    pub postgres: Option<Arc<PgEngine>>,
    /// Where the MySQL listener is bound (resolved port when configured with port 0).
    pub mysql_addr: Option<SocketAddr>,
    /// The MySQL engine, for admin and tests.
    pub mysql: Option<Arc<MyEngine>>,
    /// The query monitor both engines report to.
    pub monitor: Arc<Monitor>,
    /// Metrics, snapshots and readiness over the running parts.
    pub telemetry: Arc<Telemetry>,
    /// The history store, when one is open.
    pub store: Option<Store>,
    /// Where the metrics endpoint is bound, when configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Table maintenance over the configured primaries (control port, scheduler).
    pub maintainer: Arc<Maintainer>,
    /// Where the control port (PostgreSQL protocol) is bound, when configured.
    pub admin_addr: Option<SocketAddr>,
    /// Where the MySQL-protocol control port is bound, when configured.
    pub admin_mysql_addr: Option<SocketAddr>,
    /// Live client sessions of both engines.
    pub clients: Arc<Clients>,
    /// The command engine behind the control ports (usable in-process too).
    pub admin: Arc<admin::Context>,
    live: Arc<Live>,
    /// Stops accepting and closes idle sessions.
    drain: CancellationToken,
    /// Cancels everything still running after the drain timeout.
    hard: CancellationToken,
    /// Stops the monitor, store writer, snapshots and metrics endpoint after the sessions are gone.
    background: CancellationToken,
    tracker: TaskTracker,
}

impl Handle {
    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// Swaps in a new (already validated) configuration. Pool sizes, timeouts and routing take effect at once;
    /// listener addresses need a restart and are reported.
    pub fn reload(&self, new: Config) -> Vec<String> {
        self.live.apply(new)
    }

    /// Remembers the configuration file, so that `RELOAD` on the control port (and [`Handle::reload_file`])
    /// can re-read it.
    pub fn set_config_file(&self, path: PathBuf) {
        self.live.set_file(path);
    }

    /// Re-reads the configuration file given to [`Handle::set_config_file`] and applies it.
    pub fn reload_file(&self) -> Result<Vec<String>, ReloadError> {
        self.live.reload_file()
    }

    /// Drains: stops accepting, waits up to `shutdown_timeout` for sessions to finish their transactions, then
    /// cancels the rest.
    pub async fn shutdown(&self) {
        let timeout = self.config().general.shutdown_timeout;
        self.drain.cancel();
        self.tracker.close();
        if tokio::time::timeout(timeout, self.tracker.wait()).await.is_err() {
            tracing::warn!(remaining = self.tracker.len(), "shutdown timeout reached; cancelling sessions");
            self.hard.cancel();
            self.tracker.wait().await;
        }
        if let Some(pg) = &self.postgres {
            pg.close_pools();
        }
        if let Some(my) = &self.mysql {
            my.close_pools();
        }
        self.hard.cancel();
        // The last statements reach the slow log and the store before the writer stops (it writes what is
        // queued when cancelled).
        if tokio::time::timeout(timeout, self.telemetry.settle()).await.is_err() {
            tracing::warn!("monitor did not settle within the shutdown timeout");
        }
        self.background.cancel();
        if let Some(w) = &self.telemetry.writer {
            let _ = tokio::time::timeout(timeout, w.finished()).await;
        }
    }
}

/// Binds every configured listener and starts serving.
pub async fn start(config: Config) -> Result<Handle, ServerError> {
    let config = Arc::new(config);
    let drain = CancellationToken::new();
    let hard = CancellationToken::new();
    let tracker = TaskTracker::new();
    let admission = Arc::new(Semaphore::new(config.general.max_client_connections));
    let tls = crate::net::acceptor(&config.tls)?;
    let ids = Arc::new(AtomicU64::new(1));
    let shared_config = Arc::new(arc_swap::ArcSwap::new(config.clone()));
    // Monitor, store and metrics outlive the sessions: they stop after the drain, once settled.
    let background = CancellationToken::new();
    let monitor = Monitor::new(&config.monitor);
    spawn_aggregator(monitor.clone(), background.clone());
    let metrics = Arc::new(crate::metrics::Metrics::new().map_err(|e| ServerError::Metrics(e.to_string()))?);
    let store = if config.monitor.enabled {
        Some(Store::open(&config.store_url()).await.map_err(|e| ServerError::Store(e.to_string()))?)
    } else {
        None
    };
    let writer = store.as_ref().map(|s| s.spawn_writer(&config.store, background.clone()));
    let slowlog = SlowLog::spawn(shared_config.clone(), writer.clone(), background.clone());
    monitor.add_sink(slowlog.clone());
    monitor.add_sink(Arc::new(MetricsSink(metrics.clone())));
    let registry = Clients::new();

    let mut postgres_addr = None;
    let mut postgres = None;
    if !config.listen.postgres.is_empty() && config.postgres.primary.is_some() {
        let listener = TcpListener::bind(&config.listen.postgres).await.map_err(|source| ServerError::Bind {
            what: "postgres",
            addr: config.listen.postgres.clone(),
            source,
        })?;
        postgres_addr = listener.local_addr().ok();
        let engine = PgEngine::new(config.clone(), drain.clone(), monitor.clone());
        spawn_health(engine.topology.clone(), Arc::new(pg_probe(&config)), config.health.clone(), hard.clone());
        tracing::info!(addr = ?postgres_addr, "postgres listener ready");
        let (e, t) = (engine.clone(), tls.clone());
        let serve: ServeFn =
            Arc::new(move |socket, client| Box::pin(pgsession::serve(e.clone(), t.clone(), socket, client)));
        let accept = AcceptLoop {
            listener,
            serve,
            engine: "postgres",
            registry: registry.clone(),
            refuse: refuse_postgres,
            admission: admission.clone(),
            ids: ids.clone(),
        };
        let (d, h, t) = (drain.clone(), hard.clone(), tracker.clone());
        tracker.spawn(async move { accept.run(d, h, t).await });
        postgres = Some(engine);
    }
    let (mysql_addr, mysql) =
        match start_mysql(&config, &tls, &admission, &ids, &drain, &hard, &tracker, &monitor, &registry).await? {
            Some((addr, engine)) => (addr, Some(engine)),
            None => (None, None),
        };
    let telemetry = Arc::new(Telemetry::new(
        postgres.clone(),
        mysql.clone(),
        monitor.clone(),
        metrics,
        writer,
        slowlog,
        registry.clone(),
        drain.clone(),
    ));
    spawn_snapshots(telemetry.clone(), config.monitor.snapshot_interval, background.clone());
    let maintainer = Arc::new(Maintainer::shared(shared_config.clone(), telemetry.writer.clone()));
    let scheduler =
        schedule::from_config(&config, maintainer.clone(), telemetry.clone(), store.clone(), telemetry.writer.clone());
    tracing::info!(jobs = ?scheduler.job_names(), "scheduler started");
    scheduler.spawn(background.clone());
    let mut metrics_addr = None;
    if !config.listen.metrics.is_empty() {
        let listener = TcpListener::bind(&config.listen.metrics).await.map_err(|source| ServerError::Bind {
            what: "metrics",
            addr: config.listen.metrics.clone(),
            source,
        })?;
        metrics_addr = listener.local_addr().ok();
        tracing::info!(addr = ?metrics_addr, "metrics listener ready");
        tokio::spawn(crate::metrics::http::serve(listener, telemetry.clone(), background.clone()));
    }
    let live = Arc::new(Live {
        config: shared_config,
        monitor: monitor.clone(),
        postgres: postgres.clone(),
        mysql: mysql.clone(),
        file: parking_lot::Mutex::new(None),
    });
    let admin =
        admin::Context::new(live.clone(), telemetry.clone(), store.clone(), registry.clone(), maintainer.clone());
    let (admin_addr, admin_mysql_addr) = admin::listen(&admin, &config, background.clone()).await?;
    Ok(Handle {
        postgres_addr,
        postgres,
        mysql_addr,
        mysql,
        monitor,
        telemetry,
        store,
        metrics_addr,
        maintainer,
        admin_addr,
        admin_mysql_addr,
        clients: registry,
        admin,
        live,
        background,
        drain,
        hard,
        tracker,
    })
}

/// Folds queued monitor events every 100 ms, so the queue stays short between readers (who drain on read).
fn spawn_aggregator(monitor: Arc<Monitor>, hard: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    monitor.drain();
                }
                _ = hard.cancelled() => return,
            }
        }
    });
}

/// Binds the MySQL listener and starts its engine, health checks and accept loop, when configured.
#[allow(clippy::too_many_arguments)]
async fn start_mysql(
    config: &Arc<Config>,
    tls: &Option<tokio_rustls::TlsAcceptor>,
    admission: &Arc<Semaphore>,
    ids: &Arc<AtomicU64>,
    drain: &CancellationToken,
    hard: &CancellationToken,
    tracker: &TaskTracker,
    monitor: &Arc<Monitor>,
    registry: &Arc<Clients>,
) -> Result<Option<(Option<SocketAddr>, Arc<MyEngine>)>, ServerError> {
    if config.listen.mysql.is_empty() || config.mysql.primary.is_none() {
        return Ok(None);
    }
    let listener = TcpListener::bind(&config.listen.mysql).await.map_err(|source| ServerError::Bind {
        what: "mysql",
        addr: config.listen.mysql.clone(),
        source,
    })?;
    let addr = listener.local_addr().ok();
    let engine = MyEngine::new(config.clone(), drain.clone(), monitor.clone());
    let _ = engine.clients.set(registry.clone());
    spawn_health(engine.topology.clone(), Arc::new(my_probe(config)), config.health.clone(), hard.clone());
    tracing::info!(addr = ?addr, "mysql listener ready");
    let (e, t) = (engine.clone(), tls.clone());
    let serve: ServeFn =
        Arc::new(move |socket, client| Box::pin(mysession::serve(e.clone(), t.clone(), socket, client)));
    let accept = AcceptLoop {
        listener,
        serve,
        engine: "mysql",
        registry: registry.clone(),
        refuse: refuse_mysql,
        admission: admission.clone(),
        ids: ids.clone(),
    };
    let (d, h, t) = (drain.clone(), hard.clone(), tracker.clone());
    tracker.spawn(async move { accept.run(d, h, t).await });
    Ok(Some((addr, engine)))
}

fn my_probe(config: &Config) -> MyProbe {
    let (user, password) = config.probe_login(&config.mysql, "root");
    MyProbe { user, password }
}

fn pg_probe(config: &Config) -> PgProbe {
    let (user, password) = config.probe_login(&config.postgres, "postgres");
    let database = if config.health.database.is_empty() { "postgres".into() } else { config.health.database.clone() };
    PgProbe { user, password, database }
}

/// Serves one accepted client connection (engine-specific), registered as `Client`.
pub type ServeFn = Arc<dyn Fn(TcpStream, Arc<Client>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Refuses one client over the connection limit, in its protocol.
pub type RefuseFn = fn(TcpStream) -> BoxFuture<'static, ()>;

/// An accept loop for one listener: admission-bounded, one tracked task per client.
struct AcceptLoop {
    listener: TcpListener,
    serve: ServeFn,
    /// `postgres` / `mysql`, for the client registry.
    engine: &'static str,
    registry: Arc<Clients>,
    refuse: RefuseFn,
    admission: Arc<Semaphore>,
    ids: Arc<AtomicU64>,
}

impl AcceptLoop {
    async fn run(self, drain: CancellationToken, hard: CancellationToken, tracker: TaskTracker) {
        loop {
            let (socket, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Usually EMFILE: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = drain.cancelled() => return,
            };
            let Ok(permit) = self.admission.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "max_client_connections reached; refusing client");
                tracker.spawn((self.refuse)(socket));
                continue;
            };
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            let registration = self.registry.register(id, self.engine, peer);
            let session = (self.serve)(socket, registration.client().clone());
            let hard = hard.clone();
            tracker.spawn(async move {
                tokio::select! {
                    _ = session => {}
                    _ = hard.cancelled() => {}
                }
                drop(registration);
                drop(permit);
            });
        }
    }
}

/// Tells a MySQL client over the connection limit why it is refused (ERR 1040, as a full server does).
fn refuse_mysql(socket: TcpStream) -> BoxFuture<'static, ()> {
    Box::pin(mysession::refuse(socket))
}

/// Tells a PostgreSQL client over the connection limit why it is refused (as the server itself does when full).
fn refuse_postgres(mut socket: TcpStream) -> BoxFuture<'static, ()> {
    Box::pin(async move { pgsession::fatal(&mut socket, "53300", "sorry, too many clients already").await })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn each_engine_probes_with_its_own_login() {
        let text = "[[users]]\nname = \"postgres\"\nauth = \"trust\"\n[[users]]\nname = \"app\"\npassword = \"pw\"\n\
                    backend_user = \"app_be\"\n[mysql]\nhealth_user = \"app\"\n";
        let c = Config::parse(text, &Default::default()).expect("valid");
        assert_eq!(c.probe_login(&c.postgres, "postgres"), ("postgres".to_string(), None), "first user");
        assert_eq!(c.probe_login(&c.mysql, "root"), ("app_be".to_string(), Some("pw".to_string())), "health_user");
        let empty = Config::default();
        assert_eq!(empty.probe_login(&empty.mysql, "root"), ("root".to_string(), None), "fallback");
    }
}
