//! PostgreSQL message layouts: builders that append whole frames to a `BytesMut`, parsers that read a frame body
//! (the bytes after the 5-byte header) and borrow from it, and a statement-name rewriter.
//!
//! Only the messages the proxy must build or look into are here; everything else is relayed as opaque bytes.
//! Nothing here decides what to do with a message. Strings passed to builders must not contain NUL bytes (the
//! peer would read a truncated string); builders do not check, callers pass names and SQL they already framed.

mod build;
mod parse;
mod rename;

pub use build::*;
pub use parse::*;
pub use rename::rename_statement;

/// Backend message tags and frontend message tags the session dispatches on.
pub mod tag {
    /// Authentication request (backend).
    pub const AUTHENTICATION: u8 = b'R';
    /// BackendKeyData (backend).
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// Bind (frontend).
    pub const BIND: u8 = b'B';
    /// BindComplete (backend).
    pub const BIND_COMPLETE: u8 = b'2';
    /// Close (frontend) and CommandComplete (backend) share `C`.
    pub const CLOSE: u8 = b'C';
    /// CloseComplete (backend).
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// CommandComplete (backend).
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// CopyData (both directions).
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone (both directions).
    pub const COPY_DONE: u8 = b'c';
    /// CopyFail (frontend).
    pub const COPY_FAIL: u8 = b'f';
    /// CopyInResponse (backend).
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// CopyOutResponse (backend).
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// CopyBothResponse (backend).
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// DataRow (backend) and Describe (frontend) share `D`.
    pub const DATA_ROW: u8 = b'D';
    /// Describe (frontend).
    pub const DESCRIBE: u8 = b'D';
    /// EmptyQueryResponse (backend).
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    /// ErrorResponse (backend) and Execute (frontend) share `E`.
    pub const ERROR_RESPONSE: u8 = b'E';
    /// Execute (frontend).
    pub const EXECUTE: u8 = b'E';
    /// Flush (frontend).
    pub const FLUSH: u8 = b'H';
    /// FunctionCall (frontend).
    pub const FUNCTION_CALL: u8 = b'F';
    /// NegotiateProtocolVersion (backend).
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    /// NoData (backend).
    pub const NO_DATA: u8 = b'n';
    /// NoticeResponse (backend).
    pub const NOTICE_RESPONSE: u8 = b'N';
    /// NotificationResponse (backend).
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    /// ParameterDescription (backend).
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// ParameterStatus (backend) and Sync (frontend) share `S`.
    pub const PARAMETER_STATUS: u8 = b'S';
    /// Parse (frontend).
    pub const PARSE: u8 = b'P';
    /// ParseComplete (backend).
    pub const PARSE_COMPLETE: u8 = b'1';
    /// PasswordMessage, SASLInitialResponse and SASLResponse (frontend).
    pub const PASSWORD: u8 = b'p';
    /// PortalSuspended (backend).
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// Query (frontend).
    pub const QUERY: u8 = b'Q';
    /// ReadyForQuery (backend).
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// RowDescription (backend).
    pub const ROW_DESCRIPTION: u8 = b'T';
    /// Sync (frontend).
    pub const SYNC: u8 = b'S';
    /// Terminate (frontend).
    pub const TERMINATE: u8 = b'X';
}

#[cfg(test)]
mod tests;
