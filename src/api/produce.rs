//! Produce: validate each partition's batches, append them, and answer when the acks level
//! is met (acks=all after fsync through the group-commit flusher, acks=1 after the write,
//! acks=0 never).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, encode, errors};
use crate::log::{LogError, PartitionLog};
use crate::metadata::Topic;
use crate::record::{self, RecordError};

thread_local! {
    /// Reused across requests so appends do not allocate a fresh buffer each time.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn handle(api: &Arc<ApiHandler>, request: ProduceRequest, version: i16) -> Result<Reply, RequestError> {
    let acks = request.acks;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (log, offset to be durable up to) for acks=all.
    let mut durable: Vec<(Arc<PartitionLog>, i64)> = Vec::new();
    for topic_data in request.topic_data {
        let topic = if version >= 13 {
            api.topics.get_by_id(&topic_data.topic_id)
        } else {
            api.topics.get(topic_data.name.as_str())
        };
        let unknown = if version >= 13 { errors::UNKNOWN_TOPIC_ID } else { errors::UNKNOWN_TOPIC_OR_PARTITION };
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let mut out = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            if !matches!(acks, -1..=1) {
                out.error_code = errors::INVALID_REQUIRED_ACKS;
                partitions.push(out);
                continue;
            }
            let log = topic.as_ref().and_then(|t| api.topics.partition_log(&t.name, data.index));
            let (Some(topic), Some(log)) = (topic.as_ref(), log) else {
                out.error_code = unknown;
                partitions.push(out);
                continue;
            };
            match append(topic, &log, data.records.unwrap_or_default()) {
                Ok(info) => {
                    out.base_offset = info.base_offset;
                    out.log_append_time_ms = info.log_append_time;
                    out.log_start_offset = info.log_start_offset;
                    if acks == -1 {
                        durable.push((log.clone(), info.last_offset + 1));
                    } else {
                        api.logs.maybe_schedule_flush(&log);
                    }
                }
                Err((code, message)) => {
                    tracing::debug!(topic = %topic.name, partition = data.index, code, ?message, "produce refused");
                    out.error_code = code;
                    out.error_message = message.map(StrBytes::from_string);
                    // KIP-951 leader hints exist from v10; the codec refuses them earlier.
                    if version >= 10 {
                        out.current_leader = LeaderIdAndEpoch::default()
                            .with_leader_id(api.identity.node_id.into())
                            .with_leader_epoch(errors::LEADER_EPOCH);
                    }
                }
            }
            partitions.push(out);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_topic_id(topic_data.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return Ok(Reply::None);
    }
    let response = ProduceResponse::default().with_responses(responses);
    if durable.is_empty() {
        return Ok(Reply::Ready(encode(&response, version)?));
    }
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        for (log, offset) in durable {
            api.logs.wait_durable(&log, offset).await;
        }
        match encode(&response, version) {
            Ok(body) => Some(body),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode produce response");
                None
            }
        }
    })))
}

/// Validates and appends one partition's records; errors carry Kafka's code and message.
fn append(
    topic: &Topic,
    log: &PartitionLog,
    records: Bytes,
) -> Result<crate::log::AppendInfo, (i16, Option<String>)> {
    let config = &topic.config;
    let validated = record::validate_batches(&records, config.max_message_bytes()).map_err(record_error)?;
    if config.is_compacted() {
        for batch in &validated.batches {
            let bytes = &records[batch.position..batch.position + batch.size];
            if batch.is_control {
                continue;
            }
            let parsed = record::records(bytes).map_err(record_error)?;
            if parsed.iter().any(|r| r.key.is_none()) {
                return Err((
                    errors::INVALID_RECORD,
                    Some(format!("Compacted topic cannot accept message without key in topic partition {}-{}.", topic.name, log.partition())),
                ));
            }
        }
    }
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        buf.clear();
        buf.extend_from_slice(&records);
        for batch in &validated.batches {
            record::set_partition_leader_epoch(&mut buf[batch.position..batch.position + batch.size], errors::LEADER_EPOCH);
        }
        let result = log.append(&mut buf, now_ms(), config.log_append_time());
        // Keep the buffer from pinning a huge allocation after an unusually large request.
        if buf.capacity() > 8 << 20 {
            *buf = Vec::new();
        }
        result.map_err(|e| match e {
            LogError::Record(r) => record_error(r),
            other => {
                tracing::error!(topic = %topic.name, partition = log.partition(), error = %other, "append failed");
                (errors::KAFKA_STORAGE_ERROR, Some(other.to_string()))
            }
        })
    })
}

fn record_error(e: RecordError) -> (i16, Option<String>) {
    let code = match &e {
        RecordError::CorruptMessage(_) => errors::CORRUPT_MESSAGE,
        RecordError::MessageTooLarge { .. } => errors::MESSAGE_TOO_LARGE,
        RecordError::InvalidRecord(_) => errors::INVALID_RECORD,
        RecordError::UnsupportedMagic(_) => errors::UNSUPPORTED_FOR_MESSAGE_FORMAT,
    };
    (code, Some(e.to_string()))
}
