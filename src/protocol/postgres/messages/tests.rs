//! Tests for message builders and parsers: exact bytes for each builder, a parser round trip for each, the
//! statement renamer, and properties on arbitrary bodies.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::protocol::postgres::ProtocolError;
use crate::protocol::postgres::alloc_probe::peak_allocation;
use crate::protocol::postgres::frame::{frame_len, startup_len};

/// A builder of a fixed frame.
type FixedBuild = fn(&mut BytesMut);

/// A builder taking no arguments besides the output buffer.
type Build = Box<dyn Fn(&mut BytesMut)>;

/// Builds one frame and checks the header: tag, length field, and that it is exactly one frame.
fn one(tag: u8, build: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::from(&b"prefix"[..]);
    build(&mut out);
    assert_eq!(&out[..6], b"prefix", "builders append");
    let frame = out.split_off(6);
    assert_eq!(frame[0], tag);
    assert_eq!(frame_len(&frame, 1 << 20).unwrap(), Some(frame.len()));
    frame[5..].to_vec()
}

#[test]
fn fixed_frames_are_exact() {
    let cases: [(FixedBuild, &[u8]); 8] = [
        (sync, b"S\0\0\0\x04"),
        (flush, b"H\0\0\0\x04"),
        (terminate, b"X\0\0\0\x04"),
        (parse_complete, b"1\0\0\0\x04"),
        (bind_complete, b"2\0\0\0\x04"),
        (close_complete, b"3\0\0\0\x04"),
        (no_data, b"n\0\0\0\x04"),
        (empty_query_response, b"I\0\0\0\x04"),
    ];
    for (build, expected) in cases {
        let mut out = BytesMut::new();
        build(&mut out);
        assert_eq!(&out[..], expected);
    }
    let mut out = BytesMut::new();
    auth_ok(&mut out);
    assert_eq!(&out[..], b"R\0\0\0\x08\0\0\0\0");
    out.clear();
    ready_for_query(&mut out, b'T');
    assert_eq!(&out[..], b"Z\0\0\0\x05T");
    out.clear();
    backend_key_data(&mut out, 1, -1);
    assert_eq!(&out[..], b"K\0\0\0\x0c\0\0\0\x01\xff\xff\xff\xff");
    out.clear();
    cancel_request(&mut out, 0x0102_0304, 5);
    assert_eq!(&out[..], b"\0\0\0\x10\x04\xd2\x16\x2e\x01\x02\x03\x04\0\0\0\x05");
}

#[test]
fn query_and_command_complete_round_trip() {
    let body = one(b'Q', |o| query(o, "SELECT 'é'"));
    assert_eq!(query_text(&body).unwrap(), "SELECT 'é'");
    let body = one(b'C', |o| command_complete(o, "INSERT 0 1"));
    assert_eq!(command_tag(&body).unwrap(), "INSERT 0 1");
    assert!(query_text(b"no nul").is_err());
    assert!(query_text(b"a\0b").is_err(), "trailing bytes");
    assert!(query_text(b"\xff\0").is_err(), "not UTF-8");
}

#[test]
fn parse_round_trip() {
    let body = one(b'P', |o| parse(o, "s1", "select $1::int, $2", &[23, 0]));
    assert_eq!(body, b"s1\0select $1::int, $2\0\0\x02\0\0\0\x17\0\0\0\0");
    let msg = parse_body(&body).unwrap();
    assert_eq!(msg, ParseMsg { name: "s1", sql: "select $1::int, $2", param_types: vec![23, 0] });
    assert!(parse_body(b"\0select\0\0\x02\0\0\0\x17").is_err(), "count larger than the data");
    assert!(parse_body(b"\0select\0\xff\xff").is_err(), "negative count");
    assert!(parse_body(b"\0select\0\0\0\0").is_err(), "trailing bytes");
}

#[test]
fn bind_describe_close_execute() {
    let bind = b"portal\0stmt\0\0\0\0\x01\0\0\0\x01x\0\0";
    assert_eq!(bind_names(bind).unwrap(), ("portal", "stmt"));
    assert!(bind_names(b"portal\0stmt").is_err());
    assert_eq!(describe_or_close(b"Sname\0").unwrap(), (b'S', "name"));
    assert_eq!(describe_or_close(b"P\0").unwrap(), (b'P', ""));
    assert!(describe_or_close(b"Xname\0").is_err());
    let body = one(b'C', |o| close_statement(o, "s1"));
    assert_eq!(describe_or_close(&body).unwrap(), (b'S', "s1"));
    assert_eq!(execute_portal(b"p1\0\0\0\0\x0a").unwrap(), "p1");
    assert_eq!(execute_max_rows(b"p1\0\0\0\0\x0a").unwrap(), 10);
    assert!(execute_portal(b"p1\0\0\0").is_err());
}

