//! A walk over sqlparser's query AST collecting what routing needs: tables referenced, joins, aggregates,
//! locking clauses, `SELECT ... INTO`, and data-modifying statements hidden inside queries (CTE bodies).
//!
//! sqlparser is built without its `visitor` feature, so this is a hand walk. It covers the places tables and
//! subqueries occur in practice (FROM, JOIN, CTEs, WHERE/HAVING/projection expressions, IN/EXISTS/scalar
//! subqueries, function arguments, CASE); exotic expression forms are skipped, which can only lose a table
//! name or an aggregate, never turn a write into a read (writes are decided at statement level).

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, InTarget, ObjectName, Query, Select,
    SelectItem, SetExpr, Statement, TableFactor, TableWithJoins,
};

use super::Kind;

/// Aggregate functions (lower-case); a window function (`OVER`) counts too.
pub(crate) const AGGREGATES: &[&str] = &[
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "corr",
    "count",
    "covar_pop",
    "covar_samp",
    "every",
    "group_concat",
    "json_agg",
    "json_arrayagg",
    "json_object_agg",
    "json_objectagg",
    "jsonb_agg",
    "jsonb_object_agg",
    "max",
    "min",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "sum",
    "var_pop",
    "var_samp",
    "variance",
    "xmlagg",
];

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Tables referenced, lower-cased, first-seen order, no duplicates, CTE names excluded.
    pub tables: Vec<String>,
    /// CTE names seen (lower-cased).
    ctes: Vec<String>,
    /// Joins counted over every SELECT block.
    pub joins: u16,
    /// GROUP BY, HAVING, aggregate or window function.
    pub aggregates: bool,
    /// A locking clause (`FOR UPDATE` ...).
    pub locking: bool,
    /// `SELECT ... INTO` (a new table in PostgreSQL, variables or a file in MySQL).
    pub select_into: bool,
    /// The first INSERT/UPDATE/DELETE met inside a query (a data-modifying CTE or body).
    pub dml: Option<Kind>,
    /// The walk stopped at [`MAX_DEPTH`]: something may have been missed, so the caller must not call it a read.
    pub truncated: bool,
    /// Current expression / query nesting, bounded by [`MAX_DEPTH`].
    depth: usize,
}

/// Deeper nesting is not walked: sqlparser builds left-deep trees for long `a + b + c ...` chains without a
/// recursion limit, and walking one must not exhaust a task's stack.
const MAX_DEPTH: usize = 128;

/// Lower-cased dotted name without quotes: `"Public"."Users"` -> `public.users`.
pub(crate) fn object_name(name: &ObjectName) -> String {
    let mut out = String::new();
    for part in &name.0 {
        if !out.is_empty() {
            out.push('.');
        }
        match part.as_ident() {
            Some(ident) => out.push_str(&ident.value.to_lowercase()),
            None => out.push_str(&part.to_string().to_lowercase()),
        }
    }
    out
}

impl Walk {
    /// Records a table name unless it names a CTE or was already recorded.
    pub fn table(&mut self, name: &ObjectName) {
        self.table_text(object_name(name));
    }

    /// Records an already lower-cased table name unless it names a CTE or was already recorded.
    pub fn table_text(&mut self, name: String) {
        if !self.tables.contains(&name) && !self.ctes.contains(&name) {
            self.tables.push(name);
        }
    }

    /// Walks a query: its CTEs, body and locking clauses.
    pub fn query(&mut self, q: &Query) {
        if self.depth >= MAX_DEPTH {
            self.truncated = true;
            return;
        }
        self.depth += 1;
        self.query_inner(q);
        self.depth -= 1;
    }

