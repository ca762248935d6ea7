//! Broker and topic configuration under Kafka's own key names and defaults.
//!
//! Values are layered, lowest precedence first: built-in defaults, a TOML file, `--set`
//! arguments, then `RIVULET_*` environment variables. Every key must be known and every
//! value must parse, so a typo is refused at start instead of being silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::log::{BackgroundConfig, LogConfig};
use crate::record::Compression;

/// Kafka's config types, numbered as DescribeConfigs v3+ reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// Constraints Kafka's `ConfigDef` validators express for the keys served here.
#[derive(Clone, Copy, Debug)]
pub enum Validator {
    Any,
    AtLeast(i64),
    Between(i64, i64),
    DoubleBetween(f64, f64),
    OneOf(&'static [&'static str]),
    /// Every comma-separated item must be one of these.
    ListOf(&'static [&'static str]),
    /// `-1` or a value in the range (compression levels, where -1 means the codec default).
    MinusOneOr(i64, i64),
    /// `HOST:PORT` with an IP address (or `localhost`, or an empty host for every address).
    HostPort,
}

/// One known configuration key.
#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    /// `None` is Kafka's null default.
    pub default: Option<&'static str>,
    pub validator: Validator,
    /// Keys that only matter with several brokers or replicas are accepted and stored but
    /// change nothing on a single node.
    pub effective: bool,
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        ty,
        default,
        validator,
        effective: true,
        doc,
    }
}

const fn inert(name: &'static str, ty: ConfigType, default: Option<&'static str>, doc: &'static str) -> ConfigDef {
    ConfigDef {
        name,
        ty,
        default,
        validator: Validator::Any,
        effective: false,
        doc,
    }
}

mod broker_configs;
mod config_sources;
mod dynamic_config;
pub mod kafka_keys;
mod listeners;
pub mod security_keys;
mod topic_configs;

pub use broker_configs::BROKER_CONFIGS;
use config_sources::flatten_toml;
pub use config_sources::{env_name, kafka_env_key};
use dynamic_config::broker_synonym_chain;
pub use dynamic_config::{DynamicScope, is_dynamic, validate_dynamic};
pub use listeners::ListenerSpec;
use listeners::{listener_override_def, parse_listener, split_listener};
pub use topic_configs::{TOPIC_CONFIGS, TopicConfig, TopicConfigDef, validate_topic_overrides};

use ConfigType as T;
use Validator as V;
use kafka_keys::{KAFKA_DYNAMIC_BROKER_CONFIGS, KAFKA_ONLY_BROKER_CONFIGS};
use security_keys::SECURITY_CONFIGS;

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";
const CLEANUP_POLICIES: &[&str] = &["delete", "compact"];
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// A refused key or value; the message always names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A broker key: one this broker uses, or one of Kafka's that it accepts without effect.
pub fn broker_def(name: &str) -> Option<&'static ConfigDef> {
    all_broker_defs().find(|d| d.name == name)
}

/// Every broker key known here: this broker's own, then the rest of Kafka's.
pub fn all_broker_defs() -> impl Iterator<Item = &'static ConfigDef> {
    BROKER_CONFIGS
        .iter()
        .chain(SECURITY_CONFIGS.iter())
        .chain(KAFKA_ONLY_BROKER_CONFIGS.iter())
}