#[test]
fn ready_and_parameter_status_and_key() {
    let body = one(b'Z', |o| ready_for_query(o, b'E'));
    assert_eq!(ready_status(&body).unwrap(), b'E');
    assert!(ready_status(b"X").is_err());
    assert!(ready_status(b"II").is_err());
    let body = one(b'S', |o| parameter_status(o, "TimeZone", "UTC"));
    assert_eq!(parameter_status_body(&body).unwrap(), ("TimeZone", "UTC"));
    let body = one(b'K', |o| backend_key_data(o, 77, i32::MIN));
    assert_eq!(backend_key(&body).unwrap(), (77, i32::MIN));
    assert!(backend_key(&body[..7]).is_err());
}

#[test]
fn error_and_notice_fields() {
    let body = one(b'E', |o| error_response(o, "FATAL", "28P01", "password authentication failed"));
    let expected = ErrorFields {
        severity: "FATAL".into(),
        code: "28P01".into(),
        message: "password authentication failed".into(),
    };
    assert_eq!(error_fields(&body).unwrap(), expected);
    let body = one(b'N', |o| notice_response(o, "NOTICE", "00000", "hi"));
    assert_eq!(error_fields(&body).unwrap().message, "hi");
    // A localized server: S is translated, V is not, unknown fields are skipped, bad UTF-8 is replaced.
    let body = b"SFEHLER\0VERROR\0C3D000\0Mdb \xfc\0Ddetail\0\0";
    let fields = error_fields(body).unwrap();
    assert_eq!((fields.severity.as_str(), fields.code.as_str()), ("ERROR", "3D000"));
    assert_eq!(fields.message, "db \u{fffd}");
    assert_eq!(error_fields(b"SFATAL\0\0").unwrap().severity, "FATAL");
    assert!(error_fields(b"SFATAL\0").is_err(), "missing terminator");
}

#[test]
fn auth_requests_round_trip() {
    let cases: Vec<(Build, AuthRequest)> = vec![
        (Box::new(auth_ok), AuthRequest::Ok),
        (Box::new(auth_cleartext_request), AuthRequest::Cleartext),
        (Box::new(|o| auth_md5_request(o, [1, 2, 3, 4])), AuthRequest::Md5 { salt: [1, 2, 3, 4] }),
        (
            Box::new(|o| auth_sasl(o, &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])),
            AuthRequest::Sasl { mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()] },
        ),
        (Box::new(|o| auth_sasl_continue(o, b"r=abc")), AuthRequest::SaslContinue(b"r=abc".to_vec())),
        (Box::new(|o| auth_sasl_final(o, b"v=xyz")), AuthRequest::SaslFinal(b"v=xyz".to_vec())),
    ];
    for (build, expected) in cases {
        let body = one(b'R', build);
        assert_eq!(auth_request(&body).unwrap(), expected);
    }
    assert_eq!(auth_request(b"\0\0\0\x07").unwrap(), AuthRequest::Other(7));
    assert!(auth_request(b"\0\0\0\x05\x01\x02").is_err(), "short salt");
    assert!(auth_request(b"\0\0\0\0x").is_err(), "trailing bytes");
    assert!(auth_request(b"\0\0\0\x0aSCRAM-SHA-256\0").is_err(), "unterminated list");
}

#[test]
fn password_messages_round_trip() {
    let body = one(b'p', |o| password_message(o, b"md5abc"));
    assert_eq!(password_body(&body).unwrap(), b"md5abc");
    let body = one(b'p', |o| sasl_initial_response(o, "SCRAM-SHA-256", b"n,,n=,r=x"));
    assert_eq!(sasl_initial_response_body(&body).unwrap(), ("SCRAM-SHA-256", &b"n,,n=,r=x"[..]));
    assert_eq!(sasl_initial_response_body(b"M\0\xff\xff\xff\xff").unwrap(), ("M", &b""[..]));
    assert!(sasl_initial_response_body(b"M\0\0\0\0\x05abc").is_err());
    let body = one(b'p', |o| sasl_response(o, b"c=biws"));
    assert_eq!(body, b"c=biws");
}

#[test]
fn startup_message_layout() {
    let mut out = BytesMut::new();
    startup_message(&mut out, &[("user", "u"), ("database", "d")]);
    assert_eq!(&out[..], b"\0\0\0\x1b\0\x03\0\0user\0u\0database\0d\0\0");
    assert_eq!(startup_len(&out, 100).unwrap(), Some(out.len()));
}

