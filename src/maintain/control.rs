//! Table maintenance behind the control port: `SHOW TABLES STATUS`, `ANALYZE TABLE <t>` and `OPTIMIZE TABLE <t>`
//! answered by the [`Maintainer`].

use futures::future::BoxFuture;

use super::{Action, Maintainer, TableStatus};
use crate::admin::{Maintenance, ResultSet};
use crate::store::MaintenanceRow;

impl Maintenance for Maintainer {
    fn tables_status(&self) -> BoxFuture<'_, Result<ResultSet, String>> {
        Box::pin(async move {
            let survey = self.survey().await;
            if survey.tables.is_empty()
                && let Some(e) = survey.errors.first()
            {
                return Err(format!("{} ({}): {}", super::engine_name(e.engine), e.server, e.message));
            }
            let mut set = ResultSet::new(TableStatus::COLUMNS);
            for t in &survey.tables {
                set.push(t.to_row());
            }
            Ok(set)
        })
    }

    fn analyze<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Vec<MaintenanceRow>, String>> {
        Box::pin(async move { self.one_for_admin(table, Action::Analyze).await })
    }

    fn optimize<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Vec<MaintenanceRow>, String>> {
        Box::pin(async move { self.one_for_admin(table, Action::Optimize).await })
    }
}

impl Maintainer {
    async fn one_for_admin(&self, table: &str, action: Action) -> Result<Vec<MaintenanceRow>, String> {
        let row = match action {
            Action::Analyze => self.analyze(None, table).await,
            Action::Optimize => self.optimize(None, table).await,
        };
        row.map(|r| vec![r]).map_err(|e| e.to_string())
    }
}