    fn query_inner(&mut self, q: &Query) {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.ctes.push(cte.alias.name.value.to_lowercase());
            }
            // A CTE name seen before its definition was recorded as a table; drop it now.
            self.tables.retain(|t| !self.ctes.contains(t));
            for cte in &with.cte_tables {
                self.query(&cte.query);
            }
        }
        self.set_expr(&q.body);
        if !q.locks.is_empty() {
            self.locking = true;
        }
    }

    fn set_expr(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Values(v) => v.rows.iter().flat_map(|r| r.content.iter()).for_each(|e| self.expr(e)),
            SetExpr::Insert(st) | SetExpr::Update(st) | SetExpr::Delete(st) | SetExpr::Merge(st) => {
                self.dml_statement(st)
            }
            SetExpr::Table(t) => {
                if let Some(name) = &t.table_name {
                    let full = match &t.schema_name {
                        Some(s) => format!("{}.{}", s.value, name.value),
                        None => name.value.clone(),
                    };
                    self.table_text(full.to_lowercase());
                }
            }
        }
    }

    /// A DML statement met inside a query (CTE body or query body): records its kind and tables.
    pub fn dml_statement(&mut self, st: &Statement) {
        let kind = match st {
            Statement::Insert(i) => {
                if let sqlparser::ast::TableObject::TableName(n) = &i.table {
                    self.table(n);
                }
                if let Some(src) = &i.source {
                    self.query(src);
                }
                Kind::Insert
            }
            Statement::Update(u) => {
                self.table_with_joins(&u.table);
                if let Some(from) = &u.from {
                    let (sqlparser::ast::UpdateTableFromKind::BeforeSet(f)
                    | sqlparser::ast::UpdateTableFromKind::AfterSet(f)) = from;
                    f.iter().for_each(|t| self.table_with_joins(t));
                }
                u.assignments.iter().for_each(|a| self.expr(&a.value));
                self.opt_expr(u.selection.as_ref());
                Kind::Update
            }
            Statement::Delete(d) => {
                d.tables.iter().for_each(|t| self.table(t));
                let (sqlparser::ast::FromTable::WithFromKeyword(f) | sqlparser::ast::FromTable::WithoutKeyword(f)) =
                    &d.from;
                f.iter().for_each(|t| self.table_with_joins(t));
                d.using.iter().flatten().for_each(|t| self.table_with_joins(t));
                self.opt_expr(d.selection.as_ref());
                Kind::Delete
            }
            Statement::Merge(m) => {
                self.factor(&m.table);
                self.factor(&m.source);
                Kind::Update
            }
            _ => Kind::Other,
        };
        self.dml.get_or_insert(kind);
    }

    fn select(&mut self, s: &Select) {
        s.from.iter().for_each(|t| self.table_with_joins(t));
        for item in &s.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                self.expr(e);
            }
        }
        self.opt_expr(s.selection.as_ref());
        match &s.group_by {
            GroupByExpr::All(_) => self.aggregates = true,
            GroupByExpr::Expressions(v, _) => self.aggregates |= !v.is_empty(),
        }
        if s.having.is_some() || !s.named_window.is_empty() {
            self.aggregates = true;
        }
        self.opt_expr(s.having.as_ref());
        if s.into.is_some() {
            self.select_into = true;
        }
    }

    fn table_with_joins(&mut self, t: &TableWithJoins) {
        self.factor(&t.relation);
        self.joins = self.joins.saturating_add(u16::try_from(t.joins.len()).unwrap_or(u16::MAX));
        t.joins.iter().for_each(|j| self.factor(&j.relation));
    }

    fn factor(&mut self, f: &TableFactor) {
        match f {
            TableFactor::Table { name, .. } => self.table(name),
            TableFactor::Derived { subquery, .. } => self.query(subquery),
            TableFactor::NestedJoin { table_with_joins, .. } => self.table_with_joins(table_with_joins),
            TableFactor::TableFunction { expr, .. } => self.expr(expr),
            TableFactor::UNNEST { array_exprs, .. } => array_exprs.iter().for_each(|e| self.expr(e)),
            TableFactor::Pivot { table, .. } | TableFactor::Unpivot { table, .. } => self.factor(table),
            _ => {}
        }
    }

    fn opt_expr(&mut self, e: Option<&Expr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    /// Walks the expression forms that can hold subqueries or aggregate calls.
    fn expr(&mut self, e: &Expr) {
        if self.depth >= MAX_DEPTH {
            self.truncated = true;
            return;
        }
        self.depth += 1;
        self.expr_inner(e);
        self.depth -= 1;
    }

    fn expr_inner(&mut self, e: &Expr) {
        match e {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => self.query(q),
            Expr::In { expr, target, .. } => {
                self.expr(expr);
                match target {
                    InTarget::List(list) => list.iter().for_each(|e| self.expr(e)),
                    InTarget::Subquery(q) => self.query(q),
                    InTarget::Unnest(e) => self.expr(e),
                    _ => {}
                }
            }
            Expr::BinaryOp { left, right, .. }
            | Expr::AnyOp { left, right, .. }
            | Expr::AllOp { left, right, .. }
            | Expr::IsDistinctFrom(left, right)
            | Expr::IsNotDistinctFrom(left, right) => {
                self.expr(left);
                self.expr(right);
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::Cast { expr, .. }
            | Expr::Collate { expr, .. }
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr)
            | Expr::IsNotTrue(expr)
            | Expr::IsNotFalse(expr)
            | Expr::Named { expr, .. } => self.expr(expr),
            Expr::Between { expr, low, high, .. } => {
                self.expr(expr);
                self.expr(low);
                self.expr(high);
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                self.expr(expr);
                self.expr(pattern);
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                self.opt_expr(operand.as_deref());
                for c in conditions {
                    self.expr(&c.condition);
                    self.expr(&c.result);
                }
                self.opt_expr(else_result.as_deref());
            }
            Expr::Tuple(v) => v.iter().for_each(|e| self.expr(e)),
            Expr::Function(f) => self.function(f),
            _ => {}
        }
    }

    fn function(&mut self, f: &sqlparser::ast::Function) {
        let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase());
        let is_aggregate = name.is_some_and(|n| AGGREGATES.contains(&n.as_str()));
        if is_aggregate || f.over.is_some() || !f.within_group.is_empty() {
            self.aggregates = true;
        }
        match &f.args {
            FunctionArguments::Subquery(q) => self.query(q),
            FunctionArguments::List(list) => {
                for arg in &list.args {
                    let (FunctionArg::Unnamed(a)
                    | FunctionArg::Named { arg: a, .. }
                    | FunctionArg::ExprNamed { arg: a, .. }) = arg;
                    if let FunctionArgExpr::Expr(e) = a {
                        self.expr(e);
                    }
                }
            }
            FunctionArguments::None => {}
        }
    }
}
