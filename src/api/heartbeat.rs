//! Heartbeat: keeps a member's session alive and tells it when to rejoin
//! (REBALANCE_IN_PROGRESS).

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
    if !ctx.authorize(op::READ, ResourceType::Group, request.group_id.as_str()) {
        return HeartbeatResponse::default().with_error_code(errors::GROUP_AUTHORIZATION_FAILED);
    }
    let instance = request
        .group_instance_id
        .as_ref()
        .filter(|_| version >= 3)
        .map(|s| s.as_str());
    let code = api.groups.heartbeat(
        request.group_id.as_str(),
        request.member_id.as_str(),
        instance,
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code)
}
