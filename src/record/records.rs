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
//! [`RecordStream`] is the one decoder: Kafka's `DefaultRecordBatch.RecordIterator`. It reads
//! records one at a time through a streaming decompressor, so a batch of millions of tiny
//! records never becomes millions of allocations nor one huge decompressed buffer, and it
//! checks the records against the header as Kafka's iterator does: exactly `recordsCount`
//! records, each exactly as long as it says, and nothing after the last. Those faults are
//! Kafka's `InvalidRecordException` (INVALID_RECORD), whatever the CRC says.
//!
//! Headers are kept as an ordered list: duplicate keys are legal and clients rely on their order.

use std::io::Read;

use bytes::Bytes;

use super::batch::{BATCH_HEADER_SIZE, BatchHeader, RecordError, corrupt};
use super::compression::{Compression, MAX_DECOMPRESSED_BYTES, decoder};
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
/// timestamp, as Kafka consumers see it. Holds every record at once: for batches from clients
/// or of unknown size, iterate with [`RecordStream`] or [`record_iter`] instead.
pub fn records(batch: &[u8]) -> Result<Vec<Record>, RecordError> {
    record_iter(batch, MAX_DECOMPRESSED_BYTES)?.collect()
}

/// The records of the single batch in `batch` as owned [`Record`]s, one at a time, with at
/// most `limit` decompressed bytes read.
pub fn record_iter(batch: &[u8], limit: usize) -> Result<Records<'_>, RecordError> {
    Ok(Records {
        stream: RecordStream::new(batch, limit)?,
    })
}

/// Owned records from a [`RecordStream`]; stops after the first error.
pub struct Records<'a> {
    stream: RecordStream<'a>,
}

impl Records<'_> {
    pub fn header(&self) -> &BatchHeader {
        self.stream.header()
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.stream.next_record() {
            Ok(Some(view)) => Some(Ok(view.to_record())),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// One record as it sits in the batch, borrowed from the decoder's buffer until the next
/// record is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'r> {
    /// Record attributes (unused by v2; Kafka refuses compressed inner records by them).
    pub attributes: i8,
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    /// Base offset plus offset delta.
    pub offset: i64,
    /// Base timestamp plus timestamp delta, or the batch's max timestamp with LogAppendTime.
    pub timestamp: i64,
    pub key: Option<&'r [u8]>,
    pub value: Option<&'r [u8]>,
    header_count: usize,
    /// The encoded headers, already checked.
    header_bytes: &'r [u8],
    /// Bytes the record takes in the batch, its length varint included.
    pub size_in_bytes: usize,
}

impl<'r> RecordView<'r> {
    /// The headers in order, duplicates included.
    pub fn headers(&self) -> impl Iterator<Item = (&'r [u8], Option<&'r [u8]>)> + use<'r> {
        let bytes = self.header_bytes;
        let mut pos = 0usize;
        (0..self.header_count).map_while(move |_| {
            let key = read_field(bytes, &mut pos, "header key").ok()??;
            let value = read_field(bytes, &mut pos, "header value").ok()?;
            Some((key, value))
        })
    }

    pub fn header_count(&self) -> usize {
        self.header_count
    }

    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self
                .headers()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.map(Bytes::copy_from_slice)))
                .collect(),
        }
    }
}

/// Decompressed bytes pulled from the codec at a time.
const READ_CHUNK: usize = 64 * 1024;

enum Input<'a> {
    /// Uncompressed records, read in place.
    Slice { data: &'a [u8], pos: usize },
    /// A streaming decoder and a window over its output: `buf[start..end]` not yet consumed.
    Stream {
        reader: Box<dyn Read + 'a>,
        buf: Vec<u8>,
        start: usize,
        end: usize,
        eof: bool,
        /// Decompressed bytes read so far, against `limit`.
        produced: usize,
        limit: usize,
    },
}

