//! Building v2 batches: for the broker's own writes (control markers, coordinator state,
//! compaction output) and for tests. Produces byte-for-byte what Kafka's `MemoryRecordsBuilder`
//! would for the same input.

use super::batch::{
    ATTRIBUTES_POS, BATCH_HEADER_SIZE, BatchHeader, CONTROL_MASK, CRC_POS, DELETE_HORIZON_MASK, LOG_OVERHEAD, MAGIC_V2,
    RecordError, TIMESTAMP_TYPE_MASK, TRANSACTIONAL_MASK, compute_crc,
};
use super::compression::{Compression, Encoder, compress};
use super::records::{Record, RecordView};
use super::varint::{write_varint, write_varlong};

/// Kafka's "no producer" values for producer id, epoch and sequence.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
/// Written by producers; the broker stamps its own epoch on append.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
pub const NO_TIMESTAMP: i64 = -1;

#[derive(Debug, Clone)]
struct PendingRecord {
    offset_delta: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Accumulates records and serialises them as one v2 batch.
///
/// Configuration methods take and return `self` so a builder can be set up in one expression;
/// records are added through `&mut self`.
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    compression: Compression,
    compression_level: Option<i32>,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    log_append_time: Option<i64>,
    last_offset_delta: Option<i32>,
    delete_horizon_ms: Option<i64>,
    records: Vec<PendingRecord>,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        RecordBatchBuilder::new(Compression::None)
    }
}

impl RecordBatchBuilder {
    pub fn new(compression: Compression) -> Self {
        RecordBatchBuilder {
            compression,
            compression_level: None,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            log_append_time: None,
            last_offset_delta: None,
            delete_horizon_ms: None,
            records: Vec::new(),
        }
    }

    /// A builder for a new version of the batch with `header`, in `compression`: same base
    /// offset, offset span, partition leader epoch, producer fields, transactional and control
    /// flags, timestamp type and delete horizon. Records are added with
    /// [`append_record`](Self::append_record), keeping their offsets and timestamps; this is
    /// how recompression and compaction rewrite batches.
    pub fn like(header: &BatchHeader, compression: Compression) -> Self {
        let mut b = RecordBatchBuilder::new(compression)
            .base_offset(header.base_offset)
            .partition_leader_epoch(header.partition_leader_epoch)
            .producer(header.producer_id, header.producer_epoch, header.base_sequence)
            .transactional(header.is_transactional())
            .control(header.is_control())
            .last_offset_delta(header.last_offset_delta);
        if header.timestamp_type_is_log_append() {
            b = b.log_append_time(header.max_timestamp);
        }
        b.delete_horizon_ms = header.delete_horizon_ms();
        b
    }

    /// KIP-534: records the time after which the cleaner may drop this batch's tombstones;
    /// it is stored as the base timestamp, record timestamps stay exact.
    pub fn delete_horizon_ms(mut self, horizon: Option<i64>) -> Self {
        self.delete_horizon_ms = horizon;
        self
    }

    pub fn compression_level(mut self, level: Option<i32>) -> Self {
        self.compression_level = level;
        self
    }

    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Idempotent/transactional producer identity of the batch.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Marks a control batch (transaction markers). Kafka control batches are also transactional.
    pub fn control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    /// Builds a LogAppendTime batch: every record reads back with `now_ms`.
    pub fn log_append_time(mut self, now_ms: i64) -> Self {
        self.log_append_time = Some(now_ms);
        self
    }

