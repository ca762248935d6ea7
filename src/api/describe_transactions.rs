//! DescribeTransactions: one transactional id's state, producer, timeout and partitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            // Without DESCRIBE the id's existence is not disclosed: the error and nothing else.
            if !ctx.authorize(op::DESCRIBE, ResourceType::TransactionalId, id.as_str()) {
                return TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
            }
            let Some(m) = api.txn.describe(id.as_str()) else {
                return TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(errors::TRANSACTIONAL_ID_NOT_FOUND)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            };
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            // Only the topics the caller may DESCRIBE are shown.
            for (topic, p) in m
                .partitions
                .iter()
                .filter(|(topic, _)| ctx.authorize(op::DESCRIBE, ResourceType::Topic, topic))
            {
                by_topic.entry(topic.clone()).or_default().push(*p);
            }
            let topics = by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicData::default()
                        .with_topic(TopicName(StrBytes::from_string(topic)))
                        .with_partitions(partitions)
                })
                .collect();
            TransactionState::default()
                .with_transactional_id(id)
                .with_transaction_state(StrBytes::from_static_str(m.state.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
