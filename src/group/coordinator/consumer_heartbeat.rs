//! ConsumerGroupHeartbeat (KIP-848): joining, leaving and staying in a consumer group, with
//! the coordinator computing assignments; and the group's timers (session and rebalance
//! timeouts, subscribed topics changing).
//!
//! Every change is computed on a copy of the group, written to `__consumer_offsets` as
//! Kafka's records, and applied only if the write succeeded; the reply waits for the write to
//! be durable, so a restart replays exactly what members were told.

use std::collections::BTreeSet;

use regex::Regex;
use uuid::Uuid;

use super::*;
use crate::group::assignor::{self, MemberSpec};
use crate::group::consumer_group::{
    self, ConsumerGroup, ConsumerGroupMember, LEAVE_EPOCH, LEAVE_STATIC_EPOCH, MemberState, ResolvedRegex,
};
use crate::group::consumer_group_records::{
    self as records, ConsumerGroupKey, GroupEpochValue, RegularExpressionValue, TopicPartitions,
};

/// A ConsumerGroupHeartbeat request; `None` fields did not change since the last one.
#[derive(Clone, Debug, Default)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<TopicPartitions>,
    pub client_id: String,
    pub client_host: String,
    /// The request version: from v1 the client names itself (KIP-1082).
    pub version: i16,
    /// The topics the member may DESCRIBE, with an authorizer.
    pub describable: Option<consumer_group::TopicFilter>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerHeartbeatResult {
    pub error: i16,
    pub message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The partitions the member may consume, when they changed or it asked in full.
    pub assignment: Option<TopicPartitions>,
}

impl ConsumerHeartbeatResult {
    fn error(code: i16, message: impl Into<String>) -> ConsumerHeartbeatResult {
        ConsumerHeartbeatResult {
            error: code,
            message: Some(message.into()),
            ..Default::default()
        }
    }
}

pub(super) type Records = Vec<(Vec<u8>, Option<Vec<u8>>)>;

pub(super) fn put(records: &mut Records, key: ConsumerGroupKey, value: Vec<u8>) {
    records.push((key.encode(), Some(value)));
}

pub(super) fn tombstone(records: &mut Records, key: ConsumerGroupKey) {
    records.push((key.encode(), None));
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
fn validate(req: &ConsumerHeartbeat) -> Result<(), String> {
    if req.group_id.is_empty() {
        return Err("GroupId can't be empty.".into());
    }
    if req.instance_id.as_deref() == Some("") {
        return Err("InstanceId can't be empty.".into());
    }
    if req.rack_id.as_deref() == Some("") {
        return Err("RackId can't be empty.".into());
    }
    match req.member_epoch {
        e if e > 0 || e == LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return Err("MemberId can't be empty.".into());
            }
        }
        0 => {
            if req.version >= 1 && req.member_id.is_empty() {
                return Err("MemberId can't be empty.".into());
            }
            if req.rebalance_timeout_ms == -1 {
                return Err("RebalanceTimeoutMs must be provided in first request.".into());
            }
            if !req.owned.as_ref().is_some_and(|o| o.is_empty()) {
                return Err("TopicPartitions must be empty when (re-)joining.".into());
            }
            let names = req.subscribed_topic_names.as_ref().is_some_and(|n| !n.is_empty());
            if !names && req.subscribed_topic_regex.is_none() {
                return Err("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.".into());
            }
        }
        LEAVE_STATIC_EPOCH => {
            if req.member_id.is_empty() {
                return Err("MemberId can't be empty.".into());
            }
            if req.instance_id.is_none() {
                return Err("InstanceId can't be null.".into());
            }
        }
        _ => return Err("MemberEpoch is invalid.".into()),
    }
    Ok(())
}

/// Compiles a subscription regex with RE2 syntax, matching whole topic names as Java's
/// `Matcher.matches` does.
fn compile(regex: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{regex})$"))
}

impl GroupCoordinator {
    fn heartbeat_interval_ms(&self) -> i32 {
        self.config.consumer_heartbeat_interval_ms
    }

