//! The `__consumer_offsets` record schemas of KIP-848 consumer groups, as Kafka 4.1 writes
//! them: the key's version is the record type, values are flexible version-0 structs.
//!
//! | type | key                                  | value                                   |
//! |------|--------------------------------------|-----------------------------------------|
//! | 3    | ConsumerGroupMetadataKey             | group epoch (+ tagged metadata hash)    |
//! | 5    | ConsumerGroupMemberMetadataKey       | the member's subscription and client    |
//! | 6    | ConsumerGroupTargetAssignmentMetadataKey | target assignment epoch             |
//! | 7    | ConsumerGroupTargetAssignmentMemberKey | one member's target partitions        |
//! | 8    | ConsumerGroupCurrentMemberAssignmentKey | member epoch, state, owned partitions |
//! | 16   | ConsumerGroupRegularExpressionKey    | topics a subscription regex resolved to |
//!
//! A null value (tombstone) deletes what its key names.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::offsets_log::{Reader, SchemaError, Writer, err};

pub const GROUP_METADATA: i16 = 3;
pub const MEMBER_METADATA: i16 = 5;
pub const TARGET_ASSIGNMENT_METADATA: i16 = 6;
pub const TARGET_ASSIGNMENT_MEMBER: i16 = 7;
pub const CURRENT_MEMBER_ASSIGNMENT: i16 = 8;
pub const REGULAR_EXPRESSION: i16 = 16;

/// Partitions by topic id, ordered so records and responses come out the same every time.
pub type TopicPartitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// The key of a consumer group record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerGroupKey {
    Metadata { group: String },
    MemberMetadata { group: String, member: String },
    TargetAssignmentMetadata { group: String },
    TargetAssignmentMember { group: String, member: String },
    CurrentMemberAssignment { group: String, member: String },
    RegularExpression { group: String, regex: String },
}

impl ConsumerGroupKey {
    pub fn group(&self) -> &str {
        match self {
            ConsumerGroupKey::Metadata { group }
            | ConsumerGroupKey::MemberMetadata { group, .. }
            | ConsumerGroupKey::TargetAssignmentMetadata { group }
            | ConsumerGroupKey::TargetAssignmentMember { group, .. }
            | ConsumerGroupKey::CurrentMemberAssignment { group, .. }
            | ConsumerGroupKey::RegularExpression { group, .. } => group,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        let (kind, group, second) = match self {
            ConsumerGroupKey::Metadata { group } => (GROUP_METADATA, group, None),
            ConsumerGroupKey::MemberMetadata { group, member } => (MEMBER_METADATA, group, Some(member)),
            ConsumerGroupKey::TargetAssignmentMetadata { group } => (TARGET_ASSIGNMENT_METADATA, group, None),
            ConsumerGroupKey::TargetAssignmentMember { group, member } => {
                (TARGET_ASSIGNMENT_MEMBER, group, Some(member))
            }
            ConsumerGroupKey::CurrentMemberAssignment { group, member } => {
                (CURRENT_MEMBER_ASSIGNMENT, group, Some(member))
            }
            ConsumerGroupKey::RegularExpression { group, regex } => (REGULAR_EXPRESSION, group, Some(regex)),
        };
        w.i16(kind);
        w.string(group);
        if let Some(s) = second {
            w.string(s);
        }
        w.0
    }

    /// Decodes the rest of a key whose version (record type) was `kind`; `None` for a type
    /// that is not a consumer group's.
    pub fn decode(kind: i16, key: &[u8]) -> Result<Option<ConsumerGroupKey>, SchemaError> {
        let mut r = Reader::new(key);
        r.i16()?;
        let group = r.string()?;
        Ok(Some(match kind {
            GROUP_METADATA => ConsumerGroupKey::Metadata { group },
            MEMBER_METADATA => ConsumerGroupKey::MemberMetadata {
                group,
                member: r.string()?,
            },
            TARGET_ASSIGNMENT_METADATA => ConsumerGroupKey::TargetAssignmentMetadata { group },
            TARGET_ASSIGNMENT_MEMBER => ConsumerGroupKey::TargetAssignmentMember {
                group,
                member: r.string()?,
            },
            CURRENT_MEMBER_ASSIGNMENT => ConsumerGroupKey::CurrentMemberAssignment {
                group,
                member: r.string()?,
            },
            REGULAR_EXPRESSION => ConsumerGroupKey::RegularExpression {
                group,
                regex: r.string()?,
            },
            _ => return Ok(None),
        }))
    }
}

/// ConsumerGroupMetadataValue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEpochValue {
    pub epoch: i32,
    /// Tagged field 0: a hash of the subscribed topics' metadata when the epoch was bumped,
    /// so a change while the broker was down is noticed after a restart.
    pub metadata_hash: i64,
}

