//! DescribeGroups: state, protocol and members of each group; protocol metadata and
//! assignments only once the group is Stable, as Kafka reports them. From v6 an unknown
//! group is GROUP_ID_NOT_FOUND (KIP-1043); before, it is described as Dead. A KIP-848
//! consumer group or a share group answers as an unknown group does, with "is not a classic
//! group" from v6, as on Kafka.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::group::GroupState;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let str = StrBytes::from_string;
    let mut groups: Vec<DescribedGroup> = request
        .groups
        .into_iter()
        .map(|group_id| {
            // A group the caller may not DESCRIBE is answered with the error alone: no
            // state, no protocol, no authorized operations.
            // A group the caller may not DESCRIBE is answered with the error alone: no
            // state, no protocol, no authorized operations, and (as Kafka) no message.
            if !ctx.authorize(op::DESCRIBE, ResourceType::Group, group_id.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(errors::GROUP_AUTHORIZATION_FAILED);
            }
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let described = if version >= 3 && request.include_authorized_operations {
                described.with_authorized_operations(ctx.authorized_operations(
                    ResourceType::Group,
                    group_id.as_str(),
                    true,
                ))
            } else {
                described
            };
            match api.groups.describe_group(group_id.as_str()) {
                // A KIP-848 consumer group is not described here: it answers as an unknown
                // group does, with Kafka's message from v6.
                Err(errors::GROUP_ID_NOT_FOUND) if version >= 6 => described
                    .with_error_code(errors::GROUP_ID_NOT_FOUND)
                    .with_error_message(Some(str(format!(
                        "Group {} is not a classic group.",
                        group_id.as_str()
                    ))))
                    .with_group_state(StrBytes::from_static_str(GroupState::Dead.name())),
                Err(errors::GROUP_ID_NOT_FOUND) => {
                    described.with_group_state(StrBytes::from_static_str(GroupState::Dead.name()))
                }
                Err(code) => described.with_error_code(code),
                Ok(None) if version >= 6 => described
                    .with_error_code(errors::GROUP_ID_NOT_FOUND)
                    .with_error_message(Some(str(if api.share.is_share_group(group_id.as_str()) {
                        format!("Group {} is not a classic group.", group_id.as_str())
                    } else {
                        format!("Group {} not found.", group_id.as_str())
                    })))
                    .with_group_state(StrBytes::from_static_str(GroupState::Dead.name())),
                Ok(None) => described.with_group_state(StrBytes::from_static_str(GroupState::Dead.name())),
                Ok(Some(summary)) => described
                    .with_group_state(StrBytes::from_static_str(summary.state.name()))
                    .with_protocol_type(str(summary.protocol_type))
                    .with_protocol_data(str(summary.protocol))
                    .with_members(
                        summary
                            .members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(str(m.member_id))
                                    .with_group_instance_id(m.group_instance_id.filter(|_| version >= 4).map(str))
                                    .with_client_id(str(m.client_id))
                                    .with_client_host(str(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    // Kafka answers the refused groups first, then the ones it described.
    groups.sort_by_key(|g| g.error_code != errors::GROUP_AUTHORIZATION_FAILED);
    DescribeGroupsResponse::default().with_groups(groups)
}
