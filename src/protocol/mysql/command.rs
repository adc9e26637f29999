//! Command-phase packets a client sends: the command bytes and borrowed parsers for the commands the session
//! looks into (query text, database name, statement ids).
//!
//! Parsers borrow from the payload and never copy; text stays `&[u8]` because MySQL does not promise UTF-8 (the
//! connection charset decides). Nothing here decides what to do with a command; [`Command::reply_kind`] only
//! states what kind of reply the server will send, as a fact the session feeds to [`super::reply`].

use super::ProtocolError;
use super::reply::ReplyKind;

/// COM_SLEEP (server internal; a client never sends it).
pub const COM_SLEEP: u8 = 0x00;
/// COM_QUIT: close the connection, no reply.
pub const COM_QUIT: u8 = 0x01;
/// COM_INIT_DB: change the default database (`USE db`).
pub const COM_INIT_DB: u8 = 0x02;
/// COM_QUERY: a text-protocol statement.
pub const COM_QUERY: u8 = 0x03;
/// COM_FIELD_LIST: column definitions of a table (deprecated).
pub const COM_FIELD_LIST: u8 = 0x04;
/// COM_CREATE_DB (deprecated).
pub const COM_CREATE_DB: u8 = 0x05;
/// COM_DROP_DB (deprecated).
pub const COM_DROP_DB: u8 = 0x06;
/// COM_REFRESH: FLUSH-style reload.
pub const COM_REFRESH: u8 = 0x07;
/// COM_SHUTDOWN.
pub const COM_SHUTDOWN: u8 = 0x08;
/// COM_STATISTICS: one human-readable status string.
pub const COM_STATISTICS: u8 = 0x09;
/// COM_PROCESS_INFO (deprecated SHOW PROCESSLIST).
pub const COM_PROCESS_INFO: u8 = 0x0A;
/// COM_CONNECT (server internal).
pub const COM_CONNECT: u8 = 0x0B;
/// COM_PROCESS_KILL: kill a connection by id.
pub const COM_PROCESS_KILL: u8 = 0x0C;
/// COM_DEBUG.
pub const COM_DEBUG: u8 = 0x0D;
/// COM_PING.
pub const COM_PING: u8 = 0x0E;
/// COM_TIME (server internal).
pub const COM_TIME: u8 = 0x0F;
/// COM_DELAYED_INSERT (server internal).
pub const COM_DELAYED_INSERT: u8 = 0x10;
/// COM_CHANGE_USER: re-authenticate and reset the session.
pub const COM_CHANGE_USER: u8 = 0x11;
/// COM_BINLOG_DUMP: replication stream.
pub const COM_BINLOG_DUMP: u8 = 0x12;
/// COM_TABLE_DUMP.
pub const COM_TABLE_DUMP: u8 = 0x13;
/// COM_CONNECT_OUT.
pub const COM_CONNECT_OUT: u8 = 0x14;
/// COM_REGISTER_SLAVE: replication.
pub const COM_REGISTER_SLAVE: u8 = 0x15;
/// COM_STMT_PREPARE.
pub const COM_STMT_PREPARE: u8 = 0x16;
/// COM_STMT_EXECUTE.
pub const COM_STMT_EXECUTE: u8 = 0x17;
/// COM_STMT_SEND_LONG_DATA: no reply.
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
/// COM_STMT_CLOSE: no reply.
pub const COM_STMT_CLOSE: u8 = 0x19;
/// COM_STMT_RESET.
pub const COM_STMT_RESET: u8 = 0x1A;
/// COM_SET_OPTION: multi-statements on or off; answered by EOF (or OK with `CLIENT_DEPRECATE_EOF`).
pub const COM_SET_OPTION: u8 = 0x1B;
/// COM_STMT_FETCH: rows from an open cursor.
pub const COM_STMT_FETCH: u8 = 0x1C;
/// COM_DAEMON (server internal).
pub const COM_DAEMON: u8 = 0x1D;
/// COM_BINLOG_DUMP_GTID: replication.
pub const COM_BINLOG_DUMP_GTID: u8 = 0x1E;
/// COM_RESET_CONNECTION: reset session state without re-authenticating.
pub const COM_RESET_CONNECTION: u8 = 0x1F;
/// MariaDB COM_STMT_BULK_EXECUTE (only with `MARIADB_CLIENT_STMT_BULK_OPERATIONS`, which the relay never offers).
pub const COM_STMT_BULK_EXECUTE: u8 = 0xFA;