/// ConsumerGroupMemberMetadataValue (without the tagged classic-protocol metadata, which only
/// classic members inside a consumer group have).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

/// ConsumerGroupCurrentMemberAssignmentValue.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CurrentAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned: TopicPartitions,
    pub pending_revocation: TopicPartitions,
}

/// ConsumerGroupRegularExpressionValue.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RegularExpressionValue {
    pub topics: Vec<String>,
    pub version: i64,
    pub timestamp: i64,
}

// ---- the compact encodings of flexible versions -----------------------------------------

impl Writer {
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn compact_nullable_string(&mut self, s: Option<&str>) {
        match s {
            None => self.uvarint(0),
            Some(s) => {
                self.uvarint(s.len() as u64 + 1);
                self.0.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn compact_string(&mut self, s: &str) {
        self.compact_nullable_string(Some(s));
    }

    fn compact_len(&mut self, n: usize) {
        self.uvarint(n as u64 + 1);
    }

    fn no_tags(&mut self) {
        self.uvarint(0);
    }

    fn topic_partitions(&mut self, parts: &TopicPartitions) {
        self.compact_len(parts.len());
        for (topic, partitions) in parts {
            self.0.extend_from_slice(topic.as_bytes());
            self.compact_len(partitions.len());
            for p in partitions {
                self.i32(*p);
            }
            self.no_tags();
        }
    }
}

impl Reader<'_> {
    fn uuid(&mut self) -> Result<Uuid, SchemaError> {
        let b = self.take(16)?;
        Uuid::from_slice(b).map_err(|_| err("bad uuid"))
    }

    fn topic_partitions(&mut self) -> Result<TopicPartitions, SchemaError> {
        let mut out = TopicPartitions::new();
        for _ in 0..self.array_len()? {
            let topic = self.uuid()?;
            let n = self.array_len()?;
            let set = out.entry(topic).or_default();
            for _ in 0..n {
                set.insert(self.i32()?);
            }
            self.tagged_fields()?;
        }
        Ok(out)
    }

    fn string_array(&mut self) -> Result<Vec<String>, SchemaError> {
        let n = self.array_len()?;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(self.string()?);
        }
        Ok(out)
    }
}

fn flexible_v0(value: &[u8]) -> Result<Reader<'_>, SchemaError> {
    let mut r = Reader::new(value);
    let version = r.i16()?;
    if version != 0 {
        return Err(err(format!("unknown consumer group value version {version}")));
    }
    r.flexible = true;
    Ok(r)
}

pub fn encode_group_epoch(v: &GroupEpochValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(20));
    w.i16(0);
    w.i32(v.epoch);
    if v.metadata_hash == 0 {
        w.no_tags();
    } else {
        w.uvarint(1);
        w.uvarint(0);
        w.uvarint(8);
        w.i64(v.metadata_hash);
    }
    w.0
}

