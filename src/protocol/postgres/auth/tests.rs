//! Tests for SCRAM-SHA-256 against the RFC 7677 test vector and for its failure modes, as pure state machines.
//! Exchanges over a stream (drivers, tokio-postgres, the local PostgreSQL) are in `tests_wire`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::*;
use crate::protocol::postgres::ProtocolError;

// RFC 7677 section 3: user "user", password "pencil".
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_verifier() -> ScramVerifier {
    ScramVerifier::from_password("pencil", &B64.decode(SALT).unwrap(), 4096)
}

fn malformed<T: std::fmt::Debug>(r: Result<T, ProtocolError>) -> bool {
    matches!(r, Err(ProtocolError::Malformed(_)))
}

#[test]
fn client_follows_rfc_7677() {
    let mut client = ScramClient::with_nonce("user", "pencil", CLIENT_NONCE);
    assert_eq!(client.client_first(), CLIENT_FIRST.as_bytes());
    assert_eq!(client.server_first(SERVER_FIRST.as_bytes()).unwrap(), CLIENT_FINAL.as_bytes());
    client.server_final(SERVER_FINAL.as_bytes()).unwrap();
}

#[test]
fn server_follows_rfc_7677() {
    let verifier = rfc_verifier();
    let mut server = ScramServer::new(&verifier, SERVER_NONCE.to_owned());
    assert_eq!(server.client_first(CLIENT_FIRST.as_bytes()).unwrap(), SERVER_FIRST.as_bytes());
    assert_eq!(server.client_final(CLIENT_FINAL.as_bytes()).unwrap(), SERVER_FINAL.as_bytes());
}

#[test]
fn server_rejects_a_wrong_password() {
    let verifier = rfc_verifier();
    let mut server = ScramServer::new(&verifier, SERVER_NONCE.to_owned());
    let mut client = ScramClient::with_nonce("user", "pencil2", CLIENT_NONCE);
    let server_first = server.client_first(&client.client_first()).unwrap();
    let client_final = client.server_first(&server_first).unwrap();
    assert!(matches!(server.client_final(&client_final), Err(ProtocolError::Auth(_))));
}

#[test]
fn server_rejects_protocol_violations() {
    let verifier = rfc_verifier();
    let first = |msg: &str| ScramServer::new(&verifier, "s".into()).client_first(msg.as_bytes());
    assert!(malformed(first("p=tls-server-end-point,,n=,r=abc")), "channel binding was not offered");
    assert!(malformed(first("n,a=admin,n=,r=abc")), "authzid");
    assert!(malformed(first("n,,m=ext,n=,r=abc")), "mandatory extension");
    assert!(malformed(first("x,,n=,r=abc")), "bad gs2 flag");
    assert!(malformed(first("n,,n=,r=")), "empty nonce");
    assert!(malformed(first("n,,r=abc")), "no user attribute");
    assert!(first("y,,n=,r=abc,ext=1").is_ok(), "'y' and extensions are fine");

    let mut server = ScramServer::new(&verifier, SERVER_NONCE.into());
    assert!(malformed(server.client_final(CLIENT_FINAL.as_bytes())), "final before first");
    server.client_first(CLIENT_FIRST.as_bytes()).unwrap();
    assert!(malformed(server.client_first(CLIENT_FIRST.as_bytes())), "first twice");
    let wrong_binding = CLIENT_FINAL.replace("c=biws", "c=eSws");
    assert!(malformed(server.client_final(wrong_binding.as_bytes())), "binding differs from the gs2 header");
    let mut server = ScramServer::new(&verifier, SERVER_NONCE.into());
    server.client_first(CLIENT_FIRST.as_bytes()).unwrap();
    let wrong_nonce = CLIENT_FINAL.replace("hNlF$k0", "hNlF$k1");
    assert!(malformed(server.client_final(wrong_nonce.as_bytes())), "nonce");
    let mut server = ScramServer::new(&verifier, SERVER_NONCE.into());
    server.client_first(CLIENT_FIRST.as_bytes()).unwrap();
    assert!(malformed(server.client_final(b"c=biws,r=x")), "no proof");
}

