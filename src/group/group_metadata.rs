//! One classic consumer group's state, named as Kafka's `GroupMetadata` and `MemberMetadata`:
//! its members and their protocols, the generation, the leader, the selected protocol, the
//! members' assignments and the group's committed offsets.
//!
//! ```text
//!            +------------------------------------------------------------+
//!            v                                                            |
//!  Empty --> PreparingRebalance --> CompletingRebalance --> Stable -------+
//!    ^            |  ^                    |                   |
//!    |            |  +--------------------+-------------------+  (join, leave, timeout)
//!    +------------+  (all members gone)
//!  any state --> Dead  (deleted, or expired with no offsets left)
//! ```
//!
//! This module only holds state and its invariants; the coordinator decides when to move
//! between states and what to persist. Members waiting for a JoinGroup or SyncGroup reply
//! hold the sending half of a channel; answering is sending on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;
use tokio::sync::oneshot;

use super::Durable;
use super::offsets_log::{GroupMetadataValue, MemberValue, OffsetCommitValue};

mod member_metadata;
pub use member_metadata::MemberMetadata;

/// Kafka's `ConsumerProtocol.PROTOCOL_TYPE`: groups of this type carry subscriptions the
/// broker can read (for OffsetDelete and offset expiry).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// The states a group may enter this one from.
    fn valid_previous(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }
}

/// A member as the leader sees it in its JoinGroup reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// What a JoinGroup request is answered with.
#[derive(Debug)]
pub struct JoinResult {
    pub error: i16,
    pub member_id: String,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinedMember>,
    pub skip_assignment: bool,
    /// The reply waits until this write is durable.
    pub durable: Option<Durable>,
}

impl JoinResult {
    pub fn error(member_id: impl Into<String>, error: i16) -> JoinResult {
        JoinResult {
            error,
            member_id: member_id.into(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            members: Vec::new(),
            skip_assignment: false,
            durable: None,
        }
    }
}

/// What a SyncGroup request is answered with.
#[derive(Debug)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
    pub durable: Option<Durable>,
}

impl SyncResult {
    pub fn error(error: i16) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
            durable: None,
        }
    }
}

pub type JoinCallback = oneshot::Sender<JoinResult>;
pub type SyncCallback = oneshot::Sender<SyncResult>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: Option<i64>,
}

impl From<OffsetCommitValue> for OffsetAndMetadata {
    fn from(v: OffsetCommitValue) -> Self {
        OffsetAndMetadata {
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata,
            commit_timestamp: v.commit_timestamp,
            expire_timestamp: v.expire_timestamp,
        }
    }
}

impl OffsetAndMetadata {
    pub fn to_value(&self) -> OffsetCommitValue {
        OffsetCommitValue {
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: self.metadata.clone(),
            commit_timestamp: self.commit_timestamp,
            expire_timestamp: self.expire_timestamp,
        }
    }
}

/// How a PreparingRebalance ends when its deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinPhase {
    /// A group that was empty waits `group.initial.rebalance.delay.ms` for more members,
    /// extended while members keep arriving, up to the rebalance timeout; it does not finish
    /// early.
    Initial { delay_ms: u64, remaining_ms: u64 },
    /// Finishes as soon as every member has rejoined, or at the rebalance timeout.
    Normal,
}

/// A member as DescribeGroups reports it.
#[derive(Clone, Debug)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

#[derive(Debug)]
pub struct GroupMetadata {
    pub group_id: String,
    state: GroupState,
    /// Wall-clock ms of the last state change (Kafka's `currentStateTimestamp`).
    pub state_timestamp: i64,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    /// In join order; the first is the natural leader.
    members: Vec<MemberMetadata>,
    /// Members told MEMBER_ID_REQUIRED that have not joined yet, with their expiry.
    pending_members: HashMap<String, Instant>,
    /// group.instance.id -> member id.
    static_members: HashMap<String, String>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pending_sync: HashSet<String>,
    /// A member joined a new group during its initial delay, which extends the delay.
    pub new_member_added: bool,
    pub join_deadline: Option<(Instant, JoinPhase)>,
    pub sync_deadline: Option<Instant>,
    /// Topics the members subscribe to (consumer protocol only; `None` when unknown).
    pub subscribed_topics: Option<HashSet<String>>,
    pub offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
    /// Commits written to `__consumer_offsets` but not yet fsynced: invisible to OffsetFetch
    /// (and every other reader) until durable, so no client acts on an offset a power loss
    /// could take back. [`Self::settle_offsets`] moves them into `offsets`.
    pub pending_offsets: BTreeMap<(String, i32), (OffsetAndMetadata, Durable)>,
    /// Offsets committed inside open transactions (TxnOffsetCommit), by producer id: they
    /// become commits when the transaction's COMMIT marker is written and vanish on ABORT.
    pub pending_txn_offsets: HashMap<i64, BTreeMap<(String, i32), OffsetAndMetadata>>,
    /// Set when this is a KIP-848 consumer group: its members and assignments live there, and
    /// the classic membership above stays empty.
    pub consumer: Option<Box<super::consumer_group::ConsumerGroup>>,
}

