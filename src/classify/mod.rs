//! Statement classification: SQL text -> [`Classification`] (kind, read-only, locking, transaction and
//! session effects, tables, routing hint, digest fingerprint).
//!
//! Pure and synchronous: no IO, no config, no globals. A [`Classifier`] caches results by a hash of the exact
//! statement text, so a repeated statement costs one hash lookup and never a parse. On a cache miss the text is
//! parsed with sqlparser in the backend's dialect; when that fails a keyword scanner decides, and anything it
//! does not recognise is treated as a write (routed to the primary).

mod analyze;
pub mod digest;
mod facts;
mod fallback;
mod hint;
pub(crate) mod lex;
mod scan;
mod session;
mod statement;
mod walk;

#[cfg(test)]
mod tests;

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;
use rustc_hash::FxBuildHasher;

pub use analyze::classify_uncached;

/// Which SQL dialect (and so which parser and keyword rules) applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL / MariaDB.
    MySql,
}

/// What sort of statement it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// SELECT / VALUES / TABLE / read-only WITH.
    Select,
    /// INSERT / REPLACE / data-modifying WITH ending in INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE / TRUNCATE.
    Delete,
    /// CREATE / ALTER / DROP / GRANT / COMMENT ...
    Ddl,
    /// BEGIN / START TRANSACTION / COMMIT / ROLLBACK / SAVEPOINT / RELEASE.
    Transaction,
    /// SET / RESET / USE / SET NAMES.
    Session,
    /// SHOW / DESCRIBE / EXPLAIN (without ANALYZE).
    Show,
    /// CALL / DO.
    Call,
    /// COPY / LOAD DATA.
    Copy,
    /// Anything else (VACUUM, ANALYZE, LISTEN, NOTIFY, LOCK ...).
    Other,
}

impl Kind {
    /// Lower-case name used for slow thresholds and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Select => "select",
            Kind::Insert => "insert",
            Kind::Update => "update",
            Kind::Delete => "delete",
            Kind::Ddl => "ddl",
            Kind::Transaction => "transaction",
            Kind::Session => "session",
            Kind::Show => "show",
            Kind::Call => "call",
            Kind::Copy => "copy",
            Kind::Other => "other",
        }
    }
}

/// What the statement does to the transaction state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnEffect {
    /// No transaction control.
    None,
    /// BEGIN / START TRANSACTION (read-write or unspecified).
    Begin,
    /// BEGIN READ ONLY / START TRANSACTION READ ONLY.
    BeginReadOnly,
    /// COMMIT / END.
    Commit,
    /// ROLLBACK / ABORT (not ROLLBACK TO SAVEPOINT, which is `None`).
    Rollback,
}

/// Why a client must keep its backend until it disconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinReason {
    /// LISTEN.
    Listen,
    /// Session-level advisory lock (`pg_advisory_lock`, `GET_LOCK`).
    AdvisoryLock,
    /// CREATE TEMP TABLE / CREATE TEMPORARY TABLE.
    TempTable,
    /// DECLARE ... WITH HOLD.
    HoldCursor,
    /// SQL-level PREPARE.
    SqlPrepare,
    /// MySQL user variables (`SET @x`, `SELECT @x := ...`).
    UserVariable,
    /// LOCK TABLES.
    LockTables,
    /// SQL_CALC_FOUND_ROWS / FOUND_ROWS().
    FoundRows,
    /// `set_config(..., false)` or a similar change the proxy cannot replay.
    UntrackedSet,
}

/// What the statement does to session state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionEffect {
    /// Nothing.
    None,
    /// `SET [SESSION] name ...` (not SET LOCAL): the statement text is replayed on other backends.
    /// `name` is lower-cased (`search_path`, `names` for MySQL `SET NAMES`, `role`, `time zone` -> `timezone`).
    Set {
        /// The parameter set.
        name: String,
    },
    /// `RESET name`.
    Reset {
        /// The parameter reset.
        name: String,
    },
    /// `RESET ALL`.
    ResetAll,
    /// `DISCARD ALL` (also drops prepared statements and unpins).
    DiscardAll,
    /// MySQL `USE db` (COM_INIT_DB is handled by the protocol).
    UseDatabase {
        /// The database named.
        name: String,
    },
    /// State that cannot be moved between backends.
    Pin(PinReason),
}

/// A routing hint written in a leading comment: `/* switchyard: route=write */` or `/* switchyard:analytics */`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hint {
    /// Send to the primary.
    Write,
    /// Send to a replica.
    Read,
    /// Send to an analytics server.
    Analytics,
}

