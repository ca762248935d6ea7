//! Offsets committed inside transactions (TxnOffsetCommit, KIP-98 and KIP-447).
//!
//! The commit is written to the group's `__consumer_offsets` partition as a transactional
//! batch of the producer, so the transaction's marker on that partition decides it, in the log
//! as in memory: replay keeps such records aside until their marker. Until then the offsets are
//! invisible to OffsetFetch, and `require_stable` readers get UNSTABLE_OFFSET_COMMIT.

use super::offset_metadata::validate_offset_commit;
use super::*;

impl GroupCoordinator {
    /// TxnOffsetCommit: records `offsets` as part of `producer_id`'s open transaction. With a
    /// generation or member id (KIP-447), the committer must be a current member of the group.
    /// The errors line up with `offsets`; the reply waits for the returned write.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_txn_offsets(
        &self,
        group_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        offsets: &[OffsetCommit],
    ) -> (Vec<i16>, Option<Durable>) {
        let all = |code: i16| (vec![code; offsets.len()], None);
        if !valid_group_id(group_id) {
            return all(errors::INVALID_GROUP_ID);
        }
        if !self.is_active() {
            return all(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let group = self.get_or_create(group_id);
        let mut group = group.lock();
        if group.is(GroupState::Dead) {
            return all(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let checks_membership = generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some();
        if checks_membership
            && let Some(code) = validate_offset_commit(&group, member_id, group_instance_id, generation_id)
        {
            return all(code);
        }
        if offsets.is_empty() {
            return (Vec::new(), None);
        }
        let now = now_ms();
        let values: Vec<OffsetAndMetadata> = offsets
            .iter()
            .map(|o| OffsetAndMetadata {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
                commit_timestamp: now,
                expire_timestamp: None,
            })
            .collect();
        let partition = self.partition_for(group_id);
        let log = match self.offsets_log(partition) {
            Ok(log) => log,
            Err(code) => return all(code),
        };
        // The coordinator writes without sequence numbers, as Kafka's does; the epoch is
        // still checked against the producer's latest on this partition.
        let mut builder = RecordBatchBuilder::new(Compression::None)
            .producer(producer_id, producer_epoch, -1)
            .transactional(true);
        for (o, v) in offsets.iter().zip(&values) {
            let key = offsets_log::offset_key(group_id, &o.topic, o.partition);
            let value = offsets_log::encode_offset_value(&v.to_value());
            builder.append(now, Some(&key), Some(&value), &[]);
        }
        let mut batch = builder.build();
        let durable = match log.append(&mut batch, now, false) {
            Ok(info) => Durable {
                log,
                offset: info.last_offset + 1,
            },
            Err(LogError::Producer(e)) => return all(errors::producer_state_code(&e)),
            Err(e) => {
                tracing::error!(group = group_id, partition, error = %e, "writing a transactional offset commit failed");
                return all(errors::NOT_COORDINATOR);
            }
        };
        let pending = group.pending_txn_offsets.entry(producer_id).or_default();
        for (o, v) in offsets.iter().zip(values) {
            pending.insert((o.topic.clone(), o.partition), v);
        }
        (vec![errors::NONE; offsets.len()], Some(durable))
    }

    /// Applies a transaction marker written to `__consumer_offsets` partition `partition`:
    /// `producer_id`'s pending offsets there become commits (visible once `marker` is durable)
    /// or are dropped.
    pub fn complete_txn_offsets(&self, partition: i32, producer_id: i64, commit: bool, marker: &Durable) {
        for group in self.all_groups() {
            let mut group = group.lock();
            if self.partition_for(&group.group_id) != partition {
                continue;
            }
            let Some(offsets) = group.pending_txn_offsets.remove(&producer_id) else {
                continue;
            };
            if commit {
                group.settle_offsets();
                for (tp, value) in offsets {
                    group.pending_offsets.insert(tp, (value, marker.clone()));
                }
            }
        }
    }
}
