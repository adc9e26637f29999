//! Rules over the statement text, parsed with sqlparser: `SELECT *`, no LIMIT on an unbounded read,
//! leading-wildcard LIKE, a function or cast on a filtered column, OR across different columns; and the N+1
//! suggestion the monitor builds from a digest's call rate.
//!
//! sqlparser is built without its `visitor` feature, so this is a hand walk over the places these patterns
//! occur: SELECT blocks (FROM, WHERE, subqueries in FROM and WHERE, CTEs, set operations), UPDATE and DELETE
//! WHERE clauses, and INSERT ... SELECT sources. Text that does not parse gets no suggestions.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, InTarget, ObjectName, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, TableWithJoins, Value,
};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use super::expr::ColumnRef;
use super::{Limits, Rule, Severity, Suggestion, index_ddl, lookup, quote, severity_for};
use crate::classify::Dialect;
use crate::monitor::explain::{Engine, TableStats};

/// Functions that turn any number of rows into one when there is no GROUP BY.
const AGGREGATES: &[&str] = &["avg", "bit_and", "bit_or", "bool_and", "bool_or", "count", "every", "max", "min", "sum"];

/// Functions and casts on a date/time column, better rewritten as a range on the bare column.
const DATE_FUNCTIONS: &[&str] =
    &["cast", "date", "date_format", "date_trunc", "day", "extract", "month", "to_char", "week", "year", "yearweek"];

/// Expressions nested deeper than this are not walked (sqlparser builds left-deep trees for long chains).
const MAX_DEPTH: usize = 64;

fn parse(sql: &str, dialect: Dialect) -> Option<Vec<Statement>> {
    match dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, sql),
    }
    .ok()
}

fn engine(dialect: Dialect) -> Engine {
    match dialect {
        Dialect::Postgres => Engine::Postgres,
        Dialect::MySql => Engine::Mysql,
    }
}

/// See [`super::from_text`].
pub(super) fn advise(limits: &Limits, sql: &str, dialect: Dialect, stats: &[TableStats]) -> Vec<Suggestion> {
    let Some(statements) = parse(sql, dialect) else { return Vec::new() };
    let mut walk = Walk { limits, stats, engine: engine(dialect), out: Vec::new(), seen: Scope::new(), depth: 0 };
    for st in &statements {
        walk.statement(st);
    }
    walk.out
}

/// See [`super::table_aliases`].
pub(super) fn table_aliases(sql: &str, dialect: Dialect) -> Vec<(String, String)> {
    let Some(statements) = parse(sql, dialect) else { return Vec::new() };
    let limits = Limits::default();
    let mut walk =
        Walk { limits: &limits, stats: &[], engine: engine(dialect), out: Vec::new(), seen: Scope::new(), depth: 0 };
    for st in &statements {
        walk.statement(st);
    }
    walk.seen.retain(|(alias, table)| alias != table);
    walk.seen
}

/// True when `sql` is one plain SELECT whose result has as many rows as its join produces: no GROUP BY,
/// HAVING, aggregate, DISTINCT, LIMIT or set operation. Only then do a MySQL plan's `rows × filtered` and the
/// rows returned measure the same thing.
pub(super) fn returns_scanned_rows(sql: &str, dialect: Dialect) -> bool {
    let Some(statements) = parse(sql, dialect) else { return false };
    let [Statement::Query(q)] = &statements[..] else { return false };
    let SetExpr::Select(s) = q.body.as_ref() else { return false };
    let grouped = !matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty());
    q.limit_clause.is_none()
        && q.fetch.is_none()
        && s.distinct.is_none()
        && s.having.is_none()
        && !grouped
        && !s.projection.iter().any(|item| matches!(item, SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } if is_aggregate(e)))
}

/// See [`super::n_plus_one`].
pub(super) fn n_plus_one(normalized_sql: &str, calls_per_second: f64, tables: &[String]) -> Suggestion {
    // Digest text has `?` for every literal, which the MySQL dialect parses in either engine's statements.
    let mut keys: Vec<String> = Vec::new();
    if let Some(statements) = parse(normalized_sql, Dialect::MySql)
        && let [Statement::Query(q)] = &statements[..]
        && let SetExpr::Select(s) = q.body.as_ref()
        && let Some(selection) = &s.selection
    {
        for conjunct in conjuncts(selection) {
            let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = conjunct else { continue };
            let key = match (is_placeholder(left), is_placeholder(right)) {
                (false, true) => column_name(left),
                (true, false) => column_name(right),
                _ => None,
            };
            keys.extend(key);
        }
    }
    let table = tables.first().cloned();
    let on = table.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
    let batch = match keys.first() {
        Some(k) => format!("one statement with `WHERE {k} IN (...)` or a JOIN"),
        None => "one statement (an IN list or a JOIN)".to_string(),
    };
    Suggestion {
        rule: Rule::NPlusOne,
        severity: Severity::Warning,
        table,
        columns: keys,
        message: format!(
            "one client runs `{normalized_sql}`{on} ~{calls_per_second:.0} times a second, once per row of an \
             earlier result (N+1 queries); fetch them with {batch}"
        ),
    }
}

