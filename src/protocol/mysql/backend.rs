//! The proxy as a MySQL client logging in to a backend: greeting, HandshakeResponse41, auth switch,
//! `mysql_native_password` and `caching_sha2_password` (fast path; full path in cleartext over TLS or
//! RSA-encrypted with the server's public key on a plain connection).
//!
//! The caller owns the stream and the TLS decision: for TLS it calls [`read_greeting`], writes
//! [`ssl_request`], upgrades the stream, then calls [`backend_authenticate`] with `tls = true`. On a plain
//! connection [`connect_backend`] does all of it. Which backend to dial and which credentials to use is the
//! caller's business. MariaDB's `client_ed25519` and `parsec` are not implemented.

use bytes::{BufMut, BytesMut};
use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::AuthSwitchRequest;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::auth::{
    AUTH_MORE_DATA, CACHING_SHA2_PASSWORD, FAST_AUTH_SUCCESS, NATIVE_PASSWORD, PERFORM_FULL_AUTHENTICATION,
    REQUEST_PUBLIC_KEY,
};
use super::framer::{begin_packet, finish_packet, read_packet, write_packet};
use super::handshake::{REQUIRED_CAPABILITIES, ServerGreeting, parse_server_greeting};
use super::packets::{OK_HEADER, parse_err, parse_ok, put_lenenc};
use super::{ProtocolError, RELAY_CAPABILITIES};

/// What the proxy logs in with.
#[derive(Clone, Copy)]
pub struct BackendLogin<'a> {
    /// Backend user.
    pub user: &'a str,
    /// Its password; `None` or empty for none.
    pub password: Option<&'a str>,
    /// Initial database.
    pub database: Option<&'a str>,
    /// Capabilities wanted, usually the ones the client negotiated with the proxy. They are limited to
    /// [`RELAY_CAPABILITIES`] and to what the backend offers; `CLIENT_CONNECT_WITH_DB`, `CLIENT_CONNECT_ATTRS` and
    /// `CLIENT_SSL` are set from the other fields. `CLIENT_DEPRECATE_EOF` is passed through as given, so the
    /// backend ends result sets the way the client expects.
    pub caps: CapabilityFlags,
    /// Collation id for the connection.
    pub charset: u8,
    /// Largest packet accepted during the handshake, also announced as max packet size.
    pub max_packet: usize,
    /// Connection attributes to send (for example `program_name`).
    pub connect_attrs: &'a [(&'a str, &'a str)],
}

impl std::fmt::Debug for BackendLogin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendLogin")
            .field("user", &self.user)
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("caps", &self.caps)
            .field("charset", &self.charset)
            .finish_non_exhaustive()
    }
}

/// A logged-in backend connection's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHandshake {
    /// Backend thread id (for KILL).
    pub conn_id: u32,
    /// Version string as the backend sent it.
    pub server_version: String,
    /// Capabilities in force on this connection.
    pub caps: CapabilityFlags,
    /// Status flags from the final OK.
    pub status: StatusFlags,
    /// Collation id the proxy asked for.
    pub charset: u8,
    /// The auth plugin that finally succeeded.
    pub auth_plugin: String,
}

/// Reads and parses the backend's greeting.
pub async fn read_greeting<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<ServerGreeting, ProtocolError> {
    let (_, payload) = read_packet(s, buf, max).await?.ok_or(ProtocolError::Closed)?;
    parse_server_greeting(&payload)
}

/// The capabilities the proxy will ask for, given the backend's greeting.
pub fn negotiate(
    greeting: &ServerGreeting,
    login: &BackendLogin<'_>,
    tls: bool,
) -> Result<CapabilityFlags, ProtocolError> {
    if !greeting.caps.contains(REQUIRED_CAPABILITIES) {
        return Err(ProtocolError::Unsupported("protocol 4.1 with plugin authentication"));
    }
    let mut caps = (login.caps & RELAY_CAPABILITIES) | REQUIRED_CAPABILITIES;
    caps.set(CapabilityFlags::CLIENT_CONNECT_WITH_DB, login.database.is_some());
    caps.set(CapabilityFlags::CLIENT_CONNECT_ATTRS, !login.connect_attrs.is_empty());
    caps.set(CapabilityFlags::CLIENT_SSL, tls);
    Ok(caps & greeting.caps)
}

