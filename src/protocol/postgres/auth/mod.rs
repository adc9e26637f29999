//! PostgreSQL password authentication, both directions: clients authenticating to the proxy (`server`), the proxy
//! authenticating to backends (`backend`), and the SCRAM-SHA-256 machinery they share (`scram`).
//!
//! Facts only: which method a user must use, where credentials come from and what the client is told on failure
//! are the session's decisions.

mod backend;
mod scram;
mod server;

pub use backend::{BackendHandshake, connect_backend};
pub use scram::{DEFAULT_ITERATIONS, SCRAM_SHA_256, ScramClient, ScramServer, ScramVerifier};
pub use server::{md5_password_hash, server_cleartext, server_md5, server_md5_hashed, server_scram};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_wire;
