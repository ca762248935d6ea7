//! The fixed 61-byte header of a v2 record batch, its CRC-32C, and the few in-place edits the
//! broker makes to a produced batch before storing it.
//!
//! Layout (big-endian), as in Kafka's `DefaultRecordBatch`:
//!
//! ```text
//!  0 baseOffset           i64    ─┐ LOG_OVERHEAD (12 bytes): not counted in batchLength
//!  8 batchLength          i32    ─┘
//! 12 partitionLeaderEpoch i32
//! 16 magic                i8
//! 17 crc                  u32    CRC-32C of bytes 21.. (attributes to the end)
//! 21 attributes           i16
//! 23 lastOffsetDelta      i32
//! 27 baseTimestamp        i64
//! 35 maxTimestamp         i64
//! 43 producerId           i64
//! 51 producerEpoch        i16
//! 53 baseSequence         i32
//! 57 recordsCount         i32
//! 61 records...
//! ```
//!
//! The base offset and the partition leader epoch sit before the CRC-covered range on purpose:
//! the broker rewrites both on every append without recomputing the checksum.

use std::fmt;

use super::compression::Compression;

/// Bytes before the part of a batch that `batchLength` counts (base offset + length).
pub const LOG_OVERHEAD: usize = 12;
/// Size of the v2 batch header, up to the first record.
pub const BATCH_HEADER_SIZE: usize = 61;
/// Smallest legal `batchLength`: a header with no records.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32;
/// The only batch format the broker stores.
pub const MAGIC_V2: i8 = 2;

pub(crate) const BASE_OFFSET_POS: usize = 0;
pub(crate) const LENGTH_POS: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH_POS: usize = 12;
pub(crate) const MAGIC_POS: usize = 16;
pub(crate) const CRC_POS: usize = 17;
pub(crate) const ATTRIBUTES_POS: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_POS: usize = 23;
pub(crate) const BASE_TIMESTAMP_POS: usize = 27;
pub(crate) const MAX_TIMESTAMP_POS: usize = 35;
pub(crate) const PRODUCER_ID_POS: usize = 43;
pub(crate) const PRODUCER_EPOCH_POS: usize = 51;
pub(crate) const BASE_SEQUENCE_POS: usize = 53;
pub(crate) const RECORDS_COUNT_POS: usize = 57;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_MASK: i16 = 0x08;
pub(crate) const TRANSACTIONAL_MASK: i16 = 0x10;
pub(crate) const CONTROL_MASK: i16 = 0x20;
/// KIP-534: the base timestamp holds the time after which the cleaner may drop the batch's
/// tombstones (set by the cleaner, never by producers).
pub(crate) const DELETE_HORIZON_MASK: i16 = 0x40;

/// The end of the complete batch starting at `at`, judged by its length field alone: `None`
/// when the bytes there do not hold a whole batch (as Kafka's batch iterator stops there).
pub fn complete_batch_end(buf: &[u8], at: usize) -> Option<usize> {
    let length = buf.get(at.checked_add(LENGTH_POS)?..at.checked_add(LOG_OVERHEAD)?)?;
    let length = usize::try_from(i32::from_be_bytes(length.try_into().ok()?)).ok()?;
    let end = at.checked_add(LOG_OVERHEAD)?.checked_add(length)?;
    (end <= buf.len()).then_some(end)
}

/// Why a batch (or the records inside it) was refused. Each variant corresponds to the Kafka
/// error code the API layer answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Bytes that cannot be a batch: torn, bad CRC, impossible lengths (CORRUPT_MESSAGE).
    CorruptMessage(String),
    /// A batch larger than the topic allows (MESSAGE_TOO_LARGE).
    MessageTooLarge { size: usize, max: usize },
    /// A well-formed batch whose contents break a rule (INVALID_RECORD).
    InvalidRecord(String),
    /// Magic 0 or 1 (or anything but 2); the broker does not convert old formats
    /// (UNSUPPORTED_FOR_MESSAGE_FORMAT).
    UnsupportedMagic(i8),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::CorruptMessage(why) => write!(f, "corrupt record batch: {why}"),
            RecordError::MessageTooLarge { size, max } => {
                write!(f, "record batch of {size} bytes exceeds the maximum of {max} bytes")
            }
            RecordError::InvalidRecord(why) => write!(f, "invalid record: {why}"),
            RecordError::UnsupportedMagic(magic) => {
                write!(f, "unsupported record batch magic {magic} (only magic 2 is accepted)")
            }
        }
    }
}

