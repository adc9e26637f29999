//! The scheduler inside `serve` (DESIGN §9): named jobs on cron expressions (`[schedule]`), one task per job,
//! each run recorded as a [`JobRunRow`] in the store.
//!
//! Missed runs are not made up: a job's first run is its first fire time after both "now" and the
//! `scheduled_for` of its latest recorded run, so a proxy that was down at 02:00 waits for the next 02:00, and one
//! restarted just after a run does not run it again. A run that lasts past later fire times skips them (they are
//! not queued). Time comes from a [`Clock`], so tests drive the scheduler with a fake one.
//!
//! Deliberately not here: what a job does (the caller passes tasks; [`from_config`] builds the standard ones
//! over `maintain` and `telemetry`), and coordination between several proxies sharing one store.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use croner::Cron;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::maintain::{Action, Maintainer};
use crate::store::{JobRunRow, Record, Store, Writer};
use crate::telemetry::Telemetry;

/// Parses a cron expression (`minute hour day month weekday`, optionally with a leading seconds field).
/// An empty (or blank) expression is `Ok(None)`: the job is off.
pub fn parse_cron(expr: &str) -> Result<Option<Cron>, String> {
    if expr.trim().is_empty() {
        return Ok(None);
    }
    expr.parse::<Cron>().map(Some).map_err(|e| format!("`{expr}` is not a cron expression: {e}"))
}

/// Whose wall clock cron expressions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The machine's local time zone.
    Local,
    /// UTC.
    Utc,
}

impl Zone {
    /// `utc` is UTC; anything else (validated to be `local`) is local time.
    pub fn from_config(name: &str) -> Zone {
        if name == "utc" { Zone::Utc } else { Zone::Local }
    }
}

/// The first time `cron` fires strictly after `after`, read in `zone`.
pub fn next_fire(cron: &Cron, zone: Zone, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match zone {
        Zone::Utc => cron.find_next_occurrence(&after, false).ok(),
        Zone::Local => {
            cron.find_next_occurrence(&after.with_timezone(&Local), false).ok().map(|t| t.with_timezone(&Utc))
        }
    }
}

/// A job's first fire time on start: after now and after the fire time of its latest recorded run.
pub fn first_fire(
    cron: &Cron,
    zone: Zone,
    now: DateTime<Utc>,
    last_scheduled: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    next_fire(cron, zone, last_scheduled.map_or(now, |last| last.max(now)))
}

/// Where the scheduler gets the time and how it waits.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Resolves at (or after) `at`.
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// The system clock. Sleeps in steps of at most a minute, so a wall-clock jump delays a job by a minute at most.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(Duration::from_secs(60))).await;
            }
        })
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `ok`, `error`, `skipped` or `cancelled`, as stored in `job_runs.outcome`.
    pub outcome: &'static str,
    /// A summary or the error.
    pub detail: Option<String>,
}

impl Outcome {
    /// A successful run.
    pub fn ok(detail: impl Into<String>) -> Outcome {
        Outcome { outcome: "ok", detail: Some(detail.into()) }
    }

    /// A failed run.
    pub fn error(detail: impl Into<String>) -> Outcome {
        Outcome { outcome: "error", detail: Some(detail.into()) }
    }
}

/// What a job does when it fires.
pub type Task = Arc<dyn Fn() -> BoxFuture<'static, Outcome> + Send + Sync>;

/// A named job on a cron expression.
pub struct Job {
    /// The name in `job_runs.job`.
    pub name: String,
    /// When it fires.
    pub cron: Cron,
    /// What it does.
    pub task: Task,
}

/// Jobs, a clock and where runs are recorded.
pub struct Scheduler {
    jobs: Vec<Job>,
    zone: Zone,
    clock: Arc<dyn Clock>,
    store: Option<Store>,
    writer: Option<Writer>,
}

impl Scheduler {
    /// An empty scheduler. `store` is read for each job's latest run on start; `writer` records runs.
    pub fn new(zone: Zone, clock: Arc<dyn Clock>, store: Option<Store>, writer: Option<Writer>) -> Scheduler {
        Scheduler { jobs: Vec::new(), zone, clock, store, writer }
    }

    /// Adds a job.
    pub fn add(&mut self, name: impl Into<String>, cron: Cron, task: Task) {
        self.jobs.push(Job { name: name.into(), cron, task });
    }

    /// The names of the jobs added.
    pub fn job_names(&self) -> Vec<&str> {
        self.jobs.iter().map(|j| j.name.as_str()).collect()
    }

    /// Starts one task per job; they end when `shutdown` is cancelled (a run in progress is abandoned and
    /// recorded as `cancelled`). Wait on the returned tracker for them to end.
    pub fn spawn(self, shutdown: CancellationToken) -> TaskTracker {
        let tracker = TaskTracker::new();
        for job in self.jobs {
            let runner = Runner {
                job,
                zone: self.zone,
                clock: self.clock.clone(),
                store: self.store.clone(),
                writer: self.writer.clone(),
            };
            tracker.spawn(runner.run(shutdown.clone()));
        }
        tracker.close();
        tracker
    }
}

