//! Kafka's `TransactionCoordinator`: the state machine of every transactional id (see the
//! module docs of [`crate::txn`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::TxnConfig;
use super::transaction_log::{self, TRANSACTION_STATE_TOPIC, TxnLogValue, TxnState};
use super::transaction_metadata::TxnMetadata;
use crate::api::errors;
use crate::group::offsets_log::{OFFSETS_TOPIC, partition_for};
use crate::group::{Durable, GroupCoordinator};
use crate::log::{LogError, LogManager, PartitionLog, now_ms};
use crate::metadata::topics::NewTopic;
use crate::metadata::{ProducerIdManager, TopicError, TopicRegistry};
use crate::record::{self, Compression, ControlRecordType, RecordBatchBuilder};
use crate::timer;

/// The coordinator epoch written into markers: one node, one coordinator, forever.
pub const COORDINATOR_EPOCH: i32 = 0;
const REPLAY_READ_BYTES: usize = 1 << 20;

struct TxnEntry {
    /// Serialises the operations on this id, across their durability waits.
    op: Arc<tokio::sync::Mutex<()>>,
    meta: Mutex<TxnMetadata>,
}

type EntryRef = Arc<TxnEntry>;

/// A listed transaction: ListTransactions' view.
#[derive(Clone, Debug)]
pub struct ListedTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
    pub start_ms: i64,
}

