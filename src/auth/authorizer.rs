//! The authorizer, with Kafka's `StandardAuthorizer` semantics: a principal in `super.users`
//! may do anything; otherwise the ACLs whose pattern covers the resource decide, a DENY
//! winning over any ALLOW; an ALLOW of READ, WRITE, DELETE or ALTER also allows DESCRIBE, and
//! one of ALTER_CONFIGS allows DESCRIBE_CONFIGS; a resource no ACL covers at all is allowed
//! only with `allow.everyone.if.no.acl.found`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::{BrokerConfig, ConfigError};
use crate::metadata::TopicRegistry;
use crate::metadata::acls::{StandardAcl, WILDCARD, operation, permission};
use crate::security::KafkaPrincipal;

/// The `authorizer.class.name` that turns authorization on, as on a KRaft Kafka.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

pub struct StandardAuthorizer {
    topics: Arc<TopicRegistry>,
    super_users: HashSet<String>,
    allow_if_no_acl_found: bool,
}

impl StandardAuthorizer {
    /// The authorizer `authorizer.class.name` asks for: none when it is empty, an error for
    /// a class this broker does not have.
    pub fn from_config(
        config: &BrokerConfig,
        topics: Arc<TopicRegistry>,
    ) -> Result<Option<StandardAuthorizer>, ConfigError> {
        let class = config.get("authorizer.class.name").unwrap_or_default().trim();
        if class.is_empty() {
            return Ok(None);
        }
        if class != STANDARD_AUTHORIZER {
            return Err(ConfigError(format!(
                "authorizer.class.name: {class} is not available; the authorizer is {STANDARD_AUTHORIZER}"
            )));
        }
        let super_users = config
            .get("super.users")
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let allow_if_no_acl_found = config
            .get("allow.everyone.if.no.acl.found")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(Some(StandardAuthorizer {
            topics,
            super_users,
            allow_if_no_acl_found,
        }))
    }

    /// Whether `principal` at `host` may perform `op` on the resource `name` of `resource_type`.
    pub fn authorize(&self, principal: &KafkaPrincipal, host: IpAddr, op: i8, resource_type: i8, name: &str) -> bool {
        let principal = principal.to_string();
        if self.super_users.contains(&principal) {
            return true;
        }
        let host = host.to_string();
        let wildcard_principal = format!("{}:{WILDCARD}", principal.split(':').next().unwrap_or("User"));
        let acls = self.topics.acls();
        let mut covered = false;
        let mut allowed = false;
        for acl in acls.values() {
            if acl.resource_type != resource_type || !acl.covers(name) {
                continue;
            }
            covered = true;
            if acl.principal != principal && acl.principal != wildcard_principal {
                continue;
            }
            if acl.host != WILDCARD && acl.host != host {
                continue;
            }
            if !grants(acl, op) {
                continue;
            }
            if acl.permission == permission::DENY {
                return false;
            }
            allowed = true;
        }
        allowed || (!covered && self.allow_if_no_acl_found)
    }

    /// Whether `principal` at `host` may perform `op` on at least one resource of
    /// `resource_type` (Kafka's `authorizeByResourceType`, which InitProducerId uses for an
    /// idempotent producer): some ALLOW pattern grants it that no DENY cancels, a literal
    /// DENY on the wildcard cancelling all, a prefixed DENY cancelling what it covers.
    pub fn authorize_by_resource_type(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        op: i8,
        resource_type: i8,
    ) -> bool {
        // As Kafka: a made-up name first, so that super users and the no-ACL default apply.
        if self.authorize(principal, host, op, resource_type, "hardcode") {
            return true;
        }
        let name = principal.to_string();
        let host_text = host.to_string();
        let wildcard_principal = format!("{}:{WILDCARD}", name.split(':').next().unwrap_or("User"));
        let acls = self.topics.acls();
        let applies = |acl: &StandardAcl| {
            acl.resource_type == resource_type
                && (acl.principal == name || acl.principal == wildcard_principal)
                && (acl.host == WILDCARD || acl.host == host_text)
                && (acl.operation == op || acl.operation == operation::ALL)
        };
        let denies: Vec<&StandardAcl> = acls
            .values()
            .filter(|a| applies(a) && a.permission == permission::DENY)
            .collect();
        if denies
            .iter()
            .any(|d| d.resource_name == WILDCARD && d.pattern_type == crate::metadata::acls::pattern_type::LITERAL)
        {
            return false;
        }
        acls.values()
            .filter(|a| applies(a) && a.permission == permission::ALLOW)
            .any(|allow| !denies.iter().any(|deny| deny_cancels(deny, allow)))
    }
}

/// Whether an ACL of `acl.operation` speaks to `op` (implications apply to ALLOW only).
fn grants(acl: &StandardAcl, op: i8) -> bool {
    if acl.operation == operation::ALL || acl.operation == op {
        return true;
    }
    if acl.permission != permission::ALLOW {
        return false;
    }
    match op {
        operation::DESCRIBE => matches!(
            acl.operation,
            operation::READ | operation::WRITE | operation::DELETE | operation::ALTER
        ),
        operation::DESCRIBE_CONFIGS => acl.operation == operation::ALTER_CONFIGS,
        _ => false,
    }
}

/// Whether a DENY pattern covers everything an ALLOW pattern grants.
fn deny_cancels(deny: &StandardAcl, allow: &StandardAcl) -> bool {
    use crate::metadata::acls::pattern_type::{LITERAL, PREFIXED};
    match (deny.pattern_type, allow.pattern_type) {
        (LITERAL, LITERAL) => deny.resource_name == allow.resource_name,
        (PREFIXED, LITERAL) | (PREFIXED, PREFIXED) => allow.resource_name.starts_with(&deny.resource_name),
        _ => false,
    }
}
