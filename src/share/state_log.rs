//! Kafka's record schemas for `__share_group_state`: ShareSnapshotKey (record type 0) and
//! ShareSnapshotValue (version 0, flexible). A key names one share-partition (group, topic id,
//! partition); the latest value is its whole state, and a null value (tombstone) deletes it.
//! ShareUpdate records (type 1) are read and skipped: this broker writes whole snapshots only
//! (see `share_coordinator.rs`).

use bytes::{Buf, BufMut};
use uuid::Uuid;

pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

const SNAPSHOT_KEY_TYPE: i16 = 0;
const UPDATE_KEY_TYPE: i16 = 1;

/// One share-partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharePartitionKey {
    pub group_id: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    /// 0 available, 2 acknowledged, 4 archived.
    pub delivery_state: i8,
    pub delivery_count: i16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotValue {
    pub snapshot_epoch: i32,
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub create_timestamp: i64,
    pub write_timestamp: i64,
    pub state_batches: Vec<StateBatch>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StateKey {
    Snapshot(SharePartitionKey),
    /// A ShareUpdate record of another writer; nothing to apply here.
    Update,
}

#[derive(Debug)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state topic partition of a share-partition: Kafka hashes the key's
/// `group:topicId:partition` form as a Java string.
pub fn partition_for(key: &SharePartitionKey, partitions: i32) -> i32 {
    let text = format!(
        "{}:{}:{}",
        key.group_id,
        crate::log::partition_metadata::kafka_uuid_string(key.topic_id),
        key.partition
    );
    crate::group::offsets_log::partition_for(&text, partitions)
}

pub fn encode_key(key: &SharePartitionKey) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + key.group_id.len());
    b.put_i16(SNAPSHOT_KEY_TYPE);
    b.put_i16(key.group_id.len().min(i16::MAX as usize) as i16);
    b.put_slice(&key.group_id.as_bytes()[..key.group_id.len().min(i16::MAX as usize)]);
    b.put_slice(key.topic_id.as_bytes());
    b.put_i32(key.partition);
    b
}

pub fn encode_value(v: &SnapshotValue) -> Vec<u8> {
    let mut b = Vec::with_capacity(48 + v.state_batches.len() * 20);
    b.put_i16(0);
    b.put_i32(v.snapshot_epoch);
    b.put_i32(v.state_epoch);
    b.put_i32(v.leader_epoch);
    b.put_i64(v.start_offset);
    b.put_i64(v.create_timestamp);
    b.put_i64(v.write_timestamp);
    put_uvarint(&mut b, v.state_batches.len() as u64 + 1);
    for s in &v.state_batches {
        b.put_i64(s.first_offset);
        b.put_i64(s.last_offset);
        b.put_i8(s.delivery_state);
        b.put_i16(s.delivery_count);
        b.put_u8(0);
    }
    b.put_u8(0);
    b
}

pub fn decode_key(mut buf: &[u8]) -> Result<StateKey, SchemaError> {
    let kind = get_i16(&mut buf)?;
    match kind {
        SNAPSHOT_KEY_TYPE => {
            let len = get_i16(&mut buf)?;
            if len < 0 || buf.len() < len as usize + 20 {
                return Err(SchemaError("short ShareSnapshotKey".into()));
            }
            let group_id = String::from_utf8(buf[..len as usize].to_vec())
                .map_err(|_| SchemaError("group id is not UTF-8".into()))?;
            buf.advance(len as usize);
            let topic_id = Uuid::from_slice(&buf[..16]).map_err(|e| SchemaError(e.to_string()))?;
            buf.advance(16);
            let partition = buf.get_i32();
            Ok(StateKey::Snapshot(SharePartitionKey {
                group_id,
                topic_id,
                partition,
            }))
        }
        UPDATE_KEY_TYPE => Ok(StateKey::Update),
        other => Err(SchemaError(format!("unknown record type {other}"))),
    }
}

