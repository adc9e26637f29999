//! Tests of the MySQL protocol module: byte-level tests of each parser and state machine, an in-process
//! server/client authentication over `tokio::io::duplex`, a real login to the local MariaDB, and property tests
//! that feed arbitrary bytes.

mod auth;
mod command;
mod driver;
mod framer;
mod handshake;
mod mariadb;
mod packets;
mod props;
mod reply;
mod stmt;

use bytes::{BufMut, BytesMut};

use super::packets::put_lenenc;

/// A column definition payload as a server sends it (`def`, schema, table, org table, name, org name, fixed
/// fields). The tracker never decodes it; it is realistic so that first-byte checks see real data.
pub(super) fn column_def(name: &str) -> Vec<u8> {
    let mut out = BytesMut::new();
    for part in ["def", "test", "t", "t", name, name] {
        put_lenenc(&mut out, part.len() as u64);
        out.put_slice(part.as_bytes());
    }
    out.put_u8(0x0C);
    out.put_u16_le(45);
    out.put_u32_le(11);
    out.put_u8(0x03);
    out.put_u16_le(0);
    out.put_u8(0);
    out.put_u16_le(0);
    out.to_vec()
}

/// A text-protocol row with the given values (`None` is NULL).
pub(super) fn text_row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for v in values {
        match v {
            Some(v) => {
                put_lenenc(&mut out, v.len() as u64);
                out.put_slice(v);
            }
            None => out.put_u8(0xFB),
        }
    }
    out.to_vec()
}

/// A classic EOF payload.
pub(super) fn eof(status: u16) -> Vec<u8> {
    let mut v = vec![0xFE, 0, 0];
    v.extend_from_slice(&status.to_le_bytes());
    v
}

/// An OK payload with a 0xFE header (result-set end with `CLIENT_DEPRECATE_EOF`), with optional info bytes.
pub(super) fn ok_fe(status: u16, extra: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFE, 0, 0];
    v.extend_from_slice(&status.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(extra);
    v
}

/// An OK payload.
pub(super) fn ok(affected: u8, insert_id: u8, status: u16) -> Vec<u8> {
    let mut v = vec![0x00, affected, insert_id];
    v.extend_from_slice(&status.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v
}

/// An ERR payload.
pub(super) fn err(code: u16, state: &str, msg: &str) -> Vec<u8> {
    let mut v = vec![0xFF];
    v.extend_from_slice(&code.to_le_bytes());
    v.push(b'#');
    v.extend_from_slice(state.as_bytes());
    v.extend_from_slice(msg.as_bytes());
    v
}