#[test]
fn server_accepts_y_flag_with_matching_binding() {
    let verifier = ScramVerifier::from_password("pw", b"salt", 16);
    let mut server = ScramServer::new(&verifier, "SN".into());
    let server_first = String::from_utf8(server.client_first(b"y,,n=,r=CN").unwrap()).unwrap();
    // Build the client-final by hand with c=base64("y,,").
    let mut client = ScramClient::with_nonce("", "pw", "CN");
    let normal_final = String::from_utf8(client.server_first(server_first.as_bytes()).unwrap()).unwrap();
    assert!(normal_final.starts_with("c=biws,"));
    // The proof covers the client-final-without-proof, so a 'y' client computes a different one; recompute it.
    let salted = {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"pw", b"salt", 16, &mut out);
        out
    };
    use hmac::Mac;
    use sha2::Digest;
    let mac = |key: &[u8], msg: &[u8]| {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes()
    };
    let client_key = mac(&salted, b"Client Key");
    let stored_key = sha2::Sha256::digest(client_key);
    let without_proof = "c=eSws,r=CNSN";
    let auth_message = format!("n=,r=CN,{server_first},{without_proof}");
    let signature = mac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(signature).map(|(k, s)| k ^ s).collect();
    let client_final = format!("{without_proof},p={}", B64.encode(proof));
    assert!(server.client_final(client_final.as_bytes()).unwrap().starts_with(b"v="));
}

#[test]
fn client_checks_the_server() {
    let mut client = ScramClient::with_nonce("user", "pencil", CLIENT_NONCE);
    assert!(malformed(client.server_final(SERVER_FINAL.as_bytes())), "final before first");
    client.server_first(SERVER_FIRST.as_bytes()).unwrap();
    let forged = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(matches!(client.server_final(forged.as_bytes()), Err(ProtocolError::Auth(_))));
    assert!(
        matches!(client.server_final(b"e=invalid-proof"), Err(ProtocolError::Auth(m)) if m.contains("invalid-proof"))
    );
    assert!(malformed(client.server_first(SERVER_FIRST.as_bytes())), "first twice");

    let mut client = ScramClient::with_nonce("user", "pencil", CLIENT_NONCE);
    assert!(malformed(client.server_first(b"r=someoneelse,s=W22Z,i=4096")), "nonce must extend ours");
    let mut client = ScramClient::with_nonce("user", "pencil", CLIENT_NONCE);
    assert!(malformed(client.server_first(b"r=rOprNGfwEbeRWgbNEkqO,s=W22Z,i=4096")), "server added nothing");
    let mut client = ScramClient::with_nonce("user", "pencil", CLIENT_NONCE);
    assert!(malformed(client.server_first(b"r=rOprNGfwEbeRWgbNEkqOx,s=W22Z,i=0")), "zero iterations");
}

#[test]
fn verifier_text_round_trips() {
    let verifier = rfc_verifier();
    let text = verifier.to_string();
    assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"), "{text}");
    assert_eq!(ScramVerifier::parse(&text).unwrap(), verifier);
    let debug = format!("{verifier:?}");
    assert!(!debug.contains(&B64.encode(verifier.stored_key)), "Debug hides keys: {debug}");

    for bad in [
        "",
        "md5abcdef",
        "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
        "SCRAM-SHA-256$0:c2FsdA==$",
        "SCRAM-SHA-256$x:c2FsdA==$a:b",
        "SCRAM-SHA-256$4096$a:b",
    ] {
        assert!(malformed(ScramVerifier::parse(bad)), "{bad:?}");
    }
    let generated = ScramVerifier::generate("pw");
    assert_eq!((generated.iterations, generated.salt.len()), (DEFAULT_ITERATIONS, 16));
    assert_eq!(generated, ScramVerifier::from_password("pw", &generated.salt, DEFAULT_ITERATIONS));
}

#[test]
fn saslprep_normalises_like_postgres() {
    // U+00AA (ª) maps to "a" under NFKC; SASLprep also maps non-ASCII spaces to U+0020.
    let a = ScramVerifier::from_password("\u{aa}b", b"s", 16);
    let b = ScramVerifier::from_password("ab", b"s", 16);
    assert_eq!(a, b);
    let c = ScramVerifier::from_password("a\u{a0}b", b"s", 16);
    assert_eq!(c, ScramVerifier::from_password("a b", b"s", 16));
    assert_ne!(b, ScramVerifier::from_password("abc", b"s", 16));
}

#[test]
fn md5_hash_format() {
    // Known value: PostgreSQL stores md5(password || user) as 'md5' + hex; this is the well-known postgres/postgres.
    assert_eq!(md5_password_hash("postgres", "postgres"), "md53175bce1d3201d16594cebf9d7eb3f9d");
    assert_eq!(md5_password_hash("postgres", "secret"), "md553f48b7c4b76a86ce72276c5755f217d");
    assert_eq!(md5_password_hash("u", "p").len(), 35);
}
