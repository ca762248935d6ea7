//! AddPartitionsToTxn: a transactional producer names the partitions it is about to write,
//! which starts its transaction. v0-3 carry one transaction from a client; v4+ carry a batch
//! of transactions, each possibly `verify_only` (KIP-890: a partition leader asking whether a
//! partition is already in the transaction, without adding it).

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};

use super::{ApiHandler, Reply, RequestError, encode_logged, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;
use crate::metadata::topics::INTERNAL_TOPICS;

type Partitions = Vec<(String, i32)>;

/// The partitions named, and the error every partition gets when one does not exist
/// (UNKNOWN_TOPIC_OR_PARTITION for it, OPERATION_NOT_ATTEMPTED for the others, as on Kafka).
fn resolve(api: &ApiHandler, topics: &[AddPartitionsToTxnTopic]) -> (Partitions, HashSet<(String, i32)>) {
    let mut all = Vec::new();
    let mut unknown = HashSet::new();
    for t in topics {
        let known = api.topics.get(t.name.as_str());
        for p in &t.partitions {
            let tp = (t.name.to_string(), *p);
            if !known.as_ref().is_some_and(|k| (0..k.partitions).contains(p)) {
                unknown.insert(tp.clone());
            }
            all.push(tp);
        }
    }
    (all, unknown)
}

fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    code_of: impl Fn(&(String, i32)) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code_of(&(t.name.to_string(), *p)))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(t.name.0.clone()))
                .with_results_by_partition(results)
        })
        .collect()
}

/// Adds (or verifies) one transaction's partitions; the code of each partition. A topic in
/// `unwritable` fails the whole transaction as an unknown one does.
#[allow(clippy::too_many_arguments)]
async fn add_one(
    api: &Arc<ApiHandler>,
    unwritable: &HashSet<String>,
    id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
    version: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let (partitions, unknown) = resolve(api, topics);
    if !unknown.is_empty() || partitions.iter().any(|(t, _)| unwritable.contains(t)) {
        return topic_results(topics, |tp| {
            if unwritable.contains(&tp.0) {
                errors::TOPIC_AUTHORIZATION_FAILED
            } else if unknown.contains(tp) {
                errors::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                errors::OPERATION_NOT_ATTEMPTED
            }
        });
    }
    if verify_only {
        return topic_results(topics, |tp| {
            api.txn.verify(id, producer_id, epoch, std::slice::from_ref(tp))
        });
    }
    let code = match api.txn.add_partitions(id, producer_id, epoch, &partitions).await {
        Ok(()) => errors::NONE,
        Err(code) => errors::fenced_for_version(code, version, 2),
    };
    topic_results(topics, |_| code)
}

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    // v4+ comes from partition leaders, which act for the cluster.
    if version >= 4 && !ctx.authorize_cluster(op::CLUSTER_ACTION) {
        let refused = AddPartitionsToTxnResponse::default().with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED);
        return ready(refused, version);
    }
    // v0-3 come from the producer itself: WRITE on its transactional id, then WRITE on each
    // topic. With an authorizer the internal topics are never the client's to add, as on
    // Kafka.
    let mut unwritable = HashSet::new();
    if version <= 3 {
        if !ctx.authorize(
            op::WRITE,
            ResourceType::TransactionalId,
            request.v3_and_below_transactional_id.as_str(),
        ) {
            let mut refused = AddPartitionsToTxnResponse::default();
            refused.results_by_topic_v3_and_below = topic_results(&request.v3_and_below_topics, |_| {
                errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            });
            return ready(refused, version);
        }
        for t in &request.v3_and_below_topics {
            let name = t.name.as_str();
            let internal = ctx.authorizer.is_some() && INTERNAL_TOPICS.contains(&name);
            if internal || !ctx.authorize(op::WRITE, ResourceType::Topic, name) {
                unwritable.insert(name.to_string());
            }
        }
    }
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        let mut response = AddPartitionsToTxnResponse::default();
        if version <= 3 {
            response.results_by_topic_v3_and_below = add_one(
                &api,
                &unwritable,
                request.v3_and_below_transactional_id.as_str(),
                request.v3_and_below_producer_id.0,
                request.v3_and_below_producer_epoch,
                false,
                &request.v3_and_below_topics,
                version,
            )
            .await;
        } else {
            for txn in &request.transactions {
                let topic_results = add_one(
                    &api,
                    &unwritable,
                    txn.transactional_id.as_str(),
                    txn.producer_id.0,
                    txn.producer_epoch,
                    txn.verify_only,
                    &txn.topics,
                    version,
                )
                .await;
                response.results_by_transaction.push(
                    AddPartitionsToTxnResult::default()
                        .with_transactional_id(txn.transactional_id.clone())
                        .with_topic_results(topic_results),
                );
            }
        }
        encode_logged(response, version)
    })))
}
