//! The SharePartitionManager: every share-partition of every group, acquisition from the
//! logs, acknowledgements and their persistence through the [`ShareCoordinator`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::group_configs::{GroupConfigs, OffsetReset};
use super::share_coordinator::ShareCoordinator;
use super::share_partition::Limits;
use super::share_partition::{AcquiredRange, BatchSpan, SharePartition};
use super::share_session::{ShareSessionCache, TopicIdPartition};
use super::state_log::{SharePartitionKey, SnapshotValue};
use super::{ShareConfig, codes};
use crate::api::errors;
use crate::group::Durable;
use crate::log::{LogError, PartitionLog, now_ms};
use crate::metadata::TopicRegistry;
use crate::record::BatchHeader;

type PartitionRef = Arc<Mutex<SharePartition>>;

/// The records acquired from one partition for one ShareFetch.
pub struct Acquired {
    /// Whole batches as stored, holding at least the acquired offsets.
    pub records: Bytes,
    pub ranges: Vec<AcquiredRange>,
}

/// One acknowledgement batch of a request.
pub struct AckBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub types: Vec<i8>,
}

pub struct SharePartitionManager {
    config: ShareConfig,
    pub group_configs: GroupConfigs,
    topics: Arc<TopicRegistry>,
    coordinator: ShareCoordinator,
    partitions: RwLock<HashMap<SharePartitionKey, PartitionRef>>,
    pub sessions: ShareSessionCache,
}

impl SharePartitionManager {
    pub fn new(
        config: ShareConfig,
        group_configs: GroupConfigs,
        topics: Arc<TopicRegistry>,
        coordinator: ShareCoordinator,
        loaded: HashMap<SharePartitionKey, SnapshotValue>,
    ) -> SharePartitionManager {
        let partitions = loaded
            .into_iter()
            .map(|(k, v)| (k, Arc::new(Mutex::new(SharePartition::from_snapshot(&v)))))
            .collect();
        SharePartitionManager {
            sessions: ShareSessionCache::new(config.max_share_sessions, config.session_timeout),
            config,
            group_configs,
            topics,
            coordinator,
            partitions: RwLock::new(partitions),
        }
    }

    pub fn config(&self) -> &ShareConfig {
        &self.config
    }

    /// The settings of `group`'s share-partitions: its own lock duration, if set.
    fn limits(&self, group: &str) -> Limits {
        self.config.limits(self.group_configs.lock_duration(group))
    }

    /// Groups that have share-partition state (so they exist after a restart).
    pub fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.partitions.read().keys().map(|k| k.group_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Each share-partition of `group` with its start offset.
    pub fn start_offsets(&self, group: &str) -> Vec<(Uuid, i32, i64)> {
        let mut out: Vec<_> = self
            .partitions
            .read()
            .iter()
            .filter(|(k, _)| k.group_id == group)
            .map(|(k, p)| (k.topic_id, k.partition, p.lock().start_offset()))
            .collect();
        out.sort();
        out
    }

    pub fn wait_durable(
        &self,
        durable: &Durable,
    ) -> impl std::future::Future<Output = Result<(), LogError>> + Send + 'static {
        self.coordinator.wait_durable(durable)
    }

    /// The log of a topic id's partition.
    pub fn log(&self, topic_id: Uuid, partition: i32) -> Option<Arc<PartitionLog>> {
        let topic = self.topics.get_by_id(&topic_id)?;
        self.topics.partition_log(&topic.name, partition)
    }

    fn key(group: &str, tp: TopicIdPartition) -> SharePartitionKey {
        SharePartitionKey {
            group_id: group.to_string(),
            topic_id: tp.0,
            partition: tp.1,
        }
    }

    /// The share-partition, initialised when first used where the group's
    /// `share.auto.offset.reset` says (the log end by default, or its start) and persisted so a
    /// restart keeps that start.
    fn get_or_init(&self, key: &SharePartitionKey, log: &PartitionLog) -> (PartitionRef, Option<Durable>) {
        if let Some(p) = self.partitions.read().get(key) {
            return (p.clone(), None);
        }
        let mut map = self.partitions.write();
        if let Some(p) = map.get(key) {
            return (p.clone(), None);
        }
        let start = match self.group_configs.offset_reset(&key.group_id) {
            OffsetReset::Latest => log.high_watermark(),
            OffsetReset::Earliest => log.log_start_offset(),
            OffsetReset::ByDuration(age) => {
                let since = now_ms().saturating_sub(age.as_millis().min(i64::MAX as u128) as i64);
                match log.offset_for_timestamp(since) {
                    Ok(Some((offset, _))) => offset,
                    _ => log.high_watermark(),
                }
            }
        };
        let mut partition = SharePartition::new(start);
        let durable = self.coordinator.write(key, Some(&partition.snapshot(now_ms()))).ok();
        let p = Arc::new(Mutex::new(partition));
        map.insert(key.clone(), p.clone());
        (p, durable)
    }

