//! The topic registry: names, topic ids, partition counts and config overrides, persisted
//! through the metadata log and backed by one `PartitionLog` per partition.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::metadata_log::{MetadataLog, MetadataRecord};
use crate::config::{BrokerConfig, TopicConfig, validate_topic_overrides};
use crate::log::{LogManager, PartitionLog};

/// Topics the broker keeps for itself; clients see them flagged internal.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

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
    Storage(String),
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
            TopicError::Storage(_) => 56, // KAFKA_STORAGE_ERROR
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
            | TopicError::Storage(m) => Some(m.clone()),
            TopicError::UnknownTopic => Some("This server does not host this topic-partition.".into()),
            TopicError::UnknownTopicId => Some("This server does not host this topic ID.".into()),
            TopicError::DeletionDisabled => Some("Topic deletion is disabled.".into()),
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
struct Registry {
    by_name: BTreeMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, String>,
}

pub struct TopicRegistry {
    broker: Arc<BrokerConfig>,
    state: RwLock<Registry>,
    /// Serializes changes: check, persist, apply.
    log: Mutex<MetadataLog>,
    logs: OnceLock<Arc<LogManager>>,
}

impl TopicRegistry {
    /// Replays the metadata log under `data_dir`.
    pub fn open(broker: Arc<BrokerConfig>, data_dir: &Path) -> io::Result<TopicRegistry> {
        let (mut log, records) = MetadataLog::open(data_dir)?;
        let mut state = Registry::default();
        for record in records {
            apply(&broker, &mut state, record);
        }
        if log.record_count() > 2 * state.by_name.len() + 64 {
            log.rewrite(&snapshot(&state))?;
        }
        Ok(TopicRegistry { broker, state: RwLock::new(state), log: Mutex::new(log), logs: OnceLock::new() })
    }

    /// Gives the registry its storage and makes sure every partition has a log.
    pub fn attach_logs(&self, logs: Arc<LogManager>) -> Result<(), TopicError> {
        let topics: Vec<Arc<Topic>> = self.state.read().by_name.values().cloned().collect();
        for t in &topics {
            for p in 0..t.partitions {
                logs.get_or_create(&t.name, p, t.config.log_config())
                    .map_err(|e| TopicError::Storage(e.to_string()))?;
            }
        }
        for (name, partition) in logs.topics_on_disk() {
            if !self.state.read().by_name.contains_key(&name) {
                tracing::warn!(topic = %name, partition, "partition directory belongs to no known topic; left untouched");
            }
        }
        let _ = self.logs.set(logs);
        Ok(())
    }

    pub fn broker_config(&self) -> &BrokerConfig {
        &self.broker
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
            .unwrap_or_else(|| TopicConfig::resolve(&self.broker, &BTreeMap::new()))
    }

    pub fn partition_log(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.logs.get()?.get(topic, partition)
    }

    /// Validates a new topic as CreateTopics does; with `validate_only` nothing changes.
    pub fn create_topic(&self, new: NewTopic, validate_only: bool) -> Result<Arc<Topic>, TopicError> {
        validate_name(&new.name)?;
        let overrides = validate_topic_overrides(&new.configs).map_err(|e| TopicError::InvalidConfig(e.0))?;
        let node = self.broker.node_id();
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
                -1 => self.broker.num_partitions(),
                n if n <= 0 => {
                    return Err(TopicError::InvalidPartitions("Number of partitions was set to an invalid non-positive value.".into()));
                }
                n => n,
            }
        };
        let mut log = self.log.lock();
        {
            let state = self.state.read();
            if state.by_name.contains_key(&new.name) {
                return Err(TopicError::AlreadyExists(format!("Topic '{}' already exists.", new.name)));
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
            config: TopicConfig::resolve(&self.broker, &overrides),
            overrides,
        });
        if validate_only {
            return Ok(topic);
        }
        if let Some(logs) = self.logs.get() {
            for p in 0..partitions {
                logs.get_or_create(&topic.name, p, topic.config.log_config())
                    .map_err(|e| TopicError::Storage(e.to_string()))?;
            }
        }
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
        if !self.broker.delete_topic_enable() {
            return Err(TopicError::DeletionDisabled);
        }
        let mut log = self.log.lock();
        let topic = self.get(name).ok_or(TopicError::UnknownTopic)?;
        log.append(&MetadataRecord::DeleteTopic { name: topic.name.clone(), id: topic.id.to_string() })?;
        {
            let mut state = self.state.write();
            state.by_name.remove(name);
            state.by_id.remove(&topic.id);
        }
        if let Some(logs) = self.logs.get() {
            logs.delete_topic(name).map_err(|e| TopicError::Storage(e.to_string()))?;
        }
        tracing::info!(topic = %name, id = %topic.id, "deleted topic");
        Ok(topic)
    }

    pub fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        let topic = self.get(name).ok_or(TopicError::UnknownTopic)?;
        if count < topic.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                topic.partitions
            )));
        }
        if count == topic.partitions {
            return Err(TopicError::InvalidPartitions(format!("Topic already has {count} partitions.")));
        }
        if validate_only {
            return Ok(());
        }
        if let Some(logs) = self.logs.get() {
            for p in topic.partitions..count {
                logs.get_or_create(name, p, topic.config.log_config())
                    .map_err(|e| TopicError::Storage(e.to_string()))?;
            }
        }
        log.append(&MetadataRecord::CreatePartitions { name: name.to_string(), count })?;
        let mut grown = (*topic).clone();
        grown.partitions = count;
        self.state.write().by_name.insert(name.to_string(), Arc::new(grown));
        tracing::info!(topic = %name, partitions = count, "added partitions");
        Ok(())
    }
}

fn apply(broker: &BrokerConfig, state: &mut Registry, record: MetadataRecord) {
    match record {
        MetadataRecord::CreateTopic { name, id, partitions, configs } => {
            let Ok(id) = Uuid::parse_str(&id) else {
                tracing::warn!(topic = %name, "metadata log holds a malformed topic id; topic skipped");
                return;
            };
            let config = TopicConfig::resolve(broker, &configs);
            state.by_id.insert(id, name.clone());
            state.by_name.insert(name.clone(), Arc::new(Topic { name, id, partitions, overrides: configs, config }));
        }
        MetadataRecord::DeleteTopic { name, .. } => {
            if let Some(t) = state.by_name.remove(&name) {
                state.by_id.remove(&t.id);
            }
        }
        MetadataRecord::CreatePartitions { name, count } => {
            if let Some(t) = state.by_name.get_mut(&name) {
                Arc::make_mut(t).partitions = count;
            }
        }
        MetadataRecord::AlterTopicConfigs { name, configs } => {
            if let Some(t) = state.by_name.get_mut(&name) {
                let t = Arc::make_mut(t);
                t.config = TopicConfig::resolve(broker, &configs);
                t.overrides = configs;
            }
        }
    }
}

fn snapshot(state: &Registry) -> Vec<MetadataRecord> {
    state
        .by_name
        .values()
        .map(|t| MetadataRecord::CreateTopic {
            name: t.name.clone(),
            id: t.id.to_string(),
            partitions: t.partitions,
            configs: t.overrides.clone(),
        })
        .collect()
}

/// Kafka's topic name rules.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidTopic("Topic name is illegal, it can't be empty".into()));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidTopic("Topic name cannot be \".\" or \"..\"".into()));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(TopicError::InvalidTopic(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(TopicError::InvalidTopic(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("orders.v1-x_y").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"x".repeat(250)).is_err());
    }
}
