//! DescribeTopicPartitions (KIP-966): the Java admin client's describeTopics. Topics come back
//! sorted by name, paginated by partition count with a cursor, every partition led by this
//! node; asking for no topics means every topic.

use std::sync::Arc;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

/// Kafka's `max.request.partition.size.limit` default: the most partitions one response holds.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let all_topics = request.topics.is_empty();
    let (cursor_topic, cursor_partition) = request
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index))
        .unwrap_or_default();
    let mut names: Vec<String> = if all_topics {
        api.topics.all().iter().map(|t| t.name.clone()).collect()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.retain(|n| *n >= cursor_topic);
    names.sort();
    names.dedup();
    // Kafka refuses a cursor outside the listed topics, or a negative cursor partition, by
    // failing every listed topic with INVALID_REQUEST.
    if request.cursor.is_some() && (cursor_partition < 0 || (!all_topics && !names.contains(&cursor_topic))) {
        let topics = request
            .topics
            .into_iter()
            .map(|t| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(t.name))
                    .with_error_code(errors::INVALID_REQUEST)
            })
            .collect();
        return DescribeTopicPartitionsResponse::default().with_topics(topics);
    }
    // Topics the caller may not describe are left out of a listing of all topics; named
    // ones come back, after the others, as TOPIC_AUTHORIZATION_FAILED with no id, whether or
    // not they exist.
    let (names, unauthorized): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| ctx.authorize(op::DESCRIBE, ResourceType::Topic, n));
    let refusals = unauthorized.into_iter().filter(|_| !all_topics).map(|name| {
        DescribeTopicPartitionsResponseTopic::default()
            .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED)
            .with_name(Some(TopicName(StrBytes::from_string(name))))
    });
    let mut remaining = request.response_partition_limit.clamp(1, MAX_PARTITIONS_PER_RESPONSE);
    let node = BrokerId(api.identity.node_id);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names {
        if remaining <= 0 {
            next_cursor.get_or_insert_with(|| cursor(&name, 0));
            break;
        }
        let Some(topic) = api.topics.get(&name) else {
            if !all_topics {
                topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION)
                        .with_topic_authorized_operations(ctx.authorized_operations(ResourceType::Topic, &name, true))
                        .with_name(Some(TopicName(StrBytes::from_string(name)))),
                );
            }
            continue;
        };
        let first = if name == cursor_topic { cursor_partition } else { 0 };
        let last = topic.partitions.min(first.saturating_add(remaining));
        let partitions: Vec<_> = (first..last)
            .map(|p| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(node)
                    .with_leader_epoch(errors::LEADER_EPOCH)
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![node])
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new()))
            })
            .collect();
        remaining -= partitions.len() as i32;
        if last < topic.partitions {
            next_cursor = Some(cursor(&name, last));
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name))))
                .with_topic_id(topic.id)
                .with_is_internal(topic.is_internal())
                .with_partitions(partitions)
                .with_topic_authorized_operations(ctx.authorized_operations(ResourceType::Topic, &topic.name, true)),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    topics.extend(refusals);
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_index(partition)
}
