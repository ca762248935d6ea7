//! Kafka's `DynamicBrokerConfig`: which broker keys AlterConfigs may change without a restart,
//! and the synonym chains DescribeConfigs reports.

use super::*;

/// Where a dynamic broker config lives: this broker only, or the cluster-wide default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynamicScope {
    Broker,
    ClusterDefault,
}

/// Broker keys that are not topic defaults but that Kafka (or this broker) lets AlterConfigs
/// change without a restart.
const DYNAMIC_BROKER_ONLY: &[&str] = &[
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.backoff.ms",
    "log.retention.check.interval.ms",
];

/// Whether AlterConfigs may change a broker key: the key each topic config inherits from
/// (Kafka's `DynamicLogConfig`), the cleaner and retention settings, and every other key
/// Kafka lets change without a restart (stored; those with no meaning here change nothing).
pub fn is_dynamic(key: &str) -> bool {
    DYNAMIC_BROKER_ONLY.contains(&key)
        || TOPIC_CONFIGS.iter().any(|d| d.broker_key == Some(key))
        || KAFKA_DYNAMIC_BROKER_CONFIGS.contains(&key)
}

/// Validates a dynamic broker value; refused keys and values name the key.
pub fn validate_dynamic(key: &str, value: &str) -> Result<String, ConfigError> {
    let def = broker_def(key).ok_or_else(|| ConfigError(format!("Unknown broker config: {key}")))?;
    if !is_dynamic(key) {
        return Err(ConfigError(format!(
            "Cannot update these configs dynamically: Set({key})"
        )));
    }
    validate_value(key, def.ty, def.validator, value)
}

/// Kafka's broker synonym chains: keys that set the same value, most specific first.
pub(super) fn broker_synonym_chain(key: &str) -> &'static [&'static str] {
    match key {
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => {
            &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]
        }
        "log.roll.ms" | "log.roll.hours" => &["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "log.flush.interval.ms" => &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        _ => match broker_def(key) {
            Some(d) => std::slice::from_ref(&d.name),
            None => &[],
        },
    }
}
