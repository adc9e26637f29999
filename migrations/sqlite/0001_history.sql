-- Switchyard's history store on SQLite (DESIGN §10). The PostgreSQL twin is ../postgres/0001_history.sql; keep
-- the two in step. Timestamps are TEXT in RFC 3339 UTC with microseconds (`2025-01-31T12:00:00.000000Z`, fixed
-- width, so text order is time order), JSON is TEXT, counters are INTEGER, durations and rates are REAL.
-- Columns avoid SQL keywords (user_name, database_name, row_count, max_size).

-- One row per monitor snapshot and engine.
CREATE TABLE database_performance_metrics (
    id                   INTEGER PRIMARY KEY,
    recorded_at          TEXT    NOT NULL,
    engine               TEXT    NOT NULL,
    connection_usage_pct REAL    NOT NULL,
    avg_query_time_ms    REAL    NOT NULL,
    slow_query_pct       REAL    NOT NULL,
    total_queries        INTEGER NOT NULL,
    slow_queries         INTEGER NOT NULL,
    errors               INTEGER NOT NULL,
    queries_per_second   REAL    NOT NULL,
    active_connections   INTEGER NOT NULL,
    max_connections      INTEGER NOT NULL
);
CREATE INDEX database_performance_metrics_recorded_at ON database_performance_metrics (recorded_at);

-- One row per slow statement, with its bindings, EXPLAIN plan and suggestions.
CREATE TABLE slow_query_logs (
    id            INTEGER PRIMARY KEY,
    recorded_at   TEXT    NOT NULL,
    engine        TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    query_type    TEXT    NOT NULL,
    sql           TEXT    NOT NULL,
    bindings      TEXT    NOT NULL,
    duration_ms   REAL    NOT NULL,
    pool          TEXT    NOT NULL,
    backend       TEXT    NOT NULL,
    user_name     TEXT    NOT NULL,
    database_name TEXT    NOT NULL,
    row_count     INTEGER NOT NULL,
    error         TEXT,
    explain       TEXT,
    suggestions   TEXT    NOT NULL
);
CREATE INDEX slow_query_logs_recorded_at ON slow_query_logs (recorded_at);
CREATE INDEX slow_query_logs_digest ON slow_query_logs (digest);

-- One row per pool (server, role, user, database) per snapshot.
CREATE TABLE connection_pool_stats (
    id              INTEGER PRIMARY KEY,
    recorded_at     TEXT    NOT NULL,
    engine          TEXT    NOT NULL,
    server          TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    user_name       TEXT    NOT NULL,
    database_name   TEXT    NOT NULL,
    total           INTEGER NOT NULL,
    idle            INTEGER NOT NULL,
    active          INTEGER NOT NULL,
    waiting         INTEGER NOT NULL,
    max_size        INTEGER NOT NULL,
    utilisation_pct REAL    NOT NULL,
    checkouts       INTEGER NOT NULL,
    timeouts        INTEGER NOT NULL,
    avg_wait_ms     REAL    NOT NULL
);
CREATE INDEX connection_pool_stats_recorded_at ON connection_pool_stats (recorded_at);

-- The backup catalog (DESIGN §11). Not history: retention never prunes it.
CREATE TABLE backup_logs (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    engine         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    started_at     TEXT    NOT NULL,
    finished_at    TEXT,
    size_bytes     INTEGER,
    stored_bytes   INTEGER,
    checksum       TEXT,
    location       TEXT,
    start_position TEXT,
    end_position   TEXT,
    parent         TEXT,
    verify_status  TEXT,
    verified_at    TEXT,
    error          TEXT
);
CREATE INDEX backup_logs_started_at ON backup_logs (started_at);

-- Per-digest statistics, one row per digest per snapshot.
CREATE TABLE query_digests (
    id          INTEGER PRIMARY KEY,
    recorded_at TEXT    NOT NULL,
    engine      TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    query_type  TEXT    NOT NULL,
    normalized  TEXT    NOT NULL,
    calls       INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    row_count   INTEGER NOT NULL,
    slow        INTEGER NOT NULL,
    total_ms    REAL    NOT NULL,
    min_ms      REAL    NOT NULL,
    max_ms      REAL    NOT NULL,
    mean_ms     REAL    NOT NULL,
    p50_ms      REAL    NOT NULL,
    p95_ms      REAL    NOT NULL,
    p99_ms      REAL    NOT NULL,
    p999_ms     REAL    NOT NULL,
    first_seen  TEXT    NOT NULL,
    last_seen   TEXT    NOT NULL
);
CREATE INDEX query_digests_recorded_at ON query_digests (recorded_at);
CREATE INDEX query_digests_digest ON query_digests (digest);

-- ANALYZE / OPTIMIZE runs, one row per table. action: analyze | optimize; outcome: ok | error | skipped.
CREATE TABLE maintenance_runs (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    engine      TEXT NOT NULL,
    server      TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    detail      TEXT
);
CREATE INDEX maintenance_runs_started_at ON maintenance_runs (started_at);

-- Scheduled job runs; the scheduler reads the last run of each job.
CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY,
    job           TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    detail        TEXT
);
CREATE INDEX job_runs_started_at ON job_runs (started_at);
CREATE INDEX job_runs_job_started_at ON job_runs (job, started_at);

-- Alert history: one row per firing, resolved_at set when it resolves.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    state       TEXT NOT NULL,
    value       REAL NOT NULL,
    message     TEXT NOT NULL,
    fired_at    TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX alerts_fired_at ON alerts (fired_at);