    /// ConsumerGroupHeartbeat. The reply waits for the returned write, if any.
    pub fn consumer_group_heartbeat(&self, req: ConsumerHeartbeat) -> (ConsumerHeartbeatResult, Option<Durable>) {
        let fail = |code: i16, message: String| (ConsumerHeartbeatResult::error(code, message), None);
        if let Err(message) = validate(&req) {
            return fail(errors::INVALID_REQUEST, message);
        }
        if let Some(a) = req.server_assignor.as_deref()
            && !self.config.consumer_assignors.iter().any(|n| n == a)
        {
            return fail(
                errors::UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {a} is not supported. Supported assignors: {}.",
                    self.config.consumer_assignors.join(", ")
                ),
            );
        }
        if let Some(re) = req.subscribed_topic_regex.as_deref()
            && let Err(e) = compile(re)
        {
            return fail(
                errors::INVALID_REGULAR_EXPRESSION,
                format!("SubscribedTopicRegex `{re}` is not a valid regular expression: {e}."),
            );
        }
        if !self.is_active() {
            return fail(
                errors::COORDINATOR_NOT_AVAILABLE,
                "The coordinator is not available.".into(),
            );
        }
        let joining = req.member_epoch == 0;
        let group_ref = if joining {
            self.get_or_create(&req.group_id)
        } else {
            match self.get(&req.group_id) {
                Some(g) => g,
                None => {
                    return fail(
                        errors::GROUP_ID_NOT_FOUND,
                        format!("Consumer group {} not found.", req.group_id),
                    );
                }
            }
        };
        let mut group = group_ref.lock();
        if group.is(GroupState::Dead) {
            return fail(
                errors::COORDINATOR_NOT_AVAILABLE,
                "The coordinator is not available.".into(),
            );
        }
        let mut records = Records::new();
        let mut cg = match &group.consumer {
            Some(cg) => (**cg).clone(),
            // An empty classic group (offsets only) becomes a consumer group, keeping its
            // offsets; one with classic members stays classic.
            None if joining && group.is(GroupState::Empty) => {
                if group.generation_id > 0 || group.protocol_type.is_some() {
                    records.push((offsets_log::group_key(&group.group_id), None));
                }
                ConsumerGroup::default()
            }
            None => {
                return fail(
                    errors::GROUP_ID_NOT_FOUND,
                    format!("Group {} is not a consumer group.", req.group_id),
                );
            }
        };
        let now = Instant::now();
        let result = if req.member_epoch == LEAVE_EPOCH || req.member_epoch == LEAVE_STATIC_EPOCH {
            self.consumer_leave(&group.group_id, &mut cg, &req, &mut records)
        } else {
            self.consumer_join_or_stay(&group.group_id, &mut cg, &req, now, &mut records)
        };
        let result = match result {
            Ok(r) => r,
            Err((code, message)) => return fail(code, message),
        };
        let durable = if records.is_empty() {
            None
        } else {
            match self.append(&group.group_id, &records) {
                Ok(d) => Some(d),
                Err(code) => return fail(code, "The coordinator could not write the group's state.".into()),
            }
        };
        if group.consumer.is_none() {
            group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_string());
            group.protocol_name = None;
            group.generation_id = 0;
        }
        group.consumer = Some(Box::new(cg));
        (result, durable)
    }

    fn consumer_leave(
        &self,
        group_id: &str,
        cg: &mut ConsumerGroup,
        req: &ConsumerHeartbeat,
        records: &mut Records,
    ) -> Result<ConsumerHeartbeatResult, (i16, String)> {
        let member_id = match req.instance_id.as_deref() {
            None => {
                if !cg.members.contains_key(&req.member_id) {
                    return Err(unknown_member(group_id, &req.member_id));
                }
                req.member_id.clone()
            }
            Some(instance) => {
                let holder = cg
                    .static_member(instance)
                    .ok_or_else(|| (errors::UNKNOWN_MEMBER_ID, format!("Instance id {instance} is unknown.")))?
                    .to_string();
                if holder != req.member_id {
                    return Err(fenced_instance(&req.member_id, instance, &holder));
                }
                holder
            }
        };
        if req.member_epoch == LEAVE_STATIC_EPOCH {
            // The static member keeps its partitions until it rejoins or its session expires.
            let m = cg.members.get_mut(&member_id).expect("checked above");
            m.member_epoch = LEAVE_STATIC_EPOCH;
            m.pending_revocation.clear();
            m.rebalance_deadline = None;
            put(
                records,
                ConsumerGroupKey::CurrentMemberAssignment {
                    group: group_id.to_string(),
                    member: member_id.clone(),
                },
                records::encode_current_assignment(&m.current_assignment()),
            );
            tracing::info!(group = group_id, member = %member_id, "static member temporarily left the consumer group");
        } else {
            tracing::info!(group = group_id, member = %member_id, "member left the consumer group");
            self.fence_consumer_member(group_id, cg, &member_id, records);
        }
        Ok(ConsumerHeartbeatResult {
            member_id: Some(member_id),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            ..Default::default()
        })
    }

    fn consumer_join_or_stay(
        &self,
        group_id: &str,
        cg: &mut ConsumerGroup,
        req: &ConsumerHeartbeat,
        now: Instant,
        records: &mut Records,
    ) -> Result<ConsumerHeartbeatResult, (i16, String)> {
        let joining = req.member_epoch == 0;
        if cg.members.len() >= self.config.consumer_max_size
            && (req.member_id.is_empty() || !cg.members.contains_key(&req.member_id))
        {
            return Err((
                errors::GROUP_MAX_SIZE_REACHED,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    self.config.consumer_max_size
                ),
            ));
        }
        let member_id = if req.member_id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            req.member_id.clone()
        };
        // Find (or make) the member this heartbeat speaks for.
        let existing = match (req.instance_id.as_deref(), joining) {
            (None, true) => cg.members.get(&member_id).cloned(),
            (None, false) => {
                let m = cg
                    .members
                    .get(&member_id)
                    .ok_or_else(|| unknown_member(group_id, &member_id))?;
                check_member_epoch(m, req)?;
                Some(m.clone())
            }
            (Some(instance), true) => match cg.static_member(instance).map(str::to_string) {
                None => cg.members.get(&member_id).cloned(),
                Some(holder) => {
                    let old = cg.members[&holder].clone();
                    if old.member_epoch != LEAVE_STATIC_EPOCH && holder != member_id {
                        return Err((
                            errors::UNRELEASED_INSTANCE_ID,
                            format!(
                                "Static member {member_id} with instance id {instance} cannot join the group because the instance id is owned by {holder} member."
                            ),
                        ));
                    }
                    // The new incarnation takes over the old one's partitions and target.
                    let mut replacement = old.clone();
                    replacement.member_id = member_id.clone();
                    replacement.member_epoch = 0;
                    replacement.previous_member_epoch = 0;
                    if holder != member_id {
                        let target = cg.target.remove(&holder);
                        self.remove_member_records(group_id, cg, &holder, records);
                        if let Some(t) = target {
                            cg.target.insert(member_id.clone(), t.clone());
                            put(
                                records,
                                ConsumerGroupKey::TargetAssignmentMember {
                                    group: group_id.to_string(),
                                    member: member_id.clone(),
                                },
                                records::encode_target_assignment(&t),
                            );
                        }
                    }
                    tracing::info!(group = group_id, member = %member_id, replaced = %holder, instance, "static member rejoined the consumer group");
                    Some(replacement)
                }
            },
            (Some(instance), false) => {
                let holder = cg
                    .static_member(instance)
                    .ok_or_else(|| (errors::UNKNOWN_MEMBER_ID, format!("Instance id {instance} is unknown.")))?;
                if holder != member_id {
                    return Err(fenced_instance(&member_id, instance, holder));
                }
                let m = &cg.members[&member_id];
                check_member_epoch(m, req)?;
                Some(m.clone())
            }
        };
        let is_new = existing.is_none();
        let mut member = existing.unwrap_or_else(|| ConsumerGroupMember::new(member_id.clone(), now));
        if is_new {
            tracing::info!(group = group_id, member = %member_id, "member joins the consumer group using the consumer protocol");
        }
        // 1. The member's subscription and identity.
        let before = member.metadata.clone();
        let md = &mut member.metadata;
        if let Some(i) = &req.instance_id {
            md.instance_id = Some(i.clone());
        }
        if let Some(r) = &req.rack_id {
            md.rack_id = Some(r.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            md.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(a) = &req.server_assignor {
            md.server_assignor = Some(a.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            md.subscribed_topic_names = names.clone();
        }
        if let Some(re) = &req.subscribed_topic_regex {
            md.subscribed_topic_regex = if re.is_empty() { None } else { Some(re.clone()) };
        }
        md.client_id = req.client_id.clone();
        md.client_host = req.client_host.clone();
        let subscription_changed = before.subscribed_topic_names != member.metadata.subscribed_topic_names
            || before.subscribed_topic_regex != member.metadata.subscribed_topic_regex
            || before.server_assignor != member.metadata.server_assignor;
        if is_new || member.metadata != before {
            put(
                records,
                ConsumerGroupKey::MemberMetadata {
                    group: group_id.to_string(),
                    member: member_id.clone(),
                },
                records::encode_member_metadata(&member.metadata),
            );
        }
        member.session_deadline = now + Duration::from_millis(self.config.consumer_session_timeout_ms as u64);
        let previous_assigned = if is_new { None } else { Some(member.assigned.clone()) };
        cg.members.insert(member_id.clone(), member);
        // 2. A new epoch when the subscriptions or the subscribed topics changed.
        let mut bump = is_new || subscription_changed;
        cg.regex_filter = req.describable.clone();
        bump |= self.refresh_regexes(group_id, cg, records);
        bump |= self.refresh_metadata_hash(cg);
        if bump {
            self.bump_group_epoch(group_id, cg, records);
        }
        // 3. A new target assignment for a new epoch.
        if cg.group_epoch > cg.assignment_epoch {
            self.update_target_assignment(group_id, cg, records);
        }
        // 4. The member moves towards its target.
        let target = cg.target.get(&member_id).cloned().unwrap_or_default();
        let current = cg.members[&member_id].clone();
        let next = if current.is_reconciled_to(cg.assignment_epoch) {
            current.clone()
        } else {
            let owned = |t: &Uuid, p: i32| cg.is_owned(t, p);
            consumer_group::reconcile(&current, cg.assignment_epoch, &target, req.owned.as_ref(), &owned)
        };
        if next.member_epoch != current.member_epoch
            || next.previous_member_epoch != current.previous_member_epoch
            || next.state != current.state
            || next.assigned != current.assigned
            || next.pending_revocation != current.pending_revocation
            || is_new
        {
            put(
                records,
                ConsumerGroupKey::CurrentMemberAssignment {
                    group: group_id.to_string(),
                    member: member_id.clone(),
                },
                records::encode_current_assignment(&next.current_assignment()),
            );
        }
        let mut next = next;
        next.rebalance_deadline = match next.state {
            MemberState::UnrevokedPartitions => current.rebalance_deadline.or(Some(
                now + Duration::from_millis(next.metadata.rebalance_timeout_ms.max(0) as u64),
            )),
            _ => None,
        };
        let full = joining
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned.is_some());
        let assignment = (full || previous_assigned.as_ref() != Some(&next.assigned)).then(|| next.assigned.clone());
        let result = ConsumerHeartbeatResult {
            error: errors::NONE,
            message: None,
            member_id: Some(member_id.clone()),
            member_epoch: next.member_epoch,
            heartbeat_interval_ms: self.heartbeat_interval_ms(),
            assignment,
        };
        cg.members.insert(member_id, next);
        Ok(result)
    }

    fn bump_group_epoch(&self, group_id: &str, cg: &mut ConsumerGroup, records: &mut Records) {
        cg.group_epoch += 1;
        put(
            records,
            ConsumerGroupKey::Metadata {
                group: group_id.to_string(),
            },
            records::encode_group_epoch(&GroupEpochValue {
                epoch: cg.group_epoch,
                metadata_hash: cg.metadata_hash,
            }),
        );
        tracing::info!(group = group_id, epoch = cg.group_epoch, "bumped consumer group epoch");
    }

    /// The subscribed topics that exist: name, id and partition count, by name.
    pub(super) fn subscribed_topic_metadata(&self, cg: &ConsumerGroup) -> Vec<(String, Uuid, i32)> {
        cg.subscribed_topics()
            .into_iter()
            .filter_map(|name| self.topics.get(&name).map(|t| (name, t.id, t.partitions)))
            .collect()
    }

    /// Whether the subscribed topics changed (created, deleted, grown) since the last epoch.
    fn refresh_metadata_hash(&self, cg: &mut ConsumerGroup) -> bool {
        let hash = consumer_group::metadata_hash(&self.subscribed_topic_metadata(cg));
        if hash == cg.metadata_hash {
            return false;
        }
        cg.metadata_hash = hash;
        true
    }

    /// Resolves members' regexes against the current topics (internal topics never match);
    /// drops unused ones. Returns whether a resolution changed.
    fn refresh_regexes(&self, group_id: &str, cg: &mut ConsumerGroup, records: &mut Records) -> bool {
        let mut changed = false;
        for regex in cg.unused_regexes() {
            cg.regexes.remove(&regex);
            tombstone(
                records,
                ConsumerGroupKey::RegularExpression {
                    group: group_id.to_string(),
                    regex,
                },
            );
        }
        let wanted: BTreeSet<String> = cg
            .members
            .values()
            .filter_map(|m| m.metadata.subscribed_topic_regex.clone())
            .collect();
        if wanted.is_empty() {
            return false;
        }
        let all = self.topics.all();
        let describable = cg.regex_filter.clone();
        for regex in wanted {
            let Ok(compiled) = compile(&regex) else { continue };
            let topics: BTreeSet<String> = all
                .iter()
                .filter(|t| !t.is_internal() && compiled.is_match(&t.name))
                .filter(|t| describable.as_ref().is_none_or(|f| (f.0)(&t.name)))
                .map(|t| t.name.clone())
                .collect();
            if cg.regexes.get(&regex).is_some_and(|r| r.topics == topics) {
                continue;
            }
            let value = RegularExpressionValue {
                topics: topics.iter().cloned().collect(),
                version: self.topics.metadata_log_end_offset(),
                timestamp: now_ms(),
            };
            put(
                records,
                ConsumerGroupKey::RegularExpression {
                    group: group_id.to_string(),
                    regex: regex.clone(),
                },
                records::encode_regular_expression(&value),
            );
            tracing::info!(group = group_id, regex = %regex, topics = ?topics, "subscription regex resolved");
            cg.regexes.insert(regex, ResolvedRegex { topics, value });
            changed = true;
        }
        changed
    }

    fn update_target_assignment(&self, group_id: &str, cg: &mut ConsumerGroup, records: &mut Records) {
        let metadata = self.subscribed_topic_metadata(cg);
        let ids: HashMap<&str, Uuid> = metadata.iter().map(|(n, id, _)| (n.as_str(), *id)).collect();
        let partitions: BTreeMap<Uuid, i32> = metadata.iter().map(|(_, id, p)| (*id, *p)).collect();
        let specs: Vec<MemberSpec<'_>> = cg
            .members
            .values()
            .map(|m| MemberSpec {
                member_id: &m.member_id,
                topics: cg
                    .member_topics(m)
                    .iter()
                    .filter_map(|n| ids.get(n.as_str()).copied())
                    .collect(),
                previous: cg.target.get(&m.member_id),
            })
            .collect();
        let default = self
            .config
            .consumer_assignors
            .first()
            .map_or(assignor::UNIFORM, |s| s.as_str());
        let assignor_name = cg.preferred_assignor(default).to_string();
        let target = assignor::assign(&assignor_name, &specs, &partitions);
        for (member, parts) in &target {
            if cg.target.get(member) != Some(parts) {
                put(
                    records,
                    ConsumerGroupKey::TargetAssignmentMember {
                        group: group_id.to_string(),
                        member: member.clone(),
                    },
                    records::encode_target_assignment(parts),
                );
            }
        }
        cg.target = target;
        cg.assignment_epoch = cg.group_epoch;
        put(
            records,
            ConsumerGroupKey::TargetAssignmentMetadata {
                group: group_id.to_string(),
            },
            records::encode_assignment_epoch(cg.assignment_epoch),
        );
    }

    /// Tombstones for a member's records, and the member out of the group.
    fn remove_member_records(&self, group_id: &str, cg: &mut ConsumerGroup, member_id: &str, records: &mut Records) {
        cg.members.remove(member_id);
        cg.target.remove(member_id);
        let (group, member) = (group_id.to_string(), member_id.to_string());
        tombstone(
            records,
            ConsumerGroupKey::CurrentMemberAssignment {
                group: group.clone(),
                member: member.clone(),
            },
        );
        tombstone(
            records,
            ConsumerGroupKey::TargetAssignmentMember {
                group: group.clone(),
                member: member.clone(),
            },
        );
        tombstone(records, ConsumerGroupKey::MemberMetadata { group, member });
    }

    /// Removes a member (left, or its session or rebalance timed out) and bumps the epoch so
    /// its partitions are reassigned.
    fn fence_consumer_member(&self, group_id: &str, cg: &mut ConsumerGroup, member_id: &str, records: &mut Records) {
        self.remove_member_records(group_id, cg, member_id, records);
        self.refresh_regexes(group_id, cg, records);
        self.refresh_metadata_hash(cg);
        self.bump_group_epoch(group_id, cg, records);
    }

    /// The consumer group's deadlines and subscribed-topic changes, from the coordinator's tick.
    pub(super) fn tick_consumer_group(&self, group: &mut GroupMetadata, now: Instant) {
        let Some(current) = group.consumer.as_deref() else {
            return;
        };
        if current.members.is_empty() {
            return;
        }
        let group_id = group.group_id.clone();
        let mut cg = current.clone();
        let mut records = Records::new();
        let expired: Vec<(String, &'static str)> = cg
            .members
            .values()
            .filter_map(|m| {
                if now >= m.session_deadline {
                    Some((m.member_id.clone(), "its session expired"))
                } else if m.rebalance_deadline.is_some_and(|d| now >= d) {
                    Some((
                        m.member_id.clone(),
                        "it did not revoke its partitions within the rebalance timeout",
                    ))
                } else {
                    None
                }
            })
            .collect();
        for (member_id, why) in expired {
            tracing::info!(group = %group_id, member = %member_id, "member fenced from the consumer group: {why}");
            self.fence_consumer_member(&group_id, &mut cg, &member_id, &mut records);
        }
        if !cg.members.is_empty() {
            let regexes = self.refresh_regexes(&group_id, &mut cg, &mut records);
            if (self.refresh_metadata_hash(&mut cg) || regexes) && cg.group_epoch == current.group_epoch {
                self.bump_group_epoch(&group_id, &mut cg, &mut records);
            }
        }
        if records.is_empty() {
            return;
        }
        // A failed write leaves the group as it was; the next tick tries again.
        if self.append(&group_id, &records).is_ok() {
            group.consumer = Some(Box::new(cg));
        }
    }
}

fn unknown_member(group_id: &str, member_id: &str) -> (i16, String) {
    (
        errors::UNKNOWN_MEMBER_ID,
        format!("Member {member_id} is not a member of group {group_id}."),
    )
}

fn fenced_instance(member_id: &str, instance: &str, holder: &str) -> (i16, String) {
    (
        errors::FENCED_INSTANCE_ID,
        format!("Static member {member_id} with instance id {instance} was fenced by member {holder}."),
    )
}

/// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`: a member may lag one epoch behind only
/// when the reply that bumped it was lost, which shows as owning a subset of its assignment.
fn check_member_epoch(member: &ConsumerGroupMember, req: &ConsumerHeartbeat) -> Result<(), (i16, String)> {
    let (got, have) = (req.member_epoch, member.member_epoch);
    let fenced = || {
        (
            errors::FENCED_MEMBER_EPOCH,
            format!(
                "The consumer group member has a {} member epoch ({got}) than the one known by the group coordinator ({have}). The member must abandon all its partitions and rejoin.",
                if got > have { "greater" } else { "smaller" }
            ),
        )
    };
    if got > have {
        return Err(fenced());
    }
    if got < have {
        let subset = req.owned.as_ref().is_some_and(|owned| {
            owned
                .iter()
                .all(|(t, ps)| member.assigned.get(t).is_some_and(|a| ps.iter().all(|p| a.contains(p))))
        });
        if got != member.previous_member_epoch || !subset {
            return Err(fenced());
        }
    }
    Ok(())
}
