//! MySQL packet framing: a 4-byte header (3-byte little-endian payload length, 1-byte sequence id) and payloads
//! split into 16 MiB - 1 pieces.
//!
//! Two paths. The hot relay path uses [`packet_len`] and [`header`] on the bytes already in the read buffer and
//! forwards them unchanged: a payload of exactly [`MAX_PAYLOAD`] bytes is followed by its continuation as a
//! separate physical packet. The control path (handshake, commands the session parses) uses [`read_packet`],
//! which joins the pieces into one logical payload. Neither decodes the payload; this module does not know what
//! a packet means, and it never keeps more than `max` payload bytes for one packet.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ProtocolError;

/// Length of the packet header.
pub const HEADER_LEN: usize = 4;

/// Largest payload of one physical packet; a payload this long is continued by the next packet.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

/// Reads a header: the payload length and the sequence id, or `None` when fewer than 4 bytes are buffered.
#[inline]
pub fn header(buf: &[u8]) -> Option<(usize, u8)> {
    match buf {
        [a, b, c, seq, ..] => Some((usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16, *seq)),
        _ => None,
    }
}

/// Total length (header included) of the physical packet at the start of `buf` once it is fully buffered.
///
/// `Ok(None)` means more bytes are needed. A payload longer than `max` is an error, so a caller that only
/// reserves what this returns never buffers more than `max + 4` bytes for one packet.
#[inline]
pub fn packet_len(buf: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    let Some((len, _)) = header(buf) else {
        return Ok(None);
    };
    if len > max {
        return Err(ProtocolError::TooLarge { len, max });
    }
    let total = HEADER_LEN + len;
    Ok((buf.len() >= total).then_some(total))
}

/// Iterator over the complete physical packets at the start of a read chunk, for the relay: yields each
/// packet's sequence id and payload (borrowed), and tells how many bytes the complete packets span so the caller
/// can forward exactly those bytes in one write and keep the partial tail for the next read.
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    buf: &'a [u8],
    pos: usize,
    max: usize,
    failed: bool,
}

/// Walks the complete physical packets of `buf`; see [`Packets`].
pub fn packets(buf: &[u8], max: usize) -> Packets<'_> {
    Packets { buf, pos: 0, max, failed: false }
}

impl Packets<'_> {
    /// Bytes taken by the packets yielded so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<(u8, &'a [u8]), ProtocolError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = &self.buf[self.pos..];
        match packet_len(rest, self.max) {
            Ok(Some(n)) => {
                self.pos += n;
                Some(Ok((rest[3], &rest[HEADER_LEN..n])))
            }
            Ok(None) => None,
            Err(e) => {
                // Stop after an error: nothing past a bad header can be framed.
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Scans the physical packets at the start of `buf` that make up one logical packet.
///
/// Returns the end offset, the joined payload length, the last sequence id and the number of pieces when the
/// logical packet is complete; otherwise how many more bytes are at least needed.
fn scan_logical(buf: &[u8], max: usize) -> Result<Scan, ProtocolError> {
    let mut offset = 0;
    let mut total = 0usize;
    let mut pieces = 0usize;
    loop {
        let Some((len, seq)) = header(&buf[offset..]) else {
            return Ok(Scan::Need(offset + HEADER_LEN - buf.len()));
        };
        total += len;
        if total > max {
            return Err(ProtocolError::TooLarge { len: total, max });
        }
        let end = offset + HEADER_LEN + len;
        if buf.len() < end {
            return Ok(Scan::Need(end - buf.len()));
        }
        pieces += 1;
        offset = end;
        if len < MAX_PAYLOAD {
            return Ok(Scan::Complete { end, total, seq, pieces });
        }
    }
}

enum Scan {
    Need(usize),
    Complete { end: usize, total: usize, seq: u8, pieces: usize },
}

/// Takes one complete logical packet off the front of `buf`, if it is all there.
///
/// Returns the sequence id of the last physical piece (the next packet in the exchange uses that plus one) and
/// the joined payload. A packet that was not split is handed back without copying.
pub fn take_packet(buf: &mut BytesMut, max: usize) -> Result<Option<(u8, Bytes)>, ProtocolError> {
    match scan_logical(buf, max)? {
        Scan::Need(_) => Ok(None),
        Scan::Complete { end, total, seq, pieces } => {
            let mut raw = buf.split_to(end);
            if pieces == 1 {
                raw.advance(HEADER_LEN);
                return Ok(Some((seq, raw.freeze())));
            }
            let mut joined = BytesMut::with_capacity(total);
            let mut rest = &raw[..];
            while let Some((len, _)) = header(rest) {
                joined.extend_from_slice(&rest[HEADER_LEN..HEADER_LEN + len]);
                rest = &rest[HEADER_LEN + len..];
            }
            Ok(Some((seq, joined.freeze())))
        }
    }
}

/// Reads one logical packet from `s`, joining 16 MiB pieces, using `buf` as the connection's read buffer.
///
/// Bytes after the packet stay in `buf` for the next call. `Ok(None)` means the peer closed the connection
/// cleanly before the first byte of a packet; a close inside a packet is [`ProtocolError::Truncated`]. A joined
/// payload longer than `max` is [`ProtocolError::TooLarge`], detected from the headers before the bytes are read.
pub async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<(u8, Bytes)>, ProtocolError> {
    loop {
        let need = match scan_logical(buf, max)? {
            Scan::Need(n) => n,
            Scan::Complete { .. } => return take_packet(buf, max),
        };
        // Reserve what the headers say is missing, capped so a slow peer cannot make us pre-allocate much.
        buf.reserve(need.clamp(HEADER_LEN, 64 * 1024));
        if s.read_buf(buf).await? == 0 {
            return if buf.is_empty() { Ok(None) } else { Err(ProtocolError::Truncated) };
        }
    }
}

/// Appends `payload` as packets starting at sequence id `seq`, splitting at [`MAX_PAYLOAD`] bytes.
///
/// A payload whose length is a multiple of [`MAX_PAYLOAD`] ends with an empty packet, as the protocol requires.
/// Returns the sequence id the next packet of the exchange must use.
pub fn write_packet(out: &mut BytesMut, seq: u8, payload: &[u8]) -> u8 {
    let mut seq = seq;
    let mut rest = payload;
    out.reserve(payload.len() + HEADER_LEN * (payload.len() / MAX_PAYLOAD + 1));
    loop {
        let n = rest.len().min(MAX_PAYLOAD);
        let len = n as u32;
        out.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, seq]);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PAYLOAD {
            return seq;
        }
    }
}

/// Starts a packet whose payload the caller appends; finish it with [`finish_packet`].
///
/// Lets builders write straight into the output buffer without an intermediate payload vector.
pub(crate) fn begin_packet(out: &mut BytesMut, seq: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, seq]);
    start
}

/// Fills in the length of a packet begun with [`begin_packet`]; payloads over [`MAX_PAYLOAD`] are re-split.
pub(crate) fn finish_packet(out: &mut BytesMut, start: usize) -> u8 {
    let len = out.len() - start - HEADER_LEN;
    let seq = out[start + 3];
    if len >= MAX_PAYLOAD {
        let payload = out.split_off(start + HEADER_LEN);
        out.truncate(start);
        return write_packet(out, seq, &payload);
    }
    out[start] = len as u8;
    out[start + 1] = (len >> 8) as u8;
    out[start + 2] = (len >> 16) as u8;
    seq.wrapping_add(1)
}
