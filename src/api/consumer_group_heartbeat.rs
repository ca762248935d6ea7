//! ConsumerGroupHeartbeat (KIP-848): a consumer group member joins, stays and leaves with
//! this one request, and the coordinator answers with its epoch and assignment.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, errors, reply_when_durable};
use crate::auth::{RequestContext, ResourceType};
use crate::group::consumer_group::TopicFilter;
use crate::group::consumer_group_records::TopicPartitions as Partitions;
use crate::group::coordinator::{ConsumerHeartbeat, ConsumerHeartbeatResult};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ConsumerGroupHeartbeatRequest,
    version: i16,
    client_id: &str,
    client_host: String,
) -> Result<Reply, RequestError> {
    // Membership is READ on the group. Subscribing by name also needs DESCRIBE on every topic
    // named: one the caller may not see fails the heartbeat, so a subscription cannot probe
    // for topics.
    if let Some(code) = heartbeat_refusal(
        ctx,
        request.group_id.as_str(),
        request.subscribed_topic_names.as_deref(),
    ) {
        return reply_when_durable(
            api,
            ConsumerGroupHeartbeatResponse::default().with_error_code(code),
            &[],
            version,
        );
    }
    let owned = request.topic_partitions.map(|tps| {
        let mut out = Partitions::new();
        for tp in tps {
            out.entry(tp.topic_id).or_default().extend(tp.partitions);
        }
        out
    });
    let heartbeat = ConsumerHeartbeat {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.to_string()),
        rack_id: request.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: request.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: request.server_assignor.map(|s| s.to_string()),
        owned,
        client_id: client_id.to_string(),
        client_host,
        version,
        describable: api.authorizer.clone().map(|authorizer| {
            let (principal, host) = (ctx.principal.clone(), ctx.host);
            TopicFilter(Arc::new(move |topic: &str| {
                authorizer.authorize(&principal, host, op::DESCRIBE, ResourceType::Topic.code(), topic)
            }))
        }),
    };
    if api.share.is_share_group(&heartbeat.group_id) {
        let refused = ConsumerHeartbeatResult {
            error: errors::GROUP_ID_NOT_FOUND,
            message: Some(format!("Group {} is not a consumer group.", heartbeat.group_id)),
            ..Default::default()
        };
        return reply_when_durable(api, response(refused), &[], version);
    }
    let (result, durable) = api.groups.consumer_group_heartbeat(heartbeat);
    reply_when_durable(api, response(result), durable.as_slice(), version)
}

fn response(r: ConsumerHeartbeatResult) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(r.error)
        .with_error_message(r.message.map(StrBytes::from_string))
        .with_member_id(r.member_id.map(StrBytes::from_string))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(r.assignment.map(|parts| {
            Assignment::default().with_topic_partitions(
                parts
                    .into_iter()
                    .map(|(topic, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(topic)
                            .with_partitions(ps.into_iter().collect())
                    })
                    .collect(),
            )
        }))
}

/// Why a consumer or share group heartbeat is refused, if it is: membership is READ on the
/// group, and subscribing by name needs DESCRIBE on every topic named.
pub(super) fn heartbeat_refusal(
    ctx: &RequestContext<'_>,
    group: &str,
    subscribed: Option<&[TopicName]>,
) -> Option<i16> {
    if !ctx.authorize(op::READ, ResourceType::Group, group) {
        Some(errors::GROUP_AUTHORIZATION_FAILED)
    } else if subscribed
        .into_iter()
        .flatten()
        .any(|name| !ctx.authorize(op::DESCRIBE, ResourceType::Topic, name.as_str()))
    {
        Some(errors::TOPIC_AUTHORIZATION_FAILED)
    } else {
        None
    }
}
