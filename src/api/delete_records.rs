//! DeleteRecords: moves each partition's log start offset (the low watermark) up to the
//! requested offset; -1 means the high watermark. Offsets below it can no longer be fetched
//! (OFFSET_OUT_OF_RANGE), ListOffsets earliest answers it, and segments wholly below it are
//! removed. As on Kafka: an offset beyond the high watermark is OFFSET_OUT_OF_RANGE, a topic
//! whose `cleanup.policy` lacks `delete` gets POLICY_VIOLATION, internal topics
//! INVALID_TOPIC_EXCEPTION.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::log::LogError;
use crate::metadata::acls::operation as op;

/// DeleteRecords' "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub fn handle(api: &Arc<ApiHandler>, ctx: &RequestContext<'_>, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            // DELETE on the topic, judged before the topic is looked up.
            let authorized = ctx.authorize(op::DELETE, ResourceType::Topic, topic.name.as_str());
            let known = api.topics.get(topic.name.as_str());
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let out = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    if !authorized {
                        return out.with_error_code(errors::TOPIC_AUTHORIZATION_FAILED);
                    }
                    let log = known.as_ref().and_then(|t| api.topics.partition_log(&t.name, p.partition_index));
                    let (Some(t), Some(log)) = (known.as_ref(), log) else {
                        return out.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    if t.is_internal() {
                        return out.with_error_code(errors::INVALID_TOPIC_EXCEPTION);
                    }
                    if !log.config().delete {
                        return out.with_error_code(errors::POLICY_VIOLATION);
                    }
                    let offset = if p.offset == HIGH_WATERMARK { log.high_watermark() } else { p.offset };
                    match api.logs.delete_records(&log, offset) {
                        Ok(low_watermark) => out.with_low_watermark(low_watermark),
                        Err(LogError::OffsetOutOfRange { .. }) => out.with_error_code(errors::OFFSET_OUT_OF_RANGE),
                        Err(LogError::Closed) => out.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION),
                        Err(e) => {
                            tracing::error!(topic = %t.name, partition = p.partition_index, error = %e, "DeleteRecords failed");
                            out.with_error_code(errors::KAFKA_STORAGE_ERROR)
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
