//! The harness's one error type. Setup errors carry the command, its output or the server log tail, so that a
//! failed cluster start explains itself in the panic message of the first test that needed it.

use std::process::ExitStatus;
use std::time::Duration;

/// Why starting or driving a test cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A helper command exited unsuccessfully.
    #[error("{what} exited with {status}: {output}")]
    Command {
        /// The command, briefly.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its stderr and stdout, trimmed.
        output: String,
    },
    /// A condition polled for did not become true in time.
    #[error("timed out after {waited:?} waiting for {what} (last: {last})")]
    Timeout {
        /// The condition.
        what: String,
        /// How long was waited.
        waited: Duration,
        /// The last observation or error, to explain why.
        last: String,
    },
    /// A server process exited during startup.
    #[error("{what} exited during startup; log tail:\n{log}")]
    ServerExited {
        /// Which server.
        what: String,
        /// The end of its log.
        log: String,
    },
    /// The machine does not look as the harness expects (missing user, binary, ...).
    #[error("environment: {0}")]
    Environment(String),
    /// A PostgreSQL client call failed.
    #[error("postgres: {0}")]
    Pg(#[from] tokio_postgres::Error),
    /// A MySQL client call failed.
    #[error("mysql: {0}")]
    My(#[from] mysql_async::Error),
}

impl HarnessError {
    /// Wraps an io error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Io { what, source }
    }
}
