//! Parsers over a frame body (the bytes after the tag and length). They borrow from the body where they can,
//! check every length against the bytes actually present (never trusting a count to size an allocation), and
//! reject trailing garbage. They do not validate SQL or names beyond UTF-8.

use crate::protocol::postgres::error::ProtocolError;

/// A cursor over a body; every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn cstr_bytes(&mut self) -> Result<&'a [u8], ProtocolError> {
        let nul = self.buf.iter().position(|&b| b == 0).ok_or(ProtocolError::Malformed("unterminated string"))?;
        let (s, rest) = self.buf.split_at(nul);
        self.buf = &rest[1..];
        Ok(s)
    }

    fn cstr(&mut self) -> Result<&'a str, ProtocolError> {
        std::str::from_utf8(self.cstr_bytes()?).map_err(|_| ProtocolError::Malformed("string is not UTF-8"))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let (head, rest) = self.buf.split_first_chunk::<N>().ok_or(ProtocolError::Malformed("message too short"))?;
        self.buf = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn end(&self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() { Ok(()) } else { Err(ProtocolError::Malformed("trailing bytes after message")) }
    }
}

/// A Parse (`P`) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMsg<'a> {
    /// Statement name; empty for the unnamed statement.
    pub name: &'a str,
    /// The SQL text.
    pub sql: &'a str,
    /// Parameter type OIDs the client specified (0 = unspecified).
    pub param_types: Vec<u32>,
}

/// The fields of an ErrorResponse or NoticeResponse the proxy cares about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorFields {
    /// Non-localized severity (`V`) when present, else the possibly localized one (`S`).
    pub severity: String,
    /// SQLSTATE (`C`).
    pub code: String,
    /// Primary message (`M`).
    pub message: String,
}

/// An Authentication (`R`) request from a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    /// AuthenticationOk.
    Ok,
    /// AuthenticationCleartextPassword.
    Cleartext,
    /// AuthenticationMD5Password.
    Md5 {
        /// Salt to hash with.
        salt: [u8; 4],
    },
    /// AuthenticationSASL with the offered mechanisms.
    Sasl {
        /// Mechanism names, e.g. `SCRAM-SHA-256`, `SCRAM-SHA-256-PLUS`.
        mechanisms: Vec<String>,
    },
    /// AuthenticationSASLContinue with the server-first message.
    SaslContinue(Vec<u8>),
    /// AuthenticationSASLFinal with the server-final message.
    SaslFinal(Vec<u8>),
    /// Any other method (Kerberos, GSSAPI, SSPI...), by its code.
    Other(i32),
}

/// SQL text of a Query (`Q`).
pub fn query_text(body: &[u8]) -> Result<&str, ProtocolError> {
    let mut r = Reader::new(body);
    let sql = r.cstr()?;
    r.end()?;
    Ok(sql)
}

/// Decodes a Parse (`P`).
pub fn parse_body(body: &[u8]) -> Result<ParseMsg<'_>, ProtocolError> {
    let mut r = Reader::new(body);
    let name = r.cstr()?;
    let sql = r.cstr()?;
    let count = usize::try_from(r.i16()?).map_err(|_| ProtocolError::Malformed("negative parameter count"))?;
    let rest = r.rest();
    if rest.len() != count * 4 {
        return Err(ProtocolError::Malformed("parameter type count does not match the message length"));
    }
    let param_types = rest.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(ParseMsg { name, sql, param_types })
}

/// Portal and statement names of a Bind (`B`); the rest of the message is not looked at.
pub fn bind_names(body: &[u8]) -> Result<(&str, &str), ProtocolError> {
    let mut r = Reader::new(body);
    let portal = r.cstr()?;
    let statement = r.cstr()?;
    Ok((portal, statement))
}

/// Kind (`S` statement or `P` portal) and name of a Describe (`D`) or Close (`C`) from a client.
pub fn describe_or_close(body: &[u8]) -> Result<(u8, &str), ProtocolError> {
    let mut r = Reader::new(body);
    let kind = r.u8()?;
    if kind != b'S' && kind != b'P' {
        return Err(ProtocolError::Malformed("describe/close kind is neither 'S' nor 'P'"));
    }
    let name = r.cstr()?;
    r.end()?;
    Ok((kind, name))
}

/// Portal name of an Execute (`E`); the row limit that follows is not returned.
pub fn execute_portal(body: &[u8]) -> Result<&str, ProtocolError> {
    let mut r = Reader::new(body);
    let portal = r.cstr()?;
    r.i32()?;
    r.end()?;
    Ok(portal)
}

