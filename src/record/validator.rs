//! Kafka's `LogValidator` for client batches: every record of every produced batch is read
//! (as Kafka 4 does, compressed or not) and checked against its batch header and the topic's
//! rules, through the streaming [`RecordStream`], so the cost in memory is one record and the
//! codec's window whatever the batch holds.
//!
//! What is checked, and how Kafka answers:
//! - the records fill the declared count exactly, each record fits its own length, varints
//!   are well formed and nothing follows the last record: INVALID_RECORD
//!   (`InvalidRecordException` from Kafka's record iterator), even with a valid CRC;
//! - the batch decompresses to no more than [`decompressed_limit`]: INVALID_RECORD. Kafka
//!   streams without such a bound; it exists here so that the codec work one small request
//!   can demand is bounded too. It is not CORRUPT_MESSAGE because clients retry that error
//!   (`CorruptRecordException` is retriable) and would send the same batch again;
//! - per record (KIP-467, reported by index): a key on a compacted topic, and with CreateTime a
//!   timestamp within `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms`.
//!
//! Inner offset deltas that are not 0, 1, 2, … do not refuse the batch: as Kafka, the broker
//! then rebuilds the batch with fresh offsets ([`BatchValidation::offsets_in_order`]).

use super::batch::{BatchHeader, RecordError};
use super::compression::MAX_DECOMPRESSED_BYTES;
use super::records::{RecordStream, RecordView};

/// The most decompressed bytes one batch may hold: 4 × `max.message.bytes`, and never less
/// than 64 MiB (so the default 1 MiB topic allows a 64:1 compression ratio).
pub fn decompressed_limit(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(4).max(MAX_DECOMPRESSED_BYTES)
}

/// Per-record errors kept in full; beyond this only their number is (a batch of millions of
/// keyless records must not become millions of error messages).
pub const MAX_REPORTED_RECORD_ERRORS: usize = 1000;

/// Why one record was refused; the API layer words it as Kafka does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordProblem {
    /// A record without a key on a compacted topic (INVALID_RECORD).
    MissingKey,
    /// A CreateTime timestamp outside the topic's bounds (INVALID_TIMESTAMP).
    TimestampOutOfRange { timestamp: i64, offset: i64 },
}

/// What validating one batch found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchValidation {
    /// The first [`MAX_REPORTED_RECORD_ERRORS`] record errors, by index in the batch.
    pub record_errors: Vec<(i32, RecordProblem)>,
    /// Every record error, reported or not.
    pub record_error_count: usize,
    /// True when some record error is a timestamp out of range.
    pub timestamp_error: bool,
    /// Inner offset deltas are exactly 0..n-1; otherwise Kafka assigns fresh ones.
    pub offsets_in_order: bool,
    /// The records' largest timestamp (-1 without any).
    pub max_timestamp: i64,
    pub records: usize,
}

/// The topic's rules a batch is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogValidator {
    /// `cleanup.policy` includes compact: every record needs a key.
    pub compacted: bool,
    /// With CreateTime, the accepted timestamps `[now - before.max, now + after.max]`.
    pub timestamp_bounds: Option<(i64, i64)>,
    /// Decompressed bytes allowed per batch ([`decompressed_limit`]).
    pub decompressed_limit: usize,
}

impl LogValidator {
    /// Reads every record of the single batch in `batch` and checks it. Structural faults are
    /// an error; rule violations are collected per record.
    pub fn validate_batch(&self, batch: &[u8]) -> Result<BatchValidation, RecordError> {
        let mut stream = RecordStream::new(batch, self.decompressed_limit)?;
        let mut out = BatchValidation {
            offsets_in_order: true,
            max_timestamp: -1,
            ..BatchValidation::default()
        };
        let mut index = 0i32;
        while let Some(record) = stream.next_record()? {
            if record.offset_delta != index {
                out.offsets_in_order = false;
            }
            out.max_timestamp = out.max_timestamp.max(record.timestamp);
            if let Some(problem) = self.check(&record) {
                out.record_error_count += 1;
                out.timestamp_error |= matches!(problem, RecordProblem::TimestampOutOfRange { .. });
                if out.record_errors.len() < MAX_REPORTED_RECORD_ERRORS {
                    out.record_errors.push((index, problem));
                }
            }
            index = index.saturating_add(1);
        }
        out.records = stream.records_read();
        Ok(out)
    }

