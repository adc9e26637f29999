//! Rewriting the statement name inside a client's Parse, Bind, Describe or Close frame.
//!
//! The session maps each client's statement names to names shared on a backend connection; this copies the frame
//! with the new name and every other byte unchanged (parameter values, formats, SQL text in any encoding). It does
//! not decide names and does not touch portal names.

use bytes::{BufMut, BytesMut};

use crate::protocol::postgres::error::ProtocolError;
use crate::protocol::postgres::frame::frame_len;

/// Appends to `out` a copy of `frame` (a whole frame, header included) whose statement name is `new_name`.
///
/// Accepts Parse (`P`), Bind (`B`), and Describe (`D`) or Close (`C`) of kind `S`. Anything else, a portal
/// Describe/Close, or a frame whose length field disagrees with `frame.len()` is an error and `out` is left as
/// it was.
pub fn rename_statement(frame: &[u8], new_name: &str, out: &mut BytesMut) -> Result<(), ProtocolError> {
    if frame_len(frame, usize::MAX)? != Some(frame.len()) {
        return Err(ProtocolError::Malformed("frame length does not match its header"));
    }
    let body = &frame[5..];
    // Byte range of the old name inside `body`.
    let (start, end) = match frame[0] {
        b'P' => (0, cstr_end(body, 0)?),
        b'B' => {
            let start = cstr_end(body, 0)? + 1;
            (start, cstr_end(body, start)?)
        }
        b'D' | b'C' => match body.first() {
            Some(b'S') => (1, cstr_end(body, 1)?),
            Some(b'P') => return Err(ProtocolError::Malformed("portal describe/close has no statement name")),
            _ => return Err(ProtocolError::Malformed("describe/close kind is neither 'S' nor 'P'")),
        },
        tag => return Err(ProtocolError::UnexpectedMessage { expected: "Parse, Bind, Describe or Close", tag }),
    };
    let new_len = frame.len() - 1 - (end - start) + new_name.len();
    let new_len =
        i32::try_from(new_len).map_err(|_| ProtocolError::TooLarge { len: new_len, max: i32::MAX as usize })?;
    out.reserve(new_len as usize + 1);
    out.put_u8(frame[0]);
    out.put_i32(new_len);
    out.put_slice(&body[..start]);
    out.put_slice(new_name.as_bytes());
    out.put_slice(&body[end..]);
    Ok(())
}

/// Index of the NUL ending the string that starts at `from`.
fn cstr_end(body: &[u8], from: usize) -> Result<usize, ProtocolError> {
    body.get(from..)
        .and_then(|tail| tail.iter().position(|&b| b == 0))
        .map(|n| from + n)
        .ok_or(ProtocolError::Malformed("unterminated string"))
}
