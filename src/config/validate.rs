//! Semantic checks on a typed configuration. Every problem is collected, never just the first, so that an
//! operator fixes a file in one pass (`switchyard check-config`).

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

use super::{AuthMethod, Cluster, Config};

/// One thing wrong with a configuration, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`pool.max_connections`, `users[1].auth`) or a variable name.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, message: String) -> Problem {
        Problem { key: key.into(), message }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem in `c`.
pub fn validate(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut bad = |key: &str, msg: String| out.push(Problem::new(key, msg));

    for (key, addr) in [
        ("listen.postgres", &c.listen.postgres),
        ("listen.mysql", &c.listen.mysql),
        ("listen.admin", &c.listen.admin),
        ("listen.admin_mysql", &c.listen.admin_mysql),
        ("listen.metrics", &c.listen.metrics),
    ] {
        if !addr.is_empty() && addr.parse::<SocketAddr>().is_err() {
            bad(key, format!("`{addr}` is not an ip:port address"));
        }
    }
    if c.tls.cert.is_some() != c.tls.key.is_some() {
        bad("tls", "set both `cert` and `key`, or neither".into());
    }
    for (key, path) in [("tls.cert", &c.tls.cert), ("tls.key", &c.tls.key)] {
        if let Some(p) = path
            && !p.exists()
        {
            bad(key, format!("{} does not exist", p.display()));
        }
    }
    if c.pool.max_connections == 0 {
        bad("pool.max_connections", "must be at least 1".into());
    }
    if c.pool.min_connections > c.pool.max_connections {
        bad(
            "pool.min_connections",
            format!("{} exceeds max_connections {}", c.pool.min_connections, c.pool.max_connections),
        );
    }
    if c.pool.connection_timeout.is_zero() {
        bad("pool.connection_timeout", "must be more than 0".into());
    }
    if c.general.max_client_connections == 0 {
        bad("general.max_client_connections", "must be at least 1".into());
    }
    if c.general.max_message_size < 1024 {
        bad("general.max_message_size", "must be at least 1024 bytes".into());
    }
    if c.health.interval.is_zero() {
        bad("health.interval", "must be more than 0".into());
    }

    let mut names = HashSet::new();
    for (i, u) in c.users.iter().enumerate() {
        let key = format!("users[{i}]");
        if u.name.is_empty() {
            bad(&format!("{key}.name"), "must not be empty".into());
        }
        if !names.insert(u.name.as_str()) {
            bad(&format!("{key}.name"), format!("user `{}` is defined twice", u.name));
        }
        match u.auth {
            AuthMethod::Trust => {}
            AuthMethod::Md5 if u.password.is_none() => {
                bad(&format!("{key}.password"), "md5 auth needs a plain password".into())
            }
            AuthMethod::ScramSha256 if u.password.is_none() && u.scram_verifier.is_none() => {
                bad(&format!("{key}.password"), "scram-sha-256 auth needs a password or scram_verifier".into())
            }
            _ => {}
        }
        if let Some(v) = &u.scram_verifier
            && !v.starts_with("SCRAM-SHA-256$")
        {
            bad(
                &format!("{key}.scram_verifier"),
                "expected SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>".into(),
            );
        }
        if u.max_connections == Some(0) {
            bad(&format!("{key}.max_connections"), "must be at least 1".into());
        }
    }
    if let Some(u) = &c.health.user
        && c.user(u).is_none()
        && c.health.password.is_none()
    {
        bad("health.user", format!("`{u}` is not a configured user and health.password is not set"));
    }
    let off_loopback =
        |addr: &str| !addr.is_empty() && !addr.parse::<SocketAddr>().map(|a| a.ip().is_loopback()).unwrap_or(true);
    if (off_loopback(&c.listen.admin) || off_loopback(&c.listen.admin_mysql)) && c.admin.password == "admin" {
        bad("admin.password", "the default password is refused on a non-loopback control port".into());
    }
    const TYPES: &[&str] =
        &["select", "insert", "update", "delete", "ddl", "transaction", "session", "show", "call", "copy", "other"];
    for name in c.monitor.slow_threshold_ms.keys() {
        if !TYPES.contains(&name.as_str()) {
            bad(
                &format!("monitor.slow_threshold_ms.{name}"),
                format!("unknown statement type; use one of {}", TYPES.join(", ")),
            );
        }
    }
    for (key, value) in [
        ("monitor.max_digests", c.monitor.max_digests),
        ("monitor.event_queue", c.monitor.event_queue),
        ("store.batch_size", c.store.batch_size),
        ("store.queue", c.store.queue),
    ] {
        if value == 0 {
            bad(key, "must be at least 1".into());
        }
    }
    if c.monitor.snapshot_interval.is_zero() {
        bad("monitor.snapshot_interval", "must be longer than zero".into());
    }
    if let Some(url) = &c.store.url
        && !["sqlite:", "postgres:", "postgresql:"].iter().any(|p| url.starts_with(p))
    {
        bad("store.url", "expected sqlite://<file> or postgres://...".into());
    }
    for (engine, cluster) in [("postgres", &c.postgres), ("mysql", &c.mysql)] {
        check_cluster(engine, cluster, &mut out);
    }
    check_maintenance(c, &mut out);
    out
}

fn check_maintenance(c: &Config, out: &mut Vec<Problem>) {
    let m = &c.maintenance;
    for (key, value) in [
        ("maintenance.analyze_threshold_pct", m.analyze_threshold_pct),
        ("maintenance.optimize_threshold_pct", m.optimize_threshold_pct),
    ] {
        if !(0.0..=100.0).contains(&value) {
            out.push(Problem::new(key, format!("{value} is not a percentage (0 to 100)")));
        }
    }
    for (key, value) in
        [("maintenance.lock_timeout", m.lock_timeout), ("maintenance.statement_timeout", m.statement_timeout)]
    {
        if value.is_zero() {
            out.push(Problem::new(key, "must be longer than zero".into()));
        }
    }
    let s = &c.schedule;
    for (key, expr) in
        [("schedule.analyze", &s.analyze), ("schedule.optimize", &s.optimize), ("schedule.monitor", &s.monitor)]
    {
        if let Err(e) = crate::schedule::parse_cron(expr) {
            out.push(Problem::new(key, e));
        }
    }
    if !matches!(s.timezone.as_str(), "local" | "utc") {
        out.push(Problem::new("schedule.timezone", format!("`{}`: use \"local\" or \"utc\"", s.timezone)));
    }
}

fn check_cluster(engine: &str, c: &Cluster, out: &mut Vec<Problem>) {
    if c.primary.is_none() && (!c.replicas.is_empty() || !c.analytics.is_empty()) {
        out.push(Problem::new(format!("{engine}.primary"), "replicas are configured without a primary".into()));
    }
    let mut names = HashSet::new();
    for (s, role) in c.servers() {
        let key = format!(
            "{engine}.{}",
            match role {
                super::Role::Write => "primary",
                super::Role::Read => "replicas",
                super::Role::Analytics => "analytics",
            }
        );
        if s.name.is_empty() {
            out.push(Problem::new(format!("{key}.name"), "must not be empty".into()));
        } else if !names.insert(s.name.as_str()) {
            out.push(Problem::new(format!("{key}.name"), format!("server `{}` is defined twice", s.name)));
        }
        if !valid_host_port(&s.addr) {
            out.push(Problem::new(format!("{key}.addr"), format!("`{}` is not host:port", s.addr)));
        }
        if s.weight == 0 {
            out.push(Problem::new(format!("{key}.weight"), "must be at least 1".into()));
        }
    }
}

fn valid_host_port(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}