    /// Forces the batch's last offset delta, so that compaction can keep the offset range of a
    /// batch whose trailing records were removed.
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Appends a record at the next offset.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> &mut Self {
        let offset_delta = self.records.last().map_or(0, |r| r.offset_delta + 1);
        self.records.push(PendingRecord {
            offset_delta,
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.map(<[u8]>::to_vec)))
                .collect(),
        });
        self
    }

    /// Appends a decoded record keeping its own offset (relative to the builder's base offset),
    /// as compaction does. Offsets must increase; [`try_build`](Self::try_build) reports otherwise.
    pub fn append_record(&mut self, record: &Record) -> &mut Self {
        self.records.push(PendingRecord {
            offset_delta: record.offset.saturating_sub(self.base_offset),
            timestamp: record.timestamp,
            key: record.key.as_ref().map(|b| b.to_vec()),
            value: record.value.as_ref().map(|b| b.to_vec()),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(|b| b.to_vec())))
                .collect(),
        });
        self
    }

    /// Serialises the batch. Should compression fail (it cannot for in-memory buffers with the
    /// codecs used here), the batch is written uncompressed rather than lost.
    pub fn build(&self) -> Vec<u8> {
        match self.try_build() {
            Ok(batch) => batch,
            Err(_) => {
                let mut plain = self.clone();
                plain.compression = Compression::None;
                plain.try_build().unwrap_or_default()
            }
        }
    }

    fn attributes(&self) -> i16 {
        let mut attributes = self.compression.id();
        if self.log_append_time.is_some() {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_MASK;
        }
        if self.control {
            attributes |= CONTROL_MASK;
        }
        if self.delete_horizon_ms.is_some() {
            attributes |= DELETE_HORIZON_MASK;
        }
        attributes
    }

    pub fn try_build(&self) -> Result<Vec<u8>, RecordError> {
        let base_timestamp = self
            .delete_horizon_ms
            .unwrap_or_else(|| self.records.first().map_or(NO_TIMESTAMP, |r| r.timestamp));
        let max_timestamp = match self.log_append_time {
            Some(now) => now,
            None => self.records.iter().map(|r| r.timestamp).max().unwrap_or(NO_TIMESTAMP),
        };

        let mut body = Vec::new();
        let mut previous_delta = -1i64;
        for r in &self.records {
            if r.offset_delta <= previous_delta {
                return Err(RecordError::InvalidRecord(format!(
                    "record offsets must increase (delta {} after {previous_delta})",
                    r.offset_delta
                )));
            }
            previous_delta = r.offset_delta;
            write_record(&mut body, r, base_timestamp)?;
        }
        let last_offset_delta = match self.last_offset_delta {
            Some(d) if i64::from(d) >= previous_delta => d,
            Some(d) => {
                return Err(RecordError::InvalidRecord(format!(
                    "last offset delta {d} is below the last record's delta {previous_delta}"
                )));
            }
            None => i32::try_from(previous_delta.max(0))
                .map_err(|_| RecordError::InvalidRecord("batch spans too many offsets".into()))?,
        };
        let records_count = i32::try_from(self.records.len())
            .map_err(|_| RecordError::InvalidRecord("too many records for one batch".into()))?;

        let body = match self.compression {
            Compression::None => body,
            codec => compress(codec, &body, self.compression_level)?,
        };
        let batch_length = i32::try_from(BATCH_HEADER_SIZE - LOG_OVERHEAD + body.len())
            .map_err(|_| RecordError::InvalidRecord("batch larger than 2 GiB".into()))?;

        let attributes = self.attributes();

        let mut out = Vec::with_capacity(BATCH_HEADER_SIZE + body.len());
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(MAGIC_V2 as u8);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&last_offset_delta.to_be_bytes());
        out.extend_from_slice(&base_timestamp.to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&records_count.to_be_bytes());
        debug_assert_eq!(out.len(), BATCH_HEADER_SIZE);
        debug_assert_eq!(&out[ATTRIBUTES_POS..ATTRIBUTES_POS + 2], &attributes.to_be_bytes());
        out.extend_from_slice(&body);
        let crc = compute_crc(&out);
        out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }
}

/// Builds one batch record by record straight into the codec's streaming encoder: what a
/// rewrite of a large batch (recompression for a topic's `compression.type`, compaction)
/// holds is the compressed output and one record, never the batch's records themselves.
/// The output is bounded: [`append`](Self::append) fails with MESSAGE_TOO_LARGE as soon as the
/// encoded batch grows past `max_size`.
pub struct StreamingBatchBuilder {
    template: RecordBatchBuilder,
    encoder: Encoder,
    record: Vec<u8>,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    count: i32,
    last_delta: i64,
    max_size: usize,
}

