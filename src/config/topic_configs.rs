//! Kafka's topic keys (`LogConfig`, `TopicConfig`): each with the broker key it inherits its
//! default from, and a topic's effective configuration resolved over the broker's.

use super::*;

/// A topic-level config: its name, the broker key it inherits its default from, and the
/// fallback used when the broker key has no value either.
#[derive(Debug)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub broker_key: Option<&'static str>,
    pub ty: ConfigType,
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub effective: bool,
}

const fn topic(
    name: &'static str,
    broker_key: Option<&'static str>,
    ty: ConfigType,
    default: &'static str,
    validator: Validator,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        broker_key,
        ty,
        default: Some(default),
        validator,
        effective: true,
    }
}

const fn topic_inert(
    name: &'static str,
    broker_key: Option<&'static str>,
    ty: ConfigType,
    default: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        broker_key,
        ty,
        default: Some(default),
        validator: V::Any,
        effective: false,
    }
}

/// Every topic-level config Kafka 4 documents.
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    topic(
        "cleanup.policy",
        Some("log.cleanup.policy"),
        T::List,
        "delete",
        V::ListOf(CLEANUP_POLICIES),
    ),
    topic(
        "compression.type",
        Some("compression.type"),
        T::String,
        "producer",
        V::OneOf(COMPRESSION_TYPES),
    ),
    topic(
        "compression.gzip.level",
        Some("compression.gzip.level"),
        T::Int,
        "-1",
        V::MinusOneOr(1, 9),
    ),
    topic(
        "compression.lz4.level",
        Some("compression.lz4.level"),
        T::Int,
        "9",
        V::Between(1, 17),
    ),
    topic(
        "compression.zstd.level",
        Some("compression.zstd.level"),
        T::Int,
        "3",
        V::Between(-131072, 22),
    ),
    topic(
        "delete.retention.ms",
        Some("log.cleaner.delete.retention.ms"),
        T::Long,
        "86400000",
        V::AtLeast(0),
    ),
    topic(
        "file.delete.delay.ms",
        Some("log.segment.delete.delay.ms"),
        T::Long,
        "60000",
        V::AtLeast(0),
    ),
    topic(
        "flush.messages",
        Some("log.flush.interval.messages"),
        T::Long,
        LONG_MAX,
        V::AtLeast(1),
    ),
    topic(
        "flush.ms",
        Some("log.flush.interval.ms"),
        T::Long,
        LONG_MAX,
        V::AtLeast(0),
    ),
    topic(
        "index.interval.bytes",
        Some("log.index.interval.bytes"),
        T::Int,
        "4096",
        V::AtLeast(0),
    ),
    topic(
        "max.compaction.lag.ms",
        Some("log.cleaner.max.compaction.lag.ms"),
        T::Long,
        LONG_MAX,
        V::AtLeast(1),
    ),
    topic(
        "max.message.bytes",
        Some("message.max.bytes"),
        T::Int,
        "1048588",
        V::AtLeast(0),
    ),
    topic(
        "message.timestamp.after.max.ms",
        Some("log.message.timestamp.after.max.ms"),
        T::Long,
        "3600000",
        V::AtLeast(0),
    ),
    topic(
        "message.timestamp.before.max.ms",
        Some("log.message.timestamp.before.max.ms"),
        T::Long,
        LONG_MAX,
        V::AtLeast(0),
    ),
    topic(
        "message.timestamp.type",
        Some("log.message.timestamp.type"),
        T::String,
        "CreateTime",
        V::OneOf(TIMESTAMP_TYPES),
    ),
    topic(
        "min.cleanable.dirty.ratio",
        Some("log.cleaner.min.cleanable.ratio"),
        T::Double,
        "0.5",
        V::DoubleBetween(0.0, 1.0),
    ),
    topic(
        "min.compaction.lag.ms",
        Some("log.cleaner.min.compaction.lag.ms"),
        T::Long,
        "0",
        V::AtLeast(0),
    ),
    topic("preallocate", Some("log.preallocate"), T::Boolean, "false", V::Any),
    topic(
        "retention.bytes",
        Some("log.retention.bytes"),
        T::Long,
        "-1",
        V::AtLeast(-1),
    ),
    topic(
        "retention.ms",
        Some("log.retention.ms"),
        T::Long,
        "604800000",
        V::AtLeast(-1),
    ),
    topic(
        "segment.bytes",
        Some("log.segment.bytes"),
        T::Int,
        "1073741824",
        V::AtLeast(14),
    ),
    topic(
        "segment.index.bytes",
        Some("log.index.size.max.bytes"),
        T::Int,
        "10485760",
        V::AtLeast(4),
    ),
    topic(
        "segment.jitter.ms",
        Some("log.roll.jitter.ms"),
        T::Long,
        "0",
        V::AtLeast(0),
    ),
    topic("segment.ms", Some("log.roll.ms"), T::Long, "604800000", V::AtLeast(1)),
    topic_inert("min.insync.replicas", Some("min.insync.replicas"), T::Int, "1"),
    topic_inert(
        "unclean.leader.election.enable",
        Some("unclean.leader.election.enable"),
        T::Boolean,
        "false",
    ),
    topic_inert("follower.replication.throttled.replicas", None, T::List, ""),
    topic_inert("leader.replication.throttled.replicas", None, T::List, ""),
    topic_inert("local.retention.bytes", None, T::Long, "-2"),
    topic_inert("local.retention.ms", None, T::Long, "-2"),
    topic_inert("remote.storage.enable", None, T::Boolean, "false"),
    topic_inert("remote.log.copy.disable", None, T::Boolean, "false"),
    topic_inert("remote.log.delete.on.disable", None, T::Boolean, "false"),
];

