//! ListGroups: every group, with its state from v4 (filterable by state names) and its type
//! from v5 (every group here is a "classic" group).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::ApiHandler;

/// Kafka's type name of groups of the classic rebalance protocol.
const CLASSIC: &str = "classic";

pub fn handle(api: &Arc<ApiHandler>, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let states: Vec<String> = if version >= 4 {
        request.states_filter.iter().map(|s| s.as_str().to_string()).collect()
    } else {
        Vec::new()
    };
    if version >= 5
        && !request.types_filter.is_empty()
        && !request
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(CLASSIC))
    {
        return ListGroupsResponse::default();
    }
    match api.groups.list_groups(&states) {
        Err(code) => ListGroupsResponse::default().with_error_code(code),
        Ok(groups) => ListGroupsResponse::default().with_groups(
            groups
                .into_iter()
                .map(|g| {
                    let listed = ListedGroup::default()
                        .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                        .with_protocol_type(StrBytes::from_string(g.protocol_type));
                    let listed = if version >= 4 {
                        listed.with_group_state(StrBytes::from_static_str(g.state.name()))
                    } else {
                        listed
                    };
                    if version >= 5 {
                        listed.with_group_type(StrBytes::from_static_str(CLASSIC))
                    } else {
                        listed
                    }
                })
                .collect(),
        ),
    }
}
