//! OffsetDelete: removes a group's committed offsets for some partitions. An empty group
//! loses them outright; a consumer group with members keeps those of topics its members
//! subscribe to (GROUP_SUBSCRIBED_TO_TOPIC); any other group with members is refused.

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{ApiHandler, Reply, RequestError, errors, ready, reply_when_durable, slot_code};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    // Deleting a group's offsets is DELETE on the group, refused as a whole.
    if !ctx.authorize(op::DELETE, ResourceType::Group, request.group_id.as_str()) {
        return ready(
            OffsetDeleteResponse::default().with_error_code(errors::GROUP_AUTHORIZATION_FAILED),
            version,
        );
    }
    // Partitions of topics the caller may not READ, or that do not exist, are answered here;
    // the rest go to the coordinator.
    let mut eligible: Vec<(String, i32)> = Vec::new();
    let mut slots: Vec<Vec<Result<usize, i16>>> = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let readable = ctx.authorize(op::READ, ResourceType::Topic, topic.name.as_str());
        let partitions = api.topics.get(topic.name.as_str()).map_or(0, |t| t.partitions);
        slots.push(
            topic
                .partitions
                .iter()
                .map(|p| {
                    if !readable {
                        Err(errors::TOPIC_AUTHORIZATION_FAILED)
                    } else if (0..partitions).contains(&p.partition_index) {
                        eligible.push((topic.name.as_str().to_string(), p.partition_index));
                        Ok(eligible.len() - 1)
                    } else {
                        Err(errors::UNKNOWN_TOPIC_OR_PARTITION)
                    }
                })
                .collect(),
        );
    }
    let (codes, durable) = match api.groups.delete_offsets(request.group_id.as_str(), &eligible) {
        Ok(r) => r,
        Err(code) => return ready(OffsetDeleteResponse::default().with_error_code(code), version),
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
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetDeleteResponse::default().with_topics(topics);
    reply_when_durable(api, response, durable.as_slice(), version)
}
