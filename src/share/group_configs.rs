//! Share group configs (Kafka's GroupConfig keys for share groups), set per group with
//! IncrementalAlterConfigs and read with DescribeConfigs on resource type GROUP (32):
//! `share.auto.offset.reset`, `share.isolation.level`, `share.record.lock.duration.ms`,
//! `share.session.timeout.ms` and `share.heartbeat.interval.ms`. A key not set follows the
//! broker's value.
//!
//! Kafka keeps them in its metadata log. Here they are kept in `group-configs.json` in the data
//! directory, replaced atomically (written, fsynced, renamed, directory fsynced) before a
//! change is answered: the metadata log's record set belongs to the topic registry, and this
//! file keeps share groups out of it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;

use super::{ShareConfig, codes};
use crate::api::errors;
use crate::config::ConfigType;

pub const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
pub const ISOLATION_LEVEL: &str = "share.isolation.level";
pub const RECORD_LOCK_DURATION_MS: &str = "share.record.lock.duration.ms";
pub const SESSION_TIMEOUT_MS: &str = "share.session.timeout.ms";
pub const HEARTBEAT_INTERVAL_MS: &str = "share.heartbeat.interval.ms";

/// Kafka 4.1's group config keys, in the order DescribeConfigs lists them, with their types
/// and the range a value must be in (ints). The consumer and streams keys are stored and
/// described, and take effect with the group protocols that read them; this broker serves
/// classic and share groups, so only the share keys change anything yet.
pub const KEYS: &[(&str, ConfigType, (i64, i64))] = &[
    ("consumer.heartbeat.interval.ms", ConfigType::Int, (5_000, 15_000)),
    ("consumer.session.timeout.ms", ConfigType::Int, (45_000, 60_000)),
    (AUTO_OFFSET_RESET, ConfigType::String, (0, 0)),
    (HEARTBEAT_INTERVAL_MS, ConfigType::Int, (5_000, 15_000)),
    (ISOLATION_LEVEL, ConfigType::String, (0, 0)),
    (RECORD_LOCK_DURATION_MS, ConfigType::Int, (15_000, 60_000)),
    (SESSION_TIMEOUT_MS, ConfigType::Int, (45_000, 60_000)),
    ("streams.heartbeat.interval.ms", ConfigType::Int, (5_000, 15_000)),
    ("streams.num.standby.replicas", ConfigType::Int, (0, 2)),
    ("streams.session.timeout.ms", ConfigType::Int, (45_000, 60_000)),
];

const FILE: &str = "group-configs.json";

/// A refused change: Kafka's error code and message.
pub type Refusal = (i16, Option<String>);

