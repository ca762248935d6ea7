//! Listeners as Kafka configures them: `listeners`, `advertised.listeners`, the security
//! protocol map and per-listener `listener.name.<name>.*` keys.

use super::*;

/// A listener to open: Kafka's listener name and the address to bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: String,
    pub addr: SocketAddr,
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, from `listener.security.protocol.map`.
    pub protocol: String,
}

/// The key definition behind a per-listener key, as Kafka allows them:
/// `listener.name.<listener>.<ssl.* or sasl.* key>` and
/// `listener.name.<listener>.<mechanism>.sasl.jaas.config` (or
/// `.sasl.server.callback.handler.class`).
pub(super) fn listener_override_def(key: &str) -> Option<&'static ConfigDef> {
    let rest = key.strip_prefix("listener.name.")?;
    let (_, inner) = rest.split_once('.')?;
    let inner = match inner.split_once('.') {
        Some((_mechanism, "sasl.jaas.config")) => "sasl.jaas.config",
        Some((_mechanism, "sasl.server.callback.handler.class")) => "sasl.server.callback.handler.class",
        _ => inner,
    };
    SECURITY_CONFIGS.iter().find(|d| d.name == inner)
}

/// `NAME://HOST:PORT` as (upper-case name, `HOST:PORT`); no scheme is `PLAINTEXT`.
pub(super) fn split_listener(entry: &str) -> (String, &str) {
    match entry.split_once("://") {
        Some((name, rest)) => (name.trim().to_ascii_uppercase(), rest.trim()),
        None => ("PLAINTEXT".to_string(), entry.trim()),
    }
}

pub(super) fn parse_listener(key: &str, hostport: &str) -> Result<SocketAddr, ConfigError> {
    let raw = hostport;
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| {
        ConfigError(format!(
            "Invalid value {raw} for configuration {key}: expected HOST:PORT"
        ))
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = match host {
        "" | "0.0.0.0" => "0.0.0.0",
        "localhost" => "127.0.0.1",
        h => h,
    };
    format!("{host}:{port}")
        .parse::<SocketAddr>()
        .or_else(|_| format!("[{host}]:{port}").parse::<SocketAddr>())
        .map_err(|_| {
            ConfigError(format!(
                "Invalid value {raw} for configuration {key}: expected an IP address and port"
            ))
        })
}
