//! Rules over a MariaDB `EXPLAIN FORMAT=JSON` plan (`query_block` → `table` / `nested_loop` / `filesort` /
//! `temporary_table` / `block-nl-join` ...): full scans with an attached condition on a large table, filesort
//! and temporary tables over large inputs, block-nested-loop joins, and the statistics rules. MySQL 8's spelling
//! of the same facts (`using_filesort`, `using_temporary_table`, `using_join_buffer`) is read too.
//!
//! The plan is walked generically (any object with `table_name` and `access_type` is a table access), so
//! subqueries, derived tables and unions are covered wherever MariaDB nests them. Plan table names are aliases
//! when the query uses aliases; [`lookup`] resolves them through [`TableStats::aliases`].

use serde_json::{Map, Value};

use super::expr::{ColumnRef, columns, columns_of};
use super::{Limits, Rule, Suggestion, index_ddl, lookup, severity_for, statistics};
use crate::classify::Dialect;
use crate::monitor::explain::{Engine, TableStats};

type Obj = Map<String, Value>;

/// Keys under which a separately planned query block hangs; the top-level estimate stops there.
const NESTED_BLOCKS: &[&str] =
    &["materialized", "subqueries", "query_block", "query_specifications", "expression_cache"];

/// See [`super::from_mysql_plan`].
pub(super) fn advise(limits: &Limits, plan: &Value, stats: &[TableStats], actual_rows: Option<u64>) -> Vec<Suggestion> {
    let Some(block) = plan.get("query_block") else { return Vec::new() };
    let mut walk = Walk { limits, stats, out: Vec::new(), tables: Vec::new() };
    walk.value(block, None);
    let mut top = Vec::new();
    top_tables(block, &mut top);
    let estimate = (!top.is_empty()).then(|| {
        top.iter().map(|t| rows(t).unwrap_or(1) as f64 * filtered(t) / 100.0).product::<f64>().max(0.0) as u64
    });
    let mut out = walk.out;
    out.extend(statistics(limits, Engine::Mysql, &walk.tables, stats, estimate, actual_rows));
    out
}

fn rows(table: &Obj) -> Option<u64> {
    table.get("rows").or_else(|| table.get("rows_examined_per_scan")).and_then(Value::as_u64)
}

fn filtered(table: &Obj) -> f64 {
    match table.get("filtered") {
        Some(Value::String(s)) => s.parse().unwrap_or(100.0),
        Some(v) => v.as_f64().unwrap_or(100.0),
        None => 100.0,
    }
}

fn text<'a>(obj: &'a Obj, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// True for an object describing one table access.
fn is_table(obj: &Obj) -> bool {
    obj.contains_key("table_name") && obj.contains_key("access_type")
}

