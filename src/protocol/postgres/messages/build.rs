//! Builders: each appends one complete frame (tag, length, body) to `out`.
//!
//! They never flush or write to a socket: the session batches frames and writes once per read chunk. Lengths
//! are patched after the body is written, so no builder computes sizes by hand.

use bytes::{BufMut, BytesMut};

use crate::protocol::postgres::frame::{CANCEL_REQUEST_CODE, PROTOCOL_3_0};

/// Starts a typed frame: tag plus a length placeholder. Returns where the length goes.
fn begin(out: &mut BytesMut, tag: u8) -> usize {
    out.put_u8(tag);
    let at = out.len();
    out.put_i32(0);
    at
}

/// Patches the length of the frame whose length field starts at `at`.
fn finish(out: &mut BytesMut, at: usize) {
    let len = i32::try_from(out.len() - at).expect("a frame built here is far below 2 GiB");
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn put_cstr(out: &mut BytesMut, s: &[u8]) {
    out.put_slice(s);
    out.put_u8(0);
}

/// Appends a frame with a fixed body.
fn simple(out: &mut BytesMut, tag: u8, body: &[u8]) {
    let at = begin(out, tag);
    out.put_slice(body);
    finish(out, at);
}

fn fields(out: &mut BytesMut, tag: u8, severity: &str, sqlstate: &str, message: &str) {
    let at = begin(out, tag);
    for (code, value) in [(b'S', severity), (b'V', severity), (b'C', sqlstate), (b'M', message)] {
        out.put_u8(code);
        put_cstr(out, value.as_bytes());
    }
    out.put_u8(0);
    finish(out, at);
}

/// ErrorResponse (`E`) with severity (`ERROR`, `FATAL`...), SQLSTATE and message.
pub fn error_response(out: &mut BytesMut, severity: &str, sqlstate: &str, message: &str) {
    fields(out, b'E', severity, sqlstate, message);
}

/// NoticeResponse (`N`) with severity (`NOTICE`, `WARNING`...), SQLSTATE and message.
pub fn notice_response(out: &mut BytesMut, severity: &str, sqlstate: &str, message: &str) {
    fields(out, b'N', severity, sqlstate, message);
}

fn auth(out: &mut BytesMut, code: i32, data: &[u8]) {
    let at = begin(out, b'R');
    out.put_i32(code);
    out.put_slice(data);
    finish(out, at);
}

/// AuthenticationOk.
pub fn auth_ok(out: &mut BytesMut) {
    auth(out, 0, &[]);
}

/// AuthenticationCleartextPassword.
pub fn auth_cleartext_request(out: &mut BytesMut) {
    auth(out, 3, &[]);
}

/// AuthenticationMD5Password with its 4-byte salt.
pub fn auth_md5_request(out: &mut BytesMut, salt: [u8; 4]) {
    auth(out, 5, &salt);
}

/// AuthenticationSASL listing the offered mechanisms.
pub fn auth_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    let at = begin(out, b'R');
    out.put_i32(10);
    for m in mechanisms {
        put_cstr(out, m.as_bytes());
    }
    out.put_u8(0);
    finish(out, at);
}

/// AuthenticationSASLContinue carrying the server-first message.
pub fn auth_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    auth(out, 11, data);
}

/// AuthenticationSASLFinal carrying the server-final message.
pub fn auth_sasl_final(out: &mut BytesMut, data: &[u8]) {
    auth(out, 12, data);
}

/// ParameterStatus (`S`).
pub fn parameter_status(out: &mut BytesMut, name: &str, value: &str) {
    let at = begin(out, b'S');
    put_cstr(out, name.as_bytes());
    put_cstr(out, value.as_bytes());
    finish(out, at);
}

/// BackendKeyData (`K`) in the protocol 3.0 layout (4-byte secret).
pub fn backend_key_data(out: &mut BytesMut, pid: i32, secret: i32) {
    let at = begin(out, b'K');
    out.put_i32(pid);
    out.put_i32(secret);
    finish(out, at);
}

/// ReadyForQuery (`Z`) with the transaction status `I`, `T` or `E`.
pub fn ready_for_query(out: &mut BytesMut, status: u8) {
    simple(out, b'Z', &[status]);
}

