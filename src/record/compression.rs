//! The five batch codecs, framed exactly as Kafka clients frame them, so that batches written
//! here can be read by any client and vice versa.
//!
//! - gzip: a gzip stream (concatenated members are accepted, as Java's `GZIPInputStream` does).
//! - snappy: Java producers use snappy-java's xerial framing (an 8-byte magic, two version ints,
//!   then `[length][raw snappy block]` chunks); librdkafka can also send one raw snappy block.
//!   Both are read; xerial framing is written, as Java does.
//! - lz4: the standard LZ4 frame format with independent 64 KiB blocks, like Kafka's
//!   `KafkaLZ4BlockOutputStream`.
//! - zstd: a zstd frame, decoded as a stream because producers often omit the content size.
//!
//! Every decoder caps its output: a small compressed batch must not be able to make the broker
//! allocate gigabytes (a decompression bomb is reported as a corrupt message).

use std::io::{Read, Write};

use super::batch::{COMPRESSION_MASK, RecordError, corrupt};

/// Largest decompressed batch the broker accepts; well above any sane `max.message.bytes`
/// times a realistic compression ratio.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// The `compression.type` codec ids stored in bits 0-2 of the batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(i8)]
pub enum Compression {
    #[default]
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    pub fn from_id(id: i16) -> Result<Compression, RecordError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(corrupt(format!("unknown compression codec id {other}"))),
        }
    }

    pub fn from_attributes(attributes: i16) -> Result<Compression, RecordError> {
        Compression::from_id(attributes & COMPRESSION_MASK)
    }

    pub fn id(self) -> i16 {
        self as i16
    }

    /// Kafka's name for the codec, as used by the `compression.type` config.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a codec name (`compression.type` minus the special value `producer`).
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "none" | "uncompressed" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "snappy" => Some(Compression::Snappy),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// snappy-java's stream header: magic, then version and minimum compatible version (both 1).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size, which Kafka's producer keeps.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

/// Decompresses with the default output cap ([`MAX_DECOMPRESSED_BYTES`]).
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    decompress_with_limit(codec, data, MAX_DECOMPRESSED_BYTES)
}

/// Decompresses, refusing output larger than `limit` bytes.
pub fn decompress_with_limit(codec: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(too_big(limit));
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), limit, "gzip"),
        Compression::Snappy => snappy_decompress(data, limit),
        Compression::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(data), limit, "lz4"),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(format!("zstd: {e}")))?;
            read_capped(decoder, limit, "zstd")
        }
    }
}

fn is_too_big(e: &RecordError) -> bool {
    matches!(e, RecordError::CorruptMessage(m) if m.starts_with(TOO_BIG))
}

const TOO_BIG: &str = "decompressed batch exceeds the limit";

fn too_big(limit: usize) -> RecordError {
    corrupt(format!("{TOO_BIG} of {limit} bytes"))
}

fn read_capped(reader: impl Read, limit: usize, codec: &str) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(format!("{codec}: {e}")))?;
    if out.len() > limit {
        return Err(too_big(limit));
    }
    Ok(out)
}

/// The most a raw snappy block can decode to per byte of its own (see `snappy_raw_block`).
const SNAPPY_MAX_EXPANSION: usize = 22;

fn snappy_raw_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordError> {
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(format!("snappy: {e}")))?;
    if len > limit.saturating_sub(out.len()) {
        return Err(too_big(limit));
    }
    // The output buffer is sized from the length the block declares, before decoding: a
    // length the block's bytes cannot produce is a lie, refused before it costs memory. A
    // snappy element expands at most 64 bytes from 3 (a 2-byte-offset copy), so no block
    // decodes to more than 22 times its size.
    if len > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(corrupt(format!(
            "snappy: a {}-byte block cannot decode to the {len} bytes it declares",
            block.len()
        )));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| corrupt(format!("snappy: {e}")))?;
    out.truncate(start + written);
    Ok(())
}

fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    if data.len() < XERIAL_HEADER_LEN || data[..XERIAL_MAGIC.len()] != XERIAL_MAGIC {
        snappy_raw_block(data, &mut out, limit)?;
        return Ok(out);
    }
    let mut pos = XERIAL_HEADER_LEN;
    while pos < data.len() {
        let len_bytes: [u8; 4] = data
            .get(pos..pos + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("snappy: truncated xerial chunk length"))?;
        let len = i32::from_be_bytes(len_bytes);
        pos += 4;
        let len = usize::try_from(len).map_err(|_| corrupt("snappy: negative xerial chunk length"))?;
        let block = data
            .get(pos..pos.saturating_add(len))
            .ok_or_else(|| corrupt("snappy: truncated xerial chunk"))?;
        snappy_raw_block(block, &mut out, limit)?;
        pos += len;
    }
    Ok(out)
}

