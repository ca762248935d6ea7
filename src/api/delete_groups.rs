//! DeleteGroups: removes empty groups with their committed offsets (tombstones in
//! `__consumer_offsets`), or share groups with their share-partition state (tombstones in
//! `__share_group_state`); a group with members is refused with NON_EMPTY_GROUP.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{ApiHandler, Reply, RequestError, reply_when_durable};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    // Deleting is DELETE on each group; a refused group is never looked up.
    let permitted = |g: &str| ctx.authorize(op::DELETE, ResourceType::Group, g);
    let (share, classic): (Vec<String>, Vec<String>) = request
        .groups_names
        .iter()
        .map(|g| g.as_str().to_string())
        .filter(|g| permitted(g))
        .partition(|g| api.share.is_share_group(g));
    let (classic_codes, mut durable) = api.groups.delete_groups(&classic);
    let mut classic_codes = classic_codes.into_iter();
    let mut share_codes = Vec::with_capacity(share.len());
    for group in &share {
        share_codes.push(match api.share.delete_group(group) {
            Ok(d) => {
                durable.extend(d);
                super::errors::NONE
            }
            Err(code) => code,
        });
    }
    let mut share_codes = share_codes.into_iter();
    let codes: Vec<i16> = request
        .groups_names
        .iter()
        .map(|g| {
            if !permitted(g.as_str()) {
                return super::errors::GROUP_AUTHORIZATION_FAILED;
            }
            let next = if share.iter().any(|s| s == g.as_str()) {
                share_codes.next()
            } else {
                classic_codes.next()
            };
            next.unwrap_or(super::errors::UNKNOWN_SERVER_ERROR)
        })
        .collect();
    let mut results: Vec<DeletableGroupResult> = request
        .groups_names
        .into_iter()
        .zip(codes)
        .map(|(group_id, code)| {
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code)
        })
        .collect();
    // Kafka lists the refused groups after the others.
    results.sort_by_key(|r| r.error_code == super::errors::GROUP_AUTHORIZATION_FAILED);
    let response = DeleteGroupsResponse::default().with_results(results);
    reply_when_durable(api, response, &durable, version)
}
