//! The records of `__consumer_offsets`, in Kafka's own binary schemas, and which partition of
//! that topic holds a group.
//!
//! Every record has a key and a value, each starting with an int16 schema version:
//!
//! ```text
//! OffsetCommitKey   v0/v1  group string, topic string, partition int32
//! GroupMetadataKey  v2     group string
//! OffsetCommitValue v3     offset int64, leader_epoch int32, metadata string, commit_timestamp int64
//! GroupMetadataValue v3    protocol_type string, generation int32, protocol nullable string,
//!                          leader nullable string, current_state_timestamp int64,
//!                          members [member_id string, group_instance_id nullable string,
//!                                   client_id string, client_host string, rebalance_timeout int32,
//!                                   session_timeout int32, subscription bytes, assignment bytes]
//! ```
//!
//! A null value is a tombstone: the offset or the group is gone. Writing uses the versions
//! above; reading accepts every version Kafka has written (older ones lack fields, version 4
//! is the flexible encoding) and skips key types it does not know (Kafka 4's consumer-group
//! and share-group records), so a log stays readable as the schemas grow.

use std::fmt;

use bytes::Bytes;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Key schema versions: 0 and 1 are offset commits, 2 is group metadata.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition that holds `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode) % partitions`, where `Utils.abs(Integer.MIN_VALUE)` is 0.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = java_string_hash(group_id);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// A record key of `__consumer_offsets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKey {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    /// A key type this broker does not use (skipped on replay).
    Other(i16),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Set by OffsetCommit v2-4 with a retention time; such values are written as version 1,
    /// the only version with this field, as Kafka does.
    pub expire_timestamp: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state (ms); -1 when the record predates v2.
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// A record that does not follow its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed __consumer_offsets record: {}", self.0)
    }
}

impl std::error::Error for SchemaError {}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// Strings longer than an int16 length allows are cut at a character boundary; group ids,
    /// topics and client ids that long cannot arrive through the protocol anyway.
    pub(super) fn string(&mut self, s: &str) {
        let mut end = s.len().min(i16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.i16(end as i16);
        self.0.extend_from_slice(&s.as_bytes()[..end]);
    }
    fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
        self.0.extend_from_slice(&b[..b.len().min(i32::MAX as usize)]);
    }
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(8 + group.len() + topic.len()));
    w.i16(OFFSET_COMMIT_KEY_VERSION);
    w.string(group);
    w.string(topic);
    w.i32(partition);
    w.0
}

pub fn group_key(group: &str) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(4 + group.len()));
    w.i16(GROUP_METADATA_KEY_VERSION);
    w.string(group);
    w.0
}

pub fn encode_offset_value(v: &OffsetCommitValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(26 + v.metadata.len()));
    if let Some(expire) = v.expire_timestamp {
        w.i16(1);
        w.i64(v.offset);
        w.string(&v.metadata);
        w.i64(v.commit_timestamp);
        w.i64(expire);
        return w.0;
    }
    w.i16(OFFSET_COMMIT_VALUE_VERSION);
    w.i64(v.offset);
    w.i32(v.leader_epoch);
    w.string(&v.metadata);
    w.i64(v.commit_timestamp);
    w.0
}

pub fn encode_group_value(v: &GroupMetadataValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    w.i16(GROUP_METADATA_VALUE_VERSION);
    w.string(&v.protocol_type);
    w.i32(v.generation);
    w.nullable_string(v.protocol.as_deref());
    w.nullable_string(v.leader.as_deref());
    w.i64(v.current_state_timestamp);
    w.i32(i32::try_from(v.members.len()).unwrap_or(i32::MAX));
    for m in &v.members {
        w.string(&m.member_id);
        w.nullable_string(m.group_instance_id.as_deref());
        w.string(&m.client_id);
        w.string(&m.client_host);
        w.i32(m.rebalance_timeout);
        w.i32(m.session_timeout);
        w.bytes(&m.subscription);
        w.bytes(&m.assignment);
    }
    w.0
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Reads Kafka's primitive types; `flexible` switches to the compact encodings of version 4.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    pub(super) flexible: bool,
}

