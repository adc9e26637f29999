//! The one integration test binary: every file under `tests/integration/` is a module of it, so all tests of a
//! run share the servers the harness (`tests/common/`) starts once.
//!
//! Deliberately not here: test logic. Add a module per feature under test.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod advice;
mod harness_smoke;
mod maintain;
mod metrics_http;
mod monitor;
mod monitor_slowlog;
mod my_cli;
mod my_clients;
mod my_commands;
mod my_errors;
mod my_pooling;
mod my_routing;
mod my_sysbench;
mod pg_clients;
mod pg_errors;
mod pg_lifecycle;
mod pg_pooling;
mod pg_routing;
mod pg_tls;
mod proxy;
mod store;