impl StreamingBatchBuilder {
    /// A new version of the batch with `header` in `compression`, as
    /// [`RecordBatchBuilder::like`]; `template` settings (compression level, leader epoch,
    /// delete horizon) are taken from the builder passed to [`from_template`](Self::from_template).
    pub fn like(header: &BatchHeader, compression: Compression) -> Result<Self, RecordError> {
        Self::from_template(RecordBatchBuilder::like(header, compression), usize::MAX)
    }

    /// Streams records into a batch configured like `template` (whose own records are
    /// ignored), refusing output over `max_size` bytes.
    pub fn from_template(template: RecordBatchBuilder, max_size: usize) -> Result<Self, RecordError> {
        let out = vec![0u8; BATCH_HEADER_SIZE];
        let encoder = Encoder::new(template.compression, template.compression_level, out)?;
        Ok(StreamingBatchBuilder {
            template,
            encoder,
            record: Vec::with_capacity(64),
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
            count: 0,
            last_delta: -1,
            max_size,
        })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends `record` at `offset_delta` from the base offset; deltas must increase.
    pub fn append(&mut self, offset_delta: i32, record: &RecordView<'_>) -> Result<(), RecordError> {
        if i64::from(offset_delta) <= self.last_delta {
            return Err(RecordError::InvalidRecord(format!(
                "record offsets must increase (delta {offset_delta} after {})",
                self.last_delta
            )));
        }
        let base_timestamp = *self
            .base_timestamp
            .get_or_insert(self.template.delete_horizon_ms.unwrap_or(record.timestamp));
        self.last_delta = i64::from(offset_delta);
        self.max_timestamp = self.max_timestamp.max(record.timestamp);
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| RecordError::InvalidRecord("too many records for one batch".into()))?;

        let body = &mut self.record;
        body.clear();
        body.push(0); // attributes
        write_varlong(body, record.timestamp.wrapping_sub(base_timestamp));
        write_varint(body, offset_delta);
        write_len_prefixed(body, record.key)?;
        write_len_prefixed(body, record.value)?;
        let header_count =
            i32::try_from(record.header_count()).map_err(|_| RecordError::InvalidRecord("too many headers".into()))?;
        write_varint(body, header_count);
        for (k, v) in record.headers() {
            write_len_prefixed(body, Some(k))?;
            write_len_prefixed(body, v)?;
        }
        let len =
            i32::try_from(body.len()).map_err(|_| RecordError::InvalidRecord("record larger than 2 GiB".into()))?;
        let mut prefix = Vec::with_capacity(5);
        write_varint(&mut prefix, len);
        self.encoder.write(&prefix)?;
        self.encoder.write(&self.record)?;
        if self.encoder.output_len() > self.max_size {
            return Err(RecordError::MessageTooLarge {
                size: self.encoder.output_len(),
                max: self.max_size,
            });
        }
        Ok(())
    }

