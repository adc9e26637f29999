//! The health-check loop: probes every server of a [`Topology`] every `health.interval`, concurrently and
//! each bounded by `health.timeout`, and records the outcome on the [`Server`].
//!
//! How a probe talks to a server is the engine's business ([`Probe`]); what a result means for routing is
//! [`Server::record_probe`]'s. This loop only schedules, times out and hands over.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::topology::{ProbeResult, Server, Topology};
use crate::config::Health;

/// Asks one server whether it is read-only and how far it lags. Errors are short descriptions for logs
/// and admin output.
pub trait Probe: Send + Sync + 'static {
    /// One probe of `server`; the caller bounds it with `health.timeout`.
    fn probe<'a>(&'a self, server: &'a Server) -> impl Future<Output = Result<ProbeResult, String>> + Send + 'a;
}

/// Probes every server once, concurrently, each within `health.timeout`, and records the results.
pub async fn probe_all<P: Probe>(topology: &Topology, probe: &P, health: &Health) {
    let probes = topology.servers().iter().map(|server| async move {
        let result = match tokio::time::timeout(health.timeout, probe.probe(server)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(format!("health probe timed out after {:?}", health.timeout)),
        };
        server.record_probe(result, health);
    });
    futures::future::join_all(probes).await;
}

/// Runs [`probe_all`] every `health.interval` (the first pass at once) until `cancel` fires.
pub fn spawn_health(
    topology: Arc<Topology>,
    probe: Arc<impl Probe>,
    health: Health,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(health.interval.max(std::time::Duration::from_millis(1)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = probe_all(&topology, &*probe, &health) => {}
            }
        }
    })
}
