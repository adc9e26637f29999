//! Connection-phase packets the proxy exchanges with a client: the v10 greeting it sends, and the SSLRequest or
//! HandshakeResponse41 the client answers with.
//!
//! Parsing of the client's response is delegated to `mysql_common`'s `HandshakeResponse`; the result is copied
//! into an owned [`ClientHello`] so the session can keep it after the read buffer moves on. Only protocol 4.1
//! clients are accepted. What to offer (capabilities, version string, auth plugin) is the caller's decision; the
//! `5.5.5-` prefix MariaDB puts in front of its version is written exactly as the caller passes it.

use std::collections::HashMap;
use std::fmt;

use bytes::BytesMut;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{HandshakePacket, HandshakeResponse};
use mysql_common::proto::MySerialize;
use rand::Rng;

use super::ProtocolError;
use super::framer::write_packet;

/// Length of the authentication scramble (nonce) the proxy sends.
pub const SCRAMBLE_LEN: usize = 20;

/// Length of an SSLRequest payload: capabilities, max packet, charset, 23 reserved bytes.
pub const SSL_REQUEST_LEN: usize = 32;

/// Capabilities the greeting always carries because this module only speaks protocol 4.1 with plugin auth.
pub const REQUIRED_CAPABILITIES: CapabilityFlags = CapabilityFlags::from_bits_truncate(
    CapabilityFlags::CLIENT_PROTOCOL_41.bits()
        | CapabilityFlags::CLIENT_SECURE_CONNECTION.bits()
        | CapabilityFlags::CLIENT_PLUGIN_AUTH.bits(),
);

/// A fresh random scramble: printable 7-bit bytes without NUL or `$`, like the MySQL server makes, because some
/// clients treat the scramble as a C string.
pub fn new_scramble() -> [u8; SCRAMBLE_LEN] {
    let mut rng = rand::rng();
    let mut scramble = [0u8; SCRAMBLE_LEN];
    for b in &mut scramble {
        *b = rng.random_range(0x21..0x7F);
        if *b == b'$' {
            *b += 1;
        }
    }
    scramble
}

/// Appends the protocol v10 greeting (sequence id 0) the proxy sends when a client connects.
///
/// `caps` is what the proxy offers; [`REQUIRED_CAPABILITIES`] are added. `server_version` is written verbatim,
/// so a MariaDB-style `5.5.5-10.11.6-MariaDB` keeps its prefix. Returns the next sequence id (1).
#[allow(clippy::too_many_arguments)]
pub fn greeting(
    out: &mut BytesMut,
    conn_id: u32,
    server_version: &str,
    scramble: &[u8; SCRAMBLE_LEN],
    caps: CapabilityFlags,
    charset: u8,
    status: StatusFlags,
    auth_plugin: &str,
) -> u8 {
    let mut part1 = [0u8; 8];
    part1.copy_from_slice(&scramble[..8]);
    // The second part is sent NUL-terminated, as MySQL does (auth_plugin_data_len = 21).
    let mut part2 = [0u8; SCRAMBLE_LEN - 8 + 1];
    part2[..SCRAMBLE_LEN - 8].copy_from_slice(&scramble[8..]);
    let packet = HandshakePacket::new(
        10,
        server_version.as_bytes(),
        conn_id,
        part1,
        Some(&part2[..]),
        caps | REQUIRED_CAPABILITIES,
        charset,
        status,
        Some(auth_plugin.as_bytes()),
    );
    let mut payload = Vec::with_capacity(128);
    packet.serialize(&mut payload);
    write_packet(out, 0, &payload)
}

/// What a client sent in its HandshakeResponse41, owned.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// Sequence id of the client's packet; the proxy's answer uses this plus one.
    pub seq: u8,
    /// Capabilities the client asked for (not yet intersected with what the proxy offered).
    pub caps: CapabilityFlags,
    /// Largest packet the client accepts.
    pub max_packet: u32,
    /// Collation id of the connection (low byte).
    pub charset: u8,
    /// Login name.
    pub user: String,
    /// Initial database, `None` when absent or empty.
    pub database: Option<String>,
    /// Auth plugin the client used for `auth_response`; `None` without `CLIENT_PLUGIN_AUTH`.
    pub auth_plugin: Option<String>,
    /// The client's first auth response (a scramble for native / caching_sha2).
    pub auth_response: Vec<u8>,
    /// Connection attributes (`_client_name`, `program_name`, ...), empty without `CLIENT_CONNECT_ATTRS`.
    pub connect_attrs: HashMap<String, String>,
}

impl fmt::Debug for ClientHello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHello")
            .field("seq", &self.seq)
            .field("caps", &self.caps)
            .field("max_packet", &self.max_packet)
            .field("charset", &self.charset)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("auth_plugin", &self.auth_plugin)
            .field("auth_response", &format_args!("<{} bytes>", self.auth_response.len()))
            .field("connect_attrs", &self.connect_attrs.len())
            .finish()
    }
}

/// The client's first packet after the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFirst {
    /// SSLRequest: the caller must start TLS on the stream, then read the HandshakeResponse with
    /// [`parse_handshake_response`] from the encrypted stream.
    SslRequest {
        /// Sequence id of the SSLRequest (the HandshakeResponse follows with this plus one).
        seq: u8,
        /// Capabilities announced in the SSLRequest.
        caps: CapabilityFlags,
        /// Collation id.
        charset: u8,
    },
    /// A complete HandshakeResponse41 on a plain connection.
    Response(ClientHello),
}

