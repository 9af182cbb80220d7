//! SPDY/3.1 frames (draft 3.1, section 2.2): a control frame is
//! `1 | version:15 | type:16 | flags:8 | length:24 | payload`, a data frame
//! `0 | stream-id:31 | flags:8 | length:24 | payload`. [`Codec`] turns bytes into frames
//! and back, holding the two header compression contexts of one connection.

use bytes::{Buf, BytesMut};

use super::headers::{Deflater, Headers, Inflater};
use super::SpdyError;

pub const VERSION: u16 = 3;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// FLAG_FIN of data frames and of SYN_STREAM, SYN_REPLY and HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL of SYN_STREAM.
#[cfg(test)]
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status codes (draft 3.1, 2.6.3).
pub mod status {
    pub const PROTOCOL_ERROR: u32 = 1;
    #[cfg(test)]
    pub const CANCEL: u32 = 5;
}

/// Frames past this length are refused (the format allows 16 MiB - 1; nothing sends
/// more than a few dozen KiB).
pub const MAX_FRAME: usize = 1 << 20;

const HEADER_LEN: usize = 8;
const STREAM_ID_MASK: u32 = 0x7fff_ffff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        /// 0 (highest) to 7.
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// `(flags, id, value)` triples.
    Settings {
        flags: u8,
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// A control frame of a type this side does not know: ignored, as the draft asks.
    Unknown {
        kind: u16,
    },
}

/// One connection's sending side: frames to bytes, with its header compression context.
#[derive(Default)]
pub struct Encoder {
    deflate: Deflater,
}

/// One connection's receiving side: bytes to frames, with its header decompression context.
#[derive(Default)]
pub struct Decoder {
    inflate: Inflater,
}

impl Encoder {
    /// Appends `frame`'s bytes to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                out.extend_from_slice(&(stream_id & STREAM_ID_MASK).to_be_bytes());
                length_word(out, *flags, data.len());
                out.extend_from_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                let block = self.deflate.compress(headers);
                let mut payload = Vec::with_capacity(10 + block.len());
                payload.extend_from_slice(&(stream_id & STREAM_ID_MASK).to_be_bytes());
                payload.extend_from_slice(&(associated_to & STREAM_ID_MASK).to_be_bytes());
                payload.push((priority & 0x07) << 5);
                payload.push(0); // slot
                payload.extend_from_slice(&block);
                control(out, SYN_STREAM, *flags, &payload);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => self.stream_headers(out, SYN_REPLY, *stream_id, *flags, headers),
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => self.stream_headers(out, HEADERS, *stream_id, *flags, headers),
            Frame::RstStream { stream_id, status } => {
                control(
                    out,
                    RST_STREAM,
                    0,
                    &words(&[stream_id & STREAM_ID_MASK, *status]),
                );
            }
            Frame::Settings { flags, entries } => {
                let mut payload = (entries.len() as u32).to_be_bytes().to_vec();
                for (flag, id, value) in entries {
                    payload.extend_from_slice(
                        &((u32::from(*flag) << 24) | (id & 0xff_ffff)).to_be_bytes(),
                    );
                    payload.extend_from_slice(&value.to_be_bytes());
                }
                control(out, SETTINGS, *flags, &payload);
            }
            Frame::Ping { id } => control(out, PING, 0, &id.to_be_bytes()),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => control(
                out,
                GOAWAY,
                0,
                &words(&[last_good_stream_id & STREAM_ID_MASK, *status]),
            ),
            Frame::WindowUpdate { stream_id, delta } => control(
                out,
                WINDOW_UPDATE,
                0,
                &words(&[stream_id & STREAM_ID_MASK, delta & STREAM_ID_MASK]),
            ),
            Frame::Unknown { .. } => {}
        }
    }

    fn stream_headers(
        &mut self,
        out: &mut Vec<u8>,
        kind: u16,
        id: u32,
        flags: u8,
        headers: &Headers,
    ) {
        let block = self.deflate.compress(headers);
        let mut payload = (id & STREAM_ID_MASK).to_be_bytes().to_vec();
        payload.extend_from_slice(&block);
        control(out, kind, flags, &payload);
    }
}

