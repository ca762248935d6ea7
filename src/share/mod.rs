//! Share groups (KIP-932, Kafka's queues): members of a share group read the same partitions
//! together, each record delivered to one member at a time under a time-limited lock and
//! acknowledged one by one.
//!
//! - [`share_group`]: one group's members, epochs and the simple assignor;
//!   [`ShareGroupCoordinator`] serves ShareGroupHeartbeat and ShareGroupDescribe and fences
//!   members whose session timed out.
//! - [`share_partition`]: one share-partition's delivery state (SPSO, in-flight records,
//!   locks, delivery counts); [`SharePartitionManager`] serves ShareFetch and
//!   ShareAcknowledge over them, reading the logs, with [`share_session`]'s ShareSessionCache.
//! - [`share_coordinator`]: the ShareCoordinator, which persists share-partition state in
//!   `__share_group_state` ([`state_log`] holds Kafka's record schemas) before an
//!   acknowledgement is answered, and replays it at start.
//!
//! Locks are plain mutexes per group and per share-partition, never held across an await.

pub mod group_configs;
pub mod share_coordinator;
pub mod share_group;
pub mod share_group_coordinator;
pub mod share_partition;
pub mod share_partition_manager;
pub mod share_session;
pub mod state_log;

use std::sync::Arc;
use std::time::Duration;

use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::metadata::TopicRegistry;

pub use share_group_coordinator::ShareGroupCoordinator;
pub use share_partition_manager::SharePartitionManager;

/// Loads every share-partition from `__share_group_state` (created at the first write); the
/// share groups that have state come back empty until members rejoin. Blocking.
pub fn open(
    config: &BrokerConfig,
    topics: Arc<TopicRegistry>,
    logs: Arc<LogManager>,
    groups: Arc<GroupCoordinator>,
) -> Result<Arc<ShareGroupCoordinator>, String> {
    let data_dir = config.data_dir();
    let config = ShareConfig::from_broker(config);
    let group_configs = group_configs::GroupConfigs::open(&data_dir, config.clone())?;
    let (coordinator, loaded) = share_coordinator::ShareCoordinator::open(
        topics.clone(),
        logs,
        config.state_topic_partitions,
        config.state_topic_segment_bytes,
    )?;
    let partitions = Arc::new(SharePartitionManager::new(
        config,
        group_configs,
        topics.clone(),
        coordinator,
        loaded,
    ));
    Ok(ShareGroupCoordinator::new(topics, groups, partitions))
}

/// Kafka's error codes of the share-group APIs (and the group codes they share).
pub mod codes {
    pub use crate::api::errors::{GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED, INVALID_REQUEST, UNKNOWN_MEMBER_ID};
    pub const INVALID_CONFIG: i16 = 40;
    pub const FENCED_MEMBER_EPOCH: i16 = 110;
    pub const INVALID_RECORD_STATE: i16 = 121;
    pub const SHARE_SESSION_NOT_FOUND: i16 = 122;
    pub const INVALID_SHARE_SESSION_EPOCH: i16 = 123;
    pub const SHARE_SESSION_LIMIT_REACHED: i16 = 133;
}

/// The `group.share.*` and `share.coordinator.*` settings share groups follow.
#[derive(Clone, Debug)]
pub struct ShareConfig {
    pub session_timeout: Duration,
    pub heartbeat_interval_ms: i32,
    pub record_lock_duration: Duration,
    pub delivery_count_limit: i16,
    pub max_record_locks: i64,
    pub max_size: usize,
    pub max_share_sessions: usize,
    pub state_topic_partitions: i32,
    pub state_topic_segment_bytes: i64,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval_ms: 5000,
            record_lock_duration: Duration::from_millis(30_000),
            delivery_count_limit: 5,
            max_record_locks: 2000,
            max_size: 200,
            max_share_sessions: 2000,
            state_topic_partitions: 50,
            state_topic_segment_bytes: 104_857_600,
        }
    }
}

impl ShareConfig {
    pub fn from_broker(config: &BrokerConfig) -> ShareConfig {
        let d = ShareConfig::default();
        let long = |key: &str| config.get(key).and_then(|v| v.trim().parse::<i64>().ok());
        let ms = |key: &str, default: Duration| long(key).map_or(default, |v| Duration::from_millis(v.max(1) as u64));
        ShareConfig {
            session_timeout: ms("group.share.session.timeout.ms", d.session_timeout),
            heartbeat_interval_ms: long("group.share.heartbeat.interval.ms")
                .map_or(d.heartbeat_interval_ms, |v| v.clamp(1, i32::MAX as i64) as i32),
            record_lock_duration: ms("group.share.record.lock.duration.ms", d.record_lock_duration),
            delivery_count_limit: long("group.share.delivery.count.limit")
                .map_or(d.delivery_count_limit, |v| v.clamp(1, i16::MAX as i64) as i16),
            max_record_locks: long("group.share.partition.max.record.locks").map_or(d.max_record_locks, |v| v.max(1)),
            max_size: long("group.share.max.size").map_or(d.max_size, |v| v.max(1) as usize),
            max_share_sessions: long("group.share.max.share.sessions")
                .map_or(d.max_share_sessions, |v| v.max(1) as usize),
            state_topic_partitions: long("share.coordinator.state.topic.num.partitions")
                .map_or(d.state_topic_partitions, |v| v.clamp(1, i32::MAX as i64) as i32),
            state_topic_segment_bytes: long("share.coordinator.state.topic.segment.bytes")
                .unwrap_or(d.state_topic_segment_bytes),
        }
    }

    fn limits(&self, lock_duration: Duration) -> share_partition::Limits {
        share_partition::Limits {
            delivery_count_limit: self.delivery_count_limit,
            max_record_locks: self.max_record_locks,
            lock_duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_read() {
        let mut b = BrokerConfig::default();
        b.set("group.share.record.lock.duration.ms", "15000").unwrap();
        b.set("group.share.delivery.count.limit", "2").unwrap();
        b.set("group.share.session.timeout.ms", "45000").unwrap();
        let c = ShareConfig::from_broker(&b);
        assert_eq!(c.record_lock_duration, Duration::from_secs(15));
        assert_eq!(c.delivery_count_limit, 2);
        assert_eq!(c.max_record_locks, 2000);
        assert_eq!(c.state_topic_partitions, 50);
    }
}
