//! Live state sampled at scrape time: the caller fills a [`Sample`] from its engines, pools, topology and
//! monitor, and [`Sample::families`] turns it into metric families.
//!
//! Counters here (checkouts, timeouts, evictions, drops) are absolute totals kept elsewhere; they are
//! exported with TYPE `counter` and the given value, not re-counted. Pools are labelled by (engine, server,
//! role) only, so pools that differ just by user or database are summed into one series, and utilisation is
//! the summed `active / max`.
//!
//! Deliberately not here: reading any live structure; this module only formats what it is handed.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::config::Role;
use crate::pool::PoolStats;

/// Everything sampled at scrape time. Leave a list empty when its part is not running: its families are
/// then left out of the output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Client connections per engine (several entries for one engine are summed).
    pub clients: Vec<ClientSample>,
    /// One entry per backend pool, straight from `Pool::stats()`.
    pub pools: Vec<PoolSample>,
    /// One entry per configured backend server, from its topology snapshot.
    pub servers: Vec<ServerSample>,
    /// Digests the monitor holds now (`switchyard_digests`).
    pub digests: u64,
    /// Digests evicted since start to stay under `max_digests` (`switchyard_digests_evicted_total`).
    pub digests_evicted_total: u64,
    /// Monitor events dropped on a full queue since start (`switchyard_monitor_events_dropped_total`).
    pub monitor_events_dropped_total: u64,
    /// Store rows dropped on a full write queue since start (`switchyard_store_rows_dropped_total`).
    pub store_rows_dropped_total: u64,
}

/// Client connections of one engine, by state (`switchyard_client_connections{engine,state}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientSample {
    /// `postgres` or `mysql`.
    pub engine: &'static str,
    /// Attached to a backend (inside a statement or transaction).
    pub active: u64,
    /// Connected, holding no backend.
    pub idle: u64,
    /// Waiting for a backend connection.
    pub waiting: u64,
}

/// One backend pool (server, user, database) and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSample {
    /// `postgres` or `mysql`.
    pub engine: &'static str,
    /// Configured server name.
    pub server: String,
    /// The role the server serves.
    pub role: Role,
    /// `Pool::stats()`: occupancy now and totals since the pool was created.
    pub stats: PoolStats,
}

/// One backend server's health (`switchyard_server_up`, `switchyard_server_replication_lag_seconds`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSample {
    /// `postgres` or `mysql`.
    pub engine: &'static str,
    /// Configured server name.
    pub server: String,
    /// The role the server serves.
    pub role: Role,
    /// The last probe or connection attempt succeeded (`ServerStatus::up`).
    pub up: bool,
    /// Replication lag from the last successful probe; `None` exports no lag series.
    pub replication_lag: Option<Duration>,
}

/// Pool counters summed over the pools of one (engine, server, role).
#[derive(Default)]
struct PoolSum {
    idle: usize,
    active: usize,
    connecting: usize,
    waiting: usize,
    max: usize,
    checkouts: u64,
    timeouts: u64,
    wait_micros: u64,
}

impl Sample {
    /// The sampled families, in no particular order; families with no series are empty.
    pub(super) fn families(&self) -> Vec<MetricFamily> {
        let mut out = self.client_families();
        out.extend(self.pool_families());
        out.extend(self.server_families());
        out.push(single("switchyard_digests", "Query digests held by the monitor.", MetricType::GAUGE, self.digests));
        out.push(single(
            "switchyard_digests_evicted_total",
            "Digests evicted to stay under max_digests.",
            MetricType::COUNTER,
            self.digests_evicted_total,
        ));
        out.push(single(
            "switchyard_monitor_events_dropped_total",
            "Query events dropped because the monitor queue was full.",
            MetricType::COUNTER,
            self.monitor_events_dropped_total,
        ));
        out.push(single(
            "switchyard_store_rows_dropped_total",
            "History rows dropped because the store write queue was full.",
            MetricType::COUNTER,
            self.store_rows_dropped_total,
        ));
        out
    }

    fn client_families(&self) -> Vec<MetricFamily> {
        let mut sums: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
        for c in &self.clients {
            let sum = sums.entry(c.engine).or_default();
            sum[0] += c.active;
            sum[1] += c.idle;
            sum[2] += c.waiting;
        }
        let mut family =
            family("switchyard_client_connections", "Client connections by engine and state.", MetricType::GAUGE);
        for (engine, counts) in sums {
            for (state, count) in ["active", "idle", "waiting"].into_iter().zip(counts) {
                push(&mut family, &[("engine", engine), ("state", state)], count as f64);
            }
        }
        vec![family]
    }

