//! Checkout: reuse order, fairness, timeouts, the `max` bound, discarding, checks before reuse, connect errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::fake::{cfg, pool, until};
use crate::pool::{ConnectErrorKind, PoolConfig, PoolError};

#[tokio::test(start_paused = true)]
async fn reuses_the_most_recently_used_idle_connection() {
    let (pool, fake) = pool(cfg(0, 3));
    let a = pool.checkout().await.unwrap();
    let b = pool.checkout().await.unwrap();
    let b_id = b.id;
    a.release();
    b.release();
    let c = pool.checkout().await.unwrap();
    assert_eq!(c.id, b_id);
    assert_eq!(fake.opened(), 2);
    let s = pool.stats();
    assert_eq!((s.total, s.idle, s.active, s.checkouts), (2, 1, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let (pool, _fake) = pool(PoolConfig { connection_timeout: Duration::from_secs(60), ..cfg(0, 1) });
    let held = pool.checkout().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (shared, order) = (pool.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let conn = shared.checkout().await.unwrap();
            order.lock().push(i);
            tokio::time::sleep(Duration::from_millis(5)).await;
            conn.release();
        }));
        until(|| pool.stats().waiting == i + 1).await;
    }
    held.release();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
    assert_eq!(pool.stats().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn checkout_times_out_after_connection_timeout() {
    let limit = Duration::from_millis(100);
    let (pool, _fake) = pool(PoolConfig { connection_timeout: limit, ..cfg(0, 1) });
    let _held = pool.checkout().await.unwrap();
    let started = Instant::now();
    match pool.checkout().await {
        Err(PoolError::Timeout { waited }) => assert!(waited >= limit, "waited {waited:?}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < limit * 2);
    let s = pool.stats();
    assert_eq!((s.timeouts, s.waiting, s.active), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn fifty_clients_never_hold_more_than_max() {
    let (pool, fake) = pool(PoolConfig { connection_timeout: Duration::from_secs(60), ..cfg(0, 5) });
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50u64)
        .map(|i| {
            let (pool, in_flight, peak) = (pool.clone(), in_flight.clone(), peak.clone());
            tokio::spawn(async move {
                let conn = pool.checkout().await?;
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10 + i % 7)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                conn.release();
                Ok::<_, PoolError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.max_active_seen, 5);
    assert_eq!(peak.load(Ordering::SeqCst), 5);
    assert_eq!((s.checkouts, s.timeouts, s.active, s.waiting), (50, 0, 0, 0));
    assert!(s.total <= 5 && fake.opened() <= 5, "{s:?}, opened {}", fake.opened());
    assert!(s.wait_micros_total > 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_without_release_discards() {
    let (pool, fake) = pool(cfg(0, 2));
    let a = pool.checkout().await.unwrap();
    let a_id = a.id;
    drop(a);
    assert_eq!(fake.live(), 0);
    let b = pool.checkout().await.unwrap();
    assert_ne!(b.id, a_id);
    b.discard();
    let s = pool.stats();
    assert_eq!((s.discarded, s.total, s.idle, s.active), (2, 0, 0, 0));
    assert_eq!(fake.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn closed_idle_connection_falls_back_to_the_next_or_a_new_one() {
    let (pool, fake) = pool(cfg(0, 2));
    let a = pool.checkout().await.unwrap();
    let b = pool.checkout().await.unwrap();
    let (a_id, b_id) = (a.id, b.id);
    a.release();
    b.release();
    fake.broken.lock().insert(b_id);
    let c = pool.checkout().await.unwrap();
    assert_eq!(c.id, a_id, "the next idle connection is tried");
    fake.broken.lock().insert(a_id);
    c.release();
    let d = pool.checkout().await.unwrap();
    assert!(d.id != a_id && d.id != b_id, "a new connection is opened");
    let s = pool.stats();
    assert_eq!((s.discarded, s.total, s.idle), (2, 1, 0));
    assert_eq!(fake.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn long_idle_connection_is_pinged_before_reuse() {
    let (pool, fake) = pool(cfg(0, 2));
    let a = pool.checkout().await.unwrap();
    let a_id = a.id;
    a.release();
    tokio::time::advance(Duration::from_secs(10)).await;
    let a = pool.checkout().await.unwrap();
    assert_eq!((a.id, fake.pings()), (a_id, 0), "recently used: no ping");
    a.release();
    tokio::time::advance(Duration::from_secs(31)).await;
    let a = pool.checkout().await.unwrap();
    assert_eq!((a.id, fake.pings()), (a_id, 1), "ping passed: reused");
    a.release();
    tokio::time::advance(Duration::from_secs(31)).await;
    fake.ping_fails.store(true, Ordering::SeqCst);
    let b = pool.checkout().await.unwrap();
    assert_ne!(b.id, a_id, "ping failed: replaced");
    assert_eq!((fake.pings(), pool.stats().discarded), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn connect_failure_is_reported_and_frees_the_slot() {
    let (pool, fake) = pool(cfg(0, 1));
    fake.fail.store(true, Ordering::SeqCst);
    match pool.checkout().await {
        Err(PoolError::Connect(e)) => assert_eq!(e.kind, ConnectErrorKind::Unreachable),
        other => panic!("expected a connect error, got {other:?}"),
    }
    let s = pool.stats();
    assert_eq!((s.connect_errors, s.total, s.connecting, s.active), (1, 0, 0, 0));
    fake.fail.store(false, Ordering::SeqCst);
    assert!(pool.checkout().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn slow_connect_times_out_after_connect_timeout() {
    let (pool, fake) = pool(cfg(0, 1));
    *fake.connect_delay.lock() = Duration::from_secs(2);
    match pool.checkout().await {
        Err(PoolError::Connect(e)) => assert_eq!(e.kind, ConnectErrorKind::Timeout),
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    let s = pool.stats();
    assert_eq!((s.connect_errors, s.total, s.connecting), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn cancelled_checkout_leaks_no_slot_or_count() {
    let (pool, fake) = pool(cfg(0, 1));
    *fake.connect_delay.lock() = Duration::from_secs(10);
    let cancelled = tokio::time::timeout(Duration::from_millis(100), pool.checkout()).await;
    assert!(cancelled.is_err());
    let s = pool.stats();
    assert_eq!((s.total, s.connecting, s.waiting, s.active), (0, 0, 0, 0));
    *fake.connect_delay.lock() = Duration::ZERO;
    assert!(pool.checkout().await.is_ok(), "the slot came back");
}

#[tokio::test(start_paused = true)]
async fn age_and_utilisation() {
    let (pool, _fake) = pool(cfg(0, 4));
    let a = pool.checkout().await.unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(a.age() >= Duration::from_secs(5));
    assert!((pool.stats().utilisation() - 0.25).abs() < f64::EPSILON);
}
