//! Produce: validate each partition's batches (size, CRC, keys on compacted topics, the
//! topic's timestamp bounds), rewrite those whose codec differs from the topic's
//! `compression.type`, append them, and answer when the acks level is met (acks=all after
//! fsync through the group-commit flusher, acks=1 after the write, acks=0 never).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, encode, errors};
use crate::log::producer_state::ProducerStateError;
use crate::log::{LogError, PartitionLog};
use crate::metadata::Topic;
use crate::record::batch::{BatchSummary, ValidatedBatches};
use crate::record::builder::NO_TIMESTAMP;
use crate::record::{self, BatchHeader, Compression, RecordBatchBuilder, RecordError};

/// Rate limit for storage-error log lines.
static STORAGE_ERROR_REPORTS: RateLimitedReport = RateLimitedReport::new(10_000);

/// Lets one report through per interval and counts the ones held back.
struct RateLimitedReport {
    interval_ms: i64,
    last_ms: std::sync::atomic::AtomicI64,
    held: std::sync::atomic::AtomicU64,
}

impl RateLimitedReport {
    const fn new(interval_ms: i64) -> Self {
        RateLimitedReport {
            interval_ms,
            last_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            held: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(events since the last report)` when a report is due.
    fn due(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = now_ms();
        let last = self.last_ms.load(Relaxed);
        if now.saturating_sub(last) >= self.interval_ms
            && self.last_ms.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
        {
            return Some(self.held.swap(0, Relaxed) + 1);
        }
        self.held.fetch_add(1, Relaxed);
        None
    }
}

thread_local! {
    /// Reused across requests so appends do not allocate a fresh buffer each time.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why a partition's records were refused: Kafka's error code, a message for the log, and the
/// per-record errors of KIP-467 (batch index, message).
#[derive(Debug)]
struct Refused {
    code: i16,
    message: Option<String>,
    record_errors: Vec<(i32, String)>,
}

impl From<(i16, Option<String>)> for Refused {
    fn from((code, message): (i16, Option<String>)) -> Self {
        Refused {
            code,
            message,
            record_errors: Vec::new(),
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn handle(api: &Arc<ApiHandler>, request: ProduceRequest, version: i16) -> Result<Reply, RequestError> {
    let acks = request.acks;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (log, offset to be durable up to, where its answer is) for acks=all.
    let mut durable: Vec<(Arc<PartitionLog>, i64, (usize, usize))> = Vec::new();
    for topic_data in request.topic_data {
        let topic = if version >= 13 {
            api.topics.get_by_id(&topic_data.topic_id)
        } else {
            api.topics.get(topic_data.name.as_str())
        };
        let unknown = if version >= 13 {
            errors::UNKNOWN_TOPIC_ID
        } else {
            errors::UNKNOWN_TOPIC_OR_PARTITION
        };
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
            let log = topic
                .as_ref()
                .and_then(|t| api.topics.partition_log(&t.name, data.index));
            let (Some(topic), Some(log)) = (topic.as_ref(), log) else {
                out.error_code = unknown;
                partitions.push(out);
                continue;
            };
            match append(topic, &log, data.records.unwrap_or_default(), version) {
                Ok(info) => {
                    out.base_offset = info.base_offset;
                    out.log_append_time_ms = info.log_append_time;
                    out.log_start_offset = info.log_start_offset;
                    if acks == -1 {
                        durable.push((log.clone(), info.last_offset + 1, (responses.len(), partitions.len())));
                    } else {
                        // Not visible to consumers until fsynced: have it fsynced soon.
                        api.logs.schedule_visibility_flush(&log);
                    }
                }
                Err(refused) => {
                    let Refused {
                        code,
                        message,
                        record_errors,
                    } = refused;
                    tracing::debug!(topic = %topic.name, partition = data.index, code, ?message, "produce refused");
                    out.error_code = code;
                    // Kafka sends a message only with record errors (its other produce errors
                    // carry the code alone); clients print it when failing those records.
                    if !record_errors.is_empty() {
                        out.error_message = message.map(StrBytes::from_string);
                        out.record_errors = record_errors
                            .into_iter()
                            .map(|(index, m)| {
                                BatchIndexAndErrorMessage::default()
                                    .with_batch_index(index)
                                    .with_batch_index_error_message(Some(StrBytes::from_string(m)))
                            })
                            .collect();
                    }
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
    let mut response = ProduceResponse::default().with_responses(responses);
    if durable.is_empty() {
        return Ok(Reply::Ready(encode(&response, version)?));
    }
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        for (log, offset, (t, p)) in durable {
            // A write that did not become durable is not acknowledged, whatever it was told
            // before: the partition answers KAFKA_STORAGE_ERROR, as a Kafka log-dir failure.
            if api.logs.wait_durable(&log, offset).await.is_err()
                && let Some(out) = response
                    .responses
                    .get_mut(t)
                    .and_then(|r| r.partition_responses.get_mut(p))
            {
                out.error_code = errors::KAFKA_STORAGE_ERROR;
                out.base_offset = -1;
                out.log_append_time_ms = -1;
            }
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
fn append(topic: &Topic, log: &PartitionLog, records: Bytes, version: i16) -> Result<crate::log::AppendInfo, Refused> {
    let config = &topic.config;
    let max_bytes = config.max_message_bytes();
    let records = single_batch(records, version)?;
    // Only the coordinators write their internal topics: a client's forged offset commit or
    // transaction record would be replayed as the truth at the next start.
    if topic.is_internal() {
        return Err((
            errors::INVALID_TOPIC_EXCEPTION,
            Some(format!("Cannot append to internal topic {}", topic.name)),
        )
            .into());
    }
    let validated = record::validate_batches(&records, max_bytes).map_err(record_error)?;
    // Transactions are not served, so no producer has one open: Kafka's answer to a
    // transactional batch outside a transaction.
    if validated.batches.iter().any(|b| {
        records
            .get(b.position..)
            .and_then(|bytes| BatchHeader::parse(bytes).ok())
            .is_some_and(|h| h.is_transactional())
    }) {
        return Err((
            errors::INVALID_TXN_STATE,
            Some("Transactional records are not supported by this broker; transactions are not served".into()),
        )
            .into());
    }
    let now = now_ms();
    validate_records(topic, log.partition(), &records, &validated, now)?;
    // Batches in another codec than the topic's compression.type are rewritten; everything
    // else is stored byte for byte.
    let target = config.compression();
    let rewrite = |b: &BatchSummary| target.is_some_and(|(codec, _)| !b.is_control && b.compression != codec);
    let recompressed = if validated.batches.iter().any(rewrite) {
        let mut out = Vec::with_capacity(records.len());
        for batch in &validated.batches {
            let bytes = &records[batch.position..batch.position + batch.size];
            match target {
                Some((codec, level)) if rewrite(batch) => {
                    let rebuilt = recompress(bytes, codec, level).map_err(record_error)?;
                    if rebuilt.len() > max_bytes {
                        return Err(record_error(RecordError::MessageTooLarge {
                            size: rebuilt.len(),
                            max: max_bytes,
                        })
                        .into());
                    }
                    out.extend_from_slice(&rebuilt);
                }
                _ => out.extend_from_slice(bytes),
            }
        }
        Some(out)
    } else {
        None
    };
    let input: &[u8] = recompressed.as_deref().unwrap_or(&records);
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        buf.clear();
        buf.extend_from_slice(input);
        if recompressed.is_none() {
            for batch in &validated.batches {
                record::set_partition_leader_epoch(
                    &mut buf[batch.position..batch.position + batch.size],
                    errors::LEADER_EPOCH,
                );
            }
        }
        let result = log.append(&mut buf, now, config.log_append_time());
        // Keep the buffer from pinning a huge allocation after an unusually large request.
        if buf.capacity() > 8 << 20 {
            *buf = Vec::new();
        }
        result
            .map_err(|e| match e {
                LogError::Record(r) => record_error(r),
                LogError::Producer(p) => {
                    let code = match p {
                        ProducerStateError::InvalidProducerEpoch { .. } => errors::INVALID_PRODUCER_EPOCH,
                        ProducerStateError::OutOfOrderSequence { .. } => errors::OUT_OF_ORDER_SEQUENCE_NUMBER,
                    };
                    (code, Some(p.to_string()))
                }
                // The failure was logged once when the log failed.
                LogError::Failed(why) => (errors::KAFKA_STORAGE_ERROR, Some(why)),
                other => {
                    // A full disk fails every produce until space returns: say so at most every
                    // ten seconds, with how many were refused meanwhile.
                    if let Some(refused) = STORAGE_ERROR_REPORTS.due() {
                        tracing::error!(topic = %topic.name, partition = log.partition(), error = %other, refused, "append failed");
                    }
                    (errors::KAFKA_STORAGE_ERROR, Some(other.to_string()))
                }
            })
            .map_err(Refused::from)
    })
}

/// Kafka's per-record checks (LogValidator): a record without a key on a compacted topic, and
/// with CreateTime a timestamp outside `message.timestamp.before.max.ms` /
/// `message.timestamp.after.max.ms` of the broker's clock. Every offending record is reported
/// by its index in the batch (KIP-467), so clients fail exactly those records and retry the
/// rest. Records are only decoded when a check can fail: a compacted topic, or a batch whose
/// timestamps may lie outside the bounds.
fn validate_records(
    topic: &Topic,
    partition: i32,
    records: &Bytes,
    validated: &ValidatedBatches,
    now: i64,
) -> Result<(), Refused> {
    let config = &topic.config;
    let compacted = config.is_compacted();
    let check_time = !config.log_append_time();
    let (before, after) = config.timestamp_bounds();
    let (lo, hi) = (now.saturating_sub(before), now.saturating_add(after));
    let bounded_below = before < now;
    let mut record_errors = Vec::new();
    let mut timestamp_error = false;
    for batch in validated.batches.iter().filter(|b| !b.is_control) {
        let may_be_late = check_time && (batch.max_timestamp > hi || bounded_below);
        if !compacted && !may_be_late {
            continue;
        }
        let bytes = &records[batch.position..batch.position + batch.size];
        for (index, r) in record::records(bytes).map_err(record_error)?.iter().enumerate() {
            if compacted && r.key.is_none() {
                record_errors.push((
                    index as i32,
                    format!(
                        "Compacted topic cannot accept message without key in topic partition {}-{partition}",
                        topic.name
                    ),
                ));
            } else if check_time && r.timestamp != NO_TIMESTAMP && (r.timestamp < lo || r.timestamp > hi) {
                timestamp_error = true;
                record_errors.push((
                    index as i32,
                    format!(
                        "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{lo}, {hi}]",
                        r.timestamp, r.offset
                    ),
                ));
            }
        }
    }
    if record_errors.is_empty() {
        return Ok(());
    }
    let (code, message) = if timestamp_error {
        (
            errors::INVALID_TIMESTAMP,
            "One or more records have been rejected due to invalid timestamp".to_string(),
        )
    } else {
        let shown: Vec<String> = record_errors
            .iter()
            .take(3)
            .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
            .collect();
        (
            errors::INVALID_RECORD,
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the \
                 first three errors at most: [{}]",
                record_errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(Refused {
        code,
        message: Some(message),
        record_errors,
    })
}

/// Rewrites one batch in `codec`, keeping its offsets, timestamps, headers and producer
/// fields (Kafka's recompression for a topic `compression.type`).
fn recompress(batch: &[u8], codec: Compression, level: Option<i32>) -> Result<Vec<u8>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    let mut builder = RecordBatchBuilder::like(&header, codec)
        .compression_level(level)
        .partition_leader_epoch(errors::LEADER_EPOCH);
    for r in &record::records(batch)? {
        builder.append_record(r);
    }
    builder.try_build()
}

/// Kafka's `ProduceRequest.validateRecords`: from v3 a partition carries exactly one complete
/// magic-2 batch (trailing partial bytes are trimmed, as Kafka's log does), and zstd needs v7+.
fn single_batch(records: Bytes, version: i16) -> Result<Bytes, (i16, Option<String>)> {
    let invalid = |why: String| (errors::INVALID_RECORD, Some(why));
    let Some(end) = record::complete_batch_end(&records, 0) else {
        return Err(invalid(format!(
            "Produce requests with version {version} must contain exactly one record batch; found none complete"
        )));
    };
    if record::complete_batch_end(&records, end).is_some() {
        return Err(invalid(format!(
            "Produce requests with version {version} are only allowed to contain exactly one record batch"
        )));
    }
    let batch = records.slice(..end);
    match record::BatchHeader::parse(&batch) {
        Err(RecordError::UnsupportedMagic(_)) => Err(invalid(format!(
            "Produce requests with version {version} are only allowed to contain record batches with magic version 2"
        ))),
        Ok(header) if version < 7 && matches!(header.compression(), Ok(record::Compression::Zstd)) => Err((
            errors::UNSUPPORTED_COMPRESSION_TYPE,
            Some(format!(
                "Produce requests with version {version} cannot use zstd compression (needs version 7)"
            )),
        )),
        // Other header faults are reported by the full validation that follows.
        _ => Ok(batch),
    }
}

fn record_error(e: RecordError) -> (i16, Option<String>) {
    let code = match &e {
        RecordError::CorruptMessage(_) => errors::CORRUPT_MESSAGE,
        RecordError::MessageTooLarge { .. } => errors::MESSAGE_TOO_LARGE,
        RecordError::InvalidRecord(_) => errors::INVALID_RECORD,
        // Kafka 4 refuses magic 0/1 in produce v3+ with InvalidRecordException.
        RecordError::UnsupportedMagic(_) => errors::INVALID_RECORD,
    };
    (code, Some(e.to_string()))
}
