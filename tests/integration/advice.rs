//! Slow-query advice end to end against the harness servers: `monitor::explain::explain` runs plain EXPLAIN on a
//! side connection with bound parameters and reads the catalogs, and `monitor::advice::advise` turns the result
//! into suggestions naming the table and column. Explaining a write never executes it, and statements other
//! than DML are refused.
//!
//! Deliberately not here: the proxy (the monitor that calls these is tested with it).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use switchyard::monitor::advice::{Limits, Rule, Severity, Suggestion, advise};
use switchyard::monitor::explain::{Engine, ExplainError, Explained, Param, Target, explain};

use crate::common;

/// Bound on each EXPLAIN (connect included).
const TIMEOUT: Duration = Duration::from_secs(20);

/// Rows in the test tables: large by the default limit.
const ROWS: i64 = 200_000;

fn has(found: &[Suggestion], rule: Rule, table: &str, columns: &[&str]) -> bool {
    found.iter().any(|s| s.rule == rule && s.table.as_deref() == Some(table) && s.columns == columns)
}

/// Explains `sql` and advises on it, with no actual row count.
async fn advice(target: &Target, sql: &str, params: &[Param]) -> (Explained, Vec<Suggestion>) {
    let explained = match explain(target, sql, params, TIMEOUT).await {
        Ok(e) => e,
        Err(e) => panic!("explain {sql}: {e}"),
    };
    let found = advise(&Limits::default(), target.engine, Some(&explained), sql, target.engine.dialect(), None);
    (explained, found)
}

#[tokio::test]
async fn pg_plan_and_text_advice_without_executing() -> anyhow::Result<()> {
    let pg = common::pg().await;
    let admin = common::pg_client(pg.primary, "postgres", "postgres").await;
    admin
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS advice_pg, advice_pg_log;
             CREATE TABLE advice_pg (id int PRIMARY KEY, unindexed_col text, n int NOT NULL);
             INSERT INTO advice_pg SELECT g, 'v' || g, 0 FROM generate_series(1, {ROWS}) g;
             CREATE TABLE advice_pg_log (id serial PRIMARY KEY, note text);
             ANALYZE advice_pg"
        ))
        .await?;
    let target = Target {
        engine: Engine::Postgres,
        addr: pg.primary.to_string(),
        user: "postgres".into(),
        password: None,
        database: Some("postgres".into()),
    };

    let sql = "SELECT * FROM advice_pg WHERE unindexed_col = $1";
    let (explained, found) = advice(&target, sql, &[Param::Text("v77".into())]).await;
    assert!(has(&found, Rule::FullScan, "advice_pg", &["unindexed_col"]), "{found:#?}");
    assert!(has(&found, Rule::SelectStar, "advice_pg", &[]), "{found:#?}");
    // The parameter reached the planner (a custom plan for the prepared statement).
    assert!(explained.plan.to_string().contains("v77"), "{}", explained.plan);
    let stats = explained.tables.iter().find(|t| t.table == "advice_pg").expect("stats for advice_pg");
    assert_eq!(stats.rows_estimate, Some(ROWS as u64));
    assert!(stats.last_analyzed.is_some(), "{stats:?}");
    assert_eq!(stats.indexed_columns, ["id"]);

    let sql = "SELECT * FROM advice_pg";
    let (_, found) = advice(&target, sql, &[]).await;
    assert!(has(&found, Rule::SelectStar, "advice_pg", &[]), "{found:#?}");
    let no_limit = found.iter().find(|s| s.rule == Rule::NoLimit).expect("no-limit suggestion");
    assert_eq!((no_limit.table.as_deref(), no_limit.severity), (Some("advice_pg"), Severity::Warning));

    // Writes are planned, never executed: the rows and the serial's sequence are untouched.
    let (_, found) =
        advice(&target, "UPDATE advice_pg SET n = n + 1 WHERE unindexed_col = $1", &[Param::Text("v5".into())]).await;
    assert!(has(&found, Rule::FullScan, "advice_pg", &["unindexed_col"]), "{found:#?}");
    advice(&target, "DELETE FROM advice_pg", &[]).await;
    advice(&target, "INSERT INTO advice_pg_log (note) VALUES ($1)", &[Param::Text("x".into())]).await;
    let row = admin.query_one("SELECT count(*), coalesce(sum(n), 0)::int8 FROM advice_pg", &[]).await?;
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (ROWS, 0));
    let used: bool = admin.query_one("SELECT is_called FROM advice_pg_log_id_seq", &[]).await?.get(0);
    assert!(!used, "explaining the INSERT drew from the sequence: it was executed");

    for sql in [
        "DROP TABLE advice_pg",
        "TRUNCATE advice_pg",
        "ANALYZE advice_pg",
        "EXPLAIN ANALYZE DELETE FROM advice_pg",
        "SELECT 1; DELETE FROM advice_pg",
        "SELECT nextval('advice_pg_log_id_seq')",
    ] {
        let err = explain(&target, sql, &[], TIMEOUT).await.expect_err(sql);
        assert!(err.is_refused(), "{sql}: {err}");
    }
    let count: i64 = admin.query_one("SELECT count(*) FROM advice_pg", &[]).await?.get(0);
    assert_eq!(count, ROWS);
    let used: bool = admin.query_one("SELECT is_called FROM advice_pg_log_id_seq", &[]).await?.get(0);
    assert!(!used);

    // A missing parameter is an error, not a plan for something else.
    let err = explain(&target, "SELECT * FROM advice_pg WHERE id = $2", &[Param::Int(1)], TIMEOUT).await;
    assert!(matches!(err, Err(ExplainError::Params(_))), "{err:?}");
    // The timeout bounds the whole call, connecting included.
    let err = explain(&target, "SELECT * FROM advice_pg", &[], Duration::from_nanos(1)).await;
    assert!(matches!(err, Err(ExplainError::Timeout(_))), "{err:?}");
    admin.batch_execute("DROP TABLE advice_pg, advice_pg_log").await?;
    Ok(())
}