fn renamed(frame: &[u8], name: &str) -> Result<Vec<u8>, ProtocolError> {
    let mut out = BytesMut::from(&b"keep"[..]);
    let result = rename_statement(frame, name, &mut out);
    assert_eq!(&out[..4], b"keep");
    result.map(|()| out[4..].to_vec())
}

#[test]
fn rename_statement_rewrites_only_the_statement_name() {
    let mut parse_frame = BytesMut::new();
    parse(&mut parse_frame, "client_s1", "select \u{e9}", &[25]);
    let out = renamed(&parse_frame, "sy_7").unwrap();
    let mut expected = BytesMut::new();
    parse(&mut expected, "sy_7", "select \u{e9}", &[25]);
    assert_eq!(out, &expected[..]);

    let bind = b"B\0\0\0\x1cportal\0s1\0\0\x01\0\x01\0\x01\0\0\0\x01\xff\0\0";
    let bind = {
        let mut v = bind.to_vec();
        let len = (v.len() - 1) as i32;
        v[1..5].copy_from_slice(&len.to_be_bytes());
        v
    };
    let out = renamed(&bind, "shared_name").unwrap();
    assert_eq!(frame_len(&out, 1024).unwrap(), Some(out.len()));
    assert_eq!(bind_names(&out[5..]).unwrap(), ("portal", "shared_name"));
    assert_eq!(&out[out.len() - 11..], &bind[bind.len() - 11..], "parameters copied byte for byte");

    let mut close = BytesMut::new();
    close_statement(&mut close, "a");
    let out = renamed(&close, "").unwrap();
    assert_eq!(out, b"C\0\0\0\x06S\0");
    let describe = b"D\0\0\0\x08Sab\0";
    assert_eq!(renamed(describe, "xyz").unwrap(), b"D\0\0\0\x09Sxyz\0");
}

#[test]
fn rename_statement_refuses_what_it_cannot_rename() {
    assert!(renamed(b"D\0\0\0\x06P\0", "x").is_err(), "portal describe");
    assert!(renamed(b"Q\0\0\0\x05\0", "x").is_err(), "query");
    assert!(renamed(b"P\0\0\0\x05\0\0", "x").is_err(), "length disagrees with the slice");
    assert!(renamed(b"B\0\0\0\x06ab", "x").is_err(), "unterminated");
    assert!(renamed(b"B\0\0", "x").is_err(), "short header");
}

/// Every body parser, run for its effect of not panicking.
fn parse_all(body: &[u8]) {
    let _ = query_text(body);
    let _ = parse_body(body);
    let _ = bind_names(body);
    let _ = describe_or_close(body);
    let _ = execute_portal(body);
    let _ = execute_max_rows(body);
    let _ = command_tag(body);
    let _ = ready_status(body);
    let _ = parameter_status_body(body);
    let _ = error_fields(body);
    let _ = backend_key(body);
    let _ = auth_request(body);
    let _ = sasl_initial_response_body(body);
    let _ = password_body(body);
}

proptest! {
    #[test]
    fn parsers_never_panic_or_overallocate(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        // Legit allocations are bounded by the input (Strings, a Vec of names); none may follow a length field.
        let ((), peak) = peak_allocation(|| parse_all(&body));
        prop_assert!(peak <= 64 * 1024, "allocated {peak}");
    }

    #[test]
    fn parse_round_trips(name in "[a-z0-9_]{0,20}", sql in "[^\0]{0,200}", types in proptest::collection::vec(any::<u32>(), 0..20)) {
        let mut out = BytesMut::new();
        parse(&mut out, &name, &sql, &types);
        let msg = parse_body(&out[5..]).unwrap();
        prop_assert_eq!(msg, ParseMsg { name: &name, sql: &sql, param_types: types.clone() });
        let mut renamed = BytesMut::new();
        rename_statement(&out, "n", &mut renamed).unwrap();
        let msg = parse_body(&renamed[5..]).unwrap();
        prop_assert_eq!((msg.name, msg.sql, msg.param_types), ("n", sql.as_str(), types));
    }

    #[test]
    fn rename_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..256), name in "[a-z]{0,8}") {
        let mut out = BytesMut::new();
        if rename_statement(&frame, &name, &mut out).is_ok() {
            prop_assert_eq!(frame_len(&out, 1 << 20).unwrap(), Some(out.len()));
        } else {
            prop_assert!(out.is_empty());
        }
    }
}