    /// Initialises the share-partitions of `group` among `partitions` that have no state yet,
    /// as Kafka's group coordinator does when they are first assigned; returns the writes to
    /// wait for, one per partition initialised.
    pub fn initialize(&self, group: &str, partitions: &[TopicIdPartition]) -> Vec<Durable> {
        let mut durable = Vec::new();
        for tp in partitions {
            let key = Self::key(group, *tp);
            if self.partitions.read().contains_key(&key) {
                continue;
            }
            let Some(log) = self.log(tp.0, tp.1) else { continue };
            if let (_, Some(d)) = self.get_or_init(&key, &log) {
                durable.push(d);
            }
        }
        durable
    }

    /// Acquires up to `max_records` records of one partition for `member`, reading at most
    /// `max_bytes` from the log. The durable mark is the partition's first-use write.
    pub fn acquire(
        &self,
        group: &str,
        member: &str,
        tp: TopicIdPartition,
        max_records: i64,
        max_bytes: usize,
    ) -> Result<(Option<Acquired>, Option<Durable>), i16> {
        let log = self.log(tp.0, tp.1).ok_or(errors::UNKNOWN_TOPIC_ID)?;
        let (partition, durable) = self.get_or_init(&Self::key(group, tp), &log);
        let limits = self.limits(group);
        let now = Instant::now();
        let mut p = partition.lock();
        p.expire_locks(now, &limits);
        p.skip_to(log.log_start_offset());
        let Some(from) = p.next_fetch_offset(&limits) else {
            return Ok((None, durable));
        };
        let read_committed = self.group_configs.read_committed(group);
        let read = if read_committed {
            log.fetch_committed(from, max_bytes, true)
        } else {
            log.fetch(from, max_bytes, true)
        };
        let slice = match read {
            Ok(s) => s,
            // The window is past what is durable in the log (a truncated tail): nothing yet.
            Err(LogError::OffsetOutOfRange { .. }) => return Ok((None, durable)),
            Err(LogError::Closed) => return Err(errors::UNKNOWN_TOPIC_ID),
            Err(e) => {
                tracing::error!(error = %e, "share fetch read failed");
                return Err(errors::KAFKA_STORAGE_ERROR);
            }
        };
        // read_committed: batches of aborted transactions are archived, never delivered.
        let aborted = if read_committed && !slice.records.is_empty() {
            log.aborted_transactions(from, slice.high_watermark.max(from + 1))
        } else {
            Vec::new()
        };
        let mut budget = max_records.max(1);
        let mut ranges = Vec::new();
        let mut records = BytesMut::new();
        let mut pos = 0usize;
        while pos < slice.records.len() && budget > 0 {
            let Ok(h) = BatchHeader::parse(&slice.records[pos..]) else {
                break;
            };
            let end = pos + h.total_size();
            if end > slice.records.len() {
                break;
            }
            let aborted_batch = h.is_transactional()
                && aborted.iter().any(|t| {
                    t.producer_id == h.producer_id && t.first_offset <= h.base_offset && h.base_offset <= t.last_offset
                });
            let span = BatchSpan {
                first: h.base_offset,
                last: h.last_offset(),
                control: h.is_control() || aborted_batch,
            };
            let got = p.acquire_batch(member, span, &mut budget, now, &limits);
            if !got.is_empty() {
                records.extend_from_slice(&slice.records[pos..end]);
                ranges.extend(got);
            }
            pos = end;
        }
        if ranges.is_empty() {
            return Ok((None, durable));
        }
        Ok((
            Some(Acquired {
                records: records.freeze(),
                ranges,
            }),
            durable,
        ))
    }