fn is_placeholder(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

/// The bare column name of a column reference.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(id.value.to_lowercase()),
        Expr::CompoundIdentifier(ids) => ids.last().map(|id| id.value.to_lowercase()),
        Expr::Nested(e) => column_name(e),
        _ => None,
    }
}

/// The top-level `AND` operands of `e`.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut out = conjuncts(left);
            out.extend(conjuncts(right));
            out
        }
        Expr::Nested(inner) => conjuncts(inner),
        other => vec![other],
    }
}

/// The `OR` operands of `e`, flattened.
fn disjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
            let mut out = disjuncts(left);
            out.extend(disjuncts(right));
            out
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::Or, .. }) => {
            disjuncts(inner)
        }
        other => vec![other],
    }
}

fn function_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()).unwrap_or_default()
}

fn is_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => f.over.is_none() && AGGREGATES.contains(&function_name(&f.name).as_str()),
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => is_aggregate(e),
        _ => false,
    }
}

/// Lower-cased last part of a table name (`public.Users` → `users`).
fn table_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()).unwrap_or_default()
}

/// The tables a FROM clause names: `(alias or name, table)`, lower-cased.
type Scope = Vec<(String, String)>;

/// A column reference resolved against a scope.
struct Column {
    table: Option<String>,
    name: String,
}

/// A walk over the statements collecting text suggestions.
struct Walk<'a> {
    limits: &'a Limits,
    stats: &'a [TableStats],
    engine: Engine,
    out: Vec<Suggestion>,
    /// Every `(alias, table)` met in any FROM clause.
    seen: Scope,
    depth: usize,
}

