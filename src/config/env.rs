//! Environment overrides, applied in one place on the raw TOML table before it is typed.
//!
//! Two families are honoured: the seed application's variable names (`DB_POOL_MAX_CONNECTIONS`, ...), each
//! mapped to one key, and `SWITCHYARD_<SECTION>__<KEY>` for every other key (a double underscore separates the
//! levels: `SWITCHYARD_POOL__MAX_CONNECTIONS=10`, `SWITCHYARD_MONITOR__SLOW_THRESHOLD_MS__SELECT=200`).
//! Values are read as TOML literals when they parse as one (numbers, booleans, arrays), else as strings.

use std::collections::BTreeMap;

use super::Problem;

/// The seed's variable names and the key each one sets.
const SEED: &[(&str, &str)] = &[
    ("DB_MONITORING_ENABLED", "monitor.enabled"),
    ("DB_SLOW_SELECT_THRESHOLD", "monitor.slow_threshold_ms.select"),
    ("DB_SLOW_INSERT_THRESHOLD", "monitor.slow_threshold_ms.insert"),
    ("DB_SLOW_UPDATE_THRESHOLD", "monitor.slow_threshold_ms.update"),
    ("DB_SLOW_DELETE_THRESHOLD", "monitor.slow_threshold_ms.delete"),
    ("DB_POOL_MAX_CONNECTIONS", "pool.max_connections"),
    ("DB_POOL_MIN_CONNECTIONS", "pool.min_connections"),
    ("DB_POOL_CONNECTION_TIMEOUT", "pool.connection_timeout"),
];

/// Seed variables that belong to capabilities configured elsewhere (alerts, backups); accepted and ignored
/// here so that a seed `.env` does not fail to load.
const SEED_LATER: &[&str] = &[
    "DB_POOL_ENABLED",
    "DB_ALERTS_ENABLED",
    "DB_EMAIL_ALERTS_ENABLED",
    "DB_ALERT_EMAILS",
    "BACKUP_ENABLED",
    "BACKUP_DISK",
    "BACKUP_COMPRESSION_ENABLED",
    "BACKUP_RETENTION_DAILY",
    "BACKUP_RETENTION_WEEKLY",
    "BACKUP_RETENTION_MONTHLY",
];

/// Applies every recognised variable in `env` to `table`; returns the problems found.
pub fn apply(table: &mut toml::Table, env: &BTreeMap<String, String>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, key) in SEED {
        if let Some(raw) = env.get(*name) {
            let value = if key.ends_with("connection_timeout") && raw.bytes().all(|b| b.is_ascii_digit()) {
                // The seed gives seconds as a bare number.
                toml::Value::String(format!("{raw}s"))
            } else {
                literal(raw)
            };
            set(table, &key.split('.').collect::<Vec<_>>(), value, name, &mut problems);
        }
    }
    for (name, raw) in env.range("SWITCHYARD_".to_string()..) {
        let Some(rest) = name.strip_prefix("SWITCHYARD_") else { break };
        if rest.is_empty() || rest == "CONFIG" {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if path.len() < 2 {
            problems.push(Problem::new(name.clone(), "expected SWITCHYARD_<SECTION>__<KEY>".into()));
            continue;
        }
        set(table, &path, literal(raw), name, &mut problems);
    }
    let _ = SEED_LATER;
    problems
}

fn literal(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set(table: &mut toml::Table, path: &[&str], value: toml::Value, var: &str, problems: &mut Vec<Problem>) {
    let (last, parents) = path.split_last().expect("path has at least one part");
    let mut cur = table;
    for part in parents {
        let entry = cur.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => cur = t,
            _ => {
                problems.push(Problem::new(var.to_string(), format!("{part} is not a section")));
                return;
            }
        }
    }
    cur.insert(last.to_string(), value);
}
