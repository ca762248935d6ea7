//! One KIP-848 consumer group: its members, the group epoch, the target assignment and each
//! member's progress towards it.
//!
//! The coordinator, not the members, decides the assignment. A change to the group (a member
//! joining, leaving or changing its subscription, or the subscribed topics changing) bumps the
//! group epoch; the next heartbeat computes a new target assignment for that epoch. Each
//! member then converges on its target on its own heartbeats ([`reconcile`]): it first gives
//! up the partitions it must lose, and only gets a partition once its previous owner has
//! released it, so no partition is ever consumed by two members and no member stops for
//! another's rebalance.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::consumer_group_records::{
    CurrentAssignmentValue, MemberMetadataValue, RegularExpressionValue, TopicPartitions,
};

/// A member's reconciliation state (Kafka's `MemberState`, persisted as its byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// The member owns its whole assignment for its epoch.
    Stable = 0,
    /// The member must give up partitions before it can move to the next epoch.
    UnrevokedPartitions = 1,
    /// Part of the member's target is still owned by another member.
    UnreleasedPartitions = 2,
}

impl MemberState {
    pub fn from_byte(b: i8) -> MemberState {
        match b {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

/// The epoch a static member leaves with when it means to come back.
pub const LEAVE_STATIC_EPOCH: i32 = -2;
pub const LEAVE_EPOCH: i32 = -1;

#[derive(Clone, Debug)]
pub struct ConsumerGroupMember {
    pub member_id: String,
    pub metadata: MemberMetadataValue,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// Partitions the member may consume now.
    pub assigned: TopicPartitions,
    /// Partitions the member still owns but must give up.
    pub pending_revocation: TopicPartitions,
    /// When the member is fenced unless it heartbeats.
    pub session_deadline: Instant,
    /// When a member that has not revoked its partitions is fenced.
    pub rebalance_deadline: Option<Instant>,
}

impl ConsumerGroupMember {
    pub fn new(member_id: String, now: Instant) -> ConsumerGroupMember {
        ConsumerGroupMember {
            member_id,
            metadata: MemberMetadataValue {
                rebalance_timeout_ms: -1,
                ..Default::default()
            },
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: TopicPartitions::new(),
            pending_revocation: TopicPartitions::new(),
            session_deadline: now,
            rebalance_deadline: None,
        }
    }

    pub fn instance_id(&self) -> Option<&str> {
        self.metadata.instance_id.as_deref()
    }

    pub fn current_assignment(&self) -> CurrentAssignmentValue {
        CurrentAssignmentValue {
            member_epoch: self.member_epoch,
            previous_member_epoch: self.previous_member_epoch,
            state: self.state as i8,
            assigned: self.assigned.clone(),
            pending_revocation: self.pending_revocation.clone(),
        }
    }

    pub fn apply_current_assignment(&mut self, v: CurrentAssignmentValue) {
        self.member_epoch = v.member_epoch;
        self.previous_member_epoch = v.previous_member_epoch;
        self.state = MemberState::from_byte(v.state);
        self.assigned = v.assigned;
        self.pending_revocation = v.pending_revocation;
    }

    /// Whether the member has reached `epoch` with nothing left to revoke or receive.
    pub fn is_reconciled_to(&self, epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == epoch
    }

    fn set_epoch(&mut self, epoch: i32) {
        if epoch != self.member_epoch {
            self.previous_member_epoch = self.member_epoch;
            self.member_epoch = epoch;
        }
    }
}

/// Kafka's consumer group states, as ListGroups and ConsumerGroupDescribe name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch is ahead of the target assignment.
    Assigning,
    /// Some member has not reached the target assignment.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// What a subscription regex resolved to, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedRegex {
    pub topics: BTreeSet<String>,
    pub value: RegularExpressionValue,
}

/// Which topics a subscription regex may resolve to: those the member whose heartbeat last
/// came may DESCRIBE, as Kafka filters them with the authorizer.
#[derive(Clone)]
pub struct TopicFilter(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopicFilter")
    }
}

#[derive(Clone, Debug, Default)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    /// Hash of the subscribed topics' ids and partition counts at the last epoch bump.
    pub metadata_hash: i64,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerGroupMember>,
    /// Each member's target partitions at `assignment_epoch`.
    pub target: BTreeMap<String, TopicPartitions>,
    /// Subscription regexes of members, with the topics each matches.
    pub regexes: BTreeMap<String, ResolvedRegex>,
    /// The topics regexes may resolve to, from the last heartbeat (none: all of them).
    pub regex_filter: Option<TopicFilter>,
}

