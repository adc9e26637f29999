//! The proxy as a MySQL server authenticating a client: `mysql_native_password` and `caching_sha2_password`
//! against a plain password, with an auth switch when the client used another plugin.
//!
//! `caching_sha2_password`: the proxy knows every password in plain text, so it can always check the fast-path
//! scramble and answer "fast auth success"; a wrong scramble is a wrong password, as on a MySQL server whose cache
//! holds the user. The full path (the client sends the password itself) runs only when the caller asks for it
//! with [`ServerHandshake::force_full_auth`]. Over TLS the client then sends the cleartext password. On a plain
//! connection a MySQL server would hand out an RSA public key; the proxy has none and fails with
//! [`ProtocolError::RequiresSecureConnection`] instead, which the caller reports to the client (error 2061-style
//! "Authentication requires secure connection"). Rationale: generating and holding an RSA key pair needs a new
//! crypto dependency for a path the proxy never needs, since the fast path always verifies.
//!
//! Not here: deciding which users exist or which plugin to require (the caller passes both), sending the final
//! OK or ERR (the caller does, with the sequence id in [`ServerHandshake::seq`]), TLS itself.

use bytes::BytesMut;
use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::packets::AuthSwitchRequest;
use mysql_common::proto::MySerialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::ProtocolError;
use super::framer::{read_packet, write_packet};
use super::handshake::{self, ClientFirst, ClientHello, SCRAMBLE_LEN};

/// Name of the `mysql_native_password` plugin.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";
/// Name of the `caching_sha2_password` plugin.
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// `caching_sha2_password` AuthMoreData status: the fast-path scramble matched.
pub const FAST_AUTH_SUCCESS: u8 = 0x03;
/// `caching_sha2_password` AuthMoreData status: the client must send its password.
pub const PERFORM_FULL_AUTHENTICATION: u8 = 0x04;
/// `caching_sha2_password` client request for the server's RSA public key.
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;
/// First byte of an AuthMoreData packet.
pub const AUTH_MORE_DATA: u8 = 0x01;

/// The authentication plugin the proxy requires from its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// SHA-1 challenge-response; understood by every MySQL and MariaDB client.
    NativePassword,
    /// SHA-256 challenge-response with a fast and a full path; MySQL 8 clients' default.
    CachingSha2Password,
}

impl AuthMethod {
    /// The plugin name on the wire.
    pub fn plugin_name(self) -> &'static str {
        match self {
            Self::NativePassword => NATIVE_PASSWORD,
            Self::CachingSha2Password => CACHING_SHA2_PASSWORD,
        }
    }
}

/// Server-side state of one client's connection phase: the scramble, what was offered and the sequence id.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    /// Nonce sent in the greeting and reused in an auth switch.
    pub scramble: [u8; SCRAMBLE_LEN],
    /// Plugin the client must authenticate with.
    pub method: AuthMethod,
    /// Capabilities offered in the greeting.
    pub caps: CapabilityFlags,
    /// Largest packet accepted during the handshake.
    pub max_packet: usize,
    /// Sequence id of the next packet the proxy writes (the final OK or ERR uses it).
    pub seq: u8,
    /// Run `caching_sha2_password`'s full path even when the fast path would do (see the module doc).
    pub force_full_auth: bool,
}

impl ServerHandshake {
    /// A handshake with a fresh random scramble.
    pub fn new(method: AuthMethod, caps: CapabilityFlags, max_packet: usize) -> Self {
        ServerHandshake {
            scramble: handshake::new_scramble(),
            method,
            caps: caps | handshake::REQUIRED_CAPABILITIES,
            max_packet,
            seq: 0,
            force_full_auth: false,
        }
    }

    /// Appends the greeting packet for this handshake.
    pub fn greeting(
        &mut self,
        out: &mut BytesMut,
        conn_id: u32,
        server_version: &str,
        charset: u8,
        status: StatusFlags,
    ) {
        let plugin = self.method.plugin_name();
        self.seq =
            handshake::greeting(out, conn_id, server_version, &self.scramble, self.caps, charset, status, plugin);
    }

    /// Capabilities in force after the handshake: what the client asked for and the proxy offered.
    pub fn negotiated(&self, hello: &ClientHello) -> CapabilityFlags {
        hello.caps & self.caps
    }
}

async fn next_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    hs: &mut ServerHandshake,
) -> Result<bytes::Bytes, ProtocolError> {
    let (seq, payload) = read_packet(s, buf, hs.max_packet).await?.ok_or(ProtocolError::Closed)?;
    hs.seq = seq.wrapping_add(1);
    Ok(payload)
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, hs: &mut ServerHandshake, payload: &[u8]) -> Result<(), ProtocolError> {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    hs.seq = write_packet(&mut out, hs.seq, payload);
    s.write_all(&out).await?;
    s.flush().await?;
    Ok(())
}