/// CommandComplete (`C`) with a command tag such as `SELECT 1` or `SET`.
pub fn command_complete(out: &mut BytesMut, tag: &str) {
    let at = begin(out, b'C');
    put_cstr(out, tag.as_bytes());
    finish(out, at);
}

/// EmptyQueryResponse (`I`).
pub fn empty_query_response(out: &mut BytesMut) {
    simple(out, b'I', &[]);
}

/// Query (`Q`): a simple-protocol query string.
pub fn query(out: &mut BytesMut, sql: &str) {
    let at = begin(out, b'Q');
    put_cstr(out, sql.as_bytes());
    finish(out, at);
}

/// Parse (`P`): prepares `sql` as statement `name` (empty = unnamed) with the given parameter type OIDs.
pub fn parse(out: &mut BytesMut, name: &str, sql: &str, param_types: &[u32]) {
    let at = begin(out, b'P');
    put_cstr(out, name.as_bytes());
    put_cstr(out, sql.as_bytes());
    let count = i16::try_from(param_types.len()).expect("PostgreSQL allows at most 32767 parameter types");
    out.put_i16(count);
    for oid in param_types {
        out.put_u32(*oid);
    }
    finish(out, at);
}

/// Close (`C`) of the prepared statement `name`.
pub fn close_statement(out: &mut BytesMut, name: &str) {
    let at = begin(out, b'C');
    out.put_u8(b'S');
    put_cstr(out, name.as_bytes());
    finish(out, at);
}

/// Sync (`S`).
pub fn sync(out: &mut BytesMut) {
    simple(out, b'S', &[]);
}

/// Flush (`H`).
pub fn flush(out: &mut BytesMut) {
    simple(out, b'H', &[]);
}

/// Terminate (`X`).
pub fn terminate(out: &mut BytesMut) {
    simple(out, b'X', &[]);
}

/// ParseComplete (`1`).
pub fn parse_complete(out: &mut BytesMut) {
    simple(out, b'1', &[]);
}

/// BindComplete (`2`).
pub fn bind_complete(out: &mut BytesMut) {
    simple(out, b'2', &[]);
}

/// CloseComplete (`3`).
pub fn close_complete(out: &mut BytesMut) {
    simple(out, b'3', &[]);
}

/// NoData (`n`).
pub fn no_data(out: &mut BytesMut) {
    simple(out, b'n', &[]);
}

/// CancelRequest (untyped, 16 bytes) for backend `pid` with its 3.0 secret key.
pub fn cancel_request(out: &mut BytesMut, pid: i32, secret: i32) {
    out.put_i32(16);
    out.put_u32(CANCEL_REQUEST_CODE);
    out.put_i32(pid);
    out.put_i32(secret);
}

/// StartupMessage (untyped) for protocol 3.0 with the parameters in the given order.
pub fn startup_message(out: &mut BytesMut, params: &[(&str, &str)]) {
    let at = out.len();
    out.put_i32(0);
    out.put_u32(PROTOCOL_3_0);
    for (name, value) in params {
        put_cstr(out, name.as_bytes());
        put_cstr(out, value.as_bytes());
    }
    out.put_u8(0);
    finish(out, at);
}

/// PasswordMessage (`p`) for cleartext or MD5 authentication; the terminating NUL is added here.
pub fn password_message(out: &mut BytesMut, password: &[u8]) {
    let at = begin(out, b'p');
    put_cstr(out, password);
    finish(out, at);
}

/// SASLInitialResponse (`p`): the chosen mechanism and the client-first message.
pub fn sasl_initial_response(out: &mut BytesMut, mechanism: &str, data: &[u8]) {
    let at = begin(out, b'p');
    put_cstr(out, mechanism.as_bytes());
    let len = i32::try_from(data.len()).expect("a SASL message is far below 2 GiB");
    out.put_i32(len);
    out.put_slice(data);
    finish(out, at);
}

/// SASLResponse (`p`): the client-final message.
pub fn sasl_response(out: &mut BytesMut, data: &[u8]) {
    simple(out, b'p', data);
}
