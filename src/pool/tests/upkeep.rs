//! Maintenance, resizing, pause / resume, close and the maintenance task.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::fake::{cfg, pool, until};
use crate::pool::{PoolConfig, PoolError, spawn_maintenance};

fn idle_ids(pool: &crate::pool::Pool<super::fake::Fake>) -> BTreeSet<usize> {
    pool.state.lock().idle.iter().map(|l| l.conn.id).collect()
}

#[tokio::test(start_paused = true)]
async fn maintain_opens_up_to_min() {
    let (pool, fake) = pool(cfg(3, 5));
    pool.maintain().await;
    let s = pool.stats();
    assert_eq!((s.total, s.idle, s.active), (3, 3, 0));
    pool.maintain().await;
    assert_eq!((pool.stats().total, fake.opened()), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn maintain_closes_least_recently_used_idle_above_min() {
    let (pool, fake) = pool(cfg(2, 5));
    let conns = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    let later = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    let later_ids: BTreeSet<usize> = later.iter().map(|c| c.id).collect();
    conns.into_iter().for_each(|c| c.release());
    tokio::time::advance(Duration::from_secs(20)).await;
    later.into_iter().for_each(|c| c.release());
    tokio::time::advance(Duration::from_secs(30)).await;
    pool.maintain().await;
    assert_eq!(pool.stats().idle, 4, "nothing idle for 60 s yet");
    tokio::time::advance(Duration::from_secs(15)).await;
    pool.maintain().await;
    assert_eq!(idle_ids(&pool), later_ids);
    tokio::time::advance(Duration::from_secs(120)).await;
    pool.maintain().await;
    let s = pool.stats();
    assert_eq!((s.idle, s.total, s.evicted), (2, 2, 2), "min is kept");
    assert_eq!(fake.live(), 2);
}

#[tokio::test(start_paused = true)]
async fn maintain_replaces_connections_past_max_lifetime() {
    let (pool, fake) = pool(PoolConfig { max_lifetime: Duration::from_secs(600), ..cfg(2, 5) });
    pool.maintain().await;
    let first = idle_ids(&pool);
    let in_use = pool.checkout().await.unwrap();
    tokio::time::advance(Duration::from_secs(601)).await;
    pool.maintain().await;
    let after = idle_ids(&pool);
    assert_eq!(after.len(), 1, "one old idle connection closed, total back at min with the one in use");
    assert!(after.is_disjoint(&first));
    assert_eq!(pool.stats().total, 2);
    in_use.release();
    let s = pool.stats();
    assert_eq!((s.total, s.idle, s.evicted), (1, 1, 2), "too old to go back to the idle list");
    assert_eq!(fake.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn close_idle_closes_every_idle_connection() {
    let (pool, fake) = pool(cfg(3, 5));
    pool.maintain().await;
    let held = pool.checkout().await.unwrap();
    assert_eq!(pool.close_idle(), 2);
    let s = pool.stats();
    assert_eq!((s.total, s.idle, s.active, s.evicted), (1, 0, 1, 2));
    assert_eq!(fake.live(), 1);
    held.release();
}

#[tokio::test(start_paused = true)]
async fn resize_up_serves_a_waiter() {
    let (pool, _fake) = pool(PoolConfig { connection_timeout: Duration::from_secs(60), ..cfg(0, 2) });
    let held = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout().await.map(|c| c.release()) }
    });
    until(|| pool.stats().waiting == 1).await;
    pool.resize(cfg(0, 3));
    waiter.await.unwrap().unwrap();
    let s = pool.stats();
    assert_eq!((s.max, s.active, s.max_active_seen), (3, 2, 3));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn resize_down_keeps_connections_in_use_and_shrinks_as_they_return() {
    let small = PoolConfig { connection_timeout: Duration::from_millis(100), ..cfg(0, 1) };
    let (pool, fake) = pool(PoolConfig { connection_timeout: Duration::from_millis(100), ..cfg(0, 3) });
    let held = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    pool.resize(small.clone());
    assert_eq!((fake.live(), pool.stats().active), (3, 3), "nothing in use is closed");
    held.into_iter().for_each(|c| c.release());
    let s = pool.stats();
    assert_eq!((s.total, s.idle, s.evicted, s.max), (1, 1, 2, 1));
    let one = pool.checkout().await.unwrap();
    assert!(matches!(pool.checkout().await, Err(PoolError::Timeout { .. })), "only one slot left");
    one.release();
    pool.resize(PoolConfig { max: 3, ..small });
    let again = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    assert_eq!(pool.stats().active, 3);
    drop(again);
}

#[tokio::test(start_paused = true)]
async fn resize_down_with_free_slots_takes_effect_at_once() {
    let (pool, _fake) = pool(PoolConfig { connection_timeout: Duration::from_millis(100), ..cfg(0, 4) });
    pool.resize(PoolConfig { connection_timeout: Duration::from_millis(100), ..cfg(0, 2) });
    let held = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    assert!(matches!(pool.checkout().await, Err(PoolError::Timeout { .. })));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_checkouts_until_resume() {
    let (pool, _fake) = pool(cfg(0, 2));
    pool.pause();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout().await.map(|c| c.release()) }
    });
    until(|| pool.stats().waiting == 1).await;
    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(!waiter.is_finished());
    assert!(pool.is_paused());
    pool.resume();
    waiter.await.unwrap().unwrap();
    assert_eq!(pool.stats().checkouts, 1);
}

#[tokio::test(start_paused = true)]
async fn pause_longer_than_connection_timeout_fails_closed() {
    let (pool, _fake) = pool(cfg(0, 2));
    pool.pause();
    assert_eq!(pool.checkout().await.unwrap_err(), PoolError::Closed);
    assert_eq!((pool.stats().timeouts, pool.stats().waiting), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn close_fails_waiters_and_closes_connections() {
    let (pool, fake) = pool(PoolConfig { connection_timeout: Duration::from_secs(60), ..cfg(2, 3) });
    pool.maintain().await;
    let held = [pool.checkout().await.unwrap(), pool.checkout().await.unwrap(), pool.checkout().await.unwrap()];
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout().await.map(|c| c.release()) }
    });
    until(|| pool.stats().waiting == 1).await;
    pool.close();
    assert_eq!(waiter.await.unwrap().unwrap_err(), PoolError::Closed);
    held.into_iter().for_each(|c| c.release());
    assert_eq!((pool.stats().total, fake.live()), (0, 0), "released connections are closed");
    assert_eq!(pool.checkout().await.unwrap_err(), PoolError::Closed);
    pool.maintain().await;
    assert_eq!(fake.live(), 0, "a closed pool is not refilled");
}

#[tokio::test(start_paused = true)]
async fn maintenance_task_refills_and_ends_with_the_pool() {
    let (pool, fake) = pool(cfg(2, 4));
    let task = spawn_maintenance(&pool, Duration::from_secs(1), CancellationToken::new());
    until(|| pool.stats().idle == 2).await;
    pool.close_idle();
    tokio::time::advance(Duration::from_secs(1)).await;
    until(|| pool.stats().idle == 2).await;
    assert_eq!(fake.opened(), 4);
    drop(pool);
    task.await.unwrap();
    assert_eq!(fake.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn maintenance_task_stops_on_cancel() {
    let (pool, _fake) = pool(cfg(0, 4));
    let cancel = CancellationToken::new();
    let task = spawn_maintenance(&pool, Duration::from_secs(1), cancel.clone());
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(std::sync::Arc::strong_count(&pool), 1);
}
