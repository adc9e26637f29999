//! `SHOW CLIENTS` and `KILL CLIENT <id>`, over the client registry (`session::clients`).

use super::super::{AdminError, Context, ResultSet};
use super::{engines, time};

/// One row per connected client.
pub fn show(ctx: &Context) -> ResultSet {
    let mut r = ResultSet::new(&[
        "id",
        "engine",
        "user",
        "database",
        "addr",
        "connected_at",
        "connected_seconds",
        "state",
        "server",
    ]);
    let views = engines(ctx);
    let now = chrono::Utc::now();
    for c in ctx.clients.list() {
        let login = c.login();
        let topology = views.iter().find(|e| e.name == c.engine).map(|e| e.topology);
        let server = topology.and_then(|t| c.server(t)).map(|s| s.name.clone());
        let state = match (login, c.active()) {
            (None, _) => "login",
            (Some(_), true) => "active",
            (Some(_), false) => "idle",
        };
        r.push(vec![
            Some(c.id.to_string()),
            Some(c.engine.to_string()),
            login.map(|(u, _)| u.to_string()),
            login.map(|(_, d)| d.to_string()),
            Some(c.addr.to_string()),
            Some(time(c.connected_at)),
            Some((now - c.connected_at).num_seconds().max(0).to_string()),
            Some(state.to_string()),
            server,
        ]);
    }
    r
}

/// Ends one client's connection: its session tells the client and closes, giving its backend back (or
/// discarding it when a statement was in flight).
pub fn kill(ctx: &Context, id: u64) -> Result<ResultSet, AdminError> {
    let Some(c) = ctx.clients.get(id) else {
        return Err(AdminError::NotFound(format!("no client with id {id} (SHOW CLIENTS lists them)")));
    };
    c.kill();
    let who = c.login().map(|(u, _)| u.to_string()).unwrap_or_else(|| "(logging in)".into());
    Ok(ResultSet::done(format!("client {id} ({} {who} from {}) killed", c.engine, c.addr)))
}
