//! Backend pools, engine-independent: checkout with a fair bounded wait, reuse of healthy idle connections,
//! idle / lifetime eviction and refill to a minimum, plus the cluster [`topology`] (server health, bans,
//! balancing) and the [`health`]-check loop.
//!
//! Engines plug in through traits: a [`Connector`] opens, checks and pings backend connections, a
//! [`health::Probe`] asks a server whether it is read-only and how far it lags. This module speaks no protocol,
//! resets no session state (the session does that before [`Pooled::release`]) and reads no `Config` beyond the
//! plain settings structs it is handed.

mod checkout;
pub mod health;
pub mod pause;
mod pooled;
pub mod topology;
mod upkeep;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

pub use checkout::Pool;
pub use health::{Probe, spawn_health};
pub use pause::Pauses;
pub use pooled::Pooled;
pub use topology::{InUse, ProbeResult, Server, ServerStatus, Topology};
pub use upkeep::spawn_maintenance;

/// Opens and checks backend connections for one pool (one server, user and database).
pub trait Connector: Send + Sync + 'static {
    /// A backend connection, authenticated and ready for statements.
    type Conn: Send + 'static;

    /// Opens and authenticates a new backend connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, ConnectError>> + Send;

    /// Cheap, non-blocking check before reuse (socket still open, no unexpected bytes pending).
    fn is_open(&self, conn: &mut Self::Conn) -> bool;

    /// A round trip to the server, used on connections idle longer than `health_check_after`.
    fn ping<'a>(&'a self, conn: &'a mut Self::Conn) -> impl Future<Output = bool> + Send + 'a;
}

/// Why a backend connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectErrorKind {
    /// TCP connect failed (refused, unreachable, DNS).
    Unreachable,
    /// The server rejected the credentials.
    Auth,
    /// The server refused the session for another reason (too many connections, database missing, ...).
    Rejected,
    /// Connecting and authenticating took longer than `connect_timeout`.
    Timeout,
    /// The server said something the engine did not expect.
    Protocol,
}

impl ConnectErrorKind {
    /// Lower-case name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectErrorKind::Unreachable => "unreachable",
            ConnectErrorKind::Auth => "auth",
            ConnectErrorKind::Rejected => "rejected",
            ConnectErrorKind::Timeout => "timeout",
            ConnectErrorKind::Protocol => "protocol",
        }
    }
}

/// A failure to open a backend connection, as reported by a [`Connector`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connect ({}): {message}", kind.as_str())]
pub struct ConnectError {
    /// What went wrong, coarsely.
    pub kind: ConnectErrorKind,
    /// The SQLSTATE (or MySQL error code as text) the server sent, if it sent one.
    pub sqlstate: Option<String>,
    /// Human-readable detail (may name the server: for logs, not for clients).
    pub message: String,
}

impl ConnectError {
    /// An error without a server-sent code.
    pub fn new(kind: ConnectErrorKind, message: impl Into<String>) -> ConnectError {
        ConnectError { kind, sqlstate: None, message: message.into() }
    }
}

/// Why a checkout failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// No connection became free within `connection_timeout`.
    #[error("timed out after {waited:?} waiting for a backend connection")]
    Timeout {
        /// How long the client waited.
        waited: Duration,
    },
    /// Opening a new backend connection failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The pool was shut down, or stayed paused for the whole `connection_timeout`.
    #[error("pool is closed or paused")]
    Closed,
}

/// Sizing and timeouts of one pool; built from `[pool]` with [`PoolConfig::from_settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections kept open even when idle (refilled by [`Pool::maintain`]).
    pub min: usize,
    /// Most connections checked out at once, and most open at once.
    pub max: usize,
    /// How long a checkout waits for a free slot.
    pub connection_timeout: Duration,
    /// How long opening one connection (or pinging one) may take.
    pub connect_timeout: Duration,
    /// Idle connections above `min` are closed after this long.
    pub idle_timeout: Duration,
    /// Connections older than this are closed when idle.
    pub max_lifetime: Duration,
    /// An idle connection unused for longer than this is pinged before reuse.
    pub health_check_after: Duration,
}

impl PoolConfig {
    /// The pool settings from config, with `max_override` (a user's `max_connections`) replacing the maximum.
    /// `min` is capped at `max`.
    pub fn from_settings(s: &crate::config::PoolSettings, max_override: Option<usize>) -> PoolConfig {
        let max = max_override.unwrap_or(s.max_connections);
        PoolConfig {
            min: s.min_connections.min(max),
            max,
            connection_timeout: s.connection_timeout,
            connect_timeout: s.connect_timeout,
            idle_timeout: s.idle_timeout,
            max_lifetime: s.max_lifetime,
            health_check_after: s.health_check_after,
        }
    }
}

/// A point-in-time view of a pool's occupancy and its counters since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open or being opened.
    pub total: usize,
    /// Open connections waiting in the idle list.
    pub idle: usize,
    /// Connections checked out by clients.
    pub active: usize,
    /// Clients waiting for a slot (including those waiting out a pause).
    pub waiting: usize,
    /// Connections currently being opened.
    pub connecting: usize,
    /// The configured maximum.
    pub max: usize,
    /// Successful checkouts.
    pub checkouts: u64,
    /// Checkouts that failed with [`PoolError::Timeout`] (or waited out a pause).
    pub timeouts: u64,
    /// Connection attempts that failed or timed out.
    pub connect_errors: u64,
    /// Connections closed because their state was unknown or they failed a check.
    pub discarded: u64,
    /// Healthy idle connections closed by maintenance, [`Pool::close_idle`], resize or shutdown.
    pub evicted: u64,
    /// Total time successful checkouts took (slot wait, checks of idle connections, connecting), in
    /// microseconds; divide by `checkouts` for the mean.
    pub wait_micros_total: u64,
    /// The highest `active` ever seen.
    pub max_active_seen: usize,
}

impl PoolStats {
    /// `active / max` in `0.0..=1.0` (0 when `max` is 0).
    pub fn utilisation(&self) -> f64 {
        if self.max == 0 { 0.0 } else { self.active as f64 / self.max as f64 }
    }
}