/// Row limit of an Execute (`E`); 0 means no limit.
pub fn execute_max_rows(body: &[u8]) -> Result<i32, ProtocolError> {
    let mut r = Reader::new(body);
    r.cstr_bytes()?;
    let rows = r.i32()?;
    r.end()?;
    Ok(rows)
}

/// Command tag of a CommandComplete (`C`) from a backend, e.g. `INSERT 0 1`.
pub fn command_tag(body: &[u8]) -> Result<&str, ProtocolError> {
    query_text(body)
}

/// Transaction status of a ReadyForQuery (`Z`): `I` idle, `T` in a transaction, `E` in a failed transaction.
pub fn ready_status(body: &[u8]) -> Result<u8, ProtocolError> {
    match body {
        [status @ (b'I' | b'T' | b'E')] => Ok(*status),
        [_] => Err(ProtocolError::Malformed("unknown transaction status")),
        _ => Err(ProtocolError::Malformed("ReadyForQuery body is not one byte")),
    }
}

/// Name and value of a ParameterStatus (`S`).
pub fn parameter_status_body(body: &[u8]) -> Result<(&str, &str), ProtocolError> {
    let mut r = Reader::new(body);
    let name = r.cstr()?;
    let value = r.cstr()?;
    r.end()?;
    Ok((name, value))
}

/// Severity, SQLSTATE and message of an ErrorResponse (`E`) or NoticeResponse (`N`). Text that is not UTF-8
/// (a server in another encoding) is converted lossily: these fields are for logs and for building a new
/// error, never for forwarding.
pub fn error_fields(body: &[u8]) -> Result<ErrorFields, ProtocolError> {
    let mut r = Reader::new(body);
    let mut fields = ErrorFields::default();
    let mut localized = None;
    loop {
        let code = r.u8()?;
        if code == 0 {
            break;
        }
        let value = String::from_utf8_lossy(r.cstr_bytes()?).into_owned();
        match code {
            b'S' => localized = Some(value),
            b'V' => fields.severity = value,
            b'C' => fields.code = value,
            b'M' => fields.message = value,
            _ => {}
        }
    }
    r.end()?;
    if fields.severity.is_empty() {
        fields.severity = localized.unwrap_or_default();
    }
    Ok(fields)
}

/// Process id and secret key of a BackendKeyData (`K`) under protocol 3.0.
pub fn backend_key(body: &[u8]) -> Result<(i32, i32), ProtocolError> {
    let mut r = Reader::new(body);
    let pid = r.i32()?;
    let secret = r.i32()?;
    r.end()?;
    Ok((pid, secret))
}

/// Decodes an Authentication (`R`) request.
pub fn auth_request(body: &[u8]) -> Result<AuthRequest, ProtocolError> {
    let mut r = Reader::new(body);
    let request = match r.i32()? {
        0 => AuthRequest::Ok,
        3 => AuthRequest::Cleartext,
        5 => AuthRequest::Md5 { salt: r.array()? },
        10 => {
            let mut mechanisms = Vec::new();
            loop {
                let m = r.cstr()?;
                if m.is_empty() {
                    break;
                }
                mechanisms.push(m.to_owned());
            }
            AuthRequest::Sasl { mechanisms }
        }
        11 => AuthRequest::SaslContinue(r.rest().to_vec()),
        12 => AuthRequest::SaslFinal(r.rest().to_vec()),
        other => return Ok(AuthRequest::Other(other)),
    };
    r.end()?;
    Ok(request)
}

/// Mechanism and client-first data of a SASLInitialResponse (`p`). A data length of -1 (no data) is empty.
pub fn sasl_initial_response_body(body: &[u8]) -> Result<(&str, &[u8]), ProtocolError> {
    let mut r = Reader::new(body);
    let mechanism = r.cstr()?;
    let len = r.i32()?;
    let data = r.rest();
    match usize::try_from(len) {
        Ok(n) if n == data.len() => Ok((mechanism, data)),
        Err(_) if len == -1 && data.is_empty() => Ok((mechanism, data)),
        _ => Err(ProtocolError::Malformed("SASL data length does not match the message length")),
    }
}

/// The password of a PasswordMessage (`p`) for cleartext or MD5, without its terminating NUL.
pub fn password_body(body: &[u8]) -> Result<&[u8], ProtocolError> {
    let mut r = Reader::new(body);
    let password = r.cstr_bytes()?;
    r.end()?;
    Ok(password)
}