/// Reads the client's first packet after the greeting: an SSLRequest or a HandshakeResponse.
pub async fn read_client_first<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    hs: &mut ServerHandshake,
) -> Result<ClientFirst, ProtocolError> {
    let (seq, payload) = read_packet(s, buf, hs.max_packet).await?.ok_or(ProtocolError::Closed)?;
    hs.seq = seq.wrapping_add(1);
    handshake::parse_client_first(seq, &payload)
}

/// Reads the HandshakeResponse a client sends after TLS was set up following its SSLRequest.
pub async fn read_handshake_response<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    hs: &mut ServerHandshake,
) -> Result<ClientHello, ProtocolError> {
    let (seq, payload) = read_packet(s, buf, hs.max_packet).await?.ok_or(ProtocolError::Closed)?;
    hs.seq = seq.wrapping_add(1);
    handshake::parse_handshake_response(seq, &payload)
}

/// Authenticates a client whose HandshakeResponse is `hello` against `password` (`None`: unknown user).
///
/// Sends an auth switch when the client used another plugin than [`ServerHandshake::method`], and the
/// `caching_sha2_password` status packets. `secure` says the stream is TLS (or otherwise private), which
/// allows the cleartext full path. On success returns the hello with `auth_plugin` and `auth_response` as
/// finally used; the caller then sends OK with sequence id `hs.seq` (or ERR, e.g. for an unknown database).
/// On [`ProtocolError::AccessDenied`] the caller sends ERR 1045 with `hs.seq`.
pub async fn server_authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    hs: &mut ServerHandshake,
    mut hello: ClientHello,
    secure: bool,
    password: Option<&str>,
) -> Result<ClientHello, ProtocolError> {
    hs.seq = hello.seq.wrapping_add(1);
    let wanted = hs.method.plugin_name();
    let client_plugin = hello.auth_plugin.as_deref().unwrap_or(NATIVE_PASSWORD);
    if client_plugin != wanted {
        if !hello.caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            return Err(ProtocolError::Unsupported("plugin authentication"));
        }
        let mut data = hs.scramble.to_vec();
        data.push(0);
        let mut payload = Vec::with_capacity(64);
        AuthSwitchRequest::new(wanted.as_bytes(), data).serialize(&mut payload);
        send(s, hs, &payload).await?;
        hello.auth_response = next_packet(s, buf, hs).await?.to_vec();
        hello.auth_plugin = Some(wanted.to_owned());
    }
    let denied = |hello: &ClientHello| ProtocolError::AccessDenied {
        user: hello.user.clone(),
        using_password: !hello.auth_response.is_empty(),
    };
    let Some(password) = password else {
        return Err(denied(&hello));
    };
    let ok = match hs.method {
        AuthMethod::NativePassword => verify_native(&hs.scramble, password, &hello.auth_response),
        AuthMethod::CachingSha2Password => caching_sha2(s, buf, hs, &hello.auth_response, password, secure).await?,
    };
    if ok { Ok(hello) } else { Err(denied(&hello)) }
}

/// The server side of `caching_sha2_password` after the client's scramble arrived; `Ok(false)` is a wrong
/// password.
async fn caching_sha2<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    hs: &mut ServerHandshake,
    response: &[u8],
    password: &str,
    secure: bool,
) -> Result<bool, ProtocolError> {
    if password.is_empty() {
        // The client sends nothing (or a lone NUL) for an empty password and expects OK straight away.
        return Ok(matches!(response, [] | [0]));
    }
    if !hs.force_full_auth {
        if !verify_sha2_fast(&hs.scramble, password, response) {
            return Ok(false);
        }
        send(s, hs, &[AUTH_MORE_DATA, FAST_AUTH_SUCCESS]).await?;
        return Ok(true);
    }
    send(s, hs, &[AUTH_MORE_DATA, PERFORM_FULL_AUTHENTICATION]).await?;
    let reply = next_packet(s, buf, hs).await?;
    if !secure {
        // A public-key request (0x02) or an RSA-encrypted password: the proxy holds no key pair.
        return Err(ProtocolError::RequiresSecureConnection);
    }
    let sent = reply.strip_suffix(&[0]).unwrap_or(&reply);
    Ok(ct_eq(sent, password.as_bytes()))
}

/// Checks a `mysql_native_password` response: SHA1(pw) XOR SHA1(scramble, SHA1(SHA1(pw))); empty for an empty
/// password.
pub fn verify_native(scramble: &[u8; SCRAMBLE_LEN], password: &str, response: &[u8]) -> bool {
    match scramble_native(scramble, password.as_bytes()) {
        Some(expected) => ct_eq(&expected, response),
        None => response.is_empty(),
    }
}

/// Checks a `caching_sha2_password` fast-path response:
/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)), scramble); empty for an empty password.
pub fn verify_sha2_fast(scramble: &[u8; SCRAMBLE_LEN], password: &str, response: &[u8]) -> bool {
    match scramble_sha256(scramble, password.as_bytes()) {
        Some(expected) => ct_eq(&expected, response),
        None => matches!(response, [] | [0]),
    }
}

/// Comparison whose time does not depend on where the first difference is.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