/// Everything the router and monitor need to know about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Statement kind (for multi-statement text: the kind of the first statement).
    pub kind: Kind,
    /// True when the statement cannot change data or state anywhere: a plain read with no locking clause, no
    /// side-effect function, no INTO OUTFILE / SELECT INTO. Only these may go to a replica.
    pub read_only: bool,
    /// FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / LOCK IN SHARE MODE.
    pub locking: bool,
    /// Calls a function with side effects (nextval, setval, pg_advisory_lock, LAST_INSERT_ID(), GET_LOCK ...).
    pub side_effects: bool,
    /// Transaction control effect.
    pub txn: TxnEffect,
    /// Session state effect.
    pub session: SessionEffect,
    /// Routing hint from a leading comment.
    pub hint: Option<Hint>,
    /// Tables referenced, lower-cased, without schema quoting (`schema.table` kept as written, lower-cased).
    pub tables: Vec<String>,
    /// Number of joins in the statement (all SELECT blocks together).
    pub joins: u16,
    /// GROUP BY, aggregate or window function present.
    pub aggregates: bool,
    /// More than one statement in the text (`a; b`).
    pub multi_statement: bool,
    /// 64-bit digest of the normalised text (see [`digest`]).
    pub fingerprint: u64,
    /// True when sqlparser understood it; false when the keyword fallback decided.
    pub parsed: bool,
}

/// A classification cache shared by every session of one engine. Cheap to share behind an `Arc`.
///
/// Two levels. The first is keyed by an Fx hash of the exact statement text; the text is kept and compared on a
/// hit, so a repeated statement costs one hash and no parse. The second is keyed by the digest fingerprint (plus
/// the leading hint, which the digest strips): statements that differ only in literals (`WHERE id = 1` / `= 2`,
/// as simple-protocol clients send them) share one classification and cost a fingerprint (~0.2 µs) instead of a
/// parse (~5 µs). Text whose classification depends on a literal (`set_config(.., false)`) skips the second
/// level. Classification happens outside the locks, so a miss never blocks other sessions' hits.
pub struct Classifier {
    dialect: Dialect,
    /// `None` when the capacity is 0 (no caching).
    cache: Option<Mutex<LruCache<u64, CacheEntry>>>,
    /// Classifications by statement shape; `None` when the capacity is 0.
    shapes: Option<Mutex<LruCache<u64, Arc<Classification>>>>,
}

/// One cached statement: its text (to rule out hash collisions) and its classification.
struct CacheEntry {
    text: Box<str>,
    class: Arc<Classification>,
}

impl Classifier {
    /// A classifier for `dialect` caching up to `capacity` distinct statement texts and as many shapes
    /// (0 disables caching).
    pub fn new(dialect: Dialect, capacity: usize) -> Classifier {
        let cache = NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c)));
        let shapes = NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c)));
        Classifier { dialect, cache, shapes }
    }

    /// The dialect this classifier parses.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Classifies `sql`: from the text cache when this exact text was seen before, else from the shape cache
    /// when a statement of the same digest was, else by parsing.
    pub fn classify(&self, sql: &str) -> Arc<Classification> {
        let (Some(cache), Some(shapes)) = (&self.cache, &self.shapes) else {
            return Arc::new(classify_uncached(self.dialect, sql));
        };
        let key = FxBuildHasher.hash_one(sql.as_bytes());
        if let Some(entry) = cache.lock().get(&key)
            && &*entry.text == sql
        {
            return Arc::clone(&entry.class);
        }
        let normalized = digest::normalize_for(self.dialect, sql);
        let literal_sensitive = normalized.contains("set_config");
        let hint = hint::leading_hint(self.dialect, sql);
        let shape = digest::fnv1a(normalized.as_bytes())
            ^ hint.map_or(0, |h| (h as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if !literal_sensitive && let Some(class) = shapes.lock().get(&shape) {
            // Same shape, other literals: do not fill the text cache with one-off texts.
            return Arc::clone(class);
        }
        let class = Arc::new(classify_uncached(self.dialect, sql));
        if !literal_sensitive {
            shapes.lock().put(shape, Arc::clone(&class));
        }
        cache.lock().put(key, CacheEntry { text: sql.into(), class: Arc::clone(&class) });
        class
    }

    /// Number of statement texts currently cached.
    pub fn cached(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.lock().len())
    }
}
