//! AlterShareGroupOffsets (KIP-932): sets the start offset of share-partitions of a group that
//! has no members, forgetting their in-flight records; answered once the new state is durable.

use std::sync::Arc;

use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: AlterShareGroupOffsetsRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    let group = request.group_id.as_str();
    // Moving a share group's start offsets is READ on the group, refused as a whole, and READ
    // on each topic.
    if !ctx.authorize(op::READ, ResourceType::Group, group) {
        let refused = AlterShareGroupOffsetsResponse::default()
            .with_error_code(errors::GROUP_AUTHORIZATION_FAILED)
            .with_error_message(Some(StrBytes::from_static_str("Group authorization failed.")));
        return ready(refused, version);
    }
    if group.is_empty() {
        return ready(
            AlterShareGroupOffsetsResponse::default().with_error_code(errors::INVALID_GROUP_ID),
            version,
        );
    }
    if let Err(code) = api.share.get_or_create_empty(group) {
        return ready(AlterShareGroupOffsetsResponse::default().with_error_code(code), version);
    }
    let share = &api.share.partitions;
    let mut durable = Vec::new();
    let mut responses = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let readable = ctx.authorize(op::READ, ResourceType::Topic, t.topic_name.as_str());
        // A refused topic's id is not disclosed.
        let topic = api.topics.get(t.topic_name.as_str()).filter(|_| readable);
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let code = match &topic {
                    None if !readable => errors::TOPIC_AUTHORIZATION_FAILED,
                    None => errors::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(topic) if p.partition_index < 0 || p.partition_index >= topic.partitions => {
                        errors::UNKNOWN_TOPIC_OR_PARTITION
                    }
                    Some(_) if p.start_offset < 0 => errors::INVALID_REQUEST,
                    Some(topic) => match share.reset_offset(group, (topic.id, p.partition_index), p.start_offset) {
                        Ok(d) => {
                            durable.push(d);
                            errors::NONE
                        }
                        Err(code) => code,
                    },
                };
                AlterShareGroupOffsetsResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code)
                    .with_error_message(
                        (code == errors::TOPIC_AUTHORIZATION_FAILED)
                            .then(|| StrBytes::from_static_str("Topic authorization failed.")),
                    )
            })
            .collect();
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name)
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_partitions(partitions),
        );
    }
    let response = AlterShareGroupOffsetsResponse::default().with_responses(responses);
    super::share_acknowledge::reply_when_share_state_durable(api, response, durable, version)
}