impl Input<'_> {
    fn available(&self) -> &[u8] {
        match self {
            Input::Slice { data, pos } => &data[*pos..],
            Input::Stream { buf, start, end, .. } => &buf[*start..*end],
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Input::Slice { data, pos } => *pos = (*pos + n).min(data.len()),
            Input::Stream { start, end, .. } => *start = (*start + n).min(*end),
        }
    }

    /// Makes at least `n` bytes available unless the records end first. Reads at most one
    /// byte past the decompression limit (to tell "exactly at" from "over"), so the buffer
    /// never grows past what the limit allows, whatever a length field claims.
    fn fill(&mut self, n: usize) -> Result<(), RecordError> {
        let Input::Stream {
            reader,
            buf,
            start,
            end,
            eof,
            produced,
            limit,
        } = self
        else {
            return Ok(());
        };
        let have = *end - *start;
        if have >= n || *eof {
            return Ok(());
        }
        // What may still be decompressed, plus one byte to detect going over the limit;
        // saturating, since an unbounded stream's limit is usize::MAX.
        let allowed = have.saturating_add(limit.saturating_sub(*produced).saturating_add(1));
        let target = n.min(allowed);
        buf.copy_within(*start..*end, 0);
        *start = 0;
        *end = have;
        let size = target.max(READ_CHUNK.min(allowed));
        if buf.len() < size {
            buf.resize(size, 0);
        }
        while *end < target {
            let room = buf.len() - *end;
            let got = match reader.read(&mut buf[*end..*end + room]) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => return Err(over_limit(*limit)),
                Err(e) => return Err(corrupt(format!("failed to decompress record stream: {e}"))),
            };
            if got == 0 {
                *eof = true;
                break;
            }
            *produced += got;
            *end += got;
            if *produced > *limit {
                return Err(over_limit(*limit));
            }
        }
        Ok(())
    }
}

fn over_limit(limit: usize) -> RecordError {
    RecordError::InvalidRecord(format!(
        "the batch decompresses to more than the limit of {limit} bytes derived from max.message.bytes"
    ))
}

fn invalid(why: impl Into<String>) -> RecordError {
    RecordError::InvalidRecord(why.into())
}

/// Inner-record faults are Kafka's InvalidRecordException, never a corrupt batch: the CRC
/// already vouched for the bytes.
fn structure(e: RecordError) -> RecordError {
    match e {
        RecordError::CorruptMessage(why) => invalid(format!("Found invalid record structure: {why}")),
        other => other,
    }
}

/// Kafka's `DefaultRecordBatch.RecordIterator` over one batch: decodes records one at a time
/// (through the codec's streaming decoder) and checks them against the header.
pub struct RecordStream<'a> {
    header: BatchHeader,
    input: Input<'a>,
    records_count: usize,
    read: usize,
    /// Bytes of the last returned record, consumed when the next one is asked for.
    pending: usize,
    log_append_time: bool,
}

impl<'a> RecordStream<'a> {
    /// Starts decoding the single complete batch in `batch`, reading at most `limit`
    /// decompressed bytes (uncompressed batches are bounded by their own size).
    pub fn new(batch: &'a [u8], limit: usize) -> Result<RecordStream<'a>, RecordError> {
        let header = BatchHeader::parse(batch)?;
        if batch.len() < header.total_size() {
            return Err(corrupt(format!(
                "batch claims {} bytes but only {} are present",
                header.total_size(),
                batch.len()
            )));
        }
        let records_count = usize::try_from(header.records_count).map_err(|_| {
            invalid(format!(
                "Found invalid record count {} in magic v2 batch",
                header.records_count
            ))
        })?;
        let body = &batch[BATCH_HEADER_SIZE..header.total_size()];
        let input = match header.compression()? {
            Compression::None => Input::Slice { data: body, pos: 0 },
            codec => Input::Stream {
                reader: decoder(codec, body, limit)?,
                buf: Vec::new(),
                start: 0,
                end: 0,
                eof: false,
                produced: 0,
                limit,
            },
        };
        Ok(RecordStream {
            log_append_time: header.timestamp_type_is_log_append(),
            header,
            input,
            records_count,
            read: 0,
            pending: 0,
        })
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Records returned so far.
    pub fn records_read(&self) -> usize {
        self.read
    }

    /// The next record, `None` after the last one the header declares; then the records
    /// must have ended too.
    pub fn next_record(&mut self) -> Result<Option<RecordView<'_>>, RecordError> {
        self.input.consume(std::mem::take(&mut self.pending));
        if self.read >= self.records_count {
            return Ok(None);
        }
        // The length varint: at most five bytes.
        self.input.fill(5)?;
        let mut pos = 0usize;
        let length = {
            let avail = self.input.available();
            if avail.is_empty() {
                return Err(invalid("Incorrect declared batch size, premature EOF reached"));
            }
            read_varint(avail, &mut pos).map_err(structure)?
        };
        let length = usize::try_from(length).map_err(|_| invalid(format!("Invalid record size {length}")))?;
        let total = pos + length;
        self.input.fill(total)?;
        let available = self.input.available().len();
        if available < total {
            return Err(invalid(format!(
                "Invalid record size: expected {length} bytes in record payload, but the record payload reached EOF \
                 after {} bytes",
                available - pos
            )));
        }
        self.read += 1;
        if self.read == self.records_count {
            // Kafka's ensureNoneRemaining, checked as the last record is read.
            self.input.fill(total + 1)?;
            if self.input.available().len() > total {
                return Err(invalid(
                    "Incorrect declared batch size, records still remaining in file",
                ));
            }
        }
        self.pending = total;
        let data = &self.input.available()[pos..total];
        parse_record(&self.header, data, self.log_append_time).map(Some)
    }
}

/// Reads a varint-length-prefixed byte field; -1 means null.
fn read_field<'r>(data: &'r [u8], pos: &mut usize, what: &str) -> Result<Option<&'r [u8]>, RecordError> {
    let len = read_varint(data, pos).map_err(structure)?;
    if len < 0 {
        if len != -1 {
            return Err(invalid(format!("{what} has negative length {len}")));
        }
        return Ok(None);
    }
    let len = len as usize;
    if len > data.len().saturating_sub(*pos) {
        return Err(invalid(format!(
            "{what} of {len} bytes runs past the end of its record"
        )));
    }
    let value = &data[*pos..*pos + len];
    *pos += len;
    Ok(Some(value))
}

