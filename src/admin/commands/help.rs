//! `SHOW HELP` (every form, and the keys `SET` accepts) and `SHOW VERSION`.

use super::super::parse::FORMS;
use super::super::{Context, ResultSet};
use super::set::KEYS;

/// Every command form with its description, then every `SET` key.
pub fn show() -> ResultSet {
    let mut r = ResultSet::new(&["command", "description"]);
    for (form, what) in FORMS {
        r.push_text([*form, *what]);
    }
    for (key, what) in KEYS {
        r.push_text([format!("SET {key} = <value>"), what.to_string()]);
    }
    r
}

/// The version and how long the proxy has run.
pub fn version(ctx: &Context) -> ResultSet {
    let mut r = ResultSet::new(&["name", "version", "uptime_seconds"]);
    r.push_text([
        "switchyard".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
        ctx.started.elapsed().as_secs().to_string(),
    ]);
    r
}
