//! Rules over a PostgreSQL `EXPLAIN (FORMAT JSON)` plan: Seq Scan with a Filter on a large table, Sort over a
//! large input, a join that scans a large table without an index on the join column, and the statistics rules.
//!
//! Deliberately not here: plans with actual-row counts (`EXPLAIN ANALYZE`) beyond reading a Sort's
//! `Sort Space Type`, which only such plans carry; the actual rows come from the monitor instead.

use serde_json::{Map, Value};

use super::expr::{ColumnRef, columns, columns_of};
use super::{Limits, Rule, Severity, Suggestion, index_ddl, lookup, severity_for, statistics};
use crate::classify::Dialect;
use crate::monitor::explain::{Engine, TableStats};

type Node = Map<String, Value>;

/// A Seq Scan's output must be at most this fraction of its table for an index to be worth suggesting.
const SELECTIVE_FRACTION: u64 = 10;

/// A hash join's other side must be this many times smaller than the scanned table for an index lookup per
/// row to beat reading the whole table.
const JOIN_SIDE_RATIO: u64 = 100;

/// Filter text quoted in a message is cut at this many characters.
const QUOTE_MAX: usize = 160;

/// See [`super::from_postgres_plan`].
pub(super) fn advise(limits: &Limits, plan: &Value, stats: &[TableStats], actual_rows: Option<u64>) -> Vec<Suggestion> {
    let Some(root) = root(plan) else { return Vec::new() };
    let mut nodes = Vec::new();
    collect(root, &mut nodes);
    let plan = Plan { limits, stats, nodes: &nodes };
    let mut out = Vec::new();
    for node in &nodes {
        let found = match text(node, "Node Type") {
            Some("Seq Scan") => plan.seq_scan(node),
            Some("Sort") => plan.sort(node),
            Some("Nested Loop") => plan.nested_loop(node),
            Some("Hash Join") => plan.hash_join(node),
            _ => Vec::new(),
        };
        out.extend(found);
    }
    let mut tables: Vec<String> = Vec::new();
    for rel in nodes.iter().filter_map(|n| text(n, "Relation Name")) {
        if !tables.iter().any(|t| t == rel) {
            tables.push(rel.to_string());
        }
    }
    // A ModifyTable node estimates 0 rows; the rows it changes are its input's.
    let top = match text(root, "Node Type") {
        Some("ModifyTable") => children(root).next().unwrap_or(root),
        _ => root,
    };
    out.extend(statistics(limits, Engine::Postgres, &tables, stats, rows(top), actual_rows));
    out
}

/// The top plan node of `[{"Plan": ..}]`, `{"Plan": ..}` or a bare node.
fn root(plan: &Value) -> Option<&Node> {
    let plan = match plan {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let obj = plan.as_object()?;
    match obj.get("Plan") {
        Some(inner) => inner.as_object(),
        None => obj.contains_key("Node Type").then_some(obj),
    }
}

/// Every node under `node` (itself included), depth first.
fn collect<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
    out.push(node);
    for child in children(node) {
        collect(child, out);
    }
}

fn children(node: &Node) -> impl Iterator<Item = &Node> {
    node.get("Plans").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object)
}

fn text<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.get(key).and_then(Value::as_str)
}

fn rows(node: &Node) -> Option<u64> {
    node.get("Plan Rows").and_then(Value::as_f64).map(|r| r.max(0.0) as u64)
}

/// `(alias, relation)` of a scan node.
fn relation(node: &Node) -> Option<(&str, &str)> {
    let rel = text(node, "Relation Name")?;
    Some((text(node, "Alias").unwrap_or(rel), rel))
}

/// `s` cut to [`QUOTE_MAX`] characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// The names of `cols`, for [`Suggestion::columns`].
fn names(cols: &[ColumnRef]) -> Vec<String> {
    cols.iter().map(|c| c.name.clone()).collect()
}

/// The plan being advised on, with what every rule needs.
struct Plan<'a> {
    limits: &'a Limits,
    stats: &'a [TableStats],
    nodes: &'a [&'a Node],
}

