//! JoinGroup: a member joins (or rejoins) a group and waits until the rebalance completes;
//! the reply names the generation, the selected protocol and the leader, and gives the
//! leader every member's protocol metadata to assign from.

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, errors, group_reply};
use crate::auth::{RequestContext, ResourceType};
use crate::group::coordinator::{JoinRequest, Pending};
use crate::group::{Durable, JoinResult};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: String,
) -> Result<Reply, RequestError> {
    // Joining is READ on the group; a refused member learns nothing about it.
    if !ctx.authorize(op::READ, ResourceType::Group, request.group_id.as_str()) {
        return group_reply(
            api,
            Pending::Ready(JoinResult::error("", errors::GROUP_AUTHORIZATION_FAILED)),
            version,
            response,
            || JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE),
        );
    }
    let join = JoinRequest {
        group_id: request.group_id.as_str().to_string(),
        member_id: request.member_id.as_str().to_string(),
        group_instance_id: request
            .group_instance_id
            .filter(|_| version >= 5)
            .map(|s| s.as_str().to_string()),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
        client_id: client_id.to_string(),
        client_host,
        // v0 has no rebalance timeout: the session timeout bounds the rebalance.
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        session_timeout_ms: request.session_timeout_ms,
        protocol_type: request.protocol_type.as_str().to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata))
            .collect(),
    };
    // A share group's id is taken, as on Kafka: a classic member cannot join it.
    if api.share.is_share_group(&join.group_id) {
        return group_reply(
            api,
            Pending::Ready(JoinResult::error("", errors::INCONSISTENT_GROUP_PROTOCOL)),
            version,
            response,
            || JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE),
        );
    }
    let pending = api.groups.join_group(join);
    group_reply(api, pending, version, response, || {
        JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE)
    })
}

fn response(r: JoinResult, version: i16) -> (JoinGroupResponse, Option<Durable>) {
    let str = |s: String| StrBytes::from_string(s);
    // Before v7 the protocol name is not nullable: Kafka sends "" instead.
    let protocol_name = match r.protocol_name {
        Some(p) => Some(str(p)),
        None if version >= 7 => None,
        None => Some(StrBytes::default()),
    };
    let members = r
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str(m.member_id))
                .with_group_instance_id(m.group_instance_id.filter(|_| version >= 5).map(str))
                .with_metadata(m.metadata)
        })
        .collect();
    let response = JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation_id)
        .with_protocol_type(r.protocol_type.filter(|_| version >= 7).map(str))
        .with_protocol_name(protocol_name)
        .with_leader(str(r.leader_id))
        .with_skip_assignment(r.skip_assignment && version >= 9)
        .with_member_id(str(r.member_id))
        .with_members(members);
    (response, r.durable)
}