/// Largest zstd window a streaming decoder accepts (2^24 = 16 MiB): the window is the
/// decoder's working memory, and producers at every level up to 19 stay within it (levels
/// 20-22 may declare larger windows; such frames are refused as corrupt).
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// A streaming decoder over one batch's compressed records: output is produced as it is
/// read, so a caller that consumes records one by one never holds the whole decompressed
/// batch. Snappy, which has no streaming form here, is decoded a block at a time; a single
/// raw snappy block (librdkafka's framing) is bounded by `limit`.
pub fn decoder<'a>(codec: Compression, data: &'a [u8], limit: usize) -> Result<Box<dyn Read + 'a>, RecordError> {
    Ok(match codec {
        Compression::None => Box::new(data),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        Compression::Snappy => Box::new(SnappyReader::new(data, limit)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(format!("zstd: {e}")))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| corrupt(format!("zstd: {e}")))?;
            Box::new(d)
        }
    })
}

/// Reads snappy-java's xerial chunks (or one raw block) a block at a time.
struct SnappyReader<'a> {
    data: &'a [u8],
    pos: usize,
    xerial: bool,
    block: Vec<u8>,
    block_pos: usize,
    limit: usize,
    produced: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8], limit: usize) -> Self {
        let xerial = data.len() >= XERIAL_HEADER_LEN && data[..XERIAL_MAGIC.len()] == XERIAL_MAGIC;
        SnappyReader {
            data,
            pos: if xerial { XERIAL_HEADER_LEN } else { 0 },
            xerial,
            block: Vec::new(),
            block_pos: 0,
            limit,
            produced: 0,
        }
    }

    /// Decodes the next block into `self.block`; false at the end of the stream.
    fn next_block(&mut self) -> Result<bool, RecordError> {
        if self.pos >= self.data.len() {
            return Ok(false);
        }
        let block = if self.xerial {
            let len_bytes: [u8; 4] = self
                .data
                .get(self.pos..self.pos + 4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("snappy: truncated xerial chunk length"))?;
            let len = usize::try_from(i32::from_be_bytes(len_bytes))
                .map_err(|_| corrupt("snappy: negative xerial chunk length"))?;
            self.pos += 4;
            let block = self
                .data
                .get(self.pos..self.pos.saturating_add(len))
                .ok_or_else(|| corrupt("snappy: truncated xerial chunk"))?;
            self.pos += len;
            block
        } else {
            self.pos = self.data.len();
            self.data
        };
        self.block.clear();
        self.block_pos = 0;
        let remaining = self.limit.saturating_sub(self.produced);
        snappy_raw_block(block, &mut self.block, remaining)?;
        self.produced += self.block.len();
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.block_pos >= self.block.len() {
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                // The limit, told apart from corrupt data so the caller reports it as such.
                Err(e) if is_too_big(&e) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::OutOfMemory, e.to_string()));
                }
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())),
            }
        }
        let n = buf.len().min(self.block.len() - self.block_pos);
        buf[..n].copy_from_slice(&self.block[self.block_pos..self.block_pos + n]);
        self.block_pos += n;
        Ok(n)
    }
}

/// A streaming encoder writing one batch's records into an output buffer that already holds
/// the batch header's placeholder, so a rewritten batch is never held uncompressed.
pub enum Encoder {
    None(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Snappy { out: Vec<u8>, pending: Vec<u8> },
    Lz4(Box<lz4_flex::frame::FrameEncoder<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// Starts encoding after the bytes already in `out`. `level` as for [`compress`].
    pub fn new(codec: Compression, level: Option<i32>, mut out: Vec<u8>) -> Result<Encoder, RecordError> {
        let io = |e: std::io::Error| RecordError::InvalidRecord(format!("{codec} compression failed: {e}"));
        Ok(match codec {
            Compression::None => Encoder::None(out),
            Compression::Gzip => {
                let level = level.map_or(flate2::Compression::default(), |l| {
                    flate2::Compression::new(l.clamp(0, 9) as u32)
                });
                Encoder::Gzip(flate2::write::GzEncoder::new(out, level))
            }
            Compression::Snappy => {
                out.extend_from_slice(&XERIAL_MAGIC);
                out.extend_from_slice(&1i32.to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
                Encoder::Snappy {
                    out,
                    pending: Vec::with_capacity(XERIAL_BLOCK_SIZE),
                }
            }
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                Encoder::Lz4(Box::new(lz4_flex::frame::FrameEncoder::with_frame_info(info, out)))
            }
            Compression::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(out, level.unwrap_or(3).clamp(1, 22)).map_err(io)?)
            }
        })
    }