pub fn decode_group_epoch(value: &[u8]) -> Result<GroupEpochValue, SchemaError> {
    let mut r = flexible_v0(value)?;
    let epoch = r.i32()?;
    let mut metadata_hash = 0;
    for _ in 0..r.uvarint()? {
        let tag = r.uvarint()?;
        let len = usize::try_from(r.uvarint()?).map_err(|_| err("tag length overflow"))?;
        if tag == 0 && len == 8 {
            metadata_hash = r.i64()?;
        } else {
            r.take(len)?;
        }
    }
    Ok(GroupEpochValue { epoch, metadata_hash })
}

pub fn encode_member_metadata(v: &MemberMetadataValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128));
    w.i16(0);
    w.compact_nullable_string(v.instance_id.as_deref());
    w.compact_nullable_string(v.rack_id.as_deref());
    w.compact_string(&v.client_id);
    w.compact_string(&v.client_host);
    w.compact_len(v.subscribed_topic_names.len());
    for t in &v.subscribed_topic_names {
        w.compact_string(t);
    }
    w.compact_nullable_string(v.subscribed_topic_regex.as_deref());
    w.i32(v.rebalance_timeout_ms);
    w.compact_nullable_string(v.server_assignor.as_deref());
    w.no_tags();
    w.0
}

pub fn decode_member_metadata(value: &[u8]) -> Result<MemberMetadataValue, SchemaError> {
    let mut r = flexible_v0(value)?;
    let v = MemberMetadataValue {
        instance_id: r.nullable_string()?,
        rack_id: r.nullable_string()?,
        client_id: r.string()?,
        client_host: r.string()?,
        subscribed_topic_names: r.string_array()?,
        subscribed_topic_regex: r.nullable_string()?,
        rebalance_timeout_ms: r.i32()?,
        server_assignor: r.nullable_string()?,
    };
    r.tagged_fields()?;
    Ok(v)
}

pub fn encode_assignment_epoch(epoch: i32) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(8));
    w.i16(0);
    w.i32(epoch);
    w.no_tags();
    w.0
}

pub fn decode_assignment_epoch(value: &[u8]) -> Result<i32, SchemaError> {
    let mut r = flexible_v0(value)?;
    let epoch = r.i32()?;
    r.tagged_fields()?;
    Ok(epoch)
}

pub fn encode_target_assignment(parts: &TopicPartitions) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(32));
    w.i16(0);
    w.topic_partitions(parts);
    w.no_tags();
    w.0
}

pub fn decode_target_assignment(value: &[u8]) -> Result<TopicPartitions, SchemaError> {
    let mut r = flexible_v0(value)?;
    let parts = r.topic_partitions()?;
    r.tagged_fields()?;
    Ok(parts)
}

pub fn encode_current_assignment(v: &CurrentAssignmentValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    w.i16(0);
    w.i32(v.member_epoch);
    w.i32(v.previous_member_epoch);
    w.0.push(v.state as u8);
    w.topic_partitions(&v.assigned);
    w.topic_partitions(&v.pending_revocation);
    w.no_tags();
    w.0
}

pub fn decode_current_assignment(value: &[u8]) -> Result<CurrentAssignmentValue, SchemaError> {
    let mut r = flexible_v0(value)?;
    let member_epoch = r.i32()?;
    let previous_member_epoch = r.i32()?;
    let state = r.take(1)?[0] as i8;
    let assigned = r.topic_partitions()?;
    let pending_revocation = r.topic_partitions()?;
    r.tagged_fields()?;
    Ok(CurrentAssignmentValue {
        member_epoch,
        previous_member_epoch,
        state,
        assigned,
        pending_revocation,
    })
}

pub fn encode_regular_expression(v: &RegularExpressionValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    w.i16(0);
    w.compact_len(v.topics.len());
    for t in &v.topics {
        w.compact_string(t);
    }
    w.i64(v.version);
    w.i64(v.timestamp);
    w.no_tags();
    w.0
}

