//! The cluster as the router sees it: every configured server with its role, observed health (up, banned,
//! lagging, read-only) and load, and the ordered list of servers to try for a target pool.
//!
//! State changes come from two places: health probes ([`Server::record_probe`], driven by
//! [`super::health`]) and sessions that fail to reach a server ([`Server::mark_failed`]). Bans expire lazily:
//! nothing runs when a ban ends, [`Server::usable`] just compares with the clock. This module opens no
//! connections and keeps no pools; the session maps a chosen [`Server`] to its pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;
use tokio::time::Instant;

use crate::config::{Balance, Cluster, Health, Role, Routing, ServerConfig};

/// Longest automatic ban; longer configured values are cut to this.
const MAX_BAN: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a health probe learned about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeResult {
    /// The server refuses writes (`pg_is_in_recovery()`, `@@read_only`).
    pub read_only: bool,
    /// Replication delay, for replicas that report one.
    pub lag: Option<Duration>,
}

/// A copy of a server's state, for admin SHOW SERVERS and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// Configured name.
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// The pool it serves.
    pub role: Role,
    /// Configured balancing weight.
    pub weight: u32,
    /// Last probe or connection attempt succeeded (true until something failed).
    pub up: bool,
    /// Automatically banned after a failure, and the ban has not expired.
    pub banned: bool,
    /// Time left on the automatic ban.
    pub banned_for: Option<Duration>,
    /// Banned by an operator (BAN SERVER) until unbanned.
    pub manual_ban: bool,
    /// What the last successful probe said about read-only mode.
    pub read_only: Option<bool>,
    /// Replication lag from the last successful probe.
    pub lag: Option<Duration>,
    /// Lag over `max_replication_lag`: kept out of the read pool.
    pub lagging: bool,
    /// The last failure seen, kept after recovery.
    pub last_error: Option<String>,
    /// Queries in flight on this server.
    pub outstanding: usize,
    /// Whether [`Server::usable`] holds right now.
    pub usable: bool,
}

#[derive(Debug, Default)]
struct State {
    down: bool,
    banned_until: Option<Instant>,
    manual_ban: bool,
    read_only: Option<bool>,
    lag: Option<Duration>,
    lagging: bool,
    last_error: Option<String>,
    /// Failed probes in a row (a server is marked down after `health.down_after`).
    probe_failures: u32,
}

impl State {
    fn auto_banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|t| now < t)
    }
}

/// One backend server and what is known about its health.
#[derive(Debug)]
pub struct Server {
    /// Configured name (unique within the cluster).
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// Write = primary, Read = replica, Analytics = analytics replica.
    pub role: Role,
    /// Share of reads under weighted random balancing.
    pub weight: u32,
    outstanding: AtomicUsize,
    state: Mutex<State>,
}

