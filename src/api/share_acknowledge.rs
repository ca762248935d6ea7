//! ShareAcknowledge (KIP-932): acknowledges records a member acquired, in its share session
//! (ShareSessionEpoch -1 also closes the session, releasing what it still holds). Answered
//! once the new state is durable in `__share_group_state`.

use std::sync::Arc;

use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};

use kafka_protocol::protocol::Encodable;

use super::request_quota::Throttled;
use super::{ApiHandler, Reply, RequestError, encode_logged, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::group::Durable;
use crate::metadata::acls::operation as op;
use crate::share::codes;
use crate::share::share_partition_manager::AckBatch;
use crate::share::share_session::SessionUse;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ShareAcknowledgeRequest,
    version: i16,
    peer: std::net::SocketAddr,
) -> Result<Reply, RequestError> {
    let group = request.group_id.as_ref().map(|g| g.to_string()).unwrap_or_default();
    let member = request.member_id.as_ref().map(|m| m.to_string()).unwrap_or_default();
    let refuse = |code: i16| ready(ShareAcknowledgeResponse::default().with_error_code(code), version);
    // Acknowledging is READ on the share group, asked before anything else.
    if !ctx.authorize(op::READ, ResourceType::Group, &group) {
        return refuse(errors::GROUP_AUTHORIZATION_FAILED);
    }
    if group.is_empty() || member.is_empty() {
        return refuse(codes::INVALID_REQUEST);
    }
    let share = &api.share.partitions;
    let session = match share
        .sessions
        .acknowledge(&group, &member, request.share_session_epoch, peer)
    {
        Ok(s) => s,
        Err(code) => return refuse(code),
    };
    let node = api.identity.node_id;
    let mut durable = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        // Each topic needs READ too; a refused topic's acknowledgements are not applied. A
        // topic id that names no topic keeps its own error.
        let readable = api
            .topics
            .get_by_id(&t.topic_id)
            .is_none_or(|topic| ctx.authorize(op::READ, ResourceType::Topic, &topic.name));
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let batches: Vec<AckBatch> = p
                .acknowledgement_batches
                .iter()
                .map(|b| AckBatch {
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                    types: b.acknowledge_types.clone(),
                })
                .collect();
            let code = if !readable {
                errors::TOPIC_AUTHORIZATION_FAILED
            } else {
                match share.acknowledge(&group, &member, (t.topic_id, p.partition_index), &batches) {
                    Ok(d) => {
                        durable.push(d);
                        errors::NONE
                    }
                    Err(code) => code,
                }
            };
            partitions.push(
                PartitionData::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code)
                    .with_current_leader(
                        LeaderIdAndEpoch::default()
                            .with_leader_id(node)
                            .with_leader_epoch(errors::LEADER_EPOCH),
                    ),
            );
        }
        topics.push(
            ShareAcknowledgeTopicResponse::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions),
        );
    }
    if let SessionUse::Closed(partitions) = session {
        durable.extend(share.release(&group, &member, &partitions));
    }
    let response = ShareAcknowledgeResponse::default().with_responses(topics);
    reply_when_share_state_durable(api, response, durable, version)
}

/// Answers once every `__share_group_state` write in `durable` is fsynced; a write that
/// could not be made durable closes the connection without an answer, so the client retries.
pub(super) fn reply_when_share_state_durable<R: Encodable + Throttled + Send + 'static>(
    api: &ApiHandler,
    response: R,
    durable: Vec<Durable>,
    version: i16,
) -> Result<Reply, RequestError> {
    if durable.is_empty() {
        return ready(response, version);
    }
    let waits: Vec<_> = durable.iter().map(|d| api.share.partitions.wait_durable(d)).collect();
    Ok(Reply::Deferred(Box::pin(async move {
        for wait in waits {
            if let Err(e) = wait.await {
                tracing::warn!(error = %e, "a share-group state write was not made durable; closing the connection without a reply");
                return None;
            }
        }
        encode_logged(response, version)
    })))
}
