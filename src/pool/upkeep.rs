//! Pool upkeep: the maintenance pass (idle and lifetime eviction, refill to `min`), resizing, admin
//! CLEANUP / PAUSE / RESUME, shutdown, and the periodic maintenance task.
//!
//! Nothing here touches a connection that is checked out: resizing and eviction only ever close idle
//! connections, and a smaller `max` is reached as clients give their slots back.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::checkout::{Counters, Gate, Live};
use super::pooled::{Connecting, Slot};
use super::{Connector, Pool, PoolConfig};

impl<C: Connector> Pool<C> {
    /// Applies new sizing and timeouts. Connections in use are never closed: a smaller `max` takes slots
    /// away as they are given back, and idle connections beyond it are closed now.
    pub fn resize(&self, cfg: PoolConfig) {
        let mut st = self.state.lock();
        let (old, new) = (st.cfg.max, cfg.max);
        if new > old {
            let repaid = (new - old).min(st.debt);
            st.debt -= repaid;
            self.permits.add_permits(new - old - repaid);
        } else if new < old {
            let shrink = old - new;
            let forgotten = self.permits.forget_permits(shrink);
            st.debt += shrink - forgotten;
        }
        st.cfg = cfg;
        let mut excess = Vec::new();
        while st.open > new {
            let Some(live) = st.idle.pop_front() else { break };
            st.open -= 1;
            excess.push(live);
        }
        drop(st);
        self.evicted(excess);
    }

    /// One maintenance pass: closes idle connections past `max_lifetime`, closes idle connections above `min`
    /// unused for `idle_timeout` (least recently used first), then opens connections up to `min` while
    /// slots are free. A failed refill stops the pass; the next pass tries again.
    pub async fn maintain(self: &Arc<Self>) {
        let cfg = self.evict_stale();
        if *self.gate.borrow() == Gate::Open {
            self.refill(&cfg).await;
        }
    }

    /// The eviction half of [`Pool::maintain`]; returns the configuration it applied.
    fn evict_stale(&self) -> PoolConfig {
        let now = Instant::now();
        let mut st = self.state.lock();
        let cfg = st.cfg.clone();
        let (keep, mut closing): (Vec<_>, Vec<_>) =
            st.idle.drain(..).partition(|l| now.duration_since(l.created) < cfg.max_lifetime);
        st.idle = keep.into();
        st.open -= closing.len();
        while st.open > cfg.min {
            match st.idle.front() {
                Some(l) if now.duration_since(l.last_used) >= cfg.idle_timeout => {}
                _ => break,
            }
            closing.extend(st.idle.pop_front());
            st.open -= 1;
        }
        drop(st);
        self.evicted(closing);
        cfg
    }

    /// Opens connections into the idle list until `min` are open or no slot is free.
    async fn refill(self: &Arc<Self>, cfg: &PoolConfig) {
        loop {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else { return };
            let _slot = Slot { pool: self.clone(), permit: Some(permit) };
            let Some(connecting) = Connecting::start_below(self, cfg.min) else { return };
            match self.open_connection(connecting, cfg).await {
                Ok(mut held) => {
                    if let Some(live) = held.live.take() {
                        self.put_idle(live);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "refill pool");
                    return;
                }
            }
        }
    }

    /// Closes every idle connection now (admin CLEANUP); returns how many were closed.
    pub fn close_idle(&self) -> usize {
        let mut st = self.state.lock();
        let idle: Vec<_> = st.idle.drain(..).collect();
        st.open -= idle.len();
        drop(st);
        let n = idle.len();
        self.evicted(idle);
        n
    }

    /// Holds new checkouts until [`Pool::resume`]; their wait still counts toward `connection_timeout`.
    pub fn pause(&self) {
        self.gate.send_if_modified(|g| {
            let change = *g == Gate::Open;
            if change {
                *g = Gate::Paused;
            }
            change
        });
    }

    /// Lets waiting and new checkouts proceed after [`Pool::pause`].
    pub fn resume(&self) {
        self.gate.send_if_modified(|g| {
            let change = *g == Gate::Paused;
            if change {
                *g = Gate::Open;
            }
            change
        });
    }

    /// Shuts the pool down: idle connections are closed, waiting and further checkouts fail with
    /// [`super::PoolError::Closed`], and connections given back later are closed.
    pub fn close(&self) {
        self.gate.send_replace(Gate::Closed);
        self.permits.close();
        self.close_idle();
    }

    /// True once [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.gate.borrow() == Gate::Closed
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        *self.gate.borrow() == Gate::Paused
    }

    /// Drops healthy connections taken out of the idle list, counting them as evicted.
    fn evicted(&self, conns: Vec<Live<C::Conn>>) {
        Counters::add(&self.counters.evicted, conns.len() as u64);
        drop(conns);
    }
}

/// Runs [`Pool::maintain`] every `every` (the first pass at once) until `cancel` fires, the pool is closed,
/// or the last other reference to the pool is dropped (the task holds only a `Weak`).
pub fn spawn_maintenance<C: Connector>(
    pool: &Arc<Pool<C>>,
    every: Duration,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let weak: Weak<Pool<C>> = Arc::downgrade(pool);
    let every = every.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(pool) = weak.upgrade() else { return };
            if pool.is_closed() {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = pool.maintain() => {}
            }
        }
    })
}
