//! Fetch: read whole batches from each partition within the request's byte limits (KIP-74:
//! the first batch always comes back whole), through incremental fetch sessions (KIP-227),
//! and long-poll for `min_bytes` by parking on the partitions' log-end notifications.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use uuid::Uuid;

use super::records_send::{self, MIN_SHARED_RECORDS, ResponseBody, ResponsePart, SharedRecords, encode_sharing};
use super::{ApiHandler, QuotaClient, Reply, RequestError, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::fetch_session::{FetchContext, PartitionKey, SessionPartition};
use crate::log::transaction_index::AbortedTxn;
use crate::log::{FetchedRecords, LogError, PartitionLog};
use crate::metadata::acls::operation as op;
use crate::quota::QuotaType;

/// Kafka's read_committed isolation level.
const READ_COMMITTED: i8 = 1;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: FetchRequest,
    version: i16,
    client: QuotaClient,
) -> Result<Reply, RequestError> {
    let by_id = version >= 13;
    let key_of = |name: &TopicName, id: Uuid| -> PartitionKey {
        if by_id {
            let topic = api.topics.get_by_id(&id).map(|t| t.name.clone()).unwrap_or_default();
            PartitionKey {
                topic_id: id,
                topic,
                partition: 0,
            }
        } else {
            PartitionKey {
                topic_id: Uuid::nil(),
                topic: name.to_string(),
                partition: 0,
            }
        }
    };
    let mut requested = Vec::new();
    for t in &request.topics {
        let base = key_of(&t.topic, t.topic_id);
        for p in &t.partitions {
            let key = PartitionKey {
                partition: p.partition,
                ..base.clone()
            };
            requested.push(SessionPartition::new(
                key,
                p.fetch_offset,
                p.partition_max_bytes,
                p.current_leader_epoch,
            ));
        }
    }
    let mut forgotten = Vec::new();
    for t in &request.forgotten_topics_data {
        let base = key_of(&t.topic, t.topic_id);
        forgotten.extend(t.partitions.iter().map(|p| PartitionKey {
            partition: *p,
            ..base.clone()
        }));
    }
    // A replica's fetch (replica id >= 0; in the replica state from v15) needs CLUSTER_ACTION
    // on the cluster instead of READ on each topic.
    let replica_id = if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    let from_follower = replica_id >= 0;
    // Before v7 there are no sessions: every request is a sessionless full fetch.
    let (session_id, epoch) = if version >= 7 {
        (request.session_id, request.session_epoch)
    } else {
        (0, -1)
    };
    let (context, partitions) = match api.fetch_sessions.begin(session_id, epoch, requested, forgotten) {
        Ok(r) => r,
        Err(code) => {
            let response = FetchResponse::default().with_error_code(code);
            return super::ready(response, version);
        }
    };
    // Every partition of the session is judged, as Kafka walks the fetch context: a topic id
    // that names no topic stays UNKNOWN_TOPIC_ID, and a topic the caller may not read is
    // refused with TOPIC_AUTHORIZATION_FAILED before its existence is looked at.
    let cluster_action = from_follower && ctx.authorize_cluster(op::CLUSTER_ACTION);
    let denied = partitions
        .iter()
        .map(|p| {
            if from_follower {
                !cluster_action
            } else {
                let unresolved = by_id && p.key.topic.is_empty();
                !unresolved && !ctx.authorize(op::READ, ResourceType::Topic, &p.key.topic)
            }
        })
        .collect();
    let plan = FetchPlan {
        api: api.clone(),
        partitions,
        denied,
        context,
        by_id,
        version,
        // The broker's `fetch.max.bytes` bounds every response, as on Kafka: what a client
        // asks for must not decide how much memory a reply takes. A client under a fetch
        // quota gets at most what its quota window allows.
        max_bytes: if request.max_bytes <= 0 {
            i32::MAX as usize
        } else {
            request.max_bytes as usize
        }
        .min(api.topics.broker_config().fetch_max_bytes())
        .min(
            api.max_bytes_in_quota_window(&client, QuotaType::Fetch)
                .unwrap_or(usize::MAX),
        ),
        min_bytes: request.min_bytes.max(0) as usize,
        max_wait: Duration::from_millis(request.max_wait_ms.max(0) as u64),
        read_committed: request.isolation_level == READ_COMMITTED,
        client,
        // The handling time is settled here: a long poll's wait is not the broker's work.
        request_throttle_ms: super::request_quota::settle(),
    };
    Ok(Reply::Deferred(Box::pin(plan.run())))
}

struct FetchPlan {
    api: Arc<ApiHandler>,
    partitions: Vec<SessionPartition>,
    /// Beside each partition: whether the caller may not fetch it.
    denied: Vec<bool>,
    context: FetchContext,
    by_id: bool,
    version: i16,
    max_bytes: usize,
    min_bytes: usize,
    max_wait: Duration,
    read_committed: bool,
    /// Whose fetch quota the response's bytes count against.
    client: QuotaClient,
    /// The throttle the request's handling time earned against the client's request quota.
    request_throttle_ms: i32,
}

