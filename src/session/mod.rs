//! Per-client sessions: the only place where protocol, classification, routing, pools and (later) the monitor
//! meet. One module per engine; each owns its engine state (pools per user and database, topology, cancel keys).

pub mod clients;
pub mod mysql;
pub mod postgres;

/// Which side of a relayed connection failed; picks the log level and what the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client hung up or sent something invalid.
    Client,
    /// The backend failed or hung up.
    Backend,
}
