//! DeleteTopics: by name (v1-5) or by name or topic id (v6).

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{ApiHandler, QuotaClient, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::TopicError;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DeleteTopicsRequest,
    version: i16,
    client: &QuotaClient,
) -> DeleteTopicsResponse {
    let mut quota = api.controller_mutation_quota(client, version >= 5);
    let targets: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    // DELETE on the cluster covers every topic.
    let cluster_delete = ctx.authorize_cluster(op::DELETE);
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let result = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            let resolved = match (&name, id.is_nil()) {
                (Some(n), true) => Ok(n.to_string()),
                (None, false) => api
                    .topics
                    .get_by_id(&id)
                    .map(|t| t.name.clone())
                    .ok_or(TopicError::UnknownTopicId),
                // Naming both, or neither, is a malformed request.
                _ => Err(TopicError::InvalidRequest(
                    "Exactly one of topic name and topic id must be set".into(),
                )),
            };
            let resolved = match resolved {
                Ok(n) => n,
                Err(e) => return refused(result, e),
            };
            let describable = cluster_delete || ctx.authorize(op::DESCRIBE, ResourceType::Topic, &resolved);
            let deletable = cluster_delete || ctx.authorize(op::DELETE, ResourceType::Topic, &resolved);
            if !deletable {
                // A topic named by id is refused under its name only to a caller who may see
                // it; one named by name is refused before its existence is looked at when the
                // caller may not see it, and after when it may.
                let shown = if name.is_none() && describable {
                    Some(TopicName(StrBytes::from_string(resolved.clone())))
                } else {
                    name.clone()
                };
                if name.is_none() || !describable || api.topics.get(&resolved).is_some() {
                    return result
                        .with_name(shown)
                        .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED);
                }
            }
            let deleted = api.topics.delete_topic_admitted(&resolved, &mut |partitions| {
                quota
                    .record(partitions.unsigned_abs())
                    .map_err(|_| TopicError::ThrottlingQuotaExceeded)
            });
            match deleted {
                Ok(topic) => result
                    .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
                    .with_topic_id(topic.id),
                // The quota refuses a topic it found: Kafka names its id.
                Err(TopicError::ThrottlingQuotaExceeded) => {
                    let id = api.topics.get(&resolved).map_or(id, |t| t.id);
                    refused(result.with_topic_id(id), TopicError::ThrottlingQuotaExceeded)
                }
                Err(e) => refused(result, e),
            }
        })
        .collect();
    DeleteTopicsResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(api.mutation_throttle(client, &quota))
}

fn refused(result: DeletableTopicResult, e: TopicError) -> DeletableTopicResult {
    let code = if e == TopicError::UnknownTopic {
        errors::UNKNOWN_TOPIC_OR_PARTITION
    } else {
        e.code()
    };
    result
        .with_error_code(code)
        .with_error_message(e.message().map(StrBytes::from_string))
}