impl std::error::Error for RecordError {}

pub(crate) fn corrupt(why: impl Into<String>) -> RecordError {
    RecordError::CorruptMessage(why.into())
}

// Bounds-checked big-endian readers. Callers check lengths first, so the fallbacks are never
// taken on a parsed header; they exist so that no slice index can panic.
pub(crate) fn get_i64(buf: &[u8], pos: usize) -> i64 {
    buf.get(pos..pos + 8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
        .unwrap_or(0)
}

pub(crate) fn get_i32(buf: &[u8], pos: usize) -> i32 {
    buf.get(pos..pos + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_be_bytes)
        .unwrap_or(0)
}

pub(crate) fn get_u32(buf: &[u8], pos: usize) -> u32 {
    buf.get(pos..pos + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0)
}

pub(crate) fn get_i16(buf: &[u8], pos: usize) -> i16 {
    buf.get(pos..pos + 2)
        .and_then(|b| b.try_into().ok())
        .map(i16::from_be_bytes)
        .unwrap_or(0)
}

fn put(buf: &mut [u8], pos: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(pos..pos + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// The decoded fixed header of one v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Decodes the header at the start of `buf`. Only the header is looked at: the caller decides
    /// whether the rest of the batch is present and whether to check the CRC. The magic byte is
    /// checked first because it sits at the same place in every message format, which lets old
    /// (magic 0/1) data be reported as unsupported rather than corrupt.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, RecordError> {
        if buf.len() > MAGIC_POS {
            let magic = buf[MAGIC_POS] as i8;
            if magic != MAGIC_V2 {
                return Err(RecordError::UnsupportedMagic(magic));
            }
        }
        if buf.len() < BATCH_HEADER_SIZE {
            return Err(corrupt(format!(
                "record batch header needs {BATCH_HEADER_SIZE} bytes, only {} present",
                buf.len()
            )));
        }
        let header = BatchHeader {
            base_offset: get_i64(buf, BASE_OFFSET_POS),
            batch_length: get_i32(buf, LENGTH_POS),
            partition_leader_epoch: get_i32(buf, PARTITION_LEADER_EPOCH_POS),
            magic: buf[MAGIC_POS] as i8,
            crc: get_u32(buf, CRC_POS),
            attributes: get_i16(buf, ATTRIBUTES_POS),
            last_offset_delta: get_i32(buf, LAST_OFFSET_DELTA_POS),
            base_timestamp: get_i64(buf, BASE_TIMESTAMP_POS),
            max_timestamp: get_i64(buf, MAX_TIMESTAMP_POS),
            producer_id: get_i64(buf, PRODUCER_ID_POS),
            producer_epoch: get_i16(buf, PRODUCER_EPOCH_POS),
            base_sequence: get_i32(buf, BASE_SEQUENCE_POS),
            records_count: get_i32(buf, RECORDS_COUNT_POS),
        };
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(corrupt(format!(
                "batch length {} is below the minimum of {MIN_BATCH_LENGTH}",
                header.batch_length
            )));
        }
        Ok(header)
    }

    pub fn compression(&self) -> Result<Compression, RecordError> {
        Compression::from_attributes(self.attributes)
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }

    /// KIP-534: when the cleaner may drop this batch's tombstones, if it has set that.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_MASK != 0).then_some(self.base_timestamp)
    }

    /// True when the broker stamped the batch (LogAppendTime): every record then carries the
    /// batch's max timestamp, whatever its own delta says.
    pub fn timestamp_type_is_log_append(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_MASK != 0
    }

    /// Size of the whole batch on disk / on the wire.
    pub fn total_size(&self) -> usize {
        // batch_length >= MIN_BATCH_LENGTH > 0 for a parsed header.
        (self.batch_length.max(0) as usize) + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offsets the batch occupies; differs from `records_count` only for compacted data.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }
}

