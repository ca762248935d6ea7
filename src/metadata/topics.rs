//! The topic registry: names, topic ids, partition counts and config overrides, persisted
//! through the metadata log and backed by one `PartitionLog` per partition. It also holds the
//! broker's dynamic configs, since they are persisted in the same log and every topic's
//! effective configuration depends on them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::client_quotas::QuotaEntity;
use super::metadata_log::{MetadataLog, MetadataRecord};
use crate::config::{BrokerConfig, DynamicScope, TopicConfig, validate_dynamic, validate_topic_overrides};
use crate::log::{LogManager, PartitionLog};
use crate::security::{ScramCredential, ScramMechanism};

mod metadata_image;
use metadata_image::{apply, snapshot};

/// Topics the broker keeps for itself; clients see them flagged internal.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state", "__share_group_state"];

/// Kafka's limit: a partition directory name must fit in 255 bytes.
const MAX_TOPIC_NAME_LEN: usize = 249;

#[derive(Clone, Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub overrides: BTreeMap<String, String>,
    pub config: TopicConfig,
}

impl Topic {
    pub fn is_internal(&self) -> bool {
        INTERNAL_TOPICS.contains(&self.name.as_str())
    }
}

/// Why a topic operation was refused, each mapping to Kafka's error code.
#[derive(Debug, Clone, PartialEq)]
pub enum TopicError {
    AlreadyExists(String),
    InvalidTopic(String),
    InvalidPartitions(String),
    InvalidReplicationFactor(String),
    InvalidReplicaAssignment(String),
    InvalidConfig(String),
    InvalidRequest(String),
    UnknownTopic,
    UnknownTopicId,
    DeletionDisabled,
    /// A request or the broker's partition budget would be exceeded (POLICY_VIOLATION).
    PolicyViolation(String),
    Storage(String),
    /// The client's controller mutation quota refused the change (KIP-599).
    ThrottlingQuotaExceeded,
}

impl TopicError {
    pub fn code(&self) -> i16 {
        match self {
            TopicError::AlreadyExists(_) => 36,
            TopicError::InvalidTopic(_) => 17,
            TopicError::InvalidPartitions(_) => 37,
            TopicError::InvalidReplicationFactor(_) => 38,
            TopicError::InvalidReplicaAssignment(_) => 39,
            TopicError::InvalidConfig(_) => 40,
            TopicError::InvalidRequest(_) => 42,
            TopicError::UnknownTopic => 3,
            TopicError::UnknownTopicId => 100,
            TopicError::DeletionDisabled => 73,
            TopicError::PolicyViolation(_) => 44,
            TopicError::Storage(_) => 56, // KAFKA_STORAGE_ERROR
            TopicError::ThrottlingQuotaExceeded => 89,
        }
    }

    pub fn message(&self) -> Option<String> {
        match self {
            TopicError::AlreadyExists(m)
            | TopicError::InvalidTopic(m)
            | TopicError::InvalidPartitions(m)
            | TopicError::InvalidReplicationFactor(m)
            | TopicError::InvalidReplicaAssignment(m)
            | TopicError::InvalidConfig(m)
            | TopicError::InvalidRequest(m)
            | TopicError::PolicyViolation(m)
            | TopicError::Storage(m) => Some(m.clone()),
            TopicError::UnknownTopic => Some("This server does not host this topic-partition.".into()),
            TopicError::UnknownTopicId => Some("This server does not host this topic ID.".into()),
            TopicError::DeletionDisabled => Some("Topic deletion is disabled.".into()),
            // Kafka's controller refuses without a message.
            TopicError::ThrottlingQuotaExceeded => None,
        }
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message().unwrap_or_default())
    }
}

impl From<io::Error> for TopicError {
    fn from(e: io::Error) -> Self {
        TopicError::Storage(e.to_string())
    }
}

/// Files a partition keeps open: its active segment's log, offset index and time index.
const FDS_PER_PARTITION: i64 = 3;

