//! The one error type of the MySQL protocol module and its coarse kind.
//!
//! It carries facts (which packet was wrong, what the backend said); it does not decide what the client is told:
//! the session maps a [`ProtocolError`] to an ERR packet with [`crate::protocol::mysql::packets::err_packet`].

use std::io;

/// Coarse class of a [`ProtocolError`]; the session picks a log level and a metric label from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The peer sent bytes that break the protocol.
    Protocol,
    /// The peer closed the connection or the socket failed.
    Disconnect,
    /// Authentication failed or cannot proceed.
    Auth,
    /// The backend answered with an ERR packet.
    Backend,
}

/// Everything that can go wrong while framing, authenticating or tracking MySQL packets.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A packet (or a logical packet joined from 16 MiB pieces) is longer than the configured limit.
    #[error("packet of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length announced or accumulated so far.
        len: usize,
        /// The limit the caller passed.
        max: usize,
    },
    /// A packet could not be parsed as what the protocol state requires.
    #[error("malformed {what} packet")]
    Malformed {
        /// Which packet.
        what: &'static str,
    },
    /// A packet is well formed but not allowed at this point of the exchange.
    #[error("unexpected packet starting with {first:#04x} while {stage}")]
    Unexpected {
        /// What the state machine was doing.
        stage: &'static str,
        /// First payload byte (0 for an empty payload).
        first: u8,
    },
    /// The peer closed the connection at a packet boundary where more was required.
    #[error("connection closed by peer")]
    Closed,
    /// The peer closed the connection in the middle of a packet.
    #[error("connection closed inside a packet")]
    Truncated,
    /// Socket error.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The backend sent an ERR packet; the session may forward it (1045 access denied, 1049 unknown database).
    #[error("backend error {code} ({sqlstate}): {message}")]
    Backend {
        /// MySQL error code.
        code: u16,
        /// Five-character SQLSTATE (`HY000` when the packet had none).
        sqlstate: String,
        /// Server message.
        message: String,
    },
    /// The client's credentials did not verify (or the user is unknown).
    #[error("access denied for user '{user}'")]
    AccessDenied {
        /// User name the client sent.
        user: String,
        /// Whether the client sent a non-empty auth response (for the "using password" part of error 1045).
        using_password: bool,
    },
    /// `caching_sha2_password` full authentication was requested on a plain connection; the proxy has no RSA key.
    #[error("authentication requires a secure connection")]
    RequiresSecureConnection,
    /// The peer wants an authentication plugin this module does not implement.
    #[error("unsupported authentication plugin '{0}'")]
    UnsupportedPlugin(String),
    /// The peer lacks a capability the relay requires (protocol 4.1, secure connection, plugin auth).
    #[error("peer does not support {0}")]
    Unsupported(&'static str),
}

impl ProtocolError {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::TooLarge { .. } | Self::Malformed { .. } | Self::Unexpected { .. } | Self::Unsupported(_) => {
                ErrorKind::Protocol
            }
            Self::Closed | Self::Truncated | Self::Io(_) => ErrorKind::Disconnect,
            Self::AccessDenied { .. } | Self::RequiresSecureConnection | Self::UnsupportedPlugin(_) => ErrorKind::Auth,
            Self::Backend { .. } => ErrorKind::Backend,
        }
    }

    pub(crate) fn malformed(what: &'static str) -> Self {
        Self::Malformed { what }
    }

    pub(crate) fn unexpected(stage: &'static str, payload: &[u8]) -> Self {
        Self::Unexpected { stage, first: payload.first().copied().unwrap_or(0) }
    }
}