impl ConsumerGroup {
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member id holding a static instance id.
    pub fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.instance_id() == Some(instance_id))
            .map(|m| m.member_id.as_str())
    }

    /// Whether any member (assigned or still revoking) owns the partition.
    pub fn is_owned(&self, topic: &Uuid, partition: i32) -> bool {
        self.members.values().any(|m| {
            m.assigned.get(topic).is_some_and(|p| p.contains(&partition))
                || m.pending_revocation.get(topic).is_some_and(|p| p.contains(&partition))
        })
    }

    /// The topic names a member subscribes to: its list plus what its regex matches.
    pub fn member_topics(&self, member: &ConsumerGroupMember) -> BTreeSet<String> {
        let mut topics: BTreeSet<String> = member.metadata.subscribed_topic_names.iter().cloned().collect();
        if let Some(resolved) = member
            .metadata
            .subscribed_topic_regex
            .as_ref()
            .and_then(|r| self.regexes.get(r))
        {
            topics.extend(resolved.topics.iter().cloned());
        }
        topics
    }

    /// Every topic name some member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members.values().flat_map(|m| self.member_topics(m)).collect()
    }

    /// Drops resolutions no member's subscription uses any more; returns the dropped regexes.
    pub fn unused_regexes(&self) -> Vec<String> {
        self.regexes
            .keys()
            .filter(|r| {
                !self
                    .members
                    .values()
                    .any(|m| m.metadata.subscribed_topic_regex.as_deref() == Some(r.as_str()))
            })
            .cloned()
            .collect()
    }

    /// The server assignor most members ask for, or `default` when none asks.
    pub fn preferred_assignor<'a>(&'a self, default: &'a str) -> &'a str {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.metadata.server_assignor.as_deref() {
                *counts.entry(a).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map_or(default, |(name, _)| name)
    }
}

/// Moves `member` one step towards `target` (its partitions at `target_epoch`), as Kafka's
/// `CurrentAssignmentBuilder` does. `owned` is what the member reported owning in this
/// heartbeat (`None` when it did not say); `owned_by_any` tells whether a partition is still
/// held by some member.
pub fn reconcile(
    member: &ConsumerGroupMember,
    target_epoch: i32,
    target: &TopicPartitions,
    owned: Option<&TopicPartitions>,
    owned_by_any: &dyn Fn(&Uuid, i32) -> bool,
) -> ConsumerGroupMember {
    match member.state {
        MemberState::Stable if member.member_epoch == target_epoch => member.clone(),
        MemberState::Stable | MemberState::UnreleasedPartitions => {
            next_assignment(member, member.member_epoch, target_epoch, target, owned, owned_by_any)
        }
        MemberState::UnrevokedPartitions => {
            if still_owns_any(owned, &member.pending_revocation) {
                return member.clone();
            }
            next_assignment(
                member,
                member.member_epoch + 1,
                target_epoch,
                target,
                owned,
                owned_by_any,
            )
        }
    }
}

/// Whether the member still reports owning one of `revoking` (or did not report at all).
fn still_owns_any(owned: Option<&TopicPartitions>, revoking: &TopicPartitions) -> bool {
    let Some(owned) = owned else { return true };
    owned
        .iter()
        .any(|(topic, parts)| revoking.get(topic).is_some_and(|r| parts.iter().any(|p| r.contains(p))))
}

