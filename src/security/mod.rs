//! Authentication: who a connection's client is. Each listener's security protocol
//! (`listener.security.protocol.map`) decides how that is learned: PLAINTEXT clients are
//! `User:ANONYMOUS`; SSL clients are named by their certificate's subject when they present
//! one (through `ssl.principal.mapping.rules`); SASL_PLAINTEXT and SASL_SSL clients authenticate with a SASL mechanism before any
//! other request is served. The result, a [`KafkaPrincipal`], stays with the connection.

pub mod jwk;
pub mod jwks_source;
pub mod keystore;
pub mod oauthbearer;
pub mod oauthbearer_jwks;
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
    pub oauthbearer: Option<Arc<oauthbearer::TokenValidator>>,
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

/// Kafka's server callback handler for signed OAUTHBEARER tokens (KIP-768).
pub const OAUTHBEARER_VALIDATOR_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
/// Kafka's default server callback handler for OAUTHBEARER, the unsecured JWS validator.
const OAUTHBEARER_UNSECURED_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";
/// The `sasl.oauthbearer.jwt.validator.class` values that are Kafka's own signed-token validator.
const OAUTHBEARER_JWT_VALIDATORS: &[&str] = &[
    "org.apache.kafka.common.security.oauthbearer.DefaultJwtValidator",
    "org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator",
];

/// OAUTHBEARER's validator. The listener's server callback handler class
/// (`listener.name.<listener>.oauthbearer.sasl.server.callback.handler.class`, or the same
/// key without the listener or mechanism prefix) chooses it: none, or Kafka's unsecured
/// validator class, is Kafka's default, the unsecured JWS validator with the options of the
/// listener's `OAuthBearerLoginModule` entry; `OAuthBearerValidatorCallbackHandler` validates
/// signed tokens against `sasl.oauthbearer.jwks.endpoint.url`. Any other class stops the
/// start, and so does a JWKS URL under the unsecured validator (which Kafka would ignore,
/// accepting unsigned tokens) unless it is the broker-wide key and another listener
/// validates signed tokens with it.
fn oauthbearer_validator(config: &BrokerConfig, listener: &str) -> Result<oauthbearer::TokenValidator, String> {
    let handler = oauthbearer_handler(config, listener);
    let jaas = config
        .get(&listener_key(listener, "oauthbearer.sasl.jaas.config"))
        .or_else(|| {
            config
                .get("sasl.jaas.config")
                .filter(|j| j.contains("OAuthBearerLoginModule"))
        });
    let options = match jaas {
        Some(jaas) => {
            sasl::parse_jaas_options(jaas)
                .map_err(|e| format!("listener {listener}: OAUTHBEARER JAAS config: {e}"))?
                .1
        }
        None => HashMap::new(),
    };
    match handler {
        Some((_, class)) if class == OAUTHBEARER_VALIDATOR_HANDLER => {
            signed_token_validator(config, listener, &options).map(oauthbearer::TokenValidator::Signed)
        }
        Some((key, class)) if class != OAUTHBEARER_UNSECURED_HANDLER => Err(format!(
            "listener {listener}: {key}={class}: OAUTHBEARER validates with Kafka's unsecured JWS validator (the default) or {OAUTHBEARER_VALIDATOR_HANDLER}; other classes cannot be loaded"
        )),
        _ => {
            // A broker-wide JWKS URL may be meant for another listener that validates signed
            // tokens; one set for this listener, or for none, is a mistake.
            let own_url = config
                .get(&listener_key(listener, "sasl.oauthbearer.jwks.endpoint.url"))
                .is_some();
            let other_validates = config.listeners().unwrap_or_default().iter().any(|l| {
                oauthbearer_handler(config, &l.name).is_some_and(|(_, class)| class == OAUTHBEARER_VALIDATOR_HANDLER)
            });
            if let Some(url) = listener_value(config, listener, "sasl.oauthbearer.jwks.endpoint.url")
                .filter(|v| !v.trim().is_empty() && (own_url || !other_validates))
            {
                return Err(format!(
                    "listener {listener}: sasl.oauthbearer.jwks.endpoint.url={url} is set, but the listener validates unsecured tokens: set {}={OAUTHBEARER_VALIDATOR_HANDLER} to validate signed tokens against it",
                    listener_key(listener, "oauthbearer.sasl.server.callback.handler.class")
                ));
            }
            oauthbearer::UnsecuredValidator::from_options(&options)
                .map(oauthbearer::TokenValidator::Unsecured)
                .map_err(|e| format!("listener {listener}: {e}"))
        }
    }
}

