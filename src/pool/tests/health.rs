//! The health loop: every server probed each interval, timeouts, results recorded, cancellation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::fake::until;
use crate::config::{Cluster, Health, Role, Routing, ServerConfig};
use crate::pool::health::probe_all;
use crate::pool::{Probe, ProbeResult, Server, Topology, spawn_health};

#[derive(Clone)]
enum Answer {
    Ok(ProbeResult),
    Fail,
    Hang,
}

/// Answers per server name (default: healthy, writable, no lag) and counts probes.
#[derive(Default)]
struct FakeProbe {
    answers: Mutex<HashMap<String, Answer>>,
    calls: Mutex<HashMap<String, usize>>,
}

impl FakeProbe {
    fn set(&self, name: &str, answer: Answer) {
        self.answers.lock().insert(name.into(), answer);
    }

    fn calls(&self, name: &str) -> usize {
        self.calls.lock().get(name).copied().unwrap_or(0)
    }
}

impl Probe for FakeProbe {
    fn probe<'a>(&'a self, server: &'a Server) -> impl Future<Output = Result<ProbeResult, String>> + Send + 'a {
        *self.calls.lock().entry(server.name.clone()).or_default() += 1;
        let answer = self.answers.lock().get(&server.name).cloned();
        async move {
            match answer.unwrap_or(Answer::Ok(ProbeResult { read_only: false, lag: None })) {
                Answer::Ok(r) => Ok(r),
                Answer::Fail => Err("connection refused".to_string()),
                Answer::Hang => std::future::pending().await,
            }
        }
    }
}

fn topology() -> Arc<Topology> {
    let s = |n: &str| ServerConfig { name: n.into(), addr: format!("{n}:5432"), weight: 1 };
    Arc::new(Topology::new(&Cluster {
        primary: Some(s("p")),
        replicas: vec![s("r1"), s("r2")],
        analytics: vec![],
        health_user: None,
    }))
}

fn health() -> Health {
    Health {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        max_replication_lag: Duration::from_secs(10),
        ban_time: Duration::from_secs(5),
        down_after: 1,
        ..Health::default()
    }
}

#[tokio::test(start_paused = true)]
async fn one_pass_records_lag_failure_and_timeout() {
    let t = topology();
    let probe = FakeProbe::default();
    probe.set("r1", Answer::Ok(ProbeResult { read_only: true, lag: Some(Duration::from_secs(30)) }));
    probe.set("r2", Answer::Hang);
    let started = tokio::time::Instant::now();
    probe_all(&t, &probe, &health()).await;
    assert!(started.elapsed() <= Duration::from_secs(2), "probes run concurrently, bounded by the timeout");
    let read =
        |t: &Topology| t.candidates(Role::Read, &Routing::default()).iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(read(&t), ["p"]);
    let r1 = t.server("r1").expect("configured").snapshot();
    assert!(r1.up && r1.lagging && r1.lag == Some(Duration::from_secs(30)));
    let r2 = t.server("r2").expect("configured").snapshot();
    assert!(!r2.up && r2.banned);
    assert!(r2.last_error.is_some_and(|e| e.contains("timed out")));
    probe.set("r1", Answer::Fail);
    probe.set("r2", Answer::Ok(ProbeResult { read_only: true, lag: Some(Duration::from_secs(1)) }));
    probe_all(&t, &probe, &health()).await;
    assert_eq!(read(&t), ["r2", "p"]);
    assert_eq!(t.server("r1").expect("configured").snapshot().last_error.as_deref(), Some("connection refused"));
}

#[tokio::test(start_paused = true)]
async fn loop_probes_every_server_each_interval_until_cancelled() {
    let t = topology();
    let probe = Arc::new(FakeProbe::default());
    let cancel = CancellationToken::new();
    let task = spawn_health(t.clone(), probe.clone(), health(), cancel.clone());
    until(|| ["p", "r1", "r2"].iter().all(|n| probe.calls(n) == 1)).await;
    probe.set("p", Answer::Ok(ProbeResult { read_only: true, lag: None }));
    tokio::time::advance(Duration::from_secs(1)).await;
    until(|| ["p", "r1", "r2"].iter().all(|n| probe.calls(n) == 2)).await;
    assert!(t.candidates(Role::Write, &Routing::default()).is_empty(), "read-only primary takes no writes");
    cancel.cancel();
    task.await.expect("health task ends cleanly");
    assert_eq!(probe.calls("p"), 2);
}
