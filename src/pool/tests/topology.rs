//! Candidate lists per target under failures, bans, lag and read-only primaries; balancing; ban expiry.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Balance, Cluster, Health, Role, Routing, ServerConfig};
use crate::pool::{ProbeResult, Server, Topology};

fn server(name: &str, weight: u32) -> ServerConfig {
    ServerConfig { name: name.into(), addr: format!("{name}:5432"), weight }
}

/// Primary `p`, replicas as given, analytics as given.
fn topology(replicas: &[(&str, u32)], analytics: &[&str]) -> Topology {
    Topology::new(&Cluster {
        primary: Some(server("p", 1)),
        replicas: replicas.iter().map(|(n, w)| server(n, *w)).collect(),
        analytics: analytics.iter().map(|n| server(n, 1)).collect(),
        health_user: None,
    })
}

fn names(list: &[Arc<Server>]) -> Vec<&str> {
    list.iter().map(|s| s.name.as_str()).collect()
}

fn routing(balance: Balance) -> Routing {
    Routing { balance, ..Routing::default() }
}

fn candidates(t: &Topology, target: Role) -> Vec<String> {
    names(&t.candidates(target, &routing(Balance::LeastOutstanding))).into_iter().map(String::from).collect()
}

fn get<'a>(t: &'a Topology, name: &str) -> &'a Arc<Server> {
    t.server(name).expect("configured")
}

fn ok(read_only: bool, lag_secs: Option<u64>) -> Result<ProbeResult, String> {
    Ok(ProbeResult { read_only, lag: lag_secs.map(Duration::from_secs) })
}

#[test]
fn write_goes_to_the_primary_only() {
    let t = topology(&[("r1", 1), ("r2", 1)], &["a1"]);
    assert_eq!(candidates(&t, Role::Write), ["p"]);
    assert_eq!(t.primary().map(|p| p.name.as_str()), Some("p"));
}

#[test]
fn write_never_goes_to_a_read_only_primary() {
    let t = topology(&[("r1", 1)], &[]);
    get(&t, "p").record_probe(ok(true, None), &Health::default());
    assert!(candidates(&t, Role::Write).is_empty());
    assert_eq!(get(&t, "p").observed_read_only(), Some(true));
    assert_eq!(candidates(&t, Role::Read), ["r1", "p"], "still fine for reads");
    get(&t, "p").record_probe(ok(false, None), &Health::default());
    assert_eq!(candidates(&t, Role::Write), ["p"]);
}

#[tokio::test(start_paused = true)]
async fn a_banned_primary_is_still_tried_as_the_last_resort_unless_banned_by_hand() {
    let t = topology(&[("r1", 1)], &[]);
    get(&t, "p").mark_failed("connection refused", Duration::from_secs(5));
    assert_eq!(candidates(&t, Role::Write), ["p"], "nothing else can take writes: try it rather than refuse");
    assert_eq!(candidates(&t, Role::Read), ["r1"]);
    get(&t, "r1").mark_failed("connection refused", Duration::from_secs(5));
    assert_eq!(candidates(&t, Role::Read), ["p"]);
    get(&t, "p").ban();
    assert!(candidates(&t, Role::Write).is_empty(), "a manual ban is obeyed");
}

#[test]
fn a_server_is_marked_down_only_after_down_after_failed_probes() {
    let t = topology(&[("r1", 1)], &[]);
    let health = Health { down_after: 3, ..Health::default() };
    let r1 = get(&t, "r1");
    r1.record_probe(Err("timed out".into()), &health);
    r1.record_probe(Err("timed out".into()), &health);
    assert!(r1.usable() && r1.snapshot().up, "two slow probes are not an outage");
    r1.record_probe(ok(true, Some(0)), &health);
    r1.record_probe(Err("timed out".into()), &health);
    r1.record_probe(Err("timed out".into()), &health);
    assert!(r1.usable(), "a success resets the count");
    r1.record_probe(Err("timed out".into()), &health);
    assert!(!r1.usable() && !r1.snapshot().up, "the third failure in a row marks it down");
}

#[test]
fn read_uses_replicas_then_the_primary_as_last_resort() {
    let t = topology(&[("r1", 1), ("r2", 1)], &[]);
    let list = candidates(&t, Role::Read);
    assert_eq!(list.len(), 3);
    assert_eq!(list[2], "p");
    assert!(list[..2].contains(&"r1".to_string()) && list[..2].contains(&"r2".to_string()));
}

#[tokio::test(start_paused = true)]
async fn read_skips_down_banned_and_lagging_replicas() {
    let t = topology(&[("r1", 1), ("r2", 1), ("r3", 1)], &[]);
    let health = Health { max_replication_lag: Duration::from_secs(10), ..Health::default() };
    get(&t, "r1").mark_failed("connection refused", Duration::from_secs(5));
    get(&t, "r2").record_probe(ok(true, Some(30)), &health);
    get(&t, "r3").ban();
    assert_eq!(candidates(&t, Role::Read), ["p"], "the primary is the fallback");
    get(&t, "r2").record_probe(ok(true, Some(2)), &health);
    assert_eq!(candidates(&t, Role::Read), ["r2", "p"]);
    get(&t, "r3").unban();
    assert_eq!(candidates(&t, Role::Read).len(), 3);
    let status = get(&t, "r1").snapshot();
    assert!(!status.up && status.banned && !status.usable);
    assert_eq!(status.last_error.as_deref(), Some("connection refused"));
}

