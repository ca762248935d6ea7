//! DescribeProducers (KIP-664): the producers each partition tracks — id, epoch, last
//! sequence and timestamp. No producer has a transaction open here, so the coordinator epoch
//! and transaction start offset are Kafka's "none" values.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            // READ on the topic, judged before the topic is looked up.
            let authorized = ctx.authorize(op::READ, ResourceType::Topic, t.name.as_str());
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let out = PartitionResponse::default().with_partition_index(p);
                    if !authorized {
                        return out
                            .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED)
                            .with_error_message(Some(StrBytes::from_static_str(
                                errors::TOPIC_AUTHORIZATION_FAILED_MESSAGE,
                            )));
                    }
                    let Some(log) = api.topics.partition_log(t.name.as_str(), p) else {
                        return out.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let producers = log
                        .active_producers()
                        .into_iter()
                        .map(|(id, entry)| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(id))
                                .with_producer_epoch(i32::from(entry.epoch))
                                .with_last_sequence(entry.last_seq().unwrap_or(-1))
                                .with_last_timestamp(entry.last_timestamp)
                                .with_coordinator_epoch(entry.coordinator_epoch)
                                .with_current_txn_start_offset(entry.current_txn_first_offset.unwrap_or(-1))
                        })
                        .collect();
                    out.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
