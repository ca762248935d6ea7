//! ACLs in the metadata log, as Kafka's controller keeps them (`AccessControlEntryRecord`,
//! `RemoveAccessControlEntryRecord`): each ACL is a resource pattern (type, name, literal or
//! prefixed) and an entry (principal, host, operation, allow or deny), under an id. The
//! authorizer (`crate::auth`) reads the current set through [`TopicRegistry::acls`];
//! CreateAcls and DeleteAcls change it.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use super::metadata_log::MetadataRecord;
use super::topics::{TopicError, TopicRegistry};

/// The wildcard of a literal resource name, a principal or a host.
pub const WILDCARD: &str = "*";
/// The only name of the CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Kafka's `ResourceType` codes.
pub mod resource_type {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

/// Kafka's `PatternType` codes.
pub mod pattern_type {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's `AclOperation` codes.
pub mod operation {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
}

/// Kafka's `AclPermissionType` codes.
pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// One ACL (Kafka's `StandardAcl`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StandardAcl {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    /// `Type:name`, e.g. `User:alice`, or `User:*`.
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

impl StandardAcl {
    /// Whether this ACL's resource pattern covers the resource `name` of its type.
    pub fn covers(&self, name: &str) -> bool {
        match self.pattern_type {
            pattern_type::LITERAL => self.resource_name == name || self.resource_name == WILDCARD,
            pattern_type::PREFIXED => name.starts_with(&self.resource_name),
            _ => false,
        }
    }
}

/// A DescribeAcls or DeleteAcls filter (Kafka's `AclBindingFilter`): `None` and the ANY codes
/// match everything; pattern type MATCH matches every pattern that covers the name.
#[derive(Clone, Debug)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclFilter {
    pub fn matches(&self, acl: &StandardAcl) -> bool {
        let resource_type = self.resource_type == resource_type::ANY || self.resource_type == acl.resource_type;
        let pattern = match (&self.resource_name, self.pattern_type) {
            (_, p) if p != pattern_type::ANY && p != pattern_type::MATCH && p != acl.pattern_type => false,
            (None, _) => true,
            (Some(name), pattern_type::MATCH) => acl.covers(name),
            (Some(name), _) => *name == acl.resource_name,
        };
        let principal = self.principal.as_ref().is_none_or(|p| *p == acl.principal);
        let host = self.host.as_ref().is_none_or(|h| *h == acl.host);
        let operation = self.operation == operation::ANY || self.operation == acl.operation;
        let permission = self.permission == permission::ANY || self.permission == acl.permission;
        resource_type && pattern && principal && host && operation && permission
    }
}

/// The current ACLs by id; shared with the authorizer as one immutable snapshot.
pub type AclSet = BTreeMap<Uuid, StandardAcl>;

fn record(id: Uuid, acl: &StandardAcl) -> MetadataRecord {
    MetadataRecord::AccessControlEntry {
        id: id.to_string(),
        resource_type: acl.resource_type,
        resource_name: acl.resource_name.clone(),
        pattern_type: acl.pattern_type,
        principal: acl.principal.clone(),
        host: acl.host.clone(),
        operation: acl.operation,
        permission_type: acl.permission,
    }
}

/// Replays one ACL record; a record that does not decode is logged and skipped.
pub(super) fn apply(acls: &mut Arc<AclSet>, record: MetadataRecord) {
    match record {
        MetadataRecord::AccessControlEntry {
            id,
            resource_type,
            resource_name,
            pattern_type,
            principal,
            host,
            operation,
            permission_type,
        } => {
            let Ok(id) = Uuid::parse_str(&id) else {
                tracing::warn!(%id, "metadata log holds an ACL with a malformed id; skipped");
                return;
            };
            let acl = StandardAcl {
                resource_type,
                resource_name,
                pattern_type,
                principal,
                host,
                operation,
                permission: permission_type,
            };
            Arc::make_mut(acls).insert(id, acl);
        }
        MetadataRecord::RemoveAccessControlEntry { id } => {
            if let Ok(id) = Uuid::parse_str(&id) {
                Arc::make_mut(acls).remove(&id);
            }
        }
        _ => {}
    }
}

pub(super) fn snapshot(acls: &AclSet) -> Vec<MetadataRecord> {
    acls.iter().map(|(id, acl)| record(*id, acl)).collect()
}

impl TopicRegistry {
    /// The current ACLs, as one snapshot.
    pub fn acls(&self) -> Arc<AclSet> {
        self.state.read().acls.clone()
    }

