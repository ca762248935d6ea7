//! ShareFetch (KIP-932): applies the acknowledgements it carries, then acquires records of the
//! member's share session's partitions under a lock and returns them with their acquired
//! ranges and delivery counts, long-polling up to `max_wait_ms` when nothing can be acquired.
//! The reply waits until the acknowledgements are durable in `__share_group_state`.

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ShareFetchRequest, ShareFetchResponse};
use tokio::time::Instant;

use super::{ApiHandler, Reply, RequestError, encode_logged, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::group::Durable;
use crate::metadata::acls::operation as op;
use crate::share::codes;
use crate::share::share_partition_manager::{AckBatch, Acquired};
use crate::share::share_session::{SessionUse, TopicIdPartition};

/// The client's default `max.poll.records`, for a request that names no limit.
const DEFAULT_MAX_RECORDS: i64 = 500;

/// What a response says about one partition.
#[derive(Default)]
struct PartitionOutcome {
    error: i16,
    /// Some when the request acknowledged records of this partition.
    ack_error: Option<i16>,
    acquired: Option<Acquired>,
}

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ShareFetchRequest,
    version: i16,
    peer: std::net::SocketAddr,
) -> Result<Reply, RequestError> {
    let group = request.group_id.as_ref().map(|g| g.to_string()).unwrap_or_default();
    let member = request.member_id.as_ref().map(|m| m.to_string()).unwrap_or_default();
    let refuse = |code: i16| ready(ShareFetchResponse::default().with_error_code(code), version);
    // Fetching as a member is READ on the share group, asked before anything else.
    if !ctx.authorize(op::READ, ResourceType::Group, &group) {
        return refuse(errors::GROUP_AUTHORIZATION_FAILED);
    }
    if group.is_empty() || member.is_empty() {
        return refuse(codes::INVALID_REQUEST);
    }
    let epoch = request.share_session_epoch;
    let mut added: Vec<TopicIdPartition> = Vec::new();
    let mut acks: Vec<(TopicIdPartition, Vec<AckBatch>)> = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            let tp = (t.topic_id, p.partition_index);
            added.push(tp);
            if !p.acknowledgement_batches.is_empty() {
                let batches = p
                    .acknowledgement_batches
                    .iter()
                    .map(|b| AckBatch {
                        first_offset: b.first_offset,
                        last_offset: b.last_offset,
                        types: b.acknowledge_types.clone(),
                    })
                    .collect();
                acks.push((tp, batches));
            }
        }
    }
    // A new session has nothing acquired yet to acknowledge.
    if epoch == 0 && !acks.is_empty() {
        return refuse(codes::INVALID_REQUEST);
    }
    let forgotten: Vec<TopicIdPartition> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
        .collect();
    let share = &api.share.partitions;
    // Only partitions that exist join the session, so what a session holds is bounded by the
    // broker's partitions, whatever ids clients name; the others are answered UNKNOWN_TOPIC_ID.
    let mut outcomes: BTreeMap<TopicIdPartition, PartitionOutcome> = BTreeMap::new();
    added.retain(|tp| {
        let known = share.log(tp.0, tp.1).is_some();
        if !known {
            outcomes.entry(*tp).or_default().error = errors::UNKNOWN_TOPIC_ID;
        }
        known
    });
    let session = match share.sessions.fetch(&group, &member, epoch, &added, &forgotten, peer) {
        Ok(s) => s,
        Err(code) => return refuse(code),
    };
    // Each topic needs READ: a partition of a topic the caller may not read stays in the
    // session but is neither acknowledged nor fetched, and answers TOPIC_AUTHORIZATION_FAILED.
    // A topic id that names no topic keeps its own error.
    let readable = |tp: &TopicIdPartition| {
        api.topics
            .get_by_id(&tp.0)
            .is_none_or(|t| ctx.authorize(op::READ, ResourceType::Topic, &t.name))
    };
    let mut durable = Vec::new();
    for (tp, batches) in &acks {
        if !readable(tp) {
            outcomes.entry(*tp).or_default().ack_error = Some(errors::TOPIC_AUTHORIZATION_FAILED);
            continue;
        }
        let code = match share.acknowledge(&group, &member, *tp, batches) {
            Ok(d) => {
                durable.push(d);
                errors::NONE
            }
            Err(code) => code,
        };
        outcomes.entry(*tp).or_default().ack_error = Some(code);
    }
    let lock_ms = share
        .group_configs
        .lock_duration(&group)
        .as_millis()
        .min(i32::MAX as u128) as i32;
    let fetch = match session {
        SessionUse::Closed(partitions) => {
            durable.extend(share.release(&group, &member, &partitions));
            None
        }
        SessionUse::Fetch(partitions) => Some(
            partitions
                .into_iter()
                .filter(|tp| {
                    let ok = readable(tp);
                    if !ok {
                        outcomes.entry(*tp).or_default().error = errors::TOPIC_AUTHORIZATION_FAILED;
                    }
                    ok
                })
                .collect(),
        ),
    };
    let max_bytes = if request.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        request.max_bytes as usize
    }
    .min(api.topics.broker_config().fetch_max_bytes());
    let partition_max: BTreeMap<TopicIdPartition, usize> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.partition_max_bytes > 0)
                .map(move |p| ((t.topic_id, p.partition_index), p.partition_max_bytes as usize))
        })
        .collect();
    let plan = SharePlan {
        api: api.clone(),
        group,
        member,
        partitions: fetch.unwrap_or_default(),
        partition_max,
        max_bytes,
        max_records: if request.max_records > 0 {
            request.max_records as i64
        } else {
            DEFAULT_MAX_RECORDS
        },
        max_wait: Duration::from_millis(request.max_wait_ms.max(0) as u64),
        // With acknowledgements to report, the member is answered without waiting for data.
        wait: acks.is_empty() && request.min_bytes > 0,
        lock_ms,
        version,
    };
    Ok(Reply::Deferred(Box::pin(plan.run(outcomes, durable))))
}