impl Plan<'_> {
    /// The catalog row estimate of `rel` when it is large.
    fn large(&self, rel: &str) -> Option<u64> {
        let rows = lookup(self.stats, rel)?.rows_estimate?;
        (rows >= self.limits.large_table_rows).then_some(rows)
    }

    /// Drops the columns an index could not serve and plain columns that already lead an index on `rel`.
    fn indexable(&self, rel: &str, cols: Vec<ColumnRef>) -> Vec<ColumnRef> {
        let indexed = lookup(self.stats, rel).map(|s| &s.indexed_columns[..]).unwrap_or(&[]);
        cols.into_iter()
            .filter(|c| c.sargable)
            .filter(|c| c.function.is_some() || !indexed.iter().any(|i| i.eq_ignore_ascii_case(&c.name)))
            .collect()
    }

    /// The relation an alias (or relation name) stands for in this plan.
    fn resolve(&self, alias: &str) -> Option<&str> {
        self.nodes.iter().filter_map(|n| relation(n)).find(|(a, r)| *a == alias || *r == alias).map(|(_, r)| r)
    }

    fn seq_scan(&self, node: &Node) -> Vec<Suggestion> {
        let (Some((alias, rel)), Some(filter)) = (relation(node), text(node, "Filter")) else { return Vec::new() };
        let Some(table_rows) = self.large(rel) else { return Vec::new() };
        if rows(node).is_some_and(|out| out.saturating_mul(SELECTIVE_FRACTION) > table_rows) {
            return Vec::new();
        }
        let cols = self.indexable(rel, columns_of(Dialect::Postgres, filter, alias, rel));
        if cols.is_empty() {
            return Vec::new();
        }
        vec![Suggestion {
            rule: Rule::FullScan,
            severity: severity_for(self.limits, table_rows),
            table: Some(rel.to_string()),
            columns: names(&cols),
            message: format!(
                "Seq Scan on {rel} reads all ~{table_rows} rows to apply Filter {}; index the filtered columns: {}",
                clip(filter),
                index_ddl(Engine::Postgres, rel, &cols)
            ),
        }]
    }

    fn sort(&self, node: &Node) -> Vec<Suggestion> {
        let input = children(node).next().and_then(rows).unwrap_or(0);
        if input < self.limits.large_table_rows {
            return Vec::new();
        }
        let keys = node.get("Sort Key").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
        // Relations under the sort: an unqualified key belongs to the only one.
        let mut under = Vec::new();
        collect(node, &mut under);
        let rels: Vec<(&str, &str)> = under.iter().filter_map(|n| relation(n)).collect();
        let mut table: Option<&str> = None;
        let mut cols: Vec<ColumnRef> = Vec::new();
        // An index serves a prefix of the sort key made of plain columns of one table.
        for key in keys {
            let found = columns(Dialect::Postgres, key);
            let [col] = &found[..] else { break };
            if col.function.is_some() || !col.sargable {
                break;
            }
            let rel = match (&col.qualifier, &rels[..]) {
                (Some(q), _) => self.resolve(q),
                (None, [(_, rel)]) => Some(*rel),
                (None, _) => None,
            };
            match (rel, table) {
                (Some(rel), None) => table = Some(rel),
                (Some(rel), Some(t)) if rel == t => {}
                _ => break,
            }
            cols.push(col.clone());
        }
        let Some(rel) = table else { return Vec::new() };
        let cols = self.indexable(rel, cols);
        if cols.is_empty() {
            return Vec::new();
        }
        let disk = text(node, "Sort Space Type") == Some("Disk")
            || text(node, "Sort Method").is_some_and(|m| m.contains("external"));
        let (severity, where_) = if disk {
            (Severity::Critical, "on disk (larger than work_mem)")
        } else {
            (severity_for(self.limits, input), "in memory or on disk")
        };
        vec![Suggestion {
            rule: Rule::Sort,
            severity,
            table: Some(rel.to_string()),
            columns: names(&cols),
            message: format!(
                "Sort of ~{input} rows by {} {where_}; an index on {rel}({}) returns them already in order \
                 (with a LIMIT, only the first rows are read): {}",
                names(&cols).join(", "),
                names(&cols).join(", "),
                index_ddl(Engine::Postgres, rel, &cols)
            ),
        }]
    }

    fn nested_loop(&self, node: &Node) -> Vec<Suggestion> {
        let Some(mut inner) = children(node).find(|c| text(c, "Parent Relationship") == Some("Inner")) else {
            return Vec::new();
        };
        while matches!(text(inner, "Node Type"), Some("Materialize")) {
            let Some(child) = children(inner).next() else { return Vec::new() };
            inner = child;
        }
        if text(inner, "Node Type") != Some("Seq Scan") {
            return Vec::new();
        }
        let conditions = [text(node, "Join Filter"), text(inner, "Filter")];
        self.join(inner, conditions.into_iter().flatten().collect(), "Nested Loop", "for every outer row")
    }

    fn hash_join(&self, node: &Node) -> Vec<Suggestion> {
        let Some(cond) = text(node, "Hash Cond") else { return Vec::new() };
        let sides: Vec<&Node> = children(node).collect();
        let [outer, hash] = sides[..] else { return Vec::new() };
        let inner = match text(hash, "Node Type") {
            Some("Hash") => children(hash).next().unwrap_or(hash),
            _ => hash,
        };
        let mut out = Vec::new();
        for (scan, other) in [(outer, hash), (inner, outer)] {
            if text(scan, "Node Type") != Some("Seq Scan") {
                continue;
            }
            let Some((_, rel)) = relation(scan) else { continue };
            let (Some(table_rows), Some(other_rows)) = (self.large(rel), rows(other)) else { continue };
            if other_rows.saturating_mul(JOIN_SIDE_RATIO) > table_rows {
                continue;
            }
            out.extend(self.join(scan, vec![cond], "Hash Join", "to match a few rows from the other side"));
        }
        out
    }

    /// An index suggestion for the join columns of the large table `scan` reads in full for join `node`.
    fn join(&self, scan: &Node, conditions: Vec<&str>, kind: &str, why: &str) -> Vec<Suggestion> {
        let Some((alias, rel)) = relation(scan) else { return Vec::new() };
        let Some(table_rows) = self.large(rel) else { return Vec::new() };
        let mut cols: Vec<ColumnRef> = Vec::new();
        for cond in &conditions {
            // Only explicitly qualified columns: a join condition names both sides.
            for col in columns_of(Dialect::Postgres, cond, alias, rel).into_iter().filter(|c| c.qualifier.is_some()) {
                if !cols.iter().any(|c| c.name == col.name) {
                    cols.push(col);
                }
            }
        }
        let cols = self.indexable(rel, cols);
        if cols.is_empty() {
            return Vec::new();
        }
        vec![Suggestion {
            rule: Rule::UnindexedJoin,
            severity: severity_for(self.limits, table_rows),
            table: Some(rel.to_string()),
            columns: names(&cols),
            message: format!(
                "{kind} reads all ~{table_rows} rows of {rel} {why} on {}; an index on the join column lets \
                 the planner look matches up instead: {}",
                clip(&conditions.join(" AND ")),
                index_ddl(Engine::Postgres, rel, &cols)
            ),
        }]
    }
}
