//! The group coordinator: Kafka's classic-protocol `GroupCoordinator` for every group, since
//! one node owns every `__consumer_offsets` partition.
//!
//! Rebalance protocol, as Kafka runs it:
//!
//! 1. A member joins (JoinGroup). A new member first gets MEMBER_ID_REQUIRED with a member id
//!    (v4+), and joins again with it. Joining moves the group to PreparingRebalance.
//! 2. The join barrier completes when every known member has rejoined, or at the largest
//!    rebalance timeout (members that did not rejoin are dropped). A group that was empty
//!    waits `group.initial.rebalance.delay.ms` first, extended while new members arrive.
//!    Completion starts a new generation, selects the protocol, and answers every JoinGroup;
//!    the leader's answer lists the members with their protocol metadata.
//! 3. The leader sends the assignment (SyncGroup); it is persisted, the group becomes Stable,
//!    and each member's SyncGroup is answered with its part.
//! 4. Members heartbeat within their session timeout; one that stops is removed and the group
//!    rebalances. Heartbeats answer REBALANCE_IN_PROGRESS while a rebalance waits for them.
//!
//! Static members (`group.instance.id`) rejoining under a new member id take over their old
//! identity without a rebalance when the group's protocol would not change; a request still
//! using the replaced member id is fenced (FENCED_INSTANCE_ID).
//!
//! Deadlines (sessions, rebalance and sync timeouts, the initial delay) are checked by a
//! ticker task every [`TICK`]; the join barrier itself completes inline, as soon as the last
//! member rejoins.

mod consumer_group_state;
mod consumer_heartbeat;
mod txn_offsets;

pub use consumer_group_state::{ConsumerGroupDescription, ConsumerMemberDescription};
pub use consumer_heartbeat::{ConsumerHeartbeat, ConsumerHeartbeatResult};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::consumer_group::ConsumerGroup;
use super::consumer_group_records::ConsumerGroupKey;
use super::group_metadata::{
    CONSUMER_PROTOCOL_TYPE, GroupMetadata, GroupState, GroupSummary, JoinPhase, JoinResult, MemberMetadata,
    OffsetAndMetadata, SyncResult,
};
use super::offsets_log::{self, OFFSETS_TOPIC, RecordKey};
use super::{Durable, GroupConfig};
use crate::api::errors;
use crate::log::{LogError, LogManager, PartitionLog, now_ms};
use crate::metadata::topics::NewTopic;
use crate::metadata::{TopicError, TopicRegistry};
use crate::record::{self, Compression, ControlRecordType, RecordBatchBuilder};
use crate::timer;

/// How often deadlines are checked.
pub const TICK: Duration = Duration::from_millis(100);

/// Kafka's `NewMemberJoinTimeoutMs`: a new member waiting in a rebalance is dropped after this
/// (it cannot heartbeat yet, and a client that gave up would otherwise hold the barrier).
const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// How much of a `__consumer_offsets` partition replay reads at a time.
const REPLAY_READ_BYTES: usize = 1 << 20;

type GroupRef = Arc<Mutex<GroupMetadata>>;

/// A reply available now, or one a later event sends.
pub enum Pending<T> {
    Ready(T),
    Waiting(oneshot::Receiver<T>),
}

impl<T> Pending<T> {
    fn settle(mut rx: oneshot::Receiver<T>, closed: impl FnOnce() -> T) -> Pending<T> {
        match rx.try_recv() {
            Ok(v) => Pending::Ready(v),
            Err(oneshot::error::TryRecvError::Empty) => Pending::Waiting(rx),
            Err(oneshot::error::TryRecvError::Closed) => Pending::Ready(closed()),
        }
    }
}

/// A JoinGroup request, version differences resolved.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v4+: an unknown member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// v9+: a static leader replaced in a stable group is told to skip assignment.
    pub supports_skip_assignment: bool,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+: checked against the group's.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One partition of an OffsetCommit, already checked against the topic registry.
#[derive(Clone, Debug)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    /// OffsetCommit v2-4's retention time, when the client gave one.
    pub retention_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// The state's name as Kafka reports it ("Stable", "Reconciling", ...).
    pub state: &'static str,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
}

/// A member named in a LeaveGroup request.
#[derive(Clone, Debug)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

pub struct GroupCoordinator {
    config: GroupConfig,
    topics: Arc<TopicRegistry>,
    logs: Arc<LogManager>,
    /// Partitions of `__consumer_offsets` as it exists (which wins over the configured count).
    partitions: i32,
    groups: RwLock<HashMap<String, GroupRef>>,
    active: AtomicBool,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Replay state of one group.
#[derive(Default)]
struct Loading {
    metadata: Option<offsets_log::GroupMetadataValue>,
    offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
    /// Offsets of transactions without a marker yet, by producer id.
    txn_offsets: HashMap<i64, BTreeMap<(String, i32), OffsetAndMetadata>>,
    /// A KIP-848 consumer group's state.
    consumer: Option<ConsumerGroup>,
}

impl GroupCoordinator {
    /// Creates `__consumer_offsets` if it is missing and rebuilds every group from it. Blocking.
    pub fn open(
        config: GroupConfig,
        topics: Arc<TopicRegistry>,
        logs: Arc<LogManager>,
    ) -> Result<Arc<GroupCoordinator>, String> {
        let topic = match topics.get(OFFSETS_TOPIC) {
            Some(t) => t,
            None => {
                let configs = [
                    ("cleanup.policy", "compact".to_string()),
                    ("compression.type", "producer".to_string()),
                    ("segment.bytes", config.offsets_topic_segment_bytes.to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                let new = NewTopic {
                    name: OFFSETS_TOPIC.to_string(),
                    partitions: config.offsets_topic_partitions,
                    replication_factor: -1,
                    assignments: Vec::new(),
                    configs,
                };
                match topics.create_topic(new, false) {
                    Ok(t) => t,
                    Err(TopicError::AlreadyExists(_)) => {
                        topics.get(OFFSETS_TOPIC).ok_or("__consumer_offsets vanished")?
                    }
                    Err(e) => return Err(format!("cannot create {OFFSETS_TOPIC}: {e}")),
                }
            }
        };
        if topic.partitions != config.offsets_topic_partitions {
            tracing::warn!(
                existing = topic.partitions,
                configured = config.offsets_topic_partitions,
                "{OFFSETS_TOPIC} exists with a different partition count than offsets.topic.num.partitions; keeping the existing one"
            );
        }
        let (stop, _) = watch::channel(false);
        let coordinator = GroupCoordinator {
            config,
            topics,
            logs,
            partitions: topic.partitions,
            groups: RwLock::new(HashMap::new()),
            active: AtomicBool::new(true),
            stop,
            tasks: Mutex::new(Vec::new()),
        };
        coordinator.load()?;
        Ok(Arc::new(coordinator))
    }

    /// Starts the deadline ticker and the offset expiration task.
    pub fn start(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock();
        let me = self.clone();
        tasks.push(timer::every(Duration::ZERO, TICK, self.stop.subscribe(), move || {
            me.tick(Instant::now());
            std::future::ready(())
        }));
        let every = Duration::from_millis(self.config.offsets_retention_check_interval_ms);
        let me = self.clone();
        tasks.push(timer::every(every, every, self.stop.subscribe(), move || {
            let removed = me.expire_offsets(now_ms());
            if removed > 0 {
                tracing::info!(removed, "removed expired offsets");
            }
            std::future::ready(())
        }));
    }

    /// Stops the timers and answers every waiting JoinGroup and SyncGroup with NOT_COORDINATOR
    /// (as Kafka does when a coordinator unloads its groups); later requests get
    /// COORDINATOR_NOT_AVAILABLE.
    pub fn shutdown(&self) {
        self.active.store(false, Ordering::SeqCst);
        let _ = self.stop.send(true);
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        for group in self.all_groups() {
            let mut group = group.lock();
            for m in group.members_mut() {
                if let Some(cb) = m.awaiting_join.take() {
                    let _ = cb.send(JoinResult::error(m.member_id.clone(), errors::NOT_COORDINATOR));
                }
                if let Some(cb) = m.awaiting_sync.take() {
                    let _ = cb.send(SyncResult::error(errors::NOT_COORDINATOR));
                }
            }
        }
    }

    fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition holding `group_id`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        offsets_log::partition_for(group_id, self.partitions)
    }

    pub fn wait_durable(&self, durable: &Durable) -> impl Future<Output = Result<(), LogError>> + Send + 'static {
        let logs = self.logs.clone();
        let durable = durable.clone();
        async move { logs.wait_durable(&durable.log, durable.offset).await }
    }

