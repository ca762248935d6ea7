//! Consumer groups: Kafka's group coordinator, for classic groups and KIP-848 consumer groups.
//!
//! [`GroupCoordinator`] serves JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! ConsumerGroupHeartbeat, the offset APIs and the group admin APIs; [`GroupMetadata`] is one
//! group's state: a classic group's state machine, its offsets, and for a consumer group its
//! [`consumer_group::ConsumerGroup`] (members, epochs, assignments computed by an
//! [`assignor`]); the [`offsets_log`] and [`consumer_group_records`] schemas are how groups
//! and committed offsets are written to the compacted `__consumer_offsets` topic, which is
//! replayed at start to rebuild every group.
//!
//! Each group has its own lock, never held across an await: requests that must wait (a
//! JoinGroup until the rebalance completes, a SyncGroup until the leader's assignment, a
//! commit until its write is fsynced) get a channel or a [`Durable`] mark to wait on instead.
//! Nothing here blocks produce or fetch.

pub mod assignor;
pub mod consumer_group;
pub mod consumer_group_records;
pub mod coordinator;
pub mod group_metadata;
pub mod offsets_log;

use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::log::PartitionLog;

pub use coordinator::GroupCoordinator;
pub use group_metadata::{GroupMetadata, GroupState, JoinResult, MemberMetadata, SyncResult};

/// A write to `__consumer_offsets` that a reply must wait for: every offset below `offset`
/// of `log` fsynced.
#[derive(Clone)]
pub struct Durable {
    pub log: Arc<PartitionLog>,
    pub offset: i64,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Durable({}-{} < {})",
            self.log.topic(),
            self.log.partition(),
            self.offset
        )
    }
}

/// The `group.*` and `offsets.*` settings the coordinator follows.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: u64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offsets_topic_partitions: i32,
    pub offsets_topic_segment_bytes: i64,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: u64,
    /// Kafka's `offset.metadata.max.bytes` (not configurable here): longer commit metadata is
    /// refused with OFFSET_METADATA_TOO_LARGE.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms`: a consumer group member that sends no heartbeat
    /// for this long is fenced.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`, told to consumer group members.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub consumer_max_size: usize,
    /// `group.consumer.assignors`: the server assignors by name; the first is the default.
    pub consumer_assignors: Vec<String>,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            offsets_topic_partitions: 50,
            offsets_topic_segment_bytes: 104_857_600,
            offsets_retention_ms: 10_080 * 60_000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: i32::MAX as usize,
            consumer_assignors: vec![assignor::UNIFORM.to_string(), assignor::RANGE.to_string()],
        }
    }
}

impl GroupConfig {
    pub fn from_broker(config: &BrokerConfig) -> GroupConfig {
        let d = GroupConfig::default();
        let long = |key: &str| config.get(key).and_then(|v| v.trim().parse::<i64>().ok());
        GroupConfig {
            initial_rebalance_delay_ms: long("group.initial.rebalance.delay.ms")
                .map_or(d.initial_rebalance_delay_ms, |v| v.max(0) as u64),
            min_session_timeout_ms: long("group.min.session.timeout.ms")
                .map_or(d.min_session_timeout_ms, |v| v.clamp(0, i32::MAX as i64) as i32),
            max_session_timeout_ms: long("group.max.session.timeout.ms")
                .map_or(d.max_session_timeout_ms, |v| v.clamp(0, i32::MAX as i64) as i32),
            max_size: long("group.max.size").map_or(d.max_size, |v| v.max(1) as usize),
            offsets_topic_partitions: long("offsets.topic.num.partitions")
                .map_or(d.offsets_topic_partitions, |v| v.clamp(1, i32::MAX as i64) as i32),
            offsets_topic_segment_bytes: long("offsets.topic.segment.bytes").unwrap_or(d.offsets_topic_segment_bytes),
            offsets_retention_ms: long("offsets.retention.minutes")
                .map_or(d.offsets_retention_ms, |v| v.max(1).saturating_mul(60_000)),
            offsets_retention_check_interval_ms: long("offsets.retention.check.interval.ms")
                .map_or(d.offsets_retention_check_interval_ms, |v| v.max(1) as u64),
            offset_metadata_max_bytes: d.offset_metadata_max_bytes,
            consumer_session_timeout_ms: long("group.consumer.session.timeout.ms")
                .map_or(d.consumer_session_timeout_ms, |v| v.clamp(1, i32::MAX as i64) as i32),
            consumer_heartbeat_interval_ms: long("group.consumer.heartbeat.interval.ms")
                .map_or(d.consumer_heartbeat_interval_ms, |v| v.clamp(1, i32::MAX as i64) as i32),
            consumer_max_size: long("group.consumer.max.size").map_or(d.consumer_max_size, |v| v.max(1) as usize),
            consumer_assignors: config
                .get("group.consumer.assignors")
                .map(assignor::names)
                .filter(|names| !names.is_empty())
                .unwrap_or(d.consumer_assignors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_read() {
        let mut b = BrokerConfig::default();
        b.set("group.initial.rebalance.delay.ms", "0").unwrap();
        b.set("group.min.session.timeout.ms", "1000").unwrap();
        b.set("offsets.retention.minutes", "2").unwrap();
        b.set("group.max.size", "3").unwrap();
        let c = GroupConfig::from_broker(&b);
        assert_eq!(c.initial_rebalance_delay_ms, 0);
        assert_eq!(c.min_session_timeout_ms, 1000);
        assert_eq!(c.max_session_timeout_ms, 1_800_000);
        assert_eq!(c.offsets_retention_ms, 120_000);
        assert_eq!(c.max_size, 3);
        assert_eq!(c.offsets_topic_partitions, 50);
    }
}
