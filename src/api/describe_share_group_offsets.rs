//! DescribeShareGroupOffsets (KIP-932): each share group's start offset per partition (the
//! SPSO), for the topics named or for every partition the group has state for.

use std::sync::Arc;

use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|g| {
            let group = DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id.clone());
            // Reading a group's offsets is DESCRIBE on it; each topic needs DESCRIBE as well.
            if !ctx.authorize(op::DESCRIBE, ResourceType::Group, g.group_id.as_str()) {
                return group.with_error_code(errors::GROUP_AUTHORIZATION_FAILED);
            }
            let describable = |topic: &str| ctx.authorize(op::DESCRIBE, ResourceType::Topic, topic);
            if let Some(code) = api.share.check_group(g.group_id.as_str(), false) {
                return group
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Group {} not found.",
                        g.group_id.as_str()
                    ))));
            }
            let share = &api.share.partitions;
            let mut topics: Vec<DescribeShareGroupOffsetsResponseTopic> = Vec::new();
            match g.topics {
                None => {
                    for ((topic_id, partition), offset) in share.describe_offsets(g.group_id.as_str(), None) {
                        // Topics the caller may not DESCRIBE are left out, undisclosed.
                        let Some(name) = api.share.topic_name(&topic_id).filter(|n| describable(n)) else {
                            continue;
                        };
                        let p = partition_entry(partition, offset, errors::NONE);
                        match topics.last_mut() {
                            Some(t) if t.topic_id == topic_id => t.partitions.push(p),
                            _ => topics.push(
                                DescribeShareGroupOffsetsResponseTopic::default()
                                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                                    .with_topic_id(topic_id)
                                    .with_partitions(vec![p]),
                            ),
                        }
                    }
                }
                Some(requested) => {
                    // Named topics the caller may not DESCRIBE are refused after the others,
                    // without their ids.
                    let (requested, refused): (Vec<_>, Vec<_>) =
                        requested.into_iter().partition(|t| describable(t.topic_name.as_str()));
                    for t in requested {
                        let topic = api.topics.get(t.topic_name.as_str());
                        let partitions = match &topic {
                            None => t
                                .partitions
                                .iter()
                                .map(|p| partition_entry(*p, -1, errors::UNKNOWN_TOPIC_OR_PARTITION))
                                .collect(),
                            Some(topic) => {
                                let wanted: Vec<_> = t.partitions.iter().map(|p| (topic.id, *p)).collect();
                                share
                                    .describe_offsets(g.group_id.as_str(), Some(&wanted))
                                    .into_iter()
                                    .map(|((_, p), offset)| {
                                        if p < 0 || p >= topic.partitions {
                                            partition_entry(p, -1, errors::UNKNOWN_TOPIC_OR_PARTITION)
                                        } else {
                                            partition_entry(p, offset, errors::NONE)
                                        }
                                    })
                                    .collect()
                            }
                        };
                        topics.push(
                            DescribeShareGroupOffsetsResponseTopic::default()
                                .with_topic_name(t.topic_name)
                                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                                .with_partitions(partitions),
                        );
                    }
                    topics.extend(refused.into_iter().map(|t| {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                partition_entry(*p, -1, errors::TOPIC_AUTHORIZATION_FAILED)
                                    .with_error_message(Some(StrBytes::from_static_str("Topic authorization failed.")))
                            })
                            .collect();
                        DescribeShareGroupOffsetsResponseTopic::default()
                            .with_topic_name(t.topic_name)
                            .with_partitions(partitions)
                    }));
                }
            }
            group.with_topics(topics)
        })
        .collect();
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

fn partition_entry(partition: i32, offset: i64, code: i16) -> DescribeShareGroupOffsetsResponsePartition {
    DescribeShareGroupOffsetsResponsePartition::default()
        .with_partition_index(partition)
        .with_start_offset(offset)
        .with_leader_epoch(if offset < 0 { -1 } else { errors::LEADER_EPOCH })
        .with_error_code(code)
}
