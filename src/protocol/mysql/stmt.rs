//! Prepared-statement facts the session needs to virtualise statement ids: the COM_STMT_PREPARE_OK header, the
//! statement id inside commands and replies, and the parameter types inside COM_STMT_EXECUTE.
//!
//! The session maps a client's statement id to a per-backend-connection id and may re-prepare a statement on
//! another backend; it rewrites ids in place with [`set_stmt_id`] and, after a re-prepare, re-sends the
//! parameter types the client sent only once with [`with_param_types`]. This module keeps no mapping itself.

use bytes::{BufMut, BytesMut};

use super::ProtocolError;
use super::command::{COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_FETCH, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA};
use super::packets::OK_HEADER;

/// The header of a COM_STMT_PREPARE_OK reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StmtPrepareOk {
    /// Statement id on the backend connection that prepared it.
    pub statement_id: u32,
    /// Number of result columns (column definitions follow the parameter definitions).
    pub num_columns: u16,
    /// Number of `?` parameters.
    pub num_params: u16,
    /// Warning count.
    pub warnings: u16,
}

/// Parses a COM_STMT_PREPARE_OK payload (0x00, id, columns, params, filler, warnings).
pub fn parse_prepare_ok(payload: &[u8]) -> Result<StmtPrepareOk, ProtocolError> {
    let [OK_HEADER, i0, i1, i2, i3, c0, c1, p0, p1, rest @ ..] = payload else {
        return Err(ProtocolError::malformed("COM_STMT_PREPARE_OK"));
    };
    let warnings = match rest {
        [_, w0, w1, ..] => u16::from_le_bytes([*w0, *w1]),
        _ => 0,
    };
    Ok(StmtPrepareOk {
        statement_id: u32::from_le_bytes([*i0, *i1, *i2, *i3]),
        num_columns: u16::from_le_bytes([*c0, *c1]),
        num_params: u16::from_le_bytes([*p0, *p1]),
        warnings,
    })
}

/// Overwrites the statement id of a COM_STMT_EXECUTE / SEND_LONG_DATA / CLOSE / RESET / FETCH command or of a
/// COM_STMT_PREPARE_OK reply (all keep it in bytes 1..5).
pub fn set_stmt_id(payload: &mut [u8], id: u32) -> Result<(), ProtocolError> {
    match payload.first() {
        Some(
            &(OK_HEADER
            | COM_STMT_EXECUTE
            | COM_STMT_SEND_LONG_DATA
            | COM_STMT_CLOSE
            | COM_STMT_RESET
            | COM_STMT_FETCH),
        ) if payload.len() >= 5 => {
            payload[1..5].copy_from_slice(&id.to_le_bytes());
            Ok(())
        }
        _ => Err(ProtocolError::malformed("statement command")),
    }
}

/// Offset of the new-params-bound flag in a COM_STMT_EXECUTE with `num_params` parameters (no query
/// attributes): command, id, flags, iteration count, NULL bitmap.
fn bound_flag_offset(num_params: u16) -> usize {
    1 + 4 + 1 + 4 + usize::from(num_params).div_ceil(8)
}

/// The parameter types (2 bytes each) a COM_STMT_EXECUTE carries, or `None` when the client set the
/// new-params-bound flag to 0 and relies on the types of an earlier execute.
pub fn execute_param_types(payload: &[u8], num_params: u16) -> Result<Option<&[u8]>, ProtocolError> {
    if payload.first() != Some(&COM_STMT_EXECUTE) {
        return Err(ProtocolError::malformed("COM_STMT_EXECUTE"));
    }
    if num_params == 0 {
        return Ok(None);
    }
    let at = bound_flag_offset(num_params);
    match payload.get(at) {
        Some(0) => Ok(None),
        Some(1) => payload
            .get(at + 1..at + 1 + 2 * usize::from(num_params))
            .map(Some)
            .ok_or(ProtocolError::malformed("COM_STMT_EXECUTE")),
        _ => Err(ProtocolError::malformed("COM_STMT_EXECUTE")),
    }
}

/// A copy of a COM_STMT_EXECUTE whose new-params-bound flag is 0, with the flag set and `types` inserted.
///
/// Needed after the session re-prepared the statement on a backend that never saw the types. A payload that
/// already carries types is copied unchanged.
pub fn with_param_types(payload: &[u8], num_params: u16, types: &[u8]) -> Result<BytesMut, ProtocolError> {
    if execute_param_types(payload, num_params)?.is_some() || num_params == 0 {
        return Ok(BytesMut::from(payload));
    }
    if types.len() != 2 * usize::from(num_params) {
        return Err(ProtocolError::malformed("COM_STMT_EXECUTE parameter types"));
    }
    let at = bound_flag_offset(num_params);
    let mut out = BytesMut::with_capacity(payload.len() + types.len());
    out.put_slice(&payload[..at]);
    out.put_u8(1);
    out.put_slice(types);
    out.put_slice(&payload[at + 1..]);
    Ok(out)
}
