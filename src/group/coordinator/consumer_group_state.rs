//! A consumer group seen from outside its heartbeats: ConsumerGroupDescribe, the member
//! checks of the offset APIs, the offline conversions to and from a classic group, and
//! replaying the group's records at start.

use super::consumer_heartbeat::{Records, tombstone};
use super::*;
use crate::group::assignor;
use crate::group::consumer_group::{ConsumerGroupMember, ResolvedRegex};
use crate::group::consumer_group_records::{self as records, TopicPartitions};

/// One member as ConsumerGroupDescribe shows it.
#[derive(Clone, Debug)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: TopicPartitions,
    pub target_assignment: TopicPartitions,
}

/// A consumer group as ConsumerGroupDescribe shows it.
#[derive(Clone, Debug)]
pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}

impl GroupCoordinator {
    /// ConsumerGroupDescribe of one group: GROUP_ID_NOT_FOUND for an unknown or classic group
    /// (clients then ask DescribeGroups), with Kafka's message.
    pub fn describe_consumer_group(&self, group_id: &str) -> Result<ConsumerGroupDescription, (i16, String)> {
        if group_id.is_empty() {
            return Err((errors::INVALID_GROUP_ID, "Group id can't be empty.".into()));
        }
        if !self.is_active() {
            return Err((errors::COORDINATOR_NOT_AVAILABLE, String::new()));
        }
        let not_found = || (errors::GROUP_ID_NOT_FOUND, format!("Group {group_id} not found."));
        let group = self.get(group_id).ok_or_else(not_found)?;
        let group = group.lock();
        if group.is(GroupState::Dead) {
            return Err(not_found());
        }
        let Some(cg) = group.consumer.as_deref() else {
            return Err((
                errors::GROUP_ID_NOT_FOUND,
                format!("Group {group_id} is not a consumer group."),
            ));
        };
        let default = self
            .config
            .consumer_assignors
            .first()
            .map_or(assignor::UNIFORM, |s| s.as_str());
        Ok(ConsumerGroupDescription {
            state: cg.state().name(),
            group_epoch: cg.group_epoch,
            assignment_epoch: cg.assignment_epoch,
            assignor_name: cg.preferred_assignor(default).to_string(),
            members: cg
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.metadata.instance_id.clone(),
                    rack_id: m.metadata.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.metadata.client_id.clone(),
                    client_host: m.metadata.client_host.clone(),
                    subscribed_topic_names: m.metadata.subscribed_topic_names.clone(),
                    subscribed_topic_regex: m.metadata.subscribed_topic_regex.clone(),
                    assignment: m.assigned.clone(),
                    target_assignment: cg.target.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
        })
    }
}

/// Kafka's `ConsumerGroup.validateOffsetCommit` / `validateOffsetFetch`: a request naming a
/// member must come from a current member at its current epoch; one without (epoch -1, from
/// an admin or a consumer outside group management) may fetch, and may commit only while the
/// group has no members.
pub(super) fn validate_consumer_member(cg: &ConsumerGroup, member_id: &str, epoch: i32, commit: bool) -> Option<i16> {
    if epoch < 0 && member_id.is_empty() {
        return (commit && !cg.members.is_empty()).then_some(errors::UNKNOWN_MEMBER_ID);
    }
    let Some(member) = cg.members.get(member_id) else {
        return Some(errors::UNKNOWN_MEMBER_ID);
    };
    (member.member_epoch != epoch).then_some(errors::STALE_MEMBER_EPOCH)
}

impl GroupCoordinator {
    /// A classic JoinGroup for a consumer group: an empty one becomes a classic group (its
    /// records tombstoned, its offsets kept); a non-empty one refuses the join with
    /// INCONSISTENT_GROUP_PROTOCOL, since classic members cannot join a consumer group here.
    pub(super) fn classic_join_of_consumer_group(&self, group: &mut GroupMetadata) -> Option<i16> {
        group.consumer.as_ref()?;
        if group.has_consumer_members() {
            return Some(errors::INCONSISTENT_GROUP_PROTOCOL);
        }
        self.drop_consumer_group(group).err()
    }

