//! TxnOffsetCommit: offsets committed as part of a transaction (consume-transform-produce),
//! visible to the group only once the transaction commits. Before v5 the producer must have
//! added the group's offsets partition to its transaction (AddOffsetsToTxn); from v5
//! (transactions v2) the commit adds it.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{ApiHandler, Reply, RequestError, errors, reply_when_durable, slot_code};
use crate::auth::{RequestContext, ResourceType};
use crate::group::coordinator::OffsetCommit;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    let max_metadata = api.groups.config().offset_metadata_max_bytes;
    let group_id = request.group_id.as_str();
    // WRITE on the transactional id (which stands for its producer id), then READ on the
    // group: either refusal is every partition's answer, before the transaction is touched.
    let unauthorized = if !ctx.authorize(
        op::WRITE,
        ResourceType::TransactionalId,
        request.transactional_id.as_str(),
    ) {
        Some(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !ctx.authorize(op::READ, ResourceType::Group, group_id) {
        Some(errors::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    if let Some(code) = unauthorized {
        let topics = request
            .topics
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect();
        return reply_when_durable(
            api,
            TxnOffsetCommitResponse::default().with_topics(topics),
            &[],
            version,
        );
    }
    let producer_id = request.producer_id.0;
    let epoch = request.producer_epoch;
    let offsets_partition = api.txn.offsets_partition(group_id);
    let partitions = std::slice::from_ref(&offsets_partition);
    let transactional_id = request.transactional_id.as_str();
    // v5+ is transactions v2: the commit adds the offsets partition to the transaction itself;
    // before, AddOffsetsToTxn must have.
    // With nothing the caller may commit, the transaction is not consulted, as on Kafka.
    let committable = request.topics.iter().any(|t| {
        ctx.authorize(op::READ, ResourceType::Topic, t.name.as_str()) && api.topics.get(t.name.as_str()).is_some()
    });
    let (verified, joined) = if !committable {
        (errors::NONE, None)
    } else if version >= 5 {
        match api
            .txn
            .add_partitions_implicitly(transactional_id, producer_id, epoch, partitions)
        {
            Ok(joined) => (errors::NONE, joined),
            Err(code) => (code, None),
        }
    } else {
        (api.txn.verify(transactional_id, producer_id, epoch, partitions), None)
    };
    let refused = (verified != errors::NONE).then(|| errors::fenced_for_version(verified, version, 2));
    let mut commits: Vec<OffsetCommit> = Vec::new();
    let mut slots: Vec<Vec<Result<usize, i16>>> = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let known = api.topics.get(topic.name.as_str());
        let readable = ctx.authorize(op::READ, ResourceType::Topic, topic.name.as_str());
        let mut out = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let metadata = p.committed_metadata.as_ref().map(|m| m.as_str()).unwrap_or_default();
            if !readable {
                out.push(Err(errors::TOPIC_AUTHORIZATION_FAILED));
            } else if let Some(code) = refused {
                out.push(Err(code));
            } else if !known
                .as_ref()
                .is_some_and(|t| (0..t.partitions).contains(&p.partition_index))
            {
                out.push(Err(errors::UNKNOWN_TOPIC_OR_PARTITION));
            } else if metadata.len() > max_metadata {
                out.push(Err(errors::OFFSET_METADATA_TOO_LARGE));
            } else {
                out.push(Ok(commits.len()));
                commits.push(OffsetCommit {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: metadata.to_string(),
                    retention_ms: None,
                });
            }
        }
        slots.push(out);
    }
    let (codes, durable) = if commits.is_empty() {
        (Vec::new(), None)
    } else {
        // KIP-447 (v3+): the committer's group membership.
        let (member_id, instance, generation) = if version >= 3 {
            (
                request.member_id.as_str(),
                request.group_instance_id.as_ref().map(|s| s.as_str()),
                request.generation_id,
            )
        } else {
            ("", None, -1)
        };
        api.groups
            .commit_txn_offsets(group_id, producer_id, epoch, member_id, instance, generation, &commits)
    };
    let topics = request
        .topics
        .into_iter()
        .zip(slots)
        .map(|(topic, slots)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(slots)
                .map(|(p, slot)| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(slot_code(slot, &codes))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    let response = TxnOffsetCommitResponse::default().with_topics(topics);
    let waits: Vec<_> = joined.into_iter().chain(durable).collect();
    reply_when_durable(api, response, &waits, version)
}
