//! Produce: validate each partition's batches (size, CRC, every record against its header,
//! keys on compacted topics, the topic's timestamp bounds), rewrite those whose codec differs
//! from the topic's `compression.type`, append them, and answer when the acks level is met
//! (acks=all after fsync through the group-commit flusher, acks=1 after the write, acks=0
//! never).
//!
//! Validating a compressed or large batch is codec work whose cost the client chooses, so it
//! runs with its append on a bounded blocking pool, and the answer is deferred; each
//! partition's appends keep their arrival order (see `queue`).

use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Semaphore;

use super::{ApiHandler, QuotaClient, Reply, RequestError, encode, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::group::Durable;
use crate::log::{LogError, PartitionLog};
use crate::metadata::Topic;
use crate::metadata::acls::operation as op;
use crate::quota::QuotaType;
use crate::record::batch::{BatchSummary, ValidatedBatches};
use crate::record::{
    self, BatchHeader, Compression, LogValidator, RecordBatchBuilder, RecordError, RecordProblem, RecordStream,
    StreamingBatchBuilder,
};

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

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ProduceRequest,
    version: i16,
    client: &QuotaClient,
) -> Result<Reply, RequestError> {
    let acks = request.acks;
    // The request's record bytes count against the client's produce quota (Kafka records
    // them before appending); the answer carries the throttle time.
    let bytes: u64 = request
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .map(|p| p.records.as_ref().map_or(0, |r| r.len() as u64))
        .sum();
    let throttle_time_ms = api.throttle(client, QuotaType::Produce, bytes);
    let transactional_id = request.transactional_id.clone();
    if !transactional_writes_authorized(ctx, &request) {
        return refuse_all(request, acks, throttle_time_ms, version);
    }
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // (log, offset to be durable up to, where its answer is) for acks=all.
    let mut durable: Vec<(Arc<PartitionLog>, i64, (usize, usize))> = Vec::new();
    // Partitions whose append waits for the codec pool or for such an append before it.
    let mut jobs: Vec<Job> = Vec::new();
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
        // WRITE on the topic is judged before its existence, so an unauthorized caller does
        // not learn which topics exist. A topic id that names no topic has no name to judge.
        let name = topic.as_ref().map_or(topic_data.name.as_str(), |t| t.name.as_str());
        let authorized = (version >= 13 && topic.is_none()) || ctx.authorize(op::WRITE, ResourceType::Topic, name);
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
            if !authorized {
                out.error_code = errors::TOPIC_AUTHORIZATION_FAILED;
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
            let records = data.records.unwrap_or_default();
            let slot = (responses.len(), partitions.len());
            let txn_id = transactional_id.as_ref().map(|t| t.as_str());
            match check_transaction(api, txn_id, topic, data.index, &records, version) {
                Ok(None) => {}
                // Transactions v2: the partition joined the transaction; the reply waits for
                // that to be durable, as for its own records.
                Ok(Some(joined)) => {
                    if acks == -1 {
                        durable.push((joined.log, joined.offset, slot));
                    }
                }
                Err((code, message)) => {
                    out.error_code = code;
                    out.error_message = Some(StrBytes::from_string(message));
                    partitions.push(out);
                    continue;
                }
            }
            let heavy = needs_codec_pool(&records);
            if heavy || queue::is_busy(&log) {
                // Its answer is filled in when its turn comes.
                jobs.push(Job {
                    slot,
                    turn: queue::take_turn(&log),
                    topic: topic.clone(),
                    log,
                    records,
                    heavy,
                });
                partitions.push(out);
                continue;
            }
            let result = append(topic, &log, records, version);
            if let Some(wait) = settle(api, &mut out, topic, &log, result, acks, version) {
                durable.push((wait.0, wait.1, slot));
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
    // The request's handling time counts against the client's request quota; the answer
    // carries the longer of the two throttles, as Kafka's does.
    let throttle_time_ms = throttle_time_ms.max(super::request_quota::settle());
    let mut response = ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(throttle_time_ms);
    if jobs.is_empty() && durable.is_empty() {
        if acks == 0 {
            return Ok(Reply::None);
        }
        return Ok(Reply::Ready(encode(&response, version)?));
    }
    let api = api.clone();
    // A request whose only acks=all partition appends on the codec pool fsyncs there too, as
    // soon as it has appended: no hand-off to the flusher and back. With several, the
    // flusher fsyncs them side by side instead of one after another.
    let fsync_on_pool = acks == -1 && jobs.len() == 1 && jobs[0].heavy && durable.is_empty();
    let finish = async move {
        for job in jobs {
            let Job {
                slot: (t, p),
                turn,
                topic,
                log,
                records,
                heavy,
            } = job;
            let turn = turn.wait().await;
            let result = if heavy {
                let fsync = fsync_on_pool.then(|| api.logs.clone());
                run_on_codec_pool(topic.clone(), log.clone(), records, version, turn, fsync).await
            } else {
                let result = append(&topic, &log, records, version);
                turn.finish();
                result
            };
            let Some(out) = response
                .responses
                .get_mut(t)
                .and_then(|r| r.partition_responses.get_mut(p))
            else {
                continue;
            };
            if let Some(wait) = settle(&api, out, &topic, &log, result, acks, version) {
                durable.push((wait.0, wait.1, (t, p)));
            }
        }
        // Every partition's fsync is asked for before the first wait, so one flusher round
        // covers them all instead of one round each.
        api.logs
            .request_flushes(durable.iter().map(|(log, offset, _)| (log, *offset)));
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
        response
    };
    if acks == 0 {
        // Nobody waits for the answer, but the appends still happen, in their turn.
        tokio::spawn(finish);
        return Ok(Reply::None);
    }
    Ok(Reply::Deferred(Box::pin(async move {
        let response = finish.await;
        match encode(&response, version) {
            Ok(body) => Some(body.into()),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode produce response");
                None
            }
        }
    })))
}

/// Transactional batches (judged by each partition's first batch, as Kafka does) need WRITE on
/// the request's transactional id; a request without one cannot have it.
fn transactional_writes_authorized(ctx: &RequestContext<'_>, request: &ProduceRequest) -> bool {
    let transactional = request
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .filter_map(|p| BatchHeader::parse(p.records.as_deref()?).ok())
        .any(|h| h.is_transactional());
    !transactional
        || request
            .transactional_id
            .as_ref()
            .is_some_and(|id| ctx.authorize(op::WRITE, ResourceType::TransactionalId, id.as_str()))
}

/// The whole request refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED: nothing is appended.
fn refuse_all(request: ProduceRequest, acks: i16, throttle_time_ms: i32, version: i16) -> Result<Reply, RequestError> {
    if acks == 0 {
        return Ok(Reply::None);
    }
    let responses = request
        .topic_data
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    let response = ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(throttle_time_ms);
    Ok(Reply::Ready(encode(&response, version)?))
}

/// One partition of a produce whose append runs later, in its partition's turn.
struct Job {
    slot: (usize, usize),
    turn: queue::Turn,
    topic: Arc<Topic>,
    log: Arc<PartitionLog>,
    records: Bytes,
    heavy: bool,
}

/// Records up to this size, uncompressed, are validated and appended on the connection's
/// task: reading them costs about as much as copying them.
const INLINE_BYTES: usize = 256 * 1024;

/// Kafka's checks on who may write transactional batches: a client never writes control
/// batches, and a transactional batch must come from the producer that holds the request's
/// transactional id. Before v12 the partition must already be in its open transaction
/// (KIP-890's verification, which keeps a late or fenced producer from leaving a transaction
/// open in the log); from v12 (transactions v2) writing it adds it, and the returned mark is
/// when that is durable.
fn check_transaction(
    api: &ApiHandler,
    transactional_id: Option<&str>,
    topic: &Topic,
    partition: i32,
    records: &[u8],
    version: i16,
) -> Result<Option<Durable>, (i16, String)> {
    let Ok(header) = BatchHeader::parse(records) else {
        return Ok(None);
    };
    if header.is_control() {
        return Err((
            errors::INVALID_RECORD,
            "Clients are not allowed to write control records".into(),
        ));
    }
    if !header.is_transactional() {
        return Ok(None);
    }
    let Some(id) = transactional_id else {
        return Err((
            errors::INVALID_TXN_STATE,
            "Transactional records must name their transactional id".into(),
        ));
    };
    let tp = [(topic.name.clone(), partition)];
    let code = if version >= 12 {
        match api
            .txn
            .add_partitions_implicitly(id, header.producer_id, header.producer_epoch, &tp)
        {
            Ok(joined) => return Ok(joined),
            Err(code) => code,
        }
    } else {
        match api.txn.verify(id, header.producer_id, header.producer_epoch, &tp) {
            errors::NONE => return Ok(None),
            code => code,
        }
    };
    Err(match code {
        errors::PRODUCER_FENCED => (
            errors::INVALID_PRODUCER_EPOCH,
            format!(
                "Producer epoch {} of transactional id {id} is not current",
                header.producer_epoch
            ),
        ),
        errors::INVALID_PRODUCER_ID_MAPPING => (
            code,
            format!("Producer id {} does not hold transactional id {id}", header.producer_id),
        ),
        // Another operation on the transaction is in flight: the producer retries.
        errors::CONCURRENT_TRANSACTIONS | errors::COORDINATOR_NOT_AVAILABLE => (
            errors::NOT_ENOUGH_REPLICAS,
            format!("The transaction of transactional id {id} is busy; retry"),
        ),
        _ => (
            code,
            format!(
                "Partition {}-{partition} is not part of an open transaction of transactional id {id}",
                topic.name
            ),
        ),
    })
}

/// True when validating the records means codec work (a compressed batch: its decompressed
/// size is not known before it is read) or reading a large batch; such appends run on the
/// codec pool so that the async workers keep serving every other connection.
fn needs_codec_pool(records: &[u8]) -> bool {
    let compressed = records
        .get(21..23)
        .is_some_and(|a| i16::from_be_bytes([a[0], a[1]]) & 0x07 != 0);
    compressed || records.len() > INLINE_BYTES
}

/// The bounded pool for produce's codec work: blocking threads, at most half the cores busy
/// at once, so the async workers always keep a core.
fn codec_permits() -> &'static Semaphore {
    static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new((cores / 2).max(1))
    });
    &PERMITS
}

