//! Switchyard: a transparent PostgreSQL and MySQL/MariaDB wire-protocol proxy.
//!
//! A client connects to a data port ([`server`]); its session ([`session`]) frames the client's protocol
//! ([`protocol`]), classifies each statement ([`classify`]), picks a pool ([`route`]), checks out a backend
//! ([`pool`]) and relays the reply frames back without re-encoding rows. Configuration is one typed tree
//! ([`config`]); history (snapshots, slow queries, digests, job runs) goes to the [`store`]. Operators use the
//! control port ([`admin`]): SQL-like commands over the live state, in the PostgreSQL or MySQL protocol.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod admin;
pub mod classify;
pub mod cli;
pub mod config;
pub mod logging;
pub mod maintain;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod pool;
pub mod protocol;
pub mod route;
pub mod schedule;
pub mod server;
pub mod session;
pub mod store;
pub mod telemetry;