impl GroupMetadata {
    /// Makes visible the pending commits that are now durable.
    /// Whether an offset for `tp` waits for a transaction to end.
    pub fn has_pending_txn_offset(&self, tp: &(String, i32)) -> bool {
        self.pending_txn_offsets.values().any(|o| o.contains_key(tp))
    }

    pub fn settle_offsets(&mut self) {
        let durable: Vec<(String, i32)> = self
            .pending_offsets
            .iter()
            .filter(|(_, (_, d))| d.log.durable_offset() >= d.offset)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in durable {
            if let Some((value, _)) = self.pending_offsets.remove(&tp) {
                self.offsets.insert(tp, value);
            }
        }
    }

    pub fn new(group_id: impl Into<String>, now_ms: i64) -> GroupMetadata {
        GroupMetadata {
            group_id: group_id.into(),
            state: GroupState::Empty,
            state_timestamp: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: Vec::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            join_deadline: None,
            sync_deadline: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            pending_offsets: BTreeMap::new(),
            pending_txn_offsets: HashMap::new(),
            consumer: None,
        }
    }

    /// Whether a consumer group (KIP-848) has members.
    pub fn has_consumer_members(&self) -> bool {
        self.consumer.as_ref().is_some_and(|c| !c.members.is_empty())
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    /// Moves to `state`; a move Kafka's state machine does not allow is logged and refused.
    pub fn transition_to(&mut self, state: GroupState, now_ms: i64) -> bool {
        if !state.valid_previous().contains(&self.state) {
            tracing::error!(group = %self.group_id, from = self.state.name(), to = state.name(), "invalid group state transition refused");
            return false;
        }
        self.state = state;
        self.state_timestamp = now_ms;
        true
    }

    pub fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    // ---- members --------------------------------------------------------------------------

    pub fn members(&self) -> impl Iterator<Item = &MemberMetadata> {
        self.members.iter()
    }

    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut MemberMetadata> {
        self.members.iter_mut()
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn has(&self, member_id: &str) -> bool {
        self.members.iter().any(|m| m.member_id == member_id)
    }

    pub fn get(&self, member_id: &str) -> Option<&MemberMetadata> {
        self.members.iter().find(|m| m.member_id == member_id)
    }

    pub fn get_mut(&mut self, member_id: &str) -> Option<&mut MemberMetadata> {
        self.members.iter_mut().find(|m| m.member_id == member_id)
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub fn num_awaiting_join(&self) -> usize {
        self.members.iter().filter(|m| m.is_awaiting_join()).count()
    }

    /// Kafka's `hasAllMembersJoined`: every member rejoined and no one holds a fresh member id.
    pub fn has_all_members_joined(&self) -> bool {
        self.members.iter().all(|m| m.is_awaiting_join()) && self.pending_members.is_empty()
    }

    /// The largest rebalance timeout of the members: how long a rebalance may wait for them.
    pub fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout_ms.max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    /// Adds a member that is waiting on `callback` for its JoinGroup reply.
    pub fn add(&mut self, mut member: MemberMetadata, callback: Option<JoinCallback>) {
        if let Some(instance) = &member.group_instance_id {
            self.static_members.insert(instance.clone(), member.member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        member.awaiting_join = callback;
        self.members.push(member);
    }

    /// Removes a member (and its static mapping); a leader is replaced by the next member.
    pub fn remove(&mut self, member_id: &str) -> Option<MemberMetadata> {
        let pos = self.members.iter().position(|m| m.member_id == member_id)?;
        let member = self.members.remove(pos);
        if let Some(instance) = &member.group_instance_id
            && self.static_members.get(instance).is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(member_id);
        if self.is_leader(member_id) {
            self.leader_id = self.members.first().map(|m| m.member_id.clone());
        }
        Some(member)
    }

    /// Changes a member's protocols and timeouts; `callback` (if any) awaits its JoinGroup reply.
    pub fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<(String, Bytes)>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        callback: Option<JoinCallback>,
    ) {
        if let Some(m) = self.get_mut(member_id) {
            m.protocols = protocols;
            m.rebalance_timeout_ms = rebalance_timeout_ms;
            m.session_timeout_ms = session_timeout_ms;
            m.awaiting_join = callback;
        }
    }

    /// Members of the last generation that have not rejoined during this rebalance.
    pub fn not_yet_rejoined(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| !m.is_awaiting_join())
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// If the leader has not rejoined, makes a member that has the leader; false when no
    /// member has rejoined.
    pub fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else {
            return false;
        };
        if self.get(&leader).is_some_and(|m| m.is_awaiting_join()) {
            return true;
        }
        match self.members.iter().find(|m| m.is_awaiting_join()) {
            Some(m) => {
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    // ---- pending members (MEMBER_ID_REQUIRED) ---------------------------------------------

    pub fn add_pending_member(&mut self, member_id: String, expires: Instant) {
        self.pending_members.insert(member_id, expires);
    }

    pub fn is_pending_member(&self, member_id: &str) -> bool {
        self.pending_members.contains_key(member_id)
    }

    pub fn remove_pending_member(&mut self, member_id: &str) -> bool {
        self.pending_members.remove(member_id).is_some()
    }

    pub fn expired_pending_members(&self, now: Instant) -> Vec<String> {
        self.pending_members
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn pending_member_count(&self) -> usize {
        self.pending_members.len()
    }

    // ---- pending sync ---------------------------------------------------------------------

    pub fn add_pending_sync(&mut self, member_id: String) {
        self.pending_sync.insert(member_id);
    }

    pub fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }

    pub fn clear_pending_sync(&mut self) {
        self.pending_sync.clear();
        self.sync_deadline = None;
    }

    pub fn pending_sync_members(&self) -> Vec<String> {
        self.pending_sync.iter().cloned().collect()
    }

    // ---- static membership ----------------------------------------------------------------

    pub fn current_static_member_id(&self, instance: &str) -> Option<&str> {
        self.static_members.get(instance).map(String::as_str)
    }

    pub fn has_static_member(&self, instance: &str) -> bool {
        self.static_members.contains_key(instance)
    }

    /// A request names an instance id that now belongs to another member id.
    pub fn is_static_member_fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    /// Gives a static member a new member id; a request still waiting under the old id is
    /// answered FENCED_INSTANCE_ID.
    pub fn replace_static_member(&mut self, instance: &str, old_id: &str, new_id: &str, fenced: i16) {
        let Some(member) = self.get_mut(old_id) else { return };
        if let Some(cb) = member.awaiting_join.take() {
            let _ = cb.send(JoinResult::error(old_id, fenced));
        }
        if let Some(cb) = member.awaiting_sync.take() {
            let _ = cb.send(SyncResult::error(fenced));
        }
        member.member_id = new_id.to_string();
        if self.is_leader(old_id) {
            self.leader_id = Some(new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.static_members.insert(instance.to_string(), new_id.to_string());
    }

    // ---- protocols ------------------------------------------------------------------------

    /// Whether a member with this protocol type and these protocol names may join: an empty
    /// group takes any non-empty type and list; otherwise the type must match and one
    /// protocol must be supported by every current member.
    pub fn supports_protocols(&self, protocol_type: &str, names: &[&str]) -> bool {
        if self.is(GroupState::Empty) {
            return !protocol_type.is_empty() && !names.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && names
                .iter()
                .any(|n| self.members.iter().all(|m| m.metadata(n).is_some()))
    }

    fn candidate_protocols(&self) -> HashSet<&str> {
        let Some(first) = self.members.first() else {
            return HashSet::new();
        };
        first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| self.members.iter().all(|m| m.metadata(n).is_some()))
            .collect()
    }

    /// Kafka's vote: each member votes for its most preferred protocol that every member
    /// supports; the most votes win, ties going to the leader's preference.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in &self.members {
            if let Some(p) = m.vote(&candidates) {
                *votes.entry(p).or_default() += 1;
            }
        }
        let most = votes.values().copied().max()?;
        let leader = self
            .leader_id
            .as_deref()
            .and_then(|l| self.get(l))
            .or(self.members.first())?;
        leader
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .find(|n| votes.get(n) == Some(&most))
            .or_else(|| votes.iter().find(|(_, v)| **v == most).map(|(n, _)| *n))
            .map(str::to_string)
    }

    /// Starts the next generation once the join barrier is complete.
    pub fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
        self.subscribed_topics = self.compute_subscribed_topics();
        self.clear_pending_sync();
    }

    /// For the leader's JoinGroup reply: every member with its metadata for the selected protocol.
    pub fn current_member_metadata(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// The union of the members' subscribed topics, for groups of the consumer protocol.
    fn compute_subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) || self.members.is_empty() {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in &self.members {
            topics.extend(decode_subscription_topics(m.metadata(protocol)?)?);
        }
        Some(topics)
    }

    /// Unknown subscriptions count as subscribed to everything.
    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics.as_ref().is_none_or(|t| t.contains(topic))
    }

    pub fn is_consumer_group(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    // ---- callbacks ------------------------------------------------------------------------

    pub fn maybe_invoke_join_callback(&mut self, member_id: &str, result: JoinResult) {
        if let Some(cb) = self.get_mut(member_id).and_then(|m| m.awaiting_join.take()) {
            let _ = cb.send(result);
        }
    }

    pub fn maybe_invoke_sync_callback(&mut self, member_id: &str, result: SyncResult) {
        if let Some(cb) = self.get_mut(member_id).and_then(|m| m.awaiting_sync.take()) {
            let _ = cb.send(result);
        }
    }

    /// The JoinGroup reply of a completed join for `member_id`.
    pub fn join_result_for(&self, member_id: &str, with_members: bool) -> JoinResult {
        JoinResult {
            error: 0,
            member_id: member_id.to_string(),
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            members: if with_members {
                self.current_member_metadata()
            } else {
                Vec::new()
            },
            skip_assignment: false,
            durable: None,
        }
    }

    // ---- describe -------------------------------------------------------------------------

    /// Kafka's `summary`: metadata and assignments only once the group is Stable.
    pub fn summary(&self) -> GroupSummary {
        let stable = self.is(GroupState::Stable);
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        GroupSummary {
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            members: self
                .members
                .iter()
                .map(|m| MemberSummary {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol).cloned().unwrap_or_default()
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
            protocol,
        }
    }

    // ---- persistence ----------------------------------------------------------------------

    /// The `GroupMetadataValue` of this group, with `assignment` overriding the members' own.
    pub fn to_value(&self, assignment: Option<&HashMap<String, Bytes>>) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members
                .iter()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: m.metadata(protocol).cloned().unwrap_or_default(),
                    assignment: assignment
                        .and_then(|a| a.get(&m.member_id).cloned())
                        .unwrap_or_else(|| m.assignment.clone()),
                })
                .collect(),
        }
    }

    /// A group rebuilt from its last `GroupMetadataValue`: Stable with its members (who must
    /// heartbeat within their session timeout from `now`), or Empty.
    pub fn load(group_id: String, value: GroupMetadataValue, now: Instant, now_ms: i64) -> GroupMetadata {
        let mut group = GroupMetadata::new(group_id, now_ms);
        group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
        group.generation_id = value.generation;
        group.protocol_name = value.protocol;
        group.leader_id = value.leader;
        if value.current_state_timestamp >= 0 {
            group.state_timestamp = value.current_state_timestamp;
        }
        let protocol = group.protocol_name.clone().unwrap_or_default();
        for m in value.members {
            if let Some(instance) = &m.group_instance_id {
                group.static_members.insert(instance.clone(), m.member_id.clone());
            }
            let mut member = MemberMetadata {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout,
                session_timeout_ms: m.session_timeout,
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                heartbeat_deadline: now,
            };
            member.refresh_heartbeat(now);
            group.members.push(member);
        }
        if !group.members.is_empty() {
            group.state = GroupState::Stable;
            if group.leader_id.as_deref().is_none_or(|l| !group.has(l)) {
                group.leader_id = group.members.first().map(|m| m.member_id.clone());
            }
        } else {
            group.leader_id = None;
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        group
    }
}

/// The topics of a consumer-protocol subscription: an int16 version, then the
/// `ConsumerProtocolSubscription` of that version (newer versions read as the newest known,
/// since fields are only ever appended).
pub fn decode_subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    if metadata.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([metadata[0], metadata[1]]);
    if version < 0 {
        return None;
    }
    let mut body = metadata.slice(2..);
    let sub = ConsumerProtocolSubscription::decode(&mut body, version.min(3)).ok()?;
    Some(sub.topics.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests;
