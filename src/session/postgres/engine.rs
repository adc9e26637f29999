//! Engine-wide PostgreSQL state shared by every session: topology, pools per (server, user, database) created
//! on demand, the classifier, cancel keys and the running configuration snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use crate::monitor::Monitor;
use std::sync::atomic::{AtomicI32, Ordering};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::classify::{Classifier, Dialect};
use crate::config::{Config, Role, User};
use crate::pool::topology::{Server, Topology};
use crate::pool::{Pool, PoolConfig};
use crate::route::Rules;

use super::backend::PgConnector;
use super::cancel::CancelRegistry;

/// Server parameters shown to clients at start-up, per (user, database).
pub type ServerParameters = Arc<Vec<(String, String)>>;

/// A pool of backends to one server for one (user, database).
pub type PgPool = Pool<PgConnector>;

/// Shared state of the PostgreSQL side of the proxy.
pub struct PgEngine {
    /// The running configuration; replaced as a whole on reload.
    config: arc_swap::ArcSwap<Config>,
    /// Routing rules derived from the configuration.
    rules: arc_swap::ArcSwap<Rules>,
    /// Servers with their health.
    pub topology: Arc<Topology>,
    /// Statement classification cache.
    pub classifier: Classifier,
    /// Proxy-issued cancel keys of live sessions.
    pub cancels: CancelRegistry,
    pools: Mutex<HashMap<PoolKey, Arc<PgPool>>>,
    parameters: Mutex<HashMap<(String, String), ServerParameters>>,
    verifiers: Mutex<HashMap<String, Arc<crate::protocol::postgres::ScramVerifier>>>,
    next_pid: AtomicI32,
    /// Cancelled when the proxy shuts down.
    pub shutdown: CancellationToken,
    /// The query monitor sessions report statements to.
    pub monitor: Arc<Monitor>,
    /// Standing PAUSE orders: a pool created while one matches starts paused.
    pub pauses: crate::pool::Pauses,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    server: String,
    user: String,
    database: String,
}

impl PgEngine {
    /// Builds the engine for `config` (which must have a PostgreSQL primary).
    pub fn new(config: Arc<Config>, shutdown: CancellationToken, monitor: Arc<Monitor>) -> Arc<PgEngine> {
        Arc::new(PgEngine {
            topology: Arc::new(Topology::new(&config.postgres)),
            classifier: Classifier::new(Dialect::Postgres, config.general.classify_cache_size),
            rules: arc_swap::ArcSwap::from_pointee(Rules::from_config(&config.routing)),
            config: arc_swap::ArcSwap::new(config),
            cancels: CancelRegistry::default(),
            pools: Mutex::new(HashMap::new()),
            parameters: Mutex::new(HashMap::new()),
            verifiers: Mutex::new(HashMap::new()),
            next_pid: AtomicI32::new(1),
            shutdown,
            monitor,
            pauses: crate::pool::Pauses::default(),
        })
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Routing rules in force now.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.load_full()
    }

    /// Swaps in a new configuration: pool sizes change in place, without dropping connections.
    pub fn reload(&self, config: Arc<Config>) {
        self.verifiers.lock().clear();
        self.rules.store(Arc::new(Rules::from_config(&config.routing)));
        let pools = self.pools.lock();
        for (key, pool) in pools.iter() {
            let max = config.user(&key.user).and_then(|u| u.max_connections);
            pool.resize(PoolConfig::from_settings(&config.pool, max));
        }
        drop(pools);
        self.config.store(config);
    }

    /// A fresh proxy-side backend pid for a new session.
    pub fn next_pid(&self) -> i32 {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
    }