    // ---- the group map ----------------------------------------------------------------------

    fn all_groups(&self) -> Vec<GroupRef> {
        self.groups.read().values().cloned().collect()
    }

    fn get(&self, group_id: &str) -> Option<GroupRef> {
        self.groups.read().get(group_id).cloned()
    }

    /// The live group of this id, replacing a dead one. Lock order: the map, then a group; no
    /// code takes the map lock while holding a group lock.
    fn get_or_create(&self, group_id: &str) -> GroupRef {
        if let Some(g) = self.groups.read().get(group_id)
            && !g.lock().is(GroupState::Dead)
        {
            return g.clone();
        }
        let mut map = self.groups.write();
        if let Some(g) = map.get(group_id)
            && !g.lock().is(GroupState::Dead)
        {
            return g.clone();
        }
        let g = Arc::new(Mutex::new(GroupMetadata::new(group_id, now_ms())));
        map.insert(group_id.to_string(), g.clone());
        g
    }

    fn remove_if_dead(&self, group_id: &str, group: &GroupRef) {
        let mut map = self.groups.write();
        if let Some(current) = map.get(group_id)
            && Arc::ptr_eq(current, group)
            && current.lock().is(GroupState::Dead)
        {
            map.remove(group_id);
        }
    }

    // ---- persistence ------------------------------------------------------------------------

    /// Appends records for one group as one batch; the error is what Kafka's coordinator
    /// answers when its write fails.
    fn append(&self, group_id: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<Durable, i16> {
        let partition = self.partition_for(group_id);
        let Some(log) = self.topics.partition_log(OFFSETS_TOPIC, partition) else {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        };
        let now = now_ms();
        let mut builder = RecordBatchBuilder::new(Compression::None);
        for (key, value) in records {
            builder.append(now, Some(key), value.as_deref(), &[]);
        }
        let mut batch = builder.try_build().map_err(|e| {
            tracing::error!(group = group_id, error = %e, "cannot build a __consumer_offsets batch");
            errors::UNKNOWN_SERVER_ERROR
        })?;
        match log.append(&mut batch, now, false) {
            Ok(info) => Ok(Durable {
                log,
                offset: info.last_offset + 1,
            }),
            Err(LogError::Closed) => Err(errors::NOT_COORDINATOR),
            Err(e) => {
                tracing::error!(group = group_id, partition, error = %e, "writing to __consumer_offsets failed");
                Err(errors::NOT_COORDINATOR)
            }
        }
    }

    /// Persists the group's metadata, with `assignment` as the members' new assignments.
    fn store_group(&self, group: &GroupMetadata, assignment: Option<&HashMap<String, Bytes>>) -> Result<Durable, i16> {
        let value = offsets_log::encode_group_value(&group.to_value(assignment));
        self.append(
            &group.group_id,
            &[(offsets_log::group_key(&group.group_id), Some(value))],
        )
    }

    /// Rebuilds every group from `__consumer_offsets`.
    fn load(&self) -> Result<(), String> {
        let started = Instant::now();
        let mut loading: HashMap<String, Loading> = HashMap::new();
        let mut records = 0usize;
        for p in 0..self.partitions {
            let Some(log) = self.topics.partition_log(OFFSETS_TOPIC, p) else {
                return Err(format!("{OFFSETS_TOPIC}-{p} has no log"));
            };
            records +=
                replay_partition(&log, &mut loading).map_err(|e| format!("cannot replay {OFFSETS_TOPIC}-{p}: {e}"))?;
        }
        let now = Instant::now();
        let now_ms = now_ms();
        let mut map = self.groups.write();
        for (group_id, state) in loading {
            if state.metadata.is_none()
                && state.offsets.is_empty()
                && state.txn_offsets.is_empty()
                && state.consumer.is_none()
            {
                continue;
            }
            let mut group = match state.metadata {
                Some(value) => GroupMetadata::load(group_id.clone(), value, now, now_ms),
                None => GroupMetadata::new(group_id.clone(), now_ms),
            };
            group.offsets = state.offsets;
            group.pending_txn_offsets = state.txn_offsets;
            if let Some(mut cg) = state.consumer {
                // Members get a full session to heartbeat to the restarted coordinator.
                let deadline = now + Duration::from_millis(self.config.consumer_session_timeout_ms as u64);
                for m in cg.members.values_mut() {
                    m.session_deadline = deadline;
                }
                group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_string());
                group.consumer = Some(Box::new(cg));
            }
            map.insert(group_id, Arc::new(Mutex::new(group)));
        }
        if records > 0 {
            tracing::info!(groups = map.len(), records, elapsed = ?started.elapsed(), "loaded consumer groups from {OFFSETS_TOPIC}");
        }
        Ok(())
    }

    // ---- deadlines --------------------------------------------------------------------------

    /// Applies every deadline that has passed by `now`.
    pub fn tick(&self, now: Instant) {
        for group in self.all_groups() {
            let mut group = group.lock();
            self.tick_group(&mut group, now);
        }
    }

    fn tick_group(&self, group: &mut GroupMetadata, now: Instant) {
        if group.is(GroupState::Dead) {
            return;
        }
        if group.consumer.is_some() {
            self.tick_consumer_group(group, now);
            return;
        }
        for member_id in group.expired_pending_members(now) {
            tracing::info!(group = %group.group_id, member = %member_id, "pending member removed after its session timeout");
            self.remove_pending_member_and_update_group(group, &member_id, now);
        }
        let expired: Vec<String> = group
            .members()
            .filter(|m| now >= m.heartbeat_deadline && !m.keeps_alive_past_deadline())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            // An earlier removal may have completed a rebalance that renewed this deadline.
            if !group
                .get(&member_id)
                .is_some_and(|m| now >= m.heartbeat_deadline && !m.keeps_alive_past_deadline())
            {
                continue;
            }
            tracing::info!(group = %group.group_id, member = %member_id, "member failed to heartbeat within its session timeout; removing it from the group");
            self.remove_member_and_update_group(group, &member_id, now);
        }
        if let Some((at, phase)) = group.join_deadline
            && now >= at
            && group.is(GroupState::PreparingRebalance)
        {
            match phase {
                JoinPhase::Initial { delay_ms, remaining_ms } if group.new_member_added && remaining_ms != 0 => {
                    group.new_member_added = false;
                    let delay = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                    let remaining = remaining_ms.saturating_sub(delay_ms);
                    group.join_deadline = Some((
                        now + Duration::from_millis(delay),
                        JoinPhase::Initial {
                            delay_ms: delay,
                            remaining_ms: remaining,
                        },
                    ));
                }
                _ => self.complete_join(group, now),
            }
        }
        if let Some(at) = group.sync_deadline
            && now >= at
        {
            group.sync_deadline = None;
            let pending = group.pending_sync_members();
            if matches!(group.state(), GroupState::CompletingRebalance | GroupState::Stable) && !pending.is_empty() {
                tracing::info!(group = %group.group_id, members = ?pending, "removing members that did not send SyncGroup within the rebalance timeout");
                for member_id in &pending {
                    group.remove(member_id);
                }
                self.prepare_rebalance(group, now);
            }
        }
    }

    // ---- rebalancing ------------------------------------------------------------------------

    fn maybe_prepare_rebalance(&self, group: &mut GroupMetadata, now: Instant) {
        if group.can_rebalance() {
            self.prepare_rebalance(group, now);
        }
    }

    fn prepare_rebalance(&self, group: &mut GroupMetadata, now: Instant) {
        if group.is(GroupState::CompletingRebalance) {
            reset_and_propagate_assignment_error(group, errors::REBALANCE_IN_PROGRESS);
        }
        group.sync_deadline = None;
        let was_empty = group.is(GroupState::Empty);
        if !group.transition_to(GroupState::PreparingRebalance, now_ms()) {
            return;
        }
        tracing::info!(group = %group.group_id, generation = group.generation_id, members = group.size(), "preparing to rebalance group");
        let rebalance_timeout = group.rebalance_timeout_ms();
        if was_empty {
            let delay = self.config.initial_rebalance_delay_ms;
            if delay == 0 {
                self.complete_join(group, now);
            } else {
                let remaining_ms = rebalance_timeout.saturating_sub(delay);
                group.join_deadline = Some((
                    now + Duration::from_millis(delay),
                    JoinPhase::Initial {
                        delay_ms: delay,
                        remaining_ms,
                    },
                ));
            }
        } else {
            group.join_deadline = Some((now + Duration::from_millis(rebalance_timeout), JoinPhase::Normal));
            self.try_complete_join(group, now);
        }
    }

