//! SPDY/3 header blocks (draft 3, 2.6.10): `u32` pair count, then `u32`-length-prefixed
//! names and values (several values of one name joined by NUL), zlib-compressed with the
//! SPDY dictionary. Each direction keeps ONE zlib stream for the whole connection; every
//! block ends with a sync flush so the peer can decode it on its own frame.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::DICTIONARY;
use super::SpdyError;

/// Names and values in the order they came; names are lower case on the wire.
pub type Headers = Vec<(String, String)>;

/// Past this, a header block is refused (no client needs more; a zlib bomb would).
const MAX_BLOCK: usize = 256 * 1024;
/// Past this many pairs, too.
const MAX_PAIRS: u32 = 1024;

/// The value of `name` (case-insensitive, first value), as `http.Header.Get` reads it.
pub fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or(""))
}

/// The uncompressed block of `headers`, names lower-cased as SPDY requires.
pub fn encode_block(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Reads an uncompressed block; it must be used up exactly.
pub fn decode_block(block: &[u8]) -> Result<Headers, SpdyError> {
    let mut rest = block;
    let count = take_u32(&mut rest)?;
    if count > MAX_PAIRS {
        return Err(SpdyError::Protocol(format!(
            "header block has {count} pairs"
        )));
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = take_string(&mut rest)?.to_ascii_lowercase();
        let value = take_string(&mut rest)?;
        if name.is_empty() {
            return Err(SpdyError::Protocol("empty header name".into()));
        }
        headers.push((name, value));
    }
    if !rest.is_empty() {
        return Err(SpdyError::Protocol(
            "header block longer than its pairs".into(),
        ));
    }
    Ok(headers)
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, SpdyError> {
    let Some((head, tail)) = rest.split_first_chunk::<4>() else {
        return Err(SpdyError::Protocol("header block cut short".into()));
    };
    *rest = tail;
    Ok(u32::from_be_bytes(*head))
}

fn take_string(rest: &mut &[u8]) -> Result<String, SpdyError> {
    let len = take_u32(rest)? as usize;
    if len > rest.len() {
        return Err(SpdyError::Protocol("header block cut short".into()));
    }
    let (bytes, tail) = rest.split_at(len);
    *rest = tail;
    String::from_utf8(bytes.to_vec()).map_err(|_| SpdyError::Protocol("header is not UTF-8".into()))
}

/// One direction's compression context.
pub struct Deflater(Compress);

impl Default for Deflater {
    fn default() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(DICTIONARY)
            .expect("a fresh zlib stream takes a dictionary");
        Deflater(z)
    }
}

impl Deflater {
    /// `headers` compressed and sync-flushed: a block the peer decodes on its own.
    pub fn compress(&mut self, headers: &Headers) -> Vec<u8> {
        let input = encode_block(headers);
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            let before = self.0.total_in();
            self.0
                .compress_vec(&input[pos..], &mut out, FlushCompress::Sync)
                .expect("deflate of a buffer cannot fail");
            pos += (self.0.total_in() - before) as usize;
            // Done when all input is taken and the flush did not fill the buffer.
            if pos == input.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// The other direction's decompression context.
pub struct Inflater(Decompress);

impl Default for Inflater {
    fn default() -> Self {
        Inflater(Decompress::new(true))
    }
}

impl Inflater {
    /// One compressed block's headers; the zlib stream carries on to the next block.
    pub fn decompress(&mut self, input: &[u8]) -> Result<Headers, SpdyError> {
        let mut out: Vec<u8> = Vec::with_capacity(256);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_BLOCK {
                    return Err(SpdyError::Protocol("header block too large".into()));
                }
                out.reserve(out.len());
            }
            let (in_before, out_before) = (self.0.total_in(), out.len());
            let status = self
                .0
                .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync);
            pos += (self.0.total_in() - in_before) as usize;
            match status {
                Ok(Status::StreamEnd) => {
                    return Err(SpdyError::Protocol("header zlib stream ended".into()))
                }
                Ok(_) => {
                    if pos == input.len() && out.len() < out.capacity() {
                        return decode_block(&out);
                    }
                    if self.0.total_in() == in_before && out.len() == out_before {
                        return Err(SpdyError::Protocol("header block cut short".into()));
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| SpdyError::Protocol(format!("header dictionary: {e}")))?;
                }
                Err(e) => return Err(SpdyError::Protocol(format!("header block: {e}"))),
            }
        }
    }
}