    /// The pool for `server` and this user and database, created on first use.
    pub fn pool(&self, server: &Arc<Server>, user: &User, database: &str) -> Arc<PgPool> {
        let key = PoolKey { server: server.name.clone(), user: user.name.clone(), database: database.to_string() };
        let mut pools = self.pools.lock();
        if let Some(p) = pools.get(&key) {
            return p.clone();
        }
        let config = self.config();
        let connector = PgConnector {
            server: server.clone(),
            user: user.backend_name().to_string(),
            password: user.backend_secret().map(str::to_string),
            database: database.to_string(),
            statement_cache: config.pool.prepared_statement_cache,
        };
        let pool = Pool::new(connector, PoolConfig::from_settings(&config.pool, user.max_connections));
        if self.pauses.matches(&["postgres", &server.name, server.role.as_str(), &user.name, database]) {
            pool.pause();
        }
        crate::pool::spawn_maintenance(&pool, std::time::Duration::from_secs(1), self.shutdown.clone());
        pools.insert(key, pool.clone());
        pool
    }

    /// Drops the pool of `server` for this user and database (it could not connect).
    fn forget_pool(&self, server: &Server, user: &User, database: &str) {
        let key = PoolKey { server: server.name.clone(), user: user.name.clone(), database: database.to_string() };
        if let Some(pool) = self.pools.lock().remove(&key) {
            pool.close();
        }
    }

    /// Every pool with its server, user and database (for admin and metrics).
    pub fn pools(&self) -> Vec<(String, String, String, Arc<PgPool>)> {
        let pools = self.pools.lock();
        pools.iter().map(|(k, p)| (k.server.clone(), k.user.clone(), k.database.clone(), p.clone())).collect()
    }

    /// Servers to try for `target`, best first.
    pub fn candidates(&self, target: Role) -> Vec<Arc<Server>> {
        self.topology.candidates(target, &self.config().routing)
    }

    /// Closes every pool (shutdown).
    pub fn close_pools(&self) {
        for pool in self.pools.lock().values() {
            pool.close();
        }
    }
}

impl PgEngine {
    /// The server parameters a client is shown at start-up, learnt from a backend of this user and database once
    /// and cached. Fails with the backend's own error (for example 3D000 for an unknown database).
    pub async fn server_parameters(
        &self,
        user: &User,
        database: &str,
    ) -> Result<ServerParameters, crate::pool::ConnectError> {
        let key = (user.name.clone(), database.to_string());
        if let Some(p) = self.parameters.lock().get(&key) {
            return Ok(p.clone());
        }
        let mut last = None;
        let mut servers = self.candidates(Role::Write);
        servers.extend(self.candidates(Role::Read));
        for server in servers {
            let pool = self.pool(&server, user, database);
            match pool.checkout().await {
                Ok(conn) => {
                    let params = Arc::new(conn.parameters.clone());
                    conn.release();
                    self.parameters.lock().insert(key, params.clone());
                    return Ok(params);
                }
                Err(crate::pool::PoolError::Connect(e)) => {
                    if e.sqlstate.is_some() {
                        // The server refused this user or database: do not keep a pool that can never connect.
                        self.forget_pool(&server, user, database);
                        return Err(e);
                    }
                    server.mark_failed(&e.message, self.config().health.ban_time);
                    last = Some(e);
                }
                Err(e) => {
                    last = Some(crate::pool::ConnectError {
                        kind: crate::pool::ConnectErrorKind::Timeout,
                        sqlstate: None,
                        message: e.to_string(),
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| crate::pool::ConnectError {
            kind: crate::pool::ConnectErrorKind::Unreachable,
            sqlstate: None,
            message: "no PostgreSQL server is available".into(),
        }))
    }

    /// The SCRAM verifier for a user: parsed from `scram_verifier` or derived once from the password.
    pub fn scram_verifier(
        &self,
        user: &User,
    ) -> Result<Arc<crate::protocol::postgres::ScramVerifier>, crate::protocol::postgres::ProtocolError> {
        use crate::protocol::postgres::{ProtocolError, ScramVerifier};
        if let Some(v) = self.verifiers.lock().get(&user.name) {
            return Ok(v.clone());
        }
        let v = match (&user.scram_verifier, &user.password) {
            (Some(s), _) => ScramVerifier::parse(s)?,
            (None, Some(p)) => ScramVerifier::from_password(p, &rand::random::<[u8; 16]>(), 4096),
            (None, None) => return Err(ProtocolError::Auth("no password configured".into())),
        };
        let v = Arc::new(v);
        self.verifiers.lock().insert(user.name.clone(), v.clone());
        Ok(v)
    }
}
