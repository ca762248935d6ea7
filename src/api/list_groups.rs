//! ListGroups: every group, with its state from v4 (filterable by state names) and its type
//! from v5 ("classic" or "consumer", filterable by type).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::ApiHandler;

pub fn handle(api: &Arc<ApiHandler>, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
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
    match api.groups.list_groups(&states, &types) {
        Err(code) => ListGroupsResponse::default().with_error_code(code),
        Ok(groups) => ListGroupsResponse::default().with_groups(
            groups
                .into_iter()
                .map(|g| {
                    let listed = ListedGroup::default()
                        .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                        .with_protocol_type(StrBytes::from_string(g.protocol_type));
                    let listed = if version >= 4 {
                        listed.with_group_state(StrBytes::from_static_str(g.state))
                    } else {
                        listed
                    };
                    if version >= 5 {
                        listed.with_group_type(StrBytes::from_static_str(g.group_type))
                    } else {
                        listed
                    }
                })
                .collect(),
        ),
    }
}
