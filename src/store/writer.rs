//! The batched writer: a bounded queue in front of one task that writes records in batches and prunes old history.
//!
//! [`Writer::push`] never waits: a full queue drops the record and counts it, so nothing on the data path ever
//! waits on the store. The task writes when `batch_size` records are queued or when the oldest queued record has
//! waited `flush_interval`; it deletes history older than `retention` when it starts and then once an hour; on
//! shutdown it writes what is queued and ends. A failed write is logged (target `database`), its rows are counted
//! in [`Writer::failed`] and dropped, and the task carries on.
//!
//! Deliberately not here: retries. A batch that failed is not written again; the next one may well succeed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Record, Store};
use crate::config;

/// How often the task deletes history older than the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A handle on the writer task. Cheap to clone; the task ends on shutdown or when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    task: TaskTracker,
}

/// What the handles and the task count together.
#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
}

/// What goes through the queue.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "nearly every message is a row; boxing would allocate for each")]
enum Message {
    /// A row to write.
    Row(Record),
    /// Write everything queued before this message, then answer.
    Flush(oneshot::Sender<()>),
}

impl Store {
    /// Spawns the writer task for this store, configured by `cfg`, ending when `shutdown` is cancelled (after
    /// writing what is queued) or when every [`Writer`] is dropped.
    pub fn spawn_writer(&self, cfg: &config::Store, shutdown: CancellationToken) -> Writer {
        let (queue, rx) = mpsc::channel(cfg.queue.max(1));
        let counters = Arc::new(Counters::default());
        let task = TaskTracker::new();
        let batch_size = cfg.batch_size.max(1);
        let state = Task {
            store: self.clone(),
            rx,
            counters: counters.clone(),
            batch: Vec::with_capacity(batch_size.min(4096)),
            batch_size,
            flush_interval: cfg.flush_interval,
            retention: cfg.retention,
        };
        task.spawn(state.run(shutdown));
        task.close();
        Writer { queue, counters, task }
    }
}

impl Writer {
    /// Queues `record` without waiting. Returns false, and counts a drop, if the queue is full or the task is gone.
    pub fn push(&self, record: Record) -> bool {
        match self.queue.try_send(Message::Row(record)) {
            Ok(()) => true,
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Returns once every record pushed before this call has been written (or has failed). Returns at once if the
    /// task has ended. Waits for room in the queue, so never call it on the data path.
    pub async fn flush(&self) {
        let (done, answered) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            // An error means the task ended without answering: nothing more will be written either way.
            let _ = answered.await;
        }
    }

    /// Returns once the task has ended (after shutdown, having written what was queued).
    pub async fn finished(&self) {
        self.task.wait().await;
    }

    /// Records dropped because the queue was full or the task had ended.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Records lost because their batch failed to write.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Batches written (each one transaction).
    pub fn batches(&self) -> u64 {
        self.counters.batches.load(Ordering::Relaxed)
    }
}

/// The writer task's state.
struct Task {
    store: Store,
    rx: mpsc::Receiver<Message>,
    counters: Arc<Counters>,
    batch: Vec<Record>,
    batch_size: usize,
    flush_interval: Duration,
    retention: Duration,
}

impl Task {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // When the oldest queued record has waited long enough; None while nothing is queued.
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                message = self.rx.recv() => match message {
                    Some(message) => {
                        if self.batch.is_empty() {
                            deadline = Some(Instant::now() + self.flush_interval);
                        }
                        self.handle(message).await;
                        if self.batch.is_empty() {
                            deadline = None;
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.write().await;
                    deadline = None;
                }
                _ = prune.tick() => self.prune().await,
            }
        }
        // Refuse new records, then write what was queued before.
        self.rx.close();
        while let Some(message) = self.rx.recv().await {
            self.handle(message).await;
        }
        self.write().await;
    }

    /// Queues a row (writing when the batch is full) or writes and answers a flush.
    async fn handle(&mut self, message: Message) {
        match message {
            Message::Row(record) => {
                self.batch.push(record);
                if self.batch.len() >= self.batch_size {
                    self.write().await;
                }
            }
            Message::Flush(done) => {
                self.write().await;
                // The caller may have stopped waiting; that is its business.
                let _ = done.send(());
            }
        }
    }

    /// Writes the queued batch, if any, in one transaction.
    async fn write(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let rows = self.batch.len() as u64;
        match self.store.insert(&self.batch).await {
            Ok(()) => {
                self.counters.written.fetch_add(rows, Ordering::Relaxed);
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.counters.failed.fetch_add(rows, Ordering::Relaxed);
                tracing::warn!(target: "database", store = %self.store.url(), rows, error = %err, "store write failed; rows dropped");
            }
        }
        self.batch.clear();
    }

    /// Deletes history older than the retention.
    async fn prune(&self) {
        let Ok(retention) = chrono::Duration::from_std(self.retention) else { return };
        let Some(cutoff) = chrono::Utc::now().checked_sub_signed(retention) else { return };
        match self.store.prune(cutoff).await {
            Ok(deleted) => tracing::debug!(target: "database", deleted, %cutoff, "store pruned"),
            Err(err) => {
                tracing::warn!(target: "database", store = %self.store.url(), error = %err, "store prune failed")
            }
        }
    }
}