impl Walk<'_> {
    fn push(&mut self, s: Suggestion) {
        if !self.out.iter().any(|o| o.rule == s.rule && o.table == s.table && o.columns == s.columns) {
            self.out.push(s);
        }
    }

    fn rows(&self, table: &str) -> Option<u64> {
        lookup(self.stats, table).and_then(|s| s.rows_estimate)
    }

    fn statement(&mut self, st: &Statement) {
        match st {
            Statement::Query(q) => self.query(q, true, false),
            Statement::Insert(i) => {
                if let Some(source) = &i.source {
                    self.query(source, false, false);
                }
            }
            Statement::Update(u) => {
                let mut scope = Scope::new();
                self.from(&u.table, &mut scope);
                if let Some(from) = &u.from {
                    let (sqlparser::ast::UpdateTableFromKind::BeforeSet(f)
                    | sqlparser::ast::UpdateTableFromKind::AfterSet(f)) = from;
                    f.iter().for_each(|t| self.from(t, &mut scope));
                }
                if let Some(w) = &u.selection {
                    self.predicate(w, &scope);
                }
            }
            Statement::Delete(d) => {
                let mut scope = Scope::new();
                let (sqlparser::ast::FromTable::WithFromKeyword(f) | sqlparser::ast::FromTable::WithoutKeyword(f)) =
                    &d.from;
                f.iter().for_each(|t| self.from(t, &mut scope));
                d.using.iter().flatten().for_each(|t| self.from(t, &mut scope));
                if let Some(w) = &d.selection {
                    self.predicate(w, &scope);
                }
            }
            _ => {}
        }
    }

    /// `top`: the statement's own result (a missing LIMIT matters); `exists`: inside EXISTS (`SELECT *` is idiom).
    fn query(&mut self, q: &Query, top: bool, exists: bool) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.query(&cte.query, false, false);
            }
        }
        let limited = q.limit_clause.is_some() || q.fetch.is_some();
        self.set_expr(&q.body, top && !limited, exists);
        self.depth -= 1;
    }

    fn set_expr(&mut self, body: &SetExpr, unbounded: bool, exists: bool) {
        match body {
            SetExpr::Select(s) => self.select(s, unbounded, exists),
            SetExpr::Query(q) => self.query(q, unbounded, exists),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, false, exists);
                self.set_expr(right, false, exists);
            }
            _ => {}
        }
    }

    fn from(&mut self, t: &TableWithJoins, scope: &mut Scope) {
        self.factor(&t.relation, scope);
        for join in &t.joins {
            self.factor(&join.relation, scope);
        }
    }

    fn factor(&mut self, f: &TableFactor, scope: &mut Scope) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let table = table_name(name);
                let key = alias.as_ref().map_or_else(|| table.clone(), |a| a.name.value.to_lowercase());
                if !self.seen.iter().any(|(k, t)| *k == key && *t == table) {
                    self.seen.push((key.clone(), table.clone()));
                }
                scope.push((key, table));
            }
            TableFactor::Derived { subquery, .. } => self.query(subquery, false, false),
            TableFactor::NestedJoin { table_with_joins, .. } => self.from(table_with_joins, scope),
            _ => {}
        }
    }

    fn select(&mut self, s: &Select, unbounded: bool, exists: bool) {
        let mut scope = Scope::new();
        s.from.iter().for_each(|t| self.from(t, &mut scope));
        if scope.is_empty() {
            return;
        }
        if !exists {
            self.select_star(s, &scope);
        }
        if unbounded {
            self.no_limit(s, &scope);
        }
        if let Some(w) = &s.selection {
            self.predicate(w, &scope);
        }
    }

    fn select_star(&mut self, s: &Select, scope: &Scope) {
        for item in &s.projection {
            let table = match item {
                SelectItem::Wildcard(_) => scope[0].1.clone(),
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                    let q = table_name(name);
                    scope.iter().find(|(k, _)| *k == q).map_or(q, |(_, t)| t.clone())
                }
                _ => continue,
            };
            let all: Vec<&str> = scope.iter().map(|(_, t)| t.as_str()).collect();
            let what = match item {
                SelectItem::Wildcard(_) if all.len() > 1 => format!("every column of {}", all.join(", ")),
                _ => format!("every column of {table}"),
            };
            self.push(Suggestion {
                rule: Rule::SelectStar,
                severity: Severity::Info,
                table: Some(table),
                columns: Vec::new(),
                message: format!(
                    "SELECT * reads and sends {what}; list only the columns the application uses (less data, and \
                     an index-only scan becomes possible)"
                ),
            });
        }
    }

    fn no_limit(&mut self, s: &Select, scope: &Scope) {
        let grouped = !matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty());
        let one_row = !grouped
            && s.projection.iter().all(|item| matches!(item, SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } if is_aggregate(e)));
        if one_row || grouped {
            return;
        }
        let biggest = scope.iter().filter_map(|(_, t)| self.rows(t).map(|r| (t.clone(), r))).max_by_key(|(_, r)| *r);
        let large = biggest.as_ref().filter(|(_, r)| *r >= self.limits.large_table_rows);
        let (table, why) = match (&s.selection, large) {
            (None, Some((t, r))) => (t.clone(), format!("returns all ~{r} rows of {t}")),
            (None, None) => {
                (scope[0].1.clone(), format!("returns every row of {}, however many there become", scope[0].1))
            }
            (Some(w), Some((t, r))) if !conjuncts(w).iter().any(|c| is_point_filter(c)) => {
                (t.clone(), format!("has no equality filter and no LIMIT on {t} (~{r} rows)"))
            }
            _ => return,
        };
        let severity = if large.is_some() { Severity::Warning } else { Severity::Info };
        self.push(Suggestion {
            rule: Rule::NoLimit,
            severity,
            table: Some(table),
            columns: Vec::new(),
            message: format!("this read {why}; add a LIMIT (and page with keyset pagination) or a narrower WHERE"),
        });
    }

    /// The rules over a WHERE clause, and the subqueries in it.
    fn predicate(&mut self, e: &Expr, scope: &Scope) {
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        self.predicate_inner(e, scope);
        self.depth -= 1;
    }

    fn predicate_inner(&mut self, e: &Expr, scope: &Scope) {
        match e {
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                self.predicate(left, scope);
                self.predicate(right, scope);
            }
            Expr::BinaryOp { op: BinaryOperator::Or, .. } => {
                let parts = disjuncts(e);
                self.or_across(&parts, scope);
                parts.into_iter().for_each(|p| self.predicate(p, scope));
            }
            Expr::BinaryOp { left, op, right } if is_comparison(op) => {
                self.wrapped(left, scope);
                self.wrapped(right, scope);
                self.subquery(left);
                self.subquery(right);
            }
            Expr::Like { expr, pattern, negated: false, .. } | Expr::ILike { expr, pattern, negated: false, .. } => {
                self.wrapped(expr, scope);
                if leading_wildcard(pattern)
                    && let Some(col) = resolve(expr, scope)
                {
                    self.leading_wildcard(col, pattern);
                }
            }
            Expr::In { expr, target, .. } => {
                self.wrapped(expr, scope);
                if let InTarget::Subquery(q) = target {
                    self.query(q, false, false);
                }
            }
            Expr::Between { expr, .. } => self.wrapped(expr, scope),
            Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } => self.predicate(inner, scope),
            Expr::Exists { subquery, .. } => self.query(subquery, false, true),
            Expr::Subquery(q) => self.query(q, false, false),
            _ => {}
        }
    }

    fn subquery(&mut self, e: &Expr) {
        if let Expr::Subquery(q) = e {
            self.query(q, false, false);
        }
    }

    /// A function or cast around a column on one side of a comparison.
    fn wrapped(&mut self, e: &Expr, scope: &Scope) {
        let (function, arg) = match e {
            Expr::Function(f) => {
                let FunctionArguments::List(list) = &f.args else { return };
                let arg = list.args.iter().find_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => resolve(e, scope),
                    _ => None,
                });
                (function_name(&f.name), arg)
            }
            Expr::Cast { expr, .. } => ("cast".to_string(), resolve(expr, scope)),
            Expr::Nested(inner) => return self.wrapped(inner, scope),
            _ => return,
        };
        let Some(col) = arg else { return };
        if AGGREGATES.contains(&function.as_str()) {
            return;
        }
        let on = col.table.as_deref().map(|t| format!("{t}.")).unwrap_or_default();
        let fix = if DATE_FUNCTIONS.contains(&function.as_str()) {
            format!("compare a range on the bare column instead ({0} >= .. AND {0} < ..)", col.name)
        } else {
            match (&col.table, self.engine) {
                (Some(t), _) => {
                    let r = ColumnRef {
                        qualifier: None,
                        name: col.name.clone(),
                        function: Some(function.clone()),
                        equality: true,
                        sargable: true,
                    };
                    format!("compare the bare column, or {}", index_ddl(self.engine, t, &[r]))
                }
                (None, _) => "compare the bare column, or index the expression".to_string(),
            }
        };
        let severity = col.table.as_deref().and_then(|t| self.rows(t)).map_or(Severity::Warning, |r| {
            if r >= self.limits.large_table_rows { severity_for(self.limits, r) } else { Severity::Info }
        });
        let shown = if function == "cast" { "a cast".to_string() } else { format!("{function}()") };
        self.push(Suggestion {
            rule: Rule::FunctionOnColumn,
            severity,
            message: format!(
                "the filter wraps {on}{} in {shown}, so a plain index on the column cannot serve it; {fix}",
                quote(self.engine, &col.name)
            ),
            table: col.table,
            columns: vec![col.name],
        });
    }

    fn leading_wildcard(&mut self, col: Column, pattern: &Expr) {
        let pattern = pattern.to_string();
        let on = col.table.as_deref().map(|t| format!(" on {t}({})", col.name)).unwrap_or_default();
        let fix = match (self.engine, &col.table) {
            (Engine::Postgres, Some(t)) => format!(
                "a trigram index serves it: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ON {} USING gin \
                 ({} gin_trgm_ops)",
                quote(self.engine, t),
                quote(self.engine, &col.name)
            ),
            (Engine::Postgres, None) => "a pg_trgm trigram index serves it".to_string(),
            (Engine::Mysql, _) => "use a FULLTEXT index (MATCH .. AGAINST) or store the value reversed and \
                                   index that for suffix searches"
                .to_string(),
        };
        let severity = col.table.as_deref().and_then(|t| self.rows(t)).map_or(Severity::Warning, |r| {
            if r >= self.limits.large_table_rows { severity_for(self.limits, r) } else { Severity::Info }
        });
        self.push(Suggestion {
            rule: Rule::LeadingWildcard,
            severity,
            message: format!(
                "LIKE {pattern} starts with a wildcard, so no b-tree index{on} can serve it and every row is \
                 scanned; {fix}"
            ),
            table: col.table,
            columns: vec![col.name],
        });
    }

    fn or_across(&mut self, parts: &[&Expr], scope: &Scope) {
        let mut cols: Vec<Column> = Vec::new();
        for part in parts {
            let mut found = Vec::new();
            columns_in(part, scope, &mut found, 0);
            // A disjunct on several columns (a = 1 AND b = 2) is keyed by its first.
            let Some(first) = found.into_iter().next() else { return };
            if !cols.iter().any(|c| c.name == first.name && c.table == first.table) {
                cols.push(first);
            }
        }
        if cols.len() < 2 {
            return;
        }
        let table = cols[0].table.clone();
        let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
        let listed: Vec<String> = cols
            .iter()
            .map(|c| match &c.table {
                Some(t) => format!("{t}.{}", c.name),
                None => c.name.clone(),
            })
            .collect();
        let how = match self.engine {
            Engine::Postgres => "PostgreSQL can combine one index per column with a BitmapOr",
            Engine::Mysql => "MariaDB can combine one index per column with index_merge",
        };
        self.push(Suggestion {
            rule: Rule::OrAcrossColumns,
            severity: Severity::Info,
            table,
            message: format!(
                "OR across different columns ({}) cannot use a single index; {how}, so index each column, or \
                 rewrite as a UNION of one query per column",
                listed.join(", ")
            ),
            columns: names,
        });
    }
}