/// CRC-32C (Castagnoli) over the CRC-covered part of a complete batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    batch.get(ATTRIBUTES_POS..).map(crc32c::crc32c).unwrap_or(0)
}

/// Checks the stored CRC of a complete batch (exactly one batch in `batch`).
pub fn verify_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), RecordError> {
    let actual = compute_crc(batch);
    if actual != header.crc {
        return Err(corrupt(format!(
            "CRC mismatch at base offset {}: stored {:#010x}, computed {actual:#010x}",
            header.base_offset, header.crc
        )));
    }
    Ok(())
}

/// What the log and the API layer need to know about one produced batch, without re-parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    /// Byte position of the batch inside the validated buffer.
    pub position: usize,
    /// Total size of the batch in bytes.
    pub size: usize,
    /// Offsets the batch will occupy (`last_offset_delta + 1`).
    pub offset_count: i64,
    pub records_count: i32,
    pub max_timestamp: i64,
    pub compression: Compression,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub is_transactional: bool,
    pub is_control: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidatedBatches {
    pub batches: Vec<BatchSummary>,
}

impl ValidatedBatches {
    /// Offsets the whole produce will occupy.
    pub fn offset_count(&self) -> i64 {
        self.batches.iter().map(|b| b.offset_count).sum()
    }

    pub fn records_count(&self) -> i64 {
        self.batches.iter().map(|b| i64::from(b.records_count)).sum()
    }

    pub fn max_timestamp(&self) -> i64 {
        self.batches.iter().map(|b| b.max_timestamp).max().unwrap_or(-1)
    }
}

/// Checks the records blob of one produce partition: one or more complete v2 batches, back to
/// back, each with a valid CRC and within `max_batch_bytes`.
///
/// Like Kafka for client-origin data, a batch must hold at least one record and exactly as many
/// records as offsets (`records_count == last_offset_delta + 1`); only compaction produces batches
/// with gaps, and those never arrive through produce.
pub fn validate_batches(buf: &[u8], max_batch_bytes: usize) -> Result<ValidatedBatches, RecordError> {
    if buf.is_empty() {
        return Err(corrupt("produce request carries no record batch"));
    }
    let mut batches = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(corrupt(format!(
                "{} trailing bytes at position {pos} are not a complete batch",
                rest.len()
            )));
        }
        if rest.len() > MAGIC_POS {
            let magic = rest[MAGIC_POS] as i8;
            if magic != MAGIC_V2 {
                return Err(RecordError::UnsupportedMagic(magic));
            }
        }
        let batch_length = get_i32(rest, LENGTH_POS);
        if batch_length < MIN_BATCH_LENGTH {
            return Err(corrupt(format!(
                "batch at position {pos} has length {batch_length}, below the minimum of {MIN_BATCH_LENGTH}"
            )));
        }
        let size = batch_length as usize + LOG_OVERHEAD;
        if size > max_batch_bytes {
            return Err(RecordError::MessageTooLarge {
                size,
                max: max_batch_bytes,
            });
        }
        if rest.len() < size {
            return Err(corrupt(format!(
                "batch at position {pos} claims {size} bytes but only {} remain",
                rest.len()
            )));
        }
        let bytes = &rest[..size];
        let header = BatchHeader::parse(bytes)?;
        verify_crc(&header, bytes)?;
        let compression = header.compression()?;
        if header.last_offset_delta < 0 {
            return Err(RecordError::InvalidRecord(format!(
                "batch at position {pos} has negative last offset delta {}",
                header.last_offset_delta
            )));
        }
        if header.records_count <= 0 {
            return Err(RecordError::InvalidRecord(format!(
                "batch at position {pos} reports {} records",
                header.records_count
            )));
        }
        if i64::from(header.records_count) != header.offset_count() {
            return Err(RecordError::InvalidRecord(format!(
                "batch at position {pos} holds {} records but spans {} offsets",
                header.records_count,
                header.offset_count()
            )));
        }
        batches.push(BatchSummary {
            position: pos,
            size,
            offset_count: header.offset_count(),
            records_count: header.records_count,
            max_timestamp: header.max_timestamp,
            compression,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
            is_transactional: header.is_transactional(),
            is_control: header.is_control(),
        });
        pos += size;
    }
    Ok(ValidatedBatches { batches })
}

