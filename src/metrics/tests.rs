//! `render` output parsed back with `prometheus-parse`, plus a line-level check of the exposition format:
//! names, types, values and that counters move by exactly what was observed.

use std::collections::HashMap;
use std::time::Duration;

use prometheus_parse::{Scrape, Value};

use super::*;
use crate::config::Role;
use crate::pool::PoolStats;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("render output parses")
}

/// The value of the one sample named `name` whose labels include all of `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Value {
    let found: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {name}{labels:?} in {:?}", scrape.samples);
    found[0].value.clone()
}

fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match value(scrape, name, labels) {
        Value::Counter(v) => v,
        other => panic!("{name}{labels:?} is not a counter: {other:?}"),
    }
}

fn gauge(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match value(scrape, name, labels) {
        Value::Gauge(v) => v,
        other => panic!("{name}{labels:?} is not a gauge: {other:?}"),
    }
}

/// `# TYPE` of every family in `text`.
fn types(text: &str) -> HashMap<String, String> {
    let mut types = HashMap::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').expect("TYPE line has a name and a type");
        assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "{name} typed twice");
    }
    types
}

fn observation<'a>(engine: &'a str, pool: &'a str, kind: &'a str, ok: bool, seconds: f64) -> QueryObservation<'a> {
    QueryObservation { engine, pool, kind, ok, seconds, slow: false }
}

fn pool(engine: &'static str, server: &str, role: Role, stats: PoolStats) -> PoolSample {
    PoolSample { engine, server: server.into(), role, stats }
}

fn full_sample() -> Sample {
    Sample {
        clients: vec![
            ClientSample { engine: "postgres", active: 3, idle: 10, waiting: 1 },
            ClientSample { engine: "mysql", active: 0, idle: 2, waiting: 0 },
        ],
        pools: vec![
            pool(
                "postgres",
                "pg-primary",
                Role::Write,
                PoolStats {
                    idle: 2,
                    active: 3,
                    connecting: 1,
                    waiting: 4,
                    max: 10,
                    checkouts: 1234,
                    timeouts: 7,
                    wait_micros_total: 2_500_000,
                    ..PoolStats::default()
                },
            ),
            // A second user's pool on the same server: summed into the same series.
            pool(
                "postgres",
                "pg-primary",
                Role::Write,
                PoolStats {
                    idle: 1,
                    active: 2,
                    max: 10,
                    checkouts: 66,
                    wait_micros_total: 500_000,
                    ..PoolStats::default()
                },
            ),
            pool("mysql", "my-replica", Role::Read, PoolStats { idle: 5, max: 20, ..PoolStats::default() }),
        ],
        servers: vec![
            ServerSample {
                engine: "postgres",
                server: "pg-primary".into(),
                role: Role::Write,
                up: true,
                replication_lag: None,
            },
            ServerSample {
                engine: "postgres",
                server: "pg-replica".into(),
                role: Role::Read,
                up: false,
                replication_lag: Some(Duration::from_millis(1500)),
            },
        ],
        digests: 42,
        digests_evicted_total: 5,
        monitor_events_dropped_total: 9,
        store_rows_dropped_total: 11,
    }
}

