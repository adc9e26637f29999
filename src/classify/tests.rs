//! Data-driven classification tests: one `pg(sql, expected)` / `my(sql, expected)` line per case.
//!
//! `expected` is a compact spec: the kind first, then `ro` or `rw`, then any of `lock`, `fx` (side effects),
//! `agg`, `multi`, `fallback` (sqlparser failed, keywords decided), `txn=begin|begin_ro|commit|rollback`,
//! `set=name`, `reset=name`, `reset_all`, `discard_all`, `use=db`,
//! `pin=listen|advisory|temp|hold|prepare|uservar|locktables|foundrows|untracked`, `hint=write|read|analytics`,
//! `tables=a,b` and `joins=n`. Flags not listed must be false / None; tables and joins are checked only
//! when listed.

use super::digest::{fingerprint, fingerprint_for, normalize, normalize_for};
use super::{Classification, Classifier, Dialect, Hint, Kind, PinReason, SessionEffect, TxnEffect, classify_uncached};

fn kind(name: &str) -> Kind {
    let all = [
        Kind::Select,
        Kind::Insert,
        Kind::Update,
        Kind::Delete,
        Kind::Ddl,
        Kind::Transaction,
        Kind::Session,
        Kind::Show,
        Kind::Call,
        Kind::Copy,
        Kind::Other,
    ];
    all.into_iter().find(|k| k.as_str() == name).unwrap_or_else(|| panic!("bad kind {name}"))
}

fn pin(name: &str) -> PinReason {
    match name {
        "listen" => PinReason::Listen,
        "advisory" => PinReason::AdvisoryLock,
        "temp" => PinReason::TempTable,
        "hold" => PinReason::HoldCursor,
        "prepare" => PinReason::SqlPrepare,
        "uservar" => PinReason::UserVariable,
        "locktables" => PinReason::LockTables,
        "foundrows" => PinReason::FoundRows,
        "untracked" => PinReason::UntrackedSet,
        _ => panic!("bad pin {name}"),
    }
}

/// Builds the expected classification from a spec; tables, joins and fingerprint are copied from `got` unless
/// the spec names them.
fn expected(spec: &str, got: &Classification) -> Classification {
    let mut items = spec.split_whitespace();
    let mut e = Classification {
        kind: kind(items.next().unwrap_or("")),
        read_only: false,
        locking: false,
        side_effects: false,
        txn: TxnEffect::None,
        session: SessionEffect::None,
        hint: None,
        tables: got.tables.clone(),
        joins: got.joins,
        aggregates: false,
        multi_statement: false,
        fingerprint: got.fingerprint,
        parsed: true,
    };
    for item in items {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        match key {
            "ro" => e.read_only = true,
            "rw" => e.read_only = false,
            "lock" => e.locking = true,
            "fx" => e.side_effects = true,
            "agg" => e.aggregates = true,
            "multi" => e.multi_statement = true,
            "fallback" => e.parsed = false,
            "txn" => {
                e.txn = match value {
                    "begin" => TxnEffect::Begin,
                    "begin_ro" => TxnEffect::BeginReadOnly,
                    "commit" => TxnEffect::Commit,
                    "rollback" => TxnEffect::Rollback,
                    _ => panic!("bad txn {value}"),
                }
            }
            "set" => e.session = SessionEffect::Set { name: value.into() },
            "reset" => e.session = SessionEffect::Reset { name: value.into() },
            "reset_all" => e.session = SessionEffect::ResetAll,
            "discard_all" => e.session = SessionEffect::DiscardAll,
            "use" => e.session = SessionEffect::UseDatabase { name: value.into() },
            "pin" => e.session = SessionEffect::Pin(pin(value)),
            "hint" => {
                e.hint = Some(match value {
                    "write" => Hint::Write,
                    "read" => Hint::Read,
                    "analytics" => Hint::Analytics,
                    _ => panic!("bad hint {value}"),
                })
            }
            "tables" => e.tables = value.split(',').filter(|t| !t.is_empty()).map(String::from).collect(),
            "joins" => e.joins = value.parse().unwrap_or(u16::MAX),
            _ => panic!("bad spec item {item}"),
        }
    }
    e
}