pub struct TransactionCoordinator {
    config: TxnConfig,
    topics: Arc<TopicRegistry>,
    logs: Arc<LogManager>,
    producer_ids: Arc<ProducerIdManager>,
    groups: Arc<GroupCoordinator>,
    /// Partitions of `__transaction_state`; 0 until it exists.
    partitions: AtomicI32,
    create_lock: Mutex<()>,
    txns: RwLock<HashMap<String, EntryRef>>,
    active: AtomicBool,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl TransactionCoordinator {
    /// Replays `__transaction_state` if it exists. Blocking.
    pub fn open(
        config: TxnConfig,
        topics: Arc<TopicRegistry>,
        logs: Arc<LogManager>,
        producer_ids: Arc<ProducerIdManager>,
        groups: Arc<GroupCoordinator>,
    ) -> Result<Arc<TransactionCoordinator>, String> {
        let (stop, _) = watch::channel(false);
        let coordinator = TransactionCoordinator {
            config,
            topics,
            logs,
            producer_ids,
            groups,
            partitions: AtomicI32::new(0),
            create_lock: Mutex::new(()),
            txns: RwLock::new(HashMap::new()),
            active: AtomicBool::new(true),
            stop,
            tasks: Mutex::new(Vec::new()),
        };
        if let Some(topic) = coordinator.topics.get(TRANSACTION_STATE_TOPIC) {
            coordinator.partitions.store(topic.partitions, Ordering::SeqCst);
            coordinator.load(topic.partitions)?;
        }
        Ok(Arc::new(coordinator))
    }

    /// Finishes the transactions a crash left between their decision and their markers, and
    /// starts the timers: aborting timed-out transactions, expiring idle transactional ids.
    pub fn start(self: &Arc<Self>) {
        let unfinished: Vec<(String, EntryRef)> = self
            .txns
            .read()
            .iter()
            .filter(|(_, e)| matches!(e.meta.lock().state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect();
        for (id, entry) in unfinished {
            let me = self.clone();
            tokio::spawn(async move {
                let _op = entry.op.lock().await;
                let commit = entry.meta.lock().state == TxnState::PrepareCommit;
                if let Err(code) = me.complete(&id, &entry, commit, false).await {
                    tracing::warn!(transactional_id = %id, code, "could not finish a transaction decided before the restart; the producer's next request retries");
                }
            });
        }
        let mut tasks = self.tasks.lock();
        let abort_every = Duration::from_millis(self.config.abort_timed_out_interval_ms);
        let me = self.clone();
        tasks.push(timer::every(
            abort_every,
            abort_every,
            self.stop.subscribe(),
            move || {
                let me = me.clone();
                async move { me.abort_timed_out().await }
            },
        ));
        let expire_every = Duration::from_millis(self.config.remove_expired_interval_ms);
        let me = self.clone();
        tasks.push(timer::every(
            expire_every,
            expire_every,
            self.stop.subscribe(),
            move || {
                let me = me.clone();
                async move { me.expire_transactional_ids().await }
            },
        ));
    }

    /// Stops the timers; later requests get COORDINATOR_NOT_AVAILABLE.
    pub fn shutdown(&self) {
        self.active.store(false, Ordering::SeqCst);
        let _ = self.stop.send(true);
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    fn get(&self, id: &str) -> Option<EntryRef> {
        self.txns.read().get(id).cloned()
    }

    /// Whether `entry` is still the id's (it may have expired while a request waited for it).
    fn is_current(&self, id: &str, entry: &EntryRef) -> bool {
        self.txns.read().get(id).is_some_and(|e| Arc::ptr_eq(e, entry))
    }

    // ---- persistence ------------------------------------------------------------------------

    /// Creates `__transaction_state` if it does not exist yet (blocking), as Kafka does at the
    /// first FindCoordinator for a transactional id.
    pub fn ensure_state_topic(&self) -> Result<i32, i16> {
        let n = self.partitions.load(Ordering::SeqCst);
        if n > 0 {
            return Ok(n);
        }
        let _guard = self.create_lock.lock();
        if let Some(topic) = self.topics.get(TRANSACTION_STATE_TOPIC) {
            self.partitions.store(topic.partitions, Ordering::SeqCst);
            return Ok(topic.partitions);
        }
        let configs = [
            ("cleanup.policy", "compact".to_string()),
            ("compression.type", "uncompressed".to_string()),
            ("segment.bytes", self.config.state_log_segment_bytes.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let new = NewTopic {
            name: TRANSACTION_STATE_TOPIC.to_string(),
            partitions: self.config.state_log_partitions,
            replication_factor: -1,
            assignments: Vec::new(),
            configs,
        };
        let topic = match self.topics.create_topic(new, false) {
            Ok(t) => t,
            Err(TopicError::AlreadyExists(_)) => self
                .topics
                .get(TRANSACTION_STATE_TOPIC)
                .ok_or(errors::COORDINATOR_NOT_AVAILABLE)?,
            Err(e) => {
                tracing::error!(error = %e, "cannot create {TRANSACTION_STATE_TOPIC}");
                return Err(errors::COORDINATOR_NOT_AVAILABLE);
            }
        };
        tracing::info!(partitions = topic.partitions, "created {TRANSACTION_STATE_TOPIC}");
        self.partitions.store(topic.partitions, Ordering::SeqCst);
        Ok(topic.partitions)
    }

    /// Writes `value` (`None`: a tombstone) for `id` and waits until it is fsynced.
    async fn persist(&self, id: &str, value: Option<&TxnMetadata>) -> Result<(), i16> {
        let written = self.append_state(id, value)?;
        self.wait_durable(&written.log, written.offset).await
    }

    /// Writes `value` for `id`; the returned mark says when it is durable.
    fn append_state(&self, id: &str, value: Option<&TxnMetadata>) -> Result<Durable, i16> {
        let partitions = self.partitions.load(Ordering::SeqCst);
        if partitions <= 0 {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let partition = partition_for(id, partitions);
        let Some(log) = self.topics.partition_log(TRANSACTION_STATE_TOPIC, partition) else {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        };
        let now = now_ms();
        let key = transaction_log::encode_key(id);
        let encoded = value.map(|v| transaction_log::encode_value(&v.to_value()));
        let mut builder = RecordBatchBuilder::new(Compression::None);
        builder.append(now, Some(&key), encoded.as_deref(), &[]);
        let mut batch = builder.build();
        let info = log.append(&mut batch, now, false).map_err(|e| {
            tracing::error!(transactional_id = id, partition, error = %e, "writing to {TRANSACTION_STATE_TOPIC} failed");
            errors::COORDINATOR_NOT_AVAILABLE
        })?;
        Ok(Durable {
            log,
            offset: info.last_offset + 1,
        })
    }

    async fn wait_durable(&self, log: &Arc<PartitionLog>, offset: i64) -> Result<(), i16> {
        self.logs.wait_durable(log, offset).await.map_err(|e| {
            tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "a transaction write was not made durable");
            errors::COORDINATOR_NOT_AVAILABLE
        })
    }

    /// Rebuilds every transactional id from `__transaction_state`.
    fn load(&self, partitions: i32) -> Result<(), String> {
        let mut loaded: HashMap<String, Option<TxnLogValue>> = HashMap::new();
        for p in 0..partitions {
            let Some(log) = self.topics.partition_log(TRANSACTION_STATE_TOPIC, p) else {
                return Err(format!("{TRANSACTION_STATE_TOPIC}-{p} has no log"));
            };
            replay_partition(&log, &mut loaded)
                .map_err(|e| format!("cannot replay {TRANSACTION_STATE_TOPIC}-{p}: {e}"))?;
        }
        let mut map = self.txns.write();
        for (id, value) in loaded {
            if let Some(value) = value {
                map.insert(
                    id,
                    Arc::new(TxnEntry {
                        op: Arc::new(tokio::sync::Mutex::new(())),
                        meta: Mutex::new(TxnMetadata::from_value(value)),
                    }),
                );
            }
        }
        if !map.is_empty() {
            tracing::info!(
                transactional_ids = map.len(),
                "loaded transactions from {TRANSACTION_STATE_TOPIC}"
            );
        }
        Ok(())
    }

    // ---- InitProducerId ---------------------------------------------------------------------

    /// InitProducerId with a transactional id: the producer id and a bumped epoch, which fences
    /// every older producer of the id. An open transaction is aborted first; with `expected`
    /// (KIP-360, v3+) the caller must hold the current id and epoch (or be retrying).
    pub async fn init_producer_id(
        self: &Arc<Self>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), i16> {
        if !self.active.load(Ordering::SeqCst) {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(errors::INVALID_TRANSACTION_TIMEOUT);
        }
        {
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.ensure_state_topic())
                .await
                .map_err(|_| errors::COORDINATOR_NOT_AVAILABLE)??;
        }
        // An id expired while this waited for its lock is looked up (or created) again.
        let (entry, _op) = loop {
            let entry = match self.get(id) {
                Some(e) => e,
                None => {
                    let ids = self.producer_ids.clone();
                    let (producer_id, _) = tokio::task::spawn_blocking(move || ids.new_producer())
                        .await
                        .map_err(|_| errors::COORDINATOR_NOT_AVAILABLE)?
                        .map_err(|e| {
                            tracing::error!(error = %e, "cannot allocate a producer id");
                            errors::COORDINATOR_NOT_AVAILABLE
                        })?;
                    let now = now_ms();
                    let fresh = Arc::new(TxnEntry {
                        op: Arc::new(tokio::sync::Mutex::new(())),
                        meta: Mutex::new(TxnMetadata {
                            producer_id,
                            previous_producer_id: -1,
                            next_producer_id: -1,
                            client_tv2: false,
                            producer_epoch: -1,
                            last_producer_epoch: -1,
                            timeout_ms,
                            state: TxnState::Empty,
                            partitions: BTreeSet::new(),
                            start_ms: -1,
                            last_update_ms: now,
                        }),
                    });
                    self.txns.write().entry(id.to_string()).or_insert(fresh).clone()
                }
            };
            let op = entry.op.clone().lock_owned().await;
            if self.is_current(id, &entry) {
                break (entry, op);
            }
        };
        // Finish what is in flight: an open transaction is aborted under a bumped epoch (the
        // fence), a decided one gets its markers.
        let state = entry.meta.lock().state;
        match state {
            TxnState::Ongoing => {
                let fenced = {
                    let mut m = entry.meta.lock();
                    m.fence_epoch();
                    m.clone()
                };
                tracing::info!(
                    transactional_id = id,
                    producer_id = fenced.producer_id,
                    epoch = fenced.producer_epoch,
                    "a new producer fences the open transaction, which is aborted"
                );
                self.complete(id, &entry, false, false).await?;
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                self.complete(id, &entry, state == TxnState::PrepareCommit, false)
                    .await?;
            }
            _ => {}
        }
        let current = entry.meta.lock().clone();
        let valid_expected = |(pid, epoch): (i64, i16)| {
            current.producer_epoch == -1
                || pid == current.producer_id
                || (pid == current.previous_producer_id && TxnMetadata::epoch_exhausted(epoch))
        };
        if expected.is_some_and(|e| !valid_expected(e)) {
            return Err(errors::PRODUCER_FENCED);
        }
        let mut next = current.clone();
        next.timeout_ms = timeout_ms;
        next.state = TxnState::Empty;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms();
        if TxnMetadata::epoch_exhausted(current.producer_epoch)
            && expected.is_none_or(|(_, e)| e == current.producer_epoch)
        {
            let ids = self.producer_ids.clone();
            let (producer_id, _) = tokio::task::spawn_blocking(move || ids.new_producer())
                .await
                .map_err(|_| errors::COORDINATOR_NOT_AVAILABLE)?
                .map_err(|_| errors::COORDINATOR_NOT_AVAILABLE)?;
            next.previous_producer_id = current.producer_id;
            next.producer_id = producer_id;
            next.producer_epoch = 0;
            next.last_producer_epoch = -1;
        } else {
            match expected {
                Some((_, e)) if current.producer_epoch != -1 && e != current.producer_epoch => {
                    if e == current.last_producer_epoch {
                        // A retry of a bump that succeeded: the same answer again.
                        return Ok((current.producer_id, current.producer_epoch));
                    }
                    return Err(errors::PRODUCER_FENCED);
                }
                Some(_) => {
                    next.producer_epoch = current.producer_epoch.saturating_add(1);
                    next.last_producer_epoch = current.producer_epoch;
                }
                None => {
                    next.producer_epoch = current.producer_epoch.saturating_add(1);
                    next.last_producer_epoch = -1;
                }
            }
        }
        self.persist(id, Some(&next)).await?;
        let answer = (next.producer_id, next.producer_epoch);
        *entry.meta.lock() = next;
        Ok(answer)
    }

    // ---- AddPartitionsToTxn / AddOffsetsToTxn ------------------------------------------------

    /// Checks that the request comes from the id's current producer: INVALID_PRODUCER_ID_MAPPING
    /// for another id, PRODUCER_FENCED for another epoch.
    fn check_producer(meta: &TxnMetadata, producer_id: i64, epoch: i16) -> Result<(), i16> {
        if meta.producer_id != producer_id {
            return Err(errors::INVALID_PRODUCER_ID_MAPPING);
        }
        if meta.producer_epoch != epoch {
            return Err(errors::PRODUCER_FENCED);
        }
        Ok(())
    }

    /// Adds `partitions` to the producer's transaction, starting it if none is open.
    pub async fn add_partitions(
        self: &Arc<Self>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), i16> {
        if !self.active.load(Ordering::SeqCst) {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let entry = self.get(id).ok_or(errors::INVALID_PRODUCER_ID_MAPPING)?;
        let _op = entry.op.lock().await;
        if !self.is_current(id, &entry) {
            return Err(errors::INVALID_PRODUCER_ID_MAPPING);
        }
        let mut next = {
            let m = entry.meta.lock();
            Self::check_producer(&m, producer_id, epoch)?;
            match m.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => return Err(errors::CONCURRENT_TRANSACTIONS),
                TxnState::Ongoing if partitions.iter().all(|tp| m.partitions.contains(tp)) => return Ok(()),
                TxnState::Dead | TxnState::PrepareEpochFence => return Err(errors::INVALID_TXN_STATE),
                _ => {}
            }
            m.clone()
        };
        let now = now_ms();
        if next.state != TxnState::Ongoing {
            next.state = TxnState::Ongoing;
            next.partitions.clear();
            next.start_ms = now;
        }
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now;
        self.persist(id, Some(&next)).await?;
        *entry.meta.lock() = next;
        Ok(())
    }

    /// Transactions v2 (KIP-890): a transactional produce (v12+) or TxnOffsetCommit (v5+)
    /// adds its partition to the producer's transaction itself, starting the transaction if
    /// none is open. Runs on the request's path without waiting: the returned mark (if a
    /// state change was written) is what the reply must wait for. An operation already in
    /// flight on this id answers CONCURRENT_TRANSACTIONS, which the caller turns retriable.
    pub fn add_partitions_implicitly(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Option<Durable>, i16> {
        if !self.active.load(Ordering::SeqCst) {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let entry = self.get(id).ok_or(errors::INVALID_PRODUCER_ID_MAPPING)?;
        {
            let m = entry.meta.lock();
            Self::check_producer(&m, producer_id, epoch)?;
            if m.state == TxnState::Ongoing && partitions.iter().all(|tp| m.partitions.contains(tp)) {
                return Ok(None);
            }
        }
        let Ok(_op) = entry.op.try_lock() else {
            return Err(errors::CONCURRENT_TRANSACTIONS);
        };
        let mut next = entry.meta.lock().clone();
        Self::check_producer(&next, producer_id, epoch)?;
        match next.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => return Err(errors::CONCURRENT_TRANSACTIONS),
            TxnState::Dead | TxnState::PrepareEpochFence => return Err(errors::INVALID_TXN_STATE),
            _ => {}
        }
        let now = now_ms();
        if next.state != TxnState::Ongoing {
            next.state = TxnState::Ongoing;
            next.partitions.clear();
            next.start_ms = now;
        }
        next.client_tv2 = true;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now;
        let written = self.append_state(id, Some(&next))?;
        *entry.meta.lock() = next;
        Ok(Some(written))
    }

    /// Whether `partitions` are all in the open transaction of `producer_id` at `epoch`: what a
    /// transactional produce and TxnOffsetCommit need (Kafka's partition verification).
    pub fn verify(&self, id: &str, producer_id: i64, epoch: i16, partitions: &[(String, i32)]) -> i16 {
        let Some(entry) = self.get(id) else {
            return errors::INVALID_PRODUCER_ID_MAPPING;
        };
        let m = entry.meta.lock();
        if let Err(code) = Self::check_producer(&m, producer_id, epoch) {
            return code;
        }
        if m.state == TxnState::Ongoing && partitions.iter().all(|tp| m.partitions.contains(tp)) {
            errors::NONE
        } else {
            errors::INVALID_TXN_STATE
        }
    }

    /// The `__consumer_offsets` partition AddOffsetsToTxn adds for `group_id`.
    pub fn offsets_partition(&self, group_id: &str) -> (String, i32) {
        (OFFSETS_TOPIC.to_string(), self.groups.partition_for(group_id))
    }

    // ---- EndTxn -----------------------------------------------------------------------------

    /// Commits or aborts the producer's transaction; returns the producer id and epoch to use
    /// next (transactions v2 bumps the epoch at every end). Retrying a completed EndTxn with
    /// the same outcome succeeds; asking for the other outcome is INVALID_TXN_STATE. `tv2`: the
    /// request is EndTxn v5+.
    pub async fn end_txn(
        self: &Arc<Self>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        tv2: bool,
    ) -> Result<(i64, i16), i16> {
        if !self.active.load(Ordering::SeqCst) {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let entry = self.get(id).ok_or(errors::INVALID_PRODUCER_ID_MAPPING)?;
        let _op = entry.op.lock().await;
        if !self.is_current(id, &entry) {
            return Err(errors::INVALID_PRODUCER_ID_MAPPING);
        }
        let m = entry.meta.lock().clone();
        let bump = tv2 || m.client_tv2;
        // Transactions v2: a retry carries the epoch from before the bump it caused, or the
        // exhausted epoch of the producer id it rotated away from.
        let retried_bump = bump && i32::from(m.producer_epoch) == i32::from(epoch) + 1;
        let retried_rotation =
            bump && m.previous_producer_id == producer_id && epoch == i16::MAX - 1 && m.producer_epoch == 0;
        if m.producer_id != producer_id && !retried_rotation {
            return Err(errors::INVALID_PRODUCER_ID_MAPPING);
        }
        let valid_epoch = if bump {
            match m.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => retried_bump,
                TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    retried_bump || retried_rotation || epoch == m.producer_epoch
                }
                _ => epoch == m.producer_epoch,
            }
        } else {
            epoch == m.producer_epoch
        };
        if !valid_epoch {
            return Err(errors::PRODUCER_FENCED);
        }
        let current = |e: &TxnEntry| {
            let m = e.meta.lock();
            (m.producer_id, m.producer_epoch)
        };
        match (m.state, commit) {
            (TxnState::Ongoing, _) => self.complete(id, &entry, commit, bump).await?,
            // A decision whose markers did not all land yet: finish it.
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                self.complete(id, &entry, commit, false).await?
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false)
                if !bump || retried_bump || retried_rotation => {}
            // Transactions v2: a producer that failed before any partition joined aborts to
            // get its next epoch.
            (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false) if bump => {
                self.complete(id, &entry, false, true).await?
            }
            _ => return Err(errors::INVALID_TXN_STATE),
        }
        Ok(current(&entry))
    }

    /// The two phases of ending a transaction. The caller holds the id's operation lock.
    /// With `bump` (transactions v2) the decision carries the next epoch, which the markers
    /// use and the producer continues with; an exhausted epoch rotates to a new producer id
    /// once the markers are written.
    async fn complete(&self, id: &str, entry: &TxnEntry, commit: bool, bump: bool) -> Result<(), i16> {
        let (prepare, complete) = if commit {
            (TxnState::PrepareCommit, TxnState::CompleteCommit)
        } else {
            (TxnState::PrepareAbort, TxnState::CompleteAbort)
        };
        let mut next = entry.meta.lock().clone();
        if next.state != prepare {
            next.state = prepare;
            next.last_update_ms = now_ms();
            if bump {
                if TxnMetadata::epoch_exhausted(next.producer_epoch) {
                    let ids = self.producer_ids.clone();
                    next.next_producer_id = tokio::task::spawn_blocking(move || ids.new_producer())
                        .await
                        .map_err(|_| errors::COORDINATOR_NOT_AVAILABLE)?
                        .map_err(|_| errors::COORDINATOR_NOT_AVAILABLE)?
                        .0;
                }
                next.last_producer_epoch = next.producer_epoch;
                next.producer_epoch = next.producer_epoch.saturating_add(1);
            }
            self.persist(id, Some(&next)).await?;
            *entry.meta.lock() = next.clone();
        }
        let kind = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let mut written = Vec::with_capacity(next.partitions.len());
        for (topic, partition) in &next.partitions {
            // A partition deleted since it joined the transaction has nothing to mark.
            let Some(log) = self.topics.partition_log(topic, *partition) else {
                continue;
            };
            match log.append_marker(next.producer_id, next.producer_epoch, kind, COORDINATOR_EPOCH, now_ms()) {
                Ok(info) => {
                    let durable = Durable {
                        log: log.clone(),
                        offset: info.last_offset + 1,
                    };
                    if topic == OFFSETS_TOPIC {
                        self.groups
                            .complete_txn_offsets(*partition, next.producer_id, commit, &durable);
                    }
                    written.push(durable);
                }
                Err(LogError::Closed) => continue,
                Err(e) => {
                    tracing::error!(transactional_id = id, topic = %topic, partition, error = %e, "cannot write a transaction marker; the transaction stays decided until it can");
                    return Err(errors::COORDINATOR_NOT_AVAILABLE);
                }
            }
        }
        let waits: Vec<_> = written.iter().map(|d| (d.log.clone(), d.offset)).collect();
        self.logs.wait_durable_all(&waits).await.map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "transaction markers were not made durable");
            errors::COORDINATOR_NOT_AVAILABLE
        })?;
        next.state = complete;
        next.partitions.clear();
        next.last_update_ms = now_ms();
        if next.next_producer_id >= 0 {
            next.previous_producer_id = next.producer_id;
            next.producer_id = next.next_producer_id;
            next.producer_epoch = 0;
            next.next_producer_id = -1;
        }
        self.persist(id, Some(&next)).await?;
        *entry.meta.lock() = next;
        Ok(())
    }

    // ---- timers -----------------------------------------------------------------------------

    /// Aborts every transaction open longer than its timeout, bumping the producer's epoch
    /// first so the producer is fenced (Kafka's `abortTimedOutTransactions`).
    pub async fn abort_timed_out(self: &Arc<Self>) {
        let now = now_ms();
        let expired: Vec<(String, EntryRef)> = self
            .txns
            .read()
            .iter()
            .filter(|(_, e)| {
                let m = e.meta.lock();
                m.state == TxnState::Ongoing && now.saturating_sub(m.start_ms) > i64::from(m.timeout_ms)
            })
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect();
        for (id, entry) in expired {
            let me = self.clone();
            tokio::spawn(async move {
                let _op = entry.op.lock().await;
                {
                    let mut m = entry.meta.lock();
                    if m.state != TxnState::Ongoing || now_ms().saturating_sub(m.start_ms) <= i64::from(m.timeout_ms) {
                        return;
                    }
                    m.fence_epoch();
                    tracing::info!(transactional_id = %id, producer_id = m.producer_id, epoch = m.producer_epoch, timeout_ms = m.timeout_ms, "aborting a transaction open longer than its timeout");
                }
                if let Err(code) = me.complete(&id, &entry, false, false).await {
                    tracing::warn!(transactional_id = %id, code, "could not abort a timed-out transaction; trying again later");
                }
            });
        }
    }

    /// Forgets transactional ids idle for `transactional.id.expiration.ms`, writing tombstones.
    pub async fn expire_transactional_ids(self: &Arc<Self>) {
        let now = now_ms();
        let idle = |m: &TxnMetadata| {
            matches!(
                m.state,
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
            ) && now.saturating_sub(m.last_update_ms) > self.config.id_expiration_ms
        };
        let expired: Vec<(String, EntryRef)> = self
            .txns
            .read()
            .iter()
            .filter(|(_, e)| idle(&e.meta.lock()))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect();
        for (id, entry) in expired {
            let _op = entry.op.lock().await;
            if !idle(&entry.meta.lock()) {
                continue;
            }
            if self.persist(&id, None).await.is_ok() {
                let mut map = self.txns.write();
                if map.get(&id).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                    map.remove(&id);
                }
                tracing::info!(transactional_id = %id, "expired an idle transactional id");
            }
        }
    }