/// One partition's outcome.
struct PartitionResult {
    key: PartitionKey,
    error: i16,
    slice: Option<FetchedRecords>,
    last_stable_offset: i64,
    /// read_committed: the aborted transactions within the returned records.
    aborted: Vec<AbortedTxn>,
    /// The log read, whose topic counts the bytes sent.
    log: Option<Arc<PartitionLog>>,
}

impl PartitionResult {
    fn failed(key: PartitionKey, error: i16) -> PartitionResult {
        PartitionResult {
            key,
            error,
            slice: None,
            last_stable_offset: -1,
            aborted: Vec::new(),
            log: None,
        }
    }
}

/// What goes into the response for stored records, and what is sent in its place: a large
/// range is sent from its file, a small one is read and copied with the rest.
fn place_records(stored: crate::log::FileRecords, index: usize) -> std::io::Result<SharedRecords> {
    if stored.len() >= MIN_SHARED_RECORDS
        && let Some(placed) = records_send::placeholder(index, stored.len())
    {
        return Ok(SharedRecords {
            placed,
            part: ResponsePart::File(stored),
        });
    }
    stored.read().map(SharedRecords::bytes)
}

impl FetchPlan {
    async fn run(self) -> Option<ResponseBody> {
        let deadline = Instant::now() + self.max_wait;
        let results = loop {
            // Subscribe before reading, so a high watermark move between the read and the wait
            // still wakes us. Consumers see only durable data, so the durable offset is what
            // they wait on.
            let watches: Vec<_> = self.logs().into_iter().flatten().map(|l| l.durable_watch()).collect();
            let results = self.read_all();
            let bytes: usize = results
                .iter()
                .filter_map(|r| r.slice.as_ref())
                .map(FetchedRecords::len)
                .sum();
            let has_error = results.iter().any(|r| r.error != errors::NONE);
            if bytes >= self.min_bytes || has_error || Instant::now() >= deadline || watches.is_empty() {
                break results;
            }
            let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = watches
                .into_iter()
                .map(|mut rx| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                    Box::pin(async move {
                        if rx.changed().await.is_err() {
                            // The log closed (topic deleted, shutdown): stop waiting on it.
                            std::future::pending::<()>().await;
                        }
                    })
                })
                .collect();
            let any_change = poll_fn(|cx| {
                if waits.iter_mut().any(|w| w.as_mut().poll(cx).is_ready()) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            if tokio::time::timeout_at(deadline, any_change).await.is_err() {
                break self.read_all();
            }
        };
        // The records read count against the client's fetch quota. A throttled client, over
        // that quota or its request quota, gets an answer without records (KIP-219), which
        // leaves its session where it was, and the bytes are taken back from the quota: it
        // fetches them again once its connection is read again.
        let bytes: u64 = results
            .iter()
            .filter_map(|r| r.slice.as_ref())
            .map(|s| s.len() as u64)
            .sum();
        let throttle = self
            .api
            .throttle(&self.client, QuotaType::Fetch, bytes)
            .max(self.request_throttle_ms);
        if throttle > 0 {
            self.api.unrecord(&self.client, QuotaType::Fetch, bytes);
            let response = self.throttled_response(throttle);
            return super::encode_logged(response, self.version);
        }
        let (response, records) = self.response(results);
        match encode_sharing(&response, self.version, records) {
            Ok(body) => Some(body),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode fetch response");
                None
            }
        }
    }

    fn logs(&self) -> Vec<Option<Arc<PartitionLog>>> {
        self.partitions
            .iter()
            .zip(&self.denied)
            .map(|(p, &denied)| {
                if denied {
                    return None;
                }
                self.api.topics.partition_log(&p.key.topic, p.key.partition)
            })
            .collect()
    }