pub fn decode_value(mut buf: &[u8]) -> Result<SnapshotValue, SchemaError> {
    let version = get_i16(&mut buf)?;
    if version != 0 {
        return Err(SchemaError(format!("unknown ShareSnapshotValue version {version}")));
    }
    if buf.len() < 36 {
        return Err(SchemaError("short ShareSnapshotValue".into()));
    }
    let snapshot_epoch = buf.get_i32();
    let state_epoch = buf.get_i32();
    let leader_epoch = buf.get_i32();
    let start_offset = buf.get_i64();
    let create_timestamp = buf.get_i64();
    let write_timestamp = buf.get_i64();
    let count = get_uvarint(&mut buf)?.saturating_sub(1) as usize;
    // Each batch takes 20 bytes: a count larger than what is left is a corrupt record, and
    // must not size an allocation.
    if count > buf.len() / 20 {
        return Err(SchemaError("state batch count exceeds the record".into()));
    }
    let mut state_batches = Vec::with_capacity(count);
    for _ in 0..count {
        if buf.len() < 19 {
            return Err(SchemaError("short state batch".into()));
        }
        let first_offset = buf.get_i64();
        let last_offset = buf.get_i64();
        let delivery_state = buf.get_i8();
        let delivery_count = buf.get_i16();
        skip_tagged(&mut buf)?;
        state_batches.push(StateBatch {
            first_offset,
            last_offset,
            delivery_state,
            delivery_count,
        });
    }
    Ok(SnapshotValue {
        snapshot_epoch,
        state_epoch,
        leader_epoch,
        start_offset,
        create_timestamp,
        write_timestamp,
        state_batches,
    })
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, SchemaError> {
    if buf.len() < 2 {
        return Err(SchemaError("short record".into()));
    }
    Ok(buf.get_i16())
}

fn put_uvarint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn get_uvarint(buf: &mut &[u8]) -> Result<u64, SchemaError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        if buf.is_empty() {
            return Err(SchemaError("short varint".into()));
        }
        let byte = buf.get_u8();
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(SchemaError("varint too long".into()))
}

fn skip_tagged(buf: &mut &[u8]) -> Result<(), SchemaError> {
    let n = get_uvarint(buf)?;
    for _ in 0..n {
        get_uvarint(buf)?;
        let len = get_uvarint(buf)? as usize;
        if buf.len() < len {
            return Err(SchemaError("short tagged field".into()));
        }
        buf.advance(len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_value_round_trip() {
        let key = SharePartitionKey {
            group_id: "g".into(),
            topic_id: Uuid::from_u128(7),
            partition: 3,
        };
        assert_eq!(decode_key(&encode_key(&key)).unwrap(), StateKey::Snapshot(key.clone()));
        let value = SnapshotValue {
            snapshot_epoch: 4,
            state_epoch: 0,
            leader_epoch: 0,
            start_offset: 10,
            create_timestamp: 1,
            write_timestamp: 2,
            state_batches: vec![StateBatch {
                first_offset: 10,
                last_offset: 12,
                delivery_state: 2,
                delivery_count: 1,
            }],
        };
        assert_eq!(decode_value(&encode_value(&value)).unwrap(), value);
        let p = partition_for(&key, 50);
        assert!((0..50).contains(&p));
    }

    #[test]
    fn corrupt_values_are_refused() {
        let mut v = encode_value(&SnapshotValue {
            snapshot_epoch: 0,
            state_epoch: 0,
            leader_epoch: 0,
            start_offset: 0,
            create_timestamp: 0,
            write_timestamp: 0,
            state_batches: Vec::new(),
        });
        // Claim a huge batch count.
        let at = v.len() - 2;
        v[at] = 0xff;
        v.insert(at + 1, 0x7f);
        assert!(decode_value(&v).is_err());
        assert!(decode_value(&[0, 0, 1]).is_err());
        assert!(decode_key(&[0, 0, 0, 9]).is_err());
    }
}
