//! `switchyard optimize [--metrics] [--analyze] [--optimize] [--explain] [--cleanup] [--json]` (no flag = all).
//!
//! With a control port: `SHOW STATS` / `SHOW POOLS`, `SHOW TABLES STATUS` then `ANALYZE TABLE` / `OPTIMIZE TABLE`
//! per candidate, `SHOW SLOW QUERIES` / `EXPLAIN DIGEST` / `SHOW SUGGESTIONS`, `CLEANUP CONNECTIONS`.
//! Standalone: backend connection usage and the store's latest snapshot, maintenance straight against the
//! primaries (outcomes written to the store), the slowest recorded statements with their plans and advice;
//! cleanup needs the proxy and is skipped.
//!
//! Deliberately not here: choosing tables (`maintain`), rendering tables (`table`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::backend::{self, Probe};
use super::control::Control;
use super::table::render;
use super::{OK, PARTIAL, UNREACHABLE, USAGE, open_store, progress};
use crate::config::Config;
use crate::maintain::{Action, MaintainError, Maintainer, Progress, engine_name};
use crate::store::{MaintenanceRow, SlowQueryRow, Store};

/// How many of the slowest digests `--explain` shows.
const EXPLAIN_TOP: usize = 5;
/// Plan lines shown per digest in human output (`--json` has them all).
const PLAN_LINES: usize = 40;

/// What `optimize` was asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptimizeArgs {
    /// Print the performance figures.
    pub metrics: bool,
    /// ANALYZE the tables that need it.
    pub analyze: bool,
    /// Optimize the tables that need it.
    pub optimize: bool,
    /// Print plans and advice for the slowest digests.
    pub explain: bool,
    /// Close stale backend connections.
    pub cleanup: bool,
    /// One JSON document on stdout instead of tables.
    pub json: bool,
}

impl OptimizeArgs {
    /// The parts to run: the ones flagged, or all when none is.
    fn parts(&self) -> OptimizeArgs {
        if self.metrics || self.analyze || self.optimize || self.explain || self.cleanup {
            *self
        } else {
            OptimizeArgs { metrics: true, analyze: true, optimize: true, explain: true, cleanup: true, json: self.json }
        }
    }
}

/// How one part ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Done,
    Partial,
    Unreachable,
    Skipped,
}

/// One part's result: its status, its JSON and its human text.
struct Part {
    name: &'static str,
    status: Status,
    json: Value,
    text: String,
}

/// Runs `optimize` and returns the exit code.
pub async fn optimize(config: Arc<Config>, args: OptimizeArgs) -> u8 {
    let want = args.parts();
    let mut control = match Control::connect(&config).await {
        Ok(c) => c,
        Err(e) => {
            progress(e);
            return USAGE;
        }
    };
    let mode = if control.is_some() { "control" } else { "standalone" };
    progress(match &control {
        Some(c) => format!("using the control port at {}", c.addr),
        None => "no control port reachable: working standalone against the backends and the store".into(),
    });
    let store = if control.is_none() { open_store(&config).await } else { None };
    let mut parts = Vec::new();
    if want.metrics {
        parts.push(match control.as_mut() {
            Some(c) => control_part(c, "metrics", &["SHOW STATS", "SHOW POOLS"]).await,
            None => metrics(&config, store.as_ref()).await,
        });
    }
    let actions: Vec<Action> = [(want.optimize, Action::Optimize), (want.analyze, Action::Analyze)]
        .into_iter()
        .filter_map(|(on, a)| on.then_some(a))
        .collect();
    if !actions.is_empty() {
        let via_control = match control.as_mut() {
            Some(c) => maintain_via_control(c, &actions).await,
            None => None,
        };
        parts.push(match via_control {
            Some(part) => part,
            None => maintain(&config, store.as_ref(), &actions).await,
        });
    }
    if want.explain {
        parts.push(match control.as_mut() {
            Some(c) => explain_via_control(c).await,
            None => explain(store.as_ref()).await,
        });
    }
    if want.cleanup {
        parts.push(match control.as_mut() {
            Some(c) => control_part(c, "cleanup", &["CLEANUP CONNECTIONS"]).await,
            None => Part {
                name: "cleanup",
                status: Status::Skipped,
                json: json!({"skipped": "closing stale backend connections needs the running proxy's control port"}),
                text: "skipped: closing stale backend connections needs the running proxy's control port\n".into(),
            },
        });
    }
    if let Some(c) = control {
        c.close().await;
    }
    if let Some(s) = &store {
        s.close().await;
    }
    let code = exit_code(&parts);
    if args.json {
        let mut doc = serde_json::Map::new();
        doc.insert("mode".into(), json!(mode));
        for p in &parts {
            doc.insert(p.name.into(), json!({"status": status_name(p.status), "result": p.json}));
        }
        doc.insert("exit_code".into(), json!(code));
        println!("{}", Value::Object(doc));
    } else {
        for p in &parts {
            println!("== {} ({}) ==\n{}", p.name, status_name(p.status), p.text);
        }
    }
    code
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Done => "ok",
        Status::Partial => "partial",
        Status::Unreachable => "unreachable",
        Status::Skipped => "skipped",
    }
}

