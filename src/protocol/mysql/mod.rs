//! MySQL / MariaDB client-server protocol facts for a raw relay.
//!
//! What is here:
//! - [`framer`]: the 4-byte packet header, zero-copy length checks for the hot path, whole logical packets
//!   joined across 16 MiB splits for the control path, and packet writing that splits at 16 MiB - 1.
//! - [`packets`]: OK / ERR / EOF builders and parsers, length-encoded integers.
//! - [`handshake`]: the v10 greeting the proxy sends, the client's SSLRequest and HandshakeResponse41.
//! - [`auth`]: the proxy as a server authenticating a client (`mysql_native_password`,
//!   `caching_sha2_password`, auth switch).
//! - [`backend`]: the proxy as a client logging in to a backend.
//! - [`command`]: command bytes and borrowed parsers for the commands the session routes.
//! - [`reply`]: a state machine that says where a backend's reply to one command ends, without decoding rows.
//! - [`stmt`]: COM_STMT_PREPARE_OK and statement-id rewriting for virtualised statement ids.
//!
//! What is deliberately not here: configuration, backend choice, pooling, metrics, TLS setup (callers upgrade the
//! stream themselves between the SSLRequest and the HandshakeResponse) and any re-encoding of rows or column
//! definitions: the relay forwards the backend's bytes as they came. `mysql_common` parses the handshake and OK
//! packets; the framer and the reply state machine are hand-written for speed.

pub mod auth;
pub mod backend;
pub mod command;
mod error;
pub mod framer;
pub mod handshake;
pub mod packets;
pub mod reply;
pub mod stmt;

#[cfg(test)]
mod tests;

pub use error::{ErrorKind, ProtocolError};
pub use mysql_common::constants::{CapabilityFlags, StatusFlags};

/// Capabilities whose wire format the relay understands and can pass between a client and a backend.
///
/// Deliberately absent: `CLIENT_COMPRESS` (the relay does not compress), `CLIENT_QUERY_ATTRIBUTES` (changes the
/// COM_QUERY layout), `CLIENT_OPTIONAL_RESULTSET_METADATA` (result sets without column definitions),
/// `CLIENT_SSL` (the caller adds it when it has TLS configured) and the MariaDB extended capabilities (the proxy
/// always sets `CLIENT_LONG_PASSWORD`, so the extended bytes stay zero).
pub const RELAY_CAPABILITIES: CapabilityFlags = CapabilityFlags::from_bits_truncate(
    CapabilityFlags::CLIENT_LONG_PASSWORD.bits()
        | CapabilityFlags::CLIENT_FOUND_ROWS.bits()
        | CapabilityFlags::CLIENT_LONG_FLAG.bits()
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB.bits()
        | CapabilityFlags::CLIENT_NO_SCHEMA.bits()
        | CapabilityFlags::CLIENT_ODBC.bits()
        | CapabilityFlags::CLIENT_LOCAL_FILES.bits()
        | CapabilityFlags::CLIENT_IGNORE_SPACE.bits()
        | CapabilityFlags::CLIENT_PROTOCOL_41.bits()
        | CapabilityFlags::CLIENT_INTERACTIVE.bits()
        | CapabilityFlags::CLIENT_IGNORE_SIGPIPE.bits()
        | CapabilityFlags::CLIENT_TRANSACTIONS.bits()
        | CapabilityFlags::CLIENT_RESERVED.bits()
        | CapabilityFlags::CLIENT_SECURE_CONNECTION.bits()
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits()
        | CapabilityFlags::CLIENT_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH.bits()
        | CapabilityFlags::CLIENT_CONNECT_ATTRS.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.bits()
        | CapabilityFlags::CLIENT_SESSION_TRACK.bits()
        | CapabilityFlags::CLIENT_DEPRECATE_EOF.bits(),
);

/// Capabilities that change the bytes of replies or commands after the handshake.
///
/// A client and the backend connection serving it must agree on these, or the relayed bytes mean something
/// else to the client than to the backend (for example a result set ended by EOF for one and by OK for the other).
pub const FORMAT_CAPABILITIES: CapabilityFlags = CapabilityFlags::from_bits_truncate(
    CapabilityFlags::CLIENT_DEPRECATE_EOF.bits()
        | CapabilityFlags::CLIENT_SESSION_TRACK.bits()
        | CapabilityFlags::CLIENT_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS.bits()
        | CapabilityFlags::CLIENT_FOUND_ROWS.bits()
        | CapabilityFlags::CLIENT_LOCAL_FILES.bits()
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits(),
);
