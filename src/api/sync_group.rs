//! SyncGroup: the leader hands in the assignment and every member receives its part; a
//! follower that arrives first waits for the leader. Protocol type and name are checked
//! from v5.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, errors, group_reply};
use crate::auth::{RequestContext, ResourceType};
use crate::group::coordinator::{Pending, SyncRequest};
use crate::group::{Durable, SyncResult};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: SyncGroupRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    if !ctx.authorize(op::READ, ResourceType::Group, request.group_id.as_str()) {
        return group_reply(
            api,
            Pending::Ready(SyncResult::error(errors::GROUP_AUTHORIZATION_FAILED)),
            version,
            response,
            || SyncResult::error(errors::REBALANCE_IN_PROGRESS),
        );
    }
    let string = |s: StrBytes| s.as_str().to_string();
    let sync = SyncRequest {
        group_id: request.group_id.as_str().to_string(),
        generation_id: request.generation_id,
        member_id: string(request.member_id),
        group_instance_id: request.group_instance_id.filter(|_| version >= 3).map(string),
        protocol_type: request.protocol_type.filter(|_| version >= 5).map(string),
        protocol_name: request.protocol_name.filter(|_| version >= 5).map(string),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (string(a.member_id), a.assignment))
            .collect(),
    };
    let pending = api.groups.sync_group(sync);
    group_reply(api, pending, version, response, || {
        SyncResult::error(errors::REBALANCE_IN_PROGRESS)
    })
}

fn response(r: SyncResult, version: i16) -> (SyncGroupResponse, Option<Durable>) {
    let mut response = SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_assignment(r.assignment);
    if version >= 5 {
        response.protocol_type = r.protocol_type.map(StrBytes::from_string);
        response.protocol_name = r.protocol_name.map(StrBytes::from_string);
    }
    (response, r.durable)
}