/// 3 when every part that ran could reach nothing, 1 when some part failed, else 0.
fn exit_code(parts: &[Part]) -> u8 {
    let ran: Vec<Status> = parts.iter().map(|p| p.status).filter(|s| *s != Status::Skipped).collect();
    if ran.is_empty() || ran.iter().all(|s| *s == Status::Unreachable) {
        UNREACHABLE
    } else if ran.iter().any(|s| *s != Status::Done) {
        PARTIAL
    } else {
        OK
    }
}

/// Runs `commands` on the control port and shows their rows.
async fn control_part(control: &mut Control, name: &'static str, commands: &[&str]) -> Part {
    let mut json = serde_json::Map::new();
    let mut text = String::new();
    let mut failed = 0;
    for command in commands {
        progress(format!("{name}: {command}"));
        match control.query(command).await {
            Ok(rs) => {
                json.insert(command.to_string(), rs.to_json());
                text.push_str(&format!("-- {command}\n{}", rs.render()));
            }
            Err(e) => {
                failed += 1;
                json.insert(command.to_string(), json!({"error": e}));
                text.push_str(&format!("-- {command}\nerror: {e}\n"));
            }
        }
    }
    let status = if failed == 0 {
        Status::Done
    } else if failed == commands.len() {
        Status::Unreachable
    } else {
        Status::Partial
    };
    Part { name, status, json: Value::Object(json), text }
}

/// Standalone figures: live connection usage of each primary and the store's latest snapshot.
async fn metrics(config: &Config, store: Option<&Store>) -> Part {
    progress("metrics: reading backend connection usage and the latest snapshot");
    let probes = backend::usage(config).await;
    let history = match store {
        Some(s) => backend::history(s).await.map_err(|e| progress(format!("store: {e}"))).ok(),
        None => None,
    };
    let up = probes.iter().filter(|p| matches!(p, Probe::Up(_))).count();
    let has_history = history.as_ref().is_some_and(|h| !h.metrics.is_empty());
    let status = if up == 0 && !has_history {
        Status::Unreachable
    } else if up < probes.len() {
        Status::Partial
    } else {
        Status::Done
    };
    let mut text = usage_table(&probes);
    match &history {
        Some(h) if !h.metrics.is_empty() => text.push_str(&snapshot_tables(h)),
        Some(_) => {
            text.push_str("no snapshots in the store yet (a running proxy writes one every snapshot_interval)\n")
        }
        None => text.push_str("store not available: no snapshot figures\n"),
    }
    Part { name: "metrics", status, json: json!({"backends": probes, "snapshot": history}), text }
}

/// The connection-usage table of `probes`.
pub(super) fn usage_table(probes: &[Probe]) -> String {
    let rows: Vec<Vec<Option<String>>> = probes
        .iter()
        .map(|p| match p {
            Probe::Up(u) => vec![
                Some(u.engine.into()),
                Some(u.server.clone()),
                Some(u.connections.to_string()),
                Some(u.max_connections.to_string()),
                Some(format!("{:.1}", u.usage_pct)),
                None,
            ],
            Probe::Down { engine, server, error } => {
                vec![Some((*engine).into()), Some(server.clone()), None, None, None, Some(error.clone())]
            }
        })
        .collect();
    format!(
        "backend connections (live)\n{}",
        render(&["engine", "server", "connections", "max_connections", "usage_pct", "error"], &rows)
    )
}

