//! Decoding the records inside one v2 batch.
//!
//! Record layout (Kafka's `DefaultRecord`), all lengths as zigzag varints:
//!
//! ```text
//! length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
//! headerCount varint, [headerKeyLength varint, headerKey, headerValueLength varint, headerValue]*
//! ```
//!
//! Headers are kept as an ordered list: duplicate keys are legal and clients rely on their order.

use bytes::Bytes;

use super::batch::{BATCH_HEADER_SIZE, BatchHeader, RecordError, corrupt};
use super::compression::{Compression, decompress};
use super::varint::{read_varint, read_varlong};

/// One decoded record with its absolute offset and effective timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Decodes every record of the single batch in `batch` (which must be exactly one complete
/// batch), decompressing it if needed. With LogAppendTime every record gets the batch's max
/// timestamp, as Kafka consumers see it.
pub fn records(batch: &[u8]) -> Result<Vec<Record>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    if batch.len() < header.total_size() {
        return Err(corrupt(format!(
            "batch claims {} bytes but only {} are present",
            header.total_size(),
            batch.len()
        )));
    }
    let body = &batch[BATCH_HEADER_SIZE..header.total_size()];
    let data = match header.compression()? {
        Compression::None => Bytes::copy_from_slice(body),
        codec => Bytes::from(decompress(codec, body)?),
    };
    decode_records(&header, &data)
}

fn decode_records(header: &BatchHeader, data: &Bytes) -> Result<Vec<Record>, RecordError> {
    let count = usize::try_from(header.records_count)
        .map_err(|_| RecordError::InvalidRecord(format!("negative record count {}", header.records_count)))?;
    // A record takes at least 7 bytes, so a huge declared count cannot force a huge allocation.
    let mut out = Vec::with_capacity(count.min(data.len() / 7 + 1));
    let log_append_time = header.timestamp_type_is_log_append();
    let mut pos = 0usize;
    for _ in 0..count {
        out.push(decode_record(header, data, &mut pos, log_append_time)?);
    }
    if pos != data.len() {
        return Err(RecordError::InvalidRecord(format!(
            "{} bytes remain after the {count} records the batch declares",
            data.len() - pos
        )));
    }
    Ok(out)
}

fn slice_len(data: &[u8], pos: usize, len: usize, what: &str) -> Result<(), RecordError> {
    if len > data.len().saturating_sub(pos) {
        return Err(corrupt(format!(
            "{what} of {len} bytes runs past the end of the record data"
        )));
    }
    Ok(())
}

/// Reads a varint-length-prefixed byte field; -1 means null.
fn read_nullable_bytes(data: &Bytes, end: usize, pos: &mut usize, what: &str) -> Result<Option<Bytes>, RecordError> {
    let window = &data[..end];
    let len = read_varint(window, pos)?;
    if len < 0 {
        if len != -1 {
            return Err(RecordError::InvalidRecord(format!("{what} has negative length {len}")));
        }
        return Ok(None);
    }
    let len = len as usize;
    slice_len(window, *pos, len, what)?;
    let value = data.slice(*pos..*pos + len);
    *pos += len;
    Ok(Some(value))
}

