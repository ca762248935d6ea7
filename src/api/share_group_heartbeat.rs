//! ShareGroupHeartbeat (KIP-932): joins, keeps alive and leaves a share group, and hands each
//! member its assignment when it changes.

use std::sync::Arc;

use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, errors, reply_when_durable};
use crate::auth::RequestContext;
use crate::share::share_group::Heartbeat;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ShareGroupHeartbeatRequest,
    client_id: &str,
    client_host: &str,
    version: i16,
) -> Result<Reply, RequestError> {
    // As for consumer groups: READ on the group, and DESCRIBE on every topic subscribed to.
    if let Some(code) = super::consumer_group_heartbeat::heartbeat_refusal(
        ctx,
        request.group_id.as_str(),
        request.subscribed_topic_names.as_deref(),
    ) {
        return reply_when_durable(
            api,
            ShareGroupHeartbeatResponse::default().with_error_code(code),
            &[],
            version,
        );
    }
    let hb = Heartbeat {
        member_id: request.member_id.as_str(),
        member_epoch: request.member_epoch,
        rack_id: request.rack_id.as_ref().map(|r| r.as_str()),
        subscribed_topic_names: request
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        client_id,
        client_host,
    };
    let response = ShareGroupHeartbeatResponse::default()
        .with_heartbeat_interval_ms(api.share.heartbeat_interval_ms(request.group_id.as_str()));
    // A classic or consumer group's id is taken, as on Kafka.
    if api.groups.group_exists(request.group_id.as_str()) {
        let refused = response
            .with_error_code(errors::GROUP_ID_NOT_FOUND)
            .with_error_message(Some(StrBytes::from_string(format!(
                "Group {} is not a share group.",
                request.group_id.as_str()
            ))))
            .with_member_epoch(-1);
        return reply_when_durable(api, refused, &[], version);
    }
    let (response, durable) = match api.share.heartbeat(request.group_id.as_str(), hb) {
        Err(code) => (response.with_error_code(code).with_member_epoch(-1), Vec::new()),
        Ok((result, durable)) => (
            response
                .with_member_id(Some(request.member_id.clone()))
                .with_member_epoch(result.member_epoch)
                .with_assignment(result.assignment.map(|a| {
                    Assignment::default().with_topic_partitions(
                        a.into_iter()
                            .map(|(topic_id, partitions)| {
                                TopicPartitions::default()
                                    .with_topic_id(topic_id)
                                    .with_partitions(partitions.into_iter().collect())
                            })
                            .collect(),
                    )
                })),
            durable,
        ),
    };
    super::share_acknowledge::reply_when_share_state_durable(api, response, durable, version)
}
