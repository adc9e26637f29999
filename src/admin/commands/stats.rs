//! `SHOW STATS` (the seed's performance metrics, live) and `RESET STATS`.
//!
//! One row per engine with type `*` (connection usage %, average query time, slow %, totals, queries per
//! second since start or the last reset, clients), then one row per statement type of that engine.

use std::collections::BTreeMap;

use super::super::result::{ms, pct};
use super::super::{Context, ResultSet};
use super::engines;
use crate::monitor::{TypeTotals, engine_name};

/// Live performance metrics per engine and statement type.
pub fn show(ctx: &Context) -> ResultSet {
    let mut r = ResultSet::new(&[
        "engine",
        "type",
        "total_queries",
        "slow_queries",
        "slow_pct",
        "errors",
        "avg_query_ms",
        "queries_per_second",
        "connection_usage_pct",
        "active_connections",
        "max_connections",
        "waiting_clients",
        "clients",
    ]);
    let mut by_engine: BTreeMap<&'static str, Vec<(&'static str, TypeTotals)>> = BTreeMap::new();
    for (engine, kind, t) in ctx.live.monitor().type_totals() {
        by_engine.entry(engine_name(engine)).or_default().push((kind.as_str(), t));
    }
    let seconds = ctx.started.elapsed().as_secs_f64().max(0.001);
    for e in engines(ctx) {
        let mut types = by_engine.remove(e.name).unwrap_or_default();
        types.sort_by_key(|(k, _)| *k);
        let mut all = TypeTotals::default();
        for (_, t) in &types {
            all.calls += t.calls;
            all.slow += t.slow;
            all.errors += t.errors;
            all.total_us += t.total_us;
        }
        let (mut active, mut max, mut waiting) = (0, 0, 0);
        for p in &e.pools {
            let s = p.pool.stats();
            active += s.active;
            max += s.max;
            waiting += s.waiting;
        }
        let usage = if max == 0 { 0.0 } else { active as f64 * 100.0 / max as f64 };
        let clients = ctx.telemetry.clients.count(e.name);
        let mut row = totals_row(e.name, "*", &all, seconds);
        row.extend([
            Some(pct(usage)),
            Some(active.to_string()),
            Some(max.to_string()),
            Some(waiting.to_string()),
            Some(clients.to_string()),
        ]);
        r.push(row);
        for (kind, t) in &types {
            let mut row = totals_row(e.name, kind, t, seconds);
            row.extend([None, None, None, None, None]);
            r.push(row);
        }
    }
    r
}

fn totals_row(engine: &str, kind: &str, t: &TypeTotals, seconds: f64) -> Vec<Option<String>> {
    let avg = if t.calls == 0 { 0.0 } else { t.total_us as f64 / t.calls as f64 / 1000.0 };
    let slow = if t.calls == 0 { 0.0 } else { t.slow as f64 * 100.0 / t.calls as f64 };
    [
        engine.to_string(),
        kind.to_string(),
        t.calls.to_string(),
        t.slow.to_string(),
        pct(slow),
        t.errors.to_string(),
        ms(avg),
        format!("{:.2}", t.calls as f64 / seconds),
    ]
    .into_iter()
    .map(Some)
    .collect()
}

/// Forgets digests, per-type totals and recent slow statements.
pub fn reset(ctx: &Context) -> ResultSet {
    ctx.live.monitor().reset();
    ResultSet::done("statistics reset: digests, totals and recent slow queries forgotten")
}