pub(super) fn err(what: impl Into<String>) -> SchemaError {
    SchemaError(what.into())
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            flexible: false,
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], SchemaError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                err(format!(
                    "wanted {n} bytes at {}, {} left",
                    self.pos,
                    self.buf.len() - self.pos
                ))
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(super) fn i16(&mut self) -> Result<i16, SchemaError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn i32(&mut self) -> Result<i32, SchemaError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn i64(&mut self) -> Result<i64, SchemaError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub(super) fn uvarint(&mut self) -> Result<u64, SchemaError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(err("varint too long"))
    }

    /// The length of a string or bytes field; `None` is null.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, SchemaError> {
        if self.flexible {
            let n = self.uvarint()?;
            return Ok(if n == 0 {
                None
            } else {
                Some(usize::try_from(n - 1).map_err(|_| err("length overflow"))?)
            });
        }
        let n = if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        Ok(if n < 0 { None } else { Some(n as usize) })
    }

    pub(super) fn nullable_string(&mut self) -> Result<Option<String>, SchemaError> {
        match self.length(false)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n)?;
                String::from_utf8(b.to_vec())
                    .map(Some)
                    .map_err(|_| err("string is not UTF-8"))
            }
        }
    }

    pub(super) fn string(&mut self) -> Result<String, SchemaError> {
        self.nullable_string()?
            .ok_or_else(|| err("null in a non-nullable string"))
    }

    fn bytes(&mut self) -> Result<Bytes, SchemaError> {
        match self.length(true)? {
            None => Ok(Bytes::new()),
            Some(n) => Ok(Bytes::copy_from_slice(self.take(n)?)),
        }
    }

    pub(super) fn array_len(&mut self) -> Result<usize, SchemaError> {
        let n = if self.flexible {
            match self.uvarint()? {
                0 => return Ok(0),
                n => n - 1,
            }
        } else {
            let n = self.i32()?;
            if n < 0 {
                return Ok(0);
            }
            n as u64
        };
        usize::try_from(n).map_err(|_| err("array length overflow"))
    }

    /// Skips a flexible struct's tagged fields.
    pub(super) fn tagged_fields(&mut self) -> Result<(), SchemaError> {
        if !self.flexible {
            return Ok(());
        }
        let n = self.uvarint()?;
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let len = usize::try_from(self.uvarint()?).map_err(|_| err("tag length overflow"))?;
            self.take(len)?;
        }
        Ok(())
    }
}

pub fn decode_key(buf: &[u8]) -> Result<RecordKey, SchemaError> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    match version {
        0 | 1 => Ok(RecordKey::Offset {
            group: r.string()?,
            topic: r.string()?,
            partition: r.i32()?,
        }),
        2 => Ok(RecordKey::Group { group: r.string()? }),
        v => Ok(RecordKey::Other(v)),
    }
}

pub fn decode_offset_value(buf: &[u8]) -> Result<OffsetCommitValue, SchemaError> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Err(err(format!("unknown offset commit value version {version}")));
    }
    r.flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { Some(r.i64()?) } else { None };
    r.tagged_fields()?;
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

