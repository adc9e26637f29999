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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
