//! Generic response packets (OK, ERR, EOF) and the length-encoded integers they use.
//!
//! Builders write complete packets (header included) into an output buffer; parsers read a payload without the
//! header. This module does not know which command a response answers: see [`super::reply`] for that.

use bytes::{BufMut, BytesMut};
use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::ProtocolError;
use super::framer::{begin_packet, finish_packet};

/// First byte of an OK packet.
pub const OK_HEADER: u8 = 0x00;
/// First byte of an EOF packet, of an OK packet that ends a result set, and of an auth switch request.
pub const EOF_HEADER: u8 = 0xFE;
/// First byte of an ERR packet.
pub const ERR_HEADER: u8 = 0xFF;
/// First byte of a LOCAL INFILE request.
pub const LOCAL_INFILE_HEADER: u8 = 0xFB;

/// Reads a length-encoded integer at the start of `buf`: the value and how many bytes it took.
///
/// `None` when `buf` is too short or starts with 0xFB (NULL) or 0xFF (not an integer).
#[inline]
pub fn read_lenenc(buf: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = buf.split_first()?;
    let width = match first {
        0..=0xFA => return Some((u64::from(first), 1)),
        0xFC => 2,
        0xFD => 3,
        0xFE => 8,
        _ => return None,
    };
    let bytes = rest.get(..width)?;
    let value = bytes.iter().rev().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    Some((value, width + 1))
}

/// Appends `value` as a length-encoded integer.
pub fn put_lenenc(out: &mut BytesMut, value: u64) {
    match value {
        0..=0xFA => out.put_u8(value as u8),
        0xFB..=0xFFFF => {
            out.put_u8(0xFC);
            out.put_u16_le(value as u16);
        }
        0x1_0000..=0xFF_FFFF => {
            out.put_u8(0xFD);
            out.put_uint_le(value, 3);
        }
        _ => {
            out.put_u8(0xFE);
            out.put_u64_le(value);
        }
    }
}

/// Appends an ERR packet with sequence id `seq`.
///
/// `sqlstate` must be five characters; anything else is replaced by `HY000` so the packet stays well formed.
pub fn err_packet(out: &mut BytesMut, seq: u8, code: u16, sqlstate: &str, msg: &str) -> u8 {
    let start = begin_packet(out, seq);
    out.put_u8(ERR_HEADER);
    out.put_u16_le(code);
    out.put_u8(b'#');
    let state = if sqlstate.len() == 5 { sqlstate } else { "HY000" };
    out.put_slice(state.as_bytes());
    out.put_slice(msg.as_bytes());
    finish_packet(out, start)
}

/// Appends the ERR 1045 "Access denied" packet a MySQL server sends for a failed login.
pub fn access_denied_packet(out: &mut BytesMut, seq: u8, user: &str, host: &str, using_password: bool) -> u8 {
    let yes_no = if using_password { "YES" } else { "NO" };
    let msg = format!("Access denied for user '{user}'@'{host}' (using password: {yes_no})");
    err_packet(out, seq, 1045, "28000", &msg)
}

/// Appends an OK packet (protocol 4.1 layout); `info` is written only when non-empty.
#[allow(clippy::too_many_arguments)]
pub fn ok_packet(
    out: &mut BytesMut,
    seq: u8,
    affected: u64,
    last_insert_id: u64,
    status: StatusFlags,
    warnings: u16,
    info: &str,
) -> u8 {
    let start = begin_packet(out, seq);
    out.put_u8(OK_HEADER);
    put_lenenc(out, affected);
    put_lenenc(out, last_insert_id);
    out.put_u16_le(status.bits());
    out.put_u16_le(warnings);
    if !info.is_empty() {
        put_lenenc(out, info.len() as u64);
        out.put_slice(info.as_bytes());
    }
    finish_packet(out, start)
}

/// Appends a classic 5-byte EOF packet (for clients without `CLIENT_DEPRECATE_EOF`).
pub fn eof_packet(out: &mut BytesMut, seq: u8, warnings: u16, status: StatusFlags) -> u8 {
    let start = begin_packet(out, seq);
    out.put_u8(EOF_HEADER);
    out.put_u16_le(warnings);
    out.put_u16_le(status.bits());
    finish_packet(out, start)
}

