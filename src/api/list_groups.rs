//! ListGroups: every group, with its state from v4 (filterable by state names) and its type
//! from v5 ("classic", "consumer" for KIP-848 consumer groups, or "share" for share groups;
//! filterable by type).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::ApiHandler;
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

/// Kafka's type name, and protocol type, of share groups (KIP-932).
const SHARE: &str = "share";

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let states: Vec<String> = if version >= 4 {
        request.states_filter.iter().map(|s| s.as_str().to_string()).collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if version >= 5 {
        request.types_filter.iter().map(|s| s.as_str().to_string()).collect()
    } else {
        Vec::new()
    };
    let listed = |group_id: String, protocol_type: String, state: &'static str, group_type: &'static str| {
        let listed = ListedGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group_id)))
            .with_protocol_type(StrBytes::from_string(protocol_type));
        let listed = if version >= 4 {
            listed.with_group_state(StrBytes::from_static_str(state))
        } else {
            listed
        };
        if version >= 5 {
            listed.with_group_type(StrBytes::from_static_str(group_type))
        } else {
            listed
        }
    };
    let mut groups: Vec<ListedGroup> = match api.groups.list_groups(&states, &types) {
        Err(code) => return ListGroupsResponse::default().with_error_code(code),
        Ok(groups) => groups
            .into_iter()
            .map(|g| listed(g.group_id, g.protocol_type, g.state, g.group_type))
            .collect(),
    };
    if types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(SHARE)) {
        groups.extend(
            api.share
                .list()
                .into_iter()
                .filter(|(_, state)| states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state)))
                .map(|(group_id, state)| listed(group_id, SHARE.to_string(), state, SHARE)),
        );
    }
    // DESCRIBE on the cluster still lists every group, as it always has on Kafka; otherwise a
    // caller sees only the groups it may DESCRIBE.
    if !ctx.authorize_cluster(op::DESCRIBE) {
        groups.retain(|g| ctx.authorize(op::DESCRIBE, ResourceType::Group, g.group_id.as_str()));
    }
    ListGroupsResponse::default().with_groups(groups)
}
