//! CreatePartitions: grow a topic; shrinking or staying equal is INVALID_PARTITIONS.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, QuotaClient, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::TopicError;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
    version: i16,
    client: &QuotaClient,
) -> CreatePartitionsResponse {
    let mut quota = api.controller_mutation_quota(client, version >= 3);
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
            // Assignments are judged once the count is an increase, as Kafka's controller
            // judges them: their number first, then their brokers.
            let current = api.topics.get(t.name.as_str()).map(|x| x.partitions);
            let additional = current.map_or(0, |c| t.count - c);
            let assignment_error = t.assignments.as_ref().filter(|_| additional > 0).and_then(|a| {
                if a.len() as i32 != additional {
                    Some(format!(
                        "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                        a.len()
                    ))
                } else if !a.iter().all(|r| r.broker_ids.len() == 1 && r.broker_ids[0].0 == node) {
                    Some(format!(
                        "Replica assignments must name broker {node} once for each of the {additional} new partitions"
                    ))
                } else {
                    None
                }
            });
            let outcome = if let Some(message) = assignment_error {
                Err(TopicError::InvalidReplicaAssignment(message))
            } else {
                api.topics
                    .create_partitions(t.name.as_str(), t.count, request.validate_only, &mut |partitions| {
                        quota
                            .record(partitions.unsigned_abs())
                            .map_err(|_| TopicError::ThrottlingQuotaExceeded)
                    })
            };
            match outcome {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(e.message().map(StrBytes::from_string)),
            }
        })
        .collect();
    CreatePartitionsResponse::default()
        .with_results(results)
        .with_throttle_time_ms(api.mutation_throttle(client, &quota))
}
