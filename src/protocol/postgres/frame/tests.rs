//! Tests for frame boundaries and startup packets: byte vectors, split reads, and properties on arbitrary input.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, BytesMut};
use futures::executor::block_on;
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

use super::*;
use crate::protocol::postgres::alloc_probe::peak_allocation;
use crate::protocol::postgres::messages::{cancel_request, query, startup_message, sync};

/// Hands out its bytes one per read, to exercise every partial-read path.
struct Trickle<'a>(&'a [u8]);

impl AsyncRead for Trickle<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some((first, rest)) = self.0.split_first() {
            buf.put_slice(&[*first]);
            self.0 = rest;
        }
        Poll::Ready(Ok(()))
    }
}

fn startup_bytes(code: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.put_i32(8 + body.len() as i32);
    v.put_u32(code);
    v.put_slice(body);
    v
}

#[test]
fn frame_len_counts_tag_and_length() {
    let mut b = BytesMut::new();
    query(&mut b, "select 1");
    let total = b.len();
    assert_eq!(total, 1 + 4 + 9);
    assert_eq!(frame_len(&b, 1024).unwrap(), Some(total));
    for cut in 0..total {
        assert_eq!(frame_len(&b[..cut], 1024).unwrap(), None, "cut at {cut}");
    }
    sync(&mut b);
    assert_eq!(frame_len(&b, 1024).unwrap(), Some(total), "a following frame is not counted");
    assert_eq!(frame_len(&[b'S', 0, 0, 0, 4], 4).unwrap(), Some(5), "len == max is allowed");
}

#[test]
fn frame_len_rejects_bad_lengths() {
    assert!(matches!(frame_len(&[b'Q', 0, 0, 0, 3], 1024), Err(ProtocolError::Malformed(_))));
    assert!(matches!(frame_len(&[b'Q', 0xff, 0xff, 0xff, 0xff], 1024), Err(ProtocolError::Malformed(_))));
    assert!(matches!(frame_len(&[b'Q', 0x7f, 0xff, 0xff, 0xff], 1024), Err(ProtocolError::TooLarge { max: 1024, .. })));
    assert!(matches!(frame_len(&[b'Q', 0, 0, 4, 1], 1024), Err(ProtocolError::TooLarge { len: 1025, max: 1024 })));
}

#[test]
fn startup_len_bounds() {
    let ssl = startup_bytes(SSL_REQUEST_CODE, &[]);
    assert_eq!(startup_len(&ssl, 100).unwrap(), Some(8));
    assert_eq!(startup_len(&ssl[..7], 100).unwrap(), None);
    assert_eq!(startup_len(&ssl[..3], 100).unwrap(), None);
    assert!(matches!(startup_len(&[0, 0, 0, 7], 100), Err(ProtocolError::Malformed(_))));
    assert!(matches!(startup_len(&[0, 0, 1, 0], 100), Err(ProtocolError::TooLarge { len: 256, max: 100 })));
}

#[test]
fn read_startup_decodes_every_kind() {
    let mut b = BytesMut::new();
    startup_message(&mut b, &[("user", "app"), ("database", "appdb"), ("application_name", "psql")]);
    let got = block_on(read_startup(&mut Trickle(&b), MAX_STARTUP_LEN)).unwrap();
    let params = vec![
        ("user".to_owned(), "app".to_owned()),
        ("database".to_owned(), "appdb".to_owned()),
        ("application_name".to_owned(), "psql".to_owned()),
    ];
    assert_eq!(got, Some(StartupPacket::Startup { version: PROTOCOL_3_0, params }));

    let ssl = startup_bytes(SSL_REQUEST_CODE, &[]);
    assert_eq!(block_on(read_startup(&mut &ssl[..], 100)).unwrap(), Some(StartupPacket::SslRequest));
    let gss = startup_bytes(GSSENC_REQUEST_CODE, &[]);
    assert_eq!(block_on(read_startup(&mut &gss[..], 100)).unwrap(), Some(StartupPacket::GssEncRequest));

    let mut cancel = BytesMut::new();
    cancel_request(&mut cancel, 4242, -7);
    let got = block_on(read_startup(&mut &cancel[..], 100)).unwrap();
    assert_eq!(got, Some(StartupPacket::Cancel { pid: 4242, secret: (-7i32).to_be_bytes().to_vec() }));
}

