//! The one error type of the PostgreSQL protocol module.
//!
//! It says what went wrong on the wire; it does not decide what the client is told (the session maps it to a
//! SQLSTATE) and it never carries a password or a secret key.

use super::messages::ErrorFields;

/// Everything that can go wrong while framing, parsing or authenticating PostgreSQL messages.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Reading from or writing to the socket failed (an EOF inside a frame is `UnexpectedEof`).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A length field announced more than the configured maximum; nothing was allocated for it.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced length in bytes.
        len: usize,
        /// The limit the caller passed.
        max: usize,
    },
    /// The bytes do not form the message they claim to be.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A message arrived that is not legal at this point of the conversation.
    #[error("unexpected message '{}' while waiting for {expected}", char::from(*tag))]
    UnexpectedMessage {
        /// What the state machine was waiting for.
        expected: &'static str,
        /// Tag byte of the message that arrived.
        tag: u8,
    },
    /// The startup packet asked for a protocol version other than 3.0 (protocol 2 clients land here).
    #[error("unsupported frontend protocol {}.{}", .0 >> 16, .0 & 0xffff)]
    UnsupportedProtocol(u32),
    /// The peer closed the connection in the middle of a handshake.
    #[error("connection closed during the handshake")]
    Closed,
    /// Authentication failed or could not be carried out. The text is safe to show to the client.
    #[error("{0}")]
    Auth(String),
    /// The backend answered the handshake with an ErrorResponse (its SQLSTATE is in the fields).
    #[error("backend error {}: {}", .0.code, .0.message)]
    Backend(ErrorFields),
}

impl ProtocolError {
    /// The peer went away (EOF, reset, broken pipe): a hang-up, which is not worth an ERROR log line.
    pub fn is_disconnect(&self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        match self {
            Self::Closed => true,
            Self::Io(e) => matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProtocolError;

    #[test]
    fn disconnects_are_recognised() {
        assert!(ProtocolError::Closed.is_disconnect());
        assert!(ProtocolError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset)).is_disconnect());
        assert!(!ProtocolError::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied)).is_disconnect());
        assert!(!ProtocolError::Malformed("x").is_disconnect());
        assert_eq!(ProtocolError::UnsupportedProtocol(0x0002_0000).to_string(), "unsupported frontend protocol 2.0");
        let e = ProtocolError::UnexpectedMessage { expected: "ReadyForQuery", tag: b'Z' };
        assert_eq!(e.to_string(), "unexpected message 'Z' while waiting for ReadyForQuery");
    }
}
