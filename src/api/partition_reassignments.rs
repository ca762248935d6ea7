//! AlterPartitionReassignments and ListPartitionReassignments. Every partition has one
//! replica, on this node, so no reassignment is ever in progress: moving a partition onto this
//! node is already done, a cancel finds nothing to cancel, and any other broker is refused as
//! Kafka's controller refuses a broker that is not registered.

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;

pub fn alter(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // ALTER on the cluster; a refused caller gets the error at the top and on every partition.
    if !ctx.authorize_cluster(op::ALTER) {
        let message = || Some(StrBytes::from_static_str(errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE));
        let responses = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
                            .with_error_message(message())
                    })
                    .collect();
                ReassignableTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect();
        return AlterPartitionReassignmentsResponse::default()
            .with_allow_replication_factor_change(request.allow_replication_factor_change)
            .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(message())
            .with_responses(responses);
    }
    let node = api.identity.node_id;
    let responses = request
        .topics
        .into_iter()
        .map(|t| {
            let topic = api.topics.get(t.name.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let (code, message) = match &topic {
                        None => (
                            errors::UNKNOWN_TOPIC_OR_PARTITION,
                            Some(format!("Unable to find a topic named {}.", t.name.as_str())),
                        ),
                        Some(topic) if p.partition_index < 0 || p.partition_index >= topic.partitions => (
                            errors::UNKNOWN_TOPIC_OR_PARTITION,
                            Some(format!(
                                "Unable to find partition {}:{}.",
                                t.name.as_str(),
                                p.partition_index
                            )),
                        ),
                        Some(_) => match p.replicas.as_deref() {
                            None => (
                                errors::NO_REASSIGNMENT_IN_PROGRESS,
                                Some("No partition reassignment is in progress for this topic partition.".into()),
                            ),
                            Some(replicas) => check_target(replicas, node),
                        },
                    };
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_error_message(message.map(StrBytes::from_string))
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_error_message(None)
        .with_responses(responses)
}

/// Kafka's manual-assignment checks for a target replica list; the only valid one is this node.
fn check_target(replicas: &[BrokerId], node: i32) -> (i16, Option<String>) {
    let invalid = |m: String| (errors::INVALID_REPLICA_ASSIGNMENT, Some(m));
    if replicas.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    sorted.sort_unstable();
    if let Some(other) = sorted.iter().find(|&&b| b != node) {
        return invalid(format!(
            "The manual partition assignment includes broker {other}, but no such broker is registered."
        ));
    }
    if sorted.len() > 1 {
        return invalid(format!(
            "The manual partition assignment includes the broker {node} more than once."
        ));
    }
    (errors::NONE, None)
}

pub fn list(
    ctx: &RequestContext<'_>,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // DESCRIBE on the cluster; a refused caller gets the error, and the partitions it named
    // echoed back.
    if !ctx.authorize_cluster(op::DESCRIBE) {
        let topics = request
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partition_indexes
                    .iter()
                    .map(|&p| OngoingPartitionReassignment::default().with_partition_index(p))
                    .collect();
                OngoingTopicReassignment::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect();
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(StrBytes::from_static_str(
                errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE,
            )))
            .with_topics(topics);
    }
    ListPartitionReassignmentsResponse::default().with_error_message(None)
}
