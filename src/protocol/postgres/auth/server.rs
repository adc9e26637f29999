//! The proxy as the authenticating server: async drivers that run SCRAM-SHA-256, MD5 or cleartext password
//! exchanges with a client on its stream.
//!
//! Each driver sends the authentication requests and reads the answers, and returns `Ok(())` when the client
//! proved the password. It does NOT send AuthenticationOk (the caller sends it with the ParameterStatus,
//! BackendKeyData and ReadyForQuery that follow) and it does NOT send an ErrorResponse on failure (the caller
//! sends 28P01 for `ProtocolError::Auth`, 08P01 for a protocol violation). Which method a user gets is policy and
//! not decided here.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::scram::{SCRAM_SHA_256, ScramServer, ScramVerifier, constant_time_eq, random_nonce};
use crate::protocol::postgres::error::ProtocolError;
use crate::protocol::postgres::frame::read_frame_exact;
use crate::protocol::postgres::messages::{
    auth_cleartext_request, auth_md5_request, auth_sasl, auth_sasl_continue, auth_sasl_final, password_body,
    sasl_initial_response_body,
};

/// PostgreSQL's wording for a failed password check (safe to show: it names only the user the client sent).
fn failed(user: &str) -> ProtocolError {
    ProtocolError::Auth(format!("password authentication failed for user \"{user}\""))
}

/// Writes and flushes `out`, leaving it empty.
pub(crate) async fn send<S: AsyncWrite + Unpin>(s: &mut S, out: &mut BytesMut) -> Result<(), ProtocolError> {
    s.write_all(out).await?;
    s.flush().await?;
    out.clear();
    Ok(())
}

/// Reads the client's next message, which must be a PasswordMessage/SASL response (`p`); returns its body.
async fn password_reply<S: AsyncRead + Unpin>(s: &mut S, max: usize) -> Result<Vec<u8>, ProtocolError> {
    match read_frame_exact(s, max).await? {
        None => Err(ProtocolError::Closed),
        Some((b'p', body)) => Ok(body),
        Some((tag, _)) => Err(ProtocolError::UnexpectedMessage { expected: "password message", tag }),
    }
}

/// Runs SCRAM-SHA-256 (without channel binding) against `verifier`, up to and including
/// AuthenticationSASLFinal. A wrong password is `ProtocolError::Auth`; the client closing is `Closed`.
pub async fn server_scram<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    user: &str,
    verifier: &ScramVerifier,
    max: usize,
) -> Result<(), ProtocolError> {
    let mut out = BytesMut::with_capacity(256);
    auth_sasl(&mut out, &[SCRAM_SHA_256]);
    send(s, &mut out).await?;

    let body = password_reply(s, max).await?;
    let (mechanism, client_first) = sasl_initial_response_body(&body)?;
    if mechanism != SCRAM_SHA_256 {
        return Err(ProtocolError::Malformed("client selected a SASL mechanism that was not offered"));
    }
    let mut scram = ScramServer::new(verifier, random_nonce());
    auth_sasl_continue(&mut out, &scram.client_first(client_first)?);
    send(s, &mut out).await?;

    let client_final = password_reply(s, max).await?;
    let server_final = scram.client_final(&client_final).map_err(|e| match e {
        ProtocolError::Auth(_) => failed(user),
        other => other,
    })?;
    auth_sasl_final(&mut out, &server_final);
    send(s, &mut out).await
}

/// The pg_authid MD5 format of a password: `"md5" + hex(md5(password + user))`.
pub fn md5_password_hash(user: &str, password: &str) -> String {
    format!("md5{:x}", md5::compute(format!("{password}{user}")))
}

/// What a client sends for MD5 authentication given the stored hash's hex part and the salt:
/// `"md5" + hex(md5(hex + salt))`.
pub(crate) fn md5_salted(hash_hex: &str, salt: [u8; 4]) -> String {
    let mut input = Vec::with_capacity(hash_hex.len() + 4);
    input.extend_from_slice(hash_hex.as_bytes());
    input.extend_from_slice(&salt);
    format!("md5{:x}", md5::compute(input))
}

/// Runs MD5 password authentication for `user` with a plain `password` and a random salt.
pub async fn server_md5<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    user: &str,
    password: &str,
    max: usize,
) -> Result<(), ProtocolError> {
    server_md5_hashed(s, user, &md5_password_hash(user, password), max).await
}

/// Runs MD5 password authentication against a stored hash in pg_authid format (`md5` + 32 hex digits, see
/// [`md5_password_hash`]), so the plain password need not be known.
pub async fn server_md5_hashed<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    user: &str,
    stored: &str,
    max: usize,
) -> Result<(), ProtocolError> {
    let hash_hex = stored
        .strip_prefix("md5")
        .filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(ProtocolError::Malformed("stored MD5 hash is not md5 followed by 32 hex digits"))?;
    let salt: [u8; 4] = rand::random();
    let mut out = BytesMut::with_capacity(16);
    auth_md5_request(&mut out, salt);
    send(s, &mut out).await?;
    let body = password_reply(s, max).await?;
    let expected = md5_salted(&hash_hex.to_ascii_lowercase(), salt);
    if !constant_time_eq(password_body(&body)?, expected.as_bytes()) {
        return Err(failed(user));
    }
    Ok(())
}

/// Runs cleartext password authentication (only sensible over TLS). `user` is only used in the error text.
pub async fn server_cleartext<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    user: &str,
    password: &str,
    max: usize,
) -> Result<(), ProtocolError> {
    let mut out = BytesMut::with_capacity(16);
    auth_cleartext_request(&mut out);
    send(s, &mut out).await?;
    let body = password_reply(s, max).await?;
    if !constant_time_eq(password_body(&body)?, password.as_bytes()) {
        return Err(failed(user));
    }
    Ok(())
}