    // ---- admin ------------------------------------------------------------------------------

    /// Every transactional id, with its producer and state (ListTransactions).
    pub fn list(&self) -> Vec<ListedTxn> {
        let mut out: Vec<ListedTxn> = self
            .txns
            .read()
            .iter()
            .map(|(id, e)| {
                let m = e.meta.lock();
                ListedTxn {
                    transactional_id: id.clone(),
                    producer_id: m.producer_id,
                    state: m.state,
                    start_ms: m.start_ms,
                }
            })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// One transactional id's state (DescribeTransactions).
    pub fn describe(&self, id: &str) -> Option<TxnMetadata> {
        self.get(id).map(|e| e.meta.lock().clone())
    }
}

/// Reads one `__transaction_state` partition into `loaded` (the latest value per id wins).
fn replay_partition(log: &PartitionLog, loaded: &mut HashMap<String, Option<TxnLogValue>>) -> Result<(), LogError> {
    log.for_each_batch(REPLAY_READ_BYTES, |header, batch| {
        if header.is_control() {
            return;
        }
        let records = match record::records(batch) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(partition = log.partition(), offset = header.base_offset, error = %e, "skipping an unreadable {TRANSACTION_STATE_TOPIC} batch");
                return;
            }
        };
        for r in records {
            let Some(key) = r.key.as_deref() else { continue };
            match transaction_log::decode_record(key, r.value.as_ref()) {
                Ok((id, value)) => {
                    loaded.insert(id, value);
                }
                Err(e) => {
                    tracing::warn!(partition = log.partition(), offset = r.offset, error = %e, "skipping a malformed {TRANSACTION_STATE_TOPIC} record");
                }
            }
        }
    })
}