pub fn decode_group_value(buf: &[u8]) -> Result<GroupMetadataValue, SchemaError> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Err(err(format!("unknown group metadata value version {version}")));
    }
    r.flexible = version >= 4;
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.array_len()?;
    // Each member takes at least 20 bytes, so a forged count cannot force a huge allocation.
    let mut members = Vec::with_capacity(count.min(buf.len() / 20 + 1));
    for _ in 0..count {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 { r.nullable_string()? } else { None };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let session_then_rebalance = r.i32()?;
        let (rebalance_timeout, session_timeout) = if version >= 1 {
            (session_then_rebalance, r.i32()?)
        } else {
            // v0 has only the session timeout, which then also bounds a rebalance.
            (session_then_rebalance, session_then_rebalance)
        };
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        r.tagged_fields()?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    r.tagged_fields()?;
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_and_partitioning() {
        // Values of Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Utils.abs maps to 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("hello", 50), 22);
        // Non-BMP characters hash as two UTF-16 units.
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
        assert_eq!(partition_for("anything", 1), 0);
    }

    #[test]
    fn negative_hash_uses_absolute_value() {
        // "zzzzzzzz".hashCode() is -1910022912: Kafka's Utils.abs gives partition 12 of 50,
        // where masking the sign bit would give 36.
        let h = java_string_hash("zzzzzzzz");
        assert_eq!(h, -1_910_022_912);
        assert_eq!(partition_for("zzzzzzzz", 50), 12);
        assert_ne!(partition_for("zzzzzzzz", 50), (h & 0x7fff_ffff) % 50);
    }

    #[test]
    fn keys_in_kafka_layout() {
        // OffsetCommitKey v1: version, group "g", topic "t", partition 3.
        assert_eq!(offset_key("g", "t", 3), [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        // GroupMetadataKey v2: version, group "g".
        assert_eq!(group_key("g"), [0, 2, 0, 1, b'g']);
        assert_eq!(
            decode_key(&offset_key("grp", "orders", 7)).unwrap(),
            RecordKey::Offset {
                group: "grp".into(),
                topic: "orders".into(),
                partition: 7
            }
        );
        assert_eq!(
            decode_key(&group_key("grp")).unwrap(),
            RecordKey::Group { group: "grp".into() }
        );
        // Kafka 4's consumer-group records (key version 3+) are recognised and skipped.
        assert_eq!(decode_key(&[0, 3, 0, 1, b'x']).unwrap(), RecordKey::Other(3));
        assert!(decode_key(&[0]).is_err());
        assert!(decode_key(&[0, 1, 0, 9, b'x']).is_err());
    }

    #[test]
    fn offset_value_round_trip_and_layout() {
        let v = OffsetCommitValue {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1000,
            expire_timestamp: None,
        };
        let bytes = encode_offset_value(&v);
        assert_eq!(
            bytes,
            [
                0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xe8
            ]
        );
        assert_eq!(decode_offset_value(&bytes).unwrap(), v);
        let v = OffsetCommitValue {
            metadata: "meta ü".into(),
            leader_epoch: 4,
            ..v
        };
        assert_eq!(decode_offset_value(&encode_offset_value(&v)).unwrap(), v);
        // An expiry is only expressible in version 1, which has no leader epoch.
        let v = OffsetCommitValue {
            expire_timestamp: Some(5000),
            leader_epoch: -1,
            ..v
        };
        let bytes = encode_offset_value(&v);
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(decode_offset_value(&bytes).unwrap(), v);
    }

    #[test]
    fn older_offset_value_versions() {
        // v1: offset, metadata, commit timestamp, expire timestamp.
        let mut b = vec![0, 1];
        b.extend_from_slice(&42i64.to_be_bytes());
        b.extend_from_slice(&[0, 2, b'm', b'd']);
        b.extend_from_slice(&7i64.to_be_bytes());
        b.extend_from_slice(&9i64.to_be_bytes());
        let v = decode_offset_value(&b).unwrap();
        assert_eq!(
            (v.offset, v.leader_epoch, v.metadata.as_str(), v.commit_timestamp),
            (42, -1, "md", 7)
        );
        assert_eq!(v.expire_timestamp, Some(9));
        // v4 (flexible): compact string and an empty tagged-field section.
        let mut b = vec![0, 4];
        b.extend_from_slice(&42i64.to_be_bytes());
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(&[3, b'm', b'd']);
        b.extend_from_slice(&7i64.to_be_bytes());
        b.push(0);
        let v = decode_offset_value(&b).unwrap();
        assert_eq!((v.offset, v.leader_epoch, v.metadata.as_str()), (42, 3, "md"));
        assert!(decode_offset_value(&[0, 9]).is_err());
        assert!(decode_offset_value(&b[..10]).is_err());
    }

    #[test]
    fn group_value_round_trip() {
        let v = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 1_700_000_000_000,
            members: vec![
                MemberValue {
                    member_id: "m-1".into(),
                    group_instance_id: Some("i-1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout: 300_000,
                    session_timeout: 45_000,
                    subscription: Bytes::from_static(b"\x00\x01sub"),
                    assignment: Bytes::from_static(b"\x00\x01asg"),
                },
                MemberValue {
                    member_id: "m-2".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout: 1,
                    session_timeout: 2,
                    subscription: Bytes::new(),
                    assignment: Bytes::new(),
                },
            ],
        };
        let bytes = encode_group_value(&v);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(decode_group_value(&bytes).unwrap(), v);
        let empty = GroupMetadataValue {
            protocol: None,
            leader: None,
            members: vec![],
            ..v
        };
        assert_eq!(decode_group_value(&encode_group_value(&empty)).unwrap(), empty);
    }

    #[test]
    fn group_value_v0_layout() {
        // v0: protocol type, generation, protocol, leader, members without instance id,
        // rebalance timeout or state timestamp.
        let mut b = vec![0, 0];
        b.extend_from_slice(&[0, 8]);
        b.extend_from_slice(b"consumer");
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&[0, 5]);
        b.extend_from_slice(b"range");
        b.extend_from_slice(&[0, 1, b'm']);
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&[0, 1, b'm', 0, 1, b'c', 0, 1, b'h']);
        b.extend_from_slice(&10_000i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        let v = decode_group_value(&b).unwrap();
        assert_eq!(v.generation, 1);
        assert_eq!(v.current_state_timestamp, -1);
        assert_eq!(v.members.len(), 1);
        assert_eq!(
            (v.members[0].session_timeout, v.members[0].rebalance_timeout),
            (10_000, 10_000)
        );
        // A forged member count fails cleanly.
        let mut forged = b.clone();
        let at = forged.len() - 25;
        forged[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_group_value(&forged).is_err());
    }
}
