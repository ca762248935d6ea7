//! WriteTxnMarkers: writes COMMIT or ABORT markers to partitions. Kafka's transaction
//! coordinator sends it to partition leaders; here the coordinator writes markers directly,
//! and this API serves the admin tools that end a hanging transaction
//! (`kafka-transactions.sh abort`). The reply waits for the markers to be fsynced.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::{ApiHandler, Reply, RequestError, encode_logged, errors};
use crate::auth::RequestContext;
use crate::group::Durable;
use crate::group::offsets_log::OFFSETS_TOPIC;
use crate::log::{LogError, now_ms};
use crate::metadata::acls::operation as op;
use crate::record::ControlRecordType;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: WriteTxnMarkersRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    // Only the transaction coordinator writes markers: ALTER or CLUSTER_ACTION on the cluster.
    // A refused caller gets the error on every partition, and nothing is written.
    let authorized = ctx.authorize_cluster(op::ALTER) || ctx.authorize_cluster(op::CLUSTER_ACTION);
    let mut waits = Vec::new();
    let mut results = Vec::with_capacity(request.markers.len());
    for marker in &request.markers {
        let kind = if marker.transaction_result {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let mut topics = Vec::with_capacity(marker.topics.len());
        for topic in &marker.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for &p in &topic.partition_indexes {
                // An unauthorized caller's partitions are not even looked up.
                let log = if authorized {
                    api.topics.partition_log(topic.name.as_str(), p)
                } else {
                    None
                };
                let code = match log {
                    None if !authorized => errors::CLUSTER_AUTHORIZATION_FAILED,
                    None => errors::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(log) => match log.append_marker(
                        marker.producer_id.0,
                        marker.producer_epoch,
                        kind,
                        marker.coordinator_epoch,
                        now_ms(),
                    ) {
                        Ok(info) => {
                            let durable = Durable {
                                log,
                                offset: info.last_offset + 1,
                            };
                            // Offsets the transaction committed are decided by this marker too.
                            if topic.name.as_str() == OFFSETS_TOPIC {
                                api.groups.complete_txn_offsets(
                                    p,
                                    marker.producer_id.0,
                                    marker.transaction_result,
                                    &durable,
                                );
                            }
                            waits.push(durable);
                            errors::NONE
                        }
                        Err(LogError::Producer(e)) => errors::producer_state_code(&e),
                        Err(LogError::Record(_)) => errors::CORRUPT_MESSAGE,
                        Err(_) => errors::KAFKA_STORAGE_ERROR,
                    },
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions),
            );
        }
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics),
        );
    }
    let response = WriteTxnMarkersResponse::default().with_markers(results);
    let logs = api.logs.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        for d in waits {
            if let Err(e) = logs.wait_durable(&d.log, d.offset).await {
                tracing::warn!(error = %e, "a transaction marker was not made durable; closing the connection without a reply");
                return None;
            }
        }
        encode_logged(response, version)
    })))
}
