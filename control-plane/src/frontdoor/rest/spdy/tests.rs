//! SPDY framing against bytes from the draft's layouts and from an independent zlib
//! (Python's, i.e. C zlib, with the SPDY dictionary), round trips, and arbitrary input.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dictionary::DICTIONARY;
use super::frame::FLAG_UNIDIRECTIONAL;
use super::headers::{decode_block, encode_block};
use super::*;

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn decode_all(decoder: &mut Decoder, bytes: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "bytes left over");
    frames
}

#[test]
fn the_dictionary_is_the_drafts() {
    // Its adler32 is the DICTID every SPDY/3 header block's zlib header carries.
    assert_eq!(DICTIONARY.len(), 1423);
    assert_eq!(adler32(DICTIONARY), 0xe3c6_a7c2);
}

/// kubectl's first two streams of a forwarded connection (error, then data), header
/// blocks compressed by C zlib in one stream across both frames.
const KUBECTL_STREAMS: [u8; 100] = [
    0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0x25, 0x3a, 0x70, 0x3a, 0x2b, 0x29, 0x4a,
    0x4d, 0xcc, 0x85, 0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0x86, 0x14, 0xcb, 0x45, 0xa0, 0x24, 0xcc,
    0x64, 0x61, 0x00, 0x24, 0x39, 0x8b, 0x20, 0x91, 0x98, 0x09, 0x4a, 0xdc, 0x8c, 0x06, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xff, //
    0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xc2, 0xaa, 0x15, 0x54, 0x0a, 0x25, 0x12, 0xd2, 0x09, 0x00, 0x00, 0x00, 0xff, 0xff,
];

#[test]
fn syn_streams_compressed_by_c_zlib_decode_with_one_context() {
    let frames = decode_all(&mut Decoder::default(), &KUBECTL_STREAMS);
    let syn = |id, kind| Frame::SynStream {
        stream_id: id,
        associated_to: 0,
        priority: 0,
        flags: 0,
        headers: h(&[("streamtype", kind), ("port", "80"), ("requestid", "0")]),
    };
    assert_eq!(frames, vec![syn(1, "error"), syn(3, "data")]);
    // The second block only makes sense in the first's zlib context.
    let mut fresh = Decoder::default();
    let mut second = BytesMut::from(&KUBECTL_STREAMS[68..]);
    assert!(fresh.decode(&mut second).is_err());
}

#[test]
fn fixed_layout_frames_are_the_drafts_bytes() {
    let cases: Vec<(Frame, Vec<u8>)> = vec![
        (
            Frame::Ping { id: 1 },
            vec![0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1],
        ),
        (
            Frame::RstStream {
                stream_id: 5,
                status: status::CANCEL,
            },
            vec![0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5],
        ),
        (
            Frame::GoAway {
                last_good_stream_id: 7,
                status: 0,
            },
            vec![0x80, 0x03, 0x00, 0x07, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0],
        ),
        (
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 0x1_0000,
            },
            vec![0x80, 0x03, 0x00, 0x09, 0, 0, 0, 8, 0, 0, 0, 1, 0, 1, 0, 0],
        ),
        (
            Frame::Settings {
                flags: 0,
                entries: vec![(0, 7, 0x1_0000)],
            },
            vec![
                0x80, 0x03, 0x00, 0x04, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 7, 0, 1, 0, 0,
            ],
        ),
        (
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: b"hi".to_vec(),
            },
            vec![0, 0, 0, 3, 0x01, 0, 0, 2, b'h', b'i'],
        ),
    ];
    for (frame, bytes) in cases {
        let mut out = Vec::new();
        Encoder::default().encode(&frame, &mut out);
        assert_eq!(out, bytes, "{frame:?}");
        assert_eq!(decode_all(&mut Decoder::default(), &bytes), vec![frame]);
    }
}

#[test]
fn our_header_blocks_use_the_spdy_dictionary() {
    let mut out = Vec::new();
    let reply = Frame::SynReply {
        stream_id: 1,
        flags: 0,
        headers: Vec::new(),
    };
    Encoder::default().encode(&reply, &mut out);
    assert_eq!(&out[..4], &[0x80, 0x03, 0x00, 0x02]);
    assert_eq!(&out[8..12], &[0, 0, 0, 1]);
    let zlib = &out[12..];
    assert_eq!(zlib[0] & 0x0f, 8, "deflate");
    assert_ne!(zlib[1] & 0x20, 0, "FDICT set");
    assert_eq!(&zlib[2..6], &[0xe3, 0xc6, 0xa7, 0xc2], "the SPDY/3 DICTID");
    assert_eq!(&zlib[zlib.len() - 4..], &[0, 0, 0xff, 0xff], "sync flush");
}

