//! ElectLeaders: this node is the only replica, and so the preferred and the current leader,
//! of every partition; no election is ever needed. As on Kafka, naming partitions answers each
//! with ELECTION_NOT_NEEDED, and a request for all partitions lists none.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;

pub fn handle(api: &Arc<ApiHandler>, ctx: &RequestContext<'_>, request: ElectLeadersRequest) -> ElectLeadersResponse {
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
