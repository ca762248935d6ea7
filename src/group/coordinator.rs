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

mod classic_membership;
mod consumer_group_state;
mod consumer_heartbeat;
mod group_loader;
mod offset_metadata;
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
    /// Partitions of `__consumer_offsets` as it exists (which wins over the configured count),
    /// or as it will be created.
    partitions: i32,
    offsets_topic_exists: AtomicBool,
    /// Held while `__consumer_offsets` is created.
    create_lock: Mutex<()>,
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
    /// Rebuilds every group from `__consumer_offsets`. Blocking. A missing topic is created
    /// when a group first needs it ([`Self::ensure_offsets_topic`]), as Kafka does at the
    /// first FindCoordinator for a group: a new broker answers without creating its 50
    /// partitions first.
    pub fn open(
        config: GroupConfig,
        topics: Arc<TopicRegistry>,
        logs: Arc<LogManager>,
    ) -> Result<Arc<GroupCoordinator>, String> {
        let existing = topics.get(OFFSETS_TOPIC);
        if let Some(topic) = &existing
            && topic.partitions != config.offsets_topic_partitions
        {
            tracing::warn!(
                existing = topic.partitions,
                configured = config.offsets_topic_partitions,
                "{OFFSETS_TOPIC} exists with a different partition count than offsets.topic.num.partitions; keeping the existing one"
            );
        }
        let (stop, _) = watch::channel(false);
        let coordinator = GroupCoordinator {
            partitions: existing
                .as_ref()
                .map_or(config.offsets_topic_partitions, |t| t.partitions),
            offsets_topic_exists: AtomicBool::new(existing.is_some()),
            create_lock: Mutex::new(()),
            config,
            topics,
            logs,
            groups: RwLock::new(HashMap::new()),
            active: AtomicBool::new(true),
            stop,
            tasks: Mutex::new(Vec::new()),
        };
        if existing.is_some() {
            coordinator.load()?;
        }
        Ok(Arc::new(coordinator))
    }

    /// Creates `__consumer_offsets` if it does not exist yet. Blocking (the metadata log and
    /// every partition's files are fsynced). Fails with COORDINATOR_NOT_AVAILABLE, which
    /// clients retry, as Kafka answers while the topic is being created.
    pub fn ensure_offsets_topic(&self) -> Result<(), i16> {
        if self.offsets_topic_exists.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.create_lock.lock();
        if self.topics.get(OFFSETS_TOPIC).is_some() {
            self.offsets_topic_exists.store(true, Ordering::Release);
            return Ok(());
        }
        let configs = [
            ("cleanup.policy", "compact".to_string()),
            ("compression.type", "producer".to_string()),
            ("segment.bytes", self.config.offsets_topic_segment_bytes.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let new = NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            partitions: self.partitions,
            replication_factor: -1,
            assignments: Vec::new(),
            configs,
        };
        match self.topics.create_topic(new, false) {
            Ok(_) | Err(TopicError::AlreadyExists(_)) => {
                tracing::info!(partitions = self.partitions, "created {OFFSETS_TOPIC}");
                self.offsets_topic_exists.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot create {OFFSETS_TOPIC}");
                Err(errors::COORDINATOR_NOT_AVAILABLE)
            }
        }
    }

    /// The log of `__consumer_offsets`' `partition`, the topic created first if it is missing.
    fn offsets_log(&self, partition: i32) -> Result<Arc<PartitionLog>, i16> {
        if !self.offsets_topic_exists.load(Ordering::Acquire) {
            crate::api::block_in_place(|| self.ensure_offsets_topic())?;
        }
        self.topics
            .partition_log(OFFSETS_TOPIC, partition)
            .ok_or(errors::COORDINATOR_NOT_AVAILABLE)
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
        let log = self.offsets_log(partition)?;
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

#[cfg(test)]
mod tests;