/// How many partitions fit in this process's open-file limit, keeping a quarter of it for
/// connections, segment rolls and the broker's own files.
fn partition_budget() -> i64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        i64::try_from(limit.rlim_cur).unwrap_or(i64::MAX)
    } else {
        1024
    };
    (soft.saturating_mul(3) / 4) / FDS_PER_PARTITION
}

/// Kafka's bound on resizing the log cleaner without a restart: at least one thread, and at
/// most half or double the current count in one step.
fn check_cleaner_threads(
    current: &BrokerConfig,
    scope: DynamicScope,
    requested: &BTreeMap<String, String>,
) -> Result<(), TopicError> {
    let mut next = current.clone();
    next.set_dynamic(scope, requested.clone());
    let threads = |c: &BrokerConfig| {
        c.get("log.cleaner.threads")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let (now, then) = (threads(current), threads(&next));
    let refuse = |why: String| Err(TopicError::InvalidRequest(why));
    if then < 1 {
        return refuse("Log cleaner threads should be at least 1".into());
    }
    if then < now / 2 {
        return refuse(format!(
            "Log cleaner threads cannot be reduced to less than half the current value {now}"
        ));
    }
    if then > now * 2 {
        return refuse(format!(
            "Log cleaner threads cannot be increased to more than double the current value {now}"
        ));
    }
    Ok(())
}

/// A CreateTopics entry after defaults are applied.
pub struct NewTopic {
    pub name: String,
    /// -1 means `num.partitions`.
    pub partitions: i32,
    /// -1 means `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit replica assignment per partition, if the client gave one.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: BTreeMap<String, String>,
}

#[derive(Default)]
pub(super) struct Registry {
    by_name: BTreeMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, String>,
    /// Client-quota entities and their quotas (AlterClientQuotas).
    quotas: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    /// SCRAM credentials by user and mechanism (AlterUserScramCredentials).
    pub(super) scram: BTreeMap<(String, ScramMechanism), ScramCredential>,
    /// ACLs by id (CreateAcls), shared with the authorizer as a snapshot.
    pub(super) acls: Arc<super::acls::AclSet>,
}

pub struct TopicRegistry {
    /// Static configs plus the dynamic ones; replaced wholesale when the dynamic ones change.
    broker: RwLock<Arc<BrokerConfig>>,
    pub(super) state: RwLock<Registry>,
    /// Serializes changes: check, persist, apply.
    pub(super) log: Mutex<MetadataLog>,
    /// The metadata log's record count, read without its lock.
    metadata_records: Arc<std::sync::atomic::AtomicUsize>,
    logs: OnceLock<Arc<LogManager>>,
}

impl TopicRegistry {
    /// Replays the metadata log under `data_dir`.
    pub fn open(broker: Arc<BrokerConfig>, data_dir: &Path) -> io::Result<TopicRegistry> {
        let (mut log, mut records) = MetadataLog::open(data_dir)?;
        if records.is_empty() {
            // A new cluster starts with `min.insync.replicas` set as a cluster-wide dynamic
            // default, as Kafka 4's storage formatter records it (KIP-966), so DescribeConfigs
            // reports it with the same source.
            let bootstrap = MetadataRecord::AlterBrokerConfigs {
                resource: String::new(),
                configs: BTreeMap::from([("min.insync.replicas".to_string(), "1".to_string())]),
            };
            log.append(&bootstrap)?;
            records.push(bootstrap);
        }
        let mut state = Registry::default();
        let mut broker = (*broker).clone();
        for record in records {
            apply(&mut broker, &mut state, record);
        }
        // Dynamic broker configs may have changed after a topic was created: resolve again.
        for t in state.by_name.values_mut() {
            Arc::make_mut(t).config = TopicConfig::resolve(&broker, &t.overrides);
        }
        if log.record_count()
            > 2 * (state.by_name.len() + state.quotas.len() + state.scram.len() + state.acls.len()) + 64
        {
            log.rewrite(&snapshot(&broker, &state))?;
        }
        Ok(TopicRegistry {
            broker: RwLock::new(Arc::new(broker)),
            state: RwLock::new(state),
            metadata_records: log.record_counter(),
            log: Mutex::new(log),
            logs: OnceLock::new(),
        })
    }

    /// Gives the registry its storage, makes sure every partition has a log, and starts the
    /// log manager's background work (retention, cleaning) with the current broker configs.
    pub fn attach_logs(&self, logs: Arc<LogManager>) -> Result<(), TopicError> {
        let topics: Vec<Arc<Topic>> = self.state.read().by_name.values().cloned().collect();
        for t in &topics {
            for p in 0..t.partitions {
                let log = logs
                    .get_or_create_for(&t.name, p, t.id, t.config.log_config())
                    .map_err(|e| TopicError::Storage(e.to_string()))?;
                log.update_config(t.config.log_config());
            }
        }
        // Directories of topics the metadata log no longer has: a deletion (or a failed create)
        // that a crash interrupted before its directories were moved away. Those that record a
        // topic id were written by this broker and are deleted; others are left alone.
        let mut orphans: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (name, partition) in logs.topics_on_disk() {
            let known = self
                .state
                .read()
                .by_name
                .get(&name)
                .is_some_and(|t| partition < t.partitions);
            if !known {
                orphans.entry(name).or_default().push(partition);
            }
        }
        for (name, partitions) in orphans {
            let recorded = partitions.iter().all(|p| {
                logs.get(&name, *p)
                    .is_some_and(|log| logs.stored_topic_id(&log).is_some())
            });
            if recorded {
                tracing::warn!(topic = %name, ?partitions, "deleting partition directories of a topic that no longer exists");
                let first = partitions.iter().copied().min().unwrap_or(0);
                logs.delete_partitions(&name, first)
                    .map_err(|e| TopicError::Storage(e.to_string()))?;
            } else {
                tracing::warn!(topic = %name, ?partitions, "partition directory belongs to no known topic and records no topic id; left untouched");
            }
        }
        logs.start_background(self.broker_config().background_config())
            .map_err(|e| TopicError::Storage(e.to_string()))?;
        let _ = self.logs.set(logs);
        Ok(())
    }

    /// How many records the metadata log holds: the quorum's high watermark as DescribeQuorum
    /// reports it.
    pub fn metadata_log_end_offset(&self) -> i64 {
        self.metadata_records.load(std::sync::atomic::Ordering::Acquire) as i64
    }

    /// The broker's configuration as it is now, dynamic configs included.
    pub fn broker_config(&self) -> Arc<BrokerConfig> {
        self.broker.read().clone()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.state.read().by_name.get(name).cloned()
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        let state = self.state.read();
        state.by_id.get(id).and_then(|n| state.by_name.get(n)).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.state.read().by_name.values().cloned().collect()
    }

    /// The effective log settings of a topic (broker defaults for an unknown one).
    pub fn topic_config(&self, name: &str) -> TopicConfig {
        self.get(name)
            .map(|t| t.config.clone())
            .unwrap_or_else(|| TopicConfig::resolve(&self.broker_config(), &BTreeMap::new()))
    }

    pub fn partition_log(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.logs.get()?.get(topic, partition)
    }

    /// Validates a new topic as CreateTopics does; with `validate_only` nothing changes.
    pub fn create_topic(&self, new: NewTopic, validate_only: bool) -> Result<Arc<Topic>, TopicError> {
        self.create_topic_admitted(new, validate_only, &mut |_| Ok(()))
    }

    /// Creates a topic once `admit` allows its partitions: it is asked when the topic is
    /// otherwise valid, validate-only or not, as Kafka's controller applies the mutation
    /// quota.
    pub fn create_topic_admitted(
        &self,
        new: NewTopic,
        validate_only: bool,
        admit: &mut dyn FnMut(i32) -> Result<(), TopicError>,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_name(&new.name)?;
        let overrides = validate_topic_overrides(&new.configs).map_err(|e| TopicError::InvalidConfig(e.0))?;
        let broker = self.broker_config();
        let node = broker.node_id();
        let partitions = if !new.assignments.is_empty() {
            if new.partitions != -1 || new.replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            let mut seen: Vec<i32> = new.assignments.iter().map(|(p, _)| *p).collect();
            seen.sort_unstable();
            if seen.iter().enumerate().any(|(i, p)| *p != i as i32) {
                return Err(TopicError::InvalidReplicaAssignment(
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
            for (p, replicas) in &new.assignments {
                if replicas.as_slice() != [node] {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "Replica assignment {replicas:?} for partition {p} names brokers other than {node}"
                    )));
                }
            }
            new.assignments.len() as i32
        } else {
            match new.replication_factor {
                -1 | 1 => {}
                rf => {
                    return Err(TopicError::InvalidReplicationFactor(format!(
                        "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
                    )));
                }
            }
            match new.partitions {
                -1 => broker.num_partitions(),
                n if n <= 0 => {
                    return Err(TopicError::InvalidPartitions(
                        "Number of partitions was set to an invalid non-positive value.".into(),
                    ));
                }
                n => n,
            }
        };
        let mut log = self.log.lock();
        {
            let state = self.state.read();
            if state.by_name.contains_key(&new.name) {
                return Err(TopicError::AlreadyExists(format!(
                    "Topic '{}' already exists.",
                    new.name
                )));
            }
            let normalized = new.name.replace('.', "_");
            if let Some(other) = state.by_name.keys().find(|n| n.replace('.', "_") == normalized) {
                return Err(TopicError::InvalidTopic(format!(
                    "Topic '{}' collides with existing topic: {other}",
                    new.name
                )));
            }
        }
        let id = Uuid::new_v4();
        let topic = Arc::new(Topic {
            name: new.name.clone(),
            id,
            partitions,
            config: TopicConfig::resolve(&broker, &overrides),
            overrides,
        });
        self.check_partition_budget(partitions)?;
        admit(partitions)?;
        if validate_only {
            return Ok(topic);
        }
        self.create_logs(&topic, 0)?;
        let record = MetadataRecord::CreateTopic {
            name: topic.name.clone(),
            id: id.to_string(),
            partitions,
            configs: topic.overrides.clone(),
        };
        log.append(&record)?;
        let mut state = self.state.write();
        state.by_id.insert(id, topic.name.clone());
        state.by_name.insert(topic.name.clone(), topic.clone());
        tracing::info!(topic = %topic.name, %id, partitions, "created topic");
        Ok(topic)
    }

    /// Creates a topic with broker defaults unless it exists; for auto-creation.
    pub fn get_or_auto_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        // Internal topics are created by their coordinators with their own settings, never
        // by a client's Metadata request (Kafka answers UNKNOWN_TOPIC_OR_PARTITION).
        if INTERNAL_TOPICS.contains(&name) {
            return Err(TopicError::UnknownTopic);
        }
        let new = NewTopic {
            name: name.to_string(),
            partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        match self.create_topic(new, false) {
            Err(TopicError::AlreadyExists(_)) => self.get(name).ok_or(TopicError::UnknownTopic),
            other => other,
        }
    }

    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        self.delete_topic_admitted(name, &mut |_| Ok(()))
    }

    /// Deletes a topic once `admit` allows its partitions.
    pub fn delete_topic_admitted(
        &self,
        name: &str,
        admit: &mut dyn FnMut(i32) -> Result<(), TopicError>,
    ) -> Result<Arc<Topic>, TopicError> {
        if !self.broker_config().delete_topic_enable() {
            return Err(TopicError::DeletionDisabled);
        }
        let mut log = self.log.lock();
        let topic = self.get(name).ok_or(TopicError::UnknownTopic)?;
        admit(topic.partitions)?;
        log.append(&MetadataRecord::DeleteTopic {
            name: topic.name.clone(),
            id: topic.id.to_string(),
        })?;
        {
            let mut state = self.state.write();
            state.by_name.remove(name);
            state.by_id.remove(&topic.id);
        }
        if let Some(logs) = self.logs.get() {
            logs.delete_topic(name)
                .map_err(|e| TopicError::Storage(e.to_string()))?;
        }
        tracing::info!(topic = %name, id = %topic.id, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions once `admit` allows the new ones.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
        admit: &mut dyn FnMut(i32) -> Result<(), TopicError>,
    ) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        let topic = self.get(name).ok_or(TopicError::UnknownTopic)?;
        if count == topic.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {count} partition(s)."
            )));
        }
        if count < topic.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "The topic {name} currently has {} partition(s); {count} would not be an increase.",
                topic.partitions
            )));
        }
        self.check_partition_budget(count - topic.partitions)?;
        admit(count - topic.partitions)?;
        if validate_only {
            return Ok(());
        }
        let grown = Topic {
            partitions: count,
            ..(*topic).clone()
        };
        self.create_logs(&grown, topic.partitions)?;
        log.append(&MetadataRecord::CreatePartitions {
            name: name.to_string(),
            count,
        })?;
        let mut grown = (*topic).clone();
        grown.partitions = count;
        self.state.write().by_name.insert(name.to_string(), Arc::new(grown));
        tracing::info!(topic = %name, partitions = count, "added partitions");
        Ok(())
    }
    /// Changes a topic's config overrides. `change` computes the complete new override map
    /// from the current one (AlterConfigs replaces it, IncrementalAlterConfigs edits it); the
    /// result is validated, persisted, and applied to every partition at once.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
    ) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        let topic = self.get(name).ok_or(TopicError::UnknownTopic)?;
        let requested = change(&topic.overrides)?;
        let overrides = validate_topic_overrides(&requested).map_err(|e| TopicError::InvalidConfig(e.0))?;
        if validate_only {
            return Ok(());
        }
        log.append(&MetadataRecord::AlterTopicConfigs {
            name: name.to_string(),
            configs: overrides.clone(),
        })?;
        let mut altered = (*topic).clone();
        altered.config = TopicConfig::resolve(&self.broker_config(), &overrides);
        altered.overrides = overrides;
        let altered = Arc::new(altered);
        self.state.write().by_name.insert(name.to_string(), altered.clone());
        self.push_log_configs(&altered);
        tracing::info!(topic = %name, overrides = ?altered.overrides, "altered topic configs");
        Ok(())
    }

    /// Changes the dynamic broker configs of one scope. `change` computes the complete new
    /// set from the current one. Refused keys or values give INVALID_REQUEST, as on Kafka.
    pub fn alter_broker_configs(
        &self,
        scope: DynamicScope,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
    ) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        let current = self.broker_config();
        let requested = change(current.dynamic(scope))?;
        let validated = requested
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    validate_dynamic(k, v).map_err(|e| TopicError::InvalidRequest(e.0))?,
                ))
            })
            .collect::<Result<BTreeMap<String, String>, TopicError>>()?;
        check_cleaner_threads(&current, scope, &validated)?;
        if validate_only {
            return Ok(());
        }
        let resource = match scope {
            DynamicScope::Broker => current.node_id().to_string(),
            DynamicScope::ClusterDefault => String::new(),
        };
        log.append(&MetadataRecord::AlterBrokerConfigs {
            resource,
            configs: validated.clone(),
        })?;
        let mut next = (*current).clone();
        next.set_dynamic(scope, validated);
        let next = Arc::new(next);
        *self.broker.write() = next.clone();
        let topics: Vec<Arc<Topic>> = {
            let mut state = self.state.write();
            for t in state.by_name.values_mut() {
                Arc::make_mut(t).config = TopicConfig::resolve(&next, &t.overrides);
            }
            state.by_name.values().cloned().collect()
        };
        for t in &topics {
            self.push_log_configs(t);
        }
        if let Some(logs) = self.logs.get() {
            logs.set_background_config(next.background_config());
        }
        tracing::info!(?scope, configs = ?next.dynamic(scope), "altered dynamic broker configs");
        Ok(())
    }

    /// Whether any client quota is configured (the common case, none, costs a read lock).
    pub fn has_client_quotas(&self) -> bool {
        !self.state.read().quotas.is_empty()
    }

    /// Every client-quota entity with its quotas.
    pub fn client_quotas(&self) -> Vec<(QuotaEntity, BTreeMap<String, f64>)> {
        self.state
            .read()
            .quotas
            .iter()
            .map(|(e, q)| (e.clone(), q.clone()))
            .collect()
    }

    /// Applies quota changes to one entity (`None` removes a key) and persists the result; the
    /// entity and values must already be validated.
    pub fn alter_client_quotas(
        &self,
        entity: QuotaEntity,
        changes: &[(String, Option<f64>)],
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        let mut quotas = self.state.read().quotas.get(&entity).cloned().unwrap_or_default();
        let before = quotas.clone();
        for (key, value) in changes {
            match value {
                Some(v) => quotas.insert(key.clone(), *v),
                None => quotas.remove(key),
            };
        }
        if validate_only || quotas == before {
            return Ok(());
        }
        log.append(&MetadataRecord::AlterClientQuotas {
            entity: entity.clone(),
            quotas: quotas.clone(),
        })?;
        let mut state = self.state.write();
        if quotas.is_empty() {
            state.quotas.remove(&entity);
        } else {
            state.quotas.insert(entity, quotas);
        }
        Ok(())
    }

    /// Creates the logs of `topic`'s partitions from `first` on. If one cannot be created, those
    /// made here are removed again: a half-created topic's directories would otherwise be
    /// adopted by the next topic of that name, or hold the file descriptors that ran out.
    fn create_logs(&self, topic: &Topic, first: i32) -> Result<(), TopicError> {
        let Some(logs) = self.logs.get() else { return Ok(()) };
        let created = (first..topic.partitions).try_for_each(|p| {
            logs.get_or_create_for(&topic.name, p, topic.id, topic.config.log_config())
                .map(drop)
                .map_err(|e| TopicError::Storage(e.to_string()))
        });
        if let Err(e) = &created {
            tracing::error!(topic = %topic.name, error = %e, "cannot create the partitions; removing those just made");
            if let Err(cleanup) = logs.delete_partitions(&topic.name, first) {
                tracing::error!(topic = %topic.name, error = %cleanup, "cannot remove the partitions of a failed create");
            }
        }
        created
    }

    /// Refuses `adding` partitions when the broker would hold more than its budget: each
    /// partition keeps about [`FDS_PER_PARTITION`] files open, and running out of file
    /// descriptors would stop the broker from serving, or from starting again.
    fn check_partition_budget(&self, adding: i32) -> Result<(), TopicError> {
        let held: i64 = self
            .state
            .read()
            .by_name
            .values()
            .map(|t| i64::from(t.partitions))
            .sum();
        let limit = partition_budget();
        if held + i64::from(adding) > limit {
            return Err(TopicError::PolicyViolation(format!(
                "Cannot add {adding} partitions: this broker holds {held} and can hold at most {limit} with its \
                 open-file limit (raise `ulimit -n` to hold more)."
            )));
        }
        Ok(())
    }

    /// Hands a topic's effective log settings to each of its partitions.
    fn push_log_configs(&self, topic: &Topic) {
        let Some(logs) = self.logs.get() else { return };
        let config = topic.config.log_config();
        for p in 0..topic.partitions {
            if let Some(log) = logs.get(&topic.name, p) {
                log.update_config(config.clone());
            }
        }
    }
}

/// Kafka's topic name rules.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidTopic(
            "Topic name is illegal, it can't be empty".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidTopic("Topic name cannot be \".\" or \"..\"".into()));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(TopicError::InvalidTopic(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(TopicError::InvalidTopic(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