fn check(dialect: Dialect, sql: &str, spec: &str) {
    let got = classify_uncached(dialect, sql);
    assert_eq!(got, expected(spec, &got), "{dialect:?}: {sql}");
}

fn pg(sql: &str, spec: &str) {
    check(Dialect::Postgres, sql, spec);
}

fn my(sql: &str, spec: &str) {
    check(Dialect::MySql, sql, spec);
}

#[test]
fn reads() {
    pg("SELECT 1", "select ro");
    pg("select * from users where id = $1", "select ro tables=users joins=0");
    pg("SELECT a.x FROM a JOIN b ON a.id = b.id LEFT JOIN c ON c.id = b.id", "select ro tables=a,b,c joins=2");
    pg("SELECT * FROM \"Public\".\"Users\" u", "select ro tables=public.users");
    pg("SELECT * FROM t WHERE id IN (SELECT t_id FROM u)", "select ro tables=t,u");
    pg("SELECT EXISTS (SELECT 1 FROM s.x)", "select ro tables=s.x");
    pg("SELECT * FROM (SELECT * FROM inner_t) d", "select ro tables=inner_t");
    pg("WITH recent AS (SELECT * FROM orders) SELECT * FROM recent", "select ro tables=orders");
    pg("SELECT count(*) FROM t", "select ro agg tables=t");
    pg("SELECT k, sum(v) FROM t GROUP BY k", "select ro agg tables=t");
    pg("SELECT row_number() OVER (ORDER BY id) FROM t", "select ro agg tables=t");
    pg("VALUES (1), (2)", "select ro");
    pg("SELECT 1 UNION SELECT 2 FROM z", "select ro tables=z");
    pg("SELECT pg_sleep(1)", "select ro");
    pg("TABLE t", "select ro fallback tables=t");
    my("SELECT * FROM `Users` WHERE name = \"bob\"", "select ro tables=users");
    my("select * from t1, t2 where t1.a = t2.a", "select ro tables=t1,t2");
}

