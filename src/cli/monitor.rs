//! `switchyard monitor [--alert] [--continuous] [--interval=N] [--json]`: the seed's performance figures
//! (connection usage, average query time, slow-query percentage, total queries, pool statistics) once, or one
//! line per interval until SIGINT / SIGTERM, which end it cleanly with exit code 0.
//!
//! With a control port the figures are its `SHOW STATS`; standalone they are each primary's live connection
//! usage plus the store's latest snapshot. `--alert` answers that alert notifications are not available yet
//! (exit code 2, [`super::USAGE`]) until the alerting capability lands.
//!
//! Deliberately not here: computing the figures (`telemetry` in the proxy).

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use super::backend::{self, Probe};
use super::control::Control;
use super::{OK, PARTIAL, UNREACHABLE, USAGE, open_store, progress};
use crate::config::Config;
use crate::store::Store;

/// What `monitor` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorArgs {
    /// Send alert notifications (not available yet).
    pub alert: bool,
    /// One line per interval until interrupted.
    pub continuous: bool,
    /// Seconds between lines.
    pub interval: u64,
    /// JSON instead of text (one object per line when continuous).
    pub json: bool,
}

/// Where the figures come from.
enum Source {
    Control(Control),
    Standalone(Option<Store>),
}

/// One reading.
struct Reading {
    /// Something answered.
    reached: bool,
    /// Everything asked answered.
    complete: bool,
    json: Value,
    /// The full human view.
    text: String,
    /// The one-line human view.
    line: String,
}

/// Runs `monitor` and returns the exit code.
pub async fn monitor(config: Arc<Config>, args: MonitorArgs) -> u8 {
    if args.alert {
        eprintln!(
            "switchyard monitor --alert: alert notifications are not available yet in this version (they come with \
             the alerting capability). Run `switchyard monitor` without --alert for the figures."
        );
        return USAGE;
    }
    if args.interval == 0 {
        eprintln!("switchyard monitor: --interval must be at least 1 second");
        return USAGE;
    }
    let mut source = match Control::connect(&config).await {
        Ok(Some(c)) => {
            progress(format!("using the control port at {}", c.addr));
            Source::Control(c)
        }
        Ok(None) => {
            progress("no control port reachable: live backend figures and the store's latest snapshot");
            Source::Standalone(open_store(&config).await)
        }
        Err(e) => {
            progress(e);
            return USAGE;
        }
    };
    if !args.continuous {
        let r = read(&config, &mut source).await;
        if args.json {
            println!("{}", r.json);
        } else {
            print!("{}", r.text);
        }
        return if !r.reached {
            UNREACHABLE
        } else if !r.complete {
            PARTIAL
        } else {
            OK
        };
    }
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        eprintln!("switchyard monitor: cannot install signal handlers");
        return USAGE;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(args.interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = int.recv() => break,
            _ = term.recv() => break,
        }
        // A reading that takes long (a backend timing out) is abandoned on a signal too.
        let r = tokio::select! {
            r = read(&config, &mut source) => r,
            _ = int.recv() => break,
            _ = term.recv() => break,
        };
        if args.json {
            println!("{}", r.json);
        } else {
            println!("{}", r.line);
        }
    }
    progress("monitor stopped");
    if let Source::Control(c) = source {
        c.close().await;
    }
    OK
}

async fn read(config: &Config, source: &mut Source) -> Reading {
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    match source {
        Source::Control(c) => match c.query("SHOW STATS").await {
            Ok(rs) => {
                let pairs: Vec<String> = (0..rs.rows.len())
                    .map(|i| {
                        rs.columns
                            .iter()
                            .enumerate()
                            .map(|(j, col)| format!("{col}={}", rs.rows[i][j].as_deref().unwrap_or("")))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect();
                Reading {
                    reached: true,
                    complete: true,
                    json: json!({"at": at, "stats": rs.to_json()}),
                    text: rs.render(),
                    line: format!("{at} {}", pairs.join(" | ")),
                }
            }
            Err(e) => Reading {
                reached: false,
                complete: false,
                json: json!({"at": at, "error": e}),
                text: format!("SHOW STATS failed: {e}\n"),
                line: format!("{at} error: {e}"),
            },
        },
        Source::Standalone(store) => standalone(config, store.as_ref(), at).await,
    }
}

async fn standalone(config: &Config, store: Option<&Store>, at: String) -> Reading {
    let probes = backend::usage(config).await;
    let history = match store {
        Some(s) => backend::history(s).await.ok(),
        None => None,
    };
    let up = probes.iter().filter(|p| matches!(p, Probe::Up(_))).count();
    let has_history = history.as_ref().is_some_and(|h| !h.metrics.is_empty());
    let mut parts = Vec::new();
    for p in &probes {
        match p {
            Probe::Up(u) => {
                let snap = history.as_ref().and_then(|h| h.metrics.iter().find(|m| m.engine == u.engine));
                let figures = match snap {
                    Some(m) => format!(
                        " avg {:.2} ms, slow {:.1}%, {} queries, proxy conn {:.1}% (snapshot {})",
                        m.avg_query_time_ms,
                        m.slow_query_pct,
                        m.total_queries,
                        m.connection_usage_pct,
                        m.recorded_at.to_rfc3339_opts(SecondsFormat::Secs, true)
                    ),
                    None => String::new(),
                };
                parts.push(format!(
                    "{} {}: connections {}/{} ({:.1}%){figures}",
                    u.engine, u.server, u.connections, u.max_connections, u.usage_pct
                ));
            }
            Probe::Down { engine, server, error } => parts.push(format!("{engine} {server}: down ({error})")),
        }
    }
    if let Some(h) = &history {
        for p in &h.pools {
            parts.push(format!(
                "pool {}/{} {}: {}/{} active, {} waiting",
                p.engine, p.server, p.role, p.active, p.max, p.waiting
            ));
        }
    }
    let mut text = super::optimize::usage_table(&probes);
    match &history {
        Some(h) if has_history => text.push_str(&super::optimize::snapshot_tables(h)),
        Some(_) => {
            text.push_str("no snapshots in the store yet (a running proxy writes one every snapshot_interval)\n")
        }
        None => text.push_str("store not available: no snapshot figures\n"),
    }
    Reading {
        reached: up > 0 || has_history,
        complete: up == probes.len(),
        json: json!({"at": at, "backends": probes, "snapshot": history}),
        text,
        line: format!(
            "{at} {}",
            if parts.is_empty() { "no backend configured".to_string() } else { parts.join(" | ") }
        ),
    }
}