fn decode_record(
    header: &BatchHeader,
    data: &Bytes,
    pos: &mut usize,
    log_append_time: bool,
) -> Result<Record, RecordError> {
    let length = read_varint(data, pos)?;
    let length =
        usize::try_from(length).map_err(|_| RecordError::InvalidRecord(format!("negative record length {length}")))?;
    slice_len(data, *pos, length, "record")?;
    let start = *pos;
    let end = start + length;
    let window = &data[..end];

    // attributes: unused by v2, but must be present.
    if *pos >= end {
        return Err(corrupt("record is missing its attributes"));
    }
    *pos += 1;
    let timestamp_delta = read_varlong(window, pos)?;
    let offset_delta = read_varint(window, pos)?;
    let key = read_nullable_bytes(data, end, pos, "record key")?;
    let value = read_nullable_bytes(data, end, pos, "record value")?;
    let header_count = read_varint(window, pos)?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| RecordError::InvalidRecord(format!("negative header count {header_count}")))?;
    let mut headers = Vec::with_capacity(header_count.min(length / 2 + 1));
    for _ in 0..header_count {
        let key_len = read_varint(window, pos)?;
        let key_len = usize::try_from(key_len)
            .map_err(|_| RecordError::InvalidRecord(format!("header key has negative length {key_len}")))?;
        slice_len(window, *pos, key_len, "header key")?;
        let key = String::from_utf8_lossy(&window[*pos..*pos + key_len]).into_owned();
        *pos += key_len;
        let value = read_nullable_bytes(data, end, pos, "header value")?;
        headers.push((key, value));
    }
    if *pos != end {
        return Err(RecordError::InvalidRecord(format!(
            "record declares {length} bytes but its fields take {}",
            *pos - start
        )));
    }

    let offset = header
        .base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or_else(|| corrupt("record offset overflows"))?;
    let timestamp = if log_append_time {
        header.max_timestamp
    } else {
        header
            .base_timestamp
            .checked_add(timestamp_delta)
            .ok_or_else(|| corrupt("record timestamp overflows"))?
    };
    Ok(Record {
        offset,
        timestamp,
        key,
        value,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{CRC_POS, RECORDS_COUNT_POS, compute_crc, set_base_offset, set_log_append_time};
    use crate::record::builder::RecordBatchBuilder;
    use crate::record::varint::{write_varint, write_varlong};

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn round_trip_all_codecs() {
        for c in CODECS {
            let mut b = RecordBatchBuilder::new(c).base_offset(100);
            b.append(
                5_000,
                Some(b"k1"),
                Some(b"v1"),
                &[("h", Some(b"x")), ("h", None), ("h", Some(b"y"))],
            );
            b.append(4_000, None, Some(b"v2"), &[]);
            b.append(6_000, Some(b""), None, &[("", Some(b""))]);
            let batch = b.build();
            let recs = records(&batch).unwrap();
            assert_eq!(recs.len(), 3, "{c}");
            assert_eq!(recs[0].offset, 100);
            assert_eq!(recs[0].timestamp, 5_000);
            assert_eq!(recs[0].key.as_deref(), Some(&b"k1"[..]));
            assert_eq!(recs[0].value.as_deref(), Some(&b"v1"[..]));
            assert_eq!(
                recs[0].headers,
                vec![
                    ("h".to_string(), Some(Bytes::from_static(b"x"))),
                    ("h".to_string(), None),
                    ("h".to_string(), Some(Bytes::from_static(b"y"))),
                ]
            );
            assert_eq!(recs[1].offset, 101);
            assert_eq!(recs[1].timestamp, 4_000);
            assert_eq!(recs[1].key, None);
            assert_eq!(recs[2].offset, 102);
            assert_eq!(recs[2].key.as_deref(), Some(&b""[..]));
            assert_eq!(recs[2].value, None);
            assert_eq!(recs[2].headers, vec![(String::new(), Some(Bytes::new()))]);
        }
    }

    #[test]
    fn offsets_follow_patched_base_and_log_append_time() {
        let mut b = RecordBatchBuilder::new(Compression::Lz4);
        b.append(1, None, Some(b"a"), &[]);
        b.append(2, None, Some(b"b"), &[]);
        let mut batch = b.build();
        set_base_offset(&mut batch, 7);
        set_log_append_time(&mut batch, 777);
        let recs = records(&batch).unwrap();
        assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![7, 8]);
        assert!(recs.iter().all(|r| r.timestamp == 777));
    }

    /// Wraps raw record bytes in a valid uncompressed batch header claiming `count` records.
    fn raw_batch(records: &[u8], count: i32) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.append(0, None, Some(b"x"), &[]);
        let template = b.build();
        let mut batch = template[..BATCH_HEADER_SIZE].to_vec();
        batch.extend_from_slice(records);
        let len = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&len.to_be_bytes());
        batch[RECORDS_COUNT_POS..RECORDS_COUNT_POS + 4].copy_from_slice(&count.to_be_bytes());
        let crc = compute_crc(&batch);
        batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        batch
    }

    fn record_bytes(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(&mut out, body.len() as i32);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn huge_lengths_are_errors() {
        // key length claims far more than exists
        let mut body = vec![0u8];
        write_varlong(&mut body, 0);
        write_varint(&mut body, 0);
        write_varint(&mut body, i32::MAX);
        body.extend_from_slice(b"abc");
        assert!(records(&raw_batch(&record_bytes(&body), 1)).is_err());

        // record length beyond data
        let mut rec = Vec::new();
        write_varint(&mut rec, 1_000_000);
        rec.extend_from_slice(&[0; 10]);
        assert!(records(&raw_batch(&rec, 1)).is_err());

        // negative record length
        let mut rec = Vec::new();
        write_varint(&mut rec, -5);
        assert!(records(&raw_batch(&rec, 1)).is_err());

        // header count huge
        let mut body = vec![0u8];
        write_varlong(&mut body, 0);
        write_varint(&mut body, 0);
        write_varint(&mut body, -1);
        write_varint(&mut body, -1);
        write_varint(&mut body, i32::MAX);
        assert!(records(&raw_batch(&record_bytes(&body), 1)).is_err());

        // record count larger than the data holds
        let mut body = vec![0u8];
        write_varlong(&mut body, 0);
        write_varint(&mut body, 0);
        write_varint(&mut body, -1);
        write_varint(&mut body, -1);
        write_varint(&mut body, 0);
        let one = record_bytes(&body);
        assert_eq!(records(&raw_batch(&one, 1)).unwrap().len(), 1);
        assert!(records(&raw_batch(&one, i32::MAX)).is_err());
        assert!(records(&raw_batch(&one, -1)).is_err());
        // trailing bytes after the declared records
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert!(matches!(
            records(&raw_batch(&two, 1)),
            Err(RecordError::InvalidRecord(_))
        ));
        // record length larger than its fields
        let mut padded = body.clone();
        padded.push(0);
        assert!(records(&raw_batch(&record_bytes(&padded), 1)).is_err());
        // negative key length other than -1
        let mut body = vec![0u8];
        write_varlong(&mut body, 0);
        write_varint(&mut body, 0);
        write_varint(&mut body, -2);
        assert!(records(&raw_batch(&record_bytes(&body), 1)).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut b = RecordBatchBuilder::new(Compression::None);
        for i in 0..5 {
            b.append(i, Some(b"key"), Some(b"value"), &[("a", Some(b"b"))]);
        }
        let good = b.build();
        let mut x: u32 = 7;
        for i in BATCH_HEADER_SIZE..good.len() {
            for _ in 0..4 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let mut bad = good.clone();
                bad[i] = (x >> 16) as u8;
                let _ = records(&bad);
                let _ = records(&bad[..i]);
            }
        }
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = RecordBatchBuilder::new(c);
            b.append(0, Some(b"key"), Some(b"value"), &[]);
            let good = b.build();
            for i in BATCH_HEADER_SIZE..good.len() {
                let mut bad = good.clone();
                bad[i] ^= 0xa5;
                let _ = records(&bad);
            }
        }
    }

    /// One uncompressed record with key "key", value "value", timestamp 1700000000000 and no
    /// headers, from a non-idempotent producer, laid out field by field as kafka-clients'
    /// `MemoryRecordsBuilder` writes it, so the bytes can be checked against the protocol
    /// documentation.
    #[test]
    fn decodes_a_reference_batch() {
        let mut batch: Vec<u8> = Vec::new();
        batch.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
        batch.extend_from_slice(&0i32.to_be_bytes()); // batchLength (patched below)
        batch.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
        batch.push(2); // magic
        batch.extend_from_slice(&0u32.to_be_bytes()); // crc (patched below)
        batch.extend_from_slice(&0i16.to_be_bytes()); // attributes
        batch.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
        batch.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // baseTimestamp
        batch.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // maxTimestamp
        batch.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
        batch.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
        batch.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
        batch.extend_from_slice(&1i32.to_be_bytes()); // recordsCount
        // length=14 (zigzag 0x1c), attributes 0, tsDelta 0, offsetDelta 0,
        // keyLen 3 (0x06) "key", valueLen 5 (0x0a) "value", headers 0
        batch.extend_from_slice(&[0x1c, 0x00, 0x00, 0x00, 0x06, b'k', b'e', b'y', 0x0a]);
        batch.extend_from_slice(b"value");
        batch.push(0x00);
        let len = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = compute_crc(&batch);
        batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());

        // The builder must produce the identical bytes for the same input.
        let mut b = RecordBatchBuilder::new(Compression::None);
        b.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[]);
        assert_eq!(b.build(), batch);

        let recs = records(&batch).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].key.as_deref(), Some(&b"key"[..]));
        assert_eq!(recs[0].value.as_deref(), Some(&b"value"[..]));
        assert_eq!(recs[0].timestamp, 1_700_000_000_000);
    }
}