#[test]
fn primary_reads_balances_the_primary_with_the_replicas() {
    let t = topology(&[("r1", 1), ("r2", 1)], &[]);
    let _busy = [get(&t, "r1").begin_use(), get(&t, "r2").begin_use()];
    let r = Routing { primary_reads: true, ..routing(Balance::LeastOutstanding) };
    assert_eq!(names(&t.candidates(Role::Read, &r))[0], "p");
    let r = Routing { primary_reads: false, ..r };
    assert_eq!(names(&t.candidates(Role::Read, &r))[2], "p");
}

#[test]
fn without_read_write_split_reads_go_to_the_primary() {
    let t = topology(&[("r1", 1)], &["a1"]);
    let r = Routing { read_write_split: false, ..Routing::default() };
    assert_eq!(names(&t.candidates(Role::Read, &r)), ["p"]);
    assert_eq!(names(&t.candidates(Role::Analytics, &r)), ["a1", "p"]);
}

#[test]
fn analytics_prefers_analytics_servers_then_the_read_list() {
    let t = topology(&[("r1", 1)], &["a1"]);
    assert_eq!(candidates(&t, Role::Analytics), ["a1", "r1", "p"]);
    get(&t, "a1").ban();
    assert_eq!(candidates(&t, Role::Analytics), ["r1", "p"]);
    let no_analytics = topology(&[("r1", 1)], &[]);
    assert_eq!(candidates(&no_analytics, Role::Analytics), ["r1", "p"]);
}

#[test]
fn least_outstanding_orders_by_queries_in_flight() {
    let t = topology(&[("r1", 1), ("r2", 1), ("r3", 1)], &[]);
    let r1 = [get(&t, "r1").begin_use(), get(&t, "r1").begin_use()];
    let r2 = get(&t, "r2").begin_use();
    assert_eq!(get(&t, "r1").outstanding(), 2);
    for _ in 0..3 {
        assert_eq!(candidates(&t, Role::Read), ["r3", "r2", "r1", "p"]);
    }
    drop(r1);
    drop(r2);
    assert_eq!(get(&t, "r1").outstanding(), 0);
    let _r3 = get(&t, "r3").begin_use();
    assert_eq!(candidates(&t, Role::Read)[2..], ["r3", "p"]);
}

#[test]
fn round_robin_rotates_the_first_choice() {
    let t = topology(&[("r1", 1), ("r2", 1), ("r3", 1)], &[]);
    let firsts: std::collections::BTreeSet<String> =
        (0..3).map(|_| names(&t.candidates(Role::Read, &routing(Balance::RoundRobin)))[0].to_string()).collect();
    assert_eq!(firsts.len(), 3);
}

#[test]
fn weighted_random_picks_roughly_by_weight() {
    let t = topology(&[("light", 1), ("heavy", 3), ("off", 0)], &[]);
    let r = routing(Balance::WeightedRandom);
    let mut heavy = 0;
    for _ in 0..4000 {
        let list = t.candidates(Role::Read, &r);
        assert_eq!(list.len(), 4);
        assert_eq!(list[2].name, "off", "weight 0 comes after every weighted server");
        if list[0].name == "heavy" {
            heavy += 1;
        }
    }
    assert!((2800..=3200).contains(&heavy), "heavy first {heavy} of 4000 times, expected ~3000");
}

#[tokio::test(start_paused = true)]
async fn ban_expires_and_a_failing_server_is_banned_again() {
    let t = topology(&[("r1", 1)], &[]);
    let r1 = get(&t, "r1");
    r1.mark_failed("timeout", Duration::from_secs(5));
    assert!(!r1.usable());
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(!r1.usable());
    assert!(r1.snapshot().banned_for.is_some_and(|d| d <= Duration::from_secs(1)));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(r1.usable(), "retried after ban_time");
    assert!(!r1.snapshot().up, "still down until something succeeds");
    r1.mark_failed("timeout", Duration::from_secs(5));
    assert!(!r1.usable());
    r1.record_probe(ok(true, Some(0)), &Health::default());
    assert!(r1.usable() && r1.snapshot().up);
}

#[tokio::test(start_paused = true)]
async fn probe_failure_bans_for_ban_time_and_manual_ban_does_not_expire() {
    let t = topology(&[("r1", 1), ("r2", 1)], &[]);
    let health = Health { ban_time: Duration::from_secs(3), down_after: 1, ..Health::default() };
    get(&t, "r1").record_probe(Err("no route to host".into()), &health);
    get(&t, "r2").ban();
    assert_eq!(candidates(&t, Role::Read), ["p"]);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(candidates(&t, Role::Read), ["r1", "p"]);
    let r2 = get(&t, "r2").snapshot();
    assert!(r2.manual_ban && r2.up && !r2.usable);
}