/// One job's loop.
struct Runner {
    job: Job,
    zone: Zone,
    clock: Arc<dyn Clock>,
    store: Option<Store>,
    writer: Option<Writer>,
}

impl Runner {
    async fn run(self, shutdown: CancellationToken) {
        let name = self.job.name.as_str();
        let last = match &self.store {
            Some(store) => match store.last_job_run(name).await {
                Ok(run) => run.map(|r| r.scheduled_for),
                Err(e) => {
                    tracing::warn!(job = name, error = %e, "could not read the job's last run; scheduling from now");
                    None
                }
            },
            None => None,
        };
        let mut next = first_fire(&self.job.cron, self.zone, self.clock.now(), last);
        while let Some(at) = next {
            tracing::debug!(job = name, at = %at, "next run");
            tokio::select! {
                () = self.clock.sleep_until(at) => {}
                () = shutdown.cancelled() => return,
            }
            let started_at = self.clock.now();
            tracing::info!(job = name, scheduled_for = %at, "job started");
            let outcome = tokio::select! {
                biased;
                o = (self.job.task)() => o,
                () = shutdown.cancelled() => Outcome { outcome: "cancelled", detail: Some("the proxy shut down".into()) },
            };
            let finished_at = self.clock.now();
            tracing::info!(
                job = name,
                outcome = outcome.outcome,
                detail = outcome.detail.as_deref().unwrap_or(""),
                "job finished"
            );
            if let Some(w) = &self.writer {
                w.push(Record::JobRun(JobRunRow {
                    job: name.to_string(),
                    scheduled_for: at,
                    started_at,
                    finished_at,
                    outcome: outcome.outcome.to_string(),
                    detail: outcome.detail,
                }));
            }
            if shutdown.is_cancelled() {
                return;
            }
            // Fire times that passed while the job ran are skipped, not queued.
            next = next_fire(&self.job.cron, self.zone, at.max(finished_at));
        }
        tracing::warn!(job = name, "the cron expression never fires again; job stopped");
    }
}

/// A task running `actions` on the tables that need them.
pub fn maintenance_task(maintainer: Arc<Maintainer>, actions: &'static [Action]) -> Task {
    Arc::new(move || {
        let maintainer = maintainer.clone();
        Box::pin(async move {
            match maintainer.run_with(actions, &|_| {}).await {
                Ok((rows, survey_errors)) => summarise(&rows, &survey_errors),
                Err(e) => Outcome::error(e.to_string()),
            }
        })
    })
}

/// `ok` with counts, or `error` when a table or a backend failed.
fn summarise(rows: &[crate::store::MaintenanceRow], survey_errors: &[crate::maintain::SurveyError]) -> Outcome {
    let count = |o: &str| rows.iter().filter(|r| r.outcome == o).count();
    let (ok, skipped, failed) = (count("ok"), count("skipped"), count("error"));
    let mut detail = format!("{} tables: {ok} ok, {skipped} skipped, {failed} failed", rows.len());
    for e in survey_errors {
        detail.push_str(&format!(
            "; {} {} unreadable: {}",
            crate::maintain::engine_name(e.engine),
            e.server,
            e.message
        ));
    }
    if failed > 0 || !survey_errors.is_empty() { Outcome::error(detail) } else { Outcome::ok(detail) }
}

/// The standard jobs from `[schedule]`: `analyze` and `optimize` over `maintainer`, `monitor` logging a
/// health summary. Expressions were validated with the configuration; an empty one leaves
/// its job out.
pub fn from_config(
    config: &Config,
    maintainer: Arc<Maintainer>,
    telemetry: Arc<Telemetry>,
    store: Option<Store>,
    writer: Option<Writer>,
) -> Scheduler {
    let s = &config.schedule;
    let mut scheduler = Scheduler::new(Zone::from_config(&s.timezone), Arc::new(SystemClock), store, writer);
    // Snapshots into the store run on their own `monitor.snapshot_interval` tick (see `telemetry`); this job is
    // the seed's periodic `db:monitor` check: a health summary on the `performance` channel (alerts hook in here).
    let snapshot: Task = Arc::new(move || {
        let telemetry = telemetry.clone();
        Box::pin(async move { Outcome::ok(telemetry.check()) })
    });
    let jobs: [(&str, &str, Task); 3] = [
        ("analyze", &s.analyze, maintenance_task(maintainer.clone(), &[Action::Analyze])),
        ("optimize", &s.optimize, maintenance_task(maintainer, &[Action::Optimize])),
        ("monitor", &s.monitor, snapshot),
    ];
    for (name, expr, task) in jobs {
        match parse_cron(expr) {
            Ok(Some(cron)) => scheduler.add(name, cron, task),
            Ok(None) => {}
            Err(e) => tracing::error!(job = name, "{e}; job not scheduled"),
        }
    }
    scheduler
}