    /// Bytes of output so far (compressors hold some back until they finish).
    pub fn output_len(&self) -> usize {
        match self {
            Encoder::None(out) => out.len(),
            Encoder::Gzip(e) => e.get_ref().len(),
            Encoder::Snappy { out, .. } => out.len(),
            Encoder::Lz4(e) => e.get_ref().len(),
            Encoder::Zstd(e) => e.get_ref().len(),
        }
    }

    pub fn write(&mut self, mut data: &[u8]) -> Result<(), RecordError> {
        let io = |e: std::io::Error| RecordError::InvalidRecord(format!("compression failed: {e}"));
        match self {
            Encoder::None(out) => out.extend_from_slice(data),
            Encoder::Gzip(e) => e.write_all(data).map_err(io)?,
            Encoder::Snappy { out, pending } => {
                while !data.is_empty() {
                    let n = (XERIAL_BLOCK_SIZE - pending.len()).min(data.len());
                    pending.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if pending.len() == XERIAL_BLOCK_SIZE {
                        snappy_chunk(out, pending)?;
                    }
                }
            }
            Encoder::Lz4(e) => e.write_all(data).map_err(io)?,
            Encoder::Zstd(e) => e.write_all(data).map_err(io)?,
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Vec<u8>, RecordError> {
        let io = |e: std::io::Error| RecordError::InvalidRecord(format!("compression failed: {e}"));
        match self {
            Encoder::None(out) => Ok(out),
            Encoder::Gzip(e) => e.finish().map_err(io),
            Encoder::Snappy { mut out, mut pending } => {
                if !pending.is_empty() {
                    snappy_chunk(&mut out, &mut pending)?;
                }
                Ok(out)
            }
            Encoder::Lz4(e) => e
                .finish()
                .map_err(|e| RecordError::InvalidRecord(format!("lz4 compression failed: {e}"))),
            Encoder::Zstd(e) => e.finish().map_err(io),
        }
    }
}

/// Appends `pending` to `out` as one xerial chunk and empties it.
fn snappy_chunk(out: &mut Vec<u8>, pending: &mut Vec<u8>) -> Result<(), RecordError> {
    let block = snap::raw::Encoder::new()
        .compress_vec(pending)
        .map_err(|e| RecordError::InvalidRecord(format!("snappy compression failed: {e}")))?;
    let len = i32::try_from(block.len()).map_err(|_| RecordError::InvalidRecord("snappy block too large".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&block);
    pending.clear();
    Ok(())
}

/// Compresses `data`. `level` applies to gzip (0-9) and zstd (1-22); lz4 and snappy have none.
pub fn compress(codec: Compression, data: &[u8], level: Option<i32>) -> Result<Vec<u8>, RecordError> {
    let io = |e: std::io::Error| RecordError::InvalidRecord(format!("{codec} compression failed: {e}"));
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let level = level.map_or(flate2::Compression::default(), |l| {
                flate2::Compression::new(l.clamp(0, 9) as u32)
            });
            let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
            enc.write_all(data).map_err(io)?;
            enc.finish().map_err(io)
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(data.len() / 2 + 64);
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
                let block = encoder
                    .compress_vec(chunk)
                    .map_err(|e| RecordError::InvalidRecord(format!("snappy compression failed: {e}")))?;
                let len = i32::try_from(block.len())
                    .map_err(|_| RecordError::InvalidRecord("snappy block too large".into()))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::with_capacity(data.len() / 2 + 64));
            enc.write_all(data).map_err(io)?;
            enc.finish()
                .map_err(|e| RecordError::InvalidRecord(format!("lz4 compression failed: {e}")))
        }
        Compression::Zstd => {
            let level = level.unwrap_or(3).clamp(1, 22);
            zstd::bulk::compress(data, level).map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect()
    }

    #[test]
    fn round_trip_every_codec() {
        let data = payload();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = compress(c, &data, None).unwrap();
            assert_eq!(decompress(c, &packed).unwrap(), data, "{c}");
            assert_eq!(
                decompress(c, &compress(c, &[], None).unwrap()).unwrap(),
                Vec::<u8>::new()
            );
        }
        let packed = compress(Compression::Gzip, &data, Some(1)).unwrap();
        assert_eq!(decompress(Compression::Gzip, &packed).unwrap(), data);
        let packed = compress(Compression::Zstd, &data, Some(19)).unwrap();
        assert_eq!(decompress(Compression::Zstd, &packed).unwrap(), data);
    }

