//! ShareGroupDescribe (KIP-932): a share group's state, epochs, assignor and members with
//! their subscriptions and assignments.

use std::sync::Arc;

use kafka_protocol::messages::share_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

/// The assignor share groups use, by Kafka's name.
const ASSIGNOR: &str = "simple";

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let str = StrBytes::from_string;
    let mut groups: Vec<DescribedGroup> = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            if !ctx.authorize(op::DESCRIBE, ResourceType::Group, group_id.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(errors::GROUP_AUTHORIZATION_FAILED);
            }
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let described = if request.include_authorized_operations {
                described.with_authorized_operations(ctx.authorized_operations(
                    ResourceType::Group,
                    group_id.as_str(),
                    true,
                ))
            } else {
                described
            };
            let Some(d) = api.share.describe(group_id.as_str()) else {
                return described
                    .with_error_code(errors::GROUP_ID_NOT_FOUND)
                    .with_error_message(Some(str(format!("Group {} not found.", group_id.as_str()))))
                    .with_group_state(StrBytes::from_static_str("Dead"));
            };
            // As for consumer groups, assignments must not disclose topics the caller may not
            // DESCRIBE: such a group is not described.
            let hidden = d.members.iter().flat_map(|m| m.assignment.keys()).any(|id| {
                api.share
                    .topic_name(id)
                    .is_some_and(|name| !ctx.authorize(op::DESCRIBE, ResourceType::Topic, &name))
            });
            if hidden {
                return DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(StrBytes::from_static_str(
                        "The group has described topic(s) that the client is not authorized to describe.",
                    )));
            }
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    let assignment = Assignment::default().with_topic_partitions(
                        m.assignment
                            .iter()
                            .map(|(id, partitions)| {
                                TopicPartitions::default()
                                    .with_topic_id(*id)
                                    .with_topic_name(TopicName(str(api.share.topic_name(id).unwrap_or_default())))
                                    .with_partitions(partitions.iter().copied().collect())
                            })
                            .collect(),
                    );
                    Member::default()
                        .with_member_id(str(m.member_id))
                        .with_rack_id(m.rack_id.map(str))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(str(m.client_id))
                        .with_client_host(str(m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .into_iter()
                                .map(|n| TopicName(str(n)))
                                .collect(),
                        )
                        .with_assignment(assignment)
                })
                .collect();
            described
                .with_group_state(StrBytes::from_static_str(d.state))
                .with_group_epoch(d.group_epoch)
                .with_assignment_epoch(d.assignment_epoch)
                .with_assignor_name(StrBytes::from_static_str(ASSIGNOR))
                .with_members(members)
        })
        .collect();
    // Kafka answers the refused groups first, then the ones it described.
    groups.sort_by_key(|g| g.error_code != errors::GROUP_AUTHORIZATION_FAILED);
    ShareGroupDescribeResponse::default().with_groups(groups)
}