/// Decodes one record body (after its length varint) that must take exactly `data`.
fn parse_record<'r>(
    header: &BatchHeader,
    data: &'r [u8],
    log_append_time: bool,
) -> Result<RecordView<'r>, RecordError> {
    let length = data.len();
    let Some(&attributes) = data.first() else {
        return Err(invalid(
            "Found invalid record structure: record is missing its attributes",
        ));
    };
    let mut pos = 1usize;
    let timestamp_delta = read_varlong(data, &mut pos).map_err(structure)?;
    let offset_delta = read_varint(data, &mut pos).map_err(structure)?;
    let key = read_field(data, &mut pos, "record key")?;
    let value = read_field(data, &mut pos, "record value")?;
    let header_count = read_varint(data, &mut pos).map_err(structure)?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| invalid(format!("Found invalid number of record headers {header_count}")))?;
    if header_count > length - pos {
        return Err(invalid(format!(
            "Found invalid number of record headers. {header_count} is larger than the remaining size of the buffer"
        )));
    }
    let headers_start = pos;
    for _ in 0..header_count {
        if read_field(data, &mut pos, "header key")?.is_none() {
            return Err(invalid("Invalid negative header key size -1"));
        }
        read_field(data, &mut pos, "header value")?;
    }
    if pos != length {
        return Err(invalid(format!(
            "Invalid record size: expected to read {length} bytes in record payload, but instead read {pos}"
        )));
    }
    let offset = header
        .base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or_else(|| invalid("Found invalid record structure: record offset overflows"))?;
    let timestamp = if log_append_time {
        header.max_timestamp
    } else {
        header
            .base_timestamp
            .checked_add(timestamp_delta)
            .ok_or_else(|| invalid("Found invalid record structure: record timestamp overflows"))?
    };
    Ok(RecordView {
        attributes: attributes as i8,
        offset_delta,
        timestamp_delta,
        offset,
        timestamp,
        key,
        value,
        header_count,
        header_bytes: &data[headers_start..pos],
        size_in_bytes: crate::record::varint::varint_size(length as i32) + length,
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

    /// An unbounded stream (stored batches are read with no limit) over compressed records
    /// that straddle the 64 KiB read chunks.
    #[test]
    fn unbounded_streams_read_records_across_chunks() {
        for c in CODECS {
            let mut b = RecordBatchBuilder::new(c);
            let value = vec![b'v'; 10_000];
            for i in 0..50 {
                b.append(i, Some(format!("k{i}").as_bytes()), Some(&value), &[]);
            }
            let batch = b.build();
            let mut stream = RecordStream::new(&batch, usize::MAX).unwrap();
            let mut n = 0;
            while let Some(r) = stream.next_record().unwrap() {
                assert_eq!(r.value.map(<[u8]>::len), Some(10_000), "{c}");
                n += 1;
            }
            assert_eq!(n, 50, "{c}");
        }
    }

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
