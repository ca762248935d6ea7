//! Committed offsets, as Kafka's `OffsetMetadataManager` keeps them: OffsetCommit with its
//! generation and member-epoch checks, OffsetFetch, OffsetDelete, and offset retention
//! (KIP-211).

use super::classic_membership::validate_current_member;
use super::*;

impl GroupCoordinator {
    // ---- offsets ----------------------------------------------------------------------------

    /// Commits offsets; the errors line up with `offsets`, and the reply waits for the
    /// returned write.
    pub fn commit_offsets(
        &self,
        group_id: &str,
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
        let group = match self.get(group_id) {
            Some(g) => g,
            // Without group management (generation -1) a commit creates the group.
            None if generation_id < 0 => self.get_or_create(group_id),
            None => return all(errors::ILLEGAL_GENERATION),
        };
        let mut group = group.lock();
        if let Some(code) = validate_offset_commit(&group, member_id, group_instance_id, generation_id) {
            return all(code);
        }
        match group.state() {
            GroupState::Empty => {}
            GroupState::Stable | GroupState::PreparingRebalance => {
                // Allowed while rebalancing: the heartbeat tells the member to rejoin.
                if let Some(m) = group.get_mut(member_id) {
                    m.refresh_heartbeat(Instant::now());
                }
            }
            GroupState::CompletingRebalance => return all(errors::REBALANCE_IN_PROGRESS),
            GroupState::Dead => return all(errors::COORDINATOR_NOT_AVAILABLE),
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
                expire_timestamp: o.retention_ms.map(|r| now.saturating_add(r)),
            })
            .collect();
        let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = offsets
            .iter()
            .zip(&values)
            .map(|(o, v)| {
                (
                    offsets_log::offset_key(group_id, &o.topic, o.partition),
                    Some(offsets_log::encode_offset_value(&v.to_value())),
                )
            })
            .collect();
        match self.append(group_id, &records) {
            Ok(durable) => {
                group.settle_offsets();
                for (o, v) in offsets.iter().zip(values) {
                    group
                        .pending_offsets
                        .insert((o.topic.clone(), o.partition), (v, durable.clone()));
                }
                (vec![errors::NONE; offsets.len()], Some(durable))
            }
            Err(code) => all(code),
        }
    }

    /// Committed offsets of `partitions` (all committed ones when `None`); a partition with
    /// no commit comes back as `None`, without an error.
    ///
    /// Only durable commits are visible. With `require_stable` (KIP-447), a partition whose
    /// latest commit is not durable yet answers UNSTABLE_OFFSET_COMMIT, so the client asks again
    /// instead of starting from an older offset.
    #[allow(clippy::type_complexity)]
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
        require_stable: bool,
        member: Option<(&str, i32)>,
    ) -> Result<Vec<((String, i32), Option<OffsetAndMetadata>, i16)>, i16> {
        if !valid_group_id(group_id) {
            return Err(errors::INVALID_GROUP_ID);
        }
        if !self.is_active() {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let group = self.get(group_id);
        let mut group = group.as_ref().map(|g| g.lock());
        if let Some(g) = group.as_deref_mut() {
            g.settle_offsets();
        }
        let group = group.as_deref().filter(|g| !g.is(GroupState::Dead));
        // OffsetFetch v9+ from a consumer group member (KIP-848) is checked against its epoch.
        if let (Some((member_id, epoch)), Some(cg)) = (member, group.and_then(|g| g.consumer.as_deref()))
            && let Some(code) = consumer_group_state::validate_consumer_member(cg, member_id, epoch, false)
        {
            return Err(code);
        }
        let code = |g: &GroupMetadata, tp: &(String, i32)| {
            if require_stable && (g.pending_offsets.contains_key(tp) || g.has_pending_txn_offset(tp)) {
                errors::UNSTABLE_OFFSET_COMMIT
            } else {
                errors::NONE
            }
        };
        Ok(match (partitions, group) {
            (Some(parts), Some(g)) => parts
                .iter()
                .map(|tp| (tp.clone(), g.offsets.get(tp).cloned(), code(g, tp)))
                .collect(),
            (Some(parts), None) => parts.iter().map(|tp| (tp.clone(), None, errors::NONE)).collect(),
            (None, Some(g)) => {
                let mut all: Vec<(String, i32)> = g.offsets.keys().cloned().collect();
                if require_stable {
                    all.extend(
                        g.pending_offsets
                            .keys()
                            .filter(|tp| !g.offsets.contains_key(*tp))
                            .cloned(),
                    );
                    all.sort();
                }
                all.into_iter()
                    .map(|tp| {
                        let value = g.offsets.get(&tp).cloned();
                        let code = code(g, &tp);
                        (tp, value, code)
                    })
                    .collect()
            }
            (None, None) => Vec::new(),
        })
    }

    /// OffsetDelete: per-partition errors lining up with `partitions`, or the group's error.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<i16>, Option<Durable>), i16> {
        if !valid_group_id(group_id) {
            return Err(errors::INVALID_GROUP_ID);
        }
        if !self.is_active() {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let Some(group_ref) = self.get(group_id) else {
            return Err(errors::GROUP_ID_NOT_FOUND);
        };
        let result = {
            let mut group = group_ref.lock();
            match group.state() {
                GroupState::Dead => Err(errors::GROUP_ID_NOT_FOUND),
                GroupState::Empty => {
                    let durable = self.remove_offsets_and_maybe_group(&mut group, partitions);
                    Ok((vec![errors::NONE; partitions.len()], durable))
                }
                _ if group.is_consumer_group() => {
                    let codes: Vec<i16> = partitions
                        .iter()
                        .map(|(t, _)| {
                            if group.is_subscribed_to_topic(t) {
                                errors::GROUP_SUBSCRIBED_TO_TOPIC
                            } else {
                                errors::NONE
                            }
                        })
                        .collect();
                    let eligible: Vec<(String, i32)> = partitions
                        .iter()
                        .zip(&codes)
                        .filter(|(_, c)| **c == errors::NONE)
                        .map(|(tp, _)| tp.clone())
                        .collect();
                    let durable = self.remove_offsets_and_maybe_group(&mut group, &eligible);
                    Ok((codes, durable))
                }
                _ => Err(errors::NON_EMPTY_GROUP),
            }
        };
        self.remove_if_dead(group_id, &group_ref);
        result
    }

    /// Kafka's offset retention (KIP-211): offsets of a group that has been Empty for
    /// `offsets.retention.minutes`, offsets of standalone groups committed longer ago than
    /// that, and offsets of stable consumer groups for topics no member subscribes to any
    /// more, are removed with tombstones. Returns how many were removed.
    pub fn expire_offsets(&self, now_ms: i64) -> usize {
        let retention = self.config.offsets_retention_ms;
        let mut removed = 0;
        for group_ref in self.all_groups() {
            let group_id = {
                let mut group = group_ref.lock();
                group.settle_offsets();
                // A consumer group's offsets are kept while it has members, and otherwise
                // age from their commit, as on Kafka.
                if group.has_consumer_members() {
                    continue;
                }
                // Offsets age from when the group emptied, or from their own commit.
                let since_emptied = match (&group.protocol_type, group.state()) {
                    _ if group.consumer.is_some() => None,
                    (Some(_), GroupState::Empty) => Some(group.state_timestamp),
                    (Some(_), GroupState::Stable) if group.is_consumer_group() && group.subscribed_topics.is_some() => {
                        None
                    }
                    (None, _) => None,
                    _ => continue,
                };
                let stable = group.is(GroupState::Stable);
                let expired: Vec<(String, i32)> = group
                    .offsets
                    .iter()
                    .filter(|((topic, _), o)| {
                        !(stable && group.is_subscribed_to_topic(topic))
                            && match o.expire_timestamp {
                                Some(at) => now_ms >= at,
                                None => now_ms.saturating_sub(since_emptied.unwrap_or(o.commit_timestamp)) >= retention,
                            }
                    })
                    .map(|(tp, _)| tp.clone())
                    .collect();
                let was_empty_without_offsets =
                    group.is(GroupState::Empty) && group.offsets.is_empty() && group.pending_offsets.is_empty();
                if expired.is_empty() && !was_empty_without_offsets {
                    continue;
                }
                removed += expired.len();
                self.remove_offsets_and_maybe_group(&mut group, &expired);
                if group.is(GroupState::Dead)
                    && let Err(code) = self.drop_consumer_group(&mut group)
                {
                    tracing::warn!(group = %group.group_id, code, "cannot remove an expired consumer group's records");
                }
                if group.is(GroupState::Dead) {
                    tracing::info!(group = %group.group_id, "group expired: empty with no offsets left");
                }
                group.group_id.clone()
            };
            self.remove_if_dead(&group_id, &group_ref);
        }
        removed
    }
}

/// Kafka's `validateOffsetCommit`: a commit naming a member or a generation must come from a
/// current member of that generation; an anonymous one (generation -1, no member id) only
/// goes to a group without members.
pub(super) fn validate_offset_commit(
    group: &GroupMetadata,
    member_id: &str,
    instance: Option<&str>,
    generation_id: i32,
) -> Option<i16> {
    if group.is(GroupState::Dead) {
        return Some(errors::COORDINATOR_NOT_AVAILABLE);
    }
    if let Some(cg) = group.consumer.as_deref() {
        return consumer_group_state::validate_consumer_member(cg, member_id, generation_id, true);
    }
    if generation_id < 0 && group.is(GroupState::Empty) {
        return None;
    }
    if generation_id >= 0 || !member_id.is_empty() || instance.is_some() {
        if let Some(code) = validate_current_member(group, member_id, instance) {
            return Some(code);
        }
        if generation_id != group.generation_id {
            return Some(errors::ILLEGAL_GENERATION);
        }
        None
    } else if !group.is(GroupState::Empty) {
        Some(errors::UNKNOWN_MEMBER_ID)
    } else {
        None
    }
}
