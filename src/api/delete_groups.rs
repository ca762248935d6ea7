//! DeleteGroups: removes empty groups with their committed offsets (tombstones in
//! `__consumer_offsets`); a group with members is refused with NON_EMPTY_GROUP.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{ApiHandler, Reply, RequestError, reply_when_durable};

pub fn handle(api: &Arc<ApiHandler>, request: DeleteGroupsRequest, version: i16) -> Result<Reply, RequestError> {
    let ids: Vec<String> = request.groups_names.iter().map(|g| g.as_str().to_string()).collect();
    let (codes, durable) = api.groups.delete_groups(&ids);
    let results = request
        .groups_names
        .into_iter()
        .zip(codes)
        .map(|(group_id, code)| {
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code)
        })
        .collect();
    let response = DeleteGroupsResponse::default().with_results(results);
    reply_when_durable(api, response, &durable, version)
}
