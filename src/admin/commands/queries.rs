//! `SHOW QUERIES [ORDER BY <column> [ASC|DESC]] [LIMIT <n>]` (per-digest statistics) and
//! `SHOW SLOW QUERIES [LIMIT <n>]` (the most recent slow statements, newest first).

use std::cmp::Ordering;

use super::super::parse::ParseError;
use super::super::result::ms;
use super::super::{AdminError, Context, ResultSet};
use super::time;
use crate::monitor::digest::DigestStats;
use crate::monitor::engine_name;

/// The columns of `SHOW QUERIES`; it can be ordered by any of them.
const COLUMNS: &[&str] = &[
    "digest",
    "engine",
    "type",
    "calls",
    "errors",
    "rows",
    "slow",
    "total_ms",
    "mean_ms",
    "min_ms",
    "max_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "first_seen",
    "last_seen",
    "query",
];

/// Rows shown when no LIMIT is given.
const DEFAULT_LIMIT: usize = 100;

/// One row per digest, by total time (descending) unless ordered otherwise.
pub fn digests(ctx: &Context, order: Option<&(String, bool)>, limit: Option<usize>) -> Result<ResultSet, AdminError> {
    let (column, desc) = match order {
        Some((c, d)) => (c.as_str(), *d),
        None => ("total_ms", true),
    };
    if !COLUMNS.contains(&column) {
        return Err(AdminError::Syntax(ParseError::Malformed(format!(
            "cannot order by {column:?}; columns: {}",
            COLUMNS.join(", ")
        ))));
    }
    let mut all = ctx.live.monitor().digests();
    all.sort_by(|a, b| {
        let o = compare(a, b, column);
        if desc { o.reverse() } else { o }
    });
    let mut r = ResultSet::new(COLUMNS);
    let msu = |us: u64| ms(us as f64 / 1000.0);
    for d in all.into_iter().take(limit.unwrap_or(DEFAULT_LIMIT)) {
        r.push_text([
            format!("{:016x}", d.fingerprint),
            engine_name(d.engine).to_string(),
            d.kind.as_str().to_string(),
            d.calls.to_string(),
            d.errors.to_string(),
            d.rows.to_string(),
            d.slow.to_string(),
            msu(d.total_us),
            ms(d.mean_us() / 1000.0),
            msu(d.min()),
            msu(d.max_us),
            msu(d.percentile_us(0.5)),
            msu(d.percentile_us(0.95)),
            msu(d.percentile_us(0.99)),
            time(d.first_seen),
            time(d.last_seen),
            d.normalized.clone(),
        ]);
    }
    Ok(r)
}

fn compare(a: &DigestStats, b: &DigestStats, column: &str) -> Ordering {
    let f = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    match column {
        "digest" => a.fingerprint.cmp(&b.fingerprint),
        "engine" => engine_name(a.engine).cmp(engine_name(b.engine)),
        "type" => a.kind.as_str().cmp(b.kind.as_str()),
        "calls" => a.calls.cmp(&b.calls),
        "errors" => a.errors.cmp(&b.errors),
        "rows" => a.rows.cmp(&b.rows),
        "slow" => a.slow.cmp(&b.slow),
        "mean_ms" => f(a.mean_us(), b.mean_us()),
        "min_ms" => a.min().cmp(&b.min()),
        "max_ms" => a.max_us.cmp(&b.max_us),
        "p50_ms" => a.percentile_us(0.5).cmp(&b.percentile_us(0.5)),
        "p95_ms" => a.percentile_us(0.95).cmp(&b.percentile_us(0.95)),
        "p99_ms" => a.percentile_us(0.99).cmp(&b.percentile_us(0.99)),
        "first_seen" => a.first_seen.cmp(&b.first_seen),
        "last_seen" => a.last_seen.cmp(&b.last_seen),
        "query" => a.normalized.cmp(&b.normalized),
        _ => a.total_us.cmp(&b.total_us),
    }
    .then(a.fingerprint.cmp(&b.fingerprint))
}

/// The most recent slow statements (kept in memory), newest first.
pub fn slow(ctx: &Context, limit: Option<usize>) -> ResultSet {
    let mut r = ResultSet::new(&[
        "at",
        "engine",
        "digest",
        "type",
        "duration_ms",
        "threshold_ms",
        "pool",
        "backend",
        "user",
        "database",
        "rows",
        "error",
        "query",
        "params",
    ]);
    for q in ctx.live.monitor().slow_queries(limit.unwrap_or(DEFAULT_LIMIT)) {
        r.push(vec![
            Some(time(q.at)),
            Some(q.engine.to_string()),
            Some(q.digest),
            Some(q.kind.to_string()),
            Some(ms(q.duration.as_secs_f64() * 1000.0)),
            Some(q.threshold.as_millis().to_string()),
            Some(q.pool.to_string()),
            Some(q.backend),
            Some(q.user),
            Some(q.database),
            Some(q.rows.to_string()),
            q.error,
            Some(q.sql),
            Some(serde_json::to_string(&q.params).unwrap_or_default()),
        ]);
    }
    r
}
