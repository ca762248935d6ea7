//! DeleteShareGroupOffsets (KIP-932): forgets a memberless share group's state for whole
//! topics (tombstones in `__share_group_state`); answered once they are durable.

use std::sync::Arc;

use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::{DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DeleteShareGroupOffsetsRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    let group = request.group_id.as_str();
    // Forgetting a share group's offsets is DELETE on the group, refused as a whole, and READ
    // on each topic.
    if !ctx.authorize(op::DELETE, ResourceType::Group, group) {
        let refused = DeleteShareGroupOffsetsResponse::default()
            .with_error_code(errors::GROUP_AUTHORIZATION_FAILED)
            .with_error_message(Some(StrBytes::from_static_str("Group authorization failed.")));
        return ready(refused, version);
    }
    if let Some(code) = api.share.check_group(group, true) {
        return ready(
            DeleteShareGroupOffsetsResponse::default().with_error_code(code),
            version,
        );
    }
    let share = &api.share.partitions;
    let mut durable = Vec::new();
    let mut responses = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let readable = ctx.authorize(op::READ, ResourceType::Topic, t.topic_name.as_str());
        // A refused topic's id is not disclosed.
        let topic = api.topics.get(t.topic_name.as_str()).filter(|_| readable);
        let code = match &topic {
            None if !readable => errors::TOPIC_AUTHORIZATION_FAILED,
            None => errors::UNKNOWN_TOPIC_OR_PARTITION,
            Some(topic) => match share.delete_topic_state(group, topic.id) {
                Ok(d) => {
                    durable.extend(d);
                    errors::NONE
                }
                Err(code) => code,
            },
        };
        responses.push(
            DeleteShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name)
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_error_code(code)
                .with_error_message(
                    (code == errors::TOPIC_AUTHORIZATION_FAILED)
                        .then(|| StrBytes::from_static_str("Topic authorization failed.")),
                ),
        );
    }
    let response = DeleteShareGroupOffsetsResponse::default().with_responses(responses);
    super::share_acknowledge::reply_when_share_state_durable(api, response, durable, version)
}