/// The table accesses of the top-level join (not of subqueries or derived tables' own blocks).
fn top_tables<'a>(value: &'a Value, out: &mut Vec<&'a Obj>) {
    match value {
        Value::Object(obj) => {
            if is_table(obj) {
                out.push(obj);
            }
            for (key, child) in obj {
                if !NESTED_BLOCKS.contains(&key.as_str()) {
                    top_tables(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| top_tables(v, out)),
        _ => {}
    }
}

/// Every table access under `value`, subqueries included.
fn all_tables<'a>(value: &'a Value, out: &mut Vec<&'a Obj>) {
    match value {
        Value::Object(obj) => {
            if is_table(obj) {
                out.push(obj);
            }
            obj.values().for_each(|v| all_tables(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| all_tables(v, out)),
        _ => {}
    }
}

/// A walk over the plan collecting suggestions and the tables read.
struct Walk<'a> {
    limits: &'a Limits,
    stats: &'a [TableStats],
    out: Vec<Suggestion>,
    /// Real names of the tables read, first-seen order.
    tables: Vec<String>,
}

impl Walk<'_> {
    /// Walks `value`; `join_cond` is the attached condition of an enclosing `block-nl-join`.
    fn value(&mut self, value: &Value, join_cond: Option<&str>) {
        match value {
            Value::Object(obj) => self.object(obj, join_cond),
            Value::Array(items) => items.iter().for_each(|v| self.value(v, None)),
            _ => {}
        }
    }

    fn object(&mut self, obj: &Obj, join_cond: Option<&str>) {
        if is_table(obj) {
            self.table(obj, join_cond);
        }
        if obj.get("using_filesort") == Some(&Value::Bool(true)) {
            self.sort(obj, None);
        }
        if obj.get("using_temporary_table") == Some(&Value::Bool(true)) {
            self.temporary(obj, None);
        }
        for (key, child) in obj {
            match key.as_str() {
                "block-nl-join" => {
                    let cond = child.as_object().and_then(|c| text(c, "attached_condition"));
                    self.value(child, cond);
                    continue;
                }
                "filesort" => {
                    if let Some(sort) = child.as_object() {
                        match sort.get("temporary_table") {
                            Some(tmp) => self.temporary(tmp.as_object().unwrap_or(sort), text(sort, "sort_key")),
                            None => self.sort(sort, text(sort, "sort_key")),
                        }
                    }
                }
                // Under a filesort it was reported with the sort key above.
                "temporary_table" if !obj.contains_key("sort_key") => {
                    self.temporary(child.as_object().unwrap_or(obj), None);
                }
                _ => {}
            }
            // The table directly inside a block-nl-join is the one joined through the buffer.
            self.value(child, if key == "table" { join_cond } else { None });
        }
    }

    /// `(plan name, real name)` of a table access; `None` for MariaDB's `<derived2>` / `<subquery3>` / `<union..>`.
    fn names<'t>(&self, table: &'t Obj) -> Option<(&'t str, String)> {
        let name = text(table, "table_name")?;
        if name.starts_with('<') {
            return None;
        }
        let real = lookup(self.stats, name).map_or_else(|| name.to_string(), |s| s.table.clone());
        Some((name, real))
    }

    /// The catalog row estimate of `real` (falling back to the plan's) when it is large.
    fn large(&self, real: &str, table: &Obj) -> Option<u64> {
        let rows = lookup(self.stats, real).and_then(|s| s.rows_estimate).or_else(|| rows(table))?;
        (rows >= self.limits.large_table_rows).then_some(rows)
    }

    /// Drops the columns an index could not serve and plain columns that already lead an index on `real`.
    fn indexable(&self, real: &str, cols: Vec<ColumnRef>) -> Vec<ColumnRef> {
        let indexed = lookup(self.stats, real).map(|s| &s.indexed_columns[..]).unwrap_or(&[]);
        cols.into_iter()
            .filter(|c| c.sargable)
            .filter(|c| c.function.is_some() || !indexed.iter().any(|i| i.eq_ignore_ascii_case(&c.name)))
            .collect()
    }

    fn table(&mut self, table: &Obj, join_cond: Option<&str>) {
        let Some((name, real)) = self.names(table) else { return };
        if !self.tables.contains(&real) {
            self.tables.push(real.clone());
        }
        if !matches!(text(table, "access_type"), Some("ALL" | "index")) {
            return;
        }
        let Some(table_rows) = self.large(&real, table) else { return };
        let buffered = join_cond.is_some() || table.contains_key("using_join_buffer");
        let cond = join_cond.or_else(|| text(table, "attached_condition"));
        let Some(cond) = cond else { return };
        let cols = self.indexable(&real, columns_of(Dialect::MySql, cond, name, &real));
        if cols.is_empty() {
            return;
        }
        let ddl = index_ddl(Engine::Mysql, &real, &cols);
        let (rule, message) = if buffered {
            (
                Rule::UnindexedJoin,
                format!(
                    "the join reads all ~{table_rows} rows of {real} through a join buffer (block nested loop) to \
                     apply {cond}; an index on the join column lets it look matches up: {ddl}"
                ),
            )
        } else {
            (
                Rule::FullScan,
                format!("full scan of {real} (~{table_rows} rows) to apply {cond}; index the filtered columns: {ddl}"),
            )
        };
        let columns = cols.iter().map(|c| c.name.clone()).collect();
        let severity = severity_for(self.limits, table_rows);
        self.out.push(Suggestion { rule, severity, table: Some(real), columns, message });
    }

    /// The largest table under `at` by row estimate: `(real name, rows)`.
    fn biggest_under(&self, at: &Obj) -> Option<(String, u64)> {
        let mut tables = if is_table(at) { vec![at] } else { Vec::new() };
        at.values().for_each(|v| all_tables(v, &mut tables));
        tables
            .into_iter()
            .filter_map(|t| {
                let (_, real) = self.names(t)?;
                let rows = lookup(self.stats, &real).and_then(|s| s.rows_estimate).or_else(|| rows(t))?;
                Some((real, rows))
            })
            .max_by_key(|(_, rows)| *rows)
    }

    /// Key columns of `sort_key` (``users.`name`, users.created_at desc``) that an index on one table serves.
    fn key_columns(&self, sort_key: &str, default_table: &str) -> Vec<ColumnRef> {
        let mut cols = Vec::new();
        for col in columns(Dialect::MySql, sort_key) {
            let real = col.qualifier.as_deref().and_then(|q| lookup(self.stats, q)).map(|s| s.table.as_str());
            let same = match (&col.qualifier, real) {
                (None, _) => true,
                (Some(_), Some(real)) => real == default_table,
                (Some(q), None) => q == default_table,
            };
            if !same || col.function.is_some() || !col.sargable {
                break;
            }
            cols.push(col);
        }
        cols
    }

    fn sort(&mut self, at: &Obj, sort_key: Option<&str>) {
        let Some((real, rows)) = self.biggest_under(at) else { return };
        if rows < self.limits.large_table_rows {
            return;
        }
        let cols = self.indexable(&real, sort_key.map(|k| self.key_columns(k, &real)).unwrap_or_default());
        let advice = if cols.is_empty() {
            format!("index {real} on the ORDER BY columns")
        } else {
            index_ddl(Engine::Mysql, &real, &cols)
        };
        let by = sort_key.map(|k| format!(" by {k}")).unwrap_or_default();
        self.out.push(Suggestion {
            rule: Rule::Sort,
            severity: severity_for(self.limits, rows),
            table: Some(real.clone()),
            columns: cols.iter().map(|c| c.name.clone()).collect(),
            message: format!(
                "filesort{by} over ~{rows} rows of {real}; an index in ORDER BY order returns rows already \
                 sorted (with a LIMIT, only the first are read): {advice}"
            ),
        });
    }

    fn temporary(&mut self, at: &Obj, group_key: Option<&str>) {
        let Some((real, rows)) = self.biggest_under(at) else { return };
        if rows < self.limits.large_table_rows {
            return;
        }
        let cols = self.indexable(&real, group_key.map(|k| self.key_columns(k, &real)).unwrap_or_default());
        let advice = if cols.is_empty() {
            format!("an index on {real} over the GROUP BY / DISTINCT columns lets it read groups in order")
        } else {
            format!("an index lets it read groups in order: {}", index_ddl(Engine::Mysql, &real, &cols))
        };
        self.out.push(Suggestion {
            rule: Rule::TemporaryTable,
            severity: severity_for(self.limits, rows),
            table: Some(real.clone()),
            columns: cols.iter().map(|c| c.name.clone()).collect(),
            message: format!("a temporary table is built from ~{rows} rows of {real}; {advice}"),
        });
    }
}