/// The latest snapshot and its pools.
pub(super) fn snapshot_tables(h: &backend::History) -> String {
    let f = |v: f64| Some(format!("{v:.2}"));
    let metrics: Vec<Vec<Option<String>>> = h
        .metrics
        .iter()
        .map(|m| {
            vec![
                Some(m.engine.clone()),
                Some(m.recorded_at.to_rfc3339()),
                f(m.connection_usage_pct),
                f(m.avg_query_time_ms),
                f(m.slow_query_pct),
                Some(m.total_queries.to_string()),
                f(m.queries_per_second),
            ]
        })
        .collect();
    let pools: Vec<Vec<Option<String>>> = h
        .pools
        .iter()
        .map(|p| {
            vec![
                Some(p.engine.clone()),
                Some(p.server.clone()),
                Some(p.role.clone()),
                Some(p.user.clone()),
                Some(p.active.to_string()),
                Some(p.idle.to_string()),
                Some(p.waiting.to_string()),
                Some(p.max.to_string()),
                f(p.utilisation_pct),
            ]
        })
        .collect();
    format!(
        "latest snapshot (proxy history)\n{}pools at that snapshot\n{}",
        render(
            &["engine", "recorded_at", "connection_usage_pct", "avg_query_ms", "slow_pct", "total_queries", "qps"],
            &metrics
        ),
        render(&["engine", "server", "role", "user", "active", "idle", "waiting", "max", "utilisation_pct"], &pools)
    )
}

/// Prints one progress line per statement of a maintenance run.
fn show_progress(p: Progress<'_>) {
    match p {
        Progress::Started { index, total, table, action } => progress(format!(
            "[{index}/{total}] {} {} {} ...",
            action.as_str(),
            engine_name(table.engine),
            table.name()
        )),
        Progress::Finished { index, total, row } => progress(format!(
            "[{index}/{total}] {} {}: {} ({:.0} ms){}",
            row.action,
            row.table_name,
            row.outcome,
            row.duration_ms,
            row.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        )),
    }
}

/// Standalone maintenance: survey the primaries and run `actions` on the tables that need them.
async fn maintain(config: &Arc<Config>, store: Option<&Store>, actions: &[Action]) -> Part {
    let stop = CancellationToken::new();
    let writer = store.map(|s| s.spawn_writer(&config.store, stop.clone()));
    let maintainer = Maintainer::new(config.clone(), writer.clone());
    let wanted: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    progress(format!("maintenance: surveying tables for {}", wanted.join(" and ")));
    let result = maintainer.run_with(actions, &show_progress).await;
    if let Some(w) = writer {
        w.flush().await;
        stop.cancel();
        w.finished().await;
    }
    match result {
        Err(e @ (MaintainError::Unreachable(_) | MaintainError::NotConfigured(_))) => Part {
            name: "maintenance",
            status: Status::Unreachable,
            json: json!({"error": e.to_string()}),
            text: format!("error: {e}\n"),
        },
        Err(e) => Part {
            name: "maintenance",
            status: Status::Partial,
            json: json!({"error": e.to_string()}),
            text: format!("error: {e}\n"),
        },
        Ok((rows, errors)) => {
            let failed = rows.iter().any(|r| r.outcome == "error") || !errors.is_empty();
            let mut text = runs_table(&rows);
            for e in &errors {
                text.push_str(&format!(
                    "could not survey {} {}{}: {}\n",
                    engine_name(e.engine),
                    e.server,
                    e.database.as_deref().map(|d| format!(" database {d}")).unwrap_or_default(),
                    e.message
                ));
            }
            Part {
                name: "maintenance",
                status: if failed { Status::Partial } else { Status::Done },
                json: json!({"runs": rows, "survey_errors": errors}),
                text,
            }
        }
    }
}

fn runs_table(rows: &[MaintenanceRow]) -> String {
    if rows.is_empty() {
        return "no table needed it\n".into();
    }
    let cells: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| {
            vec![
                Some(r.engine.clone()),
                Some(r.table_name.clone()),
                Some(r.action.clone()),
                Some(r.outcome.clone()),
                Some(format!("{:.0}", r.duration_ms)),
                r.detail.clone(),
            ]
        })
        .collect();
    render(&["engine", "table", "action", "outcome", "ms", "detail"], &cells)
}

