//! Authorization: who may do what, asked by the API layer once per resource a request names.
//!
//! Without `authorizer.class.name` every principal may do everything, and the
//! authorized-operations fields report every operation a resource type supports, as Kafka
//! does without an authorizer. With the [`StandardAuthorizer`], the ACLs in the metadata log
//! decide (see `authorizer.rs`).

pub mod authorizer;

use std::net::IpAddr;

pub use authorizer::{STANDARD_AUTHORIZER, StandardAuthorizer};

use crate::metadata::acls::{CLUSTER_NAME, operation as op, resource_type};
use crate::security::KafkaPrincipal;

/// The resource types whose operations clients ask about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

impl ResourceType {
    /// Kafka's `ResourceType` code.
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => resource_type::TOPIC,
            ResourceType::Group => resource_type::GROUP,
            ResourceType::Cluster => resource_type::CLUSTER,
            ResourceType::TransactionalId => resource_type::TRANSACTIONAL_ID,
        }
    }
}

/// Kafka's "authorized operations not requested" marker.
pub const OPERATIONS_OMITTED: i32 = i32::MIN;

/// The operations Kafka defines for a resource type (its `AclEntry.supportedOperations`).
fn supported_operations(resource: ResourceType) -> &'static [i8] {
    match resource {
        ResourceType::Topic => &[
            op::READ,
            op::WRITE,
            op::CREATE,
            op::DESCRIBE,
            op::DELETE,
            op::ALTER,
            op::DESCRIBE_CONFIGS,
            op::ALTER_CONFIGS,
        ],
        ResourceType::Group => &[
            op::READ,
            op::DESCRIBE,
            op::DELETE,
            op::DESCRIBE_CONFIGS,
            op::ALTER_CONFIGS,
        ],
        ResourceType::Cluster => &[
            op::CREATE,
            op::CLUSTER_ACTION,
            op::DESCRIBE_CONFIGS,
            op::ALTER_CONFIGS,
            op::IDEMPOTENT_WRITE,
            op::ALTER,
            op::DESCRIBE,
        ],
        ResourceType::TransactionalId => &[op::DESCRIBE, op::WRITE],
    }
}

/// Who sends a request, and the authorizer that judges it: every API asks here before it
/// touches a resource.
#[derive(Clone, Copy)]
pub struct RequestContext<'a> {
    pub principal: &'a KafkaPrincipal,
    pub host: IpAddr,
    pub authorizer: Option<&'a StandardAuthorizer>,
}

impl RequestContext<'_> {
    /// Whether the caller may perform `operation` (an [`op`] code) on the resource `name`.
    pub fn authorize(&self, operation: i8, resource: ResourceType, name: &str) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorize(self.principal, self.host, operation, resource.code(), name))
    }

    /// Whether the caller may perform `operation` on the cluster.
    pub fn authorize_cluster(&self, operation: i8) -> bool {
        self.authorize(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the caller may perform `operation` on some resource of the type.
    pub fn authorize_any(&self, operation: i8, resource: ResourceType) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorize_by_resource_type(self.principal, self.host, operation, resource.code()))
    }

    /// The authorized-operations field for the resource `name`: the omitted marker unless the
    /// request asked for it, else the bitfield of the operations this caller may perform.
    pub fn authorized_operations(&self, resource: ResourceType, name: &str, requested: bool) -> i32 {
        if !requested {
            return OPERATIONS_OMITTED;
        }
        supported_operations(resource)
            .iter()
            .filter(|&&operation| self.authorize(operation, resource, name))
            .fold(0, |bits, &operation| bits | (1 << operation))
    }
}