    fn read_all(&self) -> Vec<PartitionResult> {
        let mut remaining = self.max_bytes;
        let mut returned_any = false;
        let unknown = if self.by_id {
            errors::UNKNOWN_TOPIC_ID
        } else {
            errors::UNKNOWN_TOPIC_OR_PARTITION
        };
        self.partitions
            .iter()
            .zip(self.logs())
            .zip(&self.denied)
            .map(|((p, log), &denied)| {
                let key = p.key.clone();
                if denied {
                    return PartitionResult::failed(key, errors::TOPIC_AUTHORIZATION_FAILED);
                }
                let Some(log) = log else {
                    return PartitionResult::failed(key, unknown);
                };
                let epoch_error = errors::check_leader_epoch(p.current_leader_epoch);
                if epoch_error != errors::NONE {
                    return PartitionResult::failed(key, epoch_error);
                }
                let limit = (p.max_bytes.max(0) as usize).min(remaining);
                // Where the records are, not the records: they are read (or sent from the
                // file) only once the response is final.
                match log.fetch_records(p.fetch_offset, limit, !returned_any, self.read_committed) {
                    Ok(slice) => {
                        remaining = remaining.saturating_sub(slice.len());
                        returned_any |= !slice.is_empty();
                        let aborted = match slice.next_offset {
                            Some(end) if self.read_committed => log.aborted_transactions(p.fetch_offset, end),
                            _ => Vec::new(),
                        };
                        PartitionResult {
                            key,
                            error: errors::NONE,
                            // Taken after the read, so it is never below what was returned.
                            last_stable_offset: log.last_stable_offset().min(slice.high_watermark),
                            slice: Some(slice),
                            aborted,
                            log: Some(log),
                        }
                    }
                    Err(LogError::OffsetOutOfRange { .. }) => PartitionResult::failed(key, errors::OFFSET_OUT_OF_RANGE),
                    Err(LogError::Closed) => PartitionResult::failed(key, unknown),
                    Err(e) => {
                        tracing::error!(topic = %p.key.topic, partition = p.key.partition, error = %e, "read failed");
                        PartitionResult::failed(key, errors::KAFKA_STORAGE_ERROR)
                    }
                }
            })
            .collect()
    }

    /// Kafka's answer to a throttled fetch: no partitions, and the session id only of a
    /// session that already existed (a new session is dropped, so the client starts over
    /// with a full fetch).
    fn throttled_response(&self, throttle_time_ms: i32) -> FetchResponse {
        let session_id = match &self.context {
            FetchContext::Incremental { session_id, .. } => *session_id,
            FetchContext::Full { session_id, .. } => {
                self.api.fetch_sessions.remove(*session_id);
                0
            }
            FetchContext::Sessionless => 0,
        };
        FetchResponse::default()
            .with_throttle_time_ms(throttle_time_ms)
            .with_session_id(session_id)
    }

    /// The response, and the record sets in it (sent from where they are stored).
    fn response(&self, results: Vec<PartitionResult>) -> (FetchResponse, Vec<SharedRecords>) {
        let states: Vec<_> = results
            .iter()
            .map(|r| {
                let state = match &r.slice {
                    Some(s) => (s.high_watermark, r.last_stable_offset, s.log_start_offset, r.error),
                    None => (-1, -1, -1, r.error),
                };
                let has_records = r.slice.as_ref().is_some_and(|s| !s.is_empty());
                (r.key.clone(), has_records, state)
            })
            .collect();
        let include = self.api.fetch_sessions.finish(&self.context, &states);
        let mut topics: Vec<FetchableTopicResponse> = Vec::new();
        let mut records = Vec::new();
        for (r, include) in results.into_iter().zip(include) {
            if !include {
                continue;
            }
            let mut data = PartitionData::default()
                .with_partition_index(r.key.partition)
                .with_error_code(r.error)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_preferred_read_replica((-1).into())
                .with_records(Some(Bytes::new()));
            if let Some(slice) = r.slice {
                data.high_watermark = slice.high_watermark;
                data.last_stable_offset = r.last_stable_offset;
                data.log_start_offset = slice.log_start_offset;
                if let Some(stored) = slice.records {
                    match place_records(stored, records.len()) {
                        Ok(shared) => {
                            if let Some(log) = &r.log {
                                log.topic_metrics().bytes_out.add(shared.part.len() as u64);
                            }
                            data.records = Some(shared.placed.clone());
                            records.push(shared);
                        }
                        Err(e) => {
                            tracing::error!(topic = %r.key.topic, partition = r.key.partition, error = %e, "read failed");
                            data.error_code = errors::KAFKA_STORAGE_ERROR;
                        }
                    }
                }
            }
            if self.read_committed {
                data.aborted_transactions = Some(
                    r.aborted
                        .iter()
                        .map(|t| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(t.producer_id))
                                .with_first_offset(t.first_offset)
                        })
                        .collect(),
                );
            }
            let same_topic = topics.last().is_some_and(|t| {
                if self.by_id {
                    t.topic_id == r.key.topic_id
                } else {
                    t.topic.as_str() == r.key.topic
                }
            });
            if !same_topic {
                topics.push(
                    FetchableTopicResponse::default()
                        .with_topic(TopicName(StrBytes::from_string(r.key.topic.clone())))
                        .with_topic_id(r.key.topic_id),
                );
            }
            if let Some(t) = topics.last_mut() {
                t.partitions.push(data);
            }
        }
        let session_id = self.context.session_id();
        let response = FetchResponse::default()
            .with_session_id(session_id)
            .with_responses(topics);
        (response, records)
    }
}