/// Maintenance through the control port: `SHOW TABLES STATUS`, then one command per candidate. `None` when the
/// port's answer does not have the `table` and `action` columns (`maintain::TableStatus::COLUMNS`).
async fn maintain_via_control(control: &mut Control, actions: &[Action]) -> Option<Part> {
    progress("maintenance: SHOW TABLES STATUS");
    let status = match control.query("SHOW TABLES STATUS").await {
        Ok(rs) => rs,
        Err(e) => {
            progress(format!("SHOW TABLES STATUS failed ({e}); maintaining the backends directly"));
            return None;
        }
    };
    if !status.rows.is_empty() && (status.column("table").is_none() || status.column("action").is_none()) {
        progress("SHOW TABLES STATUS has no table/action columns; maintaining the backends directly");
        return None;
    }
    let mut commands: Vec<(String, String, &'static str)> = Vec::new();
    for i in 0..status.rows.len() {
        let (Some(table), Some(action)) = (status.get(i, "table"), status.get(i, "action")) else { continue };
        let engine = status.get(i, "engine").unwrap_or("").to_string();
        let optimize = action == "optimize" && actions.contains(&Action::Optimize);
        if optimize {
            commands.push((engine.clone(), table.to_string(), "optimize"));
        }
        // As in `Maintainer::plan`: VACUUM (ANALYZE) covers analyze, a MariaDB rebuild needs one after.
        if (optimize && engine == "mysql") || (action == "analyze" && actions.contains(&Action::Analyze)) {
            commands.push((engine, table.to_string(), "analyze"));
        }
    }
    let total = commands.len();
    let mut rows = Vec::new();
    for (i, (engine, table, action)) in commands.into_iter().enumerate() {
        let command = format!("{} TABLE {table}", action.to_uppercase());
        progress(format!("[{}/{total}] {command} ...", i + 1));
        let started_at = Utc::now();
        let clock = std::time::Instant::now();
        let (outcome, detail) = match control.query(&command).await {
            Ok(rs) => (rs.get(0, "outcome").unwrap_or("ok").to_string(), rs.get(0, "detail").map(str::to_string)),
            Err(e) => ("error".to_string(), Some(e)),
        };
        progress(format!("[{}/{total}] {command}: {outcome}", i + 1));
        rows.push(MaintenanceRow {
            started_at,
            finished_at: Utc::now(),
            engine,
            server: String::new(),
            table_name: table,
            action: action.into(),
            outcome,
            duration_ms: clock.elapsed().as_secs_f64() * 1000.0,
            detail,
        });
    }
    let failed = rows.iter().any(|r| r.outcome == "error");
    Some(Part {
        name: "maintenance",
        status: if failed { Status::Partial } else { Status::Done },
        json: json!({"runs": rows, "survey_errors": []}),
        text: runs_table(&rows),
    })
}

/// `--explain` through the control port: the slowest statements, each digest's plan, and the suggestions.
async fn explain_via_control(control: &mut Control) -> Part {
    let slow_cmd = format!("SHOW SLOW QUERIES LIMIT {EXPLAIN_TOP}");
    let mut part = control_part(control, "explain", &[&slow_cmd, "SHOW SUGGESTIONS"]).await;
    let digests: Vec<String> = match control.query(&slow_cmd).await {
        Ok(rs) => (0..rs.rows.len()).filter_map(|i| rs.get(i, "digest").map(str::to_string)).collect(),
        Err(_) => Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for digest in digests.into_iter().filter(|d| seen.insert(d.clone())) {
        let command = format!("EXPLAIN DIGEST {digest}");
        match control.query(&command).await {
            Ok(rs) => {
                part.text.push_str(&format!("-- {command}\n{}", rs.render()));
                if let Value::Object(o) = &mut part.json {
                    o.insert(command, rs.to_json());
                }
            }
            Err(e) => part.text.push_str(&format!("-- {command}\nerror: {e}\n")),
        }
    }
    part
}

/// Standalone `--explain`: the slowest recorded sample of each of the slowest digests, with plan and advice.
async fn explain(store: Option<&Store>) -> Part {
    let Some(store) = store else {
        return Part {
            name: "explain",
            status: Status::Unreachable,
            json: json!({"error": "store not available"}),
            text: "store not available\n".into(),
        };
    };
    progress("explain: reading the slow-query log");
    let rows = match store.slow_queries(10_000).await {
        Ok(rows) => rows,
        Err(e) => {
            return Part {
                name: "explain",
                status: Status::Unreachable,
                json: json!({"error": e.to_string()}),
                text: format!("error: {e}\n"),
            };
        }
    };
    let top = slowest(rows, EXPLAIN_TOP);
    let mut text = String::new();
    if top.is_empty() {
        text.push_str("no slow queries recorded\n");
    }
    for q in &top {
        text.push_str(&describe(q));
    }
    Part { name: "explain", status: Status::Done, json: json!(top), text }
}

/// The slowest sample of each digest, slowest digests first, at most `n`.
fn slowest(rows: Vec<SlowQueryRow>, n: usize) -> Vec<SlowQueryRow> {
    let mut worst: HashMap<(String, String), SlowQueryRow> = HashMap::new();
    for row in rows {
        let key = (row.engine.clone(), row.digest.clone());
        match worst.get(&key) {
            Some(w) if w.duration_ms >= row.duration_ms => {}
            _ => {
                worst.insert(key, row);
            }
        }
    }
    let mut out: Vec<SlowQueryRow> = worst.into_values().collect();
    out.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
    out.truncate(n);
    out
}

/// One slow statement for people: SQL, advice, the start of its plan.
fn describe(q: &SlowQueryRow) -> String {
    let mut out = format!(
        "digest {} ({}, {}, {:.1} ms, {} on {})\n  {}\n",
        q.digest, q.engine, q.query_type, q.duration_ms, q.pool, q.backend, q.sql
    );
    let advice = q.suggestions.as_array().cloned().unwrap_or_default();
    if advice.is_empty() {
        out.push_str("  suggestions: none\n");
    } else {
        out.push_str("  suggestions:\n");
        for s in &advice {
            let severity = s.get("severity").and_then(Value::as_str).unwrap_or("info");
            let message = s.get("message").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!("    - [{severity}] {message}\n"));
        }
    }
    match &q.explain {
        None => out.push_str("  plan: not taken\n"),
        Some(plan) => {
            let pretty = serde_json::to_string_pretty(plan).unwrap_or_default();
            let lines: Vec<&str> = pretty.lines().collect();
            out.push_str("  plan:\n");
            for line in lines.iter().take(PLAN_LINES) {
                out.push_str(&format!("    {line}\n"));
            }
            if lines.len() > PLAN_LINES {
                out.push_str(&format!("    ... {} more lines (--json shows all)\n", lines.len() - PLAN_LINES));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(status: Status) -> Part {
        Part { name: "x", status, json: Value::Null, text: String::new() }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&[part(Status::Done), part(Status::Skipped)]), OK);
        assert_eq!(exit_code(&[part(Status::Done), part(Status::Unreachable)]), PARTIAL);
        assert_eq!(exit_code(&[part(Status::Partial)]), PARTIAL);
        assert_eq!(exit_code(&[part(Status::Unreachable), part(Status::Skipped)]), UNREACHABLE);
        assert_eq!(exit_code(&[part(Status::Skipped)]), UNREACHABLE, "nothing could be done at all");
    }

    #[test]
    fn no_flag_means_everything() {
        let all = OptimizeArgs { json: true, ..OptimizeArgs::default() }.parts();
        assert!(all.metrics && all.analyze && all.optimize && all.explain && all.cleanup && all.json);
        let one = OptimizeArgs { analyze: true, ..OptimizeArgs::default() }.parts();
        assert!(one.analyze && !one.optimize && !one.metrics);
    }

    #[test]
    fn slowest_keeps_the_worst_sample_per_digest() {
        let row = |digest: &str, ms: f64| SlowQueryRow {
            recorded_at: Utc::now(),
            engine: "postgres".into(),
            digest: digest.into(),
            query_type: "select".into(),
            sql: format!("SELECT {ms}"),
            bindings: json!([]),
            duration_ms: ms,
            pool: "read".into(),
            backend: "r1".into(),
            user: "u".into(),
            database: "d".into(),
            rows: 1,
            error: None,
            explain: Some(json!([{"Plan": {"Node Type": "Seq Scan"}}])),
            suggestions: json!([{"severity": "warning", "message": "add an index"}]),
        };
        let top = slowest(vec![row("a", 5.0), row("b", 9.0), row("a", 12.0), row("c", 1.0)], 2);
        let got: Vec<(&str, f64)> = top.iter().map(|r| (r.digest.as_str(), r.duration_ms)).collect();
        assert_eq!(got, [("a", 12.0), ("b", 9.0)]);
        let text = describe(&top[0]);
        assert!(text.contains("[warning] add an index") && text.contains("Seq Scan"), "{text}");
    }
}