struct SharePlan {
    api: Arc<ApiHandler>,
    group: String,
    member: String,
    partitions: Vec<TopicIdPartition>,
    partition_max: BTreeMap<TopicIdPartition, usize>,
    max_bytes: usize,
    max_records: i64,
    max_wait: Duration,
    wait: bool,
    lock_ms: i32,
    version: i16,
}

impl SharePlan {
    async fn run(
        self,
        mut outcomes: BTreeMap<TopicIdPartition, PartitionOutcome>,
        mut durable: Vec<Durable>,
    ) -> Option<crate::api::ResponseBody> {
        let deadline = Instant::now() + self.max_wait;
        loop {
            let watches: Vec<_> = self
                .partitions
                .iter()
                .filter_map(|tp| self.api.share.partitions.log(tp.0, tp.1))
                .map(|l| l.durable_watch())
                .collect();
            let acquired_any = self.acquire_all(&mut outcomes, &mut durable);
            if acquired_any || !self.wait || Instant::now() >= deadline || watches.is_empty() {
                break;
            }
            let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = watches
                .into_iter()
                .map(|mut rx| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                    Box::pin(async move {
                        if rx.changed().await.is_err() {
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
                self.acquire_all(&mut outcomes, &mut durable);
                break;
            }
        }
        for d in &durable {
            if let Err(e) = self.api.share.partitions.wait_durable(d).await {
                tracing::warn!(error = %e, "a share-group state write was not made durable; closing the connection without a reply");
                return None;
            }
        }
        encode_logged(self.response(outcomes), self.version)
    }

    /// One pass over the session's partitions; returns whether anything was acquired.
    fn acquire_all(
        &self,
        outcomes: &mut BTreeMap<TopicIdPartition, PartitionOutcome>,
        durable: &mut Vec<Durable>,
    ) -> bool {
        let share = &self.api.share.partitions;
        let mut records_left = self.max_records;
        let mut bytes_left = self.max_bytes;
        let mut any = false;
        for tp in &self.partitions {
            if records_left <= 0 || bytes_left == 0 {
                break;
            }
            let limit = self
                .partition_max
                .get(tp)
                .copied()
                .unwrap_or(usize::MAX)
                .min(bytes_left);
            match share.acquire(&self.group, &self.member, *tp, records_left, limit) {
                Ok((acquired, init)) => {
                    durable.extend(init);
                    if let Some(a) = acquired {
                        records_left -= a.ranges.iter().map(|r| r.last_offset - r.first_offset + 1).sum::<i64>();
                        bytes_left = bytes_left.saturating_sub(a.records.len());
                        outcomes.entry(*tp).or_default().acquired = Some(a);
                        any = true;
                    }
                }
                Err(code) => outcomes.entry(*tp).or_default().error = code,
            }
        }
        any
    }

    fn response(&self, outcomes: BTreeMap<TopicIdPartition, PartitionOutcome>) -> ShareFetchResponse {
        let node = self.api.identity.node_id;
        let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
        for ((topic_id, partition), o) in outcomes {
            let (records, acquired) = match o.acquired {
                Some(a) => (
                    a.records,
                    a.ranges
                        .into_iter()
                        .map(|r| {
                            AcquiredRecords::default()
                                .with_first_offset(r.first_offset)
                                .with_last_offset(r.last_offset)
                                .with_delivery_count(r.delivery_count)
                        })
                        .collect(),
                ),
                None => (Bytes::new(), Vec::new()),
            };
            let data = PartitionData::default()
                .with_partition_index(partition)
                .with_error_code(o.error)
                .with_acknowledge_error_code(o.ack_error.unwrap_or(errors::NONE))
                .with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(node)
                        .with_leader_epoch(errors::LEADER_EPOCH),
                )
                .with_records(Some(records))
                .with_acquired_records(acquired);
            match topics.last_mut() {
                Some(t) if t.topic_id == topic_id => t.partitions.push(data),
                _ => topics.push(
                    ShareFetchableTopicResponse::default()
                        .with_topic_id(topic_id)
                        .with_partitions(vec![data]),
                ),
            }
        }
        ShareFetchResponse::default()
            .with_acquisition_lock_timeout_ms(self.lock_ms)
            .with_responses(topics)
    }
}
