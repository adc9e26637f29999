//! The monitor's data-path cost: building and recording one statement event (what a session does per
//! statement), and folding it (what the aggregator does, off the data path). Digest normalisation is in
//! `benches/classify.rs` (`fingerprint/*`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::classify::{Dialect, classify_uncached};
use switchyard::config::{self, Role, ServerConfig};
use switchyard::monitor::{Monitor, Params, Probe, SessionInfo, Text};
use switchyard::pool::topology::Server;

const SQL: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213";

fn bench(c: &mut Criterion) {
    let frame = Bytes::from(format!("Q\0\0\0\0{SQL}\0"));
    let class = Arc::new(classify_uncached(Dialect::Postgres, SQL));
    let server = Arc::new(Server::new(&ServerConfig { name: "p".into(), addr: "x:1".into(), weight: 1 }, Role::Read));
    let info = Arc::new(SessionInfo::new(1, "app", "db", Dialect::Postgres));
    let monitor = Monitor::new(&config::Monitor { event_queue: 1 << 20, ..config::Monitor::default() });

    // Per statement on the data path: two clock reads, the probe, the event, one queue push. The queue is
    // drained outside the timed loop often enough never to fill.
    c.bench_function("monitor/record_event", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(100_000);
                let start = Instant::now();
                for _ in 0..n {
                    let probe =
                        Probe::new(class.clone(), Instant::now(), Text::nul_terminated(frame.clone(), 5), Params::None);
                    monitor.record(black_box(probe.finish(&info, &server)));
                }
                total += start.elapsed();
                monitor.drain();
                left -= n;
            }
            total
        })
    });

    // Off the data path: folding one event into its digest (histogram, totals, N+1 window).
    c.bench_function("monitor/fold_event", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(100_000);
                for _ in 0..n {
                    let probe =
                        Probe::new(class.clone(), Instant::now(), Text::nul_terminated(frame.clone(), 5), Params::None);
                    monitor.record(probe.finish(&info, &server));
                }
                let start = Instant::now();
                monitor.drain();
                total += start.elapsed();
                left -= n;
            }
            total
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
