//! Engine-wide MySQL state shared by every session: topology, pools per (server, user, client capability
//! flags, charset) created on demand, the classifier, the greeting facts learnt from the primary, and the running
//! configuration snapshot.
//!
//! Pools are not per database: a MySQL connection can switch databases, so the session issues COM_INIT_DB on a
//! backend whose database differs from its client's. They are per client capability flags and charset, because
//! those are fixed at login and change the bytes the relay passes through (`FORMAT_CAPABILITIES`) or how the
//! server behaves.

use std::collections::HashMap;
use std::sync::Arc;

use crate::monitor::Monitor;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::classify::{Classifier, Dialect};
use crate::config::{Config, Role, User};
use crate::pool::topology::{Server, Topology};
use crate::pool::{Pool, PoolConfig};
use crate::protocol::mysql::{CapabilityFlags, RELAY_CAPABILITIES};
use crate::route::Rules;

use super::backend::{MyConnector, greeting_facts};

/// A pool of backends to one server for one (user, capability flags, charset).
pub type MyPool = Pool<MyConnector>;

/// Capabilities the backend login sets from its own fields, not from the client's.
const PER_CONNECTION: CapabilityFlags = CapabilityFlags::from_bits_truncate(
    CapabilityFlags::CLIENT_CONNECT_WITH_DB.bits() | CapabilityFlags::CLIENT_CONNECT_ATTRS.bits(),
);

/// Version shown to clients while no server could be asked for its own.
const FALLBACK_VERSION: &str = "5.5.5-10.11.0-MariaDB-switchyard";

/// Shared state of the MySQL side of the proxy.
pub struct MyEngine {
    config: arc_swap::ArcSwap<Config>,
    rules: arc_swap::ArcSwap<Rules>,
    /// Servers with their health.
    pub topology: Arc<Topology>,
    /// Statement classification cache.
    pub classifier: Classifier,
    pools: Mutex<HashMap<PoolKey, Arc<MyPool>>>,
    greeting: Mutex<Option<(Arc<str>, CapabilityFlags)>>,
    /// Live clients of both engines (for `KILL <id>`), set once by the server.
    pub clients: std::sync::OnceLock<Arc<crate::session::clients::Clients>>,
    /// Cancelled when the proxy starts draining.
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
    format: u32,
    charset: u8,
}

impl MyEngine {
    /// Builds the engine for `config` (which must have a MySQL primary).
    pub fn new(config: Arc<Config>, shutdown: CancellationToken, monitor: Arc<Monitor>) -> Arc<MyEngine> {
        Arc::new(MyEngine {
            topology: Arc::new(Topology::new(&config.mysql)),
            classifier: Classifier::new(Dialect::MySql, config.general.classify_cache_size),
            rules: arc_swap::ArcSwap::from_pointee(Rules::from_config(&config.routing)),
            config: arc_swap::ArcSwap::new(config),
            pools: Mutex::new(HashMap::new()),
            greeting: Mutex::new(None),
            clients: std::sync::OnceLock::new(),
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
        self.rules.store(Arc::new(Rules::from_config(&config.routing)));
        for (key, pool) in self.pools.lock().iter() {
            let max = config.user(&key.user).and_then(|u| u.max_connections);
            pool.resize(PoolConfig::from_settings(&config.pool, max));
        }
        self.config.store(config);
    }

    /// The version string and the capabilities to offer clients: the primary's, learnt once from its greeting
    /// (MariaDB's `5.5.5-` prefix kept), limited to what the relay passes through.
    pub async fn greeting(&self) -> (Arc<str>, CapabilityFlags) {
        if let Some(g) = self.greeting.lock().clone() {
            return g;
        }
        let timeout = self.config().pool.connect_timeout;
        let servers = self.topology.servers().to_vec();
        for server in servers {
            if let Some((version, caps)) = greeting_facts(&server.addr, timeout).await {
                let g: (Arc<str>, CapabilityFlags) = (Arc::from(version), caps & RELAY_CAPABILITIES);
                *self.greeting.lock() = Some(g.clone());
                return g;
            }
        }
        (Arc::from(FALLBACK_VERSION), RELAY_CAPABILITIES)
    }

    /// The pool for `server`, this user, and clients with these capabilities and charset; created on first use.
    pub fn pool(&self, server: &Arc<Server>, user: &User, caps: CapabilityFlags, charset: u8) -> Arc<MyPool> {
        // Every flag the client negotiated goes to its backends: besides the format flags, some change how the
        // server parses SQL (CLIENT_NO_SCHEMA, CLIENT_IGNORE_SPACE) or times out (CLIENT_INTERACTIVE).
        let format = caps & RELAY_CAPABILITIES & !PER_CONNECTION;
        let key = PoolKey { server: server.name.clone(), user: user.name.clone(), format: format.bits(), charset };
        let mut pools = self.pools.lock();
        if let Some(p) = pools.get(&key) {
            return p.clone();
        }
        let config = self.config();
        let connector = MyConnector {
            server: server.clone(),
            user: user.backend_name().to_string(),
            password: user.backend_secret().map(str::to_string),
            caps: format,
            charset,
            statement_cache: config.pool.prepared_statement_cache,
        };
        let pool = Pool::new(connector, PoolConfig::from_settings(&config.pool, user.max_connections));
        if self.pauses.matches(&["mysql", &server.name, server.role.as_str(), &user.name]) {
            pool.pause();
        }
        crate::pool::spawn_maintenance(&pool, std::time::Duration::from_secs(1), self.shutdown.clone());
        pools.insert(key, pool.clone());
        pool
    }

    /// Every pool with its server and user (for admin and metrics).
    pub fn pools(&self) -> Vec<(String, String, Arc<MyPool>)> {
        self.pools.lock().iter().map(|(k, p)| (k.server.clone(), k.user.clone(), p.clone())).collect()
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
