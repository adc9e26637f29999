//! `SET <key> = <value>`: runtime-changeable settings. The running configuration is copied, changed,
//! validated like a loaded file, and applied in one place (as a reload is), so `SHOW CONFIG` and the engines
//! agree; a later `RELOAD` goes back to what the file says.

use std::time::Duration;

use super::super::{AdminError, Context, ResultSet};
use crate::config::Config;

/// Every key `SET` accepts, with what it changes.
pub const KEYS: &[(&str, &str)] = &[
    ("slow_threshold.<type>", "slow threshold of a statement type in ms (select, insert, update, delete, other...)"),
    ("monitor.enabled", "query monitoring on or off"),
    ("monitor.explain", "EXPLAIN of slow queries on or off"),
    ("pool.max_connections", "most backends per server pool"),
    ("pool.min_connections", "backends kept open per server pool"),
    ("pool.connection_timeout", "how long a client waits for a backend (ms, or with a unit: 500ms, 5s, 1m)"),
    ("pool.idle_timeout", "idle backends above the minimum are closed after this long"),
    ("pool.max_lifetime", "backends are closed after this age"),
];

/// Applies one setting.
pub fn run(ctx: &Context, key: &str, value: &str) -> Result<ResultSet, AdminError> {
    let mut config = Config::clone(&ctx.config());
    let previous = change(&mut config, key, value)?;
    let problems = config.problems();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(AdminError::InvalidValue(format!("{key} = {value} refused: {}", list.join("; "))));
    }
    let notes = ctx.live.apply(config);
    let mut r = ResultSet::done(format!("{key} = {value} (was {previous})"));
    for note in notes {
        r.push_text(["note".to_string(), note]);
    }
    Ok(r)
}

/// Changes `key` in `config`; returns the previous value, as text.
fn change(config: &mut Config, key: &str, value: &str) -> Result<String, AdminError> {
    if let Some(kind) = key.strip_prefix("slow_threshold.").or_else(|| key.strip_prefix("monitor.slow_threshold_ms.")) {
        let ms: u64 = number(key, value)?;
        let map = &mut config.monitor.slow_threshold_ms;
        let before = map.get(kind).or_else(|| map.get("other")).copied().unwrap_or(1000);
        map.insert(kind.to_string(), ms);
        return Ok(before.to_string());
    }
    let p = &mut config.pool;
    Ok(match key {
        "monitor.enabled" => std::mem::replace(&mut config.monitor.enabled, boolean(key, value)?).to_string(),
        "monitor.explain" => std::mem::replace(&mut config.monitor.explain, boolean(key, value)?).to_string(),
        "pool.max_connections" => std::mem::replace(&mut p.max_connections, number(key, value)?).to_string(),
        "pool.min_connections" => std::mem::replace(&mut p.min_connections, number(key, value)?).to_string(),
        "pool.connection_timeout" => show(std::mem::replace(&mut p.connection_timeout, duration(key, value)?)),
        "pool.idle_timeout" => show(std::mem::replace(&mut p.idle_timeout, duration(key, value)?)),
        "pool.max_lifetime" => show(std::mem::replace(&mut p.max_lifetime, duration(key, value)?)),
        _ => {
            let keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            return Err(AdminError::NotFound(format!(
                "{key:?} cannot be changed at runtime; settable keys: {}",
                keys.join(", ")
            )));
        }
    })
}

fn show(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, AdminError> {
    value.trim().parse().map_err(|_| AdminError::InvalidValue(format!("{key} takes a whole number, not {value:?}")))
}

fn boolean(key: &str, value: &str) -> Result<bool, AdminError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" => Ok(false),
        _ => Err(AdminError::InvalidValue(format!("{key} takes true/false (on/off), not {value:?}"))),
    }
}

/// Milliseconds when bare; `ms`, `s`, `m`, `h` suffixes accepted.
fn duration(key: &str, value: &str) -> Result<Duration, AdminError> {
    let v = value.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().map_err(|_| {
        AdminError::InvalidValue(format!("{key} takes a duration (ms, or 500ms, 5s, 1m, 1h), not {value:?}"))
    })?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1000,
        "m" | "min" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(AdminError::InvalidValue(format!("{key}: unknown unit {unit:?} (use ms, s, m or h)"))),
    };
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_the_right_fields_and_report_the_previous_value() {
        let mut c = Config::default();
        assert_eq!(change(&mut c, "slow_threshold.select", "100").unwrap(), "1000");
        assert_eq!(c.monitor.slow_threshold_ms["select"], 100);
        assert_eq!(change(&mut c, "monitor.enabled", "off").unwrap(), "true");
        assert!(!c.monitor.enabled);
        assert_eq!(change(&mut c, "pool.max_connections", "7").unwrap(), "20");
        assert_eq!(c.pool.max_connections, 7);
        assert_eq!(change(&mut c, "pool.connection_timeout", "2s").unwrap(), "30000ms");
        assert_eq!(c.pool.connection_timeout, Duration::from_secs(2));
        change(&mut c, "pool.idle_timeout", "250").unwrap();
        assert_eq!(c.pool.idle_timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_keys_and_values_are_refused_with_the_accepted_forms() {
        let mut c = Config::default();
        let e = change(&mut c, "listen.postgres", "x").unwrap_err();
        assert!(matches!(e, AdminError::NotFound(_)) && e.to_string().contains("settable keys: slow_threshold.<type>"));
        assert!(change(&mut c, "pool.max_connections", "many").unwrap_err().to_string().contains("whole number"));
        assert!(change(&mut c, "monitor.enabled", "maybe").unwrap_err().to_string().contains("true/false"));
        assert!(
            change(&mut c, "pool.connection_timeout", "5 parsecs").unwrap_err().to_string().contains("unknown unit")
        );
        assert_eq!(c, Config::default(), "nothing changed");
    }

    #[test]
    fn a_change_that_breaks_validation_is_caught_by_problems() {
        let mut c = Config::default();
        change(&mut c, "slow_threshold.frobs", "10").unwrap();
        change(&mut c, "pool.min_connections", "50").unwrap();
        assert!(!c.problems().is_empty());
    }
}
