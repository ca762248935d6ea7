//! CreateTopics: name rules, partition and replication checks, validated configs,
//! `validate_only`, and (v5+) the created topic's configs in the reply.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, QuotaClient, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::config::{SOURCE_TOPIC, TOPIC_CONFIGS};
use crate::metadata::acls::operation as op;
use crate::metadata::{NewTopic, Topic, TopicError};

/// Kafka's controller writes at most this many records for one request (a topic record plus
/// one per partition); a larger request fails as a whole.
pub const MAX_RECORDS_PER_REQUEST: i64 = 10_000;

/// Kafka's message when a request would exceed [`MAX_RECORDS_PER_REQUEST`].
pub const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
    version: i16,
    client: &QuotaClient,
) -> CreateTopicsResponse {
    let mut quota = api.controller_mutation_quota(client, version >= 6);
    let default_partitions = i64::from(api.topics.broker_config().num_partitions());
    let records: i64 = request
        .topics
        .iter()
        .map(|t| {
            let partitions = match (t.assignments.len(), t.num_partitions) {
                (0, -1) => default_partitions,
                (0, n) => i64::from(n.max(0)),
                (assigned, _) => assigned as i64,
            };
            1 + partitions
        })
        .sum();
    if records > MAX_RECORDS_PER_REQUEST {
        let topics = request
            .topics
            .into_iter()
            .map(|t| {
                CreatableTopicResult::default()
                    .with_name(t.name)
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
                    .with_error_code(errors::POLICY_VIOLATION)
                    .with_error_message(Some(StrBytes::from_static_str(TOO_MANY_PARTITIONS)))
            })
            .collect();
        return CreateTopicsResponse::default().with_topics(topics);
    }
    let mut seen = std::collections::HashSet::new();
    let duplicates: std::collections::HashSet<String> = request
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.to_string()))
        .map(|t| t.name.to_string())
        .collect();
    let cluster_create = ctx.authorize_cluster(op::CREATE);
    let results = request
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            let result = CreatableTopicResult::default()
                .with_name(name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            if duplicates.contains(name.as_str()) {
                return result.with_error_code(errors::INVALID_REQUEST).with_error_message(Some(
                    StrBytes::from_string(format!(
                        "Create topics request from client contains multiple entries for the topic {}",
                        name.as_str()
                    )),
                ));
            }
            // CREATE on the cluster covers every topic; otherwise each needs its own.
            if !cluster_create && !ctx.authorize(op::CREATE, ResourceType::Topic, name.as_str()) {
                return result
                    .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(StrBytes::from_static_str("Authorization failed.")));
            }
            let mut configs = BTreeMap::new();
            for c in &t.configs {
                match &c.value {
                    Some(v) => {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                    None => {
                        let e = TopicError::InvalidConfig(format!(
                            "Null value not supported for topic configs: {}",
                            c.name.as_str()
                        ));
                        return result
                            .with_error_code(e.code())
                            .with_error_message(e.message().map(StrBytes::from_string));
                    }
                }
            }
            let new = NewTopic {
                name: name.to_string(),
                partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                assignments: t
                    .assignments
                    .iter()
                    .map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect()))
                    .collect(),
                configs,
            };
            let admitted = api
                .topics
                .create_topic_admitted(new, request.validate_only, &mut |partitions| {
                    quota
                        .record(partitions.unsigned_abs())
                        .map_err(|_| TopicError::ThrottlingQuotaExceeded)
                });
            match admitted {
                // A caller that may not describe the topic's configs learns only that it was
                // created: no configs, partition count or replication factor.
                Ok(topic) if !ctx.authorize(op::DESCRIBE_CONFIGS, ResourceType::Topic, &topic.name) => result
                    .with_error_message(None)
                    .with_topic_id(if request.validate_only {
                        uuid::Uuid::nil()
                    } else {
                        topic.id
                    })
                    .with_topic_config_error_code(errors::TOPIC_AUTHORIZATION_FAILED),
                // Kafka sends a null message with a success (clients test for null).
                Ok(topic) => result
                    .with_error_message(None)
                    .with_topic_id(if request.validate_only {
                        uuid::Uuid::nil()
                    } else {
                        topic.id
                    })
                    .with_num_partitions(topic.partitions)
                    .with_replication_factor(1)
                    .with_configs(Some(describe_configs(&topic))),
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(e.message().map(StrBytes::from_string)),
            }
        })
        .collect();
    CreateTopicsResponse::default()
        .with_topics(results)
        .with_throttle_time_ms(api.mutation_throttle(client, &quota))
}

fn describe_configs(topic: &Topic) -> Vec<CreatableTopicConfigs> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let source = if topic.overrides.contains_key(d.name) {
                SOURCE_TOPIC
            } else {
                crate::config::SOURCE_DEFAULT
            };
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(d.name))
                .with_value(Some(StrBytes::from_string(topic.config.get(d.name).to_string())))
                .with_config_source(source)
        })
        .collect()
}
