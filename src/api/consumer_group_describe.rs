//! ConsumerGroupDescribe (KIP-848): consumer groups with their epochs, assignor and each
//! member's subscription, assignment and target assignment. A classic or unknown group gets
//! GROUP_ID_NOT_FOUND, after which clients ask DescribeGroups, as with Kafka.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::group::consumer_group_records::TopicPartitions as Partitions;
use crate::metadata::acls::operation as op;

/// MemberType of v1: every member here speaks the consumer protocol.
const CONSUMER_MEMBER: i8 = 1;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ConsumerGroupDescribeRequest,
    version: i16,
) -> ConsumerGroupDescribeResponse {
    let mut groups: Vec<DescribedGroup> = request
        .group_ids
        .into_iter()
        .map(|id| {
            if !ctx.authorize(op::DESCRIBE, ResourceType::Group, id.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(errors::GROUP_AUTHORIZATION_FAILED);
            }
            let described = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(ctx.authorized_operations(
                    ResourceType::Group,
                    id.as_str(),
                    request.include_authorized_operations,
                ));
            match api.groups.describe_consumer_group(id.as_str()) {
                Err((code, message)) => described
                    .with_error_code(code)
                    .with_error_message((!message.is_empty()).then(|| StrBytes::from_string(message)))
                    .with_group_state(StrBytes::from_static_str("Dead")),
                // A group whose assignments name a topic the caller may not DESCRIBE is not
                // described at all, so assignments cannot disclose topics.
                Ok(g)
                    if !g.members.iter().all(|m| {
                        describable(ctx, api, &m.assignment) && describable(ctx, api, &m.target_assignment)
                    }) =>
                {
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "The group has described topic(s) that the client is not authorized to describe.",
                        )))
                }
                Ok(g) => described
                    .with_group_state(StrBytes::from_static_str(g.state))
                    .with_group_epoch(g.group_epoch)
                    .with_assignment_epoch(g.assignment_epoch)
                    .with_assignor_name(StrBytes::from_string(g.assignor_name))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                let member = Member::default()
                                    .with_member_id(StrBytes::from_string(m.member_id))
                                    .with_instance_id(m.instance_id.map(StrBytes::from_string))
                                    .with_rack_id(m.rack_id.map(StrBytes::from_string))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(StrBytes::from_string(m.client_id))
                                    .with_client_host(StrBytes::from_string(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed_topic_names
                                            .into_iter()
                                            .map(|n| TopicName(StrBytes::from_string(n)))
                                            .collect(),
                                    )
                                    .with_subscribed_topic_regex(m.subscribed_topic_regex.map(StrBytes::from_string))
                                    .with_assignment(assignment(api, m.assignment))
                                    .with_target_assignment(assignment(api, m.target_assignment));
                                if version >= 1 {
                                    member.with_member_type(CONSUMER_MEMBER)
                                } else {
                                    member
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    // Kafka answers the refused groups first, then the ones it described.
    groups.sort_by_key(|g| g.error_code != errors::GROUP_AUTHORIZATION_FAILED);
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

/// Whether the caller may DESCRIBE every topic of an assignment (a topic deleted since it was
/// assigned has no name left to ask about).
fn describable(ctx: &RequestContext<'_>, api: &ApiHandler, parts: &Partitions) -> bool {
    parts.keys().all(|id| {
        api.topics
            .get_by_id(id)
            .is_none_or(|t| ctx.authorize(op::DESCRIBE, ResourceType::Topic, &t.name))
    })
}

/// Partitions by topic, named; a topic deleted since it was assigned keeps its id only.
fn assignment(api: &ApiHandler, parts: Partitions) -> Assignment {
    Assignment::default().with_topic_partitions(
        parts
            .into_iter()
            .map(|(id, ps)| {
                let name = api.topics.get_by_id(&id).map(|t| t.name.clone()).unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(ps.into_iter().collect())
            })
            .collect(),
    )
}
