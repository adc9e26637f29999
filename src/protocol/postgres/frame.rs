//! Frame boundaries of the PostgreSQL protocol and the untyped startup packet.
//!
//! A typed message is a tag byte, an `i32` big-endian length that counts itself but not the tag, and a body. The
//! first packet of a connection has no tag: length, then a 32-bit code (protocol version or a special request).
//! This is the hot path: [`frame_len`] reads five bytes and never copies. It does not interpret message bodies
//! (see `messages`) and it does not decide what to do with a startup request (the session does).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::ProtocolError;

/// Protocol version 3.0 as sent in a StartupMessage.
pub const PROTOCOL_3_0: u32 = 0x0003_0000;
/// Code of an SSLRequest packet.
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
/// Code of a GSSENCRequest packet.
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// Code of a CancelRequest packet.
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// PostgreSQL's own limit on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: usize = 10_000;

/// Longest cancel key accepted (protocol 3.2 allows up to 256 bytes; 3.0 uses 4).
const MAX_CANCEL_KEY: usize = 256;

/// The first packet a client sends, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    /// A StartupMessage. For protocol 3.x `params` holds the name/value pairs in the order sent; for any other
    /// major version (protocol 2 is `0x0002_0000`) `params` is empty and the caller should reject the version.
    Startup {
        /// Protocol version: major in the high 16 bits, minor in the low 16.
        version: u32,
        /// Startup parameters (user, database, options, application_name, `_pq_.*`...).
        params: Vec<(String, String)>,
    },
    /// SSLRequest: the client waits for one unframed byte, `S` or `N`.
    SslRequest,
    /// GSSENCRequest: the client waits for one unframed byte, `G` or `N`.
    GssEncRequest,
    /// CancelRequest for the backend identified by `pid` and `secret` (4 bytes under protocol 3.0).
    Cancel {
        /// Process id from BackendKeyData.
        pid: i32,
        /// Secret key from BackendKeyData.
        secret: Vec<u8>,
    },
}

/// Size of the typed frame at the start of `buf`: `Some(1 + len)` when all of it is in `buf`, `None` when more
/// bytes are needed (including when fewer than five are there).
///
/// Fails when the length field is below 4 or above `max`, so a hostile length is refused before anything is
/// allocated for it.
#[inline]
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(header) = buf.get(..5) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let len = checked_len(len, 4, max)?;
    let total = len + 1;
    Ok((buf.len() >= total).then_some(total))
}

/// Size of the untyped startup packet at the start of `buf`, with the same contract as [`frame_len`]. The
/// length counts itself; anything shorter than 8 (length plus code) is malformed.
#[inline]
pub fn startup_len(buf: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(header) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let len = checked_len(len, 8, max)?;
    Ok((buf.len() >= len).then_some(len))
}

fn checked_len(len: i32, min: usize, max: usize) -> Result<usize, ProtocolError> {
    let len = usize::try_from(len).map_err(|_| ProtocolError::Malformed("negative length"))?;
    if len < min {
        return Err(ProtocolError::Malformed("length shorter than its header"));
    }
    if len > max {
        return Err(ProtocolError::TooLarge { len, max });
    }
    Ok(len)
}

/// Reads and decodes the first packet of a connection. `Ok(None)` means the client closed the connection before
/// sending a single byte (a port probe); an EOF after that is an `Io(UnexpectedEof)` error.
///
/// Reads exactly the packet and nothing more, so the stream can be handed to TLS right after an SSLRequest.
pub async fn read_startup<S: AsyncRead + Unpin>(s: &mut S, max: usize) -> Result<Option<StartupPacket>, ProtocolError> {
    let mut header = [0u8; 4];
    if !read_first_exact(s, &mut header).await? {
        return Ok(None);
    }
    let len = checked_len(i32::from_be_bytes(header), 8, max)?;
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).await?;
    decode_startup(&body).map(Some)
}

