//! OffsetCommit: a group's consumed positions, written to `__consumer_offsets` and answered
//! once fsynced. Members commit within their generation; consumers without group
//! management commit with generation -1 to a group that has no members.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{ApiHandler, Reply, RequestError, errors, reply_when_durable, slot_code};
use crate::auth::{RequestContext, ResourceType};
use crate::group::coordinator::OffsetCommit;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: OffsetCommitRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    // Without READ on the group every partition is refused, as Kafka answers.
    let group_readable = ctx.authorize(op::READ, ResourceType::Group, request.group_id.as_str());
    let max_metadata = api.groups.config().offset_metadata_max_bytes;
    // Per partition: an error decided here, or the index of its entry in `commits`.
    let mut commits: Vec<OffsetCommit> = Vec::new();
    let mut slots: Vec<Vec<Result<usize, i16>>> = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        // v10 names topics by id (KIP-848).
        let known = if version >= 10 {
            api.topics.get_by_id(&topic.topic_id)
        } else {
            api.topics.get(topic.name.as_str())
        };
        let missing = if version >= 10 {
            errors::UNKNOWN_TOPIC_ID
        } else {
            errors::UNKNOWN_TOPIC_OR_PARTITION
        };
        // Committing for a topic is READ on it, asked by name (a v10 id resolved first; an
        // unknown id is UNKNOWN_TOPIC_ID whoever asks).
        let topic_error = if !group_readable {
            Some(errors::GROUP_AUTHORIZATION_FAILED)
        } else if version >= 10 && known.is_none() {
            Some(missing)
        } else {
            let name = known.as_ref().map_or(topic.name.as_str(), |t| t.name.as_str());
            (!ctx.authorize(op::READ, ResourceType::Topic, name)).then_some(errors::TOPIC_AUTHORIZATION_FAILED)
        };
        let mut out = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            if let Some(code) = topic_error {
                out.push(Err(code));
                continue;
            }
            let exists = known
                .as_ref()
                .filter(|t| (0..t.partitions).contains(&p.partition_index));
            let metadata = p.committed_metadata.as_ref().map(|m| m.as_str()).unwrap_or_default();
            let Some(known) = exists else {
                out.push(Err(missing));
                continue;
            };
            if metadata.len() > max_metadata {
                out.push(Err(errors::OFFSET_METADATA_TOO_LARGE));
            } else {
                out.push(Ok(commits.len()));
                commits.push(OffsetCommit {
                    topic: known.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: metadata.to_string(),
                    // -1 is "the broker's retention"; only v2-4 carry the field.
                    retention_ms: Some(request.retention_time_ms).filter(|r| version <= 4 && *r >= 0),
                });
            }
        }
        slots.push(out);
    }
    let (codes, durable) = if commits.is_empty() {
        (Vec::new(), None)
    } else if api.share.is_share_group(request.group_id.as_str()) {
        // A share group's id is not a consumer group's, as on Kafka.
        (vec![errors::GROUP_ID_NOT_FOUND; commits.len()], None)
    } else {
        let instance = request
            .group_instance_id
            .as_ref()
            .filter(|_| version >= 7)
            .map(|s| s.as_str());
        api.groups.commit_offsets(
            request.group_id.as_str(),
            request.member_id.as_str(),
            instance,
            request.generation_id_or_member_epoch,
            &commits,
        )
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
                    let code = slot_code(slot, &codes);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetCommitResponse::default().with_topics(topics);
    reply_when_durable(api, response, durable.as_slice(), version)
}