/// Appends on the codec pool in the partition's `turn`; with `fsync`, then makes the append
/// durable on the same thread, once the next turn and the codec permit are free to go (an
/// fsync waits on the device, not on a core, and the appends behind it share the next one).
async fn run_on_codec_pool(
    topic: Arc<Topic>,
    log: Arc<PartitionLog>,
    records: Bytes,
    version: i16,
    turn: queue::Turn,
    fsync: Option<Arc<crate::log::LogManager>>,
) -> Result<crate::log::AppendInfo, Refused> {
    // The semaphore is never closed, so acquiring only waits.
    let permit = codec_permits().acquire().await;
    let task = move || {
        let result = append(&topic, &log, records, version);
        turn.finish();
        drop(permit);
        if let (Some(logs), Ok(info)) = (fsync, &result) {
            logs.flush_to(&log, info.last_offset + 1);
        }
        result
    };
    match tokio::task::spawn_blocking(task).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "produce validation task failed");
            Err((errors::UNKNOWN_SERVER_ERROR, Some(e.to_string())).into())
        }
    }
}

/// Fills one partition's answer from its append; returns what acks=all must wait for.
fn settle(
    api: &ApiHandler,
    out: &mut PartitionProduceResponse,
    topic: &Topic,
    log: &Arc<PartitionLog>,
    result: Result<crate::log::AppendInfo, Refused>,
    acks: i16,
    version: i16,
) -> Option<(Arc<PartitionLog>, i64)> {
    match result {
        Ok(info) => {
            out.base_offset = info.base_offset;
            out.log_append_time_ms = info.log_append_time;
            out.log_start_offset = info.log_start_offset;
            if acks == -1 {
                return Some((log.clone(), info.last_offset + 1));
            }
            // Not visible to consumers until fsynced: have it fsynced soon.
            api.logs.schedule_visibility_flush(log);
            None
        }
        Err(refused) => {
            let Refused {
                code,
                message,
                record_errors,
            } = refused;
            tracing::debug!(topic = %topic.name, partition = log.partition(), code, ?message, "produce refused");
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
            None
        }
    }
}

