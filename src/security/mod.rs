//! Authentication: who a connection's client is. Each listener's security protocol
//! (`listener.security.protocol.map`) decides how that is learned: PLAINTEXT clients are
//! `User:ANONYMOUS`; SSL clients are named by their certificate's subject when they present
//! one (through `ssl.principal.mapping.rules`); SASL_PLAINTEXT and SASL_SSL clients authenticate with a SASL mechanism before any
//! other request is served. The result, a [`KafkaPrincipal`], stays with the connection.

pub mod keystore;
pub mod oauthbearer;
pub mod principal_mapper;
pub mod sasl;
pub mod sasl_authenticator;
pub mod scram;
pub mod ssl_factory;
pub mod x500;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::BrokerConfig;
pub use principal_mapper::SslPrincipalMapper;
pub use sasl_authenticator::SaslServerAuthenticator;
pub use scram::{ScramCredential, ScramMechanism};
pub use ssl_factory::SslFactory;

/// Kafka's `KafkaPrincipal`: a type (always `User` here) and a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub fn user(name: impl Into<String>) -> KafkaPrincipal {
        KafkaPrincipal {
            principal_type: "User".into(),
            name: name.into(),
        }
    }

    /// The principal of a client that did not authenticate.
    pub fn anonymous() -> KafkaPrincipal {
        KafkaPrincipal::user("ANONYMOUS")
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// Kafka's security protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        match name {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// `listener.name.<listener>.<key>`, Kafka's per-listener form of a key.
pub fn listener_key(listener: &str, key: &str) -> String {
    format!("listener.name.{}.{key}", listener.to_ascii_lowercase())
}

/// A key's value for one listener: its listener-prefixed form if set, else the broker-wide one.
pub fn listener_value(config: &BrokerConfig, listener: &str, key: &str) -> Option<String> {
    config
        .get(&listener_key(listener, key))
        .or_else(|| config.get(key))
        .map(str::to_string)
}

/// The SASL side of one listener: its mechanisms and what each needs.
pub struct SaslListenerConfig {
    /// `sasl.enabled.mechanisms`, in the configured order (the handshake reports it).
    pub enabled_mechanisms: Vec<String>,
    /// PLAIN's users and passwords, when PLAIN is enabled.
    pub plain_users: Option<Arc<HashMap<String, String>>>,
    /// `sasl.server.max.receive.size`: the largest frame read before authentication.
    pub max_receive_size: usize,
    /// `connection.failed.authentication.delay.ms`: how long a failed client waits for the close.
    pub failed_authentication_delay: Duration,
    /// `connections.max.reauth.ms` when positive: how long a session lasts before the client
    /// must re-authenticate (KIP-368).
    pub max_reauth: Option<Duration>,
    /// OAUTHBEARER's token validator, when OAUTHBEARER is enabled.
    pub oauthbearer: Option<Arc<oauthbearer::UnsecuredValidator>>,
}

pub const SUPPORTED_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

impl SaslListenerConfig {
    fn read(config: &BrokerConfig, listener: &str) -> Result<SaslListenerConfig, String> {
        let mechanisms = listener_value(config, listener, "sasl.enabled.mechanisms").unwrap_or_else(|| "GSSAPI".into());
        let enabled_mechanisms: Vec<String> = mechanisms
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        if enabled_mechanisms.is_empty() {
            return Err(format!("listener {listener}: sasl.enabled.mechanisms is empty"));
        }
        for m in &enabled_mechanisms {
            if !SUPPORTED_MECHANISMS.contains(&m.as_str()) {
                return Err(format!(
                    "listener {listener}: SASL mechanism {m} is not supported (sasl.enabled.mechanisms may name {}; Kafka's default GSSAPI needs Kerberos, which this broker does not do)",
                    SUPPORTED_MECHANISMS.join(", ")
                ));
            }
        }
        let plain_users = if enabled_mechanisms.iter().any(|m| m == "PLAIN") {
            let jaas = config
                .get(&listener_key(listener, "plain.sasl.jaas.config"))
                .or_else(|| config.get("sasl.jaas.config"))
                .ok_or_else(|| {
                    format!(
                        "listener {listener}: PLAIN is enabled but no JAAS entry names its users: set {} or sasl.jaas.config to a PlainLoginModule entry with user_<name>=\"<password>\" options",
                        listener_key(listener, "plain.sasl.jaas.config")
                    )
                })?;
            let users = sasl::plain_users(jaas).map_err(|e| format!("listener {listener}: PLAIN JAAS config: {e}"))?;
            Some(Arc::new(users))
        } else {
            None
        };
        let max_receive_size = listener_value(config, listener, "sasl.server.max.receive.size")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(524288);
        let delay = config
            .get("connection.failed.authentication.delay.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(100);
        let oauthbearer = if enabled_mechanisms.iter().any(|m| m == "OAUTHBEARER") {
            Some(Arc::new(oauthbearer_validator(config, listener)?))
        } else {
            None
        };
        let max_reauth = listener_value(config, listener, "connections.max.reauth.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        Ok(SaslListenerConfig {
            enabled_mechanisms,
            plain_users,
            max_receive_size,
            failed_authentication_delay: Duration::from_millis(delay),
            max_reauth,
            oauthbearer,
        })
    }
}

/// OAUTHBEARER's validator: Kafka's default, the unsecured JWS validator, with the options of
/// the listener's `OAuthBearerLoginModule` entry if it has one. Validation of signed tokens
/// against a JWKS endpoint is not available: asking for it stops the start.
fn oauthbearer_validator(config: &BrokerConfig, listener: &str) -> Result<oauthbearer::UnsecuredValidator, String> {
    for key in [
        "sasl.oauthbearer.jwks.endpoint.url",
        "oauthbearer.sasl.server.callback.handler.class",
        "sasl.server.callback.handler.class",
    ] {
        if let Some(value) = listener_value(config, listener, key).filter(|v| !v.trim().is_empty()) {
            return Err(format!(
                "listener {listener}: {key}={value}: OAUTHBEARER validates unsecured JWS tokens only (Kafka's default validator); signed tokens from an identity provider are not available"
            ));
        }
    }
    let jaas = config
        .get(&listener_key(listener, "oauthbearer.sasl.jaas.config"))
        .or_else(|| {
            config
                .get("sasl.jaas.config")
                .filter(|j| j.contains("OAuthBearerLoginModule"))
        });
    let Some(jaas) = jaas else {
        return Ok(oauthbearer::UnsecuredValidator::default());
    };
    let (_, options) =
        sasl::parse_jaas_options(jaas).map_err(|e| format!("listener {listener}: OAUTHBEARER JAAS config: {e}"))?;
    oauthbearer::UnsecuredValidator::from_options(&options).map_err(|e| format!("listener {listener}: {e}"))
}

/// How one listener authenticates its clients.
pub struct ListenerSecurity {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub ssl: Option<Arc<SslFactory>>,
    /// How an SSL client's certificate subject becomes its principal name.
    pub principal_mapper: Option<SslPrincipalMapper>,
    pub sasl: Option<SaslListenerConfig>,
}

impl ListenerSecurity {
    /// Reads and checks a listener's security settings; a refusal names the listener and key.
    pub fn new(config: &BrokerConfig, name: &str, protocol: &str) -> Result<ListenerSecurity, String> {
        let protocol = SecurityProtocol::from_name(protocol).ok_or_else(|| {
            format!("listener {name}: unknown security protocol {protocol} (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)")
        })?;
        let ssl = if protocol.uses_tls() {
            Some(Arc::new(SslFactory::new(config, name, protocol.uses_sasl())?))
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(SaslListenerConfig::read(config, name)?)
        } else {
            None
        };
        let principal_mapper = if protocol == SecurityProtocol::Ssl {
            let rules = listener_value(config, name, "ssl.principal.mapping.rules").unwrap_or_else(|| "DEFAULT".into());
            Some(
                SslPrincipalMapper::from_rules(&rules)
                    .map_err(|e| format!("listener {name}: ssl.principal.mapping.rules: {e}"))?,
            )
        } else {
            None
        };
        Ok(ListenerSecurity {
            name: name.to_string(),
            protocol,
            ssl,
            principal_mapper,
            sasl,
        })
    }

    /// A plaintext listener with no authentication, for tests and tools.
    pub fn plaintext(name: &str) -> ListenerSecurity {
        ListenerSecurity {
            name: name.to_string(),
            protocol: SecurityProtocol::Plaintext,
            ssl: None,
            principal_mapper: None,
            sasl: None,
        }
    }
}