    /// Applies `member`'s acknowledgements to one partition and persists the result. Every
    /// batch is checked before any is applied to the partition's state (the first refusal is
    /// the partition's code); the durable mark is what the reply must wait for.
    pub fn acknowledge(
        &self,
        group: &str,
        member: &str,
        tp: TopicIdPartition,
        batches: &[AckBatch],
    ) -> Result<Durable, i16> {
        if self.topics.get_by_id(&tp.0).is_none() {
            return Err(errors::UNKNOWN_TOPIC_ID);
        }
        let key = Self::key(group, tp);
        let partition = self.partitions.read().get(&key).cloned();
        let partition = partition.ok_or(codes::INVALID_RECORD_STATE)?;
        let limits = self.limits(group);
        let now = Instant::now();
        let mut p = partition.lock();
        p.expire_locks(now, &limits);
        // Offsets must ascend without overlap, as Kafka requires.
        let mut prev = i64::MIN;
        for b in batches {
            if b.first_offset <= prev || b.last_offset < b.first_offset {
                return Err(codes::INVALID_REQUEST);
            }
            prev = b.last_offset;
        }
        // Apply to a copy first so a refused batch leaves no partial change behind.
        let mut staged = (*p).clone();
        for b in batches {
            staged.acknowledge(member, b.first_offset, b.last_offset, &b.types, now, &limits)?;
        }
        *p = staged;
        let snapshot = p.snapshot(now_ms());
        self.coordinator.write(&key, Some(&snapshot))
    }

    /// Releases what `member` holds in `partitions` (its session closed or it left), persisting
    /// any partition that changed.
    pub fn release(&self, group: &str, member: &str, partitions: &[TopicIdPartition]) -> Vec<Durable> {
        let mut durable = Vec::new();
        for tp in partitions {
            let key = Self::key(group, *tp);
            let Some(partition) = self.partitions.read().get(&key).cloned() else {
                continue;
            };
            let mut p = partition.lock();
            if p.release_member(member)
                && let Ok(d) = self.coordinator.write(&key, Some(&p.snapshot(now_ms())))
            {
                durable.push(d);
            }
        }
        durable
    }

    /// The start offset of each named partition of `group` (None: every partition it has
    /// state for); -1 for a partition the group never read, as Kafka reports it.
    pub fn describe_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicIdPartition]>,
    ) -> Vec<(TopicIdPartition, i64)> {
        match partitions {
            None => self
                .start_offsets(group)
                .into_iter()
                .map(|(topic, partition, offset)| ((topic, partition), offset))
                .collect(),
            Some(list) => {
                let map = self.partitions.read();
                list.iter()
                    .map(|tp| {
                        let offset = map.get(&Self::key(group, *tp)).map_or(-1, |p| p.lock().start_offset());
                        (*tp, offset)
                    })
                    .collect()
            }
        }
    }

    /// Moves a partition's start offset to `offset`, forgetting its in-flight records (the
    /// group has no members: nothing is acquired).
    pub fn reset_offset(&self, group: &str, tp: TopicIdPartition, offset: i64) -> Result<Durable, i16> {
        let key = Self::key(group, tp);
        let mut partition = SharePartition::new(offset);
        let durable = self.coordinator.write(&key, Some(&partition.snapshot(now_ms())))?;
        self.partitions.write().insert(key, Arc::new(Mutex::new(partition)));
        Ok(durable)
    }

    /// Forgets the state of `group` for every partition of `topic` (a tombstone each).
    pub fn delete_topic_state(&self, group: &str, topic: Uuid) -> Result<Vec<Durable>, i16> {
        let keys: Vec<SharePartitionKey> = self
            .partitions
            .read()
            .keys()
            .filter(|k| k.group_id == group && k.topic_id == topic)
            .cloned()
            .collect();
        let mut durable = Vec::with_capacity(keys.len());
        for key in keys {
            durable.push(self.coordinator.write(&key, None)?);
            self.partitions.write().remove(&key);
        }
        Ok(durable)
    }

    /// Releases what `member` holds in any partition of `group`.
    pub fn release_everywhere(&self, group: &str, member: &str) {
        let partitions: Vec<TopicIdPartition> = self
            .partitions
            .read()
            .keys()
            .filter(|k| k.group_id == group)
            .map(|k| (k.topic_id, k.partition))
            .collect();
        self.release(group, member, &partitions);
    }
}
