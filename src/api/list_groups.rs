//! ListGroups: every group, with its state from v4 (filterable by state names) and its type
//! from v5 ("classic", or "share" for share groups).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::ApiHandler;

/// Kafka's type name of groups of the classic rebalance protocol.
const CLASSIC: &str = "classic";
/// Kafka's type name, and protocol type, of share groups (KIP-932).
const SHARE: &str = "share";

pub fn handle(api: &Arc<ApiHandler>, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let states: Vec<String> = if version >= 4 {
        request.states_filter.iter().map(|s| s.as_str().to_string()).collect()
    } else {
        Vec::new()
    };
    let wanted = |kind: &str| {
        request.types_filter.is_empty()
            || request
                .types_filter
                .iter()
                .any(|t| t.as_str().eq_ignore_ascii_case(kind))
    };
    let mut listed: Vec<ListedGroup> = Vec::new();
    if wanted(CLASSIC) {
        match api.groups.list_groups(&states) {
            Err(code) => return ListGroupsResponse::default().with_error_code(code),
            Ok(groups) => listed.extend(groups.into_iter().map(|g| {
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
            })),
        }
    }
    if wanted(SHARE) {
        listed.extend(
            api.share
                .list()
                .into_iter()
                .filter(|(_, state)| states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state)))
                .map(|(group_id, state)| {
                    let listed = ListedGroup::default()
                        .with_group_id(GroupId(StrBytes::from_string(group_id)))
                        .with_protocol_type(StrBytes::from_static_str(SHARE));
                    let listed = if version >= 4 {
                        listed.with_group_state(StrBytes::from_static_str(state))
                    } else {
                        listed
                    };
                    if version >= 5 {
                        listed.with_group_type(StrBytes::from_static_str(SHARE))
                    } else {
                        listed
                    }
                }),
        );
    }
    ListGroupsResponse::default().with_groups(listed)
}
