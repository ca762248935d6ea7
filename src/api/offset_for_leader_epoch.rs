//! OffsetForLeaderEpoch: the end offset of a leader epoch. One node has only epoch 0, which
//! ends at the log end offset; a later epoch is unknown (Kafka answers -1/-1).

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Replicas ask with CLUSTER_ACTION; consumers checking for truncation (KIP-320) need
    // DESCRIBE on each topic.
    let cluster_action = ctx.authorize_cluster(op::CLUSTER_ACTION);
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let authorized = cluster_action || ctx.authorize(op::DESCRIBE, ResourceType::Topic, t.topic.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let out = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if !authorized {
                        return out.with_error_code(errors::TOPIC_AUTHORIZATION_FAILED);
                    }
                    let Some(log) = api.topics.partition_log(t.topic.as_str(), p.partition) else {
                        return out.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let epoch_error = errors::check_leader_epoch(p.current_leader_epoch);
                    if epoch_error != errors::NONE {
                        return out.with_error_code(epoch_error);
                    }
                    if p.leader_epoch > errors::LEADER_EPOCH || p.leader_epoch < 0 {
                        return out;
                    }
                    out.with_leader_epoch(errors::LEADER_EPOCH)
                        .with_end_offset(log.log_end_offset())
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
