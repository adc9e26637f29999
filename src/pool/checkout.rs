//! The [`Pool`] itself and the checkout path: a fair wait for a slot, reuse of the most recently used healthy
//! idle connection, or a new connection.
//!
//! Slots are permits of a FIFO `tokio::sync::Semaphore` sized to `max`, so waiting is fair and no more than `max`
//! connections are ever checked out. Every connection is owned by the idle list or by one of the RAII guards in
//! `pooled.rs` at every await point, so a cancelled checkout never leaks a count. Maintenance, resizing and
//! shutdown live in `upkeep.rs`; this file does not evict anything on a timer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use super::pooled::{Connecting, Held, Pooled, Slot, Waiting};
use super::{ConnectError, ConnectErrorKind, Connector, PoolConfig, PoolError, PoolStats};

/// A backend connection with the times the pool needs.
pub(super) struct Live<T> {
    pub(super) conn: T,
    pub(super) created: Instant,
    pub(super) last_used: Instant,
}

/// Whether checkouts may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    /// Normal operation.
    Open,
    /// Checkouts wait (admin PAUSE).
    Paused,
    /// Shut down: checkouts fail, returned connections are closed.
    Closed,
}

/// Everything that changes together, behind one lock.
pub(super) struct State<T> {
    pub(super) cfg: PoolConfig,
    /// Idle connections, least recently used at the front.
    pub(super) idle: VecDeque<Live<T>>,
    /// Connections open or being opened.
    pub(super) open: usize,
    pub(super) connecting: usize,
    pub(super) active: usize,
    pub(super) max_active_seen: usize,
    pub(super) waiting: usize,
    /// Permits still to be forgotten (instead of returned) after `max` shrank below what was in use.
    pub(super) debt: usize,
}

/// Monotonic counters, readable without the lock.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) checkouts: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) connect_errors: AtomicU64,
    pub(super) discarded: AtomicU64,
    pub(super) evicted: AtomicU64,
    pub(super) wait_micros_total: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A pool of backend connections to one server for one (user, database).
pub struct Pool<C: Connector> {
    pub(super) connector: C,
    pub(super) permits: Arc<Semaphore>,
    pub(super) state: Mutex<State<C::Conn>>,
    pub(super) gate: watch::Sender<Gate>,
    pub(super) counters: Counters,
}

impl<C: Connector> Pool<C> {
    /// A pool with no connections yet; call [`Pool::maintain`] (or [`super::spawn_maintenance`]) to open `min`.
    pub fn new(connector: C, cfg: PoolConfig) -> Arc<Self> {
        let state = State {
            idle: VecDeque::new(),
            open: 0,
            connecting: 0,
            active: 0,
            max_active_seen: 0,
            waiting: 0,
            debt: 0,
            cfg: cfg.clone(),
        };
        Arc::new(Pool {
            connector,
            permits: Arc::new(Semaphore::new(cfg.max)),
            state: Mutex::new(state),
            gate: watch::channel(Gate::Open).0,
            counters: Counters::default(),
        })
    }

    /// The connector this pool opens connections with.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The current sizing and timeouts.
    pub fn config(&self) -> PoolConfig {
        self.state.lock().cfg.clone()
    }

    /// Waits fairly (FIFO) up to `connection_timeout` for a slot, then reuses the most recently used idle
    /// connection that passes [`Connector::is_open`] (and [`Connector::ping`], bounded by `connect_timeout`,
    /// when it was idle longer than `health_check_after`); failed ones are discarded and the next is tried.
    /// With no usable idle connection a new one is opened within `connect_timeout`.
    ///
    /// While the pool is paused the wait continues; a pause that outlasts `connection_timeout` ends in
    /// [`PoolError::Closed`], as does a shut-down pool.
    pub async fn checkout(self: &Arc<Self>) -> Result<Pooled<C>, PoolError> {
        let started = Instant::now();
        let cfg = self.config();
        let slot = self.wait_for_slot(started, cfg.connection_timeout).await?;
        let held = match self.take_idle(&cfg).await {
            Some(held) => held,
            None => self.open_new(&cfg).await?,
        };
        Counters::add(&self.counters.checkouts, 1);
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        Counters::add(&self.counters.wait_micros_total, waited);
        Ok(Pooled::new(held, slot))
    }

