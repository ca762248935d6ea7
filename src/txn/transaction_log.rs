//! The records of `__transaction_state`, in Kafka's schemas (`TransactionLogKey`,
//! `TransactionLogValue`), and which partition of that topic holds a transactional id.
//!
//! ```text
//! TransactionLogKey   v0   transactional_id string
//! TransactionLogValue v0   producer_id int64, producer_epoch int16, transaction_timeout_ms int32,
//!                          transaction_status int8,
//!                          transaction_partitions nullable [topic string, partition_ids [int32]],
//!                          transaction_last_update_timestamp_ms int64,
//!                          transaction_start_timestamp_ms int64
//! TransactionLogValue v1   the same, flexible (compact strings and arrays, tagged fields:
//!                          0 previous_producer_id, 1 next_producer_id,
//!                          2 client_transaction_version)
//! ```
//!
//! Each starts with its int16 schema version. A null value is a tombstone: the transactional
//! id expired. Values of transactions v1 clients are written as v0; those of transactions v2
//! clients (KIP-890) as v1, whose tagged fields carry what v2 needs (the producer id an
//! exhausted epoch rotates to, the client's transaction version), as Kafka does. Both are read.

use std::collections::BTreeSet;
use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use crate::record::varint::{read_unsigned_varint, write_unsigned_varint};

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;
const FLEXIBLE_VALUE_VERSION: i16 = 1;

/// Kafka's `TransactionState`, with the ids the log stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name ListTransactions and DescribeTransactions report (Kafka's `stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// One transactional id's state as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnLogValue {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    /// The producer id a transactions v2 commit or abort rotates to (-1: none).
    pub next_producer_id: i64,
    /// 2 for a transactions v2 client, 0 otherwise.
    pub client_transaction_version: i16,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed __transaction_state record: {}", self.0)
    }
}

impl std::error::Error for SchemaError {}

fn schema<E: fmt::Display>(e: E) -> SchemaError {
    SchemaError(e.to_string())
}

/// A Kafka int16-length string (longer ones are cut at a character boundary; transactional
/// ids and topic names that long cannot arrive through the protocol).
fn put_string(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(i16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.put_i16(end as i16);
    out.extend_from_slice(&s.as_bytes()[..end]);
}

pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.put_i16(KEY_VERSION);
    put_string(&mut out, transactional_id);
    out
}

pub fn encode_value(v: &TxnLogValue) -> Vec<u8> {
    let flexible = v.client_transaction_version >= 2;
    let mut out = Vec::with_capacity(64);
    // Lengths: int32 (strings int16) classic, unsigned varint + 1 flexible.
    let put_len = |out: &mut Vec<u8>, n: usize| {
        if flexible {
            write_unsigned_varint(out, n as u32 + 1);
        } else {
            out.put_i32(n as i32);
        }
    };
    out.put_i16(if flexible {
        FLEXIBLE_VALUE_VERSION
    } else {
        VALUE_VERSION
    });
    out.put_i64(v.producer_id);
    out.put_i16(v.producer_epoch);
    out.put_i32(v.timeout_ms);
    out.put_i8(v.state.id());
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, partition) in &v.partitions {
        match topics.last_mut() {
            Some((t, ps)) if *t == topic.as_str() => ps.push(*partition),
            _ => topics.push((topic, vec![*partition])),
        }
    }
    put_len(&mut out, topics.len());
    for (topic, partitions) in topics {
        if flexible {
            write_unsigned_varint(&mut out, topic.len() as u32 + 1);
            out.extend_from_slice(topic.as_bytes());
        } else {
            put_string(&mut out, topic);
        }
        put_len(&mut out, partitions.len());
        for p in partitions {
            out.put_i32(p);
        }
        if flexible {
            write_unsigned_varint(&mut out, 0);
        }
    }
    out.put_i64(v.last_update_ms);
    out.put_i64(v.start_ms);
    if flexible {
        // Tagged fields, in tag order, each only when it differs from its default.
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
        if v.previous_producer_id != -1 {
            tags.push((0, v.previous_producer_id.to_be_bytes().to_vec()));
        }
        if v.next_producer_id != -1 {
            tags.push((1, v.next_producer_id.to_be_bytes().to_vec()));
        }
        if v.client_transaction_version != 0 {
            tags.push((2, v.client_transaction_version.to_be_bytes().to_vec()));
        }
        write_unsigned_varint(&mut out, tags.len() as u32);
        for (tag, data) in tags {
            write_unsigned_varint(&mut out, tag);
            write_unsigned_varint(&mut out, data.len() as u32);
            out.extend_from_slice(&data);
        }
    }
    out
}

