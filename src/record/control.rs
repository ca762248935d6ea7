//! Control records: Kafka's transaction markers (`ControlRecordType`, `EndTransactionMarker`).
//!
//! A marker is a control batch (control and transactional attributes set) of the producer
//! whose transaction it ends, holding one record:
//!
//! ```text
//! key    version int16 (0), type int16 (0 ABORT, 1 COMMIT)
//! value  version int16 (0), coordinator_epoch int32
//! ```
//!
//! Kafka reads the type from the key of a control batch's first record; control batches of
//! other types (none are written by a single-node broker) are left alone.

use super::batch::{BatchHeader, RecordError};
use super::builder::RecordBatchBuilder;
use super::compression::Compression;
use super::records::RecordStream;

const CONTROL_KEY_VERSION: i16 = 0;
const END_TXN_MARKER_VERSION: i16 = 0;

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
}

impl ControlRecordType {
    fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
        }
    }

    fn from_id(id: i16) -> Option<ControlRecordType> {
        match id {
            0 => Some(ControlRecordType::Abort),
            1 => Some(ControlRecordType::Commit),
            _ => None,
        }
    }
}

/// A decoded transaction marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub kind: ControlRecordType,
    pub coordinator_epoch: i32,
}

/// A marker batch for `producer_id`/`producer_epoch`, offsets to be assigned by the log.
pub fn build_marker(
    producer_id: i64,
    producer_epoch: i16,
    kind: ControlRecordType,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    key.extend_from_slice(&kind.id().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut builder = RecordBatchBuilder::new(Compression::None)
        .producer(producer_id, producer_epoch, -1)
        .transactional(true)
        .control(true);
    builder.append(now_ms, Some(&key), Some(&value), &[]);
    builder.build()
}

/// The marker in the control batch `batch` (one complete batch); `Ok(None)` for a batch that
/// is not a control batch or holds a control record of another type.
pub fn read_marker(batch: &[u8]) -> Result<Option<EndTxnMarker>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    if !header.is_control() {
        return Ok(None);
    }
    // A control batch holds one small record; 4 KiB bounds a forged one.
    let mut stream = RecordStream::new(batch, 4096)?;
    let Some(record) = stream.next_record()? else {
        return Ok(None);
    };
    let Some(key) = record.key else { return Ok(None) };
    if key.len() < 4 {
        return Err(RecordError::InvalidRecord("control record key too short".into()));
    }
    let Some(kind) = ControlRecordType::from_id(i16::from_be_bytes([key[2], key[3]])) else {
        return Ok(None);
    };
    let coordinator_epoch = match record.value {
        Some(v) if v.len() >= 6 => i32::from_be_bytes([v[2], v[3], v[4], v[5]]),
        _ => {
            return Err(RecordError::InvalidRecord(
                "transaction marker without its value".into(),
            ));
        }
    };
    Ok(Some(EndTxnMarker {
        kind,
        coordinator_epoch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for kind in [ControlRecordType::Abort, ControlRecordType::Commit] {
            let batch = build_marker(42, 3, kind, 7, 1000);
            let h = BatchHeader::parse(&batch).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.records_count), (42, 3, 1));
            assert_eq!(
                read_marker(&batch).unwrap(),
                Some(EndTxnMarker {
                    kind,
                    coordinator_epoch: 7
                })
            );
        }
        let mut plain = RecordBatchBuilder::new(Compression::None);
        plain.append(0, Some(b"k"), Some(b"v"), &[]);
        assert_eq!(read_marker(&plain.build()).unwrap(), None);
    }
}
