//! Fire times, the no-catch-up rule, and a scheduler run on a fake clock recording into an in-memory store.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeZone;
use parking_lot::Mutex;

use super::*;
use crate::config;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid time")
}

fn cron(expr: &str) -> Cron {
    parse_cron(expr).expect("valid").expect("not empty")
}

#[test]
fn parses_defaults_and_refuses_garbage() {
    let d = config::Schedule::default();
    for expr in [&d.analyze, &d.optimize, &d.monitor] {
        assert!(parse_cron(expr).expect("default parses").is_some(), "{expr}");
    }
    assert_eq!(parse_cron("  ").expect("blank is off"), None);
    assert!(parse_cron("*/5 * * *").is_err(), "four fields");
    assert!(parse_cron("0 25 * * *").is_err(), "hour 25");
    assert!(parse_cron("*/2 * * * * *").is_ok(), "with seconds");
}

#[test]
fn default_expressions_fire_when_design_says() {
    let d = config::Schedule::default();
    // 2026-03-04 is a Wednesday; the Sunday after is 2026-03-08.
    let now = utc(2026, 3, 4, 12, 30, 0);
    assert_eq!(next_fire(&cron(&d.analyze), Zone::Utc, now), Some(utc(2026, 3, 5, 2, 0, 0)));
    assert_eq!(next_fire(&cron(&d.optimize), Zone::Utc, now), Some(utc(2026, 3, 8, 3, 0, 0)));
    assert_eq!(next_fire(&cron(&d.monitor), Zone::Utc, now), Some(utc(2026, 3, 4, 12, 35, 0)));
    assert_eq!(next_fire(&cron(&d.monitor), Zone::Utc, utc(2026, 3, 4, 12, 35, 0)), Some(utc(2026, 3, 4, 12, 40, 0)));
}

#[test]
fn a_missed_run_is_not_made_up_and_a_recorded_run_is_not_repeated() {
    let daily = cron("0 2 * * *");
    // Down at 02:00 today, started at 10:00: today's run is gone, the next is tomorrow's.
    let last = Some(utc(2026, 3, 3, 2, 0, 0));
    assert_eq!(first_fire(&daily, Zone::Utc, utc(2026, 3, 4, 10, 0, 0), last), Some(utc(2026, 3, 5, 2, 0, 0)));
    // Restarted while the clock still says 02:00:00 (or is behind it), after today's run was recorded.
    let today = Some(utc(2026, 3, 4, 2, 0, 0));
    assert_eq!(first_fire(&daily, Zone::Utc, utc(2026, 3, 4, 1, 59, 59), today), Some(utc(2026, 3, 5, 2, 0, 0)));
    // Never ran: the next fire after now.
    assert_eq!(first_fire(&daily, Zone::Utc, utc(2026, 3, 4, 1, 0, 0), None), Some(utc(2026, 3, 4, 2, 0, 0)));
}

/// A clock that jumps to whatever time it is asked to wait for.
struct FakeClock(Mutex<DateTime<Utc>>);

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let mut now = self.0.lock();
        if at > *now {
            *now = at;
        }
        Box::pin(async {})
    }
}

#[tokio::test]
async fn due_jobs_run_and_are_recorded_without_catching_up() {
    let store = Store::open("sqlite::memory:").await.expect("store");
    let shutdown = CancellationToken::new();
    let writer = store.spawn_writer(&config::Store::default(), shutdown.clone());
    // Yesterday's 02:00 run is on record; the proxy starts at 10:00, after today's 02:00 was missed.
    writer.push(Record::JobRun(JobRunRow {
        job: "analyze".into(),
        scheduled_for: utc(2026, 3, 3, 2, 0, 0),
        started_at: utc(2026, 3, 3, 2, 0, 1),
        finished_at: utc(2026, 3, 3, 2, 0, 2),
        outcome: "ok".into(),
        detail: None,
    }));
    writer.flush().await;
    let clock = Arc::new(FakeClock(Mutex::new(utc(2026, 3, 4, 10, 0, 0))));
    let mut scheduler = Scheduler::new(Zone::Utc, clock, Some(store.clone()), Some(writer.clone()));
    let runs = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let (counter, stopper) = (runs.clone(), stop.clone());
    let task: Task = Arc::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let stopper = stopper.clone();
        Box::pin(async move {
            if n == 2 {
                // The scheduler stops after this run, which is still recorded with its own outcome.
                stopper.cancel();
                Outcome::error("second")
            } else {
                Outcome::ok("first")
            }
        })
    });
    scheduler.add("analyze", cron("0 2 * * *"), task);
    assert_eq!(scheduler.job_names(), ["analyze"]);
    let tracker = scheduler.spawn(stop);
    tokio::time::timeout(Duration::from_secs(10), tracker.wait()).await.expect("the job loop ends");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    writer.flush().await;
    let recorded = store.job_runs(Some("analyze"), 10).await.expect("read");
    let times: Vec<_> = recorded.iter().map(|r| (r.scheduled_for, r.outcome.as_str())).collect();
    // Newest first: the two runs on the fake clock (none for the missed 2026-03-04 02:00), then the old one.
    assert_eq!(
        times,
        [(utc(2026, 3, 6, 2, 0, 0), "error"), (utc(2026, 3, 5, 2, 0, 0), "ok"), (utc(2026, 3, 3, 2, 0, 0), "ok")]
    );
    shutdown.cancel();
    writer.finished().await;
}