#[tokio::test]
async fn my_plan_and_text_advice_without_executing() -> anyhow::Result<()> {
    let my = common::my().await;
    let mut admin = common::my_conn(my.primary, "root", None).await;
    admin.query_drop("DROP DATABASE IF EXISTS advice_it").await?;
    admin.query_drop("CREATE DATABASE advice_it").await?;
    admin.query_drop("USE advice_it").await?;
    admin.query_drop("CREATE TABLE t (id int PRIMARY KEY, unindexed_col varchar(50), n int NOT NULL)").await?;
    admin.query_drop(format!("INSERT INTO t SELECT seq, concat('v', seq), 0 FROM seq_1_to_{ROWS}")).await?;
    admin.query_drop("CREATE TABLE log (id int AUTO_INCREMENT PRIMARY KEY, note varchar(20))").await?;
    // InnoDB recomputes statistics in the background after a bulk insert; ANALYZE makes TABLE_ROWS current now.
    admin.query_drop("ANALYZE TABLE t").await?;
    let target = Target {
        engine: Engine::Mysql,
        addr: my.primary.to_string(),
        user: "root".into(),
        password: None,
        database: Some("advice_it".into()),
    };

    let sql = "SELECT * FROM t WHERE unindexed_col = ?";
    let (explained, found) = advice(&target, sql, &[Param::Text("v77".into())]).await;
    assert!(has(&found, Rule::FullScan, "t", &["unindexed_col"]), "{found:#?}");
    assert!(has(&found, Rule::SelectStar, "t", &[]), "{found:#?}");
    assert!(explained.plan.to_string().contains("v77"), "{}", explained.plan);
    let stats = explained.tables.iter().find(|s| s.table == "t").expect("stats for t");
    let rows = stats.rows_estimate.expect("TABLE_ROWS");
    assert!(rows >= ROWS as u64 / 2, "TABLE_ROWS {rows}");
    assert_eq!(stats.indexed_columns, ["id"]);

    // Aliases in the plan resolve to the table.
    let sql = "SELECT a.id FROM t a JOIN t b ON b.unindexed_col = a.unindexed_col WHERE a.id < ?";
    let (_, found) = advice(&target, sql, &[Param::Int(10)]).await;
    assert!(has(&found, Rule::UnindexedJoin, "t", &["unindexed_col"]), "{found:#?}");

    let sql = "SELECT * FROM t";
    let (_, found) = advice(&target, sql, &[]).await;
    assert!(has(&found, Rule::SelectStar, "t", &[]), "{found:#?}");
    let no_limit = found.iter().find(|s| s.rule == Rule::NoLimit).expect("no-limit suggestion");
    assert_eq!((no_limit.table.as_deref(), no_limit.severity), (Some("t"), Severity::Warning));

    // Writes are planned, never executed: rows unchanged, and the AUTO_INCREMENT counter (which a rolled-back
    // insert would still advance) unused.
    let (_, found) =
        advice(&target, "UPDATE t SET n = n + 1 WHERE unindexed_col = ?", &[Param::Text("v5".into())]).await;
    assert!(has(&found, Rule::FullScan, "t", &["unindexed_col"]), "{found:#?}");
    advice(&target, "DELETE FROM t", &[]).await;
    advice(&target, "INSERT INTO log (note) VALUES (?)", &[Param::Text("x".into())]).await;
    let row: Option<(i64, i64)> =
        admin.query_first("SELECT count(*), CAST(coalesce(sum(n), 0) AS SIGNED) FROM t").await?;
    assert_eq!(row, Some((ROWS, 0)));
    admin.query_drop("INSERT INTO log (note) VALUES ('real')").await?;
    let id: Option<i64> = admin.query_first("SELECT LAST_INSERT_ID()").await?;
    assert_eq!(id, Some(1), "explaining the INSERT advanced AUTO_INCREMENT: it was executed");

    for sql in ["DROP TABLE t", "TRUNCATE t", "ANALYZE TABLE t", "OPTIMIZE TABLE t", "SELECT 1; DELETE FROM t"] {
        let err = explain(&target, sql, &[], TIMEOUT).await.expect_err(sql);
        assert!(err.is_refused(), "{sql}: {err}");
    }
    let count: Option<i64> = admin.query_first("SELECT count(*) FROM t").await?;
    assert_eq!(count, Some(ROWS));

    // Placeholders and parameters must match.
    let err = explain(&target, "SELECT * FROM t WHERE id = ? AND n = ?", &[Param::Int(1)], TIMEOUT).await;
    assert!(matches!(err, Err(ExplainError::Params(_))), "{err:?}");
    admin.query_drop("DROP DATABASE advice_it").await?;
    Ok(())
}
