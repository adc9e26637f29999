//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the stored verifier, and pure state machines for
//! the server side (checking a client's proof) and the client side (proving a password to a backend).
//!
//! No IO here: the async drivers in `server` and `backend` move the messages. Channel binding
//! (SCRAM-SHA-256-PLUS) is not implemented: the server side never offers it and the client side never asks.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::protocol::postgres::error::ProtocolError;

/// The SASL mechanism name.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// PostgreSQL's default iteration count (`scram_iterations`).
pub const DEFAULT_ITERATIONS: u32 = 4096;

type HmacSha256 = Hmac<Sha256>;

/// A stored SCRAM-SHA-256 secret, as in `pg_authid.rolpassword`. Knowing it lets the proxy check a client's
/// proof without knowing the password. `Debug` hides the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// Salt the password was hashed with.
    pub salt: Vec<u8>,
    /// SHA-256 of the ClientKey.
    pub stored_key: [u8; 32],
    /// HMAC of "Server Key" under the salted password.
    pub server_key: [u8; 32],
}

impl ScramVerifier {
    /// Derives the verifier of `password` (SASLprep-normalised as PostgreSQL does, the raw password when it is
    /// not valid for SASLprep).
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        Self {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Derives a verifier with a random 16-byte salt and PostgreSQL's default 4096 iterations.
    pub fn generate(password: &str) -> Self {
        Self::from_password(password, &rand::random::<[u8; 16]>(), DEFAULT_ITERATIONS)
    }

    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts), the pg_authid format.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        const BAD: ProtocolError = ProtocolError::Malformed("not a SCRAM-SHA-256 verifier");
        let rest = s.strip_prefix("SCRAM-SHA-256$").ok_or(BAD)?;
        let (params, keys) = rest.split_once('$').ok_or(BAD)?;
        let (iterations, salt) = params.split_once(':').ok_or(BAD)?;
        let (stored_key, server_key) = keys.split_once(':').ok_or(BAD)?;
        let iterations: u32 = iterations.parse().map_err(|_| BAD)?;
        if iterations == 0 {
            return Err(BAD);
        }
        Ok(Self {
            iterations,
            salt: B64.decode(salt).map_err(|_| BAD)?,
            stored_key: decode_key(stored_key).ok_or(BAD)?,
            server_key: decode_key(server_key).ok_or(BAD)?,
        })
    }
}

/// Writes the pg_authid format that [`ScramVerifier::parse`] reads.
impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

fn decode_key(s: &str) -> Option<[u8; 32]> {
    B64.decode(s).ok()?.try_into().ok()
}

/// `Hi(Normalize(password), salt, i)` from RFC 5802.
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let normalized = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(normalized.as_bytes(), salt, iterations, &mut out);
    out
}

fn hmac(key: &[u8], parts: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(parts);
    mac.finalize().into_bytes().into()
}

/// Equality that takes the same time wherever the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random nonce of printable characters (base64 never contains ',').
pub(crate) fn random_nonce() -> String {
    B64.encode(rand::random::<[u8; 18]>())
}

fn utf8(msg: &[u8]) -> Result<&str, ProtocolError> {
    std::str::from_utf8(msg).map_err(|_| ProtocolError::Malformed("SCRAM message is not UTF-8"))
}

/// Splits `key=value` and checks the key.
fn attr(part: Option<&str>, key: char) -> Result<&str, ProtocolError> {
    part.and_then(|p| p.strip_prefix(key))
        .and_then(|p| p.strip_prefix('='))
        .ok_or(ProtocolError::Malformed("SCRAM message lacks an expected attribute"))
}

/// Server side of one SCRAM exchange. Legal order: [`client_first`](Self::client_first) once, then
/// [`client_final`](Self::client_final) once; anything else is an error.
pub struct ScramServer<'v> {
    verifier: &'v ScramVerifier,
    server_nonce: String,
    /// Set by `client_first`: (gs2 header, full nonce, client-first-bare + "," + server-first).
    state: Option<(String, String, String)>,
}

impl<'v> ScramServer<'v> {
    /// Starts an exchange against `verifier` with the server's half of the nonce (printable, no ',').
    pub fn new(verifier: &'v ScramVerifier, server_nonce: String) -> Self {
        Self { verifier, server_nonce, state: None }
    }

