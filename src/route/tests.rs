//! Data-driven routing tests: one `check(sql, session, rules, expected)` line per case, classifying real SQL
//! (PostgreSQL dialect unless the text says `my:`).

use super::{Rules, SessionView, Target, route};
use crate::classify::{Dialect, classify_uncached};

/// Session shorthands: `-` nothing, `tx` in a transaction, `rw` recent write, `d:read|write|analytics` default.
fn session(spec: &str) -> SessionView {
    let mut s = SessionView::default();
    for item in spec.split_whitespace() {
        match item {
            "-" => {}
            "tx" => s.in_transaction = true,
            "rw" => s.recent_write = true,
            "d:read" => s.default_route = Some(Target::Read),
            "d:write" => s.default_route = Some(Target::Write),
            "d:analytics" => s.default_route = Some(Target::Analytics),
            _ => panic!("bad session item {item}"),
        }
    }
    s
}

/// Rule shorthands: `split` (read_write_split on), `nosplit`, `events` (analytics table `events`),
/// `agg` (analytics only for aggregates), `j2` (analytics at 2 joins).
fn rules(spec: &str) -> Rules {
    let mut r = Rules { read_write_split: true, ..Rules::default() };
    for item in spec.split_whitespace() {
        match item {
            "split" => r.read_write_split = true,
            "nosplit" => r.read_write_split = false,
            "events" => r.analytics_tables.push("events".into()),
            "agg" => r.analytics_aggregates = true,
            "j2" => r.analytics_min_joins = 2,
            _ => panic!("bad rules item {item}"),
        }
    }
    r
}

fn check(sql: &str, session_spec: &str, rules_spec: &str, want: Target) {
    let (dialect, text) = match sql.strip_prefix("my:") {
        Some(rest) => (Dialect::MySql, rest),
        None => (Dialect::Postgres, sql),
    };
    let c = classify_uncached(dialect, text);
    let got = route(&c, &session(session_spec), &rules(rules_spec));
    assert_eq!(got, want, "{sql} [{session_spec}] [{rules_spec}]: {c:?}");
}

use Target::{Analytics, Read, Write};

#[test]
fn routing_table() {
    check("SELECT * FROM t", "-", "split", Read);
    check("INSERT INTO t VALUES (1)", "-", "split", Write);
    check("UPDATE t SET a = 1", "-", "split", Write);
    check("SELECT * FROM t FOR UPDATE", "-", "split", Write);
    check("SELECT nextval('s')", "-", "split", Write);
    check("my:SELECT * FROM t LOCK IN SHARE MODE", "-", "split", Write);
    check("CREATE TABLE x (a int)", "-", "split", Write);
    check("SET search_path TO a", "-", "split", Write);
    check("BEGIN", "-", "split", Write);
    check("BEGIN READ ONLY", "-", "split", Read);
    check("my:START TRANSACTION READ ONLY", "-", "split", Read);
    check("BEGIN READ ONLY", "rw", "split", Write);
    check("BEGIN READ ONLY", "d:analytics", "split", Analytics);
    check("SELECT * FROM t", "tx", "split", Write);
    check("SELECT * FROM t", "rw", "split", Write);
    check("SELECT * FROM t", "-", "nosplit", Write);
    check("SHOW search_path", "-", "split", Read);
    check("EXPLAIN SELECT * FROM t", "-", "split", Read);
    check("EXPLAIN ANALYZE DELETE FROM t", "-", "split", Write);
    check("frobnicate", "-", "split", Write);
    check("/* switchyard: route=write */ SELECT 1", "-", "split", Write);
    check("/* switchyard: route=read */ INSERT INTO t VALUES (1)", "-", "split", Write);
    check("/* switchyard: route=analytics */ DELETE FROM t", "-", "split", Write);
    check("/* switchyard: route=read */ SELECT 1", "rw", "split", Read);
    check("/* switchyard:analytics */ SELECT 1", "-", "split", Analytics);
    check("/* switchyard: route=read */ SELECT 1", "tx", "split", Write);
    check("/* switchyard: route=read */ SELECT 1", "-", "nosplit", Write);
    check("SELECT * FROM events", "-", "split events", Analytics);
    check("SELECT * FROM public.events", "-", "split events", Analytics);
    check("SELECT * FROM events WHERE id = 1", "-", "split events agg", Read);
    check("SELECT kind, count(*) FROM events GROUP BY kind", "-", "split events agg", Analytics);
    check("SELECT count(*) FROM other", "-", "split events agg", Read);
    check("SELECT * FROM a JOIN b ON a.i = b.i JOIN c ON c.i = a.i", "-", "split j2", Analytics);
    check("SELECT * FROM a JOIN b ON a.i = b.i", "-", "split j2", Read);
    check("INSERT INTO events VALUES (1)", "-", "split events", Write);
    check("SELECT * FROM t", "d:write", "split", Write);
    check("SELECT * FROM t", "d:analytics", "split", Analytics);
    check("DELETE FROM t", "d:read", "split", Write);
    check("SELECT * FROM events", "d:read", "split events", Analytics);
    check("my:SELECT GET_LOCK('x', 1)", "-", "split", Write);
    check("my:SELECT FOUND_ROWS()", "-", "split", Write);
    check("my:SET autocommit = 0", "-", "split", Write);
}
