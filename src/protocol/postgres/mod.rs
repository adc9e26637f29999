//! PostgreSQL frontend/backend protocol 3.0: frame boundaries, startup packets, message builders and parsers,
//! and both sides of password authentication (SCRAM-SHA-256, MD5, cleartext).
//!
//! This module states protocol facts only. It never reads configuration, never chooses a backend, never keeps
//! metrics and never decides what to do about an error: the session does. The data path frames with
//! [`frame_len`] over its own buffers and forwards the original bytes; the parsers here borrow from the frame body
//! and are used only for the few messages the session must look into.

mod auth;
mod error;
mod frame;
pub mod messages;

#[cfg(test)]
mod alloc_probe;

pub use auth::{
    BackendHandshake, DEFAULT_ITERATIONS, SCRAM_SHA_256, ScramClient, ScramServer, ScramVerifier, connect_backend,
    md5_password_hash, server_cleartext, server_md5, server_md5_hashed, server_scram,
};
pub use error::ProtocolError;
pub use frame::{
    CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, MAX_STARTUP_LEN, PROTOCOL_3_0, SSL_REQUEST_CODE, StartupPacket,
    frame_len, read_message, read_startup, startup_len,
};
pub use messages::*;
