//! `SHOW SERVERS`, `BAN SERVER <name>` and `UNBAN SERVER <name>`. A name may be qualified with its engine
//! (`postgres.replica1`); unqualified, it names that server in every engine that has it.

use super::super::{AdminError, Context, ResultSet};
use super::{engines, yes};

/// One row per backend server: role, health, lag, bans, queries in flight.
pub fn show(ctx: &Context) -> ResultSet {
    let mut r = ResultSet::new(&[
        "engine",
        "name",
        "addr",
        "role",
        "weight",
        "up",
        "usable",
        "banned",
        "manual_ban",
        "ban_remaining_ms",
        "read_only",
        "lag_ms",
        "lagging",
        "outstanding",
        "last_error",
    ]);
    for e in engines(ctx) {
        for s in e.topology.servers() {
            let st = s.snapshot();
            r.push(vec![
                Some(e.name.to_string()),
                Some(st.name),
                Some(st.addr),
                Some(st.role.as_str().to_string()),
                Some(st.weight.to_string()),
                Some(yes(st.up)),
                Some(yes(st.usable)),
                Some(yes(st.banned)),
                Some(yes(st.manual_ban)),
                st.banned_for.map(|d| d.as_millis().to_string()),
                st.read_only.map(yes),
                st.lag.map(|d| d.as_millis().to_string()),
                Some(yes(st.lagging)),
                Some(st.outstanding.to_string()),
                st.last_error,
            ]);
        }
    }
    r
}

/// Bans (`ban`) or unbans a server.
pub fn ban(ctx: &Context, name: &str, ban: bool) -> Result<ResultSet, AdminError> {
    let (engine, server) = match name.split_once(['.', ':']) {
        Some((e, s)) if e == "postgres" || e == "mysql" => (Some(e), s),
        _ => (None, name),
    };
    let mut r = ResultSet::new(&["engine", "server", "role", "status"]);
    for e in engines(ctx).iter().filter(|e| engine.is_none_or(|x| x == e.name)) {
        if let Some(s) = e.topology.server(server) {
            if ban {
                s.ban();
            } else {
                s.unban();
            }
            let status = if ban { "banned" } else { "unbanned" };
            r.push_text([e.name, &s.name, s.role.as_str(), status]);
        }
    }
    if r.rows.is_empty() {
        let names: Vec<String> = engines(ctx)
            .iter()
            .flat_map(|e| e.topology.servers().iter().map(move |s| format!("{}.{}", e.name, s.name)))
            .collect();
        return Err(AdminError::NotFound(format!("no server named {name:?}; servers: {}", names.join(", "))));
    }
    Ok(r)
}
