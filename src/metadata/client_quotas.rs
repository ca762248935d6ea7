//! Client quotas as Kafka stores them: an entity (a user, a client id, both, or an IP address;
//! a missing name is that type's default) maps to quota values by key. This module holds the
//! rules — which entities and keys are valid, which entities a describe filter matches; the
//! values live in the metadata log through the topic registry. `quota/` enforces the byte
//! rates.

use std::collections::BTreeMap;
use std::net::IpAddr;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// Entity type to name (`None`: the default entity of that type).
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// How a key's value is typed in Kafka's quota configs: integral ones refuse fractions.
#[derive(Clone, Copy)]
enum QuotaType {
    Long,
    Int,
    Double,
}

fn user_and_client_key(key: &str) -> Option<QuotaType> {
    match key {
        "producer_byte_rate" | "consumer_byte_rate" => Some(QuotaType::Long),
        "request_percentage" | "controller_mutation_rate" => Some(QuotaType::Double),
        _ => None,
    }
}

fn ip_key(key: &str) -> Option<QuotaType> {
    (key == "connection_creation_rate").then_some(QuotaType::Int)
}

/// Checks an entity as Kafka's controller does: known types, each once, no empty names, and
/// an IP entity alone and naming an address.
pub fn validate_entity(parts: &[(String, Option<String>)]) -> Result<QuotaEntity, String> {
    if parts.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    let mut entity = QuotaEntity::new();
    for (kind, name) in parts {
        if entity.contains_key(kind) {
            return Err(format!("Invalid client quota entity, duplicate entity entry {kind}"));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return Err(format!("Unhandled client quota entity type: {kind}"));
        }
        if name.as_deref() == Some("") {
            return Err(format!("Empty {kind} not supported"));
        }
        entity.insert(kind.clone(), name.clone());
    }
    if let Some(ip) = entity.get(IP) {
        if entity.len() > 1 {
            return Err(
                "Invalid quota entity combination, IP entity should not be combined with User or ClientId".into(),
            );
        }
        if let Some(ip) = ip
            && ip.parse::<IpAddr>().is_err()
        {
            return Err(format!("{ip} is not a valid IP or resolvable host."));
        }
    }
    Ok(entity)
}

/// Checks one quota value for an entity: a key of the entity's kind, positive, and whole
/// where Kafka types the key as an integer.
pub fn validate_value(entity: &QuotaEntity, key: &str, value: f64) -> Result<(), String> {
    let kind = if entity.contains_key(IP) {
        ip_key(key)
    } else {
        user_and_client_key(key)
    };
    let Some(kind) = kind else {
        return Err(format!("Invalid configuration key {key}"));
    };
    // NaN and infinity are no rates, and could not be stored in the metadata log's JSON.
    if !value.is_finite() {
        return Err(format!("Quota {key} must be a finite number"));
    }
    if value <= 0.0 {
        return Err(format!("Quota {key} must be greater than 0"));
    }
    let max = match kind {
        QuotaType::Double => return Ok(()),
        QuotaType::Int => f64::from(i32::MAX),
        QuotaType::Long => i64::MAX as f64,
    };
    if value > max {
        return Err(format!("Proposed value for {key} is too large."));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(format!("{key} cannot be a fractional value."));
    }
    Ok(())
}

/// Kafka's DescribeClientQuotas match types.
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_SPECIFIED: i8 = 2;

/// A DescribeClientQuotas filter: entity types that must have a given name (or be the
/// default), types that must merely be present, and with `strict` no other types.
pub struct QuotaFilter {
    exact: BTreeMap<String, Option<String>>,
    present: Vec<String>,
    strict: bool,
}

impl QuotaFilter {
    /// Builds a filter from `(entity type, match type, match)` components; an invalid one is
    /// refused with Kafka's message. `Err((true, _))` marks an unknown entity type, which
    /// Kafka reports as UNSUPPORTED_VERSION rather than INVALID_REQUEST.
    pub fn parse(components: &[(String, i8, Option<String>)], strict: bool) -> Result<QuotaFilter, (bool, String)> {
        let mut filter = QuotaFilter {
            exact: BTreeMap::new(),
            present: Vec::new(),
            strict,
        };
        for (kind, match_type, value) in components {
            if kind.is_empty() {
                return Err((false, "Invalid empty entity type.".into()));
            }
            if filter.exact.contains_key(kind) || filter.present.contains(kind) {
                return Err((
                    false,
                    format!("Entity type {kind} cannot appear more than once in the filter."),
                ));
            }
            if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
                return Err((true, format!("Unsupported entity type {kind}")));
            }
            match (*match_type, value) {
                (MATCH_EXACT, Some(v)) => {
                    filter.exact.insert(kind.clone(), Some(v.clone()));
                }
                (MATCH_EXACT, None) => {
                    return Err((
                        false,
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ));
                }
                (MATCH_DEFAULT, None) => {
                    filter.exact.insert(kind.clone(), None);
                }
                (MATCH_SPECIFIED, None) => filter.present.push(kind.clone()),
                (MATCH_DEFAULT | MATCH_SPECIFIED, Some(_)) => {
                    return Err((
                        false,
                        "Request specified a match string with a match type that takes none.".into(),
                    ));
                }
                (other, _) => return Err((false, format!("Unknown match type {other}"))),
            }
        }
        let has = |k: &str| filter.exact.contains_key(k) || filter.present.iter().any(|p| p == k);
        if has(IP) && (has(USER) || has(CLIENT_ID)) {
            return Err((
                false,
                "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into(),
            ));
        }
        Ok(filter)
    }

    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.present.len() {
            return false;
        }
        self.exact.iter().all(|(k, v)| entity.get(k) == Some(v)) && self.present.iter().all(|k| entity.contains_key(k))
    }
}
