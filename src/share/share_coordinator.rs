//! The ShareCoordinator: persists share-partition state in `__share_group_state` (compacted,
//! Kafka's ShareSnapshot schemas, created at the first write) and rebuilds it at start.
//!
//! Every write is a whole ShareSnapshot of one share-partition. Kafka's coordinator writes
//! ShareUpdate records between snapshots to save bytes; here the in-flight window a snapshot
//! covers is bounded by `group.share.partition.max.record.locks` and merged into runs of equal
//! state, so one record per change stays small, compaction keeps only the latest per key, and
//! replay needs no merging. The caller waits for [`Durable`] before answering, so an
//! acknowledgement the client saw succeed is on disk.

use std::collections::HashMap;
use std::sync::Arc;

use super::state_log::{self, SHARE_STATE_TOPIC, SharePartitionKey, SnapshotValue, StateKey};
use crate::api::errors;
use crate::group::Durable;
use crate::log::{LogError, LogManager, now_ms};
use crate::metadata::topics::NewTopic;
use crate::metadata::{TopicError, TopicRegistry};
use crate::record::{self, Compression, RecordBatchBuilder};

/// How much of a state partition replay reads at a time.
const REPLAY_READ_BYTES: usize = 1 << 20;

pub struct ShareCoordinator {
    topics: Arc<TopicRegistry>,
    logs: Arc<LogManager>,
    partitions: i32,
    segment_bytes: i64,
}

impl ShareCoordinator {
    /// Returns the latest state of every share-partition in `__share_group_state`, if it
    /// exists: as on Kafka, the topic is created when a share group first writes. Blocking.
    pub fn open(
        topics: Arc<TopicRegistry>,
        logs: Arc<LogManager>,
        partitions: i32,
        segment_bytes: i64,
    ) -> Result<(ShareCoordinator, HashMap<SharePartitionKey, SnapshotValue>), String> {
        // An existing topic keeps its partition count, which places every key.
        let partitions = topics.get(SHARE_STATE_TOPIC).map_or(partitions, |t| t.partitions);
        let coordinator = ShareCoordinator {
            topics,
            logs,
            partitions,
            segment_bytes,
        };
        let state = coordinator.load()?;
        Ok((coordinator, state))
    }

    /// The log of a state partition, creating the topic on first use.
    fn state_log(&self, partition: i32) -> Result<Arc<crate::log::PartitionLog>, i16> {
        if let Some(log) = self.topics.partition_log(SHARE_STATE_TOPIC, partition) {
            return Ok(log);
        }
        let configs = [
            ("cleanup.policy", "compact".to_string()),
            ("compression.type", "producer".to_string()),
            ("segment.bytes", self.segment_bytes.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let new = NewTopic {
            name: SHARE_STATE_TOPIC.to_string(),
            partitions: self.partitions,
            replication_factor: -1,
            assignments: Vec::new(),
            configs,
        };
        // Creating a topic fsyncs the metadata log and makes directories.
        match crate::api::block_in_place(|| self.topics.create_topic(new, false)) {
            Ok(_) | Err(TopicError::AlreadyExists(_)) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot create {SHARE_STATE_TOPIC}");
                return Err(errors::COORDINATOR_NOT_AVAILABLE);
            }
        }
        self.topics
            .partition_log(SHARE_STATE_TOPIC, partition)
            .ok_or(errors::COORDINATOR_NOT_AVAILABLE)
    }

    /// Appends the snapshot of one share-partition; the reply that depends on it waits for
    /// the returned mark. The error is the code the request is answered with.
    pub fn write(&self, key: &SharePartitionKey, value: Option<&SnapshotValue>) -> Result<Durable, i16> {
        let partition = state_log::partition_for(key, self.partitions);
        let log = self.state_log(partition)?;
        let now = now_ms();
        let k = state_log::encode_key(key);
        let v = value.map(state_log::encode_value);
        let mut builder = RecordBatchBuilder::new(Compression::None);
        builder.append(now, Some(&k), v.as_deref(), &[]);
        let mut batch = builder.try_build().map_err(|e| {
            tracing::error!(error = %e, "cannot build a {SHARE_STATE_TOPIC} batch");
            errors::UNKNOWN_SERVER_ERROR
        })?;
        match log.append(&mut batch, now, false) {
            Ok(info) => Ok(Durable {
                log,
                offset: info.last_offset + 1,
            }),
            Err(e) => {
                tracing::error!(partition, error = %e, "writing to {SHARE_STATE_TOPIC} failed");
                Err(errors::COORDINATOR_NOT_AVAILABLE)
            }
        }
    }

    pub fn wait_durable(&self, durable: &Durable) -> impl Future<Output = Result<(), LogError>> + Send + 'static {
        let logs = self.logs.clone();
        let durable = durable.clone();
        async move { logs.wait_durable(&durable.log, durable.offset).await }
    }

    fn load(&self) -> Result<HashMap<SharePartitionKey, SnapshotValue>, String> {
        let mut state = HashMap::new();
        if self.topics.get(SHARE_STATE_TOPIC).is_none() {
            return Ok(state);
        }
        for p in 0..self.partitions {
            let Some(log) = self.topics.partition_log(SHARE_STATE_TOPIC, p) else {
                return Err(format!("{SHARE_STATE_TOPIC}-{p} has no log"));
            };
            log.for_each_batch(REPLAY_READ_BYTES, |header, batch| {
                if header.is_control() {
                    return;
                }
                let records = match record::records(batch) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(partition = p, offset = header.base_offset, error = %e, "skipping an unreadable {SHARE_STATE_TOPIC} batch");
                        return;
                    }
                };
                for r in records {
                    let Some(k) = r.key.as_deref() else { continue };
                    let key = match state_log::decode_key(k) {
                        Ok(StateKey::Snapshot(key)) => key,
                        Ok(StateKey::Update) => continue,
                        Err(e) => {
                            tracing::warn!(partition = p, offset = r.offset, error = %e, "skipping a malformed {SHARE_STATE_TOPIC} key");
                            continue;
                        }
                    };
                    match r.value.as_deref().map(state_log::decode_value) {
                        None => {
                            state.remove(&key);
                        }
                        Some(Ok(value)) => {
                            state.insert(key, value);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(partition = p, offset = r.offset, error = %e, "skipping a malformed {SHARE_STATE_TOPIC} value");
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot replay {SHARE_STATE_TOPIC}-{p}: {e}"))?;
        }
        if !state.is_empty() {
            tracing::info!(
                share_partitions = state.len(),
                "loaded share-partition state from {SHARE_STATE_TOPIC}"
            );
        }
        Ok(state)
    }
}
