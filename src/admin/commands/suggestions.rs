//! `SHOW SUGGESTIONS`: advice gathered from the slow-query log (the suggestions stored with each slow query,
//! grouped per digest and rule) and from digests run as N+1 patterns. Without a store, the recent slow queries
//! kept in memory are advised from their text.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::{AdminError, Context, ResultSet};
use crate::classify::Dialect;
use crate::monitor::advice::{self, Limits, Suggestion};
use crate::monitor::engine_name;
use crate::monitor::explain::Engine;

/// Slow-query rows read from the store at most.
const SLOW_ROWS: usize = 1000;

/// Grouping key: (source, engine, digest, rule, table, columns).
type Key = (&'static str, String, String, String, String, String);

/// Advice from the slow-query log and N+1 digests, most severe first.
pub async fn show(ctx: &Context) -> Result<ResultSet, AdminError> {
    // What was folded so far reaches the slow log and the store first, so the answer matches SHOW SLOW QUERIES.
    let _ = tokio::time::timeout(Duration::from_secs(5), ctx.telemetry.settle()).await;
    let mut groups: BTreeMap<Key, (Suggestion, u64)> = BTreeMap::new();
    let mut add = |source: &'static str, engine: &str, digest: &str, s: Suggestion| {
        let key = (
            source,
            engine.to_string(),
            digest.to_string(),
            s.rule.as_str().to_string(),
            s.table.clone().unwrap_or_default(),
            s.columns.join(","),
        );
        groups.entry(key).or_insert((s, 0)).1 += 1;
    };
    match &ctx.store {
        Some(store) => {
            let rows = store.slow_queries(SLOW_ROWS).await.map_err(|e| AdminError::Failed(format!("store: {e}")))?;
            for row in rows {
                let list: Vec<Suggestion> = serde_json::from_value(row.suggestions.clone()).unwrap_or_default();
                for s in list {
                    add("slow_log", &row.engine, &row.digest, s);
                }
            }
        }
        None => {
            let limits = Limits::default();
            for q in ctx.live.monitor().slow_queries(SLOW_ROWS) {
                let (engine, dialect) = if q.engine == "postgres" {
                    (Engine::Postgres, Dialect::Postgres)
                } else {
                    (Engine::Mysql, Dialect::MySql)
                };
                for s in advice::advise(&limits, engine, None, &q.sql, dialect, None) {
                    add("slow_log", q.engine, &q.digest, s);
                }
            }
        }
    }
    let threshold = ctx.config().monitor.n_plus_one_calls;
    for d in ctx.live.monitor().digests().into_iter().filter(|d| d.peak_client_rate >= threshold) {
        let s = advice::n_plus_one(&d.normalized, f64::from(d.peak_client_rate), &d.tables);
        add("n_plus_one", engine_name(d.engine), &format!("{:016x}", d.fingerprint), s);
    }
    let mut all: Vec<(Key, (Suggestion, u64))> = groups.into_iter().collect();
    all.sort_by(|a, b| b.1.0.severity.cmp(&a.1.0.severity).then(b.1.1.cmp(&a.1.1)).then(a.0.cmp(&b.0)));
    let mut r = ResultSet::new(&[
        "source",
        "engine",
        "digest",
        "severity",
        "rule",
        "table",
        "columns",
        "occurrences",
        "message",
    ]);
    for ((source, engine, digest, rule, table, columns), (s, n)) in all {
        r.push(vec![
            Some(source.to_string()),
            Some(engine),
            Some(digest),
            Some(s.severity.as_str().to_string()),
            Some(rule),
            (!table.is_empty()).then_some(table),
            (!columns.is_empty()).then_some(columns),
            Some(n.to_string()),
            Some(s.message),
        ]);
    }
    Ok(r)
}