#[test]
fn writes() {
    pg("INSERT INTO t (a) VALUES (1)", "insert rw tables=t");
    pg("INSERT INTO t SELECT * FROM s", "insert rw tables=t,s");
    pg("UPDATE t SET a = 1 WHERE id = 2", "update rw tables=t");
    pg("UPDATE t SET a = s.a FROM s WHERE s.id = t.id", "update rw tables=t,s");
    pg("DELETE FROM t WHERE id = 1", "delete rw tables=t");
    pg("DELETE FROM t USING s WHERE s.id = t.id", "delete rw tables=t,s");
    pg("TRUNCATE a, b", "delete rw tables=a,b");
    pg("INSERT INTO t VALUES (1) RETURNING id", "insert rw tables=t");
    pg("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "update rw tables=t,s");
    my("REPLACE INTO t VALUES (1)", "insert rw tables=t");
    my("UPDATE a JOIN b ON a.id = b.id SET a.x = 1", "update rw tables=a,b joins=1");
    my("DELETE a FROM a JOIN b ON a.id = b.id", "delete rw");
    my("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2", "insert rw tables=t");
}

#[test]
fn data_modifying_with() {
    pg("WITH x AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM x", "insert rw tables=a,b");
    pg("WITH x AS (UPDATE a SET v = 1 RETURNING *) SELECT * FROM x", "update rw tables=a");
    pg("WITH x AS (SELECT 1) SELECT * FROM x", "select ro tables=");
    pg("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r", "select ro tables=");
}

#[test]
fn locking() {
    pg("SELECT * FROM t FOR UPDATE", "select rw lock tables=t");
    pg("SELECT * FROM t FOR SHARE SKIP LOCKED", "select rw lock tables=t");
    pg("SELECT * FROM t FOR NO KEY UPDATE", "select rw lock fallback tables=t");
    pg("SELECT * FROM t FOR KEY SHARE", "select rw lock fallback");
    my("SELECT * FROM t LOCK IN SHARE MODE", "select rw lock fallback tables=t");
    my("SELECT * FROM t FOR UPDATE WAIT 5", "select rw lock fallback tables=t");
    my("SELECT * FROM t FOR UPDATE", "select rw lock tables=t");
}

#[test]
fn select_into() {
    pg("SELECT * INTO newt FROM t", "select rw tables=t");
    my("SELECT * FROM t INTO OUTFILE '/tmp/x'", "select rw fallback tables=t");
    my("SELECT * FROM t INTO DUMPFILE '/tmp/x'", "select rw fallback");
    my("SELECT a INTO @v FROM t", "select rw fx pin=uservar tables=t");
}

#[test]
fn side_effect_functions() {
    pg("SELECT nextval('seq')", "select rw fx");
    pg("SELECT setval('seq', 10)", "select rw fx");
    pg("SELECT pg_catalog.nextval('s')", "select rw fx");
    pg("SELECT pg_advisory_lock(1)", "select rw fx pin=advisory");
    pg("SELECT pg_try_advisory_lock(1)", "select rw fx pin=advisory");
    pg("SELECT pg_advisory_xact_lock(1)", "select rw fx");
    pg("SELECT set_config('app.user', 'x', false)", "select rw fx pin=untracked");
    pg("SELECT set_config('app.user', 'x', true)", "select rw fx");
    pg("SELECT set_config('app.user', $1, $2)", "select rw fx pin=untracked");
    pg("SELECT txid_current()", "select rw fx");
    pg("SELECT pg_notify('ch', 'x')", "select rw fx");
    pg("SELECT lo_create(0)", "select rw fx");
    pg("SELECT nextval FROM t", "select ro");
    pg("SELECT 'nextval(1)'", "select ro");
    my("SELECT LAST_INSERT_ID()", "select rw fx");
    my("SELECT GET_LOCK('x', 10)", "select rw fx pin=advisory");
    my("SELECT RELEASE_LOCK('x')", "select rw fx");
    my("SELECT UUID_SHORT()", "select rw fx");
    my("SELECT NEXT VALUE FOR s", "select rw fx fallback");
    my("SELECT @x := 1", "select rw fx pin=uservar");
    my("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", "select rw fx pin=foundrows");
    my("SELECT FOUND_ROWS()", "select rw fx pin=foundrows");
    my("SELECT @x", "select ro");
}

#[test]
fn transactions() {
    pg("BEGIN", "transaction rw txn=begin");
    pg("BEGIN READ ONLY", "transaction ro txn=begin_ro");
    pg("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY", "transaction ro txn=begin_ro");
    pg("START TRANSACTION READ WRITE", "transaction rw txn=begin");
    pg("COMMIT", "transaction rw txn=commit");
    pg("END", "transaction rw txn=commit");
    pg("ROLLBACK", "transaction rw txn=rollback");
    pg("ABORT", "transaction rw txn=rollback");
    pg("ROLLBACK TO SAVEPOINT s1", "transaction rw");
    pg("SAVEPOINT s1", "transaction rw");
    pg("RELEASE SAVEPOINT s1", "transaction rw");
    my("START TRANSACTION", "transaction rw txn=begin");
    my("START TRANSACTION READ ONLY", "transaction ro txn=begin_ro");
    my("START TRANSACTION WITH CONSISTENT SNAPSHOT", "transaction rw txn=begin fallback");
    my("XA START 'x'", "transaction rw txn=begin fallback");
    my("XA END 'x'", "transaction rw fallback");
    my("XA COMMIT 'x'", "transaction rw txn=commit fallback");
    my("ROLLBACK WORK TO SAVEPOINT s", "transaction rw");
}

#[test]
fn session_statements() {
    pg("SET search_path TO a, b", "session rw set=search_path");
    pg("SET SESSION statement_timeout = 5000", "session rw set=statement_timeout");
    pg("SET LOCAL statement_timeout = 5000", "session rw");
    pg("SET TIME ZONE 'UTC'", "session rw set=timezone");
    pg("SET TimeZone = 'UTC'", "session rw set=timezone");
    pg("SET app.user_id = '7'", "session rw set=app.user_id");
    pg("SET ROLE admin", "session rw set=role");
    pg("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "session rw");
    pg("RESET search_path", "session rw reset=search_path");
    pg("RESET ALL", "session rw reset_all");
    pg("DISCARD ALL", "session rw discard_all");
    pg("DISCARD PLANS", "session rw");
    my("SET NAMES utf8mb4", "session rw set=names");
    my("SET CHARACTER SET utf8", "session rw set=character_set fallback");
    my("SET autocommit=0", "session rw set=autocommit");
    my("SET @@session.sql_mode = ''", "session rw set=sql_mode");
    my("SET @@wait_timeout = 10", "session rw set=wait_timeout");
    my("SET SESSION sql_mode = 'x'", "session rw set=sql_mode");
    my("SET GLOBAL max_connections = 10", "session rw");
    my("SET @u = 1", "session rw fx pin=uservar");
    my("SET x = 1, @y = 2", "session rw fx pin=uservar");
    my("SET sql_mode = 'a', time_zone = '+00:00'", "session rw set=sql_mode");
    my("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "session rw set=transaction");
    my("SET TRANSACTION READ ONLY", "session rw");
    my("SET PERSIST max_connections = 10", "session rw fallback");
    my("USE shop", "session rw use=shop");
    my("USE `Shop`", "session rw use=Shop");
}

#[test]
fn pins() {
    pg("LISTEN ch", "other rw pin=listen");
    pg("UNLISTEN ch", "other rw");
    pg("NOTIFY ch", "other rw");
    pg("CREATE TEMP TABLE tmp (a int)", "ddl rw pin=temp tables=tmp");
    pg("CREATE TEMPORARY TABLE tmp AS SELECT * FROM t", "ddl rw pin=temp tables=tmp,t");
    pg("DECLARE c CURSOR WITH HOLD FOR SELECT 1", "other rw pin=hold");
    pg("DECLARE c CURSOR FOR SELECT 1", "other rw");
    pg("PREPARE p AS SELECT 1", "other rw pin=prepare");
    my("PREPARE p FROM 'SELECT 1'", "other rw pin=prepare fallback");
    my("LOCK TABLES t WRITE", "other rw pin=locktables");
    my("UNLOCK TABLES", "other rw");
    my("CREATE TEMPORARY TABLE tmp (a int)", "ddl rw pin=temp tables=tmp");
}

#[test]
fn other_statements() {
    pg("CREATE TABLE t (a int)", "ddl rw tables=t");
    pg("ALTER TABLE t ADD COLUMN b int", "ddl rw");
    pg("DROP TABLE t", "ddl rw");
    pg("GRANT SELECT ON t TO u", "ddl rw");
    pg("VACUUM t", "other rw");
    pg("VACUUM (ANALYZE) t", "other rw fallback");
    pg("CHECKPOINT", "other rw fallback");
    pg("DO $$ BEGIN PERFORM 1; END $$", "call rw fallback");
    pg("CALL p(1)", "call rw");
    pg("COPY t TO STDOUT", "copy rw");
    pg("COPY t FROM STDIN", "copy rw");
    pg("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "other rw");
    pg("SHOW search_path", "show ro");
    pg("EXPLAIN SELECT * FROM t", "show ro tables=t");
    pg("EXPLAIN ANALYZE SELECT * FROM t", "select ro tables=t");
    pg("EXPLAIN ANALYZE DELETE FROM t", "delete rw tables=t");
    pg("EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1", "update rw tables=t");
    pg("FETCH 10 FROM c", "other rw");
    pg("frobnicate the database", "other rw fallback");
    pg("", "other rw fallback");
    my("OPTIMIZE TABLE t", "other rw fallback");
    my("CHECK TABLE t", "other rw fallback");
    my("REPAIR TABLE t", "other rw fallback");
    my("DO RELEASE_LOCK('x')", "call rw fx fallback");
    my("LOAD DATA INFILE 'f' INTO TABLE t", "copy rw fallback");
    my("CREATE USER u IDENTIFIED BY 'p'", "ddl rw fallback");
    my("CREATE USER u", "ddl rw");
    my("SHOW TABLES", "show ro");
    my("DESCRIBE t", "show ro");
    my("EXPLAIN FORMAT=JSON SELECT * FROM t", "show ro");
    my("RESET QUERY CACHE", "other rw fallback");
    my("CALL proc()", "call rw");
}

#[test]
fn hints_and_multi_statements() {
    pg("/* switchyard: route=write */ SELECT 1", "select ro hint=write");
    pg("/* Switchyard: Route = Read */ SELECT 1", "select ro hint=read");
    pg("/* switchyard:analytics */ SELECT 1", "select ro hint=analytics");
    pg("-- switchyard: route=analytics\nSELECT 1", "select ro hint=analytics");
    pg("SELECT 1 /* switchyard: route=write */", "select ro");
    pg("/* app=shop */ /* switchyard: route=read */ INSERT INTO t VALUES (1)", "insert rw hint=read tables=t");
    my("# switchyard: route=read\nSELECT 1", "select ro hint=read");
    pg("SELECT 1; SELECT 2", "select ro multi");
    pg("SELECT 1; DELETE FROM t", "select rw multi tables=t");
    pg("BEGIN; UPDATE t SET a = 1; COMMIT", "transaction rw multi txn=commit tables=t");
    pg("SELECT 1;", "select ro");
    pg("SELECT ';' ; SELECT $$;$$", "select ro multi");
    pg("SELECT 1; VACUUM (ANALYZE) t", "select rw multi fallback");
    my("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "ddl rw fallback");
    my("/*!40101 SET NAMES utf8 */", "session rw set=names");
}

#[test]
fn digests_share_shapes() {
    let same = [
        ("SELECT * FROM t WHERE id = 1", "select * from t where id = 2"),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (4,5)"),
        ("SELECT * FROM t WHERE id = $1", "SELECT  *  FROM t\n WHERE id=42 -- note"),
        ("/* a */ SELECT 'x'", "SELECT E'it''s'"),
        ("SELECT $$a$$", "SELECT $tag$b;c$tag$"),
        ("INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (3, 'c')"),
        ("SELECT * FROM t WHERE a = -1", "SELECT * FROM t WHERE a = 7.5e3"),
        ("SELECT * FROM \"t\"", "SELECT * FROM T"),
        ("SELECT 1;", "SELECT 1"),
        ("SELECT * FROM t WHERE id = ANY(ARRAY[1, 2])", "SELECT * FROM t WHERE id = ANY(ARRAY[3])"),
    ];
    for (a, b) in same {
        assert_eq!(fingerprint(a), fingerprint(b), "{a} | {b}: {} | {}", normalize(a), normalize(b));
    }
    let differ = [
        ("SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE name = 1"),
        ("SELECT * FROM t WHERE id = 1", "SELECT * FROM u WHERE id = 1"),
        ("SELECT a - 1 FROM t", "SELECT a FROM t"),
        ("SELECT * FROM \"T\"", "SELECT * FROM t"),
        ("SELECT count(*) FROM t", "SELECT count(*) FROM t GROUP BY a"),
    ];
    for (a, b) in differ {
        assert_ne!(fingerprint(a), fingerprint(b), "{a} | {b}: {}", normalize(a));
    }
    let mysql_same = [
        ("SELECT * FROM `t` WHERE a = \"x\" # c", "select * from t where a = 'y'"),
        ("SELECT * FROM t WHERE id IN (?, ?)", "SELECT * FROM t WHERE id IN (1)"),
        ("INSERT INTO t VALUES (?, ?), (?, ?)", "INSERT INTO t VALUES (1, 2)"),
        ("SELECT 1 -- c\n", "SELECT 2"),
    ];
    for (a, b) in mysql_same {
        let (fa, fb) = (fingerprint_for(Dialect::MySql, a), fingerprint_for(Dialect::MySql, b));
        assert_eq!(fa, fb, "{a} | {b}: {}", normalize_for(Dialect::MySql, a));
    }
}

#[test]
fn normalized_text() {
    let cases = [
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in (?)"),
        ("SELECT count(*) FROM t WHERE a=-1 AND b = 'x'", "select count(*) from t where a = ? and b = ?"),
        ("INSERT INTO t (a, b) VALUES (1, now()), (2, now())", "insert into t(a, b) values (?, now())"),
        ("SELECT a::text, s.t.c FROM s.t", "select a::text, s.t.c from s.t"),
        ("select 1; select 2;", "select ?; select ?"),
        ("SELECT x - 1 FROM t", "select x - ? from t"),
    ];
    for (sql, want) in cases {
        assert_eq!(normalize(sql), want, "{sql}");
    }
    assert_eq!(normalize_for(Dialect::MySql, "SELECT `A` FROM t WHERE b = ? # x"), "select a from t where b = ?");
    // The fingerprint is a fixed function of the text: pinned here so a change is noticed.
    assert_eq!(fingerprint("select ?"), super::digest::fnv1a(b"select ?"));
}

#[test]
fn classifier_caches_by_text() {
    let c = Classifier::new(Dialect::Postgres, 2);
    let a = c.classify("SELECT 1");
    let b = c.classify("SELECT 1");
    assert!(std::sync::Arc::ptr_eq(&a, &b), "second call must come from the cache");
    assert_eq!(c.cached(), 1);
    c.classify("SELECT 2");
    assert_eq!(c.cached(), 1, "same shape as SELECT 1: served by the shape cache, text not stored");
    c.classify("SELECT a FROM t");
    c.classify("SELECT b FROM t");
    assert_eq!(c.cached(), 2, "bounded by capacity");
    assert_eq!(c.classify("DELETE FROM t").kind, Kind::Delete);
    let uncached = Classifier::new(Dialect::MySql, 0);
    assert_eq!(uncached.classify("SELECT 1").kind, Kind::Select);
    assert_eq!(uncached.cached(), 0);
}

mod prop {
    use proptest::prelude::*;

    use super::super::digest::{fingerprint, fingerprint_for};
    use super::super::{Classifier, Dialect};

    proptest! {
        #[test]
        fn classify_never_panics(sql in "\\PC{0,200}") {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                let c = Classifier::new(dialect, 16).classify(&sql);
                prop_assert!(!c.read_only || c.txn == super::TxnEffect::None
                    || c.txn == super::TxnEffect::BeginReadOnly);
            }
        }

        #[test]
        fn sqlish_never_panics(sql in "(SELECT|WITH|SET|BEGIN|\\$\\$|'|\"|`|/\\*|--|#|\\(|\\)|;|,|@|\\?|\\$1|[a-z]{1,6}| |[0-9]{1,3}|E'|\\\\){0,40}") {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                let c = Classifier::new(dialect, 16).classify(&sql);
                prop_assert_eq!(c.fingerprint, fingerprint_for(dialect, &sql));
            }
        }

        #[test]
        fn fingerprint_is_deterministic(sql in "\\PC{0,200}") {
            prop_assert_eq!(fingerprint(&sql), fingerprint(&sql.clone()));
            prop_assert_eq!(fingerprint_for(Dialect::MySql, &sql), fingerprint_for(Dialect::MySql, &sql));
        }
    }
}

#[test]
fn huge_and_deep_statements_stay_safe() {
    // A left-deep `1 + 1 + ...` chain: parsed, walked to a bounded depth, and then not trusted as a read.
    let deep = format!("SELECT {} FROM t", vec!["1"; 1500].join(" + "));
    let c = classify_uncached(Dialect::Postgres, &deep);
    assert!(c.parsed && !c.read_only, "{c:?}");
    // A bulk INSERT beyond the parse limit is classified by keywords.
    let bulk = format!("INSERT INTO t VALUES {}", vec!["(1, 'a')"; 2000].join(", "));
    let c = classify_uncached(Dialect::MySql, &bulk);
    assert_eq!((c.kind, c.read_only, c.parsed), (Kind::Insert, false, false));
    assert_eq!(c.tables, ["t"]);
    assert_eq!(super::digest::normalize_for(Dialect::MySql, &bulk), "insert into t values (?)");
}

#[test]
fn statements_differing_only_in_literals_share_one_parse() {
    let c = Classifier::new(Dialect::Postgres, 100);
    let a = c.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
    let b = c.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 2");
    assert!(std::sync::Arc::ptr_eq(&a, &b), "second literal reuses the shape's classification");
    let hinted = c.classify("/* switchyard: route=write */ SELECT abalance FROM pgbench_accounts WHERE aid = 3");
    assert_eq!(hinted.hint, Some(Hint::Write), "a hint is part of the shape key");
    assert_eq!(a.hint, None);
    let local = c.classify("SELECT set_config('a.b', 'x', true)");
    let session = c.classify("SELECT set_config('a.b', 'x', false)");
    assert_ne!(local.session, session.session, "literal-sensitive text is never shared by shape");
}