pub fn topic_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks `value` against a key's type and validator, returning it in canonical form.
pub fn validate_value(name: &str, ty: ConfigType, validator: Validator, value: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError(format!("Invalid value {value} for configuration {name}: {why}"));
    let value = value.trim();
    let canonical = match ty {
        ConfigType::Boolean => match value.to_ascii_lowercase().as_str() {
            "true" => "true".to_string(),
            "false" => "false".to_string(),
            _ => return Err(bad("Expected value to be either true or false")),
        },
        ConfigType::Short | ConfigType::Int | ConfigType::Long => {
            let n: i64 = value.parse().map_err(|_| bad("Not a number of the expected type"))?;
            if ty == ConfigType::Int && i32::try_from(n).is_err() {
                return Err(bad("Not a 32-bit integer"));
            }
            if ty == ConfigType::Short && i16::try_from(n).is_err() {
                return Err(bad("Not a 16-bit integer"));
            }
            match validator {
                V::AtLeast(min) if n < min => return Err(bad(&format!("Value must be at least {min}"))),
                V::Between(lo, hi) if n < lo || n > hi => {
                    return Err(bad(&format!("Value must be in the range [{lo}, {hi}]")));
                }
                V::MinusOneOr(lo, hi) if n != -1 && (n < lo || n > hi) => {
                    return Err(bad(&format!("Value must be -1 or in the range [{lo}, {hi}]")));
                }
                _ => {}
            }
            n.to_string()
        }
        ConfigType::Double => {
            let x: f64 = value.parse().map_err(|_| bad("Not a number of type DOUBLE"))?;
            if let V::DoubleBetween(lo, hi) = validator
                && !(lo..=hi).contains(&x)
            {
                return Err(bad(&format!("Value must be in the range [{lo}, {hi}]")));
            }
            value.to_string()
        }
        ConfigType::String | ConfigType::Password | ConfigType::Class => {
            match validator {
                // Kafka matches enumerated strings case-insensitively for these keys.
                V::OneOf(allowed) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(value)) {
                    Some(a) => a.to_string(),
                    None => return Err(bad(&format!("String must be one of: {}", allowed.join(", ")))),
                },
                V::HostPort => {
                    parse_listener(name, value)?;
                    value.to_string()
                }
                _ => value.to_string(),
            }
        }
        ConfigType::List => {
            let items: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            // An empty list is valid (Kafka 4.1 stores `cleanup.policy=""`: neither delete
            // nor compact).
            if let V::ListOf(allowed) = validator {
                for item in &items {
                    if !allowed.contains(item) {
                        return Err(bad(&format!("Invalid value {item}; allowed: {}", allowed.join(", "))));
                    }
                }
            }
            items.join(",")
        }
    };
    Ok(canonical)
}