/// Rewrites the base offset. It lies outside the CRC-covered range, so the CRC stays valid.
/// `batch` must start with a batch header; a shorter slice is left untouched.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    put(batch, BASE_OFFSET_POS, &base_offset.to_be_bytes());
}

/// The header of `batch` as a batch of no records (Kafka's `writeEmptyHeader`): offsets, producer
/// fields and sequence kept, uncompressed, both timestamps the batch's max timestamp. The log
/// cleaner keeps a producer's last batch this way when it removes all its records, so the
/// producer's sequence survives compaction. `None` if `batch` is shorter than a header.
pub fn empty_like(batch: &[u8]) -> Option<Vec<u8>> {
    let mut out = batch.get(..BATCH_HEADER_SIZE)?.to_vec();
    let attributes = get_i16(&out, ATTRIBUTES_POS) & (TIMESTAMP_TYPE_MASK | TRANSACTIONAL_MASK | CONTROL_MASK);
    put(&mut out, LENGTH_POS, &MIN_BATCH_LENGTH.to_be_bytes());
    put(&mut out, ATTRIBUTES_POS, &attributes.to_be_bytes());
    let max_timestamp = get_i64(&out, MAX_TIMESTAMP_POS);
    put(&mut out, BASE_TIMESTAMP_POS, &max_timestamp.to_be_bytes());
    put(&mut out, RECORDS_COUNT_POS, &0i32.to_be_bytes());
    let crc = compute_crc(&out);
    put(&mut out, CRC_POS, &crc.to_be_bytes());
    Some(out)
}

/// Rewrites the partition leader epoch, which is also outside the CRC-covered range.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    put(batch, PARTITION_LEADER_EPOCH_POS, &epoch.to_be_bytes());
}

/// Stamps a batch with the broker's clock for a topic with `message.timestamp.type=LogAppendTime`
/// (Kafka's `setMaxTimestamp(LOG_APPEND_TIME, now)`): the timestamp-type bit is set, the max
/// timestamp becomes `now_ms`, and because both are CRC-covered the CRC is recomputed.
/// `batch` must be exactly one complete batch; a slice too short for a header is left untouched.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    if batch.len() < BATCH_HEADER_SIZE {
        return;
    }
    let attributes = get_i16(batch, ATTRIBUTES_POS) | TIMESTAMP_TYPE_MASK;
    if get_i16(batch, ATTRIBUTES_POS) == attributes && get_i64(batch, MAX_TIMESTAMP_POS) == now_ms {
        return;
    }
    put(batch, ATTRIBUTES_POS, &attributes.to_be_bytes());
    put(batch, MAX_TIMESTAMP_POS, &now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    put(batch, CRC_POS, &crc.to_be_bytes());
}

