//! ElectLeaders: this node is the only replica, and so the preferred and the current leader,
//! of every partition; no election is ever needed. As on Kafka, naming partitions answers each
//! with ELECTION_NOT_NEEDED, and a request for all partitions lists none.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    // ALTER on the cluster; a refused caller gets the error on every partition it named, and
    // at the top from v1 (v0 has no such field).
    if !ctx.authorize_cluster(op::ALTER) {
        return refused(request, version);
    }
    // Every partition already has its preferred leader, and Kafka leaves those out of the
    // answer to a request for all partitions.
    let Some(requested) = request.topic_partitions else {
        return ElectLeadersResponse::default();
    };
    let results = requested
        .into_iter()
        .map(|t| {
            let topic = api.topics.get(t.topic.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let (code, message) = match &topic {
                        None => (
                            errors::UNKNOWN_TOPIC_OR_PARTITION,
                            Some(format!("No such topic as {}", t.topic.as_str())),
                        ),
                        Some(topic) if p < 0 || p >= topic.partitions => (
                            errors::UNKNOWN_TOPIC_OR_PARTITION,
                            Some(format!("No such partition as {}-{p}", t.topic.as_str())),
                        ),
                        Some(_) => (errors::ELECTION_NOT_NEEDED, None),
                    };
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(code)
                        .with_error_message(message.map(StrBytes::from_string))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic)
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}

fn refused(request: ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
    let message = || Some(StrBytes::from_static_str(errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE));
    let results = request
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
                        .with_error_message(message())
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic)
                .with_partition_result(partitions)
        })
        .collect();
    let code = if version >= 1 {
        errors::CLUSTER_AUTHORIZATION_FAILED
    } else {
        errors::NONE
    };
    ElectLeadersResponse::default()
        .with_error_code(code)
        .with_replica_election_results(results)
}
