//! DescribeQuorum: the metadata quorum of this one-node cluster. This node is its only voter
//! and its leader, always caught up; `kafka-metadata-quorum describe --status/--replication`
//! print it as they print a single combined KRaft node.

use std::sync::Arc;

use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{Advertised, ApiHandler, errors};
use crate::auth::RequestContext;
use crate::log::now_ms;
use crate::metadata::acls::operation as op;

/// Kafka's metadata topic, the only partition a quorum has.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// The leader epoch of the quorum: one election ever happened, at the first start.
const QUORUM_EPOCH: i32 = 1;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    advertised: &Advertised,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    if !ctx.authorize_cluster(op::DESCRIBE) {
        return DescribeQuorumResponse::default()
            .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(StrBytes::from_static_str(
                errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE,
            )));
    }
    let asks_for_metadata = request.topics.len() == 1
        && request.topics[0].topic_name.as_str() == METADATA_TOPIC
        && request.topics[0].partitions.len() == 1
        && request.topics[0].partitions[0].partition_index == 0;
    if !asks_for_metadata {
        return DescribeQuorumResponse::default()
            .with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION)
            .with_error_message(None);
    }
    let node = BrokerId(api.identity.node_id);
    let end = api.topics.metadata_log_end_offset();
    let now = now_ms();
    let voter = ReplicaState::default()
        .with_replica_id(node)
        .with_replica_directory_id(directory_id(&api.identity.cluster_id))
        .with_log_end_offset(end)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_error_message(None)
        .with_leader_id(node)
        .with_leader_epoch(QUORUM_EPOCH)
        .with_high_watermark(end)
        .with_current_voters(vec![voter]);
    DescribeQuorumResponse::default()
        .with_error_message(None)
        .with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![partition]),
        ])
        .with_nodes(vec![Node::default().with_node_id(node).with_listeners(vec![
                Listener::default()
                    .with_name(StrBytes::from_static_str("CONTROLLER"))
                    .with_host(StrBytes::from_string(advertised.host.clone()))
                    .with_port(advertised.port),
            ])])
}

/// A stable directory id for the one log directory, derived from the cluster id so that it
/// stays the same across restarts.
fn directory_id(cluster_id: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, cluster_id.as_bytes())
}