fn is_comparison(op: &BinaryOperator) -> bool {
    use BinaryOperator::*;
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | Spaceship)
}

/// `<expression of a column> = <expression without one>` (or `col IN (list)`): a filter that can narrow a read
/// to a few rows.
fn is_point_filter(e: &Expr) -> bool {
    let mentions = |e: &Expr| {
        let mut found = Vec::new();
        columns_in(e, &Scope::new(), &mut found, 0);
        !found.is_empty()
    };
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => mentions(left) != mentions(right),
        Expr::In { expr, target: InTarget::List(_), negated: false, .. } => mentions(expr),
        Expr::Nested(e) => is_point_filter(e),
        _ => false,
    }
}

/// A pattern that starts with `%` or `_`: a literal, `'%' || x`, or `CONCAT('%', x)`.
fn leading_wildcard(pattern: &Expr) -> bool {
    match pattern {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                s.starts_with('%') || s.starts_with('_')
            }
            _ => false,
        },
        Expr::BinaryOp { left, op: BinaryOperator::StringConcat, .. } => leading_wildcard(left),
        Expr::Function(f) if function_name(&f.name) == "concat" => match &f.args {
            FunctionArguments::List(list) => match list.args.first() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) => leading_wildcard(e),
                _ => false,
            },
            _ => false,
        },
        Expr::Nested(e) => leading_wildcard(e),
        _ => false,
    }
}

