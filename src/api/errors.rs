//! Kafka error codes returned by the APIs served here.

pub const UNKNOWN_SERVER_ERROR: i16 = -1;
pub const NONE: i16 = 0;
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const CORRUPT_MESSAGE: i16 = 2;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const MESSAGE_TOO_LARGE: i16 = 10;
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const NOT_COORDINATOR: i16 = 16;
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
pub const INVALID_REQUIRED_ACKS: i16 = 21;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const INVALID_GROUP_ID: i16 = 24;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
pub const INVALID_TIMESTAMP: i16 = 32;
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
pub const UNSUPPORTED_VERSION: i16 = 35;
pub const INVALID_REQUEST: i16 = 42;
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
pub const POLICY_VIOLATION: i16 = 44;
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
pub const INVALID_TXN_STATE: i16 = 48;
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
pub const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
pub const KAFKA_STORAGE_ERROR: i16 = 56;
pub const SECURITY_DISABLED: i16 = 54;
pub const LOG_DIR_NOT_FOUND: i16 = 57;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
pub const FENCED_LEADER_EPOCH: i16 = 74;
pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const ELECTION_NOT_NEEDED: i16 = 84;
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
pub const INVALID_RECORD: i16 = 87;
pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
pub const UNKNOWN_TOPIC_ID: i16 = 100;
pub const INCONSISTENT_TOPIC_ID: i16 = 103;
pub const RESOURCE_NOT_FOUND: i16 = 91;
pub const PRODUCER_FENCED: i16 = 90;
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
pub const INVALID_PARTITIONS: i16 = 37;
pub const DUPLICATE_RESOURCE: i16 = 92;
pub const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
pub const INVALID_REGULAR_EXPRESSION: i16 = 128;
pub const FENCED_MEMBER_EPOCH: i16 = 110;
pub const UNRELEASED_INSTANCE_ID: i16 = 111;
pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
pub const STALE_MEMBER_EPOCH: i16 = 113;
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub const ILLEGAL_SASL_STATE: i16 = 34;
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
pub const UNACCEPTABLE_CREDENTIAL: i16 = 93;

/// Kafka's default messages of the authorization errors, sent where Kafka sends them.
pub const TOPIC_AUTHORIZATION_FAILED_MESSAGE: &str = "Topic authorization failed.";
pub const GROUP_AUTHORIZATION_FAILED_MESSAGE: &str = "Group authorization failed.";
pub const CLUSTER_AUTHORIZATION_FAILED_MESSAGE: &str = "Cluster authorization failed.";

/// The leader epoch of every partition: one node never changes leaders.
pub const LEADER_EPOCH: i32 = 0;

/// KIP-320 fencing: a client naming an epoch other than the current one is refused.
/// -1 means the client does not check.
pub fn check_leader_epoch(current_leader_epoch: i32) -> i16 {
    match current_leader_epoch {
        e if e < 0 || e == LEADER_EPOCH => NONE,
        e if e < LEADER_EPOCH => FENCED_LEADER_EPOCH,
        _ => UNKNOWN_LEADER_EPOCH,
    }
}

/// The code for a producer-state refusal of a batch or marker.
pub fn producer_state_code(e: &crate::log::producer_state::ProducerStateError) -> i16 {
    use crate::log::producer_state::ProducerStateError as E;
    match e {
        E::InvalidProducerEpoch { .. } => INVALID_PRODUCER_EPOCH,
        E::OutOfOrderSequence { .. } => OUT_OF_ORDER_SEQUENCE_NUMBER,
        E::ExpectedTransactional { .. } => INVALID_TXN_STATE,
        E::CoordinatorFenced { .. } => TRANSACTION_COORDINATOR_FENCED,
    }
}

/// PRODUCER_FENCED as a client of `version` understands it: versions before `first_version`
/// knew only INVALID_PRODUCER_EPOCH, which Kafka answers them instead.
pub fn fenced_for_version(code: i16, version: i16, first_version: i16) -> i16 {
    if code == PRODUCER_FENCED && version < first_version {
        INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}