    /// Tombstones every record of an empty consumer group, which becomes a plain offsets holder
    /// (for a classic JoinGroup, or a group deletion).
    pub(super) fn drop_consumer_group(&self, group: &mut GroupMetadata) -> Result<Option<Durable>, i16> {
        let Some(cg) = group.consumer.as_deref() else {
            return Ok(None);
        };
        let g = group.group_id.clone();
        let mut records = Records::new();
        tombstone(
            &mut records,
            ConsumerGroupKey::TargetAssignmentMetadata { group: g.clone() },
        );
        for regex in cg.regexes.keys() {
            tombstone(
                &mut records,
                ConsumerGroupKey::RegularExpression {
                    group: g.clone(),
                    regex: regex.clone(),
                },
            );
        }
        tombstone(&mut records, ConsumerGroupKey::Metadata { group: g.clone() });
        let durable = self.append(&g, &records)?;
        group.consumer = None;
        group.protocol_type = None;
        Ok(Some(durable))
    }
}

/// Applies one consumer group record read back from `__consumer_offsets`.
pub(super) fn replay_record(
    group: &mut Option<ConsumerGroup>,
    key: ConsumerGroupKey,
    value: Option<&[u8]>,
) -> Result<(), offsets_log::SchemaError> {
    let now = Instant::now();
    if let ConsumerGroupKey::Metadata { .. } = key {
        match value {
            // The group's last record: the group is gone.
            None => *group = None,
            Some(v) => {
                let value = records::decode_group_epoch(v)?;
                let cg = group.get_or_insert_with(ConsumerGroup::default);
                cg.group_epoch = value.epoch;
                cg.metadata_hash = value.metadata_hash;
            }
        }
        return Ok(());
    }
    let cg = group.get_or_insert_with(ConsumerGroup::default);
    match (key, value) {
        (ConsumerGroupKey::Metadata { .. }, _) => {}
        (ConsumerGroupKey::MemberMetadata { member, .. }, Some(v)) => {
            let metadata = records::decode_member_metadata(v)?;
            cg.members
                .entry(member.clone())
                .or_insert_with(|| ConsumerGroupMember::new(member, now))
                .metadata = metadata;
        }
        (ConsumerGroupKey::MemberMetadata { member, .. }, None) => {
            cg.members.remove(&member);
        }
        (ConsumerGroupKey::CurrentMemberAssignment { member, .. }, Some(v)) => {
            let value = records::decode_current_assignment(v)?;
            cg.members
                .entry(member.clone())
                .or_insert_with(|| ConsumerGroupMember::new(member, now))
                .apply_current_assignment(value);
        }
        (ConsumerGroupKey::CurrentMemberAssignment { .. }, None) => {}
        (ConsumerGroupKey::TargetAssignmentMember { member, .. }, Some(v)) => {
            cg.target.insert(member, records::decode_target_assignment(v)?);
        }
        (ConsumerGroupKey::TargetAssignmentMember { member, .. }, None) => {
            cg.target.remove(&member);
        }
        (ConsumerGroupKey::TargetAssignmentMetadata { .. }, Some(v)) => {
            cg.assignment_epoch = records::decode_assignment_epoch(v)?;
        }
        (ConsumerGroupKey::TargetAssignmentMetadata { .. }, None) => {}
        (ConsumerGroupKey::RegularExpression { regex, .. }, Some(v)) => {
            let value = records::decode_regular_expression(v)?;
            let topics = value.topics.iter().cloned().collect();
            cg.regexes.insert(regex, ResolvedRegex { topics, value });
        }
        (ConsumerGroupKey::RegularExpression { regex, .. }, None) => {
            cg.regexes.remove(&regex);
        }
    }
    Ok(())
}
