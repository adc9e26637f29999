//! Which tables need ANALYZE or optimize, decided from catalog statistics. Pure: the numbers come in, the
//! reasons go out, so every rule is table-tested.
//!
//! Deliberately not here: reading the catalogs (`postgres`, `mysql`) and running anything.

use crate::config::Maintenance;

/// Fewer modified rows than this never make a table an ANALYZE candidate (PostgreSQL's own
/// `autovacuum_analyze_threshold` default), so tiny tables do not churn.
pub const MIN_MODIFIED: i64 = 50;

/// What the PostgreSQL catalog says about one table (`pg_stat_user_tables`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PgStats {
    /// `n_live_tup`.
    pub live: i64,
    /// `n_dead_tup`.
    pub dead: i64,
    /// `n_mod_since_analyze`.
    pub modified: i64,
    /// Whether `last_analyze` or `last_autoanalyze` is set.
    pub analyzed: bool,
}

/// What the MariaDB catalog says about one table (`information_schema.TABLES`, `mysql.table_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MyStats {
    /// `TABLE_ROWS`: the storage engine's current row estimate.
    pub rows: i64,
    /// `DATA_LENGTH + INDEX_LENGTH`.
    pub bytes: i64,
    /// `DATA_FREE`.
    pub free: i64,
    /// `UPDATE_TIME` is set: the table was written since the server started.
    pub written: bool,
    /// `mysql.table_stats.cardinality`: the row count when persistent statistics were last collected.
    pub stats_rows: Option<i64>,
}

/// The percentage `part` is of `whole` (0 when `whole` is not positive).
fn pct(part: i64, whole: i64) -> f64 {
    if whole <= 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// Why a PostgreSQL table needs ANALYZE, if it does.
pub fn pg_analyze(cfg: &Maintenance, s: &PgStats) -> Option<String> {
    if !s.analyzed && (s.live > 0 || s.modified > 0) {
        return Some("never analyzed".into());
    }
    let share = pct(s.modified, s.live.max(1));
    (s.modified >= MIN_MODIFIED && share >= cfg.analyze_threshold_pct)
        .then(|| format!("{} rows modified since the last analyze ({share:.0}% of {})", s.modified, s.live))
}

/// Why a PostgreSQL table needs `VACUUM (ANALYZE)`, if it does.
pub fn pg_optimize(cfg: &Maintenance, s: &PgStats) -> Option<String> {
    let share = pct(s.dead, s.live + s.dead);
    (s.dead > 0 && s.dead as u64 >= cfg.optimize_min_dead_rows && share >= cfg.optimize_threshold_pct)
        .then(|| format!("{} dead rows ({share:.0}% of all rows)", s.dead))
}

/// Why a MariaDB table needs `ANALYZE TABLE`, if it does.
pub fn my_analyze(cfg: &Maintenance, s: &MyStats) -> Option<String> {
    match s.stats_rows {
        None if s.rows > 0 || s.written => Some("no persistent statistics (never analyzed)".into()),
        None => None,
        Some(then) => {
            let drift = (s.rows - then).abs();
            let share = pct(drift, then.max(1));
            (drift >= MIN_MODIFIED && share >= cfg.analyze_threshold_pct)
                .then(|| format!("row estimate moved from {then} to {} since the last analyze ({share:.0}%)", s.rows))
        }
    }
}

/// Why a MariaDB table needs `OPTIMIZE TABLE`, if it does.
pub fn my_optimize(cfg: &Maintenance, s: &MyStats) -> Option<String> {
    let share = pct(s.free, s.bytes + s.free);
    (s.free > 0 && s.free as u64 >= cfg.optimize_min_free_bytes && share >= cfg.optimize_threshold_pct)
        .then(|| format!("{} free bytes ({share:.0}% of the table's space)", s.free))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Maintenance {
        Maintenance::default()
    }

    fn pg(live: i64, dead: i64, modified: i64, analyzed: bool) -> PgStats {
        PgStats { live, dead, modified, analyzed }
    }

    #[test]
    fn postgres_analyze() {
        let c = cfg();
        assert_eq!(pg_analyze(&c, &pg(10, 0, 0, false)).as_deref(), Some("never analyzed"));
        assert_eq!(pg_analyze(&c, &pg(0, 0, 0, false)), None, "empty and untouched");
        assert_eq!(pg_analyze(&c, &pg(1000, 0, 99, true)), None, "under 10%");
        assert!(pg_analyze(&c, &pg(1000, 0, 100, true)).is_some_and(|r| r.contains("100 rows modified")));
        assert_eq!(pg_analyze(&c, &pg(10, 0, 49, true)), None, "under the floor of 50 modified rows");
        assert!(pg_analyze(&c, &pg(10, 0, 50, true)).is_some());
    }

    #[test]
    fn postgres_optimize() {
        let c = cfg();
        assert_eq!(pg_optimize(&c, &pg(100_000, 999, 0, true)), None, "under the minimum");
        assert_eq!(pg_optimize(&c, &pg(100_000, 5_000, 0, true)), None, "under 20%");
        assert!(pg_optimize(&c, &pg(5_000, 45_000, 0, true)).is_some_and(|r| r.contains("90%")));
        let low = Maintenance { optimize_min_dead_rows: 0, ..cfg() };
        assert_eq!(pg_optimize(&low, &pg(0, 0, 0, true)), None, "no dead rows at all");
    }

    #[test]
    fn mysql_analyze() {
        let c = cfg();
        let s = |rows, written, stats_rows| MyStats { rows, written, stats_rows, ..MyStats::default() };
        assert!(my_analyze(&c, &s(0, true, None)).is_some(), "written since start, rows not yet estimated");
        assert_eq!(my_analyze(&c, &s(0, false, None)), None);
        assert!(my_analyze(&c, &s(10, false, None)).is_some());
        assert_eq!(my_analyze(&c, &s(1050, true, Some(1000))), None, "5% drift");
        assert!(my_analyze(&c, &s(1200, true, Some(1000))).is_some_and(|r| r.contains("20%")));
        assert!(my_analyze(&c, &s(800, true, Some(1000))).is_some(), "shrinking counts too");
    }

    #[test]
    fn mysql_optimize() {
        let c = Maintenance { optimize_min_free_bytes: 1 << 20, ..cfg() };
        let s = |bytes, free| MyStats { bytes, free, ..MyStats::default() };
        assert_eq!(my_optimize(&c, &s(100 << 20, 10 << 20)), None, "9% free");
        assert!(my_optimize(&c, &s(2 << 20, 16 << 20)).is_some_and(|r| r.contains("89%")));
        assert_eq!(my_optimize(&c, &s(1 << 10, 1 << 19)), None, "under the minimum free bytes");
    }
}
