//! `SHOW POOLS`, `PAUSE [pool]`, `RESUME [pool]` and `CLEANUP CONNECTIONS`.
//!
//! A PAUSE filter names pools by engine, server, role, user or database (none: every pool). It pauses the
//! matching pools and stays standing, so that pools created later while it stands start paused. RESUME with a
//! name lifts that filter and resumes the matching pools; RESUME alone lifts every filter and resumes all.

use super::super::result::ms;
use super::super::{AdminError, Context, ResultSet};
use super::{engines, yes};

/// One row per backend pool.
pub fn show(ctx: &Context) -> ResultSet {
    let mut r = ResultSet::new(&[
        "engine",
        "server",
        "role",
        "user",
        "database",
        "total",
        "idle",
        "active",
        "waiting",
        "connecting",
        "max",
        "utilisation_pct",
        "checkouts",
        "timeouts",
        "connect_errors",
        "avg_wait_ms",
        "paused",
    ]);
    for e in engines(ctx) {
        for p in &e.pools {
            let s = p.pool.stats();
            let avg_wait =
                if s.checkouts == 0 { 0.0 } else { s.wait_micros_total as f64 / s.checkouts as f64 / 1000.0 };
            r.push_text([
                e.name.to_string(),
                p.server.clone(),
                p.role.as_str().to_string(),
                p.user.clone(),
                p.database.clone(),
                s.total.to_string(),
                s.idle.to_string(),
                s.active.to_string(),
                s.waiting.to_string(),
                s.connecting.to_string(),
                s.max.to_string(),
                super::super::result::pct(s.utilisation() * 100.0),
                s.checkouts.to_string(),
                s.timeouts.to_string(),
                s.connect_errors.to_string(),
                ms(avg_wait),
                yes(p.pool.is_paused()),
            ]);
        }
    }
    r
}

/// True when `filter` names something that exists: an engine, a server, a role, a configured user or the user
/// or database of a pool.
fn known(ctx: &Context, filter: &str) -> bool {
    let config = ctx.config();
    engines(ctx).iter().any(|e| {
        e.name == filter
            || e.topology.server(filter).is_some()
            || ["write", "read", "analytics"].contains(&filter)
            || e.pools.iter().any(|p| p.names(e.name).contains(&filter))
    }) || config.user(filter).is_some()
}

/// Holds new transactions of the matching pools.
pub fn pause(ctx: &Context, filter: Option<&str>) -> Result<ResultSet, AdminError> {
    let f = filter.unwrap_or("*");
    if f != "*" && !known(ctx, f) {
        return Err(AdminError::NotFound(format!(
            "no pool matches {f:?}: name an engine (postgres, mysql), a server, a role (write, read, analytics), a user or a database"
        )));
    }
    let mut n = 0;
    for e in engines(ctx) {
        e.pauses.add(f);
        for p in e.pools.iter().filter(|p| f == "*" || p.names(e.name).contains(&f)) {
            p.pool.pause();
            n += 1;
        }
    }
    Ok(ResultSet::done(format!(
        "paused {n} pool(s) matching {}; new transactions wait (up to pool.connection_timeout) until RESUME",
        filter.unwrap_or("every pool")
    )))
}

/// Lets the matching pools proceed.
pub fn resume(ctx: &Context, filter: Option<&str>) -> Result<ResultSet, AdminError> {
    let f = filter.unwrap_or("*");
    if f != "*" && !known(ctx, f) {
        return Err(AdminError::NotFound(format!("no pool matches {f:?}")));
    }
    let mut n = 0;
    for e in engines(ctx) {
        e.pauses.remove(f);
        for p in e.pools.iter().filter(|p| f == "*" || p.names(e.name).contains(&f)) {
            if p.pool.is_paused() {
                n += 1;
            }
            p.pool.resume();
        }
    }
    Ok(ResultSet::done(format!("resumed {n} pool(s) matching {}", filter.unwrap_or("every pool"))))
}

/// Closes every idle backend connection (pools refill to `min_connections` on their next maintenance pass).
pub fn cleanup(ctx: &Context) -> ResultSet {
    let mut r = ResultSet::new(&["engine", "server", "user", "database", "closed"]);
    let mut total = 0;
    for e in engines(ctx) {
        for p in &e.pools {
            let n = p.pool.close_idle();
            total += n;
            r.push_text([e.name.to_string(), p.server.clone(), p.user.clone(), p.database.clone(), n.to_string()]);
        }
    }
    r.push_text(["*".to_string(), "*".into(), "*".into(), "*".into(), total.to_string()]);
    r
}