#[test]
fn query_counters_move_by_exactly_the_observations() {
    let metrics = Metrics::new().expect("metrics");
    let before = parse(&metrics.render(&Sample::default()));
    assert!(before.samples.iter().all(|s| s.metric != "switchyard_queries_total"), "no series before any query");

    for _ in 0..3 {
        metrics.observe_query(&observation("postgres", "read", "select", true, 0.002));
    }
    metrics.observe_query(&observation("postgres", "read", "select", false, 0.0005));
    metrics.observe_query(&QueryObservation { slow: true, ..observation("postgres", "write", "update", true, 1.5) });
    metrics.observe_query(&observation("mysql", "write", "insert", true, 40.0));

    let text = metrics.render(&Sample::default());
    let scrape = parse(&text);
    let q = |engine, pool, kind, outcome| {
        counter(
            &scrape,
            "switchyard_queries_total",
            &[("engine", engine), ("pool", pool), ("type", kind), ("outcome", outcome)],
        )
    };
    assert_eq!(q("postgres", "read", "select", "ok"), 3.0);
    assert_eq!(q("postgres", "read", "select", "error"), 1.0);
    assert_eq!(q("postgres", "write", "update", "ok"), 1.0);
    assert_eq!(q("postgres", "write", "update", "error"), 0.0);
    assert_eq!(q("mysql", "write", "insert", "ok"), 1.0);

    let slow = |engine, kind| counter(&scrape, "switchyard_slow_queries_total", &[("engine", engine), ("type", kind)]);
    assert_eq!(slow("postgres", "update"), 1.0);
    assert_eq!(slow("postgres", "select"), 0.0);

    let Value::Histogram(buckets) =
        value(&scrape, "switchyard_query_duration_seconds", &[("engine", "postgres"), ("type", "select")])
    else {
        panic!("duration is not a histogram")
    };
    let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count).expect("bucket exists");
    assert_eq!(at(0.0001), 0.0);
    assert_eq!(at(0.0005), 1.0, "the 0.5 ms error falls in le=0.0005");
    assert_eq!(at(0.0025), 4.0);
    assert_eq!(at(30.0), 4.0);
    assert_eq!(buckets.first().map(|b| b.less_than), Some(0.0001));
    // 40 s is over the last bound: only +Inf counts it.
    let Value::Histogram(my) =
        value(&scrape, "switchyard_query_duration_seconds", &[("engine", "mysql"), ("type", "insert")])
    else {
        panic!("duration is not a histogram")
    };
    assert_eq!(my.iter().find(|b| b.less_than == 30.0).map(|b| b.count), Some(0.0));
    assert_eq!(my.iter().find(|b| b.less_than == f64::INFINITY).map(|b| b.count), Some(1.0));
    let sum_line = "switchyard_query_duration_seconds_sum{engine=\"postgres\",type=\"select\"} ";
    let sum: f64 =
        text.lines().find_map(|l| l.strip_prefix(sum_line)).and_then(|v| v.parse().ok()).expect("duration sum line");
    assert!((sum - 0.0065).abs() < 1e-12, "sum {sum}");
    assert!(text.contains("switchyard_query_duration_seconds_count{engine=\"postgres\",type=\"select\"} 4"));

    // Observing again through the cached handles moves the same series.
    metrics.observe_query(&observation("postgres", "read", "select", true, 0.002));
    let again = parse(&metrics.render(&Sample::default()));
    assert_eq!(
        counter(
            &again,
            "switchyard_queries_total",
            &[("engine", "postgres"), ("pool", "read"), ("type", "select"), ("outcome", "ok")]
        ),
        4.0
    );
}

#[test]
fn sampled_state_has_the_right_types_and_values() {
    let metrics = Metrics::new().expect("metrics");
    let text = metrics.render(&full_sample());
    let scrape = parse(&text);
    let types = types(&text);
    let expected = [
        ("switchyard_build_info", "gauge"),
        ("switchyard_client_connections", "gauge"),
        ("switchyard_backend_connections", "gauge"),
        ("switchyard_pool_utilisation_ratio", "gauge"),
        ("switchyard_pool_waiting_clients", "gauge"),
        ("switchyard_pool_checkouts_total", "counter"),
        ("switchyard_pool_checkout_timeouts_total", "counter"),
        ("switchyard_pool_wait_seconds_total", "counter"),
        ("switchyard_digests", "gauge"),
        ("switchyard_digests_evicted_total", "counter"),
        ("switchyard_monitor_events_dropped_total", "counter"),
        ("switchyard_store_rows_dropped_total", "counter"),
        ("switchyard_server_up", "gauge"),
        ("switchyard_server_replication_lag_seconds", "gauge"),
    ];
    for (name, kind) in expected {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "TYPE of {name}");
    }
    for name in types.keys() {
        assert!(name.starts_with("switchyard_"), "{name} lacks the prefix");
        assert_eq!(name.ends_with("_total"), types[name] == "counter", "{name}: _total iff counter");
    }

    assert_eq!(gauge(&scrape, "switchyard_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    let clients =
        |engine, state| gauge(&scrape, "switchyard_client_connections", &[("engine", engine), ("state", state)]);
    assert_eq!(clients("postgres", "active"), 3.0);
    assert_eq!(clients("postgres", "idle"), 10.0);
    assert_eq!(clients("postgres", "waiting"), 1.0);
    assert_eq!(clients("mysql", "idle"), 2.0);

    let primary = [("engine", "postgres"), ("server", "pg-primary"), ("role", "write")];
    let with = |state| {
        let mut labels = primary.to_vec();
        labels.push(("state", state));
        labels
    };
    assert_eq!(gauge(&scrape, "switchyard_backend_connections", &with("idle")), 3.0);
    assert_eq!(gauge(&scrape, "switchyard_backend_connections", &with("active")), 5.0);
    assert_eq!(gauge(&scrape, "switchyard_backend_connections", &with("connecting")), 1.0);
    assert_eq!(gauge(&scrape, "switchyard_pool_utilisation_ratio", &primary), 0.25, "5 active of 20");
    assert_eq!(gauge(&scrape, "switchyard_pool_waiting_clients", &primary), 4.0);
    assert_eq!(counter(&scrape, "switchyard_pool_checkouts_total", &primary), 1300.0);
    assert_eq!(counter(&scrape, "switchyard_pool_checkout_timeouts_total", &primary), 7.0);
    assert_eq!(counter(&scrape, "switchyard_pool_wait_seconds_total", &primary), 3.0);
    let replica = [("engine", "mysql"), ("server", "my-replica"), ("role", "read")];
    assert_eq!(gauge(&scrape, "switchyard_pool_utilisation_ratio", &replica), 0.0);
    assert_eq!(
        gauge(&scrape, "switchyard_backend_connections", &[replica.as_slice(), &[("state", "idle")]].concat()),
        5.0
    );

    assert_eq!(gauge(&scrape, "switchyard_server_up", &[("server", "pg-primary"), ("role", "write")]), 1.0);
    assert_eq!(gauge(&scrape, "switchyard_server_up", &[("server", "pg-replica"), ("role", "read")]), 0.0);
    assert_eq!(gauge(&scrape, "switchyard_server_replication_lag_seconds", &[("server", "pg-replica")]), 1.5);
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.metric == "switchyard_server_replication_lag_seconds"
                && s.labels.get("server") == Some("pg-primary")),
        "no lag series for a server that reported none"
    );

    assert_eq!(gauge(&scrape, "switchyard_digests", &[]), 42.0);
    assert_eq!(counter(&scrape, "switchyard_digests_evicted_total", &[]), 5.0);
    assert_eq!(counter(&scrape, "switchyard_monitor_events_dropped_total", &[]), 9.0);
    assert_eq!(counter(&scrape, "switchyard_store_rows_dropped_total", &[]), 11.0);
}

