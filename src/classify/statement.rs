//! One parsed sqlparser [`Statement`] -> [`Facts`].
//!
//! The AST decides what the keyword fallback would guess: the kind hidden behind `WITH` (a data-modifying
//! CTE), locking clauses, `SELECT .. INTO`, tables, joins and aggregates, transaction access modes, temporary
//! tables, WITH HOLD cursors. Session statements (SET, RESET, DISCARD, USE) are read from tokens by
//! [`super::session`] so both paths agree, and statements whose kind is plain from their first keyword (DDL,
//! SHOW, VACUUM ...) go to [`super::fallback`]. Side-effect functions are not looked for here (see
//! [`super::scan`]).

use sqlparser::ast::{Query, SetExpr, Statement, TransactionAccessMode, TransactionMode};

use super::facts::{Facts, Src};
use super::walk::{Walk, object_name};
use super::{Kind, PinReason, SessionEffect, TxnEffect, fallback, session};

/// Classifies a parsed statement; `src` holds the same statement's tokens.
pub(crate) fn classify(st: &Statement, src: &Src) -> Facts {
    match st {
        Statement::Query(q) => query(q),
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) | Statement::Merge(_) => dml(st),
        Statement::Truncate(t) => {
            let mut f = Facts::new(Kind::Delete, false);
            f.tables = t.table_names.iter().map(|n| object_name(&n.name)).collect();
            f
        }
        Statement::StartTransaction { modes, .. } => {
            let read_only = modes.contains(&TransactionMode::AccessMode(TransactionAccessMode::ReadOnly));
            Facts::txn(if read_only { TxnEffect::BeginReadOnly } else { TxnEffect::Begin })
        }
        Statement::Commit { .. } => Facts::txn(TxnEffect::Commit),
        Statement::Rollback { savepoint: Some(_), .. } => Facts::txn(TxnEffect::None),
        Statement::Rollback { .. } => Facts::txn(TxnEffect::Rollback),
        Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => Facts::txn(TxnEffect::None),
        Statement::Set(_) => session::set(src),
        Statement::Reset(_) => session::reset(src),
        Statement::Discard { .. } => session::discard(src),
        Statement::Use(_) => session::use_db(src),
        Statement::Explain { analyze, statement, .. } => explain(*analyze, statement, src),
        Statement::Call(_) => Facts::new(Kind::Call, false),
        Statement::Copy { .. } | Statement::LoadData { .. } => Facts::new(Kind::Copy, false),
        Statement::CreateTable(ct) => {
            let mut w = Walk::default();
            w.table(&ct.name);
            if let Some(q) = &ct.query {
                w.query(q);
            }
            let mut f = with_walk(Facts::new(Kind::Ddl, false), w);
            if ct.temporary {
                f.session = SessionEffect::Pin(PinReason::TempTable);
            }
            f
        }
        Statement::Declare { stmts, .. } => {
            let hold = stmts.iter().any(|d| d.hold == Some(true));
            pinned_if(hold, PinReason::HoldCursor)
        }
        Statement::Prepare { .. } => pinned_if(true, PinReason::SqlPrepare),
        Statement::LockTables { .. } => pinned_if(true, PinReason::LockTables),
        Statement::LISTEN { .. } => pinned_if(true, PinReason::Listen),
        _ => fallback::classify(src),
    }
}

fn pinned_if(pin: bool, reason: PinReason) -> Facts {
    let session = if pin { SessionEffect::Pin(reason) } else { SessionEffect::None };
    Facts { session, ..Facts::new(Kind::Other, false) }
}

fn with_walk(mut f: Facts, w: Walk) -> Facts {
    f.tables = w.tables;
    f.joins = w.joins;
    f.aggregates = w.aggregates;
    f.locking = w.locking;
    f
}

/// A query: read-only unless it locks, selects INTO something, or modifies data in a CTE or its body.
fn query(q: &Query) -> Facts {
    let mut w = Walk::default();
    w.query(q);
    let kind = match &*q.body {
        SetExpr::Insert(_) => Kind::Insert,
        SetExpr::Update(_) | SetExpr::Merge(_) => Kind::Update,
        SetExpr::Delete(_) => Kind::Delete,
        _ => w.dml.unwrap_or(Kind::Select),
    };
    let read_only = w.dml.is_none() && !w.locking && !w.select_into && !w.truncated;
    with_walk(Facts::new(kind, read_only), w)
}

/// INSERT / UPDATE / DELETE / MERGE.
fn dml(st: &Statement) -> Facts {
    let mut w = Walk::default();
    w.dml_statement(st);
    let kind = w.dml.unwrap_or(Kind::Other);
    with_walk(Facts::new(kind, false), w)
}

/// EXPLAIN: a read (kind Show) unless it is EXPLAIN ANALYZE, which runs the statement and so is classified as it.
fn explain(analyze: bool, inner: &Statement, src: &Src) -> Facts {
    let target = fallback::explain_target(src).unwrap_or(src.toks.len());
    let inner_src = Src { toks: src.toks.get(target..).unwrap_or(&[]), ..*src };
    let facts = classify(inner, &inner_src);
    // `EXPLAIN (ANALYZE, BUFFERS) ...` keeps ANALYZE in its option list, not in the flag.
    if analyze || fallback::explain_analyzes(src, target) {
        facts
    } else {
        let (txn, session) = (TxnEffect::None, SessionEffect::None);
        Facts { kind: Kind::Show, read_only: true, locking: false, txn, session, ..facts }
    }
}