    /// Takes the client-first message and returns the server-first message. Channel binding requests (`p=`),
    /// authorization identities and mandatory extensions are protocol errors; the user name is ignored, as
    /// PostgreSQL ignores it (the startup packet names the user).
    pub fn client_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        if self.state.is_some() {
            return Err(ProtocolError::Malformed("second SCRAM client-first message"));
        }
        let msg = utf8(msg)?;
        let (gs2_header, bare) = match msg.as_bytes() {
            [b'n' | b'y', b',', b',', ..] => msg.split_at(3),
            [b'p', b'=', ..] => return Err(ProtocolError::Malformed("client requested channel binding, not offered")),
            [b'n' | b'y', b',', b'a', b'=', ..] => {
                return Err(ProtocolError::Malformed("SCRAM authorization identity is not supported"));
            }
            _ => return Err(ProtocolError::Malformed("SCRAM client-first message has no valid GS2 header")),
        };
        let mut parts = bare.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(ProtocolError::Malformed("SCRAM mandatory extensions are not supported"));
        }
        attr(first, 'n')?;
        let client_nonce = attr(parts.next(), 'r')?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(ProtocolError::Malformed("SCRAM client nonce is empty or not printable"));
        }
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&self.verifier.salt), self.verifier.iterations);
        self.state = Some((gs2_header.to_owned(), nonce, format!("{bare},{server_first}")));
        Ok(server_first.into_bytes())
    }

    /// Takes the client-final message, checks the proof and returns the server-final message. A wrong proof is
    /// `ProtocolError::Auth`; a malformed message is `Malformed`.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let (gs2_header, nonce, first_messages) =
            self.state.take().ok_or(ProtocolError::Malformed("SCRAM client-final before client-first"))?;
        let msg = utf8(msg)?;
        let (without_proof, proof) =
            msg.rsplit_once(",p=").ok_or(ProtocolError::Malformed("SCRAM client-final message has no proof"))?;
        let mut parts = without_proof.split(',');
        let binding = attr(parts.next(), 'c')?;
        if B64.decode(binding).ok().as_deref() != Some(gs2_header.as_bytes()) {
            return Err(ProtocolError::Malformed("SCRAM channel binding does not match the GS2 header"));
        }
        if attr(parts.next(), 'r')? != nonce {
            return Err(ProtocolError::Malformed("SCRAM nonce does not match"));
        }
        let proof: [u8; 32] = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ProtocolError::Malformed("SCRAM proof is not 32 base64-encoded bytes"))?;
        let auth_message = format!("{first_messages},{without_proof}");
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&Sha256::digest(&client_key), &self.verifier.stored_key) {
            return Err(ProtocolError::Auth("SCRAM proof does not match".into()));
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

/// Client side of one SCRAM exchange. Legal order: [`client_first`](Self::client_first), then
/// [`server_first`](Self::server_first), then [`server_final`](Self::server_final).
pub struct ScramClient {
    password: String,
    client_first_bare: String,
    /// Set by `server_first`: the ServerSignature the server must prove it knows.
    expected_server_signature: Option<[u8; 32]>,
}

impl ScramClient {
    /// Starts an exchange for `password` with a random nonce. The user name sent is empty: PostgreSQL takes the
    /// user from the startup packet (libpq does the same).
    pub fn new(password: &str) -> Self {
        Self::with_nonce("", password, &random_nonce())
    }

    /// Starts an exchange with a chosen user name and nonce (for test vectors). The user name must not contain
    /// ',' or '='.
    pub fn with_nonce(user: &str, password: &str, nonce: &str) -> Self {
        Self {
            password: password.to_owned(),
            client_first_bare: format!("n={user},r={nonce}"),
            expected_server_signature: None,
        }
    }

    /// The client-first message (no channel binding: GS2 header `n,,`).
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Takes the server-first message and returns the client-final message.
    pub fn server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        if self.expected_server_signature.is_some() {
            return Err(ProtocolError::Malformed("second SCRAM server-first message"));
        }
        let msg = utf8(msg)?;
        let mut parts = msg.split(',');
        let nonce = attr(parts.next(), 'r')?;
        let salt = B64.decode(attr(parts.next(), 's')?).map_err(|_| ProtocolError::Malformed("SCRAM salt"))?;
        let iterations: u32 = attr(parts.next(), 'i')?.parse().map_err(|_| ProtocolError::Malformed("SCRAM i"))?;
        let client_nonce = self.client_first_bare.rsplit_once("r=").map_or("", |(_, n)| n);
        if !nonce.starts_with(client_nonce) || nonce.len() == client_nonce.len() || iterations == 0 {
            return Err(ProtocolError::Malformed("SCRAM server-first message is invalid"));
        }
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{msg},{without_proof}", self.client_first_bare);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(signature).map(|(k, s)| k ^ s).collect();
        self.expected_server_signature = Some(hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server must prove it knows the verifier. An `e=` error from the
    /// server or a wrong signature is `ProtocolError::Auth`.
    pub fn server_final(&self, msg: &[u8]) -> Result<(), ProtocolError> {
        let expected =
            self.expected_server_signature.ok_or(ProtocolError::Malformed("SCRAM server-final before server-first"))?;
        let msg = utf8(msg)?;
        if let Some(error) = msg.strip_prefix("e=") {
            return Err(ProtocolError::Auth(format!("backend rejected SCRAM authentication: {error}")));
        }
        let signature = B64.decode(attr(msg.split(',').next(), 'v')?).unwrap_or_default();
        if !constant_time_eq(&signature, &expected) {
            return Err(ProtocolError::Auth("backend's SCRAM server signature is wrong".into()));
        }
        Ok(())
    }
}
