//! Test harness shared by every integration test: real PostgreSQL 15 and MariaDB 10.11 servers started from the
//! system's binaries, each as a primary with a streaming replica, in fresh temporary directories on free ports.
//!
//! Each cluster is started on first use ([`pg()`], [`my()`]) and shared by all tests of one test binary run. Rust
//! never drops statics, so every cluster has a watchdog child process ([`watchdog`]) that stops its servers and
//! removes its directory as soon as the test process is gone, however it ends. Directories left by a run whose
//! watchdog was killed too are swept on the next start.
//!
//! Deliberately not here: the proxy itself (tests start it in-process), test data, and any sharing of servers
//! between test binaries or runs.

// Every test module sees the whole harness; not every helper and re-export is used by every test binary.
#![allow(dead_code, unused_imports)]

mod error;
mod my;
mod pg;
mod sys;
mod watchdog;

pub use error::HarnessError;
pub use my::{
    MY_NATIVE_PASSWORD, MY_NATIVE_USER, MY_REPL_PASSWORD, MY_REPL_USER, MyCluster, SlaveStatus, my, my_conn,
    my_connect, slave_status,
};
pub use pg::{PG_MD5_PASSWORD, PG_MD5_USER, PG_SCRAM_PASSWORD, PG_SCRAM_USER, PgCluster, pg, pg_client, pg_connect};
pub use sys::{free_ports, fresh_dir, poll_until};
pub use watchdog::Watchdog;