    fn pool_families(&self) -> Vec<MetricFamily> {
        let mut sums: BTreeMap<(&str, &str, &str), PoolSum> = BTreeMap::new();
        for p in &self.pools {
            let sum = sums.entry((p.engine, &p.server, p.role.as_str())).or_default();
            sum.idle += p.stats.idle;
            sum.active += p.stats.active;
            sum.connecting += p.stats.connecting;
            sum.waiting += p.stats.waiting;
            sum.max += p.stats.max;
            sum.checkouts += p.stats.checkouts;
            sum.timeouts += p.stats.timeouts;
            sum.wait_micros += p.stats.wait_micros_total;
        }
        let mut backends =
            family("switchyard_backend_connections", "Backend connections by pool and state.", MetricType::GAUGE);
        let mut utilisation =
            family("switchyard_pool_utilisation_ratio", "Checked-out connections / pool maximum.", MetricType::GAUGE);
        let mut waiting =
            family("switchyard_pool_waiting_clients", "Clients waiting for a backend connection.", MetricType::GAUGE);
        let mut checkouts =
            family("switchyard_pool_checkouts_total", "Successful backend checkouts.", MetricType::COUNTER);
        let mut timeouts = family(
            "switchyard_pool_checkout_timeouts_total",
            "Checkouts that gave up after connection_timeout.",
            MetricType::COUNTER,
        );
        let mut wait = family(
            "switchyard_pool_wait_seconds_total",
            "Time successful checkouts spent waiting (slot, checks, connecting).",
            MetricType::COUNTER,
        );
        for ((engine, server, role), sum) in sums {
            let labels = [("engine", engine), ("server", server), ("role", role)];
            for (state, count) in [("idle", sum.idle), ("active", sum.active), ("connecting", sum.connecting)] {
                let mut with_state = labels.to_vec();
                with_state.push(("state", state));
                push(&mut backends, &with_state, count as f64);
            }
            let ratio = if sum.max == 0 { 0.0 } else { (sum.active as f64 / sum.max as f64).min(1.0) };
            push(&mut utilisation, &labels, ratio);
            push(&mut waiting, &labels, sum.waiting as f64);
            push(&mut checkouts, &labels, sum.checkouts as f64);
            push(&mut timeouts, &labels, sum.timeouts as f64);
            push(&mut wait, &labels, sum.wait_micros as f64 / 1e6);
        }
        vec![backends, utilisation, waiting, checkouts, timeouts, wait]
    }

    fn server_families(&self) -> Vec<MetricFamily> {
        // One series per label set even if a server is listed twice: the last entry wins.
        let mut latest: BTreeMap<(&str, &str, &str), &ServerSample> = BTreeMap::new();
        for s in &self.servers {
            latest.insert((s.engine, &s.server, s.role.as_str()), s);
        }
        let mut up = family("switchyard_server_up", "1 when the server's last probe succeeded.", MetricType::GAUGE);
        let mut lag = family(
            "switchyard_server_replication_lag_seconds",
            "Replication lag reported by the last successful probe.",
            MetricType::GAUGE,
        );
        for ((engine, server, role), s) in latest {
            let labels = [("engine", engine), ("server", server), ("role", role)];
            push(&mut up, &labels, if s.up { 1.0 } else { 0.0 });
            if let Some(l) = s.replication_lag {
                push(&mut lag, &labels, l.as_secs_f64());
            }
        }
        vec![up, lag]
    }
}

/// An empty family.
fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family
}

/// A family with one unlabelled series.
fn single(name: &str, help: &str, kind: MetricType, value: u64) -> MetricFamily {
    let mut family = family(name, help, kind);
    push(&mut family, &[], value as f64);
    family
}

/// Adds one series to `family`, as a gauge or counter according to the family's type.
fn push(family: &mut MetricFamily, labels: &[(&str, &str)], value: f64) {
    let pairs = labels
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect();
    let mut metric = Metric::from_label(pairs);
    match family.get_field_type() {
        MetricType::COUNTER => {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        }
        _ => {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
    }
    family.mut_metric().push(metric);
}