#[test]
fn header_blocks_round_trip_across_frames_and_split_reads() {
    let frames = vec![
        Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 3,
            flags: FLAG_FIN | FLAG_UNIDIRECTIONAL,
            headers: h(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "1"),
            ]),
        },
        Frame::SynReply {
            stream_id: 1,
            flags: 0,
            headers: Vec::new(),
        },
        Frame::Headers {
            stream_id: 3,
            flags: FLAG_FIN,
            headers: h(&[("x-multi", "a\0b")]),
        },
        Frame::Data {
            stream_id: 3,
            flags: 0,
            data: vec![7; 70_000],
        },
        Frame::SynStream {
            stream_id: 3,
            associated_to: 1,
            priority: 7,
            flags: 0,
            headers: h(&[("streamtype", "data"), ("port", "8080"), ("requestid", "1")]),
        },
    ];
    let mut encoder = Encoder::default();
    let mut bytes = Vec::new();
    for frame in &frames {
        encoder.encode(frame, &mut bytes);
    }
    // Fed a few bytes at a time, as a socket may deliver them.
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for chunk in bytes.chunks(5) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            got.push(frame);
        }
    }
    assert_eq!(got, frames);
    assert_eq!(header(&h(&[("x-multi", "a\0b")]), "X-Multi"), Some("a"));
}

#[test]
fn uncompressed_blocks_are_checked() {
    let block = encode_block(&h(&[("Port", "80")]));
    assert_eq!(
        block,
        [&[0, 0, 0, 1, 0, 0, 0, 4][..], b"port", &[0, 0, 0, 2], b"80"].concat()
    );
    assert_eq!(decode_block(&block).unwrap(), h(&[("port", "80")]));
    assert!(decode_block(&block[..block.len() - 1]).is_err());
    assert!(decode_block(&[block.as_slice(), &[0]].concat()).is_err());
    assert!(decode_block(&[0xff, 0xff, 0xff, 0xff]).is_err());
}

#[test]
fn broken_frames_are_errors() {
    let mut decoder = Decoder::default();
    // Data on stream 0, SPDY/2, a frame over the limit, a SYN_STREAM on stream 0.
    for bytes in [
        &[0, 0, 0, 0, 0, 0, 0, 0][..],
        &[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1],
        &[0x80, 0x03, 0x00, 0x00, 0, 0xff, 0xff, 0xff],
        &[
            0x80, 0x03, 0x00, 0x01, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    ] {
        assert!(
            decoder.decode(&mut BytesMut::from(bytes)).is_err(),
            "{bytes:?}"
        );
    }
    // An unknown control type is skipped whole.
    let mut buf = BytesMut::from(&[0x80, 0x03, 0x00, 0x63, 0, 0, 0, 2, 1, 2][..]);
    assert_eq!(
        Decoder::default().decode(&mut buf).unwrap(),
        Some(Frame::Unknown { kind: 0x63 })
    );
    assert!(buf.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the decoder: each call gives a frame, asks for more,
    /// or refuses.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(bytes.as_slice());
        while let Ok(Some(_)) = decoder.decode(&mut buf) {}
    }

    /// A valid header then arbitrary bytes as its payload (so the compressed paths are
    /// reached): never a panic.
    #[test]
    fn arbitrary_control_payloads_never_panic(
        kind in 0u16..12,
        flags in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![0x80, 0x03];
        bytes.extend_from_slice(&kind.to_be_bytes());
        bytes.push(flags);
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        bytes.extend_from_slice(&payload);
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(bytes.as_slice());
        let _ = decoder.decode(&mut buf);
    }

    #[test]
    fn data_frames_round_trip(id in 1u32..0x7fff_ffff, fin in any::<bool>(), data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let frame = Frame::Data { stream_id: id, flags: u8::from(fin), data };
        let mut bytes = Vec::new();
        Encoder::default().encode(&frame, &mut bytes);
        prop_assert_eq!(decode_all(&mut Decoder::default(), &bytes), vec![frame]);
    }
}

/// The connection answers SYN_STREAM with SYN_REPLY and echoes the client's pings, and
/// reports streams, data and resets in order.
#[tokio::test]
async fn the_connection_replies_pings_and_reports() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (read, write) = tokio::io::split(server);
    let (sender, mut events) = start(RawSource(read), RawSink(write));
    let (mut client_read, mut client_write) = tokio::io::split(client);

    let mut encoder = Encoder::default();
    let mut bytes = KUBECTL_STREAMS[..68].to_vec();
    encoder.encode(&Frame::Ping { id: 1 }, &mut bytes);
    let _ = &mut encoder;
    let tail = [
        // An empty DATA with FIN on stream 1, then RST_STREAM of stream 1.
        &[0, 0, 0, 1, 1, 0, 0, 0][..],
        &[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 5],
    ]
    .concat();
    bytes.extend_from_slice(&tail);
    client_write.write_all(&bytes).await.unwrap();

    let open = events.recv().await.unwrap();
    assert!(
        matches!(&open, Event::Open { stream_id: 1, headers, fin: false } if header(headers, "streamType") == Some("error")),
        "{open:?}"
    );
    assert_eq!(
        events.recv().await.unwrap(),
        Event::Data {
            stream_id: 1,
            data: Vec::new(),
            fin: true
        }
    );
    assert_eq!(events.recv().await.unwrap(), Event::Reset { stream_id: 1 });

    assert!(sender.data(1, b"pong".to_vec(), true).await);
    drop(sender);
    client_write.shutdown().await.unwrap();
    // What the client reads: the reply, the ping echo, then our data.
    let mut received = Vec::new();
    client_read.read_to_end(&mut received).await.unwrap();
    let frames = decode_all(&mut Decoder::default(), &received);
    assert_eq!(
        frames,
        vec![
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: Vec::new()
            },
            Frame::Ping { id: 1 },
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: b"pong".to_vec()
            },
        ]
    );
    assert!(
        events.recv().await.is_none(),
        "the client's end ends the events"
    );
}
