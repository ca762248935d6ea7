//! CreatePartitions: grow a topic; shrinking or staying equal is INVALID_PARTITIONS.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::TopicError;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node = api.identity.node_id;
    let results = request
        .topics
        .into_iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            // ALTER on the topic, judged before the topic is looked up.
            if !ctx.authorize(op::ALTER, ResourceType::Topic, t.name.as_str()) {
                return result.with_error_code(errors::TOPIC_AUTHORIZATION_FAILED);
            }
            let current = api.topics.get(t.name.as_str()).map(|x| x.partitions).unwrap_or(0);
            let assignment_ok = t.assignments.as_ref().is_none_or(|a| {
                a.len() as i32 == t.count - current
                    && a.iter().all(|r| r.broker_ids.len() == 1 && r.broker_ids[0].0 == node)
            });
            let outcome = if !assignment_ok {
                Err(TopicError::InvalidReplicaAssignment(format!(
                    "Replica assignments must name broker {node} once for each of the {} new partitions",
                    t.count - current
                )))
            } else {
                api.topics
                    .create_partitions(t.name.as_str(), t.count, request.validate_only)
            };
            match outcome {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(e.message().map(StrBytes::from_string)),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