fn next_assignment(
    member: &ConsumerGroupMember,
    epoch: i32,
    target_epoch: i32,
    target: &TopicPartitions,
    owned: Option<&TopicPartitions>,
    owned_by_any: &dyn Fn(&Uuid, i32) -> bool,
) -> ConsumerGroupMember {
    let mut assigned = TopicPartitions::new();
    let mut revoking = TopicPartitions::new();
    let mut to_assign = TopicPartitions::new();
    let mut unreleased = false;
    let topics: BTreeSet<&Uuid> = target.keys().chain(member.assigned.keys()).collect();
    for topic in topics {
        let want = target.get(topic).cloned().unwrap_or_default();
        let have = member.assigned.get(topic).cloned().unwrap_or_default();
        let keep: BTreeSet<i32> = have.intersection(&want).copied().collect();
        let revoke: BTreeSet<i32> = have.difference(&keep).copied().collect();
        let mut add = BTreeSet::new();
        for p in want.difference(&keep) {
            if owned_by_any(topic, *p) {
                unreleased = true;
            } else {
                add.insert(*p);
            }
        }
        if !keep.is_empty() {
            assigned.insert(*topic, keep);
        }
        if !revoke.is_empty() {
            revoking.insert(*topic, revoke);
        }
        if !add.is_empty() {
            to_assign.insert(*topic, add);
        }
    }
    let mut next = member.clone();
    if !revoking.is_empty() && still_owns_any(owned, &revoking) {
        next.state = MemberState::UnrevokedPartitions;
        next.set_epoch(epoch);
        next.assigned = assigned;
        next.pending_revocation = revoking;
        return next;
    }
    for (topic, parts) in to_assign {
        assigned.entry(topic).or_default().extend(parts);
    }
    next.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    next.set_epoch(target_epoch);
    next.assigned = assigned;
    next.pending_revocation = TopicPartitions::new();
    next
}

/// A 64-bit FNV-1a hash of the subscribed topics' names, ids and partition counts: a change
/// of any of them (a topic created, deleted or grown) bumps the group epoch.
pub fn metadata_hash(topics: &[(String, Uuid, i32)]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (name, id, partitions) in topics {
        feed(name.as_bytes());
        feed(&[0]);
        feed(id.as_bytes());
        feed(&partitions.to_be_bytes());
    }
    h as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(list: &[(u128, &[i32])]) -> TopicPartitions {
        list.iter()
            .map(|(t, ps)| (Uuid::from_u128(*t), ps.iter().copied().collect()))
            .collect()
    }

    fn member(epoch: i32, assigned: TopicPartitions) -> ConsumerGroupMember {
        let mut m = ConsumerGroupMember::new("m".into(), Instant::now());
        m.member_epoch = epoch;
        m.assigned = assigned;
        m
    }

    #[test]
    fn a_new_member_gets_free_partitions_and_waits_for_unreleased_ones() {
        let m = member(0, TopicPartitions::new());
        let target = tp(&[(1, &[0, 1])]);
        let next = reconcile(&m, 3, &target, Some(&TopicPartitions::new()), &|_, p| p == 1);
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.state, MemberState::UnreleasedPartitions);
        assert_eq!(next.assigned, tp(&[(1, &[0])]));
        // Once partition 1 is released the member completes.
        let done = reconcile(&next, 3, &target, None, &|_, _| false);
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.assigned, target);
    }

    #[test]
    fn partitions_are_revoked_before_the_epoch_moves_on() {
        let m = member(2, tp(&[(1, &[0, 1, 2])]));
        let target = tp(&[(1, &[0])]);
        let owned = tp(&[(1, &[0, 1, 2])]);
        let next = reconcile(&m, 3, &target, Some(&owned), &|_, _| false);
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 2);
        assert_eq!(next.assigned, tp(&[(1, &[0])]));
        assert_eq!(next.pending_revocation, tp(&[(1, &[1, 2])]));
        // Still reporting partition 2: nothing moves.
        let same = reconcile(&next, 3, &target, Some(&tp(&[(1, &[0, 2])])), &|_, _| false);
        assert_eq!(same.state, MemberState::UnrevokedPartitions);
        // Revoked: the member moves to the target epoch.
        let done = reconcile(&next, 3, &target, Some(&tp(&[(1, &[0])])), &|_, _| false);
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.member_epoch, 3);
        assert_eq!(done.previous_member_epoch, 2);
        assert!(done.pending_revocation.is_empty());
    }

    #[test]
    fn group_state_follows_epochs_and_members() {
        let mut g = ConsumerGroup::default();
        assert_eq!(g.state(), ConsumerGroupState::Empty);
        g.group_epoch = 1;
        g.members.insert("m".into(), member(0, TopicPartitions::new()));
        assert_eq!(g.state(), ConsumerGroupState::Assigning);
        g.assignment_epoch = 1;
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);
        g.members.get_mut("m").unwrap().member_epoch = 1;
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn metadata_hash_changes_with_partitions() {
        let id = Uuid::from_u128(5);
        let a = metadata_hash(&[("t".into(), id, 3)]);
        assert_ne!(a, metadata_hash(&[("t".into(), id, 4)]));
        assert_eq!(a, metadata_hash(&[("t".into(), id, 3)]));
    }
}