/// [`set_log_append_time`] for a batch held as a copy of its header and the rest of it in
/// place: only the header is changed, the CRC computed over both.
pub fn set_log_append_time_split(header: &mut [u8; BATCH_HEADER_SIZE], rest: &[u8], now_ms: i64) {
    let attributes = get_i16(header, ATTRIBUTES_POS) | TIMESTAMP_TYPE_MASK;
    if get_i16(header, ATTRIBUTES_POS) == attributes && get_i64(header, MAX_TIMESTAMP_POS) == now_ms {
        return;
    }
    put(header, ATTRIBUTES_POS, &attributes.to_be_bytes());
    put(header, MAX_TIMESTAMP_POS, &now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_POS..]), rest);
    put(header, CRC_POS, &crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_append_time_on_a_split_batch_matches_the_whole_batch() {
        use crate::record::{Compression, RecordBatchBuilder};
        let mut b = RecordBatchBuilder::new(Compression::None);
        for i in 0..5 {
            b.append(1_000 + i, Some(b"key"), Some(&[i as u8; 300]), &[]);
        }
        let mut whole = b.build();
        let mut header: [u8; super::BATCH_HEADER_SIZE] = whole[..super::BATCH_HEADER_SIZE].try_into().unwrap();
        super::set_log_append_time_split(&mut header, &whole[super::BATCH_HEADER_SIZE..], 42_000);
        super::set_log_append_time(&mut whole, 42_000);
        assert_eq!(&header[..], &whole[..super::BATCH_HEADER_SIZE]);
        let parsed = super::BatchHeader::parse(&whole).unwrap();
        assert!(super::verify_crc(&parsed, &whole).is_ok());
    }

    #[test]
    fn complete_batch_end_follows_the_length_field() {
        let mut buf = vec![0u8; 12];
        buf[8..12].copy_from_slice(&5i32.to_be_bytes());
        assert_eq!(
            complete_batch_end(&buf, 0),
            None,
            "length says 5 more bytes, none present"
        );
        buf.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(complete_batch_end(&buf, 0), Some(17));
        assert_eq!(complete_batch_end(&buf, 17), None);
        assert_eq!(complete_batch_end(&buf, usize::MAX), None);
        buf[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(complete_batch_end(&buf, 0), None, "a negative length is no batch");
    }

    use super::*;
    use crate::record::builder::RecordBatchBuilder;

    fn sample(compression: Compression, n: usize) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(compression);
        for i in 0..n {
            b.append(
                1_000 + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(&[7u8; 100]),
                &[],
            );
        }
        b.build()
    }

    #[test]
    fn validates_every_codec() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = sample(c, 10);
            let v = validate_batches(&batch, 1 << 20).unwrap();
            assert_eq!(v.batches.len(), 1);
            let s = &v.batches[0];
            assert_eq!(s.compression, c);
            assert_eq!(s.size, batch.len());
            assert_eq!(s.offset_count, 10);
            assert_eq!(s.records_count, 10);
            assert_eq!(s.max_timestamp, 1_009);
            assert_eq!(s.producer_id, -1);
            assert!(!s.is_transactional && !s.is_control);
            let h = BatchHeader::parse(&batch).unwrap();
            assert_eq!(h.total_size(), batch.len());
            assert_eq!(h.last_offset(), 9);
            assert_eq!(h.compression().unwrap(), c);
        }
    }

    #[test]
    fn validates_several_batches_back_to_back() {
        let mut buf = sample(Compression::None, 3);
        let second = sample(Compression::Lz4, 5);
        let first_len = buf.len();
        buf.extend_from_slice(&second);
        let v = validate_batches(&buf, 1 << 20).unwrap();
        assert_eq!(v.batches.len(), 2);
        assert_eq!(v.batches[1].position, first_len);
        assert_eq!(v.offset_count(), 8);
        assert_eq!(v.records_count(), 8);
    }

    #[test]
    fn rejects_empty_and_garbage() {
        assert!(matches!(
            validate_batches(&[], 1 << 20),
            Err(RecordError::CorruptMessage(_))
        ));
        assert!(validate_batches(&[0xff; 5], 1 << 20).is_err());
        assert!(validate_batches(&[0xff; 100], 1 << 20).is_err());
        assert!(validate_batches(&[0x00; 100], 1 << 20).is_err());
        // Deterministic pseudo-random garbage of many lengths must never panic.
        let mut x: u32 = 12345;
        for len in 0..400 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            assert!(validate_batches(&buf, 1 << 20).is_err());
            let _ = BatchHeader::parse(&buf);
        }
    }

    #[test]
    fn rejects_bad_crc() {
        let mut batch = sample(Compression::None, 2);
        let last = batch.len() - 1;
        batch[last] ^= 0x55;
        let err = validate_batches(&batch, 1 << 20).unwrap_err();
        assert!(
            matches!(err, RecordError::CorruptMessage(ref m) if m.contains("CRC")),
            "{err}"
        );
    }

    #[test]
    fn rejects_truncated_and_trailing_partial() {
        let batch = sample(Compression::None, 2);
        for cut in [1, 11, 12, 20, 60, 61, batch.len() - 1] {
            let err = validate_batches(&batch[..cut], 1 << 20).unwrap_err();
            assert!(
                matches!(err, RecordError::CorruptMessage(_) | RecordError::UnsupportedMagic(_)),
                "cut {cut}: {err:?}"
            );
        }
        let mut two = batch.clone();
        two.extend_from_slice(&batch[..30]);
        assert!(matches!(
            validate_batches(&two, 1 << 20),
            Err(RecordError::CorruptMessage(_))
        ));
    }

    #[test]
    fn rejects_old_magic() {
        let mut batch = sample(Compression::None, 1);
        batch[MAGIC_POS] = 1;
        assert_eq!(validate_batches(&batch, 1 << 20), Err(RecordError::UnsupportedMagic(1)));
        batch[MAGIC_POS] = 0;
        assert_eq!(validate_batches(&batch, 1 << 20), Err(RecordError::UnsupportedMagic(0)));
    }

    #[test]
    fn rejects_oversize_batch() {
        let batch = sample(Compression::None, 10);
        let err = validate_batches(&batch, batch.len() - 1).unwrap_err();
        assert_eq!(
            err,
            RecordError::MessageTooLarge {
                size: batch.len(),
                max: batch.len() - 1
            }
        );
        assert!(validate_batches(&batch, batch.len()).is_ok());
    }

    #[test]
    fn rejects_short_length_and_bad_codec_and_counts() {
        let mut batch = sample(Compression::None, 1);
        put(&mut batch, LENGTH_POS, &10i32.to_be_bytes());
        assert!(matches!(
            validate_batches(&batch, 1 << 20),
            Err(RecordError::CorruptMessage(_))
        ));

        let mut batch = sample(Compression::None, 1);
        put(&mut batch, ATTRIBUTES_POS, &6i16.to_be_bytes());
        let crc = compute_crc(&batch);
        put(&mut batch, CRC_POS, &crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&batch, 1 << 20),
            Err(RecordError::CorruptMessage(_))
        ));

        let mut batch = sample(Compression::None, 2);
        put(&mut batch, RECORDS_COUNT_POS, &0i32.to_be_bytes());
        let crc = compute_crc(&batch);
        put(&mut batch, CRC_POS, &crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&batch, 1 << 20),
            Err(RecordError::InvalidRecord(_))
        ));

        let mut batch = sample(Compression::None, 2);
        put(&mut batch, LAST_OFFSET_DELTA_POS, &(-1i32).to_be_bytes());
        let crc = compute_crc(&batch);
        put(&mut batch, CRC_POS, &crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&batch, 1 << 20),
            Err(RecordError::InvalidRecord(_))
        ));

        let mut batch = sample(Compression::None, 2);
        put(&mut batch, LAST_OFFSET_DELTA_POS, &5i32.to_be_bytes());
        let crc = compute_crc(&batch);
        put(&mut batch, CRC_POS, &crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&batch, 1 << 20),
            Err(RecordError::InvalidRecord(_))
        ));
    }

    #[test]
    fn base_offset_and_epoch_patches_keep_crc() {
        let mut batch = sample(Compression::Gzip, 3);
        set_base_offset(&mut batch, 1_234_567);
        set_partition_leader_epoch(&mut batch, 42);
        validate_batches(&batch, 1 << 20).unwrap();
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(h.base_offset, 1_234_567);
        assert_eq!(h.partition_leader_epoch, 42);
        assert_eq!(h.last_offset(), 1_234_569);
        // Short slices are ignored rather than panicking.
        set_base_offset(&mut [0u8; 3], 1);
        set_partition_leader_epoch(&mut [0u8; 13], 1);
        set_log_append_time(&mut [0u8; 20], 1);
    }

    #[test]
    fn log_append_time_recomputes_crc() {
        let mut batch = sample(Compression::Snappy, 3);
        assert!(!BatchHeader::parse(&batch).unwrap().timestamp_type_is_log_append());
        set_log_append_time(&mut batch, 99_999);
        validate_batches(&batch, 1 << 20).unwrap();
        let h = BatchHeader::parse(&batch).unwrap();
        assert!(h.timestamp_type_is_log_append());
        assert_eq!(h.max_timestamp, 99_999);
        assert_eq!(h.compression().unwrap(), Compression::Snappy);
    }

    #[test]
    fn crc_is_castagnoli() {
        // The standard CRC-32C check value; plain CRC-32 would give 0xcbf43926.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn error_display() {
        assert!(
            RecordError::MessageTooLarge { size: 5, max: 4 }
                .to_string()
                .contains("5 bytes")
        );
        assert!(RecordError::UnsupportedMagic(1).to_string().contains("magic 1"));
    }
}
