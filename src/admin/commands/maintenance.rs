//! `SHOW TABLES STATUS`, `ANALYZE TABLE <t>` and `OPTIMIZE TABLE <t>`: handed to the context's
//! [`super::super::Maintenance`].

use super::super::result::ms;
use super::super::{AdminError, Context, ResultSet};
use super::time;
use crate::store::MaintenanceRow;

/// The maintenance candidates.
pub async fn status(ctx: &Context) -> Result<ResultSet, AdminError> {
    ctx.maintenance.tables_status().await.map_err(AdminError::Failed)
}

/// ANALYZE of one table.
pub async fn analyze(ctx: &Context, table: &str) -> Result<ResultSet, AdminError> {
    ctx.maintenance.analyze(table).await.map(runs).map_err(AdminError::Failed)
}

/// OPTIMIZE (VACUUM (ANALYZE) on PostgreSQL) of one table.
pub async fn optimize(ctx: &Context, table: &str) -> Result<ResultSet, AdminError> {
    ctx.maintenance.optimize(table).await.map(runs).map_err(AdminError::Failed)
}

fn runs(rows: Vec<MaintenanceRow>) -> ResultSet {
    let mut r =
        ResultSet::new(&["engine", "server", "table", "action", "outcome", "duration_ms", "started_at", "detail"]);
    for row in rows {
        r.push(vec![
            Some(row.engine),
            Some(row.server),
            Some(row.table_name),
            Some(row.action),
            Some(row.outcome),
            Some(ms(row.duration_ms)),
            Some(time(row.started_at)),
            row.detail,
        ]);
    }
    r
}