    /// Completes the join barrier if every member has rejoined (not during an initial delay).
    fn try_complete_join(&self, group: &mut GroupMetadata, now: Instant) {
        if group.is(GroupState::PreparingRebalance)
            && matches!(group.join_deadline, Some((_, JoinPhase::Normal)))
            && group.has_all_members_joined()
        {
            self.complete_join(group, now);
        }
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, start the next
    /// generation and answer every waiting JoinGroup.
    fn complete_join(&self, group: &mut GroupMetadata, now: Instant) {
        let dropped: Vec<String> = group
            .not_yet_rejoined()
            .into_iter()
            .filter(|id| group.get(id).is_some_and(|m| !m.is_static()))
            .collect();
        if !dropped.is_empty() {
            tracing::info!(group = %group.group_id, members = ?dropped, "removed members that did not rejoin within the rebalance timeout");
            for id in &dropped {
                group.remove(id);
            }
        }
        if group.is(GroupState::Dead) {
            return;
        }
        if !group.maybe_elect_new_joined_leader() && !group.is_empty() {
            // Nobody rejoined: wait another rebalance timeout for sessions to expire.
            tracing::warn!(group = %group.group_id, "could not complete rebalance because no members rejoined");
            group.join_deadline = Some((
                now + Duration::from_millis(group.rebalance_timeout_ms()),
                JoinPhase::Normal,
            ));
            return;
        }
        group.join_deadline = None;
        group.new_member_added = false;
        group.init_next_generation(now_ms());
        if group.is(GroupState::Empty) {
            tracing::info!(group = %group.group_id, generation = group.generation_id, "group is now empty");
            if let Err(code) = self.store_group(group, None) {
                tracing::warn!(group = %group.group_id, code, "cannot write the empty group's metadata");
            }
            return;
        }
        tracing::info!(
            group = %group.group_id,
            generation = group.generation_id,
            members = group.size(),
            protocol = group.protocol_name.as_deref().unwrap_or_default(),
            "stabilized group"
        );
        let ids: Vec<String> = group.members().map(|m| m.member_id.clone()).collect();
        for id in ids {
            let result = group.join_result_for(&id, group.is_leader(&id));
            group.maybe_invoke_join_callback(&id, result);
            if let Some(m) = group.get_mut(&id) {
                m.refresh_heartbeat(now);
                m.is_new = false;
            }
            group.add_pending_sync(id);
        }
        group.sync_deadline = Some(now + Duration::from_millis(group.rebalance_timeout_ms()));
    }

    /// Removes a member (answering a JoinGroup it may be waiting on) and lets the group react.
    fn remove_member_and_update_group(&self, group: &mut GroupMetadata, member_id: &str, now: Instant) {
        group.maybe_invoke_join_callback(member_id, JoinResult::error("", errors::UNKNOWN_MEMBER_ID));
        group.remove(member_id);
        match group.state() {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => self.maybe_prepare_rebalance(group, now),
            GroupState::PreparingRebalance => self.try_complete_join(group, now),
        }
    }

    fn remove_pending_member_and_update_group(&self, group: &mut GroupMetadata, member_id: &str, now: Instant) {
        group.remove_pending_member(member_id);
        if group.is(GroupState::PreparingRebalance) {
            self.try_complete_join(group, now);
        }
    }

    fn accept_joining_member(&self, group: &GroupMetadata, member_id: &str) -> bool {
        let max = self.config.max_size;
        match group.state() {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                group.get(member_id).is_some_and(|m| m.is_awaiting_join()) || group.num_awaiting_join() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => group.has(member_id) || group.size() < max,
        }
    }

    // ---- JoinGroup --------------------------------------------------------------------------

    pub fn join_group(&self, req: JoinRequest) -> Pending<JoinResult> {
        if !valid_group_id(&req.group_id) {
            return Pending::Ready(JoinResult::error(req.member_id, errors::INVALID_GROUP_ID));
        }
        if !self.is_active() {
            return Pending::Ready(JoinResult::error(req.member_id, errors::COORDINATOR_NOT_AVAILABLE));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Pending::Ready(JoinResult::error(req.member_id, errors::INVALID_SESSION_TIMEOUT));
        }
        let is_unknown = req.member_id.is_empty();
        let group = if is_unknown {
            self.get_or_create(&req.group_id)
        } else {
            match self.get(&req.group_id) {
                Some(g) => g,
                None => return Pending::Ready(JoinResult::error(req.member_id, errors::UNKNOWN_MEMBER_ID)),
            }
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut group = group.lock();
            let now = Instant::now();
            if !self.is_active() {
                let _ = tx.send(JoinResult::error(
                    req.member_id.clone(),
                    errors::COORDINATOR_NOT_AVAILABLE,
                ));
            } else if let Some(code) = self.classic_join_of_consumer_group(&mut group) {
                let _ = tx.send(JoinResult::error(req.member_id.clone(), code));
            } else if !self.accept_joining_member(&group, &req.member_id) {
                tracing::info!(group = %group.group_id, max = self.config.max_size, "group is full; join refused");
                group.remove(&req.member_id);
                let _ = tx.send(JoinResult::error("", errors::GROUP_MAX_SIZE_REACHED));
            } else if is_unknown {
                self.do_new_member_join(&mut group, &req, tx, now);
            } else {
                self.do_current_member_join(&mut group, &req, tx, now);
            }
            if group.is(GroupState::PreparingRebalance) {
                self.try_complete_join(&mut group, now);
            }
        }
        Pending::settle(rx, || JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE))
    }