mod queue;

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
    let now = now_ms();
    let checked = validate_records(topic, log.partition(), &records, &validated, now)?;
    // Batches in another codec than the topic's compression.type are rewritten, and so are
    // those whose inner offsets are not 0, 1, 2, … (Kafka assigns fresh ones); everything
    // else is stored byte for byte.
    let target = config.compression();
    let limit = record::decompressed_limit(max_bytes);
    let rewrite_to = |i: usize, b: &BatchSummary| -> Option<(Compression, Option<i32>)> {
        if b.is_control {
            return None;
        }
        match target {
            Some((codec, level)) if b.compression != codec => Some((codec, level)),
            _ if !checked[i] => Some((b.compression, None)),
            _ => None,
        }
    };
    let recompressed = if validated
        .batches
        .iter()
        .enumerate()
        .any(|(i, b)| rewrite_to(i, b).is_some())
    {
        let mut out = Vec::with_capacity(records.len());
        for (i, batch) in validated.batches.iter().enumerate() {
            let bytes = &records[batch.position..batch.position + batch.size];
            match rewrite_to(i, batch) {
                Some((codec, level)) => {
                    let rebuilt = recompress(bytes, codec, level, max_bytes, limit).map_err(record_error)?;
                    out.extend_from_slice(&rebuilt);
                }
                None => out.extend_from_slice(bytes),
            }
        }
        Some(out)
    } else {
        None
    };
    // Batches stored as produced go from the request to the page cache as they are, their
    // headers patched in copies; rewritten ones are patched in their new buffer.
    let log_append_time = config.log_append_time();
    let (result, len) = match recompressed {
        Some(mut rewritten) => (log.append(&mut rewritten, now, log_append_time), rewritten.len()),
        None => (log.append_from(&records, now, log_append_time), records.len()),
    };
    if let Ok(info) = &result
        && !info.duplicate
    {
        let counters = log.topic_metrics();
        counters.bytes_in.add(len as u64);
        counters
            .messages_in
            .add((info.last_offset - info.base_offset + 1) as u64);
    }
    result
        .map_err(|e| match e {
                LogError::Record(r) => record_error(r),
                LogError::Producer(p) => (errors::producer_state_code(&p), Some(p.to_string())),
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
}

/// Kafka's per-record checks ([`LogValidator`]): every record of every batch is read and
/// checked against its header (a malformed batch is refused even with a valid CRC), and the
/// topic's rules are applied: a record without a key on a compacted topic, and with CreateTime
/// a timestamp outside `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` of
/// the broker's clock. Every offending record is reported by its index in the batch (KIP-467),
/// so clients fail exactly those records and retry the rest. Returns, per batch, whether its
/// inner offsets are in order (control batches, which are not read, count as in order).
fn validate_records(
    topic: &Topic,
    partition: i32,
    records: &Bytes,
    validated: &ValidatedBatches,
    now: i64,
) -> Result<Vec<bool>, Refused> {
    let config = &topic.config;
    let (before, after) = config.timestamp_bounds();
    let (lo, hi) = (now.saturating_sub(before), now.saturating_add(after));
    let validator = LogValidator {
        compacted: config.is_compacted(),
        timestamp_bounds: (!config.log_append_time()).then_some((lo, hi)),
        decompressed_limit: record::decompressed_limit(config.max_message_bytes()),
    };
    let mut in_order = Vec::with_capacity(validated.batches.len());
    let mut record_errors = Vec::new();
    let mut total_errors = 0usize;
    let mut timestamp_error = false;
    for batch in &validated.batches {
        if batch.is_control {
            in_order.push(true);
            continue;
        }
        let bytes = &records[batch.position..batch.position + batch.size];
        let checked = validator.validate_batch(bytes).map_err(record_error)?;
        in_order.push(checked.offsets_in_order);
        total_errors += checked.record_error_count;
        timestamp_error |= checked.timestamp_error;
        for (index, problem) in checked.record_errors {
            let message = match problem {
                RecordProblem::MissingKey => format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{partition}",
                    topic.name
                ),
                RecordProblem::TimestampOutOfRange { timestamp, offset } => format!(
                    "Timestamp {timestamp} of message with offset {offset} is out of range. The timestamp should be \
                     within [{lo}, {hi}]"
                ),
            };
            record_errors.push((index, message));
        }
    }
    if record_errors.is_empty() {
        return Ok(in_order);
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
                "One or more records have been rejected due to {total_errors} record errors in total, and only \
                 showing the first three errors at most: [{}]",
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

/// Rewrites one batch in `codec` (Kafka's recompression for a topic `compression.type`, and
/// its fresh offsets for inner offsets out of order), keeping timestamps, headers and producer
/// fields. Records stream from the decoder into the encoder one at a time; the result is
/// refused (MESSAGE_TOO_LARGE) as soon as it grows past `max_size`.
fn recompress(
    batch: &[u8],
    codec: Compression,
    level: Option<i32>,
    max_size: usize,
    limit: usize,
) -> Result<Vec<u8>, RecordError> {
    let mut stream = RecordStream::new(batch, limit)?;
    let template = RecordBatchBuilder::like(stream.header(), codec)
        .compression_level(level)
        .partition_leader_epoch(errors::LEADER_EPOCH);
    let mut builder = StreamingBatchBuilder::from_template(template, max_size)?;
    let mut offset_delta = 0i32;
    while let Some(r) = stream.next_record()? {
        builder.append(offset_delta, &r)?;
        offset_delta = offset_delta.saturating_add(1);
    }
    builder.finish()
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