/// The column `e` refers to, with its table when the scope decides it.
fn resolve(e: &Expr, scope: &Scope) -> Option<Column> {
    match e {
        Expr::Identifier(id) => {
            let table = match &scope[..] {
                [(_, t)] => Some(t.clone()),
                _ => None,
            };
            Some(Column { table, name: id.value.to_lowercase() })
        }
        Expr::CompoundIdentifier(ids) if ids.len() >= 2 => {
            let q = ids[ids.len() - 2].value.to_lowercase();
            let table = scope.iter().find(|(k, _)| *k == q).map_or(q, |(_, t)| t.clone());
            Some(Column { table: Some(table), name: ids[ids.len() - 1].value.to_lowercase() })
        }
        Expr::Nested(e) => resolve(e, scope),
        _ => None,
    }
}

/// The columns `e` mentions, in order.
fn columns_in(e: &Expr, scope: &Scope, out: &mut Vec<Column>, depth: usize) {
    if depth >= MAX_DEPTH {
        return;
    }
    if let Some(c) = resolve(e, scope) {
        out.push(c);
        return;
    }
    match e {
        Expr::BinaryOp { left, right, .. } => {
            columns_in(left, scope, out, depth + 1);
            columns_in(right, scope, out, depth + 1);
        }
        Expr::Like { expr, .. }
        | Expr::ILike { expr, .. }
        | Expr::In { expr, .. }
        | Expr::Between { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::UnaryOp { expr, .. }
        | Expr::Cast { expr, .. }
        | Expr::Nested(expr) => columns_in(expr, scope, out, depth + 1),
        Expr::Function(f) => {
            if let FunctionArguments::List(list) = &f.args {
                for arg in &list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        columns_in(e, scope, out, depth + 1);
                    }
                }
            }
        }
        _ => {}
    }
}
