//! Heartbeat: keeps a member's session alive and tells it when to rejoin
//! (REBALANCE_IN_PROGRESS).

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::ApiHandler;
use crate::auth::RequestContext;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
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
