//! Greeting building and client-response parsing.

use bytes::BytesMut;
use mysql_common::constants::{CapabilityFlags, StatusFlags};

use crate::protocol::mysql::backend::{BackendLogin, handshake_response, ssl_request};
use crate::protocol::mysql::framer::take_packet;
use crate::protocol::mysql::handshake::{
    ClientFirst, REQUIRED_CAPABILITIES, greeting, new_scramble, parse_change_user, parse_client_first,
    parse_handshake_response, parse_server_greeting,
};
use crate::protocol::mysql::{ProtocolError, RELAY_CAPABILITIES};

#[test]
fn greeting_keeps_the_mariadb_prefix_and_round_trips() {
    let scramble = new_scramble();
    assert!(scramble.iter().all(|b| (0x21..0x7F).contains(b) && *b != b'$'));
    let mut out = BytesMut::new();
    let caps = CapabilityFlags::CLIENT_LONG_PASSWORD | CapabilityFlags::CLIENT_DEPRECATE_EOF;
    let next = greeting(
        &mut out,
        42,
        "5.5.5-10.11.6-MariaDB-switchyard",
        &scramble,
        caps,
        45,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        "caching_sha2_password",
    );
    assert_eq!(next, 1);
    let (seq, payload) = take_packet(&mut out, 1 << 20).unwrap().unwrap();
    assert_eq!(seq, 0);
    let g = parse_server_greeting(&payload).unwrap();
    assert_eq!(g.conn_id, 42);
    assert_eq!(g.server_version, "5.5.5-10.11.6-MariaDB-switchyard");
    assert_eq!(g.scramble, scramble.to_vec());
    assert!(g.caps.contains(caps | REQUIRED_CAPABILITIES));
    assert_eq!(g.charset, 45);
    assert_eq!(g.auth_plugin, "caching_sha2_password");
    assert_eq!(g.status, StatusFlags::SERVER_STATUS_AUTOCOMMIT);
    // auth_plugin_data_len is 21 and the second scramble part is NUL-terminated, as MySQL sends it.
    let after_version = payload.iter().position(|b| *b == 0).unwrap() + 1;
    assert_eq!(payload[after_version + 4 + 8 + 1 + 2 + 1 + 2 + 2], 21);
}

#[test]
fn server_greeting_err_is_a_backend_error() {
    let mut p = vec![0xFF, 0x10, 0x04];
    p.extend_from_slice(b"Too many connections");
    match parse_server_greeting(&p).unwrap_err() {
        ProtocolError::Backend { code, message, .. } => {
            assert_eq!((code, message.as_str()), (1040, "Too many connections"))
        }
        other => panic!("{other:?}"),
    }
    assert!(parse_server_greeting(&[9, b'x']).is_err());
}

fn login<'a>(attrs: &'a [(&'a str, &'a str)]) -> BackendLogin<'a> {
    BackendLogin {
        user: "app",
        password: Some("pw"),
        database: Some("appdb"),
        caps: RELAY_CAPABILITIES,
        charset: 33,
        max_packet: 1 << 24,
        connect_attrs: attrs,
    }
}

#[test]
fn handshake_response_parses_every_field() {
    let attrs = [("_client_name", "switchyard"), ("program_name", "test")];
    let caps = RELAY_CAPABILITIES;
    let mut out = BytesMut::new();
    handshake_response(&mut out, 1, caps, &login(&attrs), "mysql_native_password", &[7u8; 20]);
    let (seq, payload) = take_packet(&mut out, 1 << 20).unwrap().unwrap();
    let hello = match parse_client_first(seq, &payload).unwrap() {
        ClientFirst::Response(h) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(hello.seq, 1);
    assert_eq!(hello.caps, caps);
    assert_eq!(hello.max_packet, 1 << 24);
    assert_eq!(hello.charset, 33);
    assert_eq!(hello.user, "app");
    assert_eq!(hello.database.as_deref(), Some("appdb"));
    assert_eq!(hello.auth_plugin.as_deref(), Some("mysql_native_password"));
    assert_eq!(hello.auth_response, vec![7u8; 20]);
    assert_eq!(hello.connect_attrs.get("program_name").map(String::as_str), Some("test"));
    assert!(!format!("{hello:?}").contains("[7, 7"), "auth response is not printed");
}

#[test]
fn handshake_response_with_one_byte_auth_length_and_no_db() {
    let caps = (RELAY_CAPABILITIES - CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
        - CapabilityFlags::CLIENT_CONNECT_WITH_DB
        - CapabilityFlags::CLIENT_CONNECT_ATTRS;
    let mut out = BytesMut::new();
    let mut l = login(&[]);
    l.database = None;
    handshake_response(&mut out, 1, caps, &l, "caching_sha2_password", &[9u8; 32]);
    let (_, payload) = take_packet(&mut out, 1 << 20).unwrap().unwrap();
    let hello = parse_handshake_response(1, &payload).unwrap();
    assert_eq!(hello.database, None);
    assert_eq!(hello.auth_response, vec![9u8; 32]);
    assert!(hello.connect_attrs.is_empty());
}

#[test]
fn ssl_request_is_recognised() {
    let mut out = BytesMut::new();
    assert_eq!(ssl_request(&mut out, RELAY_CAPABILITIES, 45, 1 << 24), 2);
    let (seq, payload) = take_packet(&mut out, 1 << 20).unwrap().unwrap();
    assert_eq!(payload.len(), 32);
    match parse_client_first(seq, &payload).unwrap() {
        ClientFirst::SslRequest { seq, caps, charset } => {
            assert_eq!((seq, charset), (1, 45));
            assert!(caps.contains(CapabilityFlags::CLIENT_SSL));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pre_41_clients_and_garbage_are_refused() {
    let old = [0x05, 0x00, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(parse_client_first(1, &old), Err(ProtocolError::Unsupported(_))));
    assert!(parse_client_first(1, &[0, 2]).is_err());
    let mut no_nul = vec![0x00, 0x02, 0, 0, 0, 0, 0, 1, 45];
    no_nul.extend_from_slice(&[0; 23]);
    no_nul.extend_from_slice(b"user-without-terminator");
    assert!(parse_handshake_response(1, &no_nul).is_err());
}

#[test]
fn change_user_parses_into_a_hello() {
    let caps = RELAY_CAPABILITIES;
    let mut p = vec![0x11];
    p.extend_from_slice(b"other\0");
    p.push(20);
    p.extend_from_slice(&[5u8; 20]);
    p.extend_from_slice(b"otherdb\0");
    p.extend_from_slice(&[33, 0]);
    p.extend_from_slice(b"mysql_native_password\0");
    p.extend_from_slice(&[0]);
    let h = parse_change_user(&p, caps).unwrap();
    assert_eq!((h.seq, h.user.as_str(), h.database.as_deref()), (0, "other", Some("otherdb")));
    assert_eq!((h.charset, h.auth_plugin.as_deref()), (33, Some("mysql_native_password")));
    assert_eq!(h.auth_response, vec![5u8; 20]);

    // The short form from old clients: no charset, no plugin, empty database.
    let h = parse_change_user(b"\x11u\0\0\0", caps).unwrap();
    assert_eq!((h.user.as_str(), h.database, h.auth_plugin, h.charset), ("u", None, None, 0));
    assert!(parse_change_user(b"\x11u\0\x14abc", caps).is_err(), "auth shorter than announced");
    assert!(parse_change_user(b"\x03u\0", caps).is_err());
}
