//! Kafka error codes returned by the APIs served here.

pub const NONE: i16 = 0;
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const CORRUPT_MESSAGE: i16 = 2;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const MESSAGE_TOO_LARGE: i16 = 10;
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
pub const INVALID_REQUIRED_ACKS: i16 = 21;
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
pub const UNSUPPORTED_VERSION: i16 = 35;
pub const INVALID_REQUEST: i16 = 42;
pub const KAFKA_STORAGE_ERROR: i16 = 56;
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
pub const FENCED_LEADER_EPOCH: i16 = 74;
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
pub const INVALID_RECORD: i16 = 87;
pub const UNKNOWN_TOPIC_ID: i16 = 100;
pub const INCONSISTENT_TOPIC_ID: i16 = 103;
pub const UNSUPPORTED_ENDPOINT_TYPE: i16 = 119;

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
