//! Kafka error codes as the Java clients name and word them: the tools print the exception's
//! class name and message where the Java tools do, so both read the same.

use std::fmt;

/// An error code a broker answered, with its message if it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: i16,
    pub message: Option<String>,
}

pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const LEADER_NOT_AVAILABLE: i16 = 5;
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const NOT_COORDINATOR: i16 = 16;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const UNSUPPORTED_VERSION: i16 = 35;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// (code, exception class in org.apache.kafka.common.errors, Errors' default message).
const ERRORS: &[(i16, &str, &str)] = &[
    (
        -1,
        "UnknownServerException",
        "The server experienced an unexpected error when processing the request.",
    ),
    (
        1,
        "OffsetOutOfRangeException",
        "The requested offset is not within the range of offsets maintained by the server.",
    ),
    (
        2,
        "CorruptRecordException",
        "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.",
    ),
    (
        3,
        "UnknownTopicOrPartitionException",
        "This server does not host this topic-partition.",
    ),
    (
        5,
        "LeaderNotAvailableException",
        "There is no leader for this topic-partition as we are in the middle of a leadership election.",
    ),
    (
        6,
        "NotLeaderOrFollowerException",
        "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.",
    ),
    (7, "TimeoutException", "The request timed out."),
    (
        10,
        "RecordTooLargeException",
        "The request included a message larger than the max message size the server will accept.",
    ),
    (
        14,
        "CoordinatorLoadInProgressException",
        "The coordinator is loading and hence can't process requests.",
    ),
    (
        15,
        "CoordinatorNotAvailableException",
        "The coordinator is not available.",
    ),
    (16, "NotCoordinatorException", "This is not the correct coordinator."),
    (
        17,
        "InvalidTopicException",
        "The request attempted to perform an operation on an invalid topic.",
    ),
    (
        18,
        "RecordBatchTooLargeException",
        "The request included message batch larger than the configured segment size on the server.",
    ),
    (
        19,
        "NotEnoughReplicasException",
        "Messages are rejected since there are fewer in-sync replicas than required.",
    ),
    (
        21,
        "InvalidRequiredAcksException",
        "Produce request specified an invalid value for required acks.",
    ),
    (
        22,
        "IllegalGenerationException",
        "Specified group generation id is not valid.",
    ),
    (
        23,
        "InconsistentGroupProtocolException",
        "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.",
    ),
    (24, "InvalidGroupIdException", "The configured groupId is invalid."),
    (
        25,
        "UnknownMemberIdException",
        "The coordinator is not aware of this member.",
    ),
    (
        27,
        "RebalanceInProgressException",
        "The group is rebalancing, so a rejoin is needed.",
    ),
    (
        28,
        "InvalidCommitOffsetSizeException",
        "The committing offset data size is not valid.",
    ),
    (29, "TopicAuthorizationException", "Topic authorization failed."),
    (30, "GroupAuthorizationException", "Group authorization failed."),
    (31, "ClusterAuthorizationException", "Cluster authorization failed."),
    (
        32,
        "InvalidTimestampException",
        "The timestamp of the message is out of acceptable range.",
    ),
    (
        35,
        "UnsupportedVersionException",
        "The version of API is not supported.",
    ),
    (36, "TopicExistsException", "Topic with this name already exists."),
    (37, "InvalidPartitionsException", "Number of partitions is below 1."),
    (
        38,
        "InvalidReplicationFactorException",
        "Replication factor is below 1 or larger than the number of available brokers.",
    ),
    (40, "InvalidConfigurationException", "Configuration is invalid."),
    (
        42,
        "InvalidRequestException",
        "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.",
    ),
    (
        44,
        "PolicyViolationException",
        "Request parameters do not satisfy the configured policy.",
    ),
    (
        45,
        "OutOfOrderSequenceException",
        "The broker received an out of order sequence number.",
    ),
    (
        47,
        "InvalidProducerEpochException",
        "Producer attempted to produce with an old epoch.",
    ),
    (54, "SecurityDisabledException", "Security features are disabled."),
    (
        56,
        "KafkaStorageException",
        "Disk error when trying to access log file on the disk.",
    ),
    (68, "GroupNotEmptyException", "The group is not empty."),
    (69, "GroupIdNotFoundException", "The group id does not exist."),
    (73, "TopicDeletionDisabledException", "Topic deletion is disabled."),
    (
        78,
        "OffsetNotAvailableException",
        "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.",
    ),
    (
        79,
        "MemberIdRequiredException",
        "The group member needs to have a valid member id before actually entering a consumer group.",
    ),
    (
        81,
        "GroupMaxSizeReachedException",
        "The consumer group has reached its max size.",
    ),
    (
        82,
        "FencedInstanceIdException",
        "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.",
    ),
    (
        86,
        "GroupSubscribedToTopicException",
        "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.",
    ),
    (
        87,
        "InvalidRecordException",
        "This record has failed the validation on broker and hence will be rejected.",
    ),
    (
        88,
        "UnstableOffsetCommitException",
        "There are unstable offsets that need to be cleared.",
    ),
    (
        89,
        "ThrottlingQuotaExceededException",
        "The throttling quota has been exceeded.",
    ),
    (
        90,
        "ProducerFencedException",
        "There is a newer producer with the same transactionalId which fences the current one.",
    ),
    (
        100,
        "UnknownTopicIdException",
        "This server does not host this topic ID.",
    ),
];

impl KafkaError {
    pub fn new(code: i16, message: Option<&str>) -> KafkaError {
        KafkaError {
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        }
    }

    /// `Err` for a non-zero code.
    pub fn check(code: i16, message: Option<&str>) -> Result<(), KafkaError> {
        if code == 0 {
            Ok(())
        } else {
            Err(KafkaError::new(code, message))
        }
    }

    /// The Java exception's simple class name.
    pub fn class_name(&self) -> String {
        match ERRORS.iter().find(|e| e.0 == self.code) {
            Some(e) => e.1.to_string(),
            None => "UnknownServerException".to_string(),
        }
    }

    /// `org.apache.kafka.common.errors.<Class>: <message>`, as a Java exception's toString.
    pub fn qualified(&self) -> String {
        format!("org.apache.kafka.common.errors.{}: {self}", self.class_name())
    }

    /// Whether a retry (after a metadata refresh or a coordinator lookup) can succeed.
    pub fn is_retriable(&self) -> bool {
        kafka_protocol::error::ResponseError::try_from_code(self.code).is_some_and(|e| e.is_retriable())
            || self.code == COORDINATOR_NOT_AVAILABLE
            || self.code == NOT_COORDINATOR
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = &self.message {
            return f.write_str(m);
        }
        match ERRORS.iter().find(|e| e.0 == self.code) {
            Some(e) => f.write_str(e.2),
            None => write!(f, "Unexpected error code: {}.", self.code),
        }
    }
}

impl std::error::Error for KafkaError {}
