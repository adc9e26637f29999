//! The `switchyard` binary: CLI parsing, tracing set-up (`switchyard::logging`) and runtime start. No logic
//! lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard::config::Config;

#[derive(Parser)]
#[command(name = "switchyard", version, about = "PostgreSQL and MySQL wire-protocol proxy")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve {
        /// Configuration file.
        #[arg(long, short, default_value = "proxy.toml", env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration file and list every problem with its key.
    CheckConfig {
        /// Configuration file.
        #[arg(default_value = "proxy.toml")]
        file: PathBuf,
    },
    /// Performance figures, table maintenance, query plans and connection cleanup (no flag = all of them).
    ///
    /// Uses the running proxy's control port when it answers, else works standalone against the configured
    /// backends and the history store. Exit codes: 0 ok, 1 partial failure, 2 bad configuration or usage,
    /// 3 nothing could be reached.
    Optimize {
        /// Show the performance figures (connection usage, query times, slow queries, pools).
        #[arg(long)]
        metrics: bool,
        /// ANALYZE the tables whose statistics are stale.
        #[arg(long)]
        analyze: bool,
        /// Reclaim space: VACUUM (ANALYZE) / OPTIMIZE TABLE the tables with many dead rows or much free space.
        #[arg(long)]
        optimize: bool,
        /// Show plans and suggestions for the slowest statements.
        #[arg(long)]
        explain: bool,
        /// Close stale backend connections (needs the running proxy).
        #[arg(long)]
        cleanup: bool,
        /// Print one JSON document instead of tables.
        #[arg(long)]
        json: bool,
        /// Configuration file.
        #[arg(long, short, default_value = "proxy.toml", env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
    /// Performance figures once, or one line per interval with --continuous until Ctrl-C.
    ///
    /// Exit codes: 0 ok (also when --continuous is stopped by SIGINT / SIGTERM), 1 some backend did not answer,
    /// 2 bad configuration or usage (--alert: notifications are not available yet), 3 nothing could be reached.
    Monitor {
        /// Send alert notifications (not available yet: exits with code 2).
        #[arg(long)]
        alert: bool,
        /// Print a line every --interval seconds until interrupted.
        #[arg(long)]
        continuous: bool,
        /// Seconds between lines with --continuous.
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        interval: u64,
        /// Print JSON (one object per line with --continuous).
        #[arg(long)]
        json: bool,
        /// Configuration file.
        #[arg(long, short, default_value = "proxy.toml", env = "SWITCHYARD_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Optimize { metrics, analyze, optimize, explain, cleanup, json, config } => {
            let args = switchyard::cli::OptimizeArgs { metrics, analyze, optimize, explain, cleanup, json };
            manage(&config, |cfg| Box::pin(switchyard::cli::optimize(cfg, args)))
        }
        Command::Monitor { alert, continuous, interval, json, config } => {
            let args = switchyard::cli::MonitorArgs { alert, continuous, interval, json };
            manage(&config, |cfg| Box::pin(switchyard::cli::monitor(cfg, args)))
        }
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Command::Serve { config } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    return ExitCode::from(2);
                }
            };
            let log_dir = cfg.log_dir();
            let _log_guards = match switchyard::logging::init(&cfg.general.log_level, log_dir.as_deref()) {
                Ok(guards) => guards,
                Err(e) => {
                    eprintln!("switchyard: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let runtime = match cfg.general.worker_threads {
                1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
                0 => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
                n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
            };
            let runtime = match runtime {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("start runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config, cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchyard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Loads `path` and runs a management command on a single-threaded runtime; returns its exit code.
fn manage(
    path: &std::path::Path,
    command: impl FnOnce(std::sync::Arc<Config>) -> std::pin::Pin<Box<dyn std::future::Future<Output = u8>>>,
) -> ExitCode {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(switchyard::cli::USAGE);
        }
    };
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => ExitCode::from(runtime.block_on(command(std::sync::Arc::new(cfg)))),
        Err(e) => {
            eprintln!("start runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the proxy until SIGTERM / SIGINT; SIGHUP reloads `path`.
async fn serve(path: PathBuf, cfg: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handle = switchyard::server::start(cfg).await?;
    // RELOAD on the control port re-reads the same file as SIGHUP.
    handle.set_config_file(path.clone());
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "switchyard started");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match handle.reload_file() {
                Ok(notes) => {
                    for note in notes {
                        tracing::warn!("{note}");
                    }
                    tracing::info!(file = %path.display(), "configuration reloaded");
                }
                Err(e) => tracing::error!(file = %path.display(), "reload refused, keeping the running configuration: {e}"),
            },
        }
    }
    tracing::info!("shutting down: draining sessions");
    handle.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