    fn do_new_member_join(
        &self,
        group: &mut GroupMetadata,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let names: Vec<&str> = req.protocols.iter().map(|(n, _)| n.as_str()).collect();
        if group.is(GroupState::Dead) {
            let _ = tx.send(JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE));
            return;
        }
        if !group.supports_protocols(&req.protocol_type, &names) {
            let _ = tx.send(JoinResult::error("", errors::INCONSISTENT_GROUP_PROTOCOL));
            return;
        }
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        match &req.group_instance_id {
            Some(instance) => match group.current_static_member_id(instance).map(str::to_string) {
                Some(old_id) => {
                    self.update_static_member_and_rebalance(group, instance, &old_id, &new_id, req, tx, now)
                }
                None => self.add_member_and_rebalance(group, new_id, req, tx, now),
            },
            None if req.require_known_member_id => {
                let expires = now + Duration::from_millis(req.session_timeout_ms.max(0) as u64);
                group.add_pending_member(new_id.clone(), expires);
                let _ = tx.send(JoinResult::error(new_id, errors::MEMBER_ID_REQUIRED));
            }
            None => self.add_member_and_rebalance(group, new_id, req, tx, now),
        }
    }

    fn do_current_member_join(
        &self,
        group: &mut GroupMetadata,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let member_id = req.member_id.as_str();
        let names: Vec<&str> = req.protocols.iter().map(|(n, _)| n.as_str()).collect();
        if group.is(GroupState::Dead) {
            let _ = tx.send(JoinResult::error(member_id, errors::COORDINATOR_NOT_AVAILABLE));
            return;
        }
        if !group.supports_protocols(&req.protocol_type, &names) {
            let _ = tx.send(JoinResult::error(member_id, errors::INCONSISTENT_GROUP_PROTOCOL));
            return;
        }
        if group.is_pending_member(member_id) {
            if req.group_instance_id.is_some() {
                // Pending members are dynamic: a static id here is a client bug.
                let _ = tx.send(JoinResult::error(member_id, errors::UNKNOWN_MEMBER_ID));
                return;
            }
            self.add_member_and_rebalance(group, member_id.to_string(), req, tx, now);
            return;
        }
        let instance = req.group_instance_id.as_deref();
        if group.is_static_member_fenced(instance, member_id) {
            let _ = tx.send(JoinResult::error(member_id, errors::FENCED_INSTANCE_ID));
            return;
        }
        if !group.has(member_id) || instance.is_some_and(|i| !group.has_static_member(i)) {
            let _ = tx.send(JoinResult::error(member_id, errors::UNKNOWN_MEMBER_ID));
            return;
        }
        let matches = group.get(member_id).is_some_and(|m| m.matches(&req.protocols));
        match group.state() {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(group, req, tx, now),
            GroupState::CompletingRebalance if matches => {
                // The member may have missed the JoinGroup reply: answer it again.
                let result = group.join_result_for(member_id, group.is_leader(member_id));
                let _ = tx.send(result);
            }
            GroupState::CompletingRebalance => self.update_member_and_rebalance(group, req, tx, now),
            GroupState::Stable if group.is_leader(member_id) || !matches => {
                // A rejoining leader forces a rebalance (it may have seen metadata change).
                self.update_member_and_rebalance(group, req, tx, now)
            }
            GroupState::Stable => {
                let result = group.join_result_for(member_id, false);
                let _ = tx.send(result);
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(JoinResult::error(member_id, errors::UNKNOWN_MEMBER_ID));
            }
        }
    }

    fn update_member_and_rebalance(
        &self,
        group: &mut GroupMetadata,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        group.update_member(
            &req.member_id,
            req.protocols.clone(),
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(tx),
        );
        self.maybe_prepare_rebalance(group, now);
    }

    fn add_member_and_rebalance(
        &self,
        group: &mut GroupMetadata,
        member_id: String,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let member = MemberMetadata {
            member_id,
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
        };
        if group.is(GroupState::PreparingRebalance) && group.generation_id == 0 {
            group.new_member_added = true;
        }
        tracing::debug!(group = %group.group_id, member = %member.member_id, "member joins");
        group.add(member, Some(tx));
        self.maybe_prepare_rebalance(group, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn update_static_member_and_rebalance(
        &self,
        group: &mut GroupMetadata,
        instance: &str,
        old_id: &str,
        new_id: &str,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let current_leader = group.leader_id.clone().unwrap_or_default();
        let Some(old) = group.get(old_id) else {
            let _ = tx.send(JoinResult::error("", errors::UNKNOWN_MEMBER_ID));
            return;
        };
        let old_protocols = old.protocols.clone();
        let old_rebalance_timeout = old.rebalance_timeout_ms;
        let old_session_timeout = old.session_timeout_ms;
        group.replace_static_member(instance, old_id, new_id, errors::FENCED_INSTANCE_ID);
        if let Some(m) = group.get_mut(new_id) {
            m.refresh_heartbeat(now);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
        }
        group.update_member(
            new_id,
            req.protocols.clone(),
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(tx),
        );
        match group.state() {
            GroupState::Stable => {
                if group.select_protocol() != group.protocol_name {
                    tracing::info!(group = %group.group_id, instance, "static member rejoined with protocols that change the group's selection; rebalancing");
                    self.maybe_prepare_rebalance(group, now);
                    return;
                }
                tracing::info!(group = %group.group_id, instance, member = new_id, "static member rejoined; keeping its assignment without a rebalance");
                match self.store_group(group, None) {
                    Ok(durable) => {
                        let is_leader = group.is_leader(new_id);
                        let mut result = if req.supports_skip_assignment {
                            let mut r = group.join_result_for(new_id, is_leader);
                            r.skip_assignment = is_leader;
                            r
                        } else {
                            // The old leader id keeps the member from assigning as a leader.
                            let mut r = group.join_result_for(new_id, false);
                            r.leader_id = current_leader;
                            r
                        };
                        result.durable = Some(durable);
                        group.maybe_invoke_join_callback(new_id, result);
                    }
                    Err(code) => {
                        // Not persisted: put the old member back.
                        let cb = group.get_mut(new_id).and_then(|m| m.awaiting_join.take());
                        group.update_member(new_id, old_protocols, old_rebalance_timeout, old_session_timeout, None);
                        group.replace_static_member(instance, new_id, old_id, errors::FENCED_INSTANCE_ID);
                        if let Some(m) = group.get_mut(old_id) {
                            m.refresh_heartbeat(now);
                        }
                        if let Some(cb) = cb {
                            let mut r = JoinResult::error("", code);
                            r.generation_id = group.generation_id;
                            r.protocol_type = group.protocol_type.clone();
                            r.protocol_name = group.protocol_name.clone();
                            r.leader_id = current_leader;
                            let _ = cb.send(r);
                        }
                    }
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already be assigning to the old member id: rebalance again.
                self.prepare_rebalance(group, now);
            }
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => {
                group.maybe_invoke_join_callback(new_id, JoinResult::error(new_id, errors::UNKNOWN_MEMBER_ID));
            }
        }
    }

    // ---- SyncGroup --------------------------------------------------------------------------

    pub fn sync_group(&self, req: SyncRequest) -> Pending<SyncResult> {
        if !valid_group_id(&req.group_id) {
            return Pending::Ready(SyncResult::error(errors::INVALID_GROUP_ID));
        }
        if !self.is_active() {
            return Pending::Ready(SyncResult::error(errors::COORDINATOR_NOT_AVAILABLE));
        }
        let Some(group) = self.get(&req.group_id) else {
            return Pending::Ready(SyncResult::error(errors::UNKNOWN_MEMBER_ID));
        };
        let mut group = group.lock();
        let now = Instant::now();
        if !self.is_active() {
            return Pending::Ready(SyncResult::error(errors::COORDINATOR_NOT_AVAILABLE));
        }
        if let Some(code) = validate_sync(&group, &req) {
            return Pending::Ready(SyncResult::error(code));
        }
        match group.state() {
            GroupState::Empty => Pending::Ready(SyncResult::error(errors::UNKNOWN_MEMBER_ID)),
            GroupState::PreparingRebalance => Pending::Ready(SyncResult::error(errors::REBALANCE_IN_PROGRESS)),
            GroupState::Stable => {
                group.remove_pending_sync(&req.member_id);
                let result = match group.get_mut(&req.member_id) {
                    Some(m) => {
                        m.refresh_heartbeat(now);
                        m.assignment.clone()
                    }
                    None => Bytes::new(),
                };
                Pending::Ready(SyncResult {
                    error: errors::NONE,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: result,
                    durable: None,
                })
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.get_mut(&req.member_id) {
                    m.awaiting_sync = Some(tx);
                }
                group.remove_pending_sync(&req.member_id);
                if group.is_leader(&req.member_id) {
                    self.complete_sync(&mut group, &req, now);
                }
                Pending::settle(rx, || SyncResult::error(errors::REBALANCE_IN_PROGRESS))
            }
            GroupState::Dead => Pending::Ready(SyncResult::error(errors::COORDINATOR_NOT_AVAILABLE)),
        }
    }

    /// The leader's assignment: persist it, make the group Stable and answer every member
    /// waiting in SyncGroup (their replies wait for the write to be durable).
    fn complete_sync(&self, group: &mut GroupMetadata, req: &SyncRequest, now: Instant) {
        let mut assignment: HashMap<String, Bytes> = req
            .assignments
            .iter()
            .filter(|(id, _)| group.has(id))
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect();
        let missing: Vec<String> = group
            .members()
            .map(|m| m.member_id.clone())
            .filter(|id| !assignment.contains_key(id))
            .collect();
        if !missing.is_empty() {
            tracing::warn!(group = %group.group_id, generation = group.generation_id, members = ?missing, "setting empty assignments for members the leader left out");
        }
        for id in missing {
            assignment.insert(id, Bytes::new());
        }
        tracing::info!(group = %group.group_id, generation = group.generation_id, leader = %req.member_id, members = group.size(), "assignment received from leader");
        match self.store_group(group, Some(&assignment)) {
            Ok(durable) => {
                let protocol_type = group.protocol_type.clone();
                let protocol_name = group.protocol_name.clone();
                for m in group.members_mut() {
                    m.assignment = assignment.remove(&m.member_id).unwrap_or_default();
                    m.refresh_heartbeat(now);
                    if let Some(cb) = m.awaiting_sync.take() {
                        let _ = cb.send(SyncResult {
                            error: errors::NONE,
                            protocol_type: protocol_type.clone(),
                            protocol_name: protocol_name.clone(),
                            assignment: m.assignment.clone(),
                            durable: Some(durable.clone()),
                        });
                    }
                }
                group.transition_to(GroupState::Stable, now_ms());
            }
            Err(code) => {
                reset_and_propagate_assignment_error(group, code);
                self.maybe_prepare_rebalance(group, now);
            }
        }
    }

    // ---- Heartbeat and LeaveGroup -----------------------------------------------------------

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        if !valid_group_id(group_id) {
            return errors::INVALID_GROUP_ID;
        }
        if !self.is_active() {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        let Some(group) = self.get(group_id) else {
            return errors::UNKNOWN_MEMBER_ID;
        };
        let mut group = group.lock();
        if group.is(GroupState::Dead) {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        if let Some(code) = validate_current_member(&group, member_id, group_instance_id) {
            return code;
        }
        if generation_id != group.generation_id {
            return errors::ILLEGAL_GENERATION;
        }
        let state = group.state();
        if state == GroupState::Empty {
            return errors::UNKNOWN_MEMBER_ID;
        }
        if let Some(m) = group.get_mut(member_id) {
            m.refresh_heartbeat(Instant::now());
        }
        match state {
            GroupState::PreparingRebalance => errors::REBALANCE_IN_PROGRESS,
            _ => errors::NONE,
        }
    }

    /// Per-member errors, or the error of the whole request.
    pub fn leave_group(&self, group_id: &str, leaving: &[LeavingMember]) -> Result<Vec<i16>, i16> {
        if !valid_group_id(group_id) {
            return Err(errors::INVALID_GROUP_ID);
        }
        if !self.is_active() {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let Some(group) = self.get(group_id) else {
            return Ok(vec![errors::UNKNOWN_MEMBER_ID; leaving.len()]);
        };
        let mut group = group.lock();
        if group.is(GroupState::Dead) {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let now = Instant::now();
        let mut out = Vec::with_capacity(leaving.len());
        for member in leaving {
            let instance = member.group_instance_id.as_deref();
            let code = if member.member_id.is_empty() {
                // Administrative removal by group.instance.id.
                match instance
                    .and_then(|i| group.current_static_member_id(i))
                    .map(str::to_string)
                {
                    Some(current) => {
                        tracing::info!(group = %group.group_id, member = %current, "static member removed by LeaveGroup");
                        self.remove_member_and_update_group(&mut group, &current, now);
                        errors::NONE
                    }
                    None => errors::UNKNOWN_MEMBER_ID,
                }
            } else if group.is_pending_member(&member.member_id) {
                self.remove_pending_member_and_update_group(&mut group, &member.member_id, now);
                errors::NONE
            } else {
                match validate_current_member(&group, &member.member_id, instance) {
                    Some(code) => code,
                    None => {
                        tracing::info!(group = %group.group_id, member = %member.member_id, "member left the group");
                        self.remove_member_and_update_group(&mut group, &member.member_id, now);
                        errors::NONE
                    }
                }
            };
            out.push(code);
        }
        Ok(out)
    }

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

    // ---- admin ------------------------------------------------------------------------------

    /// Whether a live classic or consumer group has this id (share groups are kept apart, and
    /// an id belongs to one kind of group at a time).
    pub fn group_exists(&self, group_id: &str) -> bool {
        self.get(group_id).is_some_and(|g| !g.lock().is(GroupState::Dead))
    }

    /// The group's summary; `Ok(None)` when there is no such group, GROUP_ID_NOT_FOUND for a
    /// consumer group (KIP-848), which DescribeGroups does not describe.
    pub fn describe_group(&self, group_id: &str) -> Result<Option<GroupSummary>, i16> {
        if !valid_group_id(group_id) {
            return Err(errors::INVALID_GROUP_ID);
        }
        if !self.is_active() {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let Some(group) = self.get(group_id) else {
            return Ok(None);
        };
        let group = group.lock();
        if group.consumer.is_some() {
            return Err(errors::GROUP_ID_NOT_FOUND);
        }
        Ok(Some(group.summary()).filter(|s| s.state != GroupState::Dead))
    }

    /// Every durable committed offset of every live group, as (group, topic, partition,
    /// offset): what OffsetFetch would answer, for the lag a metrics scrape reports.
    pub fn committed_offsets(&self) -> Vec<(String, String, i32, i64)> {
        let mut out = Vec::new();
        for group in self.all_groups() {
            let mut g = group.lock();
            if g.is(GroupState::Dead) {
                continue;
            }
            g.settle_offsets();
            out.extend(
                g.offsets
                    .iter()
                    .map(|((topic, partition), o)| (g.group_id.clone(), topic.clone(), *partition, o.offset)),
            );
        }
        out
    }

    /// Every live group, filtered by state names and group types (case-insensitive; empty =
    /// all).
    pub fn list_groups(&self, states: &[String], types: &[String]) -> Result<Vec<ListedGroup>, i16> {
        if !self.is_active() {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let states: HashSet<String> = states.iter().map(|s| s.to_lowercase()).collect();
        let types: HashSet<String> = types.iter().map(|s| s.to_lowercase()).collect();
        let mut out: Vec<ListedGroup> = self
            .all_groups()
            .iter()
            .filter_map(|g| {
                let g = g.lock();
                if g.is(GroupState::Dead) {
                    return None;
                }
                let (state, group_type) = match g.consumer.as_deref() {
                    Some(cg) => (cg.state().name(), "consumer"),
                    None => (g.state().name(), "classic"),
                };
                if (!states.is_empty() && !states.contains(&state.to_lowercase()))
                    || (!types.is_empty() && !types.contains(group_type))
                {
                    return None;
                }
                Some(ListedGroup {
                    group_id: g.group_id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state,
                    group_type,
                })
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Deletes empty groups with their offsets; errors line up with `group_ids`.
    pub fn delete_groups(&self, group_ids: &[String]) -> (Vec<i16>, Vec<Durable>) {
        let mut codes = Vec::with_capacity(group_ids.len());
        let mut durable = Vec::new();
        for group_id in group_ids {
            if !valid_group_id(group_id) {
                codes.push(errors::INVALID_GROUP_ID);
                continue;
            }
            if !self.is_active() {
                codes.push(errors::COORDINATOR_NOT_AVAILABLE);
                continue;
            }
            let Some(group_ref) = self.get(group_id) else {
                codes.push(errors::GROUP_ID_NOT_FOUND);
                continue;
            };
            let code = {
                let mut group = group_ref.lock();
                match group.state() {
                    GroupState::Dead => errors::GROUP_ID_NOT_FOUND,
                    GroupState::Empty if group.has_consumer_members() => errors::NON_EMPTY_GROUP,
                    GroupState::Empty => match self.drop_consumer_group(&mut group) {
                        Err(code) => code,
                        Ok(dropped) => {
                            durable.extend(dropped);
                            group.transition_to(GroupState::Dead, now_ms());
                            let all: Vec<(String, i32)> = group
                                .offsets
                                .keys()
                                .chain(group.pending_offsets.keys())
                                .cloned()
                                .collect();
                            durable.extend(self.remove_offsets_and_maybe_group(&mut group, &all));
                            tracing::info!(group = %group_id, "deleted group");
                            errors::NONE
                        }
                    },
                    _ => errors::NON_EMPTY_GROUP,
                }
            };
            self.remove_if_dead(group_id, &group_ref);
            codes.push(code);
        }
        (codes, durable)
    }

    /// Kafka's `cleanupGroupMetadata`: drops `partitions`' offsets with tombstones; an empty
    /// group left without offsets dies, with a tombstone for its metadata if it ever had a
    /// generation. A failed write is logged: the deletion stands in memory, as on Kafka.
    fn remove_offsets_and_maybe_group(
        &self,
        group: &mut GroupMetadata,
        partitions: &[(String, i32)],
    ) -> Option<Durable> {
        let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        group.settle_offsets();
        for tp in partitions {
            let pending = group.pending_offsets.remove(tp).is_some();
            if group.offsets.remove(tp).is_some() || pending {
                records.push((offsets_log::offset_key(&group.group_id, &tp.0, tp.1), None));
            }
        }
        if group.is(GroupState::Empty) && group.offsets.is_empty() && group.pending_offsets.is_empty() {
            group.transition_to(GroupState::Dead, now_ms());
        }
        if group.is(GroupState::Dead) && group.generation_id > 0 {
            records.push((offsets_log::group_key(&group.group_id), None));
        }
        if records.is_empty() {
            return None;
        }
        match self.append(&group.group_id, &records) {
            Ok(d) => Some(d),
            Err(code) => {
                tracing::warn!(group = %group.group_id, code, "cannot write tombstones for removed offsets");
                None
            }
        }
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

    /// Snapshot of a group, for tests and diagnostics: (state, generation, member ids, leader).
    pub fn group_snapshot(&self, group_id: &str) -> Option<(GroupState, i32, Vec<String>, Option<String>)> {
        let g = self.get(group_id)?;
        let g = g.lock();
        Some((
            g.state(),
            g.generation_id,
            g.members().map(|m| m.member_id.clone()).collect(),
            g.leader_id.clone(),
        ))
    }
}

/// Kafka refuses empty group ids (INVALID_GROUP_ID); ids longer than a record key's int16
/// length could not be persisted, so they are refused the same way.
fn valid_group_id(group_id: &str) -> bool {
    !group_id.is_empty() && group_id.len() <= i16::MAX as usize
}

fn reset_and_propagate_assignment_error(group: &mut GroupMetadata, code: i16) {
    for m in group.members_mut() {
        m.assignment = Bytes::new();
        if let Some(cb) = m.awaiting_sync.take() {
            let _ = cb.send(SyncResult::error(code));
        }
    }
}

/// FENCED_INSTANCE_ID when the instance id now belongs to another member id, UNKNOWN_MEMBER_ID
/// when the member is not in the group.
fn validate_current_member(group: &GroupMetadata, member_id: &str, instance: Option<&str>) -> Option<i16> {
    if group.is_static_member_fenced(instance, member_id) {
        Some(errors::FENCED_INSTANCE_ID)
    } else if !group.has(member_id) {
        Some(errors::UNKNOWN_MEMBER_ID)
    } else {
        None
    }
}

fn validate_sync(group: &GroupMetadata, req: &SyncRequest) -> Option<i16> {
    if group.is(GroupState::Dead) {
        return Some(errors::COORDINATOR_NOT_AVAILABLE);
    }
    if let Some(code) = validate_current_member(group, &req.member_id, req.group_instance_id.as_deref()) {
        return Some(code);
    }
    if req.generation_id != group.generation_id {
        return Some(errors::ILLEGAL_GENERATION);
    }
    let mismatch =
        |given: &Option<String>, ours: &Option<String>| given.as_ref().is_some_and(|g| Some(g) != ours.as_ref());
    if mismatch(&req.protocol_type, &group.protocol_type) || mismatch(&req.protocol_name, &group.protocol_name) {
        return Some(errors::INCONSISTENT_GROUP_PROTOCOL);
    }
    None
}

/// Kafka's `validateOffsetCommit`: a commit naming a member or a generation must come from a
/// current member of that generation; an anonymous one (generation -1, no member id) only
/// goes to a group without members.
fn validate_offset_commit(
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

/// Applies every record of one `__consumer_offsets` partition; returns how many it read.
fn replay_partition(log: &PartitionLog, loading: &mut HashMap<String, Loading>) -> Result<usize, LogError> {
    // Offsets of transactions whose marker has not been read yet, by producer id.
    let mut open_txns: HashMap<i64, Vec<GroupOffset>> = HashMap::new();
    let mut count = 0usize;
    log.for_each_batch(REPLAY_READ_BYTES, |header, batch| {
        if header.is_control() {
            match record::read_marker(batch) {
                Ok(Some(marker)) => {
                    let commit = marker.kind == ControlRecordType::Commit;
                    for (group, tp, value) in open_txns.remove(&header.producer_id).unwrap_or_default() {
                        if commit {
                            loading.entry(group).or_default().offsets.insert(tp, value);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(partition = log.partition(), offset = header.base_offset, error = %e, "skipping an unreadable transaction marker");
                }
            }
            return;
        }
        let records = match record::records(batch) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(partition = log.partition(), offset = header.base_offset, error = %e, "skipping an unreadable __consumer_offsets batch");
                return;
            }
        };
        for r in records {
            count += 1;
            let applied = if header.is_transactional() {
                txn_offset_record(r.key.as_deref(), r.value.as_deref())
                    .map(|o| open_txns.entry(header.producer_id).or_default().extend(o))
            } else {
                apply_record(r.key.as_deref(), r.value.as_deref(), loading)
            };
            if let Err(e) = applied {
                tracing::warn!(partition = log.partition(), offset = r.offset, error = %e, "skipping a malformed __consumer_offsets record");
            }
        }
    })?;
    // Transactions still open at the end of the log wait for their marker.
    for (producer_id, offsets) in open_txns {
        for (group, tp, value) in offsets {
            loading
                .entry(group)
                .or_default()
                .txn_offsets
                .entry(producer_id)
                .or_default()
                .insert(tp, value);
        }
    }
    Ok(count)
}

/// A group, one of its partitions and an offset committed for it.
type GroupOffset = (String, (String, i32), OffsetAndMetadata);

/// A transactional offset commit record as (group, partition, offset); other keys are none.
fn txn_offset_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Option<GroupOffset>, offsets_log::SchemaError> {
    let (Some(key), Some(value)) = (key, value) else {
        return Ok(None);
    };
    match offsets_log::decode_key(key)? {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => Ok(Some((
            group,
            (topic, partition),
            offsets_log::decode_offset_value(value)?.into(),
        ))),
        _ => Ok(None),
    }
}

fn apply_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    loading: &mut HashMap<String, Loading>,
) -> Result<(), offsets_log::SchemaError> {
    let Some(key) = key else { return Ok(()) };
    match offsets_log::decode_key(key)? {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => {
            let entry = loading.entry(group).or_default();
            match value {
                Some(v) => {
                    entry
                        .offsets
                        .insert((topic, partition), offsets_log::decode_offset_value(v)?.into());
                }
                None => {
                    entry.offsets.remove(&(topic, partition));
                }
            }
        }
        RecordKey::Group { group } => {
            let entry = loading.entry(group).or_default();
            entry.metadata = match value {
                Some(v) => Some(offsets_log::decode_group_value(v)?),
                None => None,
            };
        }
        RecordKey::Other(kind) => {
            if let Some(key) = ConsumerGroupKey::decode(kind, key)? {
                let entry = loading.entry(key.group().to_string()).or_default();
                consumer_group_state::replay_record(&mut entry.consumer, key, value)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::group::GroupConfig;

    struct Fixture {
        _dir: tempfile::TempDir,
        coordinator: Arc<GroupCoordinator>,
        topics: Arc<TopicRegistry>,
        logs: Arc<LogManager>,
    }

    fn open_in(
        dir: &std::path::Path,
        config: GroupConfig,
    ) -> (Arc<GroupCoordinator>, Arc<TopicRegistry>, Arc<LogManager>) {
        let broker = Arc::new(BrokerConfig::default());
        let topics = Arc::new(TopicRegistry::open(broker, dir).unwrap());
        let registry = topics.clone();
        let logs = LogManager::open(dir, move |t| registry.topic_config(t).log_config()).unwrap();
        topics.attach_logs(logs.clone()).unwrap();
        let coordinator = GroupCoordinator::open(config, topics.clone(), logs.clone()).unwrap();
        (coordinator, topics, logs)
    }

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 10,
            offsets_topic_partitions: 3,
            ..GroupConfig::default()
        }
    }

    fn fixture(config: GroupConfig) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (coordinator, topics, logs) = open_in(dir.path(), config);
        Fixture {
            _dir: dir,
            coordinator,
            topics,
            logs,
        }
    }

    fn join(group: &str, member: &str, protocols: &[(&str, &[u8])]) -> JoinRequest {
        JoinRequest {
            group_id: group.into(),
            member_id: member.into(),
            group_instance_id: None,
            require_known_member_id: true,
            supports_skip_assignment: false,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 1000,
            session_timeout_ms: 500,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|(n, m)| (n.to_string(), Bytes::copy_from_slice(m)))
                .collect(),
        }
    }

    fn ready<T: std::fmt::Debug>(p: Pending<T>) -> T {
        match p {
            Pending::Ready(v) => v,
            Pending::Waiting(_) => panic!("expected an immediate reply"),
        }
    }

    fn waiting<T>(p: Pending<T>) -> oneshot::Receiver<T> {
        match p {
            Pending::Waiting(rx) => rx,
            Pending::Ready(_) => panic!("expected a deferred reply"),
        }
    }

    /// Joins a new member through the MEMBER_ID_REQUIRED round trip.
    fn join_new(c: &GroupCoordinator, group: &str) -> (String, Pending<JoinResult>) {
        let first = ready(c.join_group(join(group, "", &[("range", b"m")])));
        assert_eq!(first.error, errors::MEMBER_ID_REQUIRED);
        assert!(first.member_id.starts_with("client-"));
        let id = first.member_id.clone();
        (id.clone(), c.join_group(join(group, &id, &[("range", b"m")])))
    }

    fn sync(
        c: &GroupCoordinator,
        group: &str,
        member: &str,
        generation: i32,
        assignments: &[(&str, &[u8])],
    ) -> Pending<SyncResult> {
        c.sync_group(SyncRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a)))
                .collect(),
        })
    }

    #[test]
    fn single_member_join_sync_heartbeat_leave() {
        let f = fixture(config());
        let c = &f.coordinator;
        let (id, joined) = join_new(c, "g");
        let joined = ready(joined);
        assert_eq!(joined.error, 0);
        assert_eq!((joined.generation_id, joined.leader_id.as_str()), (1, id.as_str()));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        assert_eq!(joined.members.len(), 1);
        let synced = ready(sync(c, "g", &id, 1, &[(&id, b"asg")]));
        assert_eq!((synced.error, &synced.assignment[..]), (0, &b"asg"[..]));
        assert!(synced.durable.is_some(), "the assignment is persisted before the reply");
        assert_eq!(c.heartbeat("g", &id, None, 1), 0);
        assert_eq!(c.heartbeat("g", &id, None, 0), errors::ILLEGAL_GENERATION);
        assert_eq!(c.heartbeat("g", "nobody", None, 1), errors::UNKNOWN_MEMBER_ID);
        assert_eq!(c.heartbeat("other", &id, None, 1), errors::UNKNOWN_MEMBER_ID);
        assert_eq!(c.heartbeat("", &id, None, 1), errors::INVALID_GROUP_ID);
        let left = c
            .leave_group(
                "g",
                &[LeavingMember {
                    member_id: id.clone(),
                    group_instance_id: None,
                }],
            )
            .unwrap();
        assert_eq!(left, vec![0]);
        let (state, generation, members, _) = c.group_snapshot("g").unwrap();
        assert_eq!((state, generation, members.len()), (GroupState::Empty, 2, 0));
    }

    #[test]
    fn session_timeouts_are_bounded() {
        let f = fixture(GroupConfig {
            min_session_timeout_ms: 6000,
            ..config()
        });
        let r = ready(f.coordinator.join_group(join("g", "", &[("range", b"")])));
        assert_eq!(r.error, errors::INVALID_SESSION_TIMEOUT);
        let mut req = join("", "", &[("range", b"")]);
        req.session_timeout_ms = 6000;
        assert_eq!(ready(f.coordinator.join_group(req)).error, errors::INVALID_GROUP_ID);
    }

    #[test]
    fn second_member_triggers_a_rebalance_that_completes_when_all_rejoin() {
        let f = fixture(config());
        let c = &f.coordinator;
        let (a, ja) = join_new(c, "g");
        assert_eq!(ready(ja).generation_id, 1);
        ready(sync(c, "g", &a, 1, &[(&a, b"all")]));
        // b joins: the group prepares a rebalance and waits for a.
        let (b, jb) = join_new(c, "g");
        let mut jb = waiting(jb);
        assert_eq!(c.heartbeat("g", &a, None, 1), errors::REBALANCE_IN_PROGRESS);
        // a rejoins: the barrier completes at once, without waiting for a timer.
        let ja = ready(c.join_group(join("g", &a, &[("range", b"m")])));
        let jb = jb.try_recv().expect("b's join is answered when a rejoins");
        assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
        assert_eq!(ja.leader_id, a);
        assert_eq!(ja.members.len(), 2, "the leader gets the member list");
        assert!(jb.members.is_empty());
        // b syncs first and waits for the leader's assignment.
        let mut sb = waiting(sync(c, "g", &b, 2, &[]));
        let sa = ready(sync(c, "g", &a, 2, &[(&a, b"A"), (&b, b"B")]));
        assert_eq!(&sa.assignment[..], b"A");
        let sb = sb.try_recv().unwrap();
        assert_eq!((sb.error, &sb.assignment[..]), (0, &b"B"[..]));
        assert_eq!(c.group_snapshot("g").unwrap().0, GroupState::Stable);
    }

    #[test]
    fn members_that_stop_heartbeating_are_removed() {
        let f = fixture(config());
        let c = &f.coordinator;
        let (a, ja) = join_new(c, "g");
        ready(ja);
        ready(sync(c, "g", &a, 1, &[(&a, b"x")]));
        let (b, jb) = join_new(c, "g");
        let mut jb = waiting(jb);
        // a never rejoins: at the rebalance timeout it is dropped and b completes alone.
        c.tick(Instant::now() + Duration::from_millis(1100));
        let jb = jb.try_recv().unwrap();
        assert_eq!((jb.error, jb.generation_id, jb.leader_id.as_str()), (0, 2, b.as_str()));
        ready(sync(c, "g", &b, 2, &[(&b, b"x")]));
        // b stops heartbeating: removed after its session timeout, and the group empties.
        c.tick(Instant::now() + Duration::from_millis(600));
        let (state, _, members, _) = c.group_snapshot("g").unwrap();
        assert_eq!((state, members.len()), (GroupState::Empty, 0));
    }

    #[test]
    fn initial_delay_waits_for_more_members() {
        let f = fixture(GroupConfig {
            initial_rebalance_delay_ms: 300,
            ..config()
        });
        let c = &f.coordinator;
        let (_a, ja) = join_new(c, "g");
        let mut ja = waiting(ja);
        let (_b, jb) = join_new(c, "g");
        let mut jb = waiting(jb);
        c.tick(Instant::now() + Duration::from_millis(100));
        assert!(ja.try_recv().is_err(), "still inside the initial delay");
        // The delay was extended by b's arrival: one more delay period passes first.
        c.tick(Instant::now() + Duration::from_millis(310));
        assert!(
            ja.try_recv().is_err(),
            "extended once because a member joined during the delay"
        );
        c.tick(Instant::now() + Duration::from_millis(700));
        let (ra, rb) = (ja.try_recv().unwrap(), jb.try_recv().unwrap());
        assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    }

    #[test]
    fn static_member_rejoins_without_rebalance_and_duplicate_is_fenced() {
        let f = fixture(config());
        let c = &f.coordinator;
        let mut req = join("g", "", &[("range", b"m")]);
        req.group_instance_id = Some("inst".into());
        let first = ready(c.join_group(req.clone()));
        assert_eq!(first.error, 0, "static members skip MEMBER_ID_REQUIRED");
        let old = first.member_id.clone();
        assert!(old.starts_with("inst-"));
        ready(c.sync_group(SyncRequest {
            group_instance_id: Some("inst".into()),
            ..sync_req("g", &old, 1, &[(&old, b"mine")])
        }));
        // Restart: unknown member id, same instance id.
        let again = ready(c.join_group(req.clone()));
        assert_eq!(
            (again.error, again.generation_id),
            (0, 1),
            "same generation, no rebalance"
        );
        let new = again.member_id.clone();
        assert_ne!(new, old);
        assert_eq!(again.leader_id, old, "the old leader id keeps it from assigning");
        let s = ready(c.sync_group(SyncRequest {
            group_instance_id: Some("inst".into()),
            ..sync_req("g", &new, 1, &[])
        }));
        assert_eq!(&s.assignment[..], b"mine");
        assert_eq!(c.group_snapshot("g").unwrap().0, GroupState::Stable);
        // The old incarnation is fenced.
        assert_eq!(c.heartbeat("g", &old, Some("inst"), 1), errors::FENCED_INSTANCE_ID);
        assert_eq!(c.heartbeat("g", &new, Some("inst"), 1), 0);
    }

    fn sync_req(group: &str, member: &str, generation: i32, assignments: &[(&str, &[u8])]) -> SyncRequest {
        SyncRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a)))
                .collect(),
        }
    }

    #[test]
    fn sync_checks_protocol_and_generation() {
        let f = fixture(config());
        let c = &f.coordinator;
        let (a, ja) = join_new(c, "g");
        ready(ja);
        let mut req = sync_req("g", &a, 1, &[]);
        req.protocol_name = Some("roundrobin".into());
        assert_eq!(ready(c.sync_group(req)).error, errors::INCONSISTENT_GROUP_PROTOCOL);
        let mut req = sync_req("g", &a, 1, &[]);
        req.protocol_type = Some("connect".into());
        assert_eq!(ready(c.sync_group(req)).error, errors::INCONSISTENT_GROUP_PROTOCOL);
        assert_eq!(
            ready(c.sync_group(sync_req("g", &a, 7, &[]))).error,
            errors::ILLEGAL_GENERATION
        );
        assert_eq!(
            ready(c.sync_group(sync_req("g", "x", 1, &[]))).error,
            errors::UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            ready(c.sync_group(sync_req("none", &a, 1, &[]))).error,
            errors::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn group_max_size_is_enforced() {
        let f = fixture(GroupConfig {
            max_size: 1,
            ..config()
        });
        let c = &f.coordinator;
        let (_a, ja) = join_new(c, "g");
        ready(ja);
        // Refused before a member id is handed out, as Kafka does.
        let r = ready(c.join_group(join("g", "", &[("range", b"m")])));
        assert_eq!((r.error, r.member_id.as_str()), (errors::GROUP_MAX_SIZE_REACHED, ""));
    }

    fn commit(topic: &str, partition: i32, offset: i64) -> OffsetCommit {
        OffsetCommit {
            topic: topic.into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            retention_ms: None,
        }
    }

    /// Waits for a commit to be durable, as the OffsetCommit answer does.
    fn durably((codes, durable): (Vec<i16>, Option<Durable>)) -> Vec<i16> {
        if let Some(d) = durable {
            d.log.flush().unwrap();
        }
        codes
    }

    #[test]
    fn offsets_commit_fetch_and_validation() {
        let f = fixture(config());
        let c = &f.coordinator;
        // Standalone commit creates the group.
        let (codes, durable) = c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5), commit("t", 1, 7)]);
        assert_eq!(codes, vec![0, 0]);
        let durable = durable.expect("a write to make durable");
        // Not durable yet: invisible, and unstable for a reader that asks for stability.
        assert!(c.fetch_offsets("simple", None, false, None).unwrap().is_empty());
        let unstable = c.fetch_offsets("simple", Some(&[("t".into(), 1)]), true, None).unwrap();
        assert_eq!((&unstable[0].1, unstable[0].2), (&None, errors::UNSTABLE_OFFSET_COMMIT));
        durable.log.flush().unwrap();
        let all = c.fetch_offsets("simple", None, true, None).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|(_, _, code)| *code == errors::NONE));
        let some = c
            .fetch_offsets("simple", Some(&[("t".into(), 1), ("t".into(), 9)]), false, None)
            .unwrap();
        assert_eq!(some[0].1.as_ref().map(|o| o.offset), Some(7));
        assert_eq!(some[1].1, None, "no commit: -1 without an error");
        assert_eq!(
            c.fetch_offsets("unknown", Some(&[("t".into(), 0)]), false, None)
                .unwrap()[0]
                .1,
            None
        );
        // A group generation that never existed.
        let (codes, _) = c.commit_offsets("nogroup", "m", None, 3, &[commit("t", 0, 1)]);
        assert_eq!(codes, vec![errors::ILLEGAL_GENERATION]);
        // A live group refuses anonymous commits and stale generations.
        let (a, ja) = join_new(c, "live");
        ready(ja);
        ready(sync(c, "live", &a, 1, &[(&a, b"")]));
        assert_eq!(
            c.commit_offsets("live", "", None, -1, &[commit("t", 0, 1)]).0,
            vec![errors::UNKNOWN_MEMBER_ID]
        );
        assert_eq!(
            c.commit_offsets("live", &a, None, 0, &[commit("t", 0, 1)]).0,
            vec![errors::ILLEGAL_GENERATION]
        );
        assert_eq!(
            c.commit_offsets("live", "x", None, 1, &[commit("t", 0, 1)]).0,
            vec![errors::UNKNOWN_MEMBER_ID]
        );
        assert_eq!(c.commit_offsets("live", &a, None, 1, &[commit("t", 0, 1)]).0, vec![0]);
        assert_eq!(
            c.commit_offsets("", "", None, -1, &[commit("t", 0, 1)]).0,
            vec![errors::INVALID_GROUP_ID]
        );
    }

    #[test]
    fn admin_apis() {
        let f = fixture(config());
        let c = &f.coordinator;
        durably(c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5), commit("u", 0, 1)]));
        let (a, ja) = join_new(c, "live");
        ready(ja);
        let listed = c.list_groups(&[], &[]).unwrap();
        assert_eq!(
            listed.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(),
            vec!["live", "simple"]
        );
        assert_eq!(c.list_groups(&["EMPTY".into()], &[]).unwrap().len(), 1);
        assert_eq!(
            c.list_groups(&["completingrebalance".into()], &[]).unwrap()[0].group_id,
            "live"
        );
        let d = c.describe_group("live").unwrap().unwrap();
        assert_eq!(
            (d.state, d.members.len(), d.protocol.as_str()),
            (GroupState::CompletingRebalance, 1, "")
        );
        assert!(c.describe_group("nope").unwrap().is_none());
        let (codes, _) = c.delete_groups(&["live".into(), "nope".into(), "".into()]);
        assert_eq!(
            codes,
            vec![
                errors::NON_EMPTY_GROUP,
                errors::GROUP_ID_NOT_FOUND,
                errors::INVALID_GROUP_ID
            ]
        );
        // A consumer group whose subscription cannot be read counts as subscribed to everything.
        let (codes, _) = c.delete_offsets("live", &[("t".into(), 0)]).unwrap();
        assert_eq!(codes, vec![errors::GROUP_SUBSCRIBED_TO_TOPIC]);
        ready(sync(c, "live", &a, 1, &[(&a, b"")]));
        let (codes, _) = c.delete_offsets("live", &[("t".into(), 0)]).unwrap();
        assert_eq!(codes, vec![errors::GROUP_SUBSCRIBED_TO_TOPIC]);
        // A group of another protocol type with members refuses offset deletion.
        let mut other = join("connect-group", "", &[("x", b"")]);
        other.protocol_type = "connect".into();
        let r = ready(c.join_group(other.clone()));
        other.member_id = r.member_id;
        assert_eq!(ready(c.join_group(other)).error, 0);
        assert_eq!(
            c.delete_offsets("connect-group", &[("t".into(), 0)]).unwrap_err(),
            errors::NON_EMPTY_GROUP
        );
        let (codes, _) = c.delete_offsets("simple", &[("t".into(), 0)]).unwrap();
        assert_eq!(codes, vec![0]);
        assert_eq!(c.fetch_offsets("simple", None, false, None).unwrap().len(), 1);
        let (codes, _) = c.delete_groups(&["simple".into()]);
        assert_eq!(codes, vec![0]);
        assert!(c.describe_group("simple").unwrap().is_none());
        assert_eq!(
            c.delete_offsets("simple", &[("t".into(), 0)]).unwrap_err(),
            errors::GROUP_ID_NOT_FOUND
        );
    }

    #[test]
    fn offsets_expire_for_empty_groups() {
        let f = fixture(GroupConfig {
            offsets_retention_ms: 1000,
            ..config()
        });
        let c = &f.coordinator;
        durably(c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5)]));
        assert_eq!(c.expire_offsets(now_ms()), 0);
        assert_eq!(c.expire_offsets(now_ms() + 2000), 1);
        assert!(
            c.describe_group("simple").unwrap().is_none(),
            "an empty group without offsets is removed"
        );
    }

    #[tokio::test]
    async fn state_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let member;
        {
            let (c, _topics, logs) = open_in(dir.path(), config());
            c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5), commit("t", 1, 6)]);
            c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 8)]);
            c.commit_offsets("gone", "", None, -1, &[commit("t", 0, 1)]);
            c.delete_groups(&["gone".into()]);
            let (a, ja) = join_new(&c, "live");
            ready(ja);
            let s = ready(sync(&c, "live", &a, 1, &[(&a, b"assigned")]));
            c.wait_durable(s.durable.as_ref().unwrap()).await.unwrap();
            c.commit_offsets("live", &a, None, 1, &[commit("t", 2, 42)]);
            member = a;
            c.shutdown();
            logs.shutdown().unwrap();
        }
        let (c, _topics, _logs) = open_in(dir.path(), config());
        let simple = c.fetch_offsets("simple", None, false, None).unwrap();
        let offsets: Vec<i64> = simple.iter().map(|(_, o, _)| o.as_ref().unwrap().offset).collect();
        assert_eq!(offsets, vec![8, 6]);
        assert!(c.describe_group("gone").unwrap().is_none());
        let (state, generation, members, leader) = c.group_snapshot("live").unwrap();
        assert_eq!((state, generation), (GroupState::Stable, 1));
        assert_eq!(members, vec![member.clone()]);
        assert_eq!(leader.as_deref(), Some(member.as_str()));
        // The member carries on in its generation and gets its assignment back.
        assert_eq!(c.heartbeat("live", &member, None, 1), 0);
        let s = ready(sync(&c, "live", &member, 1, &[]));
        assert_eq!(&s.assignment[..], b"assigned");
        assert_eq!(
            c.fetch_offsets("live", None, false, None).unwrap()[0]
                .1
                .as_ref()
                .unwrap()
                .offset,
            42
        );
    }

    #[test]
    fn shutdown_answers_waiting_joins() {
        let f = fixture(GroupConfig {
            initial_rebalance_delay_ms: 10_000,
            ..config()
        });
        let (_a, ja) = join_new(&f.coordinator, "g");
        let mut ja = waiting(ja);
        f.coordinator.shutdown();
        assert_eq!(ja.try_recv().unwrap().error, errors::NOT_COORDINATOR);
        assert_eq!(
            ready(f.coordinator.join_group(join("g", "", &[("range", b"")]))).error,
            errors::COORDINATOR_NOT_AVAILABLE
        );
        let _ = (&f.topics, &f.logs);
    }
}