fn client_caps(payload: &[u8]) -> Result<CapabilityFlags, ProtocolError> {
    let raw = payload.get(..4).ok_or(ProtocolError::malformed("HandshakeResponse"))?;
    let caps = CapabilityFlags::from_bits_truncate(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]));
    if !caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return Err(ProtocolError::Unsupported("protocol 4.1"));
    }
    Ok(caps)
}

/// Parses the client's first packet: an SSLRequest (32 bytes with `CLIENT_SSL`) or a HandshakeResponse41.
pub fn parse_client_first(seq: u8, payload: &[u8]) -> Result<ClientFirst, ProtocolError> {
    let caps = client_caps(payload)?;
    if payload.len() == SSL_REQUEST_LEN && caps.contains(CapabilityFlags::CLIENT_SSL) {
        return Ok(ClientFirst::SslRequest { seq, caps, charset: payload[8] });
    }
    parse_handshake_response(seq, payload).map(ClientFirst::Response)
}

/// Parses a HandshakeResponse41 payload (the client's login packet).
pub fn parse_handshake_response(seq: u8, payload: &[u8]) -> Result<ClientHello, ProtocolError> {
    let malformed = || ProtocolError::malformed("HandshakeResponse");
    client_caps(payload)?;
    let resp: HandshakeResponse<'_> = ParseBuf(payload).parse(()).map_err(|_| malformed())?;
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| malformed());
    let database = match resp.db_name() {
        Some(db) if !db.is_empty() => Some(text(db)?),
        _ => None,
    };
    Ok(ClientHello {
        seq,
        caps: resp.capabilities(),
        max_packet: u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]),
        charset: resp.collation(),
        user: text(resp.user())?,
        database,
        auth_plugin: resp.auth_plugin().map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned()),
        auth_response: resp.scramble_buf().to_vec(),
        connect_attrs: resp.connect_attributes().unwrap_or_default(),
    })
}

/// Parses a COM_CHANGE_USER payload into a [`ClientHello`] (sequence id 0, `max_packet` 0: not sent), so the
/// session can verify it with [`super::auth::server_authenticate`] against the scramble of the connection's
/// greeting, which is what clients compute the response with. `caps` are the connection's negotiated ones.
pub fn parse_change_user(payload: &[u8], caps: CapabilityFlags) -> Result<ClientHello, ProtocolError> {
    let malformed = || ProtocolError::malformed("COM_CHANGE_USER");
    let [0x11, rest @ ..] = payload else {
        return Err(malformed());
    };
    let (user, rest) = split_nul(rest).ok_or_else(malformed)?;
    let (auth, rest) = if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        let (&len, rest) = rest.split_first().ok_or_else(malformed)?;
        let len = usize::from(len);
        (rest.get(..len).ok_or_else(malformed)?, &rest[len..])
    } else {
        split_nul(rest).ok_or_else(malformed)?
    };
    let (db, rest) = split_nul(rest).ok_or_else(malformed)?;
    let (charset, rest) = match rest {
        [lo, _hi, rest @ ..] => (*lo, rest),
        _ => (0, rest),
    };
    let plugin = match split_nul(rest) {
        Some((name, _)) if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && !rest.is_empty() => Some(name),
        _ => None,
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| malformed());
    Ok(ClientHello {
        seq: 0,
        caps,
        max_packet: 0,
        charset,
        user: text(user)?,
        database: if db.is_empty() { None } else { Some(text(db)?) },
        auth_plugin: plugin.map(|p| String::from_utf8_lossy(p).into_owned()),
        auth_response: auth.to_vec(),
        connect_attrs: HashMap::new(),
    })
}

/// Splits a NUL-terminated string off the front of `buf`.
fn split_nul(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = buf.iter().position(|&b| b == 0)?;
    Some((&buf[..nul], &buf[nul + 1..]))
}

/// What the proxy learns from a backend's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerGreeting {
    /// Backend thread id (for KILL).
    pub conn_id: u32,
    /// Version string as sent (MariaDB's `5.5.5-` prefix included).
    pub server_version: String,
    /// Capabilities the backend offers.
    pub caps: CapabilityFlags,
    /// Backend's default collation id.
    pub charset: u8,
    /// Status flags at connect.
    pub status: StatusFlags,
    /// Auth plugin the backend proposes, `mysql_native_password` when it names none.
    pub auth_plugin: String,
    /// The 20-byte nonce (both scramble parts joined, trailing NUL removed).
    pub scramble: Vec<u8>,
}

/// Parses a backend's initial handshake (protocol v10). An ERR instead (too many connections, host blocked)
/// becomes [`ProtocolError::Backend`].
pub fn parse_server_greeting(payload: &[u8]) -> Result<ServerGreeting, ProtocolError> {
    match payload.first() {
        Some(0x0A) => {}
        Some(0xFF) => return Err(super::packets::parse_err(payload)?.into()),
        _ => return Err(ProtocolError::unexpected("reading the server greeting", payload)),
    }
    let hs: HandshakePacket<'_> = ParseBuf(payload).parse(()).map_err(|_| ProtocolError::malformed("greeting"))?;
    Ok(ServerGreeting {
        conn_id: hs.connection_id(),
        server_version: hs.server_version_str().into_owned(),
        caps: hs.capabilities(),
        charset: hs.default_collation(),
        status: hs.status_flags(),
        auth_plugin: hs.auth_plugin_name_str().map_or_else(|| "mysql_native_password".to_owned(), |p| p.into_owned()),
        scramble: hs.nonce(),
    })
}