pub fn decode_regular_expression(value: &[u8]) -> Result<RegularExpressionValue, SchemaError> {
    let mut r = flexible_v0(value)?;
    let v = RegularExpressionValue {
        topics: r.string_array()?,
        version: r.i64()?,
        timestamp: r.i64()?,
    };
    r.tagged_fields()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(list: &[(Uuid, &[i32])]) -> TopicPartitions {
        list.iter().map(|(t, ps)| (*t, ps.iter().copied().collect())).collect()
    }

    #[test]
    fn keys_round_trip_with_their_record_type_as_version() {
        let keys = [
            ConsumerGroupKey::Metadata { group: "g".into() },
            ConsumerGroupKey::MemberMetadata {
                group: "g".into(),
                member: "m".into(),
            },
            ConsumerGroupKey::TargetAssignmentMetadata { group: "g".into() },
            ConsumerGroupKey::TargetAssignmentMember {
                group: "g".into(),
                member: "m".into(),
            },
            ConsumerGroupKey::CurrentMemberAssignment {
                group: "g".into(),
                member: "m".into(),
            },
            ConsumerGroupKey::RegularExpression {
                group: "g".into(),
                regex: "t.*".into(),
            },
        ];
        for key in keys {
            let bytes = key.encode();
            let kind = i16::from_be_bytes([bytes[0], bytes[1]]);
            assert_eq!(ConsumerGroupKey::decode(kind, &bytes).unwrap(), Some(key));
        }
        assert_eq!(ConsumerGroupKey::decode(2, &[0, 2, 0, 1, b'g']).unwrap(), None);
    }

    #[test]
    fn values_round_trip() {
        let t = Uuid::from_u128(7);
        let epoch = GroupEpochValue {
            epoch: 5,
            metadata_hash: -3,
        };
        assert_eq!(decode_group_epoch(&encode_group_epoch(&epoch)).unwrap(), epoch);
        let plain = GroupEpochValue {
            epoch: 1,
            metadata_hash: 0,
        };
        // Without a hash the value is Kafka's 7 bytes: version, epoch, no tagged fields.
        assert_eq!(encode_group_epoch(&plain), vec![0, 0, 0, 0, 0, 1, 0]);
        let member = MemberMetadataValue {
            instance_id: Some("i".into()),
            rack_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            subscribed_topic_names: vec!["a".into(), "b".into()],
            subscribed_topic_regex: Some("x.*".into()),
            rebalance_timeout_ms: 300_000,
            server_assignor: Some("uniform".into()),
        };
        assert_eq!(
            decode_member_metadata(&encode_member_metadata(&member)).unwrap(),
            member
        );
        assert_eq!(decode_assignment_epoch(&encode_assignment_epoch(9)).unwrap(), 9);
        let target = parts(&[(t, &[0, 2])]);
        assert_eq!(
            decode_target_assignment(&encode_target_assignment(&target)).unwrap(),
            target
        );
        let current = CurrentAssignmentValue {
            member_epoch: 4,
            previous_member_epoch: 3,
            state: 1,
            assigned: parts(&[(t, &[1])]),
            pending_revocation: parts(&[(t, &[2, 3])]),
        };
        assert_eq!(
            decode_current_assignment(&encode_current_assignment(&current)).unwrap(),
            current
        );
        let regex = RegularExpressionValue {
            topics: vec!["x1".into()],
            version: 2,
            timestamp: 1000,
        };
        assert_eq!(
            decode_regular_expression(&encode_regular_expression(&regex)).unwrap(),
            regex
        );
    }

    #[test]
    fn truncated_values_are_errors_not_panics() {
        let t = Uuid::from_u128(1);
        let full = encode_current_assignment(&CurrentAssignmentValue {
            assigned: parts(&[(t, &[0, 1, 2])]),
            ..Default::default()
        });
        for n in 0..full.len() {
            assert!(decode_current_assignment(&full[..n]).is_err(), "prefix {n}");
        }
        // An array that claims more elements than there are bytes.
        assert!(decode_target_assignment(&[0, 0, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