    /// Occupancy and counters now.
    pub fn stats(&self) -> PoolStats {
        let c = &self.counters;
        let st = self.state.lock();
        PoolStats {
            total: st.open,
            idle: st.idle.len(),
            active: st.active,
            waiting: st.waiting,
            connecting: st.connecting,
            max: st.cfg.max,
            checkouts: c.checkouts.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            connect_errors: c.connect_errors.load(Ordering::Relaxed),
            discarded: c.discarded.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            wait_micros_total: c.wait_micros_total.load(Ordering::Relaxed),
            max_active_seen: st.max_active_seen,
        }
    }

    /// Waits for a permit while counted as waiting; maps the deadline to `Timeout` (or `Closed` when paused).
    async fn wait_for_slot(self: &Arc<Self>, started: Instant, limit: Duration) -> Result<Slot<C>, PoolError> {
        let _waiting = Waiting::enter(self);
        match tokio::time::timeout(limit, self.acquire()).await {
            Ok(Some(permit)) => Ok(Slot { pool: self.clone(), permit: Some(permit) }),
            Ok(None) => Err(PoolError::Closed),
            Err(_elapsed) => {
                Counters::add(&self.counters.timeouts, 1);
                if *self.gate.borrow() == Gate::Open {
                    Err(PoolError::Timeout { waited: started.elapsed() })
                } else {
                    Err(PoolError::Closed)
                }
            }
        }
    }

    /// A permit once the gate is open; `None` when the pool is closed.
    async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        let mut gate = self.gate.subscribe();
        loop {
            let now = *gate.wait_for(|g| *g != Gate::Paused).await.ok()?;
            if now == Gate::Closed {
                return None;
            }
            let permit = self.permits.clone().acquire_owned().await.ok()?;
            match *self.gate.borrow() {
                Gate::Open => return Some(permit),
                Gate::Closed => return None,
                Gate::Paused => {}
            }
            // Paused while we queued: give the slot back and wait for resume.
            self.return_permit(permit);
        }
    }

    /// Pops idle connections (most recent first) until one passes the checks.
    async fn take_idle(self: &Arc<Self>, cfg: &PoolConfig) -> Option<Held<C>> {
        loop {
            let live = self.state.lock().idle.pop_back()?;
            let mut held = Held { pool: self.clone(), live: Some(live), evict: false };
            let (created, last_used) = held.times();
            if created.elapsed() >= cfg.max_lifetime {
                held.evict = true;
                continue;
            }
            if !self.connector.is_open(held.conn_mut()) {
                continue;
            }
            if last_used.elapsed() > cfg.health_check_after {
                let ping = self.connector.ping(held.conn_mut());
                if !tokio::time::timeout(cfg.connect_timeout, ping).await.unwrap_or(false) {
                    continue;
                }
            }
            return Some(held);
        }
    }

    /// Opens a new connection within `connect_timeout`; the caller holds a slot.
    async fn open_new(self: &Arc<Self>, cfg: &PoolConfig) -> Result<Held<C>, PoolError> {
        self.open_connection(Connecting::start(self), cfg).await
    }

    /// Connects for a reservation already counted in `open`; a failure is counted and gives it back.
    pub(super) async fn open_connection(
        self: &Arc<Self>,
        connecting: Connecting<C>,
        cfg: &PoolConfig,
    ) -> Result<Held<C>, PoolError> {
        let result = match tokio::time::timeout(cfg.connect_timeout, self.connector.connect()).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ConnectError::new(
                ConnectErrorKind::Timeout,
                format!("no connection within {:?}", cfg.connect_timeout),
            )),
        };
        match result {
            Ok(conn) => Ok(connecting.finish(conn)),
            Err(e) => {
                Counters::add(&self.counters.connect_errors, 1);
                Err(PoolError::Connect(e))
            }
        }
    }

    /// Returns a connection to the idle list, or closes it when the pool is closed, over `max`, or too old.
    pub(super) fn put_idle(&self, mut live: Live<C::Conn>) {
        let now = Instant::now();
        let closed = self.is_closed();
        let mut st = self.state.lock();
        let keep = !closed && st.open <= st.cfg.max && now.duration_since(live.created) < st.cfg.max_lifetime;
        if keep {
            live.last_used = now;
            st.idle.push_back(live);
            return;
        }
        st.open -= 1;
        drop(st);
        Counters::add(&self.counters.evicted, 1);
        drop(live);
    }

    /// Gives a slot back, or forgets it while the pool owes permits after shrinking.
    pub(super) fn return_permit(&self, permit: OwnedSemaphorePermit) {
        let mut st = self.state.lock();
        if st.debt > 0 {
            st.debt -= 1;
            permit.forget();
        } else {
            drop(st);
            drop(permit);
        }
    }
}