/// A client command, borrowing from its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// COM_QUIT.
    Quit,
    /// COM_INIT_DB with the database name.
    InitDb(&'a [u8]),
    /// COM_QUERY with the statement text.
    Query(&'a [u8]),
    /// COM_FIELD_LIST: table name and wildcard (possibly empty).
    FieldList {
        /// Table name.
        table: &'a [u8],
        /// Column-name wildcard.
        wildcard: &'a [u8],
    },
    /// COM_STATISTICS.
    Statistics,
    /// COM_PING.
    Ping,
    /// COM_PROCESS_KILL with the connection id.
    ProcessKill(u32),
    /// COM_CHANGE_USER; the body is left to the auth code.
    ChangeUser(&'a [u8]),
    /// COM_STMT_PREPARE with the statement text.
    StmtPrepare(&'a [u8]),
    /// COM_STMT_EXECUTE.
    StmtExecute {
        /// Statement id (as the client knows it).
        stmt_id: u32,
        /// Cursor flags (0 = no cursor, 1 = read-only cursor).
        flags: u8,
    },
    /// COM_STMT_SEND_LONG_DATA.
    StmtSendLongData {
        /// Statement id.
        stmt_id: u32,
        /// Parameter index.
        param: u16,
    },
    /// COM_STMT_CLOSE.
    StmtClose(u32),
    /// COM_STMT_RESET.
    StmtReset(u32),
    /// COM_STMT_FETCH.
    StmtFetch {
        /// Statement id.
        stmt_id: u32,
        /// Number of rows wanted.
        rows: u32,
    },
    /// COM_SET_OPTION (0 = multi-statements on, 1 = off).
    SetOption(u16),
    /// COM_RESET_CONNECTION.
    ResetConnection,
    /// Any other command byte, body untouched.
    Other(u8, &'a [u8]),
}

fn u32_at(payload: &[u8], at: usize) -> Option<u32> {
    let b = payload.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(payload: &[u8], at: usize) -> Option<u16> {
    let b = payload.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// The statement id of a COM_STMT_EXECUTE / SEND_LONG_DATA / CLOSE / RESET / FETCH payload.
pub fn stmt_id(payload: &[u8]) -> Option<u32> {
    match payload.first()? {
        &(COM_STMT_EXECUTE | COM_STMT_SEND_LONG_DATA | COM_STMT_CLOSE | COM_STMT_RESET | COM_STMT_FETCH) => {
            u32_at(payload, 1)
        }
        _ => None,
    }
}

/// Parses a command payload (the logical packet, header removed).
pub fn parse_command(payload: &[u8]) -> Result<Command<'_>, ProtocolError> {
    let (&cmd, body) = payload.split_first().ok_or(ProtocolError::malformed("command"))?;
    let short = || ProtocolError::malformed("command");
    Ok(match cmd {
        COM_QUIT => Command::Quit,
        COM_INIT_DB => Command::InitDb(body),
        COM_QUERY => Command::Query(body),
        COM_FIELD_LIST => {
            let nul = body.iter().position(|&b| b == 0).unwrap_or(body.len());
            let wildcard = body.get(nul + 1..).unwrap_or(&[]);
            Command::FieldList { table: &body[..nul], wildcard }
        }
        COM_STATISTICS => Command::Statistics,
        COM_PING => Command::Ping,
        COM_PROCESS_KILL => Command::ProcessKill(u32_at(payload, 1).ok_or_else(short)?),
        COM_CHANGE_USER => Command::ChangeUser(body),
        COM_STMT_PREPARE => Command::StmtPrepare(body),
        COM_STMT_EXECUTE => Command::StmtExecute {
            stmt_id: u32_at(payload, 1).ok_or_else(short)?,
            flags: *payload.get(5).ok_or_else(short)?,
        },
        COM_STMT_SEND_LONG_DATA => Command::StmtSendLongData {
            stmt_id: u32_at(payload, 1).ok_or_else(short)?,
            param: u16_at(payload, 5).ok_or_else(short)?,
        },
        COM_STMT_CLOSE => Command::StmtClose(u32_at(payload, 1).ok_or_else(short)?),
        COM_STMT_RESET => Command::StmtReset(u32_at(payload, 1).ok_or_else(short)?),
        COM_STMT_FETCH => Command::StmtFetch {
            stmt_id: u32_at(payload, 1).ok_or_else(short)?,
            rows: u32_at(payload, 5).ok_or_else(short)?,
        },
        COM_SET_OPTION => Command::SetOption(u16_at(payload, 1).ok_or_else(short)?),
        COM_RESET_CONNECTION => Command::ResetConnection,
        other => Command::Other(other, body),
    })
}

impl Command<'_> {
    /// The kind of reply the server sends, or `None` when it sends nothing (QUIT, STMT_CLOSE,
    /// STMT_SEND_LONG_DATA) or the exchange is an authentication (CHANGE_USER) rather than a reply.
    pub fn reply_kind(&self) -> Option<ReplyKind> {
        match self {
            Command::Quit | Command::StmtClose(_) | Command::StmtSendLongData { .. } | Command::ChangeUser(_) => None,
            Command::Query(_) => Some(ReplyKind::Query),
            Command::StmtPrepare(_) => Some(ReplyKind::StmtPrepare),
            Command::StmtExecute { .. } => Some(ReplyKind::StmtExecute),
            Command::StmtFetch { .. } => Some(ReplyKind::StmtFetch),
            Command::FieldList { .. } => Some(ReplyKind::FieldList),
            Command::Statistics => Some(ReplyKind::Statistics),
            Command::InitDb(_)
            | Command::Ping
            | Command::ProcessKill(_)
            | Command::StmtReset(_)
            | Command::SetOption(_)
            | Command::ResetConnection => Some(ReplyKind::Simple),
            // Unknown commands get OK or ERR from a server; a result set would be tracked as a query.
            Command::Other(..) => Some(ReplyKind::Query),
        }
    }
}