/// Fills `buf` completely. Returns `false` on an EOF before the first byte, errors on an EOF after it.
async fn read_first_exact<S: AsyncRead + Unpin>(s: &mut S, buf: &mut [u8]) -> Result<bool, ProtocolError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(false);
            }
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        filled += n;
    }
    Ok(true)
}

/// Decodes a startup packet body: everything after the length field, starting with the 32-bit code.
pub(crate) fn decode_startup(body: &[u8]) -> Result<StartupPacket, ProtocolError> {
    let (code, rest) = body.split_first_chunk::<4>().ok_or(ProtocolError::Malformed("startup packet without code"))?;
    match u32::from_be_bytes(*code) {
        SSL_REQUEST_CODE if rest.is_empty() => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST_CODE if rest.is_empty() => Ok(StartupPacket::GssEncRequest),
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => Err(ProtocolError::Malformed("encryption request with a body")),
        CANCEL_REQUEST_CODE => {
            let (pid, secret) =
                rest.split_first_chunk::<4>().ok_or(ProtocolError::Malformed("cancel request without a key"))?;
            if !(4..=MAX_CANCEL_KEY).contains(&secret.len()) {
                return Err(ProtocolError::Malformed("cancel key of the wrong size"));
            }
            Ok(StartupPacket::Cancel { pid: i32::from_be_bytes(*pid), secret: secret.to_vec() })
        }
        version if version >> 16 == 3 => Ok(StartupPacket::Startup { version, params: startup_params(rest)? }),
        version => Ok(StartupPacket::Startup { version, params: Vec::new() }),
    }
}

/// Parses `name\0value\0 ... \0`.
fn startup_params(mut rest: &[u8]) -> Result<Vec<(String, String)>, ProtocolError> {
    let mut params = Vec::new();
    loop {
        let (name, after) = split_cstr(rest)?;
        if name.is_empty() {
            if !after.is_empty() {
                return Err(ProtocolError::Malformed("bytes after the startup parameter list"));
            }
            return Ok(params);
        }
        let (value, after) = split_cstr(after)?;
        params.push((utf8(name)?.to_owned(), utf8(value)?.to_owned()));
        rest = after;
    }
}

fn split_cstr(buf: &[u8]) -> Result<(&[u8], &[u8]), ProtocolError> {
    let nul = buf.iter().position(|&b| b == 0).ok_or(ProtocolError::Malformed("unterminated string"))?;
    Ok((&buf[..nul], &buf[nul + 1..]))
}

fn utf8(bytes: &[u8]) -> Result<&str, ProtocolError> {
    std::str::from_utf8(bytes).map_err(|_| ProtocolError::Malformed("string is not UTF-8"))
}

/// Reads one whole typed message (header included) from `s`, using `buf` as the read buffer: bytes read past the
/// frame stay in `buf` for the next call. `Ok(None)` on EOF with `buf` empty; an EOF inside a frame is an
/// `Io(UnexpectedEof)` error. Meant for handshakes; the relay frames its own buffers with [`frame_len`].
pub async fn read_message<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, ProtocolError> {
    loop {
        match frame_len(buf, max)? {
            Some(total) => return Ok(Some(buf.split_to(total).freeze())),
            None => {
                if buf.len() >= 5 {
                    let want = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize + 1;
                    buf.reserve(want - buf.len());
                }
                if s.read_buf(buf).await? == 0 {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                }
            }
        }
    }
}

/// Reads exactly one typed message without reading past it: returns its tag and body (header stripped).
/// `Ok(None)` on EOF before the first byte. Used by the handshake drivers so the stream stays clean.
pub(crate) async fn read_frame_exact<S: AsyncRead + Unpin>(
    s: &mut S,
    max: usize,
) -> Result<Option<(u8, Vec<u8>)>, ProtocolError> {
    let mut header = [0u8; 5];
    if !read_first_exact(s, &mut header).await? {
        return Ok(None);
    }
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let len = checked_len(len, 4, max)?;
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).await?;
    Ok(Some((header[0], body)))
}

#[cfg(test)]
mod tests;