/// Appends an SSLRequest (sequence id 1); after writing it the caller starts TLS on the stream.
pub fn ssl_request(out: &mut BytesMut, caps: CapabilityFlags, charset: u8, max_packet: usize) -> u8 {
    let start = begin_packet(out, 1);
    out.put_u32_le((caps | CapabilityFlags::CLIENT_SSL).bits());
    out.put_u32_le(u32::try_from(max_packet).unwrap_or(u32::MAX));
    out.put_u8(charset);
    out.put_bytes(0, 23);
    finish_packet(out, start)
}

/// Appends the HandshakeResponse41.
pub(crate) fn handshake_response(
    out: &mut BytesMut,
    seq: u8,
    caps: CapabilityFlags,
    login: &BackendLogin<'_>,
    plugin: &str,
    auth: &[u8],
) {
    let start = begin_packet(out, seq);
    out.put_u32_le(caps.bits());
    out.put_u32_le(u32::try_from(login.max_packet).unwrap_or(u32::MAX));
    out.put_u8(login.charset);
    out.put_bytes(0, 23);
    out.put_slice(login.user.as_bytes());
    out.put_u8(0);
    if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        put_lenenc(out, auth.len() as u64);
    } else {
        out.put_u8(auth.len() as u8);
    }
    out.put_slice(auth);
    if let Some(db) = login.database.filter(|_| caps.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB)) {
        out.put_slice(db.as_bytes());
        out.put_u8(0);
    }
    out.put_slice(plugin.as_bytes());
    out.put_u8(0);
    if caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) {
        let mut attrs = BytesMut::new();
        for (k, v) in login.connect_attrs {
            put_lenenc(&mut attrs, k.len() as u64);
            attrs.put_slice(k.as_bytes());
            put_lenenc(&mut attrs, v.len() as u64);
            attrs.put_slice(v.as_bytes());
        }
        put_lenenc(out, attrs.len() as u64);
        out.put_slice(&attrs);
    }
    finish_packet(out, start);
}

/// The first auth response of `plugin` for `scramble`; empty for an empty password.
fn scramble_for(plugin: &str, scramble: &[u8], password: &str) -> Result<Vec<u8>, ProtocolError> {
    let pw = password.as_bytes();
    match plugin {
        NATIVE_PASSWORD => Ok(scramble_native(scramble, pw).map(|x| x.to_vec()).unwrap_or_default()),
        CACHING_SHA2_PASSWORD => {
            let nonce: &[u8; 20] =
                scramble.get(..20).and_then(|n| n.try_into().ok()).ok_or(ProtocolError::malformed("auth scramble"))?;
            Ok(scramble_sha256(nonce, pw).map(|x| x.to_vec()).unwrap_or_default())
        }
        other => Err(ProtocolError::UnsupportedPlugin(other.to_owned())),
    }
}

/// Logs in on a plain connection: reads the greeting, authenticates, returns the connection's facts.
pub async fn connect_backend<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    login: &BackendLogin<'_>,
) -> Result<BackendHandshake, ProtocolError> {
    let greeting = read_greeting(s, buf, login.max_packet).await?;
    backend_authenticate(s, buf, &greeting, login, false).await
}