/// The effective configuration of one topic: its overrides over the broker's defaults.
#[derive(Clone, Debug)]
pub struct TopicConfig {
    values: BTreeMap<&'static str, String>,
}

impl TopicConfig {
    /// Resolves every topic key from `overrides` (already validated) and the broker.
    pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> TopicConfig {
        let values = TOPIC_CONFIGS
            .iter()
            .map(|d| {
                let value = overrides
                    .get(d.name)
                    .cloned()
                    .unwrap_or_else(|| broker.topic_default(d).0);
                (d.name, value)
            })
            .collect();
        TopicConfig { values }
    }

    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or_default()
    }

    fn long(&self, key: &str, fallback: i64) -> i64 {
        self.get(key).parse().unwrap_or(fallback)
    }

    pub fn max_message_bytes(&self) -> usize {
        self.long("max.message.bytes", 1_048_588).max(0) as usize
    }

    pub fn log_append_time(&self) -> bool {
        self.get("message.timestamp.type") == "LogAppendTime"
    }

    pub fn is_compacted(&self) -> bool {
        self.get("cleanup.policy").split(',').any(|p| p == "compact")
    }

    fn deletes(&self) -> bool {
        self.get("cleanup.policy").split(',').any(|p| p == "delete")
    }

    /// The codec batches are rewritten in on append, and its level; `None` for `producer`
    /// (batches are stored as produced).
    pub fn compression(&self) -> Option<(Compression, Option<i32>)> {
        let codec = Compression::from_name(self.get("compression.type"))?;
        let level = match codec {
            Compression::Gzip => Some(self.long("compression.gzip.level", -1)).filter(|l| *l >= 0),
            Compression::Zstd => Some(self.long("compression.zstd.level", 3)),
            Compression::Lz4 => Some(self.long("compression.lz4.level", 9)),
            _ => None,
        };
        Some((
            codec,
            level.map(|l| l.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
        ))
    }

    /// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms`: how far a
    /// CreateTime record's timestamp may lie before or after the broker's clock.
    pub fn timestamp_bounds(&self) -> (i64, i64) {
        (
            self.long("message.timestamp.before.max.ms", i64::MAX).max(0),
            self.long("message.timestamp.after.max.ms", 3_600_000).max(0),
        )
    }

    pub fn log_config(&self) -> LogConfig {
        let compact = self.is_compacted();
        let segment_ms = self.long("segment.ms", 604_800_000).max(1);
        let max_compaction_lag_ms = self.long("max.compaction.lag.ms", i64::MAX).max(1);
        LogConfig {
            segment_bytes: self.long("segment.bytes", 1 << 30).max(14) as u64,
            // Kafka rolls a compacted log's active segment in time for max.compaction.lag.ms.
            segment_ms: if compact {
                segment_ms.min(max_compaction_lag_ms)
            } else {
                segment_ms
            },
            segment_index_bytes: self.long("segment.index.bytes", 10 << 20).clamp(8, i32::MAX as i64) as u32,
            index_interval_bytes: self.long("index.interval.bytes", 4096).clamp(0, i32::MAX as i64) as u32,
            flush_messages: self.long("flush.messages", i64::MAX).max(1),
            flush_ms: self.long("flush.ms", i64::MAX).max(0),
            retention_ms: self.long("retention.ms", 604_800_000).max(-1),
            retention_bytes: self.long("retention.bytes", -1).max(-1),
            delete: self.deletes(),
            compact,
            delete_retention_ms: self.long("delete.retention.ms", 86_400_000).max(0),
            min_cleanable_dirty_ratio: self
                .get("min.cleanable.dirty.ratio")
                .parse::<f64>()
                .unwrap_or(0.5)
                .clamp(0.0, 1.0),
            min_compaction_lag_ms: self.long("min.compaction.lag.ms", 0).max(0),
            max_compaction_lag_ms,
            file_delete_delay_ms: self.long("file.delete.delay.ms", 60_000).max(0),
        }
    }
}

/// Validates topic overrides as CreateTopics and AlterConfigs receive them; the error names
/// the key. Besides each value on its own, Kafka's cross-key rule is checked:
/// `min.compaction.lag.ms` may not exceed `max.compaction.lag.ms`.
pub fn validate_topic_overrides(configs: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ConfigError> {
    let validated: BTreeMap<String, String> = configs
        .iter()
        .map(|(k, v)| {
            let def = topic_def(k).ok_or_else(|| ConfigError(format!("Unknown topic config name: {k}")))?;
            Ok((k.clone(), validate_value(k, def.ty, def.validator, v)?))
        })
        .collect::<Result<_, ConfigError>>()?;
    let lag = |key: &str, fallback: i64| {
        validated
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(fallback)
    };
    let (min_lag, max_lag) = (lag("min.compaction.lag.ms", 0), lag("max.compaction.lag.ms", i64::MAX));
    if min_lag > max_lag {
        return Err(ConfigError(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        )));
    }
    Ok(validated)
}