pub struct GroupConfigs {
    path: PathBuf,
    defaults: ShareConfig,
    groups: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl GroupConfigs {
    /// Reads the stored configs of every group. Blocking.
    pub fn open(data_dir: &Path, defaults: ShareConfig) -> Result<GroupConfigs, String> {
        let path = data_dir.join(FILE);
        let groups = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(GroupConfigs {
            path,
            defaults,
            groups: Mutex::new(groups),
        })
    }

    /// The value a key has for `group`, and whether the group set it.
    pub fn value(&self, group: &str, key: &str) -> (String, bool) {
        if let Some(v) = self.groups.lock().get(group).and_then(|c| c.get(key)) {
            return (v.clone(), true);
        }
        let d = &self.defaults;
        let v = match key {
            AUTO_OFFSET_RESET => "latest".to_string(),
            ISOLATION_LEVEL => "read_uncommitted".to_string(),
            RECORD_LOCK_DURATION_MS => d.record_lock_duration.as_millis().to_string(),
            SESSION_TIMEOUT_MS => d.session_timeout.as_millis().to_string(),
            HEARTBEAT_INTERVAL_MS => d.heartbeat_interval_ms.to_string(),
            "consumer.heartbeat.interval.ms" | "streams.heartbeat.interval.ms" => "5000".to_string(),
            "consumer.session.timeout.ms" | "streams.session.timeout.ms" => "45000".to_string(),
            "streams.num.standby.replicas" => "0".to_string(),
            _ => String::new(),
        };
        (v, false)
    }

    /// Where a new share-partition of `group` starts (`share.auto.offset.reset`).
    pub fn offset_reset(&self, group: &str) -> OffsetReset {
        parse_reset(&self.value(group, AUTO_OFFSET_RESET).0).unwrap_or(OffsetReset::Latest)
    }

    /// Groups with configs set, for ListConfigResources.
    pub fn groups(&self) -> Vec<String> {
        self.groups.lock().keys().cloned().collect()
    }

    pub fn read_committed(&self, group: &str) -> bool {
        self.value(group, ISOLATION_LEVEL).0 == "read_committed"
    }

    pub fn lock_duration(&self, group: &str) -> Duration {
        let ms = self.value(group, RECORD_LOCK_DURATION_MS).0.parse::<u64>();
        ms.map_or(self.defaults.record_lock_duration, Duration::from_millis)
    }

    /// Applies SET (0) and DELETE (1) operations to `group`'s configs, validated as Kafka's
    /// GroupConfig does, and stores the result unless `validate_only`.
    pub fn alter(&self, group: &str, ops: &[(String, i8, Option<String>)], validate_only: bool) -> Result<(), Refusal> {
        if group.is_empty() {
            return Err((errors::INVALID_REQUEST, Some("Group name must not be empty".into())));
        }
        let mut all = self.groups.lock();
        let mut configs = all.get(group).cloned().unwrap_or_default();
        for (name, op, value) in ops {
            if !KEYS.iter().any(|(k, _, _)| k == name) {
                return Err((
                    codes::INVALID_CONFIG,
                    Some(format!("Unknown group config name: {name}")),
                ));
            }
            match (*op, value) {
                (0, Some(v)) => {
                    validate(name, v)?;
                    configs.insert(name.clone(), v.clone());
                }
                (1, _) => {
                    configs.remove(name);
                }
                (0, None) => {
                    return Err((
                        errors::INVALID_REQUEST,
                        Some(format!("Null value not supported for : {name}")),
                    ));
                }
                _ => {
                    return Err((
                        codes::INVALID_CONFIG,
                        Some(format!(
                            "Config value append/subtract is not allowed for config key: {name}"
                        )),
                    ));
                }
            }
        }
        if validate_only {
            return Ok(());
        }
        let mut next = all.clone();
        if configs.is_empty() {
            next.remove(group);
        } else {
            next.insert(group.to_string(), configs);
        }
        self.store(&next).map_err(|e| {
            tracing::error!(error = %e, "cannot store {FILE}");
            (errors::KAFKA_STORAGE_ERROR, Some(e.to_string()))
        })?;
        *all = next;
        Ok(())
    }

    fn store(&self, groups: &BTreeMap<String, BTreeMap<String, String>>) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(groups).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Kafka's ConfigResource type of groups.
pub const RESOURCE_GROUP: i8 = 32;
/// Kafka's config source of a value set on a group.
pub const SOURCE_GROUP: i8 = 8;

/// DescribeConfigs of a group: each key (or those in `keys`) with its value, whether the group
/// set it (else it is the default) and its type.
pub fn describe(
    configs: &GroupConfigs,
    group: &str,
    keys: Option<&[String]>,
) -> Vec<(&'static str, String, bool, ConfigType)> {
    KEYS.iter()
        .filter(|(k, _, _)| keys.is_none_or(|ks| ks.iter().any(|w| w == k)))
        .map(|(k, ty, _)| {
            let (value, set) = configs.value(group, k);
            (*k, value, set, *ty)
        })
        .collect()
}

/// Where a share group starts reading a partition it has no state for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    Latest,
    Earliest,
    /// The first record no older than this.
    ByDuration(Duration),
}

fn parse_reset(value: &str) -> Option<OffsetReset> {
    match value {
        "latest" => Some(OffsetReset::Latest),
        "earliest" => Some(OffsetReset::Earliest),
        v => v
            .strip_prefix("by_duration:")
            .and_then(parse_iso_duration)
            .map(OffsetReset::ByDuration),
    }
}

/// Java's `Duration.parse` subset Kafka documents: `PnDTnHnMn.nS`, non-negative.
fn parse_iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P').or_else(|| text.strip_prefix('p'))?;
    let (days, time) = match rest.find(['T', 't']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut secs = 0f64;
    let mut any = false;
    if !days.is_empty() {
        secs += days.strip_suffix(['D', 'd'])?.parse::<u32>().ok()? as f64 * 86_400.0;
        any = true;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, factor) in [('H', 3600.0), ('M', 60.0), ('S', 1.0)] {
            if let Some(i) = t.find([unit, unit.to_ascii_lowercase()]) {
                let n: f64 = t[..i].parse().ok()?;
                if !n.is_finite() || n < 0.0 || (unit != 'S' && n.fract() != 0.0) {
                    return None;
                }
                secs += n * factor;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    (any && secs < 1e12).then(|| Duration::from_secs_f64(secs))
}

fn validate(name: &str, value: &str) -> Result<(), Refusal> {
    let invalid = |why: String| (codes::INVALID_CONFIG, Some(why));
    match name {
        AUTO_OFFSET_RESET if parse_reset(value).is_some() => Ok(()),
        AUTO_OFFSET_RESET => Err(invalid(format!(
            "Invalid value {value} for configuration {name}: Invalid value `{value}` for configuration {name}. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."
        ))),
        ISOLATION_LEVEL if value == "read_uncommitted" || value == "read_committed" => Ok(()),
        ISOLATION_LEVEL => Err(invalid(format!(
            "Invalid value {value} for configuration {name}: String must be one of: read_committed, read_uncommitted"
        ))),
        _ => {
            let (lo, hi) = KEYS.iter().find(|(k, _, _)| *k == name).map_or((0, 0), |(_, _, r)| *r);
            let v: i64 = value.trim().parse().map_err(|_| {
                invalid(format!(
                    "Invalid value {value} for configuration {name}: Not a number of type INT"
                ))
            })?;
            // Kafka bounds each key by the broker's min and max keys of its group type.
            let (kind, rest) = name.split_once('.').unwrap_or((name, ""));
            if v < lo {
                return Err(invalid(format!(
                    "{name} must be greater than or equal to group.{kind}.min.{rest}"
                )));
            }
            if v > hi {
                let max = if rest == "num.standby.replicas" {
                    format!("group.{kind}.max.standby.replicas")
                } else {
                    format!("group.{kind}.max.{rest}")
                };
                return Err(invalid(format!("{name} must be less than or equal to {max}")));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_validate_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let c = GroupConfigs::open(dir.path(), ShareConfig::default()).unwrap();
        assert_eq!(c.offset_reset("g"), OffsetReset::Latest);
        let set = |k: &str, v: &str| (k.to_string(), 0i8, Some(v.to_string()));
        c.alter(
            "g",
            &[
                set(AUTO_OFFSET_RESET, "earliest"),
                set(ISOLATION_LEVEL, "read_committed"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            c.alter("g", &[set(AUTO_OFFSET_RESET, "none")], false).unwrap_err().0,
            codes::INVALID_CONFIG
        );
        assert_eq!(
            c.alter("g", &[set(RECORD_LOCK_DURATION_MS, "1000")], false)
                .unwrap_err()
                .0,
            codes::INVALID_CONFIG
        );
        assert_eq!(
            c.alter("g", &[set("share.nope", "1")], false).unwrap_err().0,
            codes::INVALID_CONFIG
        );
        c.alter("g", &[set(RECORD_LOCK_DURATION_MS, "15000")], true).unwrap();
        assert_eq!(c.lock_duration("g"), Duration::from_secs(30));
        let c = GroupConfigs::open(dir.path(), ShareConfig::default()).unwrap();
        assert!(c.offset_reset("g") == OffsetReset::Earliest && c.read_committed("g"));
        assert_eq!(c.groups(), vec!["g".to_string()]);
        c.alter("g", &[(AUTO_OFFSET_RESET.to_string(), 1, None)], false)
            .unwrap();
        assert_eq!(c.value("g", AUTO_OFFSET_RESET), ("latest".to_string(), false));
        c.alter("g", &[set(AUTO_OFFSET_RESET, "by_duration:P1DT2H3M4.5S")], false)
            .unwrap();
        assert_eq!(
            c.offset_reset("g"),
            OffsetReset::ByDuration(Duration::from_secs_f64(93_784.5))
        );
        for bad in [
            "by_duration:",
            "by_duration:P",
            "by_duration:PT",
            "by_duration:P1H",
            "by_duration:PT-1S",
        ] {
            assert!(c.alter("g", &[set(AUTO_OFFSET_RESET, bad)], false).is_err(), "{bad}");
        }
    }
}