impl Decoder {
    /// The next whole frame at the front of `buf` (consumed), or `None` until more bytes
    /// arrive. An error leaves the connection unusable: the caller sends GOAWAY and ends.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        let Some(head) = buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        if length > MAX_FRAME {
            return Err(SpdyError::Protocol(format!("frame of {length} bytes")));
        }
        if buf.len() < HEADER_LEN + length {
            buf.reserve(HEADER_LEN + length - buf.len());
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(length);
        if first & 0x8000_0000 == 0 {
            let stream_id = first & STREAM_ID_MASK;
            if stream_id == 0 {
                return Err(SpdyError::Protocol("data frame on stream 0".into()));
            }
            return Ok(Some(Frame::Data {
                stream_id,
                flags,
                data: payload.to_vec(),
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Protocol(format!("SPDY version {version}")));
        }
        self.control_frame((first & 0xffff) as u16, flags, &payload)
            .map(Some)
    }

    fn control_frame(&mut self, kind: u16, flags: u8, p: &[u8]) -> Result<Frame, SpdyError> {
        let word = |i: usize| -> Result<u32, SpdyError> {
            p.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| SpdyError::Protocol(format!("control frame {kind} too short")))
        };
        let stream = |i: usize| -> Result<u32, SpdyError> {
            let id = word(i)? & STREAM_ID_MASK;
            if id == 0 {
                return Err(SpdyError::Protocol(format!(
                    "control frame {kind} on stream 0"
                )));
            }
            Ok(id)
        };
        Ok(match kind {
            SYN_STREAM => {
                let stream_id = stream(0)?;
                let associated_to = word(1)? & STREAM_ID_MASK;
                let priority = p
                    .get(8)
                    .ok_or_else(|| SpdyError::Protocol("SYN_STREAM too short".into()))?
                    >> 5;
                let block = p
                    .get(10..)
                    .ok_or_else(|| SpdyError::Protocol("SYN_STREAM too short".into()))?;
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    flags,
                    headers: self.inflate.decompress(block)?,
                }
            }
            SYN_REPLY | HEADERS => {
                let stream_id = stream(0)?;
                let headers = self.inflate.decompress(&p[4..])?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            RST_STREAM => Frame::RstStream {
                stream_id: stream(0)?,
                status: word(1)?,
            },
            SETTINGS => {
                let count = word(0)? as usize;
                if p.len() != 4 + count.saturating_mul(8) {
                    return Err(SpdyError::Protocol("SETTINGS length".into()));
                }
                let entries = (0..count)
                    .map(|i| {
                        let id = word(1 + 2 * i)?;
                        Ok(((id >> 24) as u8, id & 0xff_ffff, word(2 + 2 * i)?))
                    })
                    .collect::<Result<_, SpdyError>>()?;
                Frame::Settings { flags, entries }
            }
            PING => Frame::Ping { id: word(0)? },
            GOAWAY => Frame::GoAway {
                last_good_stream_id: word(0)? & STREAM_ID_MASK,
                status: word(1).unwrap_or(0),
            },
            WINDOW_UPDATE => Frame::WindowUpdate {
                stream_id: word(0)? & STREAM_ID_MASK,
                delta: word(1)? & STREAM_ID_MASK,
            },
            kind => Frame::Unknown { kind },
        })
    }
}

fn length_word(out: &mut Vec<u8>, flags: u8, len: usize) {
    let len = len as u32 & 0xff_ffff;
    out.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
}

fn control(out: &mut Vec<u8>, kind: u16, flags: u8, payload: &[u8]) {
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    length_word(out, flags, payload.len());
    out.extend_from_slice(payload);
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}