/// An ERR packet's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// MySQL error code.
    pub code: u16,
    /// Five-character SQLSTATE, `HY000` when the packet carried none (pre-4.1 layout).
    pub sqlstate: String,
    /// Message, decoded lossily (it is for logs and for re-sending, not for matching).
    pub message: String,
}

impl From<ServerError> for ProtocolError {
    fn from(e: ServerError) -> Self {
        ProtocolError::Backend { code: e.code, sqlstate: e.sqlstate, message: e.message }
    }
}

/// Parses an ERR payload (starting with 0xFF).
pub fn parse_err(payload: &[u8]) -> Result<ServerError, ProtocolError> {
    let [ERR_HEADER, lo, hi, rest @ ..] = payload else {
        return Err(ProtocolError::malformed("ERR"));
    };
    let code = u16::from_le_bytes([*lo, *hi]);
    let (sqlstate, message) = match rest {
        [b'#', state @ ..] if state.len() >= 5 => (String::from_utf8_lossy(&state[..5]).into_owned(), &state[5..]),
        _ => ("HY000".to_owned(), rest),
    };
    Ok(ServerError { code, sqlstate, message: String::from_utf8_lossy(message).into_owned() })
}

/// The fields of an OK packet (or of the OK / EOF that ends a result set) a session and a monitor need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OkInfo {
    /// Rows changed, deleted or inserted (or matched, with `CLIENT_FOUND_ROWS`).
    pub affected_rows: u64,
    /// `LAST_INSERT_ID()` after the statement, 0 when none.
    pub last_insert_id: u64,
    /// Server status: transaction state, more results, index use.
    pub status: StatusFlags,
    /// Warning count.
    pub warnings: u16,
}

/// Parses an OK payload (starting with 0x00) negotiated with `caps`.
///
/// Hand-written rather than `mysql_common`'s `OkPacketDeserializer`, which rejects status words with bits it
/// does not know; a relay must not fail on a newer server's flag. Info and session-state bytes are skipped.
pub fn parse_ok(payload: &[u8], caps: CapabilityFlags) -> Result<OkInfo, ProtocolError> {
    match payload.first() {
        Some(&OK_HEADER) => parse_ok_body(&payload[1..], caps).ok_or(ProtocolError::malformed("OK")),
        _ => Err(ProtocolError::malformed("OK")),
    }
}

fn parse_ok_body(body: &[u8], _caps: CapabilityFlags) -> Option<OkInfo> {
    let (affected_rows, a) = read_lenenc(body)?;
    let (last_insert_id, b) = read_lenenc(&body[a..])?;
    let rest = &body[a + b..];
    let (status, warnings) = match rest {
        [s0, s1, w0, w1, ..] => (u16::from_le_bytes([*s0, *s1]), u16::from_le_bytes([*w0, *w1])),
        [s0, s1] => (u16::from_le_bytes([*s0, *s1]), 0),
        _ => return None,
    };
    Some(OkInfo { affected_rows, last_insert_id, status: StatusFlags::from_bits_retain(status), warnings })
}

/// Parses the packet that ends a result set: a 5-byte EOF, or with `CLIENT_DEPRECATE_EOF` an OK with a 0xFE
/// header (which may carry session-state changes and be longer).
pub fn parse_terminator(payload: &[u8], caps: CapabilityFlags) -> Result<OkInfo, ProtocolError> {
    let err = || ProtocolError::malformed("EOF");
    match payload {
        [EOF_HEADER, w0, w1, s0, s1] => Ok(OkInfo {
            affected_rows: 0,
            last_insert_id: 0,
            status: StatusFlags::from_bits_retain(u16::from_le_bytes([*s0, *s1])),
            warnings: u16::from_le_bytes([*w0, *w1]),
        }),
        [EOF_HEADER, body @ ..] if caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) => {
            parse_ok_body(body, caps).ok_or_else(err)
        }
        // A pre-4.1 server sends a bare 0xFE; it carries no status.
        [EOF_HEADER] => Ok(OkInfo { affected_rows: 0, last_insert_id: 0, status: StatusFlags::empty(), warnings: 0 }),
        _ => Err(err()),
    }
}