    /// Persists and applies new ACLs; an ACL already present is not added twice, as on
    /// Kafka. All in one go under the metadata log's lock.
    pub fn create_acls(&self, acls: &[StandardAcl]) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        let mut added: Vec<&StandardAcl> = Vec::new();
        {
            let state = self.state.read();
            for acl in acls {
                if !state.acls.values().any(|a| a == acl) && !added.contains(&acl) {
                    added.push(acl);
                }
            }
        }
        let records: Vec<MetadataRecord> = added.into_iter().map(|acl| record(Uuid::new_v4(), acl)).collect();
        for r in &records {
            log.append(r)?;
        }
        let mut state = self.state.write();
        for r in records {
            apply(&mut state.acls, r);
        }
        Ok(())
    }

    /// Persists and applies the removal of every ACL matching each filter; returns, per
    /// filter, the ACLs it removed.
    pub fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<Vec<StandardAcl>>, TopicError> {
        let mut log = self.log.lock();
        let current = self.acls();
        let mut removed_ids = Vec::new();
        let mut per_filter = Vec::with_capacity(filters.len());
        for filter in filters {
            let mut removed = Vec::new();
            for (id, acl) in current.iter().filter(|(_, acl)| filter.matches(acl)) {
                removed.push(acl.clone());
                if !removed_ids.contains(id) {
                    removed_ids.push(*id);
                }
            }
            per_filter.push(removed);
        }
        let records: Vec<MetadataRecord> = removed_ids
            .iter()
            .map(|id| MetadataRecord::RemoveAccessControlEntry { id: id.to_string() })
            .collect();
        for r in &records {
            log.append(r)?;
        }
        let mut state = self.state.write();
        for r in records {
            apply(&mut state.acls, r);
        }
        Ok(per_filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(name: &str, pattern: i8, principal: &str, op: i8, perm: i8) -> StandardAcl {
        StandardAcl {
            resource_type: resource_type::TOPIC,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: WILDCARD.into(),
            operation: op,
            permission: perm,
        }
    }

    #[test]
    fn acls_survive_a_restart_and_deletion_sticks() {
        let dir = tempfile::tempdir().unwrap();
        let config = Arc::new(crate::config::BrokerConfig::default());
        let read = acl(
            "orders",
            pattern_type::LITERAL,
            "User:alice",
            operation::READ,
            permission::ALLOW,
        );
        let write = acl(
            "ord",
            pattern_type::PREFIXED,
            "User:bob",
            operation::WRITE,
            permission::ALLOW,
        );
        {
            let registry = TopicRegistry::open(config.clone(), dir.path()).unwrap();
            registry
                .create_acls(&[read.clone(), write.clone(), read.clone()])
                .unwrap();
            registry.create_acls(std::slice::from_ref(&read)).unwrap();
            assert_eq!(registry.acls().len(), 2, "an ACL already present is not added again");
            let filter = AclFilter {
                resource_type: resource_type::TOPIC,
                resource_name: Some("ord".into()),
                pattern_type: pattern_type::ANY,
                principal: None,
                host: None,
                operation: operation::ANY,
                permission: permission::ANY,
            };
            let removed = registry.delete_acls(&[filter]).unwrap();
            assert_eq!(removed, vec![vec![write.clone()]]);
        }
        let registry = TopicRegistry::open(config, dir.path()).unwrap();
        let acls: Vec<StandardAcl> = registry.acls().values().cloned().collect();
        assert_eq!(acls, vec![read]);
    }

    #[test]
    fn match_filters_find_every_pattern_that_covers_a_name() {
        let literal = acl(
            "orders",
            pattern_type::LITERAL,
            "User:a",
            operation::READ,
            permission::ALLOW,
        );
        let wildcard = acl("*", pattern_type::LITERAL, "User:a", operation::READ, permission::ALLOW);
        let prefixed = acl(
            "ord",
            pattern_type::PREFIXED,
            "User:a",
            operation::READ,
            permission::ALLOW,
        );
        let other = acl(
            "payments",
            pattern_type::LITERAL,
            "User:a",
            operation::READ,
            permission::ALLOW,
        );
        let filter = |pattern: i8| AclFilter {
            resource_type: resource_type::ANY,
            resource_name: Some("orders".into()),
            pattern_type: pattern,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        };
        let matching = |pattern: i8| {
            [&literal, &wildcard, &prefixed, &other]
                .into_iter()
                .filter(|a| filter(pattern).matches(a))
                .count()
        };
        assert_eq!(matching(pattern_type::MATCH), 3);
        assert_eq!(matching(pattern_type::ANY), 1);
        assert_eq!(matching(pattern_type::LITERAL), 1);
        assert_eq!(matching(pattern_type::PREFIXED), 0);
    }
}