    /// Finishes the codec stream and writes the header.
    pub fn finish(self) -> Result<Vec<u8>, RecordError> {
        let t = &self.template;
        let last_offset_delta = match t.last_offset_delta {
            Some(d) if i64::from(d) >= self.last_delta => d,
            Some(d) => {
                return Err(RecordError::InvalidRecord(format!(
                    "last offset delta {d} is below the last record's delta {}",
                    self.last_delta
                )));
            }
            None => i32::try_from(self.last_delta.max(0))
                .map_err(|_| RecordError::InvalidRecord("batch spans too many offsets".into()))?,
        };
        let base_timestamp = t.delete_horizon_ms.or(self.base_timestamp).unwrap_or(NO_TIMESTAMP);
        let max_timestamp = t.log_append_time.unwrap_or(self.max_timestamp);
        let mut out = self.encoder.finish()?;
        if out.len() > self.max_size {
            return Err(RecordError::MessageTooLarge {
                size: out.len(),
                max: self.max_size,
            });
        }
        let batch_length = i32::try_from(out.len() - LOG_OVERHEAD)
            .map_err(|_| RecordError::InvalidRecord("batch larger than 2 GiB".into()))?;
        let mut header = Vec::with_capacity(BATCH_HEADER_SIZE);
        header.extend_from_slice(&t.base_offset.to_be_bytes());
        header.extend_from_slice(&batch_length.to_be_bytes());
        header.extend_from_slice(&t.partition_leader_epoch.to_be_bytes());
        header.push(MAGIC_V2 as u8);
        header.extend_from_slice(&0u32.to_be_bytes());
        header.extend_from_slice(&t.attributes().to_be_bytes());
        header.extend_from_slice(&last_offset_delta.to_be_bytes());
        header.extend_from_slice(&base_timestamp.to_be_bytes());
        header.extend_from_slice(&max_timestamp.to_be_bytes());
        header.extend_from_slice(&t.producer_id.to_be_bytes());
        header.extend_from_slice(&t.producer_epoch.to_be_bytes());
        header.extend_from_slice(&t.base_sequence.to_be_bytes());
        header.extend_from_slice(&self.count.to_be_bytes());
        out[..BATCH_HEADER_SIZE].copy_from_slice(&header);
        let crc = compute_crc(&out);
        out[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }
}

fn write_len_prefixed(out: &mut Vec<u8>, bytes: Option<&[u8]>) -> Result<(), RecordError> {
    match bytes {
        None => write_varint(out, -1),
        Some(b) => {
            let len =
                i32::try_from(b.len()).map_err(|_| RecordError::InvalidRecord("field larger than 2 GiB".into()))?;
            write_varint(out, len);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

fn write_record(out: &mut Vec<u8>, r: &PendingRecord, base_timestamp: i64) -> Result<(), RecordError> {
    let mut body = Vec::with_capacity(16 + r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len));
    body.push(0); // attributes
    write_varlong(&mut body, r.timestamp.wrapping_sub(base_timestamp));
    let offset_delta = i32::try_from(r.offset_delta)
        .map_err(|_| RecordError::InvalidRecord(format!("offset delta {} out of range", r.offset_delta)))?;
    write_varint(&mut body, offset_delta);
    write_len_prefixed(&mut body, r.key.as_deref())?;
    write_len_prefixed(&mut body, r.value.as_deref())?;
    let header_count =
        i32::try_from(r.headers.len()).map_err(|_| RecordError::InvalidRecord("too many headers".into()))?;
    write_varint(&mut body, header_count);
    for (k, v) in &r.headers {
        write_len_prefixed(&mut body, Some(k.as_bytes()))?;
        write_len_prefixed(&mut body, v.as_deref())?;
    }
    let len = i32::try_from(body.len()).map_err(|_| RecordError::InvalidRecord("record larger than 2 GiB".into()))?;
    write_varint(out, len);
    out.extend_from_slice(&body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{BatchHeader, validate_batches};
    use crate::record::records::records;

    #[test]
    fn header_fields_follow_configuration() {
        let mut b = RecordBatchBuilder::new(Compression::Zstd)
            .base_offset(10)
            .partition_leader_epoch(3)
            .producer(77, 2, 500)
            .transactional(true);
        b.append(20, Some(b"a"), None, &[]).append(10, Some(b"b"), None, &[]);
        let batch = b.build();
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(h.base_offset, 10);
        assert_eq!(h.partition_leader_epoch, 3);
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (77, 2, 500));
        assert!(h.is_transactional() && !h.is_control());
        assert_eq!(h.base_timestamp, 20);
        assert_eq!(h.max_timestamp, 20);
        assert_eq!(h.records_count, 2);
        assert_eq!(h.last_offset_delta, 1);
        assert_eq!(h.compression().unwrap(), Compression::Zstd);
        validate_batches(&batch, 1 << 20).unwrap();
    }

    #[test]
    fn control_and_log_append_time() {
        let mut b = RecordBatchBuilder::new(Compression::None)
            .producer(5, 0, -1)
            .transactional(true)
            .control(true)
            .log_append_time(1234);
        b.append(1, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 0]), &[]);
        let batch = b.build();
        let h = BatchHeader::parse(&batch).unwrap();
        assert!(h.is_control() && h.is_transactional() && h.timestamp_type_is_log_append());
        assert_eq!(records(&batch).unwrap()[0].timestamp, 1234);
        validate_batches(&batch, 1 << 20).unwrap();
    }

    #[test]
    fn compaction_style_gaps() {
        let recs = vec![
            Record {
                offset: 100,
                timestamp: 1,
                key: Some("a".into()),
                value: None,
                headers: vec![],
            },
            Record {
                offset: 103,
                timestamp: 2,
                key: Some("b".into()),
                value: Some("v".into()),
                headers: vec![],
            },
        ];
        let mut b = RecordBatchBuilder::new(Compression::Gzip)
            .base_offset(100)
            .last_offset_delta(5);
        for r in &recs {
            b.append_record(r);
        }
        let batch = b.try_build().unwrap();
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(h.last_offset(), 105);
        assert_eq!(h.records_count, 2);
        assert_eq!(records(&batch).unwrap(), recs);
        // Such batches are legal in the log but not as client produce input.
        assert!(validate_batches(&batch, 1 << 20).is_err());

        let mut bad = RecordBatchBuilder::new(Compression::None).base_offset(100);
        bad.append_record(&recs[1]).append_record(&recs[0]);
        assert!(bad.try_build().is_err());
    }

    #[test]
    fn rebuilt_batches_keep_their_identity() {
        let mut b = RecordBatchBuilder::new(Compression::Snappy)
            .base_offset(40)
            .partition_leader_epoch(2)
            .producer(9, 1, 70);
        b.append(1_000, Some(b"a"), Some(b"1"), &[("h", Some(b"x"))]);
        b.append(900, Some(b"b"), None, &[]);
        b.append(1_100, Some(b"c"), Some(b"3"), &[]);
        let original = b.build();
        let header = BatchHeader::parse(&original).unwrap();
        let recs = records(&original).unwrap();

        let mut again = RecordBatchBuilder::like(&header, Compression::Zstd).compression_level(Some(5));
        for r in &recs {
            again.append_record(r);
        }
        let rebuilt = again.try_build().unwrap();
        let h = BatchHeader::parse(&rebuilt).unwrap();
        assert_eq!(h.compression().unwrap(), Compression::Zstd);
        assert_eq!(
            (h.base_offset, h.last_offset_delta, h.partition_leader_epoch),
            (40, 2, 2)
        );
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (9, 1, 70));
        assert_eq!((h.base_timestamp, h.max_timestamp), (1_000, 1_100));
        assert_eq!(records(&rebuilt).unwrap(), recs);

        // Compaction: a record dropped, a delete horizon set; timestamps and span unchanged.
        let mut kept = RecordBatchBuilder::like(&header, Compression::Snappy).delete_horizon_ms(Some(50_000));
        kept.append_record(&recs[0]).append_record(&recs[1]);
        let cleaned = kept.try_build().unwrap();
        let h = BatchHeader::parse(&cleaned).unwrap();
        assert_eq!(h.delete_horizon_ms(), Some(50_000));
        assert_eq!(h.last_offset(), 42);
        assert_eq!(records(&cleaned).unwrap(), recs[..2].to_vec());
        let mut again = RecordBatchBuilder::like(&h, Compression::Snappy);
        again.append_record(&recs[0]);
        assert_eq!(
            BatchHeader::parse(&again.build()).unwrap().delete_horizon_ms(),
            Some(50_000)
        );
        assert_eq!(BatchHeader::parse(&original).unwrap().delete_horizon_ms(), None);
    }

    #[test]
    fn empty_batch_is_well_formed() {
        let batch = RecordBatchBuilder::default().build();
        assert_eq!(batch.len(), BATCH_HEADER_SIZE);
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(h.records_count, 0);
        assert_eq!(h.max_timestamp, NO_TIMESTAMP);
        assert!(records(&batch).unwrap().is_empty());
    }
}