#[test]
fn read_startup_reports_protocol_2_and_3_2() {
    // A protocol 2 packet: fixed 296-byte layout, not name/value pairs.
    let v2 = startup_bytes(0x0002_0000, &[0u8; 288]);
    let got = block_on(read_startup(&mut &v2[..], MAX_STARTUP_LEN)).unwrap();
    assert_eq!(got, Some(StartupPacket::Startup { version: 0x0002_0000, params: vec![] }));
    let v32 = startup_bytes(0x0003_0002, b"user\0u\0\0");
    let got = block_on(read_startup(&mut &v32[..], MAX_STARTUP_LEN)).unwrap();
    let params = vec![("user".to_owned(), "u".to_owned())];
    assert_eq!(got, Some(StartupPacket::Startup { version: 0x0003_0002, params }));
}

#[test]
fn read_startup_eof_and_garbage() {
    assert_eq!(block_on(read_startup(&mut &b""[..], 100)).unwrap(), None);
    let err = block_on(read_startup(&mut &[0u8, 0][..], 100)).unwrap_err();
    assert!(matches!(err, ProtocolError::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof), "{err}");
    let short_body = &startup_bytes(PROTOCOL_3_0, b"user\0u\0\0")[..12];
    assert!(matches!(block_on(read_startup(&mut &short_body[..], 100)), Err(ProtocolError::Io(_))));
    let unterminated = startup_bytes(PROTOCOL_3_0, b"user\0u");
    assert!(matches!(block_on(read_startup(&mut &unterminated[..], 100)), Err(ProtocolError::Malformed(_))));
    let trailing = startup_bytes(PROTOCOL_3_0, b"user\0u\0\0x");
    assert!(matches!(block_on(read_startup(&mut &trailing[..], 100)), Err(ProtocolError::Malformed(_))));
    let ssl_with_body = startup_bytes(SSL_REQUEST_CODE, b"x");
    assert!(matches!(block_on(read_startup(&mut &ssl_with_body[..], 100)), Err(ProtocolError::Malformed(_))));
    let short_cancel = startup_bytes(CANCEL_REQUEST_CODE, &[0, 0, 0, 1, 0, 0]);
    assert!(matches!(block_on(read_startup(&mut &short_cancel[..], 100)), Err(ProtocolError::Malformed(_))));
    let not_utf8 = startup_bytes(PROTOCOL_3_0, b"user\0\xff\0\0");
    assert!(matches!(block_on(read_startup(&mut &not_utf8[..], 100)), Err(ProtocolError::Malformed(_))));
    let huge = [0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0];
    assert!(matches!(block_on(read_startup(&mut &huge[..], 100)), Err(ProtocolError::TooLarge { .. })));
}

#[test]
fn read_startup_leaves_the_rest_of_the_stream() {
    let mut bytes = startup_bytes(SSL_REQUEST_CODE, &[]);
    bytes.extend_from_slice(b"\x16\x03\x01 tls client hello");
    let mut rest = &bytes[..];
    assert_eq!(block_on(read_startup(&mut rest, 100)).unwrap(), Some(StartupPacket::SslRequest));
    assert_eq!(rest, b"\x16\x03\x01 tls client hello");
}

