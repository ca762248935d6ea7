//! Where configuration values come from besides `--set`: `KAFKA_*` and `RIVULET_*` environment
//! variables and a TOML file, flattened to Kafka's dotted keys.

use super::*;

/// The config key a `KAFKA_*` variable sets, as the `apache/kafka` image maps them: the prefix
/// dropped, `___` for `-`, `__` for `_`, `_` for `.`, lower case. The image's own variables
/// that are not configs (JVM and logging options, `KAFKA_VERSION`, ...) give `None`.
pub fn kafka_env_key(name: &str) -> Option<String> {
    const NOT_CONFIGS: &[&str] = &[
        "KAFKA_HEAP_OPTS",
        "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_GC_LOG_OPTS",
        "KAFKA_LOG4J_OPTS",
        "KAFKA_LOG4J_LOGGERS",
        "KAFKA_LOG4J_ROOT_LOGLEVEL",
        "KAFKA_TOOLS_LOG4J_LOGLEVEL",
        "KAFKA_JMX_OPTS",
        "KAFKA_JMX_PORT",
        "KAFKA_JMX_HOSTNAME",
        "KAFKA_OPTS",
        "KAFKA_DEBUG",
        "KAFKA_HOME",
        "KAFKA_VERSION",
        "KAFKA_DATA_DIR",
    ];
    let rest = name.strip_prefix("KAFKA_")?;
    if rest.is_empty() || NOT_CONFIGS.contains(&name) {
        return None;
    }
    Some(
        rest.replace("___", "-")
            .replace("__", "\u{1}")
            .replace('_', ".")
            .replace('\u{1}', "_")
            .to_ascii_lowercase(),
    )
}

/// `RIVULET_` + the key in upper snake case.
pub fn env_name(key: &str) -> String {
    format!("RIVULET_{}", key.to_ascii_uppercase().replace(['.', '-'], "_"))
}

pub(super) fn flatten_toml(
    prefix: &str,
    value: &toml::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    let scalar = |v: &toml::Value| -> Result<String, ConfigError> {
        Ok(match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError(format!(
                    "Unsupported value for configuration {prefix}: {other}"
                )));
            }
        })
    };
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_toml(&key, v, out)?;
            }
        }
        toml::Value::Array(items) => {
            let joined: Result<Vec<String>, _> = items.iter().map(scalar).collect();
            out.push((prefix.to_string(), joined?.join(",")));
        }
        other => out.push((prefix.to_string(), scalar(other)?)),
    }
    Ok(())
}