/// The broker's configuration: the values set explicitly (by file, `--set` or environment),
/// validated, plus typed accessors that fall back to Kafka's defaults.
#[derive(Clone, Debug, Default)]
pub struct BrokerConfig {
    /// Static values: file, `--set`, environment, flags.
    explicit: BTreeMap<String, String>,
    /// Dynamic values for this broker (AlterConfigs on resource `<node.id>`).
    dynamic_broker: BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults (AlterConfigs on the broker resource named "").
    dynamic_default: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Sets one key after validating it. As on Kafka, a key it does not know is logged and
    /// ignored rather than refused, and a Kafka key with no meaning on one node is accepted
    /// (its value must still be valid) and logged as having no effect.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if let Some(def) = listener_override_def(key) {
            let canonical = validate_value(key, def.ty, def.validator, value)?;
            self.explicit.insert(key.to_string(), canonical);
            return Ok(());
        }
        let Some(def) = broker_def(key) else {
            tracing::warn!(key, "ignoring configuration key: it is not a known Kafka broker config");
            return Ok(());
        };
        let canonical = validate_value(key, def.ty, def.validator, value)?;
        if !def.effective {
            tracing::info!(
                key,
                "Kafka broker config accepted; it has no effect on this single-node broker"
            );
        }
        self.explicit.insert(key.to_string(), canonical);
        Ok(())
    }

    /// Layers a TOML document: nested tables join with dots, so `[log] segment.bytes = 1`
    /// and `"log.segment.bytes" = 1` mean the same key.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| ConfigError(format!("Cannot parse config file: {e}")))?;
        let mut flat = Vec::new();
        flatten_toml("", &toml::Value::Table(table), &mut flat)?;
        for (k, v) in flat {
            self.set(&k, &v)?;
        }
        Ok(())
    }

    /// Layers environment variables: `KAFKA_*` as the official `apache/kafka` image reads them
    /// (see [`kafka_env_key`]), then `RIVULET_*` (the key in upper snake case), which win.
    pub fn merge_env<I: IntoIterator<Item = (String, String)>>(&mut self, vars: I) -> Result<(), ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        for (name, value) in &vars {
            let Some(key) = kafka_env_key(name) else { continue };
            if broker_def(&key).is_none() {
                tracing::warn!(variable = %name, key = %key, "ignoring environment variable: it names no known Kafka broker config");
                continue;
            }
            self.set(&key, value)?;
        }
        for (name, value) in vars {
            let Some(suffix) = name.strip_prefix("RIVULET_") else {
                continue;
            };
            let Some(key) = all_broker_defs().find(|d| env_name(d.name) == name).map(|d| d.name) else {
                tracing::warn!(
                    variable = %name,
                    key = %suffix.to_ascii_lowercase().replace('_', "."),
                    "ignoring environment variable: it names no known Kafka broker config"
                );
                continue;
            };
            self.set(key, &value)?;
        }
        Ok(())
    }

    /// The value of a broker key: dynamic for this broker, dynamic cluster default, static, or
    /// Kafka's default, in that order; `None` for a null default.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.layered(key).next().map(|(v, _)| v)
    }

    /// Every value a key has, highest precedence first, with its DescribeConfigs source.
    fn layered<'a>(&'a self, key: &str) -> impl Iterator<Item = (&'a str, i8)> + use<'a> {
        let dynamic_broker = self
            .dynamic_broker
            .get(key)
            .map(|v| (v.as_str(), SOURCE_DYNAMIC_BROKER));
        let dynamic_default = self
            .dynamic_default
            .get(key)
            .map(|v| (v.as_str(), SOURCE_DYNAMIC_DEFAULT_BROKER));
        let explicit = self.explicit.get(key).map(|v| (v.as_str(), SOURCE_STATIC_BROKER));
        let default = broker_def(key).and_then(|d| d.default).map(|v| (v, SOURCE_DEFAULT));
        [dynamic_broker, dynamic_default, explicit, default]
            .into_iter()
            .flatten()
    }

    /// The effective value of a key and where it comes from.
    fn with_source(&self, key: &str) -> Option<(String, i8)> {
        self.layered(key).next().map(|(v, s)| (v.to_string(), s))
    }

    /// Set statically (file, `--set`, environment or flag).
    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains_key(key)
    }

    /// The dynamic configs of one scope, as last set by AlterConfigs.
    pub fn dynamic(&self, scope: DynamicScope) -> &BTreeMap<String, String> {
        match scope {
            DynamicScope::Broker => &self.dynamic_broker,
            DynamicScope::ClusterDefault => &self.dynamic_default,
        }
    }

    /// Replaces the dynamic configs of one scope (already validated with [`validate_dynamic`]).
    pub fn set_dynamic(&mut self, scope: DynamicScope, configs: BTreeMap<String, String>) {
        match scope {
            DynamicScope::Broker => self.dynamic_broker = configs,
            DynamicScope::ClusterDefault => self.dynamic_default = configs,
        }
    }

    /// What the retention and cleaner threads follow.
    pub fn background_config(&self) -> BackgroundConfig {
        BackgroundConfig {
            retention_check_interval_ms: self.long("log.retention.check.interval.ms").unwrap_or(300_000).max(1) as u64,
            cleaner_enabled: self.flag("log.cleaner.enable") && self.long("log.cleaner.threads").unwrap_or(1) > 0,
            cleaner_backoff_ms: self.long("log.cleaner.backoff.ms").unwrap_or(15_000).max(0) as u64,
            cleaner_dedupe_buffer_size: self.long("log.cleaner.dedupe.buffer.size").unwrap_or(128 << 20).max(0) as u64,
        }
    }

    fn long(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    pub fn node_id(&self) -> i32 {
        if !self.is_explicit("node.id")
            && self.is_explicit("broker.id")
            && let Some(id) = self.long("broker.id").filter(|id| *id >= 0)
        {
            return id as i32;
        }
        self.long("node.id").unwrap_or(1) as i32
    }

    /// The listeners to open, in `listeners` order, as Kafka names them (`NAME://HOST:PORT`; a
    /// bare `HOST:PORT` is `PLAINTEXT`). Controller listeners (`controller.listener.names`)
    /// are left out: a combined KRaft node's compose file names one, and this node has no
    /// separate controller to serve on it.
    pub fn listeners(&self) -> Result<Vec<ListenerSpec>, ConfigError> {
        let raw = self.get("listeners").unwrap_or_default();
        let controllers: Vec<String> = self
            .get("controller.listener.names")
            .unwrap_or_default()
            .split(',')
            .map(|n| n.trim().to_ascii_uppercase())
            .filter(|n| !n.is_empty())
            .collect();
        let protocols = self.protocol_map()?;
        let mut out: Vec<ListenerSpec> = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, hostport) = split_listener(entry);
            if controllers.contains(&name) {
                continue;
            }
            if out.iter().any(|l| l.name == name) {
                return Err(ConfigError(format!(
                    "Invalid value {raw} for configuration listeners: each listener must have a different name, {name} is repeated"
                )));
            }
            let protocol = protocols.get(&name).cloned().unwrap_or_else(|| name.clone());
            if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&protocol.as_str()) {
                return Err(ConfigError(format!(
                    "listener {name} has no security protocol: listener.security.protocol.map maps it to {protocol}, not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                )));
            }
            out.push(ListenerSpec {
                addr: parse_listener("listeners", hostport)?,
                name,
                protocol,
            });
        }
        if out.is_empty() {
            return Err(ConfigError(format!(
                "Invalid value {raw} for configuration listeners: no broker listener"
            )));
        }
        Ok(out)
    }

    fn protocol_map(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let raw = self.get("listener.security.protocol.map").unwrap_or_default();
        raw.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, protocol) = e.split_once(':').ok_or_else(|| {
                    ConfigError(format!(
                        "Invalid value {raw} for configuration listener.security.protocol.map: expected NAME:PROTOCOL"
                    ))
                })?;
                Ok((name.trim().to_ascii_uppercase(), protocol.trim().to_ascii_uppercase()))
            })
            .collect()
    }

    /// The first listener's address (the `--listen` shorthand sets the only one).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        Ok(self.listeners()?[0].addr)
    }

    /// Advertised `host:port` by listener name, from `advertised.listeners` (a bare
    /// `HOST:PORT` is the first listener's); a listener not named there advertises its bound
    /// address.
    pub fn advertised_listeners(&self) -> Result<BTreeMap<String, (String, u16)>, ConfigError> {
        let Some(raw) = self.get("advertised.listeners") else {
            return Ok(BTreeMap::new());
        };
        let first = self.listeners()?.remove(0).name;
        let mut out = BTreeMap::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let name = if entry.contains("://") {
                split_listener(entry).0
            } else {
                first.clone()
            };
            let hostport = split_listener(entry).1;
            let (host, port) = hostport.rsplit_once(':').ok_or_else(|| {
                ConfigError(format!(
                    "Invalid value {raw} for configuration advertised.listeners: expected HOST:PORT"
                ))
            })?;
            let port: u16 = port.parse().map_err(|_| {
                ConfigError(format!(
                    "Invalid value {raw} for configuration advertised.listeners: bad port"
                ))
            })?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            out.insert(name, (host.to_string(), port));
        }
        Ok(out)
    }

    /// The first listener's advertised `host:port`; `None` means its bound address.
    pub fn advertised(&self) -> Result<Option<(String, u16)>, ConfigError> {
        let first = self.listeners()?.remove(0).name;
        Ok(self.advertised_listeners()?.remove(&first))
    }

    pub fn data_dir(&self) -> PathBuf {
        let raw = if self.is_explicit("log.dirs") || !self.is_explicit("log.dir") {
            self.get("log.dirs")
        } else {
            self.get("log.dir")
        };
        // One node serves one directory; a list names it first.
        PathBuf::from(raw.unwrap_or("./data").split(',').next().unwrap_or("./data").trim())
    }

    pub fn auto_create_topics(&self) -> bool {
        self.flag("auto.create.topics.enable")
    }

    pub fn delete_topic_enable(&self) -> bool {
        self.flag("delete.topic.enable")
    }

    /// `producer.id.expiration.ms`.
    pub fn producer_id_expiration_ms(&self) -> i64 {
        self.long("producer.id.expiration.ms").unwrap_or(86_400_000).max(1)
    }

    pub fn num_partitions(&self) -> i32 {
        self.long("num.partitions").unwrap_or(1) as i32
    }

    pub fn fetch_max_bytes(&self) -> usize {
        self.long("fetch.max.bytes").unwrap_or(57_671_680).max(0) as usize
    }

    pub fn log_flush_visibility_ms(&self) -> u64 {
        self.long("log.flush.visibility.ms").unwrap_or(0).max(0) as u64
    }

    pub fn unstable_api_versions(&self) -> bool {
        self.get("unstable.api.versions.enable") == Some("true")
    }

    pub fn queued_max_request_bytes(&self) -> i64 {
        self.long("queued.max.request.bytes").unwrap_or(536_870_912)
    }

    pub fn max_connections_per_ip(&self) -> usize {
        self.long("max.connections.per.ip").unwrap_or(i32::MAX as i64).max(0) as usize
    }

    pub fn socket_request_max_bytes(&self) -> usize {
        self.long("socket.request.max.bytes").unwrap_or(104_857_600) as usize
    }

    /// `socket.send.buffer.bytes` as SO_SNDBUF; None (-1, or any value below 1) leaves the
    /// operating system's default.
    pub fn socket_send_buffer_bytes(&self) -> Option<u32> {
        self.socket_buffer_bytes("socket.send.buffer.bytes", 102_400)
    }

    /// `socket.receive.buffer.bytes` as SO_RCVBUF, as [`Self::socket_send_buffer_bytes`]. The
    /// default is the operating system's, not Kafka's 102400: Linux grows a connection's
    /// receive buffer as its requests need, and a fixed 100 KiB cost a 1 KiB-record produce
    /// 60-70 % more broker CPU time (many small reads of each 1 MiB request).
    pub fn socket_receive_buffer_bytes(&self) -> Option<u32> {
        self.socket_buffer_bytes("socket.receive.buffer.bytes", -1)
    }

    fn socket_buffer_bytes(&self, key: &str, default: i64) -> Option<u32> {
        u32::try_from(self.long(key).unwrap_or(default)).ok().filter(|&b| b > 0)
    }

    pub fn max_connections(&self) -> usize {
        self.long("max.connections").unwrap_or(i32::MAX as i64) as usize
    }

    /// Where to serve `/metrics`, when `metrics.prometheus.enable` is on.
    pub fn metrics_listener(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if !self.flag("metrics.prometheus.enable") {
            return Ok(None);
        }
        let raw = self.get("metrics.prometheus.listener").unwrap_or("0.0.0.0:9404");
        parse_listener("metrics.prometheus.listener", raw).map(Some)
    }

    pub fn connections_max_idle_ms(&self) -> u64 {
        self.long("connections.max.idle.ms").unwrap_or(600_000).max(1) as u64
    }

    /// The broker-level value a topic key inherits, resolving Kafka's derived keys
    /// (`log.retention.hours` → `log.retention.ms`, `log.roll.hours` → `log.roll.ms`, ...),
    /// with the source of the value.
    pub fn topic_default(&self, def: &TopicConfigDef) -> (String, i8) {
        if let Some(found) = def.broker_key.and_then(|key| self.resolve_broker_key(key)) {
            return found;
        }
        (def.default.unwrap_or_default().to_string(), SOURCE_DEFAULT)
    }

    /// The broker synonyms Kafka reports for a topic key: the values of the broker key it
    /// inherits from, by source (dynamic broker, dynamic default, static, default). Kafka
    /// leaves out the rest of the chain (`log.retention.hours` for `retention.ms`), since
    /// those keys hold the value in other units.
    pub fn synonyms(&self, def: &TopicConfigDef) -> Vec<(&'static str, String, i8)> {
        let Some(key) = def.broker_key.and_then(broker_def) else {
            return Vec::new();
        };
        self.chain_synonyms(std::slice::from_ref(&key.name))
    }

    /// Synonyms of a broker key as DescribeConfigs on the broker reports them: its chain in
    /// Kafka's order, starting at the key itself.
    pub fn broker_synonyms(&self, key: &str) -> Vec<(&'static str, String, i8)> {
        let mut all = self.chain_synonyms(broker_synonym_chain(key));
        let first = all.iter().position(|(k, _, _)| *k == key).unwrap_or(all.len());
        all.drain(..first);
        all
    }

    fn chain_synonyms(&self, chain: &[&'static str]) -> Vec<(&'static str, String, i8)> {
        let mut out = Vec::new();
        for source in [
            SOURCE_DYNAMIC_BROKER,
            SOURCE_DYNAMIC_DEFAULT_BROKER,
            SOURCE_STATIC_BROKER,
            SOURCE_DEFAULT,
        ] {
            for k in chain {
                if let Some((v, _)) = self.layered(k).find(|(_, s)| *s == source) {
                    out.push((*k, v.to_string(), source));
                }
            }
        }
        out
    }

    fn resolve_broker_key(&self, key: &str) -> Option<(String, i8)> {
        let scaled = |k: &str, factor: i64| -> Option<(String, i8)> {
            let (v, source) = self.with_source(k)?;
            let v: i64 = v.parse().ok()?;
            let ms = if v < 0 { v } else { v.saturating_mul(factor) };
            Some((ms.to_string(), source))
        };
        let direct = |k: &str| self.with_source(k);
        match key {
            "log.retention.ms" => direct("log.retention.ms")
                .or_else(|| scaled("log.retention.minutes", 60_000))
                .or_else(|| scaled("log.retention.hours", 3_600_000)),
            "log.roll.ms" => direct("log.roll.ms").or_else(|| scaled("log.roll.hours", 3_600_000)),
            "log.roll.jitter.ms" => direct("log.roll.jitter.ms").or_else(|| scaled("log.roll.jitter.hours", 3_600_000)),
            "log.flush.interval.ms" => {
                direct("log.flush.interval.ms").or_else(|| direct("log.flush.scheduler.interval.ms"))
            }
            other => direct(other),
        }
    }

    /// Every broker key with its value and source, for DescribeConfigs on the broker.
    pub fn describe(&self) -> Vec<(&'static ConfigDef, Option<String>, i8)> {
        all_broker_defs()
            .map(|d| match self.with_source(d.name) {
                Some((value, source)) => (d, Some(value), source),
                None => (d, None, SOURCE_DEFAULT),
            })
            .collect()
    }
}

/// DescribeConfigs source codes.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod documented {
    use super::*;

    /// The shipped example and the reference page must stay true to the key table.
    #[test]
    fn example_file_parses_and_every_key_is_documented() {
        let mut c = BrokerConfig::default();
        c.merge_toml(include_str!("../../config/rivulet.toml")).unwrap();
        assert_eq!(c.get("log.roll.hours"), Some("168"));
        assert_eq!(c.get("metrics.prometheus.listener"), Some("0.0.0.0:9404"));
        assert!(c.is_explicit("metrics.prometheus.enable"));
        let doc = include_str!("../../docs/configuration.md");
        for d in all_broker_defs() {
            assert!(
                doc.contains(&format!("`{}`", d.name)),
                "{} missing from docs/configuration.md",
                d.name
            );
        }
        for d in TOPIC_CONFIGS {
            assert!(
                doc.contains(&format!("`{}`", d.name)),
                "{} missing from docs/configuration.md",
                d.name
            );
        }
    }
}
