//! Standalone figures for `monitor` and `optimize --metrics`: connection usage read live from each configured
//! primary, and the latest performance snapshot and pool statistics from the history store.
//!
//! Deliberately not here: taking snapshots (the running proxy does; `telemetry`).

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};

use crate::config::Config;
use crate::maintain::{Engine, engine_name, login};
use crate::store::{MetricsRow, PoolStatsRow, Store};

/// Client connections on one primary against its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// `postgres` or `mysql`.
    pub engine: &'static str,
    /// `host:port`.
    pub server: String,
    /// Client connections open (PostgreSQL client backends; MariaDB `Threads_connected`).
    pub connections: i64,
    /// `max_connections`.
    pub max_connections: i64,
    /// `connections` as a percentage of `max_connections`.
    pub usage_pct: f64,
}

/// What one engine's primary said, or why it said nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Probe {
    /// The figures.
    Up(Usage),
    /// The engine and the error.
    Down {
        /// `postgres` or `mysql`.
        engine: &'static str,
        /// `host:port`.
        server: String,
        /// What went wrong.
        error: String,
    },
}

/// Connection usage of every configured primary.
pub async fn usage(config: &Config) -> Vec<Probe> {
    let mut out = Vec::new();
    for engine in [Engine::Postgres, Engine::Mysql] {
        let Some(login) = login(config, engine) else { continue };
        let name = engine_name(engine);
        let read = tokio::time::timeout(config.pool.connect_timeout, one(config, engine, &login)).await;
        out.push(match read {
            Ok(Ok((connections, max))) => Probe::Up(Usage {
                engine: name,
                server: login.addr.clone(),
                connections,
                max_connections: max,
                usage_pct: if max > 0 { connections as f64 * 100.0 / max as f64 } else { 0.0 },
            }),
            Ok(Err(e)) => Probe::Down { engine: name, server: login.addr.clone(), error: e.to_string() },
            Err(_) => Probe::Down { engine: name, server: login.addr.clone(), error: "timed out".into() },
        });
    }
    out
}

async fn one(config: &Config, engine: Engine, login: &crate::maintain::Login) -> Result<(i64, i64), String> {
    let (host, port) = login.host_port().ok_or_else(|| format!("bad address {}", login.addr))?;
    let e = |e: sqlx::Error| e.to_string();
    match engine {
        Engine::Postgres => {
            let database = if config.health.database.is_empty() { "postgres" } else { &config.health.database };
            let mut opts = PgConnectOptions::new_without_pgpass()
                .host(&host)
                .port(port)
                .username(&login.user)
                .database(database)
                .application_name("switchyard-monitor");
            if let Some(p) = &login.password {
                opts = opts.password(p);
            }
            let mut conn: PgConnection = opts.connect().await.map_err(e)?;
            let row = conn
                .fetch_one(
                    "SELECT count(*)::int8, current_setting('max_connections')::int8 \
                     FROM pg_stat_activity WHERE backend_type = 'client backend'",
                )
                .await
                .map_err(e)?;
            let _ = conn.close().await;
            Ok((row.try_get(0).map_err(e)?, row.try_get(1).map_err(e)?))
        }
        Engine::Mysql => {
            let mut opts = sqlx::mysql::MySqlConnectOptions::new().host(&host).port(port).username(&login.user);
            if let Some(p) = &login.password {
                opts = opts.password(p);
            }
            let mut conn = opts.connect().await.map_err(e)?;
            let row = conn
                .fetch_one(
                    "SELECT CAST((SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                     WHERE VARIABLE_NAME = 'THREADS_CONNECTED') AS SIGNED), CAST(@@max_connections AS SIGNED)",
                )
                .await
                .map_err(e)?;
            let _ = conn.close().await;
            Ok((row.try_get(0).map_err(e)?, row.try_get(1).map_err(e)?))
        }
    }
}

/// The latest snapshot of each engine and the pool rows taken with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct History {
    /// Newest metrics row per engine.
    pub metrics: Vec<MetricsRow>,
    /// The pool rows of those snapshots.
    pub pools: Vec<PoolStatsRow>,
}

/// Reads the newest snapshot per engine from `store`.
pub async fn history(store: &Store) -> Result<History, String> {
    let mut out = History::default();
    for engine in ["postgres", "mysql"] {
        let rows = store.metrics(Some(engine), 1).await.map_err(|e| e.to_string())?;
        out.metrics.extend(rows);
    }
    let pools = store.pool_stats(1000).await.map_err(|e| e.to_string())?;
    out.pools = pools
        .into_iter()
        .filter(|p| out.metrics.iter().any(|m| m.engine == p.engine && m.recorded_at == p.recorded_at))
        .collect();
    Ok(out)
}
