//! An in-memory connector whose behaviour the tests steer, and helpers shared by the pool tests.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::pool::{ConnectError, ConnectErrorKind, Connector, Pool, PoolConfig};

/// What the tests control and observe.
#[derive(Default)]
pub struct FakeState {
    next_id: AtomicUsize,
    /// Connections opened so far.
    pub opened: AtomicUsize,
    /// Connections currently alive (dropped ones are gone).
    pub live: AtomicUsize,
    /// Connect attempts fail with `Unreachable`.
    pub fail: AtomicBool,
    /// Connect takes this long.
    pub connect_delay: Mutex<Duration>,
    /// Connection ids whose `is_open` is false.
    pub broken: Mutex<HashSet<usize>>,
    /// Pings fail.
    pub ping_fails: AtomicBool,
    /// Pings made so far.
    pub pings: AtomicUsize,
}

impl FakeState {
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    pub fn pings(&self) -> usize {
        self.pings.load(Ordering::SeqCst)
    }
}

/// The connector.
pub struct Fake(pub Arc<FakeState>);

/// A fake backend connection; ids start at 1.
pub struct FakeConn {
    pub id: usize,
    state: Arc<FakeState>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.state.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connector for Fake {
    type Conn = FakeConn;

    fn connect(&self) -> impl Future<Output = Result<FakeConn, ConnectError>> + Send {
        let state = self.0.clone();
        async move {
            let delay = *state.connect_delay.lock();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if state.fail.load(Ordering::SeqCst) {
                return Err(ConnectError::new(ConnectErrorKind::Unreachable, "connection refused"));
            }
            let id = state.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            state.opened.fetch_add(1, Ordering::SeqCst);
            state.live.fetch_add(1, Ordering::SeqCst);
            Ok(FakeConn { id, state })
        }
    }

    fn is_open(&self, conn: &mut FakeConn) -> bool {
        !self.0.broken.lock().contains(&conn.id)
    }

    async fn ping(&self, _conn: &mut FakeConn) -> bool {
        self.0.pings.fetch_add(1, Ordering::SeqCst);
        !self.0.ping_fails.load(Ordering::SeqCst)
    }
}

/// Pool settings with generous timeouts unless a test narrows them.
pub fn cfg(min: usize, max: usize) -> PoolConfig {
    PoolConfig {
        min,
        max,
        connection_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(60),
        max_lifetime: Duration::from_secs(3600),
        health_check_after: Duration::from_secs(30),
    }
}

/// A pool over a fresh fake, and the fake's state.
pub fn pool(cfg: PoolConfig) -> (Arc<Pool<Fake>>, Arc<FakeState>) {
    let state = Arc::new(FakeState::default());
    (Pool::new(Fake(state.clone()), cfg), state)
}

/// Yields to other tasks until `cond` holds; fails the test if it never does.
pub async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never became true");
}
