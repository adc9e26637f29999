//! The management commands of the `switchyard` binary (DESIGN §8): `optimize` and `monitor`.
//!
//! Each talks to a running proxy's control port (`listen.admin`, PostgreSQL protocol, `[admin]` login) when one
//! is configured and answers, and otherwise works standalone: against the configured backends directly (table
//! maintenance, connection usage) and the history store (snapshots, slow queries). Output is a human table by
//! default and one JSON document (`monitor --continuous`: one JSON object per line) with `--json`; progress goes
//! to stderr.
//!
//! Exit codes, for scripts: [`OK`] 0 everything done; [`PARTIAL`] 1 some of it failed (a table, a backend);
//! [`USAGE`] 2 bad configuration or usage, or a capability not available yet (`monitor --alert`);
//! [`UNREACHABLE`] 3 nothing needed could be reached (no control port, backend or store).
//!
//! Deliberately not here: argument parsing (`main.rs`, clap) and the commands' logic (`maintain`, `store`).

mod backend;
mod control;
mod monitor;
mod optimize;
mod table;

pub use control::{Control, ResultSet};
pub use monitor::{MonitorArgs, monitor};
pub use optimize::{OptimizeArgs, optimize};

/// Everything asked for was done.
pub const OK: u8 = 0;
/// Some of it failed: a table's statement, a backend, a command.
pub const PARTIAL: u8 = 1;
/// Bad configuration or usage, or a capability that is not available yet.
pub const USAGE: u8 = 2;
/// Nothing needed could be reached.
pub const UNREACHABLE: u8 = 3;

/// Prints a progress or status line on stderr (stdout stays clean for tables and JSON).
fn progress(line: impl AsRef<str>) {
    eprintln!("{}", line.as_ref());
}

/// Opens the history store of `config`, or says on stderr why not.
async fn open_store(config: &crate::config::Config) -> Option<crate::store::Store> {
    match crate::store::Store::open(&config.store_url()).await {
        Ok(store) => Some(store),
        Err(e) => {
            progress(format!("store not available: {e}"));
            None
        }
    }
}