    /// Kafka's `validateRecord`: the key first, then the timestamp.
    fn check(&self, record: &RecordView<'_>) -> Option<RecordProblem> {
        if self.compacted && record.key.is_none() {
            return Some(RecordProblem::MissingKey);
        }
        if let Some((lo, hi)) = self.timestamp_bounds
            && record.timestamp != super::builder::NO_TIMESTAMP
            && (record.timestamp < lo || record.timestamp > hi)
        {
            return Some(RecordProblem::TimestampOutOfRange {
                timestamp: record.timestamp,
                offset: record.offset,
            });
        }
        None
    }
}

/// Largest timestamp among the records of a stored batch, for timestamp lookups: the header's
/// max timestamp for LogAppendTime batches, otherwise read record by record.
pub fn batch_max_timestamp(batch: &[u8]) -> Result<i64, RecordError> {
    let header = BatchHeader::parse(batch)?;
    if header.timestamp_type_is_log_append() {
        return Ok(header.max_timestamp);
    }
    let mut stream = RecordStream::new(batch, usize::MAX)?;
    let mut max = -1;
    while let Some(r) = stream.next_record()? {
        max = max.max(r.timestamp);
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{CRC_POS, compute_crc};
    use crate::record::builder::RecordBatchBuilder;
    use crate::record::compression::{Compression, compress};
    use crate::record::varint::{write_varint, write_varlong};

    const CODECS: [Compression; 5] = Compression::ALL;

    fn validator() -> LogValidator {
        LogValidator {
            compacted: false,
            timestamp_bounds: None,
            decompressed_limit: 1 << 20,
        }
    }

    fn record(out: &mut Vec<u8>, offset_delta: i32, key: Option<&[u8]>) {
        let mut body = vec![0u8];
        write_varlong(&mut body, 0);
        write_varint(&mut body, offset_delta);
        match key {
            Some(k) => {
                write_varint(&mut body, k.len() as i32);
                body.extend_from_slice(k);
            }
            None => write_varint(&mut body, -1),
        }
        write_varint(&mut body, 1);
        body.push(b'v');
        write_varint(&mut body, 0);
        write_varint(out, body.len() as i32);
        out.extend_from_slice(&body);
    }

    /// A batch around raw record bytes claiming `count` records, with a valid CRC.
    fn batch(records: &[u8], count: i32, codec: Compression) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.append(1_000, None, Some(b"x"), &[]);
        let mut out = b.build()[..61].to_vec();
        let body = compress(codec, records, None).unwrap();
        out.extend_from_slice(&body);
        let len = (out.len() - 12) as i32;
        out[8..12].copy_from_slice(&len.to_be_bytes());
        out[21..23].copy_from_slice(&codec.id().to_be_bytes());
        out[23..27].copy_from_slice(&(count - 1).to_be_bytes());
        out[57..61].copy_from_slice(&count.to_be_bytes());
        let crc = compute_crc(&out);
        out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn three() -> Vec<u8> {
        let mut r = Vec::new();
        for i in 0..3 {
            record(&mut r, i, Some(b"k"));
        }
        r
    }

    fn invalid(result: Result<BatchValidation, RecordError>) -> String {
        match result {
            Err(RecordError::InvalidRecord(m)) => m,
            other => panic!("expected INVALID_RECORD, got {other:?}"),
        }
    }

    #[test]
    fn good_batches_pass_in_every_codec() {
        for c in CODECS {
            let v = validator().validate_batch(&batch(&three(), 3, c)).unwrap();
            assert_eq!(v.records, 3, "{c}");
            assert!(v.offsets_in_order && v.record_errors.is_empty());
            assert_eq!(v.max_timestamp, 1_000);
        }
    }

    #[test]
    fn count_and_trailing_bytes_must_match_the_header() {
        for c in CODECS {
            let m = invalid(validator().validate_batch(&batch(&three(), 4, c)));
            assert!(m.contains("premature EOF"), "{c}: {m}");
            let m = invalid(validator().validate_batch(&batch(&three(), 2, c)));
            assert!(m.contains("records still remaining"), "{c}: {m}");
            let mut trailing = three();
            trailing.push(0);
            let m = invalid(validator().validate_batch(&batch(&trailing, 3, c)));
            assert!(m.contains("records still remaining"), "{c}: {m}");
        }
    }

    #[test]
    fn malformed_records_are_invalid() {
        for c in CODECS {
            // A length varint of six bytes.
            let mut r = three();
            r.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
            invalid(validator().validate_batch(&batch(&r, 4, c)));
            // A record claiming more bytes than exist.
            let mut r = three();
            write_varint(&mut r, 1 << 29);
            r.extend_from_slice(&[0; 10]);
            invalid(validator().validate_batch(&batch(&r, 4, c)));
            // A key longer than its record.
            let mut body = vec![0u8, 0, 0];
            write_varint(&mut body, 100);
            body.extend_from_slice(b"abc");
            let mut r = Vec::new();
            write_varint(&mut r, body.len() as i32);
            r.extend_from_slice(&body);
            invalid(validator().validate_batch(&batch(&r, 1, c)));
            // A negative record count.
            invalid(validator().validate_batch(&batch(&three(), -1, c)));
        }
    }

    #[test]
    fn offset_deltas_out_of_order_ask_for_a_rebuild() {
        let mut r = Vec::new();
        for d in [0, 2, 1] {
            record(&mut r, d, Some(b"k"));
        }
        let v = validator().validate_batch(&batch(&r, 3, Compression::Lz4)).unwrap();
        assert!(!v.offsets_in_order);
        assert!(
            validator()
                .validate_batch(&batch(&three(), 3, Compression::Lz4))
                .unwrap()
                .offsets_in_order
        );
    }

    #[test]
    fn decompression_is_bounded() {
        // 200,000 records of 8 bytes: 1.6 MB decompressed from a few KB.
        let mut r = Vec::new();
        for i in 0..200_000 {
            record(&mut r, i, Some(b"k"));
        }
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = batch(&r, 200_000, c);
            let m = invalid(validator().validate_batch(&b));
            assert!(m.contains("limit"), "{c}: {m}");
            let roomy = LogValidator {
                decompressed_limit: r.len(),
                ..validator()
            };
            assert_eq!(roomy.validate_batch(&b).unwrap().records, 200_000, "{c}");
            let tight = LogValidator {
                decompressed_limit: r.len() - 1,
                ..validator()
            };
            invalid(tight.validate_batch(&b));
        }
    }

    #[test]
    fn record_errors_are_collected_and_capped() {
        let mut r = Vec::new();
        for i in 0..(MAX_REPORTED_RECORD_ERRORS as i32 + 10) {
            record(&mut r, i, if i == 1 { Some(b"k") } else { None });
        }
        let compacted = LogValidator {
            compacted: true,
            ..validator()
        };
        let v = compacted
            .validate_batch(&batch(&r, MAX_REPORTED_RECORD_ERRORS as i32 + 10, Compression::Zstd))
            .unwrap();
        assert_eq!(v.record_error_count, MAX_REPORTED_RECORD_ERRORS + 9);
        assert_eq!(v.record_errors.len(), MAX_REPORTED_RECORD_ERRORS);
        assert_eq!(v.record_errors[0], (0, RecordProblem::MissingKey));
        assert_eq!(v.record_errors[1].0, 2);

        let bounded = LogValidator {
            timestamp_bounds: Some((0, 999)),
            ..validator()
        };
        let v = bounded.validate_batch(&batch(&three(), 3, Compression::None)).unwrap();
        assert!(v.timestamp_error);
        assert_eq!(
            v.record_errors[2],
            (
                2,
                RecordProblem::TimestampOutOfRange {
                    timestamp: 1_000,
                    offset: 2
                }
            )
        );
    }

    #[test]
    fn max_timestamp_of_a_stored_batch() {
        let mut b = RecordBatchBuilder::new(Compression::Gzip);
        b.append(5, None, Some(b"a"), &[])
            .append(9, None, Some(b"b"), &[])
            .append(7, None, None, &[]);
        assert_eq!(batch_max_timestamp(&b.build()).unwrap(), 9);
    }
}