/// Reads Kafka's schema primitives, in the classic or the flexible encoding.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    flexible: bool,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SchemaError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| SchemaError(format!("{n} bytes wanted past the end")))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }
    fn i8(&mut self) -> Result<i8, SchemaError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, SchemaError> {
        let mut b = self.take(2)?;
        Ok(b.get_i16())
    }
    fn i32(&mut self) -> Result<i32, SchemaError> {
        let mut b = self.take(4)?;
        Ok(b.get_i32())
    }
    fn i64(&mut self) -> Result<i64, SchemaError> {
        let mut b = self.take(8)?;
        Ok(b.get_i64())
    }
    fn uvarint(&mut self) -> Result<u32, SchemaError> {
        read_unsigned_varint(self.buf, &mut self.pos).map_err(schema)
    }
    /// A length: int16/int32 classic, unsigned varint + 1 flexible; null reads as 0.
    fn len(&mut self, classic_i16: bool) -> Result<usize, SchemaError> {
        let n: i64 = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else if classic_i16 {
            i64::from(self.i16()?)
        } else {
            i64::from(self.i32()?)
        };
        let n = usize::try_from(n.max(0)).unwrap_or(0);
        // Every element takes at least one byte: a length past what is left is a lie.
        if n > self.buf.len() - self.pos {
            return Err(SchemaError(format!("length {n} past the end")));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, SchemaError> {
        let n = self.len(true)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(schema)
    }
    /// The tagged fields of a flexible structure, as (tag, bytes).
    fn tags(&mut self) -> Result<Vec<(u32, Vec<u8>)>, SchemaError> {
        let mut tags = Vec::new();
        if !self.flexible {
            return Ok(tags);
        }
        for _ in 0..self.uvarint()? {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            tags.push((tag, self.take(size)?.to_vec()));
        }
        Ok(tags)
    }
}

pub fn decode_key(buf: &[u8]) -> Result<String, SchemaError> {
    let mut r = Reader {
        buf,
        pos: 0,
        flexible: false,
    };
    let version = r.i16()?;
    if version != KEY_VERSION {
        return Err(SchemaError(format!("unknown key version {version}")));
    }
    r.string()
}

pub fn decode_value(buf: &[u8]) -> Result<TxnLogValue, SchemaError> {
    let mut r = Reader {
        buf,
        pos: 0,
        flexible: false,
    };
    r.flexible = match r.i16()? {
        VALUE_VERSION => false,
        FLEXIBLE_VALUE_VERSION => true,
        v => return Err(SchemaError(format!("unknown value version {v}"))),
    };
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state_id = r.i8()?;
    let state = TxnState::from_id(state_id).ok_or_else(|| SchemaError(format!("unknown state {state_id}")))?;
    let mut partitions = BTreeSet::new();
    for _ in 0..r.len(false)? {
        let topic = r.string()?;
        for _ in 0..r.len(false)? {
            partitions.insert((topic.clone(), r.i32()?));
        }
        r.tags()?;
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let (mut previous_producer_id, mut next_producer_id, mut client_transaction_version) = (-1, -1, 0);
    for (tag, data) in r.tags()? {
        match (tag, data.len()) {
            (0, 8) => previous_producer_id = i64::from_be_bytes(data.try_into().unwrap_or_default()),
            (1, 8) => next_producer_id = i64::from_be_bytes(data.try_into().unwrap_or_default()),
            (2, 2) => client_transaction_version = i16::from_be_bytes(data.try_into().unwrap_or_default()),
            _ => {}
        }
    }
    Ok(TxnLogValue {
        producer_id,
        previous_producer_id,
        next_producer_id,
        client_transaction_version,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

/// A record read back from `__transaction_state`: the id and its value (`None`: tombstone).
pub fn decode_record(key: &[u8], value: Option<&Bytes>) -> Result<(String, Option<TxnLogValue>), SchemaError> {
    let id = decode_key(key)?;
    let value = value.map(|v| decode_value(v)).transpose()?;
    Ok((id, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trip() {
        let mut v = TxnLogValue {
            producer_id: 12,
            previous_producer_id: -1,
            next_producer_id: -1,
            client_transaction_version: 0,
            producer_epoch: 3,
            timeout_ms: 60000,
            state: TxnState::Ongoing,
            partitions: [("a".to_string(), 0), ("a".to_string(), 2), ("b".to_string(), 1)]
                .into_iter()
                .collect(),
            last_update_ms: 5,
            start_ms: 4,
        };
        let bytes = encode_value(&v);
        assert_eq!(decode_value(&bytes).unwrap(), v);
        assert_eq!(decode_key(&encode_key("tx-1")).unwrap(), "tx-1");
        for cut in 0..bytes.len() {
            assert!(decode_value(&bytes[..cut]).is_err());
        }
        // Transactions v2: the flexible version with its tagged fields.
        v.client_transaction_version = 2;
        v.previous_producer_id = 3;
        v.next_producer_id = 13;
        let bytes = encode_value(&v);
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(decode_value(&bytes).unwrap(), v);
    }

    #[test]
    fn reads_the_flexible_version() {
        // v1 of Kafka 4: compact arrays and strings, tagged previous producer id.
        let mut b = vec![0, 1];
        b.extend_from_slice(&7i64.to_be_bytes());
        b.extend_from_slice(&2i16.to_be_bytes());
        b.extend_from_slice(&1000i32.to_be_bytes());
        b.push(4); // CompleteCommit
        b.push(2); // one topic
        b.push(2); // "t"
        b.push(b't');
        b.push(2); // one partition
        b.extend_from_slice(&5i32.to_be_bytes());
        b.push(0); // topic tags
        b.extend_from_slice(&9i64.to_be_bytes());
        b.extend_from_slice(&8i64.to_be_bytes());
        b.push(1); // one tag
        b.push(0);
        b.push(8);
        b.extend_from_slice(&6i64.to_be_bytes());
        let v = decode_value(&b).unwrap();
        assert_eq!(v.state, TxnState::CompleteCommit);
        assert_eq!(v.previous_producer_id, 6);
        assert_eq!(v.partitions.into_iter().collect::<Vec<_>>(), vec![("t".to_string(), 5)]);
        assert_eq!((v.last_update_ms, v.start_ms), (9, 8));
    }
}
