//! Renders captured statement parameters (a PostgreSQL Bind frame, a MySQL COM_STMT_EXECUTE payload) as text.
//! Runs only for slow statements and worst samples, off the data path; malformed input gives what could be
//! read, never a panic.

use super::event::Params;

/// The parameters as text (`None` = SQL NULL). Binary PostgreSQL values are decoded by shape (see
/// [`pg_binary`]).
pub fn render(params: &Params) -> Vec<Option<String>> {
    match params {
        Params::None => Vec::new(),
        Params::PgBind(frame) => pg_bind(frame.get(5..).unwrap_or_default()).unwrap_or_default(),
        Params::MyExecute { payload, count, types } => {
            my_execute(payload, usize::from(*count), types.as_deref()).unwrap_or_default()
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn i16_be(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32_be(&mut self) -> Option<i32> {
        self.take(4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.buf.iter().position(|b| *b == 0)?;
        let s = self.take(end)?;
        self.take(1)?;
        Some(s)
    }
    fn le(&mut self, n: usize) -> Option<u64> {
        self.take(n).map(|b| b.iter().rev().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }
    /// MySQL length-encoded integer.
    fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.le(2),
            0xfd => self.le(3),
            0xfe => self.le(8),
            _ => None,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A Bind body: portal, statement, format codes, values.
fn pg_bind(body: &[u8]) -> Option<Vec<Option<String>>> {
    let mut r = Reader { buf: body };
    r.cstr()?;
    r.cstr()?;
    let nformats = usize::try_from(r.i16_be()?).ok()?;
    let mut formats = Vec::with_capacity(nformats);
    for _ in 0..nformats {
        formats.push(r.i16_be()?);
    }
    let n = usize::try_from(r.i16_be()?).ok()?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let len = r.i32_be()?;
        if len < 0 {
            out.push(None);
            continue;
        }
        let value = r.take(usize::try_from(len).ok()?)?;
        let format = match formats.len() {
            0 => 0,
            1 => formats[0],
            _ => *formats.get(i)?,
        };
        out.push(Some(if format == 0 { String::from_utf8_lossy(value).into_owned() } else { pg_binary(value) }));
    }
    Some(out)
}

/// A binary-format PostgreSQL value whose type the proxy did not track: printable UTF-8 is text (the binary
/// form of text, varchar, name, json), 1, 2, 4 and 8 bytes are integers (bool, int2, int4, int8), anything
/// else is `\x` hex. A printable integer ("ABCD" for 1094861636) is shown as text: this is for logs and
/// EXPLAIN, where that rare confusion is harmless.
fn pg_binary(value: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(value)
        && !value.is_empty()
        && !text.chars().any(char::is_control)
    {
        return text.to_string();
    }
    match *value {
        [b] => u8::from(b != 0).to_string(),
        [a, b] => i16::from_be_bytes([a, b]).to_string(),
        [a, b, c, d] => i32::from_be_bytes([a, b, c, d]).to_string(),
        [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]).to_string(),
        _ => hex(value),
    }
}

/// A COM_STMT_EXECUTE payload: command, statement id, flags, iteration count, NULL bitmap, new-params-bound
/// flag, types (when bound), values.
fn my_execute(payload: &[u8], count: usize, known_types: Option<&[u8]>) -> Option<Vec<Option<String>>> {
    let mut r = Reader { buf: payload };
    r.take(1 + 4 + 1 + 4)?;
    if count == 0 {
        return Some(Vec::new());
    }
    let bitmap = r.take(count.div_ceil(8))?;
    let bound = r.u8()?;
    let types = if bound == 1 { r.take(2 * count)? } else { known_types? };
    if types.len() < 2 * count {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            out.push(None);
            continue;
        }
        let (ty, unsigned) = (types[2 * i], types[2 * i + 1] & 0x80 != 0);
        out.push(Some(my_value(&mut r, ty, unsigned)?));
    }
    Some(out)
}

fn my_value(r: &mut Reader<'_>, ty: u8, unsigned: bool) -> Option<String> {
    let int = |v: u64, bits: u32| -> String {
        if unsigned {
            v.to_string()
        } else {
            let shift = 64 - bits;
            (((v << shift) as i64) >> shift).to_string()
        }
    };
    Some(match ty {
        0x06 => "NULL".into(),
        0x01 => int(r.le(1)?, 8),
        0x02 | 0x0d => int(r.le(2)?, 16),
        0x03 | 0x09 => int(r.le(4)?, 32),
        0x08 => int(r.le(8)?, 64),
        0x04 => f32::from_bits(r.le(4)? as u32).to_string(),
        0x05 => f64::from_bits(r.le(8)?).to_string(),
        // DATE, DATETIME, TIMESTAMP.
        0x0a | 0x0c | 0x07 => {
            let len = usize::from(r.u8()?);
            let b = r.take(len)?;
            let year = if len >= 2 { u16::from_le_bytes([b[0], b[1]]) } else { 0 };
            let at = |i: usize| b.get(i).copied().unwrap_or(0);
            let mut s = format!("{year:04}-{:02}-{:02}", at(2), at(3));
            if ty != 0x0a {
                s.push_str(&format!(" {:02}:{:02}:{:02}", at(4), at(5), at(6)));
                if len >= 11 {
                    s.push_str(&format!(".{:06}", u32::from_le_bytes([b[7], b[8], b[9], b[10]])));
                }
            }
            s
        }
        // TIME.
        0x0b => {
            let len = usize::from(r.u8()?);
            let b = r.take(len)?;
            if len < 8 {
                "00:00:00".into()
            } else {
                let days = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
                let sign = if b[0] == 1 { "-" } else { "" };
                format!("{sign}{:02}:{:02}:{:02}", days * 24 + u32::from(b[5]), b[6], b[7])
            }
        }
        // Strings, decimals, blobs, JSON, bit, enum, set, geometry: length-encoded bytes.
        _ => {
            let len = usize::try_from(r.lenenc()?).ok()?;
            let b = r.take(len)?;
            match std::str::from_utf8(b) {
                Ok(s) => s.to_string(),
                Err(_) => hex(b),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, Bytes, BytesMut};

    use super::*;

    #[test]
    fn bind_values_in_text_and_binary_formats() {
        let mut f = BytesMut::new();
        f.put_u8(b'B');
        f.put_i32(0);
        f.put_slice(b"\0sy_1\0");
        f.put_i16(3);
        f.put_slice(&[0, 0, 0, 1, 0, 0]);
        f.put_i16(3);
        f.put_i32(5);
        f.put_slice(b"alice");
        f.put_i32(4);
        f.put_slice(&[0, 0, 0, 42]);
        f.put_i32(-1);
        f.put_i16(0);
        let got = render(&Params::PgBind(f.freeze()));
        assert_eq!(got, vec![Some("alice".into()), Some("42".into()), None]);
    }

    #[test]
    fn execute_values_of_common_types() {
        let mut p = BytesMut::new();
        p.put_u8(0x17);
        p.put_u32_le(1);
        p.put_u8(0);
        p.put_u32_le(1);
        p.put_u8(0b0000_0100); // third is NULL
        p.put_u8(1);
        p.put_slice(&[0x08, 0x00, 0xfd, 0x00, 0x03, 0x00, 0x03, 0x80]);
        p.put_u64_le((-7i64) as u64);
        p.put_u8(3);
        p.put_slice(b"bob");
        p.put_u32_le(4_000_000_000);
        let params = Params::MyExecute { payload: p.freeze(), count: 4, types: None };
        assert_eq!(render(&params), vec![Some("-7".into()), Some("bob".into()), None, Some("4000000000".into())]);
    }

    #[test]
    fn truncated_input_gives_nothing_rather_than_a_panic() {
        assert!(render(&Params::PgBind(Bytes::from_static(b"B\0\0\0\x08\0\0\0\x01"))).is_empty());
        let params = Params::MyExecute { payload: Bytes::from_static(&[0x17, 1, 0]), count: 2, types: None };
        assert!(render(&params).is_empty());
    }
}