impl Server {
    /// A server with no observations yet: considered up and usable.
    pub fn new(cfg: &ServerConfig, role: Role) -> Server {
        Server {
            name: cfg.name.clone(),
            addr: cfg.addr.clone(),
            role,
            weight: cfg.weight,
            outstanding: AtomicUsize::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// Not banned (automatically or by an operator) and not lagging. A server that failed is banned for
    /// `ban_time` and becomes usable again when the ban runs out, so that it is retried even before a probe
    /// says it is back; failing again bans it again.
    pub fn usable(&self) -> bool {
        let st = self.state.lock();
        !st.manual_ban && !st.auto_banned(Instant::now()) && !st.lagging
    }

    /// Records a failure to reach the server seen by a session and bans it for `ban_time`.
    pub fn mark_failed(&self, error: &str, ban_time: Duration) {
        let mut st = self.state.lock();
        self.fail(&mut st, error, ban_time);
    }

    /// Records the outcome of a health probe: success lifts an automatic ban and updates read-only and lag
    /// (lag over `health.max_replication_lag` makes the server unusable); failure marks it down and bans it
    /// for `health.ban_time`. Transitions are logged at info, steady states not at all.
    pub fn record_probe(&self, result: Result<ProbeResult, String>, health: &Health) {
        let mut st = self.state.lock();
        let probe = match result {
            Ok(probe) => probe,
            Err(error) => {
                // One slow or failed probe on a busy machine is not an outage; a session that cannot connect
                // marks the server down at once through `mark_failed`.
                st.probe_failures = st.probe_failures.saturating_add(1);
                if st.probe_failures >= health.down_after.max(1) {
                    return self.fail(&mut st, &error, health.ban_time);
                }
                st.last_error = Some(error);
                return;
            }
        };
        st.probe_failures = 0;
        if st.down {
            tracing::info!(server = %self.name, role = self.role.as_str(), "server up");
        }
        st.down = false;
        st.banned_until = None;
        let lagging = probe.lag.is_some_and(|lag| lag > health.max_replication_lag);
        if lagging != st.lagging {
            let lag_ms = probe.lag.map(|l| l.as_millis());
            if lagging {
                tracing::info!(server = %self.name, ?lag_ms, "replica lagging, out of the read pool");
            } else {
                tracing::info!(server = %self.name, ?lag_ms, "replica caught up");
            }
        }
        if st.read_only.is_some_and(|ro| ro != probe.read_only)
            || (st.read_only.is_none() && probe.read_only && self.role == Role::Write)
        {
            tracing::info!(server = %self.name, role = self.role.as_str(), read_only = probe.read_only, "read-only mode changed");
        }
        st.lagging = lagging;
        st.lag = probe.lag;
        st.read_only = Some(probe.read_only);
    }

    fn fail(&self, st: &mut State, error: &str, ban_time: Duration) {
        if !st.down {
            tracing::info!(server = %self.name, role = self.role.as_str(), error, "server down");
        }
        st.down = true;
        // Capped so that a huge configured ban cannot overflow the clock.
        st.banned_until = Some(Instant::now() + ban_time.min(MAX_BAN));
        st.last_error = Some(error.to_string());
    }

    /// Bans the server until [`Server::unban`] (admin BAN SERVER).
    pub fn ban(&self) {
        self.state.lock().manual_ban = true;
    }

    /// Lifts a manual ban and any automatic one (admin UNBAN SERVER).
    pub fn unban(&self) {
        let mut st = self.state.lock();
        st.manual_ban = false;
        st.banned_until = None;
    }

    /// Queries in flight on this server (for least-outstanding balancing).
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Counts one query in flight until the returned guard is dropped.
    pub fn begin_use(self: &Arc<Self>) -> InUse {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        InUse { server: self.clone() }
    }

    /// What the last successful probe said about read-only mode (`None` before any).
    pub fn observed_read_only(&self) -> Option<bool> {
        self.state.lock().read_only
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> ServerStatus {
        let now = Instant::now();
        let st = self.state.lock();
        let banned = st.auto_banned(now);
        ServerStatus {
            name: self.name.clone(),
            addr: self.addr.clone(),
            role: self.role,
            weight: self.weight,
            up: !st.down,
            banned,
            banned_for: st.banned_until.filter(|_| banned).map(|t| t.duration_since(now)),
            manual_ban: st.manual_ban,
            read_only: st.read_only,
            lag: st.lag,
            lagging: st.lagging,
            last_error: st.last_error.clone(),
            outstanding: self.outstanding(),
            usable: !st.manual_ban && !banned && !st.lagging,
        }
    }
}

/// One query in flight on a server; dropping it ends the count.
#[derive(Debug)]
pub struct InUse {
    server: Arc<Server>,
}

impl InUse {
    /// The server in use.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.server.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every server of one cluster (one engine), in configuration order: primary, replicas, analytics.
#[derive(Debug)]
pub struct Topology {
    servers: Vec<Arc<Server>>,
    turn: AtomicUsize,
}

impl Topology {
    /// The servers of `cluster`, all considered up until observed otherwise.
    pub fn new(cluster: &Cluster) -> Topology {
        let servers = cluster.servers().map(|(cfg, role)| Arc::new(Server::new(cfg, role))).collect();
        Topology { servers, turn: AtomicUsize::new(0) }
    }

    /// Every server, primary first.
    pub fn servers(&self) -> &[Arc<Server>] {
        &self.servers
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&Arc<Server>> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The configured primary.
    pub fn primary(&self) -> Option<&Arc<Server>> {
        self.servers.iter().find(|s| s.role == Role::Write)
    }

    /// Servers to try for `target`, best first, with fallbacks.
    ///
    /// - Write: the primary when usable and not observed read-only; otherwise nothing.
    /// - Read: usable replicas ordered by the balance policy, then the usable primary as the last resort.
    ///   With `routing.primary_reads` the primary is balanced together with the replicas instead; with
    ///   `read_write_split` off it is the only candidate.
    /// - Analytics: usable analytics servers in balance order, then the Read list.
    ///
    /// When nothing is usable, the primary is still returned (unless banned by hand, or read-only for a write):
    /// trying a server that may have recovered beats refusing the client without trying.
    pub fn candidates(&self, target: Role, routing: &Routing) -> Vec<Arc<Server>> {
        let list = self.usable_candidates(target, routing);
        if !list.is_empty() {
            return list;
        }
        self.primary()
            .filter(|p| !p.state.lock().manual_ban)
            .filter(|p| target != Role::Write || p.observed_read_only() != Some(true))
            .cloned()
            .into_iter()
            .collect()
    }

    fn usable_candidates(&self, target: Role, routing: &Routing) -> Vec<Arc<Server>> {
        match target {
            Role::Write => self.usable_primary().filter(|p| p.observed_read_only() != Some(true)).into_iter().collect(),
            Role::Read => self.read_candidates(routing),
            Role::Analytics => {
                let mut list = self.balanced(self.usable_with(Role::Analytics), routing.balance);
                list.extend(self.read_candidates(routing));
                list
            }
        }
    }

    fn read_candidates(&self, routing: &Routing) -> Vec<Arc<Server>> {
        let primary = self.usable_primary();
        if !routing.read_write_split {
            return primary.into_iter().collect();
        }
        let mut replicas = self.usable_with(Role::Read);
        if routing.primary_reads {
            replicas.extend(primary);
            return self.balanced(replicas, routing.balance);
        }
        let mut list = self.balanced(replicas, routing.balance);
        list.extend(primary);
        list
    }

    fn usable_primary(&self) -> Option<Arc<Server>> {
        self.primary().filter(|p| p.usable()).cloned()
    }

    fn usable_with(&self, role: Role) -> Vec<Arc<Server>> {
        self.servers.iter().filter(|s| s.role == role && s.usable()).cloned().collect()
    }

    /// Orders `servers` by the policy. Round robin rotates by a shared turn counter; least outstanding does
    /// the same rotation first so that ties are spread; weighted random draws an ordering in which each
    /// server comes first with probability weight / total (weight 0 only after all others).
    fn balanced(&self, mut servers: Vec<Arc<Server>>, policy: Balance) -> Vec<Arc<Server>> {
        if servers.len() < 2 {
            return servers;
        }
        match policy {
            Balance::RoundRobin | Balance::LeastOutstanding => {
                let turn = self.turn.fetch_add(1, Ordering::Relaxed) % servers.len();
                servers.rotate_left(turn);
                if policy == Balance::LeastOutstanding {
                    servers.sort_by_cached_key(|s| s.outstanding());
                }
                servers
            }
            Balance::WeightedRandom => weighted_order(servers),
        }
    }
}

/// Efraimidis–Spirakis: sort by Exp(1) / weight, so the first pick is proportional to weight.
fn weighted_order(servers: Vec<Arc<Server>>) -> Vec<Arc<Server>> {
    let mut rng = rand::rng();
    let mut keyed: Vec<(f64, Arc<Server>)> = servers
        .into_iter()
        .map(|s| {
            let u: f64 = 1.0 - rng.random::<f64>();
            let key = if s.weight == 0 { f64::INFINITY } else { -u.ln() / f64::from(s.weight) };
            (key, s)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, s)| s).collect()
}
