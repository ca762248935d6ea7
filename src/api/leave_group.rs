//! LeaveGroup: members leave at once instead of waiting out their session; from v3 several
//! members per request, named by member id or (administratively) by group.instance.id.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::group::coordinator::LeavingMember;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    // Leaving, even on another member's behalf, is READ on the group; the refusal is the
    // request's error at every version.
    if !ctx.authorize(op::READ, ResourceType::Group, request.group_id.as_str()) {
        return LeaveGroupResponse::default().with_error_code(errors::GROUP_AUTHORIZATION_FAILED);
    }
    let leaving: Vec<LeavingMember> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.as_str().to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.as_str().to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.as_str().to_string(),
            group_instance_id: None,
        }]
    };
    let response = LeaveGroupResponse::default();
    match api.groups.leave_group(request.group_id.as_str(), &leaving) {
        Err(code) => response.with_error_code(code),
        // Before v3 the single member's error is the request's.
        Ok(codes) if version < 3 => response.with_error_code(codes.first().copied().unwrap_or(errors::NONE)),
        Ok(codes) => response.with_members(
            request
                .members
                .into_iter()
                .zip(codes)
                .map(|(m, code)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(code)
                })
                .collect(),
        ),
    }
}
