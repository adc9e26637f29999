//! One file per command or small family of commands, and the dispatcher. Commands read live state through the
//! [`Context`] and answer a [`ResultSet`]; shared views over both engines' pools and servers live here.

mod clients;
mod config;
mod explain;
mod help;
mod maintenance;
mod pools;
mod queries;
mod reload;
mod servers;
mod set;
mod stats;
mod suggestions;

use std::sync::Arc;

use super::{AdminError, Command, Context, ResultSet};
use crate::config::Role;
use crate::pool::topology::Topology;
use crate::pool::{Connector, Pauses, Pool, PoolStats};

pub use set::KEYS as SET_KEYS;

/// Runs one parsed command.
pub async fn run(ctx: &Context, command: &Command) -> Result<ResultSet, AdminError> {
    match command {
        Command::ShowHelp => Ok(help::show()),
        Command::ShowVersion => Ok(help::version(ctx)),
        Command::ShowConfig => Ok(config::show(ctx)),
        Command::ShowPools => Ok(pools::show(ctx)),
        Command::ShowServers => Ok(servers::show(ctx)),
        Command::ShowClients => Ok(clients::show(ctx)),
        Command::ShowStats => Ok(stats::show(ctx)),
        Command::ShowQueries { order, limit } => queries::digests(ctx, order.as_ref(), *limit),
        Command::ShowSlowQueries { limit } => Ok(queries::slow(ctx, *limit)),
        Command::ShowSuggestions => suggestions::show(ctx).await,
        Command::ShowTablesStatus => maintenance::status(ctx).await,
        Command::Set { key, value } => set::run(ctx, key, value),
        Command::Reload => reload::run(ctx),
        Command::Pause(filter) => pools::pause(ctx, filter.as_deref()),
        Command::Resume(filter) => pools::resume(ctx, filter.as_deref()),
        Command::KillClient(id) => clients::kill(ctx, *id),
        Command::BanServer(name) => servers::ban(ctx, name, true),
        Command::UnbanServer(name) => servers::ban(ctx, name, false),
        Command::CleanupConnections => Ok(pools::cleanup(ctx)),
        Command::ExplainDigest(id) => explain::run(ctx, id).await,
        Command::AnalyzeTable(table) => maintenance::analyze(ctx, table).await,
        Command::OptimizeTable(table) => maintenance::optimize(ctx, table).await,
        Command::ResetStats => Ok(stats::reset(ctx)),
    }
}

/// What the admin commands do with a pool, whatever its engine.
pub(crate) trait PoolOps: Send + Sync {
    fn stats(&self) -> PoolStats;
    fn pause(&self);
    fn resume(&self);
    fn is_paused(&self) -> bool;
    fn close_idle(&self) -> usize;
}

impl<C: Connector> PoolOps for Pool<C> {
    fn stats(&self) -> PoolStats {
        Pool::stats(self)
    }
    fn pause(&self) {
        Pool::pause(self)
    }
    fn resume(&self) {
        Pool::resume(self)
    }
    fn is_paused(&self) -> bool {
        Pool::is_paused(self)
    }
    fn close_idle(&self) -> usize {
        Pool::close_idle(self)
    }
}

/// One backend pool as the commands see it.
pub(crate) struct PoolEntry {
    pub server: String,
    pub role: Role,
    pub user: String,
    /// Empty for MySQL pools (their database is per session).
    pub database: String,
    pub pool: Arc<dyn PoolOps>,
}

impl PoolEntry {
    /// The words a PAUSE / RESUME filter may name this pool by.
    fn names<'a>(&'a self, engine: &'a str) -> [&'a str; 5] {
        [engine, &self.server, self.role.as_str(), &self.user, &self.database]
    }
}

/// One running engine: its servers, standing pauses and pools.
pub(crate) struct EngineView<'a> {
    pub name: &'static str,
    pub topology: &'a Topology,
    pub pauses: &'a Pauses,
    pub pools: Vec<PoolEntry>,
}

/// Both engines (those running), pools sorted by server, user and database.
pub(crate) fn engines(ctx: &Context) -> Vec<EngineView<'_>> {
    let mut out = Vec::new();
    if let Some(pg) = ctx.live.postgres() {
        let pools = pg
            .pools()
            .into_iter()
            .map(|(server, user, database, pool)| PoolEntry {
                role: pg.topology.server(&server).map_or(Role::Write, |s| s.role),
                server,
                user,
                database,
                pool: pool as Arc<dyn PoolOps>,
            })
            .collect();
        out.push(EngineView { name: "postgres", topology: &pg.topology, pauses: &pg.pauses, pools });
    }
    if let Some(my) = ctx.live.mysql() {
        let pools = my
            .pools()
            .into_iter()
            .map(|(server, user, pool)| PoolEntry {
                role: my.topology.server(&server).map_or(Role::Write, |s| s.role),
                server,
                user,
                database: String::new(),
                pool: pool as Arc<dyn PoolOps>,
            })
            .collect();
        out.push(EngineView { name: "mysql", topology: &my.topology, pauses: &my.pauses, pools });
    }
    for e in &mut out {
        e.pools.sort_by(|a, b| (&a.server, &a.user, &a.database).cmp(&(&b.server, &b.user, &b.database)));
    }
    out
}

/// `true` / `false`.
pub(crate) fn yes(b: bool) -> String {
    if b { "true".into() } else { "false".into() }
}

/// A timestamp as RFC 3339 with milliseconds, UTC.
pub(crate) fn time(t: impl Into<chrono::DateTime<chrono::Utc>>) -> String {
    t.into().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
