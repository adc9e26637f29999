//! Naming, planning and the `SHOW TABLES STATUS` row. The statements themselves run against real servers in
//! `tests/integration/maintain.rs`.

use super::*;

fn table(engine: Engine, name: &str, analyze: bool, optimize: bool) -> TableStatus {
    let (database, schema) = match engine {
        Engine::Postgres => ("app", "public"),
        Engine::Mysql => ("shop", "shop"),
    };
    TableStatus {
        engine,
        server: "127.0.0.1:1".into(),
        database: database.into(),
        schema: schema.into(),
        table: name.into(),
        live_rows: 10,
        dead_rows: None,
        modified_since_analyze: None,
        size_bytes: 8192,
        free_bytes: None,
        last_analyzed: None,
        analyze: analyze.then(|| "never analyzed".into()),
        optimize: optimize.then(|| "dead rows".into()),
    }
}

#[test]
fn names_match_at_any_qualification() {
    let pg = table(Engine::Postgres, "Orders", false, false);
    assert_eq!(pg.name(), "app.public.Orders");
    for name in ["orders", "public.orders", "app.public.Orders", "\"public\".\"Orders\""] {
        assert!(pg.matches(name), "{name}");
    }
    for name in ["", "order", "other.orders", "x.app.public.orders"] {
        assert!(!pg.matches(name), "{name}");
    }
    let my = table(Engine::Mysql, "items", false, false);
    assert_eq!(my.name(), "shop.items");
    assert!(my.matches("`shop`.`items`") && my.matches("items") && !my.matches("app.shop.items"));
}

#[test]
fn plan_orders_optimize_before_analyze_and_skips_what_vacuum_covers() {
    let pg_both = table(Engine::Postgres, "a", true, true);
    let my_both = table(Engine::Mysql, "b", false, true);
    let pg_analyze = table(Engine::Postgres, "c", true, false);
    let fine = table(Engine::Postgres, "d", false, false);
    let tables = [pg_both, my_both, pg_analyze, fine];
    let names = |plan: Vec<(TableStatus, Action)>| -> Vec<String> {
        plan.iter().map(|(t, a)| format!("{} {}", a.as_str(), t.table)).collect()
    };
    let all = names(Maintainer::plan(&tables, &[Action::Analyze, Action::Optimize]));
    assert_eq!(all, ["optimize a", "optimize b", "analyze b", "analyze c"], "MariaDB rebuild is re-analyzed");
    assert_eq!(names(Maintainer::plan(&tables, &[Action::Analyze])), ["analyze a", "analyze c"]);
    assert_eq!(names(Maintainer::plan(&tables, &[Action::Optimize])), ["optimize a", "optimize b", "analyze b"]);
}

#[test]
fn status_row_has_one_value_per_column() {
    let t = table(Engine::Postgres, "a", true, true);
    let row = t.to_row();
    assert_eq!(row.len(), TableStatus::COLUMNS.len());
    let col = |name: &str| row[TableStatus::COLUMNS.iter().position(|c| *c == name).expect("column")].clone();
    assert_eq!(col("action").as_deref(), Some("optimize"), "optimize wins");
    assert_eq!(col("reason").as_deref(), Some("dead rows"));
    assert_eq!(col("table").as_deref(), Some("app.public.a"));
    assert_eq!(col("dead_rows"), None);
    assert_eq!(table(Engine::Mysql, "b", false, false).recommended(), None);
}

#[tokio::test]
async fn nothing_configured_is_an_error_not_an_empty_list() {
    let m = Maintainer::new(Arc::new(Config::default()), None);
    assert!(m.engines().is_empty());
    assert!(matches!(m.candidates().await, Err(MaintainError::NotConfigured(_))));
    assert!(matches!(m.analyze(Some(Engine::Mysql), "t").await, Err(MaintainError::NotConfigured("mysql"))));
}

#[tokio::test]
async fn an_unreachable_backend_is_reported() {
    // A port nobody listens on: connecting is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let text = format!("[postgres]\nprimary = {{ name = \"p\", addr = \"127.0.0.1:{port}\" }}\n");
    let config = Config::parse(&text, &Default::default()).expect("valid");
    let m = Maintainer::new(Arc::new(config), None);
    let survey = m.survey().await;
    assert!(survey.tables.is_empty());
    assert_eq!(survey.errors.len(), 1, "{survey:?}");
    assert_eq!(survey.errors[0].engine, Engine::Postgres);
    assert!(matches!(m.run(&[Action::Analyze]).await, Err(MaintainError::Unreachable(_))));
}

#[test]
fn outcome_row_has_one_value_per_column() {
    let row = MaintenanceRow {
        started_at: Utc::now(),
        finished_at: Utc::now(),
        engine: "mysql".into(),
        server: "127.0.0.1:3306".into(),
        table_name: "shop.items".into(),
        action: "optimize".into(),
        outcome: "skipped".into(),
        duration_ms: 5000.04,
        detail: Some("lock not available in time".into()),
    };
    let cells = outcome_row(&row);
    assert_eq!(cells.len(), OUTCOME_COLUMNS.len());
    assert_eq!(cells[4].as_deref(), Some("skipped"));
    assert_eq!(cells[5].as_deref(), Some("5000.0"));
    assert_eq!(cells[6].as_deref(), Some("lock not available in time"));
}
