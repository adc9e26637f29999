//! Config parsing, overrides and validation.

use std::collections::BTreeMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn problems(text: &str, e: &[(&str, &str)]) -> Vec<Problem> {
    match Config::parse(text, &env(e)) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn empty_file_gives_defaults() {
    let c = Config::parse("", &env(&[])).expect("empty config is valid");
    assert_eq!(c, Config::default());
    assert_eq!(c.pool.max_connections, 20);
    assert_eq!(c.pool.min_connections, 5);
    assert_eq!(c.listen.postgres, "127.0.0.1:6432");
    assert_eq!(c.monitor.slow_threshold_ms["select"], 1000);
}

#[test]
fn shipped_proxy_toml_is_valid() {
    let text = include_str!("../../proxy.toml");
    let c = Config::parse(text, &env(&[])).expect("shipped proxy.toml parses");
    assert!(c.postgres.primary.is_some());
}

#[test]
fn durations_and_sections_parse() {
    let c = Config::parse(
        "[pool]\nconnection_timeout = \"250ms\"\nmax_connections = 7\n[postgres]\nprimary = { name = \"p\", addr = \"127.0.0.1:5432\" }\n",
        &env(&[]),
    )
    .expect("valid");
    assert_eq!(c.pool.connection_timeout, Duration::from_millis(250));
    assert_eq!(c.pool.max_connections, 7);
    assert_eq!(c.postgres.primary.as_ref().map(|p| p.weight), Some(1));
}

#[test]
fn every_problem_is_listed_with_its_key() {
    let p = problems(
        "[pool]\nmax_connections = \"many\"\n[listen]\npostgres = \"nowhere\"\nbogus = 1\n[nonsense]\nx = 1\n",
        &[],
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"pool.max_connections"), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("listen")), "{keys:?}");
    assert!(keys.contains(&"nonsense"), "{keys:?}");
}

#[test]
fn semantic_problems_are_all_reported() {
    let p = problems(
        "[pool]\nmin_connections = 9\nmax_connections = 3\n[[users]]\nname = \"a\"\nauth = \"md5\"\n[[users]]\nname = \"a\"\nauth = \"trust\"\n[postgres]\nreplicas = [{ name = \"r\", addr = \"x\" }]\n",
        &[],
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for k in
        ["pool.min_connections", "users[0].password", "users[1].name", "postgres.primary", "postgres.replicas.addr"]
    {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
}

#[test]
fn seed_env_names_override() {
    let c = Config::parse(
        "",
        &env(&[
            ("DB_POOL_MAX_CONNECTIONS", "11"),
            ("DB_SLOW_UPDATE_THRESHOLD", "1000"),
            ("DB_POOL_CONNECTION_TIMEOUT", "3"),
            ("DB_MONITORING_ENABLED", "false"),
        ]),
    )
    .expect("valid");
    assert_eq!(c.pool.max_connections, 11);
    assert_eq!(c.monitor.slow_threshold_ms["update"], 1000);
    assert_eq!(c.pool.connection_timeout, Duration::from_secs(3));
    assert!(!c.monitor.enabled);
}

#[test]
fn switchyard_env_overrides_any_key() {
    let c = Config::parse(
        "[pool]\nmax_connections = 3\n",
        &env(&[("SWITCHYARD_POOL__MAX_CONNECTIONS", "9"), ("SWITCHYARD_LISTEN__POSTGRES", "127.0.0.1:7000")]),
    )
    .expect("valid");
    assert_eq!(c.pool.max_connections, 9);
    assert_eq!(c.listen.postgres, "127.0.0.1:7000");
    let p = problems("", &[("SWITCHYARD_POOL__NOPE", "1")]);
    assert_eq!(p[0].key, "pool.nope");
}

#[test]
fn default_admin_password_refused_off_loopback() {
    let p = problems("[listen]\nadmin = \"0.0.0.0:6032\"\n", &[]);
    assert_eq!(p[0].key, "admin.password");
    Config::parse("[listen]\nadmin = \"0.0.0.0:6032\"\n[admin]\npassword = \"s3cret\"\n", &env(&[])).expect("valid");
    let p = problems("[listen]\nadmin_mysql = \"0.0.0.0:6034\"\n", &[]);
    assert_eq!(p[0].key, "admin.password", "the MySQL-protocol control port too");
}

#[test]
fn secrets_are_redacted_in_debug() {
    let c = Config::parse("[[users]]\nname = \"u\"\npassword = \"hunter2\"\n", &env(&[])).expect("valid");
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn schedule_and_maintenance_are_checked() {
    let p = problems(
        "[schedule]\nanalyze = \"0 25 * * *\"\noptimize = \"\"\ntimezone = \"mars\"\n\
         [maintenance]\nanalyze_threshold_pct = 150.0\nlock_timeout = \"0s\"\n",
        &[],
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["maintenance.analyze_threshold_pct", "maintenance.lock_timeout", "schedule.analyze", "schedule.timezone"],
        "an empty expression turns a job off and is fine: {p:?}"
    );
    let c = Config::parse("", &env(&[])).expect("defaults");
    assert_eq!((c.schedule.analyze.as_str(), c.schedule.optimize.as_str()), ("0 2 * * *", "0 3 * * 0"));
    assert_eq!(c.schedule.monitor, "*/5 * * * *");
}
