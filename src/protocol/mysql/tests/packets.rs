//! OK / ERR / EOF builders and parsers, length-encoded integers.

use bytes::BytesMut;
use mysql_common::constants::{CapabilityFlags, StatusFlags};

use crate::protocol::mysql::framer::take_packet;
use crate::protocol::mysql::packets::{
    access_denied_packet, eof_packet, err_packet, ok_packet, parse_err, parse_ok, parse_terminator, put_lenenc,
    read_lenenc,
};

fn only_packet(mut out: BytesMut) -> (u8, Vec<u8>) {
    let (seq, p) = take_packet(&mut out, usize::MAX).unwrap().unwrap();
    assert!(out.is_empty());
    (seq, p.to_vec())
}

#[test]
fn lenenc_round_trips_at_every_width_boundary() {
    for v in [0u64, 250, 251, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000, u64::MAX] {
        let mut out = BytesMut::new();
        put_lenenc(&mut out, v);
        assert_eq!(read_lenenc(&out), Some((v, out.len())), "value {v}");
    }
    assert_eq!(read_lenenc(&[0xFB]), None, "NULL is not an integer");
    assert_eq!(read_lenenc(&[0xFC, 1]), None, "short");
    assert_eq!(read_lenenc(&[]), None);
}

#[test]
fn err_packet_round_trip_and_bad_sqlstate() {
    let mut out = BytesMut::new();
    assert_eq!(err_packet(&mut out, 2, 1049, "42000", "Unknown database 'x'"), 3);
    let (seq, p) = only_packet(out);
    assert_eq!(seq, 2);
    let e = parse_err(&p).unwrap();
    assert_eq!((e.code, e.sqlstate.as_str(), e.message.as_str()), (1049, "42000", "Unknown database 'x'"));

    let mut out = BytesMut::new();
    err_packet(&mut out, 0, 1, "bad", "m");
    let (_, p) = only_packet(out);
    assert_eq!(parse_err(&p).unwrap().sqlstate, "HY000");
}

#[test]
fn err_without_sqlstate_marker_is_parsed() {
    let e = parse_err(&[0xFF, 0x10, 0x04, b'T', b'o', b'o']).unwrap();
    assert_eq!((e.code, e.sqlstate.as_str(), e.message.as_str()), (1040, "HY000", "Too"));
    assert!(parse_err(&[0xFF, 1]).is_err());
    assert!(parse_err(&[0x00, 1, 2]).is_err());
}

#[test]
fn access_denied_matches_mysql_wording() {
    let mut out = BytesMut::new();
    access_denied_packet(&mut out, 2, "app", "10.0.0.1", true);
    let (_, p) = only_packet(out);
    let e = parse_err(&p).unwrap();
    assert_eq!(e.code, 1045);
    assert_eq!(e.sqlstate, "28000");
    assert_eq!(e.message, "Access denied for user 'app'@'10.0.0.1' (using password: YES)");
}

#[test]
fn ok_packet_round_trip_with_info() {
    let status = StatusFlags::SERVER_STATUS_AUTOCOMMIT | StatusFlags::SERVER_STATUS_IN_TRANS;
    let mut out = BytesMut::new();
    ok_packet(&mut out, 1, 300, 70000, status, 2, "Rows matched: 1");
    let (seq, p) = only_packet(out);
    assert_eq!(seq, 1);
    for caps in [CapabilityFlags::CLIENT_PROTOCOL_41, CapabilityFlags::CLIENT_SESSION_TRACK] {
        let ok = parse_ok(&p, caps).unwrap();
        assert_eq!((ok.affected_rows, ok.last_insert_id, ok.status, ok.warnings), (300, 70000, status, 2));
    }
}

#[test]
fn ok_keeps_status_bits_unknown_to_mysql_common() {
    let ok = parse_ok(&[0, 0, 0, 0x06, 0x00, 0, 0], CapabilityFlags::empty()).unwrap();
    assert_eq!(ok.status.bits(), 0x0006);
}

#[test]
fn eof_and_deprecate_eof_terminators() {
    let mut out = BytesMut::new();
    eof_packet(&mut out, 4, 3, StatusFlags::SERVER_MORE_RESULTS_EXISTS);
    let (_, p) = only_packet(out);
    assert_eq!(p.len(), 5);
    let t = parse_terminator(&p, CapabilityFlags::empty()).unwrap();
    assert_eq!((t.warnings, t.status), (3, StatusFlags::SERVER_MORE_RESULTS_EXISTS));
    // The same 5 bytes are still an EOF when CLIENT_DEPRECATE_EOF is on.
    let t = parse_terminator(&p, CapabilityFlags::CLIENT_DEPRECATE_EOF).unwrap();
    assert_eq!(t.warnings, 3);

    // OK with 0xFE header and session-state bytes: status then warnings.
    let p = [0xFE, 0, 0, 0x02, 0x40, 0x01, 0x00, 0x00, 0x03, 0x01, 0x01, b'x'];
    let caps = CapabilityFlags::CLIENT_DEPRECATE_EOF | CapabilityFlags::CLIENT_SESSION_TRACK;
    let t = parse_terminator(&p, caps).unwrap();
    assert_eq!(t.status.bits(), 0x4002);
    assert_eq!(t.warnings, 1);
    assert!(parse_terminator(&p, CapabilityFlags::empty()).is_err(), "too long for a classic EOF");
}
