//! Framer: header parsing, 16 MiB splitting and joining, truncation, limits.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use crate::protocol::mysql::ProtocolError;
use crate::protocol::mysql::framer::{
    MAX_PAYLOAD, header, packet_len, packets, read_packet, take_packet, write_packet,
};

/// Hands out its bytes a few at a time, like a slow socket.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = self.chunk.min(self.data.len() - self.pos).min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

#[test]
fn packet_len_needs_header_and_body() {
    assert_eq!(packet_len(&[], 100).unwrap(), None);
    assert_eq!(packet_len(&[3, 0, 0], 100).unwrap(), None);
    assert_eq!(packet_len(&[3, 0, 0, 7, b'a', b'b'], 100).unwrap(), None);
    assert_eq!(packet_len(&[3, 0, 0, 7, b'a', b'b', b'c', 0xFF], 100).unwrap(), Some(7));
    assert_eq!(header(&[3, 0, 0, 7]), Some((3, 7)));
    assert_eq!(header(&[0xFF, 0xFF, 0xFF, 1]), Some((MAX_PAYLOAD, 1)));
}

#[test]
fn packet_len_rejects_over_max_from_the_header_alone() {
    let e = packet_len(&[0, 1, 0, 0], 255).unwrap_err();
    assert!(matches!(e, ProtocolError::TooLarge { len: 256, max: 255 }), "{e:?}");
}

#[test]
fn write_packet_small_and_empty() {
    let mut out = BytesMut::new();
    assert_eq!(write_packet(&mut out, 5, b"hi"), 6);
    assert_eq!(write_packet(&mut out, 255, b""), 0);
    assert_eq!(&out[..], &[2, 0, 0, 5, b'h', b'i', 0, 0, 0, 255]);
}

#[test]
fn write_packet_splits_at_16_mib_and_adds_empty_tail() {
    let payload = vec![0xABu8; MAX_PAYLOAD];
    let mut out = BytesMut::new();
    assert_eq!(write_packet(&mut out, 0, &payload), 2);
    assert_eq!(out.len(), 4 + MAX_PAYLOAD + 4);
    assert_eq!(&out[..4], &[0xFF, 0xFF, 0xFF, 0]);
    assert_eq!(&out[4 + MAX_PAYLOAD..], &[0, 0, 0, 1]);

    let payload = vec![1u8; MAX_PAYLOAD + 10];
    let mut out = BytesMut::new();
    assert_eq!(write_packet(&mut out, 7, &payload), 9);
    assert_eq!(&out[4 + MAX_PAYLOAD..4 + MAX_PAYLOAD + 4], &[10, 0, 0, 8]);
}

#[test]
fn take_packet_joins_split_payload_and_keeps_following_bytes() {
    let mut payload = vec![0u8; MAX_PAYLOAD + 3];
    payload[0] = 0x11;
    payload[MAX_PAYLOAD] = 0x22;
    let mut buf = BytesMut::new();
    write_packet(&mut buf, 3, &payload);
    write_packet(&mut buf, 9, b"next");
    let whole = buf.len();
    // Incomplete: the second piece is missing.
    let mut partial = BytesMut::from(&buf[..4 + MAX_PAYLOAD + 2]);
    assert!(take_packet(&mut partial, usize::MAX).unwrap().is_none());
    assert_eq!(partial.len(), 4 + MAX_PAYLOAD + 2);

    let (seq, joined) = take_packet(&mut buf, usize::MAX).unwrap().unwrap();
    assert_eq!(seq, 4, "sequence id of the last piece");
    assert_eq!(joined.len(), MAX_PAYLOAD + 3);
    assert_eq!(joined[0], 0x11);
    assert_eq!(joined[MAX_PAYLOAD], 0x22);
    assert_eq!(buf.len(), whole - (4 + MAX_PAYLOAD + 4 + 3));
    let (seq, next) = take_packet(&mut buf, usize::MAX).unwrap().unwrap();
    assert_eq!((seq, &next[..]), (9, &b"next"[..]));
    assert!(buf.is_empty());
}

#[test]
fn take_packet_checks_max_over_the_joined_length() {
    let payload = vec![0u8; MAX_PAYLOAD + 3];
    let mut buf = BytesMut::new();
    write_packet(&mut buf, 0, &payload);
    let e = take_packet(&mut buf, MAX_PAYLOAD + 2).unwrap_err();
    assert!(matches!(e, ProtocolError::TooLarge { .. }), "{e:?}");
}

#[tokio::test]
async fn read_packet_from_a_trickle_and_at_exact_16_mib() {
    let mut wire = BytesMut::new();
    write_packet(&mut wire, 0, b"select 1");
    write_packet(&mut wire, 1, &vec![7u8; MAX_PAYLOAD]);
    write_packet(&mut wire, 3, b"");
    let mut s = Trickle { data: wire.to_vec(), pos: 0, chunk: 3 };
    let mut buf = BytesMut::new();
    let (seq, p) = read_packet(&mut s, &mut buf, 1 << 25).await.unwrap().unwrap();
    assert_eq!((seq, &p[..]), (0, &b"select 1"[..]));
    s.chunk = 1 << 20;
    let (seq, p) = read_packet(&mut s, &mut buf, 1 << 25).await.unwrap().unwrap();
    assert_eq!(seq, 2, "16 MiB - 1 payload plus the empty tail packet");
    assert_eq!(p.len(), MAX_PAYLOAD);
    assert!(p.iter().all(|b| *b == 7));
    let (seq, p) = read_packet(&mut s, &mut buf, 1 << 25).await.unwrap().unwrap();
    assert_eq!((seq, p.len()), (3, 0));
    assert!(read_packet(&mut s, &mut buf, 1 << 25).await.unwrap().is_none(), "clean close");
}

#[tokio::test]
async fn read_packet_reports_truncation_and_limit() {
    let mut s: &[u8] = &[5, 0, 0, 0, b'a', b'b'];
    let mut buf = BytesMut::new();
    let e = read_packet(&mut s, &mut buf, 100).await.unwrap_err();
    assert!(matches!(e, ProtocolError::Truncated), "{e:?}");

    // Only the header of a huge packet is sent: the limit is hit before any body byte is awaited.
    let mut s: &[u8] = &[0xFF, 0xFF, 0x7F, 0];
    let mut buf = BytesMut::new();
    let e = read_packet(&mut s, &mut buf, 1024).await.unwrap_err();
    assert!(matches!(e, ProtocolError::TooLarge { len: 0x7F_FFFF, max: 1024 }), "{e:?}");
    assert!(buf.capacity() < 128 * 1024, "no allocation for the announced size");
}

#[test]
fn packets_walks_complete_packets_and_reports_consumed_bytes() {
    let mut wire = BytesMut::new();
    write_packet(&mut wire, 1, b"abc");
    write_packet(&mut wire, 2, b"");
    write_packet(&mut wire, 3, b"partial");
    let chunk = &wire[..wire.len() - 2];
    let mut it = packets(chunk, 100);
    assert_eq!(it.next().unwrap().unwrap(), (1, &b"abc"[..]));
    assert_eq!(it.next().unwrap().unwrap(), (2, &b""[..]));
    assert!(it.next().is_none(), "the third packet is incomplete");
    assert_eq!(it.consumed(), 7 + 4);

    let mut it = packets(&[1, 0, 0, 0, b'x', 0, 1, 0, 0], 10);
    assert!(it.next().unwrap().is_ok());
    assert!(matches!(it.next(), Some(Err(ProtocolError::TooLarge { len: 256, .. }))));
    assert!(it.next().is_none());
    assert_eq!(it.consumed(), 5, "bytes before the bad header");
}