#[test]
fn every_line_is_well_formed_exposition_text() {
    let metrics = Metrics::new().expect("metrics");
    metrics.observe_query(&observation("postgres", "read", "select", true, 0.01));
    let text = metrics.render(&full_sample());
    assert!(text.ends_with('\n'));
    let types = types(&text);
    let mut last_family = "";
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(comment.starts_with("HELP switchyard_") || comment.starts_with("TYPE switchyard_"), "{line}");
            continue;
        }
        let (series, number) = line.rsplit_once(' ').expect("sample line has a value");
        assert!(number.parse::<f64>().is_ok() || number == "+Inf", "{line}: value");
        let name = series.split('{').next().expect("split yields one part");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{line}: name");
        let family = types
            .keys()
            .find(|f| {
                name == f.as_str()
                    || name.strip_prefix(f.as_str()).is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
            })
            .unwrap_or_else(|| panic!("{line}: sample of an untyped family"));
        assert!(family.as_str() >= last_family, "families sorted and contiguous: {family} after {last_family}");
        last_family = family;
    }
}

#[test]
fn empty_parts_are_left_out() {
    let metrics = Metrics::new().expect("metrics");
    let text = metrics.render(&Sample::default());
    let types = types(&text);
    for absent in ["switchyard_backend_connections", "switchyard_server_up", "switchyard_client_connections"] {
        assert!(!types.contains_key(absent), "{absent} without series in:\n{text}");
    }
    for present in ["switchyard_build_info", "switchyard_digests", "switchyard_monitor_events_dropped_total"] {
        assert!(types.contains_key(present), "{present} missing in:\n{text}");
    }
}

#[test]
fn odd_label_values_are_escaped() {
    let metrics = Metrics::new().expect("metrics");
    let sample = Sample {
        servers: vec![ServerSample {
            engine: "postgres",
            server: "db \"one\"\\n".into(),
            role: Role::Read,
            up: true,
            replication_lag: None,
        }],
        ..Sample::default()
    };
    let scrape = parse(&metrics.render(&sample));
    let up = scrape.samples.iter().find(|s| s.metric == "switchyard_server_up").expect("server_up sample");
    assert!(matches!(up.value, Value::Gauge(v) if v == 1.0));
    assert!(metrics.render(&sample).contains(r#"server="db \"one\"\\n""#));
}
