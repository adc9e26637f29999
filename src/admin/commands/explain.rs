//! `EXPLAIN DIGEST <id>`: the plan of a digest's slowest sample (plain EXPLAIN on a side connection to the
//! engine's primary, as the digest's own user and database, with the monitor's explain timeout) and the
//! suggestions drawn from it, its text and its N+1 rate. A statement the explainer refuses still gets its text
//! advice.

use super::super::result::ms;
use super::super::{AdminError, Context, ResultSet};
use crate::classify::Dialect;
use crate::monitor::advice::{self, Limits};
use crate::monitor::engine_name;
use crate::monitor::explain::{self, Engine, Param, Target};

/// Explains the worst sample of the digest `id` (16 hex digits).
pub async fn run(ctx: &Context, id: &str) -> Result<ResultSet, AdminError> {
    let fingerprint = u64::from_str_radix(id, 16).map_err(|_| AdminError::NotFound(format!("no digest {id}")))?;
    let monitor = ctx.live.monitor();
    let digest = monitor
        .digests()
        .into_iter()
        .find(|d| d.fingerprint == fingerprint)
        .ok_or_else(|| AdminError::NotFound(format!("no digest {id} (SHOW QUERIES lists them)")))?;
    let sample = digest
        .worst
        .clone()
        .ok_or_else(|| AdminError::Failed(format!("digest {id} has no recorded sample to explain")))?;
    let config = ctx.config();
    let engine = match digest.engine {
        Dialect::Postgres => Engine::Postgres,
        Dialect::MySql => Engine::Mysql,
    };
    let topology = match engine {
        Engine::Postgres => ctx.live.postgres().map(|e| e.topology.clone()),
        Engine::Mysql => ctx.live.mysql().map(|e| e.topology.clone()),
    };
    let primary = topology.as_ref().and_then(|t| t.primary().map(|s| s.addr.clone()));
    let mut r = ResultSet::new(&["item", "value"]);
    r.push_text(["digest", id]);
    r.push_text(["engine", engine_name(digest.engine)]);
    r.push_text(["type", digest.kind.as_str()]);
    r.push_text(["query", &digest.normalized]);
    r.push_text(["sample", &sample.sql]);
    r.push_text(["params".to_string(), serde_json::to_string(&sample.params).unwrap_or_default()]);
    r.push_text(["sample_ms".to_string(), ms(sample.micros as f64 / 1000.0)]);
    r.push_text(["calls".to_string(), digest.calls.to_string()]);

    let explained = match primary {
        Some(addr) => {
            let target = Target::for_login(&config, engine, addr, &sample.user, &sample.database);
            let params = Param::from_rendered(&sample.params);
            match explain::explain(&target, &sample.sql, &params, config.monitor.explain_timeout).await {
                Ok(e) => {
                    r.push_text(["plan".to_string(), serde_json::to_string_pretty(&e.plan).unwrap_or_default()]);
                    Some(e)
                }
                Err(e) => {
                    r.push_text(["plan_error".to_string(), e.to_string()]);
                    None
                }
            }
        }
        None => {
            r.push_text(["plan_error", "the engine of this digest is not running"]);
            None
        }
    };
    let limits = Limits::default();
    let mut suggestions = advice::advise(&limits, engine, explained.as_ref(), &sample.sql, digest.engine, None);
    if digest.peak_client_rate >= config.monitor.n_plus_one_calls {
        suggestions.push(advice::n_plus_one(&digest.normalized, f64::from(digest.peak_client_rate), &digest.tables));
    }
    for s in &suggestions {
        r.push_text([
            "suggestion".to_string(),
            format!("[{}] {}: {}", s.severity.as_str(), s.rule.as_str(), s.message),
        ]);
    }
    if suggestions.is_empty() {
        r.push_text(["suggestion", "(none)"]);
    }
    Ok(r)
}
