//! Authorization. No authorizer is configured on this broker yet, so every principal may do
//! everything, and the authorized-operations fields of Metadata, DescribeCluster,
//! DescribeGroups and DescribeTopicPartitions report what Kafka reports without an authorizer:
//! every operation the resource type supports.

/// Kafka's `AclOperation` codes, as bit positions of an authorized-operations bitfield.
pub mod operation {
    pub const READ: u8 = 3;
    pub const WRITE: u8 = 4;
    pub const CREATE: u8 = 5;
    pub const DELETE: u8 = 6;
    pub const ALTER: u8 = 7;
    pub const DESCRIBE: u8 = 8;
    pub const CLUSTER_ACTION: u8 = 9;
    pub const DESCRIBE_CONFIGS: u8 = 10;
    pub const ALTER_CONFIGS: u8 = 11;
    pub const IDEMPOTENT_WRITE: u8 = 12;
}

/// The resource types whose operations clients ask about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
}

/// Kafka's "authorized operations not requested" marker.
pub const OPERATIONS_OMITTED: i32 = i32::MIN;

/// The operations Kafka defines for a resource type (its `AclEntry.supportedOperations`).
fn supported_operations(resource: ResourceType) -> &'static [u8] {
    use operation::*;
    match resource {
        ResourceType::Topic => &[
            READ,
            WRITE,
            CREATE,
            DESCRIBE,
            DELETE,
            ALTER,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
        ],
        ResourceType::Group => &[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS],
        ResourceType::Cluster => &[
            CREATE,
            CLUSTER_ACTION,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
            IDEMPOTENT_WRITE,
            ALTER,
            DESCRIBE,
        ],
    }
}

/// The authorized-operations field for `resource`: the omitted marker unless the request
/// asked for it, else the bitfield of operations this client may perform (all of them,
/// without an authorizer).
pub fn authorized_operations(resource: ResourceType, requested: bool) -> i32 {
    if !requested {
        return OPERATIONS_OMITTED;
    }
    supported_operations(resource)
        .iter()
        .fold(0, |bits, op| bits | (1 << op))
}
