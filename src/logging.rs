//! Tracing set-up: the stderr log, filtered by `RUST_LOG` or else the configured `log_level`, and, when a log
//! directory is configured, one daily-rotated file per log channel ([`CHANNELS`]).
//!
//! A channel is a tracing target: `tracing::warn!(target: "slow_queries", ...)` goes to
//! `<log_dir>/slow_queries.<YYYY-MM-DD>.log`. Each file takes the events of exactly its target at INFO and
//! above, whatever the stderr filter says; while files are written, channel events stay out of stderr (the
//! slow-query log may carry SQL and bind values the operator asked for, which should not spread to the
//! process log). Without a log directory, channel events go to stderr like any other.
//!
//! Files are written by a background thread through a bounded queue (`tracing-appender`'s non-blocking
//! writer, lossy): logging never blocks the caller, and a burst beyond the queue drops lines. Keep the
//! returned [`LogGuards`] alive until exit: dropping them flushes the queues.
//!
//! Deliberately not here: what is logged, file retention (old files are never removed), and re-opening
//! files on reload.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing::Metadata;
use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The log channels, each a tracing target with its own file.
pub const CHANNELS: [&str; 4] = ["slow_queries", "performance", "database", "backup"];

/// Errors setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `log_level` is not valid `EnvFilter` syntax.
    #[error("log level {filter:?}: {source}")]
    Filter {
        /// The filter text.
        filter: String,
        /// What the parser said.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A channel's log file could not be created.
    #[error("open the {channel} log in {}: {source}", dir.display())]
    File {
        /// The channel.
        channel: &'static str,
        /// The log directory.
        dir: PathBuf,
        /// The appender's error.
        source: tracing_appender::rolling::InitError,
    },
    /// A global subscriber was set already.
    #[error("install the tracing subscriber: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

/// The background writers of the channel files; dropping this flushes and stops them.
#[must_use = "dropping the guards stops the log file writers"]
#[derive(Debug, Default)]
pub struct LogGuards {
    guards: Vec<WorkerGuard>,
}

impl LogGuards {
    /// How many channel files are being written (0 without a log directory).
    pub fn files(&self) -> usize {
        self.guards.len()
    }
}

/// A boxed layer over the plain registry, so that a variable number of them can be stacked.
type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber: stderr filtered by `RUST_LOG` (when set and valid) or else `log_level`,
/// plus one daily file per channel in `log_dir` (created if missing).
pub fn init(log_level: &str, log_dir: Option<&Path>) -> Result<LogGuards, LogError> {
    let (subscriber, guards) = subscriber(log_level, log_dir)?;
    subscriber.try_init()?;
    Ok(guards)
}

/// The subscriber [`init`] installs, without installing it (tests scope it with `with_default`).
pub fn subscriber(
    log_level: &str,
    log_dir: Option<&Path>,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, LogGuards), LogError> {
    let filter = stderr_filter(log_level, std::env::var(EnvFilter::DEFAULT_ENV).ok().as_deref())?;
    let mut guards = LogGuards::default();
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let stderr = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match log_dir {
        Some(dir) => {
            let not_channel = filter_fn(|meta: &Metadata<'_>| !CHANNELS.contains(&meta.target()));
            layers.push(stderr.with_filter(filter.and(not_channel)).boxed());
            for channel in CHANNELS {
                let (layer, guard) = channel_layer(dir, channel)?;
                layers.push(layer);
                guards.guards.push(guard);
            }
        }
        None => layers.push(stderr.with_filter(filter).boxed()),
    }
    Ok((tracing_subscriber::registry().with(layers), guards))
}

/// The stderr filter: `rust_log` (the `RUST_LOG` value) when it is set and parses, else `log_level`, which
/// must parse.
fn stderr_filter(log_level: &str, rust_log: Option<&str>) -> Result<EnvFilter, LogError> {
    if let Some(from_env) = rust_log.and_then(|directives| EnvFilter::try_new(directives).ok()) {
        return Ok(from_env);
    }
    EnvFilter::try_new(log_level).map_err(|source| LogError::Filter { filter: log_level.to_owned(), source })
}

/// The file layer of one channel: daily files `<channel>.<date>.log`, INFO and above, this target only.
fn channel_layer(dir: &Path, channel: &'static str) -> Result<(BoxedLayer, WorkerGuard), LogError> {
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(channel)
        .filename_suffix("log")
        .build(dir)
        .map_err(|source| LogError::File { channel, dir: dir.to_owned(), source })?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let only_channel =
        filter_fn(move |meta: &Metadata<'_>| meta.target() == channel && *meta.level() <= LevelFilter::INFO)
            .with_max_level_hint(LevelFilter::INFO);
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(writer)
        .with_filter(only_channel)
        .boxed();
    Ok((layer, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files in `dir` whose name starts with `<channel>.`, with their contents.
    fn channel_text(dir: &Path, channel: &str) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(dir).expect("read log dir") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{channel}.")) && name.ends_with(".log") {
                text.push_str(&std::fs::read_to_string(entry.path()).expect("read log file"));
            }
        }
        text
    }

    #[test]
    fn channel_events_land_in_their_own_file_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        let (subscriber, guards) = subscriber("info", Some(&logs)).expect("build subscriber");
        assert_eq!(guards.files(), CHANNELS.len());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "slow_queries", digest = "abc123", "slow select took 2.5 s");
            tracing::info!(target: "performance", "snapshot taken");
            tracing::debug!(target: "slow_queries", "debug detail stays out");
            tracing::info!(target: "slow_queries_other", "a longer target is another channel");
            tracing::info!("plain event");
        });
        drop(guards);

        let slow = channel_text(&logs, "slow_queries");
        assert!(slow.contains("slow select took 2.5 s"), "slow_queries file: {slow:?}");
        assert!(slow.contains("digest=\"abc123\""), "slow_queries file: {slow:?}");
        assert!(slow.contains("WARN"), "slow_queries file: {slow:?}");
        assert!(!slow.contains("debug detail"), "slow_queries file: {slow:?}");
        assert!(!slow.contains("snapshot taken") && !slow.contains("plain event") && !slow.contains("longer target"));

        let performance = channel_text(&logs, "performance");
        assert!(performance.contains("snapshot taken"), "performance file: {performance:?}");
        assert!(!performance.contains("slow select"), "performance file: {performance:?}");
        assert!(!performance.contains("plain event"), "performance file: {performance:?}");

        assert_eq!(channel_text(&logs, "backup"), "");
        assert_eq!(channel_text(&logs, "database"), "");
    }

    #[test]
    fn no_log_dir_means_no_files() {
        let (_subscriber, guards) = subscriber("debug", None).expect("build subscriber");
        assert_eq!(guards.files(), 0);
    }

    #[test]
    fn level_comes_from_rust_log_when_it_parses() {
        let err = stderr_filter("switchyard=loud", None).expect_err("bad level refused");
        assert!(err.to_string().contains("switchyard=loud"), "{err}");
        let from_env = stderr_filter("switchyard=loud", Some("warn")).expect("RUST_LOG wins");
        assert_eq!(from_env.max_level_hint(), Some(LevelFilter::WARN));
        let fallback = stderr_filter("debug", Some("switchyard=loud")).expect("bad RUST_LOG falls back");
        assert_eq!(fallback.max_level_hint(), Some(LevelFilter::DEBUG));
    }
}