#[test]
fn read_message_frames_a_stream() {
    let mut wire = BytesMut::new();
    query(&mut wire, "select 1");
    sync(&mut wire);
    let first_len = frame_len(&wire, 100).unwrap().unwrap();
    let mut buf = BytesMut::new();
    let mut reader = Trickle(&wire);
    let a = block_on(read_message(&mut reader, &mut buf, 100)).unwrap().unwrap();
    assert_eq!(&a[..], &wire[..first_len]);
    let b = block_on(read_message(&mut reader, &mut buf, 100)).unwrap().unwrap();
    assert_eq!(&b[..], &[b'S', 0, 0, 0, 4]);
    assert_eq!(block_on(read_message(&mut reader, &mut buf, 100)).unwrap(), None);

    // Both frames in one read: the second stays in the buffer.
    let mut buf = BytesMut::new();
    let mut whole = &wire[..];
    let a = block_on(read_message(&mut whole, &mut buf, 100)).unwrap().unwrap();
    assert_eq!(a.len(), first_len);
    assert_eq!(&buf[..], &[b'S', 0, 0, 0, 4]);

    let mut buf = BytesMut::new();
    let err = block_on(read_message(&mut &wire[..7], &mut buf, 100)).unwrap_err();
    assert!(matches!(err, ProtocolError::Io(ref e) if e.kind() == std::io::ErrorKind::UnexpectedEof), "{err}");
    let err = block_on(read_message(&mut &wire[..], &mut BytesMut::new(), 8)).unwrap_err();
    assert!(matches!(err, ProtocolError::TooLarge { len: 13, max: 8 }), "{err}");
}

#[test]
fn read_frame_exact_strips_the_header() {
    let mut wire = BytesMut::new();
    query(&mut wire, "x");
    sync(&mut wire);
    let mut rest = &wire[..];
    let (tag, body) = block_on(read_frame_exact(&mut rest, 100)).unwrap().unwrap();
    assert_eq!((tag, &body[..]), (b'Q', &b"x\0"[..]));
    assert_eq!(rest, &[b'S', 0, 0, 0, 4]);
    assert!(block_on(read_frame_exact(&mut &b""[..], 100)).unwrap().is_none());
}

/// Input of at most 2 KiB checked against a limit far above any legitimate allocation for it (a Vec of startup
/// pairs is at most ~48 bytes per 3 input bytes), but far below what a hostile length field asks for.
const MAX: usize = 128 * 1024;

fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let codes = prop_oneof![
        Just(PROTOCOL_3_0),
        Just(0x0002_0000),
        Just(SSL_REQUEST_CODE),
        Just(GSSENC_REQUEST_CODE),
        Just(CANCEL_REQUEST_CODE),
        any::<u32>()
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (any::<i32>(), codes, proptest::collection::vec(any::<u8>(), 0..2048)).prop_map(|(len, code, rest)| {
            let mut v = len.to_be_bytes().to_vec();
            v.extend_from_slice(&code.to_be_bytes());
            v.extend_from_slice(&rest);
            v
        }),
        (any::<u8>(), any::<i32>(), proptest::collection::vec(any::<u8>(), 0..2048)).prop_map(|(tag, len, rest)| {
            let mut v = vec![tag];
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&rest);
            v
        }),
    ]
}

proptest! {
    #[test]
    fn frame_len_is_total_and_consistent(bytes in hostile(), max in 0usize..4096) {
        if let Ok(Some(n)) = frame_len(&bytes, max) {
            prop_assert!(n >= 5 && n <= bytes.len() && n <= max + 1);
        }
        if let Ok(Some(n)) = startup_len(&bytes, max) {
            prop_assert!(n >= 8 && n <= bytes.len() && n <= max);
        }
    }

    #[test]
    fn readers_never_allocate_past_max(bytes in hostile()) {
        let (_, peak) = peak_allocation(|| block_on(read_startup(&mut &bytes[..], MAX)));
        prop_assert!(peak <= MAX, "read_startup allocated {peak}");
        let (_, peak) = peak_allocation(|| block_on(read_message(&mut &bytes[..], &mut BytesMut::new(), MAX)));
        prop_assert!(peak <= MAX + 1, "read_message allocated {peak}");
        let (_, peak) = peak_allocation(|| block_on(read_frame_exact(&mut Trickle(&bytes), MAX)));
        prop_assert!(peak <= MAX, "read_frame_exact allocated {peak}");
    }

    #[test]
    fn read_startup_agrees_with_startup_len(bytes in hostile()) {
        let framed = startup_len(&bytes, MAX_STARTUP_LEN);
        let read = block_on(read_startup(&mut &bytes[..], MAX_STARTUP_LEN));
        match framed {
            Err(_) => prop_assert!(read.is_err()),
            Ok(None) => prop_assert!(bytes.is_empty() && matches!(read, Ok(None)) || read.is_err()),
            Ok(Some(_)) => {}
        }
    }
}