/// A listener's OAUTHBEARER server callback handler class and the key that names it.
fn oauthbearer_handler(config: &BrokerConfig, listener: &str) -> Option<(String, String)> {
    [
        listener_key(listener, "oauthbearer.sasl.server.callback.handler.class"),
        "oauthbearer.sasl.server.callback.handler.class".into(),
        listener_key(listener, "sasl.server.callback.handler.class"),
        "sasl.server.callback.handler.class".into(),
    ]
    .into_iter()
    .find_map(|key| {
        let class = config.get(&key)?.trim().to_string();
        (!class.is_empty()).then_some((key, class))
    })
}

/// `OAuthBearerValidatorCallbackHandler`'s validator: the JWKS and claim settings of
/// `sasl.oauthbearer.*` (each also per listener), and for an `https:` JWKS endpoint the CAs
/// of the JAAS options' `ssl.truststore.*`, as Kafka's JWKS client takes its SSL settings.
fn signed_token_validator(
    config: &BrokerConfig,
    listener: &str,
    options: &HashMap<String, String>,
) -> Result<oauthbearer_jwks::SignedJwtValidator, String> {
    let value = |key: &str| listener_value(config, listener, key).filter(|v| !v.trim().is_empty());
    let refuse = |key: &str, why: String| format!("listener {listener}: {key}: {why}");
    if let Some(class) = value("sasl.oauthbearer.jwt.validator.class")
        && !OAUTHBEARER_JWT_VALIDATORS.contains(&class.trim())
    {
        return Err(refuse(
            "sasl.oauthbearer.jwt.validator.class",
            format!("{class} cannot be loaded; only Kafka's DefaultJwtValidator is available"),
        ));
    }
    let ms = |key: &str, default: u64| -> Result<std::time::Duration, String> {
        value(key)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| refuse(key, format!("{v} is not a number of ms")))
            })
            .unwrap_or(Ok(default))
            .map(Duration::from_millis)
    };
    let refresh = ms("sasl.oauthbearer.jwks.endpoint.refresh.ms", 3_600_000)?;
    if refresh.is_zero() {
        return Err(refuse(
            "sasl.oauthbearer.jwks.endpoint.refresh.ms",
            "must be positive".into(),
        ));
    }
    let trusted_pem = match (
        options.get("ssl.truststore.location"),
        options.get("ssl.truststore.certificates"),
    ) {
        (Some(path), _) => {
            Some(std::fs::read(path).map_err(|e| refuse("ssl.truststore.location", format!("{path}: {e}")))?)
        }
        (None, Some(pem)) => Some(pem.clone().into_bytes()),
        (None, None) => None,
    };
    if let Some(kind) = options
        .get("ssl.truststore.type")
        .filter(|t| !t.eq_ignore_ascii_case("PEM"))
    {
        return Err(refuse(
            "ssl.truststore.type",
            format!("{kind}: only PEM truststores are read"),
        ));
    }
    let settings = jwks_source::RefreshSettings {
        refresh,
        retry_backoff: ms("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", 100)?,
        retry_backoff_max: ms("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", 10_000)?,
        trusted_pem,
    };
    let url = value("sasl.oauthbearer.jwks.endpoint.url").ok_or_else(|| {
        refuse(
            "sasl.oauthbearer.jwks.endpoint.url",
            format!(
                "{OAUTHBEARER_VALIDATOR_HANDLER} needs the URL of the identity provider's JWKS (file:, https: or http:)"
            ),
        )
    })?;
    let keys =
        jwks_source::JwksSource::open(&url, settings).map_err(|e| refuse("sasl.oauthbearer.jwks.endpoint.url", e))?;
    let mut rules = oauthbearer_jwks::ClaimRules::default();
    if let Some(claim) = value("sasl.oauthbearer.sub.claim.name") {
        rules.sub_claim = claim.trim().to_string();
    }
    if let Some(claim) = value("sasl.oauthbearer.scope.claim.name") {
        rules.scope_claim = claim.trim().to_string();
    }
    if let Some(audience) = value("sasl.oauthbearer.expected.audience") {
        rules.expected_audience = audience
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
    }
    rules.expected_issuer = value("sasl.oauthbearer.expected.issuer").map(|i| i.trim().to_string());
    if let Some(skew) = value("sasl.oauthbearer.clock.skew.seconds") {
        rules.clock_skew_seconds = skew.trim().parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
            refuse(
                "sasl.oauthbearer.clock.skew.seconds",
                format!("{skew} is not a non-negative number"),
            )
        })?;
    }
    tracing::info!(listener, url, "OAUTHBEARER validates signed tokens against a JWKS");
    Ok(oauthbearer_jwks::SignedJwtValidator::new(keys, rules))
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