/// Sends the HandshakeResponse and runs the auth exchange until the backend's OK.
///
/// `tls` says an SSLRequest was sent and the stream is now encrypted (the response then has sequence id 2 and
/// `caching_sha2_password` may send the password in cleartext). A backend ERR becomes [`ProtocolError::Backend`].
pub async fn backend_authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    greeting: &ServerGreeting,
    login: &BackendLogin<'_>,
    tls: bool,
) -> Result<BackendHandshake, ProtocolError> {
    let caps = negotiate(greeting, login, tls)?;
    let password = login.password.unwrap_or("");
    let mut plugin = match greeting.auth_plugin.as_str() {
        CACHING_SHA2_PASSWORD => CACHING_SHA2_PASSWORD,
        _ => NATIVE_PASSWORD,
    };
    let mut scramble = greeting.scramble.clone();
    let auth = scramble_for(plugin, &scramble, password)?;
    let mut out = BytesMut::with_capacity(256);
    handshake_response(&mut out, if tls { 2 } else { 1 }, caps, login, plugin, &auth);
    s.write_all(&out).await?;
    s.flush().await?;
    let mut switched = false;
    loop {
        let (seq, payload) = read_packet(s, buf, login.max_packet).await?.ok_or(ProtocolError::Closed)?;
        let (write_seq, reply): (u8, Vec<u8>) = match payload.first() {
            Some(&OK_HEADER) => {
                let ok = parse_ok(&payload, caps)?;
                return Ok(BackendHandshake {
                    conn_id: greeting.conn_id,
                    server_version: greeting.server_version.clone(),
                    caps,
                    status: ok.status,
                    charset: login.charset,
                    auth_plugin: plugin.to_owned(),
                });
            }
            Some(0xFF) => return Err(parse_err(&payload)?.into()),
            Some(0xFE) if !switched && payload.len() > 1 => {
                switched = true;
                let req: AuthSwitchRequest<'_> =
                    ParseBuf(&payload).parse(()).map_err(|_| ProtocolError::malformed("AuthSwitchRequest"))?;
                scramble = req.plugin_data().to_vec();
                let name = req.auth_plugin();
                plugin = match name.as_bytes() {
                    b"mysql_native_password" => NATIVE_PASSWORD,
                    b"caching_sha2_password" => CACHING_SHA2_PASSWORD,
                    b"mysql_clear_password" if tls => "mysql_clear_password",
                    other => return Err(ProtocolError::UnsupportedPlugin(String::from_utf8_lossy(other).into_owned())),
                };
                let data = if plugin == "mysql_clear_password" {
                    let mut pw = password.as_bytes().to_vec();
                    pw.push(0);
                    pw
                } else {
                    scramble_for(plugin, &scramble, password)?
                };
                (seq.wrapping_add(1), data)
            }
            Some(&AUTH_MORE_DATA) if plugin == CACHING_SHA2_PASSWORD => {
                match sha2_more_data(s, buf, &payload, seq, &scramble, password, tls, login.max_packet).await? {
                    Some(reply) => reply,
                    None => continue,
                }
            }
            _ => return Err(ProtocolError::unexpected("authenticating to the backend", &payload)),
        };
        out.clear();
        write_packet(&mut out, write_seq, &reply);
        s.write_all(&out).await?;
        s.flush().await?;
    }
}

/// Handles a `caching_sha2_password` AuthMoreData: `None` after fast-auth success (the OK follows), otherwise
/// the sequence id and payload to send (cleartext password over TLS, or the RSA-encrypted password after
/// fetching the key).
#[allow(clippy::too_many_arguments)]
async fn sha2_more_data<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    payload: &[u8],
    seq: u8,
    scramble: &[u8],
    password: &str,
    tls: bool,
    max: usize,
) -> Result<Option<(u8, Vec<u8>)>, ProtocolError> {
    match payload.get(1) {
        Some(&FAST_AUTH_SUCCESS) => Ok(None),
        Some(&PERFORM_FULL_AUTHENTICATION) => {
            let mut pw = password.as_bytes().to_vec();
            pw.push(0);
            if tls {
                return Ok(Some((seq.wrapping_add(1), pw)));
            }
            let mut out = BytesMut::new();
            write_packet(&mut out, seq.wrapping_add(1), &[REQUEST_PUBLIC_KEY]);
            s.write_all(&out).await?;
            s.flush().await?;
            let (key_seq, key) = read_packet(s, buf, max).await?.ok_or(ProtocolError::Closed)?;
            let pem = match key.split_first() {
                Some((&AUTH_MORE_DATA, pem)) => pem,
                Some((0xFF, _)) => return Err(parse_err(&key)?.into()),
                _ => return Err(ProtocolError::unexpected("waiting for the backend's public key", &key)),
            };
            if scramble.is_empty() {
                return Err(ProtocolError::malformed("auth scramble"));
            }
            for (i, b) in pw.iter_mut().enumerate() {
                *b ^= scramble[i % scramble.len()];
            }
            let encrypted =
                mysql_common::crypto::encrypt(&pw, pem).map_err(|_| ProtocolError::malformed("public key"))?;
            Ok(Some((key_seq.wrapping_add(1), encrypted)))
        }
        _ => Err(ProtocolError::unexpected("caching_sha2_password exchange", payload)),
    }
}
