//! ListOffsets: earliest, latest, max-timestamp and by-timestamp lookups.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::log::PartitionLog;
use crate::metadata::acls::operation as op;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405: the earliest offset held locally; without tiered storage, the log start.
const EARLIEST_LOCAL: i64 = -4;
/// KIP-1005: the highest offset copied to tiered storage; there is none here.
const LATEST_TIERED: i64 = -5;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            // Without DESCRIBE on the topic, every partition is refused before the topic is
            // looked up, so its existence is not disclosed.
            let authorized = ctx.authorize(op::DESCRIBE, ResourceType::Topic, topic.name.as_str());
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    if !authorized {
                        return out.with_error_code(errors::TOPIC_AUTHORIZATION_FAILED);
                    }
                    let Some(log) = api.topics.partition_log(topic.name.as_str(), p.partition_index) else {
                        return out.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let epoch_error = errors::check_leader_epoch(p.current_leader_epoch);
                    if epoch_error != errors::NONE {
                        return out.with_error_code(epoch_error);
                    }
                    // isolation_level exists from v2: 1 is read_committed.
                    let read_committed = version >= 2 && request.isolation_level == 1;
                    match lookup(&log, p.timestamp, read_committed) {
                        Ok(Some((offset, timestamp))) => out
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            // The field exists from v4; the codec refuses it earlier.
                            .with_leader_epoch(if version >= 4 { errors::LEADER_EPOCH } else { -1 }),
                        Ok(None) => out,
                        Err(code) => out.with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The (offset, timestamp) answering one query; `None` when no record matches (Kafka then
/// answers offset -1, timestamp -1).
fn lookup(log: &PartitionLog, timestamp: i64, read_committed: bool) -> Result<Option<(i64, i64)>, i16> {
    let storage = |e| {
        tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "offset lookup failed");
        errors::KAFKA_STORAGE_ERROR
    };
    // What a consumer of this isolation level can read.
    let visible = if read_committed {
        log.last_stable_offset()
    } else {
        log.high_watermark()
    };
    match timestamp {
        // The high watermark (the durable offset), or for read_committed the last stable
        // offset, below which no transaction is open.
        LATEST => Ok(Some((visible, -1))),
        EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
        LATEST_TIERED => Ok(None),
        // A record past what the consumer may read is not visible yet, as on Kafka.
        MAX_TIMESTAMP => Ok(log.max_timestamp().map_err(storage)?.filter(|(o, _)| *o < visible)),
        ts if ts >= 0 => Ok(log
            .offset_for_timestamp(ts)
            .map_err(storage)?
            .filter(|(o, _)| *o < visible)),
        _ => Err(errors::INVALID_REQUEST),
    }
}