    #[test]
    fn snappy_accepts_raw_and_xerial() {
        let data = payload();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw).unwrap(), data);
        let framed = compress(Compression::Snappy, &data, None).unwrap();
        assert_eq!(&framed[..8], &XERIAL_MAGIC);
        assert_eq!(decompress(Compression::Snappy, &framed).unwrap(), data);
        // A hand-made xerial stream exactly as snappy-java writes "hello".
        let block = snap::raw::Encoder::new().compress_vec(b"hello").unwrap();
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        xerial.extend_from_slice(&(block.len() as i32).to_be_bytes());
        xerial.extend_from_slice(&block);
        assert_eq!(decompress(Compression::Snappy, &xerial).unwrap(), b"hello");
        // Truncated chunk and negative length are errors.
        assert!(decompress(Compression::Snappy, &xerial[..xerial.len() - 1]).is_err());
        let mut neg = XERIAL_MAGIC.to_vec();
        neg.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(decompress(Compression::Snappy, &neg).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut x: u32 = 99;
        for len in [0usize, 1, 5, 17, 64, 1000] {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            for c in [
                Compression::Gzip,
                Compression::Snappy,
                Compression::Lz4,
                Compression::Zstd,
            ] {
                let _ = decompress(c, &buf);
            }
        }
        assert!(decompress(Compression::Gzip, b"not gzip at all").is_err());
        assert!(decompress(Compression::Lz4, b"not lz4 at all").is_err());
        assert!(decompress(Compression::Zstd, b"not zstd at all").is_err());
    }

    #[test]
    fn decompression_bombs_are_capped() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = compress(c, &zeros, None).unwrap();
            let err = decompress_with_limit(c, &packed, 1024 * 1024).unwrap_err();
            assert!(matches!(err, RecordError::CorruptMessage(_)), "{c}: {err:?}");
            assert_eq!(
                decompress_with_limit(c, &packed, zeros.len()).unwrap().len(),
                zeros.len()
            );
        }
        assert!(decompress_with_limit(Compression::None, &zeros, 10).is_err());
    }

    #[test]
    fn streaming_codecs_match_the_whole_buffer_ones() {
        let data = payload();
        for c in Compression::ALL {
            let mut enc = Encoder::new(c, None, b"head".to_vec()).unwrap();
            for chunk in data.chunks(7_000) {
                enc.write(chunk).unwrap();
            }
            let out = enc.finish().unwrap();
            assert_eq!(&out[..4], b"head");
            assert_eq!(decompress(c, &out[4..]).unwrap(), data, "{c}");
            let mut streamed = Vec::new();
            decoder(c, &out[4..], usize::MAX)
                .unwrap()
                .read_to_end(&mut streamed)
                .unwrap();
            assert_eq!(streamed, data, "{c}");
        }
        // A block declaring more than its bytes can decode to is refused before its output
        // buffer is sized, even without a limit; the densest real block still decodes.
        let mut liar = vec![0x80, 0x80, 0x80, 0x80, 0x04]; // declares 1 GiB
        liar.extend_from_slice(&[0u8; 100]);
        let mut out = Vec::new();
        assert!(snappy_raw_block(&liar, &mut out, usize::MAX).is_err());
        assert!(out.capacity() < 1 << 20);
        let zeros = vec![0u8; 1 << 20];
        let dense = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        let mut out = Vec::new();
        snappy_raw_block(&dense, &mut out, usize::MAX).unwrap();
        assert_eq!(out, zeros);
        // A raw snappy block over the limit is refused before it is decoded.
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut out = Vec::new();
        assert!(
            decoder(Compression::Snappy, &raw, 1000)
                .unwrap()
                .read_to_end(&mut out)
                .is_err()
        );
    }

    #[test]
    fn codec_ids_and_names() {
        for id in 0..5 {
            let c = Compression::from_id(id).unwrap();
            assert_eq!(c.id(), id);
            assert_eq!(Compression::from_name(c.name()), Some(c));
        }
        for id in 5..8 {
            assert!(Compression::from_attributes(id).is_err());
        }
        assert_eq!(Compression::from_attributes(0x0b).unwrap(), Compression::Lz4);
    }
}
