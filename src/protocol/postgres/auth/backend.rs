//! The proxy as a client of a backend: send the StartupMessage, answer the backend's authentication request
//! (trust, cleartext, MD5 or SCRAM-SHA-256 with the server's signature checked) and read up to ReadyForQuery.
//!
//! It reads exactly the handshake messages and nothing past ReadyForQuery, so the stream is ready for the relay
//! when it returns. It does not pick the backend, the credentials or a timeout (wrap it in
//! `tokio::time::timeout`), and it does not retry.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use super::scram::{SCRAM_SHA_256, ScramClient};
use super::server::{md5_password_hash, md5_salted, send};
use crate::protocol::postgres::error::ProtocolError;
use crate::protocol::postgres::frame::read_frame_exact;
use crate::protocol::postgres::messages::{
    AuthRequest, auth_request, backend_key, error_fields, parameter_status_body, password_message, ready_status,
    sasl_initial_response, sasl_response, startup_message,
};

/// What a backend told us during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHandshake {
    /// Process id from BackendKeyData (0 if the backend sent none).
    pub pid: i32,
    /// Secret key from BackendKeyData (0 if the backend sent none).
    pub secret: i32,
    /// ParameterStatus pairs in the order received (server_version, client_encoding, ...).
    pub parameters: Vec<(String, String)>,
    /// Transaction status of the first ReadyForQuery (normally `I`).
    pub status: u8,
}

/// Opens a session on a backend over `s`. `params` are the startup parameters in order and must include `user`;
/// `password` answers a password request (none configured plus a password request is `ProtocolError::Auth`).
/// A backend ErrorResponse becomes `ProtocolError::Backend` with its SQLSTATE (3D000, 28P01, 53300...).
pub async fn connect_backend<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    params: &[(&str, &str)],
    password: Option<&str>,
    max: usize,
) -> Result<BackendHandshake, ProtocolError> {
    let user = params
        .iter()
        .find(|(name, _)| *name == "user")
        .map(|(_, value)| *value)
        .ok_or(ProtocolError::Malformed("startup parameters lack a user"))?;
    let mut out = BytesMut::with_capacity(256);
    startup_message(&mut out, params);
    send(s, &mut out).await?;
    authenticate(s, user, password, max, &mut out).await?;
    read_until_ready(s, max).await
}

/// Reads the next backend message; an ErrorResponse becomes `ProtocolError::Backend`, EOF becomes `Closed`.
async fn next<S: AsyncRead + Unpin>(s: &mut S, max: usize) -> Result<(u8, Vec<u8>), ProtocolError> {
    match read_frame_exact(s, max).await? {
        None => Err(ProtocolError::Closed),
        Some((b'E', body)) => Err(ProtocolError::Backend(error_fields(&body)?)),
        Some(frame) => Ok(frame),
    }
}

/// Answers authentication requests until AuthenticationOk.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    user: &str,
    password: Option<&str>,
    max: usize,
    out: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let need_password =
        || password.ok_or_else(|| ProtocolError::Auth("backend asked for a password and none is configured".into()));
    // Some(client, verified) once SCRAM has started.
    let mut scram: Option<(ScramClient, bool)> = None;
    loop {
        let (tag, body) = next(s, max).await?;
        match tag {
            b'R' => {}
            // NoticeResponse, NegotiateProtocolVersion: nothing to answer.
            b'N' | b'v' => continue,
            tag => return Err(ProtocolError::UnexpectedMessage { expected: "authentication request", tag }),
        }
        match auth_request(&body)? {
            AuthRequest::Ok => {
                if scram.as_ref().is_some_and(|(_, verified)| !verified) {
                    return Err(ProtocolError::Auth("backend ended SCRAM without proving its identity".into()));
                }
                return Ok(());
            }
            AuthRequest::Cleartext => password_message(out, need_password()?.as_bytes()),
            AuthRequest::Md5 { salt } => {
                let hash = md5_password_hash(user, need_password()?);
                password_message(out, md5_salted(&hash[3..], salt).as_bytes());
            }
            AuthRequest::Sasl { mechanisms } => {
                if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                    return Err(ProtocolError::Auth("backend offers no SASL mechanism the proxy supports".into()));
                }
                let client = ScramClient::new(need_password()?);
                sasl_initial_response(out, SCRAM_SHA_256, &client.client_first());
                scram = Some((client, false));
            }
            AuthRequest::SaslContinue(data) => {
                let (client, _) = scram.as_mut().ok_or(ProtocolError::Malformed("SASL continue before SASL"))?;
                sasl_response(out, &client.server_first(&data)?);
            }
            AuthRequest::SaslFinal(data) => {
                let (client, verified) = scram.as_mut().ok_or(ProtocolError::Malformed("SASL final before SASL"))?;
                client.server_final(&data)?;
                *verified = true;
                continue;
            }
            AuthRequest::Other(code) => {
                return Err(ProtocolError::Auth(format!("backend asked for unsupported authentication method {code}")));
            }
        }
        send(s, out).await?;
    }
}

/// Collects ParameterStatus and BackendKeyData until ReadyForQuery.
async fn read_until_ready<S: AsyncRead + Unpin>(s: &mut S, max: usize) -> Result<BackendHandshake, ProtocolError> {
    let mut handshake = BackendHandshake { pid: 0, secret: 0, parameters: Vec::new(), status: b'I' };
    loop {
        let (tag, body) = next(s, max).await?;
        match tag {
            b'S' => {
                let (name, value) = parameter_status_body(&body)?;
                handshake.parameters.push((name.to_owned(), value.to_owned()));
            }
            b'K' => (handshake.pid, handshake.secret) = backend_key(&body)?,
            b'Z' => {
                handshake.status = ready_status(&body)?;
                return Ok(handshake);
            }
            b'N' => {}
            tag => return Err(ProtocolError::UnexpectedMessage { expected: "ReadyForQuery", tag }),
        }
    }
}
