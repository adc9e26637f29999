//! The RAII guards that keep the pool's counts right whatever happens to a checkout: [`Pooled`], the checked-out
//! connection a client holds, and the private guards for a waiting client, a slot, a connection being opened
//! and a connection outside the idle list.
//!
//! Each guard undoes exactly its own count on drop, so cancellation at any await point leaks nothing. None of
//! them decides policy: whether a connection is kept is [`Pool::put_idle`]'s business.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::checkout::{Counters, Live};
use super::{Connector, Pool};

/// Counts a client as waiting for as long as it is alive.
pub(super) struct Waiting<'a, C: Connector>(&'a Pool<C>);

impl<'a, C: Connector> Waiting<'a, C> {
    pub(super) fn enter(pool: &'a Pool<C>) -> Self {
        pool.state.lock().waiting += 1;
        Waiting(pool)
    }
}

impl<C: Connector> Drop for Waiting<'_, C> {
    fn drop(&mut self) {
        self.0.state.lock().waiting -= 1;
    }
}

/// A semaphore permit that goes back through [`Pool::return_permit`] when dropped.
pub(super) struct Slot<C: Connector> {
    pub(super) pool: Arc<Pool<C>>,
    pub(super) permit: Option<OwnedSemaphorePermit>,
}

impl<C: Connector> Drop for Slot<C> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.pool.return_permit(permit);
        }
    }
}

/// A connection being opened: counted in `open` and `connecting`; dropping it (failure or cancellation)
/// takes both counts back.
pub(super) struct Connecting<C: Connector> {
    pool: Arc<Pool<C>>,
    armed: bool,
}

impl<C: Connector> Connecting<C> {
    pub(super) fn start(pool: &Arc<Pool<C>>) -> Self {
        let mut st = pool.state.lock();
        st.open += 1;
        st.connecting += 1;
        Connecting { pool: pool.clone(), armed: true }
    }

    /// Reserves a connection only while fewer than `min` are open (maintenance refill).
    pub(super) fn start_below(pool: &Arc<Pool<C>>, min: usize) -> Option<Self> {
        let mut st = pool.state.lock();
        if st.open >= min {
            return None;
        }
        st.open += 1;
        st.connecting += 1;
        Some(Connecting { pool: pool.clone(), armed: true })
    }

    pub(super) fn finish(mut self, conn: C::Conn) -> Held<C> {
        self.pool.state.lock().connecting -= 1;
        self.armed = false;
        let now = Instant::now();
        Held { pool: self.pool.clone(), live: Some(Live { conn, created: now, last_used: now }), evict: false }
    }
}

impl<C: Connector> Drop for Connecting<C> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.pool.state.lock();
        st.open -= 1;
        st.connecting -= 1;
    }
}

/// An open connection outside the idle list. Dropping it closes the connection and counts it as discarded
/// (or evicted when `evict` is set); taking `live` out hands ownership elsewhere.
pub(super) struct Held<C: Connector> {
    pub(super) pool: Arc<Pool<C>>,
    pub(super) live: Option<Live<C::Conn>>,
    pub(super) evict: bool,
}

impl<C: Connector> Held<C> {
    pub(super) fn times(&self) -> (Instant, Instant) {
        self.live.as_ref().map(|l| (l.created, l.last_used)).expect("a Held owns its connection until taken")
    }

    pub(super) fn conn_mut(&mut self) -> &mut C::Conn {
        &mut self.live.as_mut().expect("a Held owns its connection until taken").conn
    }
}

impl<C: Connector> Drop for Held<C> {
    fn drop(&mut self) {
        let Some(live) = self.live.take() else { return };
        self.pool.state.lock().open -= 1;
        let counter = if self.evict { &self.pool.counters.evicted } else { &self.pool.counters.discarded };
        Counters::add(counter, 1);
        drop(live);
    }
}

/// A checked-out backend connection. Dereferences to the connection.
///
/// Give it back with [`Pooled::release`] only when it is clean and idle; dropping it without `release`
/// closes it (a connection in an unknown state is never reused).
pub struct Pooled<C: Connector> {
    // Field order matters: the connection is dealt with before the slot is given back.
    held: Held<C>,
    _slot: Slot<C>,
}

impl<C: Connector> Pooled<C> {
    pub(super) fn new(held: Held<C>, slot: Slot<C>) -> Self {
        let mut st = held.pool.state.lock();
        st.active += 1;
        st.max_active_seen = st.max_active_seen.max(st.active);
        drop(st);
        Pooled { held, _slot: slot }
    }

    /// Returns the connection to the idle list. The caller guarantees it is clean and idle.
    pub fn release(mut self) {
        if let Some(live) = self.held.live.take() {
            self.held.pool.put_idle(live);
        }
    }

    /// Closes the connection; counted as discarded.
    pub fn discard(self) {
        drop(self);
    }

    /// How long ago the backend connection was opened.
    pub fn age(&self) -> Duration {
        self.held.times().0.elapsed()
    }
}

impl<C: Connector> Drop for Pooled<C> {
    fn drop(&mut self) {
        self.held.pool.state.lock().active -= 1;
    }
}

impl<C: Connector> Deref for Pooled<C> {
    type Target = C::Conn;

    fn deref(&self) -> &C::Conn {
        &self.held.live.as_ref().expect("a Pooled owns its connection until released").conn
    }
}

impl<C: Connector> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C::Conn {
        self.held.conn_mut()
    }
}

impl<C: Connector> std::fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("age", &self.age()).finish_non_exhaustive()
    }
}
