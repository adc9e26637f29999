//! Property tests: arbitrary bytes never panic the parsers and never make them keep more than `max` bytes.

use bytes::BytesMut;
use mysql_common::constants::CapabilityFlags;
use proptest::prelude::*;

use crate::protocol::mysql::command::parse_command;
use crate::protocol::mysql::framer::{HEADER_LEN, header, packet_len, read_packet, take_packet, write_packet};
use crate::protocol::mysql::handshake::{parse_client_first, parse_server_greeting};
use crate::protocol::mysql::packets::{parse_err, parse_ok, parse_terminator};
use crate::protocol::mysql::reply::{ReplyKind, ReplyTracker, Step};
use crate::protocol::mysql::stmt::{execute_param_types, parse_prepare_ok};

const KINDS: [ReplyKind; 7] = [
    ReplyKind::Query,
    ReplyKind::StmtPrepare,
    ReplyKind::StmtExecute,
    ReplyKind::StmtFetch,
    ReplyKind::FieldList,
    ReplyKind::Simple,
    ReplyKind::Statistics,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime")
}

proptest! {
    #[test]
    fn packet_len_is_total_and_bounded(buf in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..64) {
        match packet_len(&buf, max) {
            Ok(Some(n)) => {
                prop_assert!(n <= buf.len());
                prop_assert!(n - HEADER_LEN <= max);
            }
            Ok(None) => {
                let announced = header(&buf).map_or(usize::MAX, |(len, _)| len);
                prop_assert!(buf.len() < HEADER_LEN || buf.len() < HEADER_LEN + announced);
            }
            Err(_) => prop_assert!(buf.len() >= HEADER_LEN),
        }
    }

    #[test]
    fn read_packet_never_returns_more_than_max(data in proptest::collection::vec(any::<u8>(), 0..300), max in 0usize..200) {
        let rt = runtime();
        rt.block_on(async {
            let mut s: &[u8] = &data;
            let mut buf = BytesMut::new();
            for _ in 0..100 {
                match read_packet(&mut s, &mut buf, max).await {
                    Ok(Some((_, p))) => prop_assert!(p.len() <= max),
                    Ok(None) | Err(_) => break,
                }
                prop_assert!(buf.capacity() <= 128 * 1024);
            }
            Ok(())
        })?;
    }

    #[test]
    fn write_then_read_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..2000), seq in any::<u8>()) {
        let mut out = BytesMut::new();
        write_packet(&mut out, seq, &payload);
        let (got_seq, got) = take_packet(&mut out, 4096).unwrap().unwrap();
        prop_assert_eq!(got_seq, seq);
        prop_assert_eq!(&got[..], &payload[..]);
        prop_assert!(out.is_empty());
    }

    #[test]
    fn handshake_parsers_never_panic(seq in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_client_first(seq, &payload);
        let _ = parse_server_greeting(&payload);
        let _ = crate::protocol::mysql::handshake::parse_change_user(&payload, CapabilityFlags::all());
    }

    #[test]
    fn handshake_response_fuzzed_after_a_valid_prefix(tail in proptest::collection::vec(any::<u8>(), 0..200), caps in any::<u32>()) {
        // Valid fixed part with arbitrary capability bits, then arbitrary user / auth / db / plugin / attrs bytes.
        let mut payload = (caps | 0x200).to_le_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 1, 45]);
        payload.extend_from_slice(&[0; 23]);
        payload.extend_from_slice(&tail);
        if let Ok(crate::protocol::mysql::handshake::ClientFirst::Response(h)) = parse_client_first(1, &payload) {
            prop_assert!(h.auth_response.len() <= payload.len());
            prop_assert!(h.user.len() <= payload.len());
        }
    }

    #[test]
    fn small_parsers_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..64), n in any::<u16>()) {
        let caps = CapabilityFlags::from_bits_truncate(u32::from(n) << 12);
        let _ = parse_command(&payload);
        let _ = parse_ok(&payload, caps);
        let _ = parse_err(&payload);
        let _ = parse_terminator(&payload, caps);
        let _ = parse_prepare_ok(&payload);
        let _ = execute_param_types(&payload, n);
    }

    #[test]
    fn reply_tracker_never_panics(
        kind in 0usize..KINDS.len(),
        deprecate_eof in any::<bool>(),
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 0..40),
    ) {
        let mut caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SESSION_TRACK;
        caps.set(CapabilityFlags::CLIENT_DEPRECATE_EOF, deprecate_eof);
        let mut t = ReplyTracker::new(KINDS[kind], caps);
        for p in &packets {
            match t.feed(p) {
                Ok(Step::Done(s)) => {
                    prop_assert!(t.is_done());
                    prop_assert!(s.rows <= packets.len() as u64);
                    break;
                }
                Ok(Step::LocalInfile { filename }) => prop_assert!(filename.len() < p.len()),
                Ok(Step::Continue) => {}
                Err(_) => break,
            }
        }
    }
}
