//! InitProducerId: gives a producer its id and epoch.
//!
//! Without a transactional id the producer is idempotent only (see
//! [`ProducerIdManager`](crate::metadata::ProducerIdManager)). With one, the transaction
//! coordinator answers: the id's producer id with a bumped epoch, which fences every older
//! producer of the same transactional id and aborts the transaction it left open.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{ApiHandler, Reply, RequestError, encode_logged, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // KIP-360 (v3+): the id and epoch the producer holds, if any.
    let existing = (version >= 3 && request.producer_id.0 >= 0 && request.producer_epoch >= 0)
        .then_some((request.producer_id.0, request.producer_epoch));
    // A transactional producer needs WRITE on its transactional id; an idempotent one needs
    // IDEMPOTENT_WRITE on the cluster, or WRITE on some topic (KIP-679), as on Kafka.
    let refused = match &request.transactional_id {
        Some(id) => (!ctx.authorize(op::WRITE, ResourceType::TransactionalId, id.as_str()))
            .then_some(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        None => (!ctx.authorize_cluster(op::IDEMPOTENT_WRITE) && !ctx.authorize_any(op::WRITE, ResourceType::Topic))
            .then_some(errors::CLUSTER_AUTHORIZATION_FAILED),
    };
    if let Some(code) = refused {
        return ready(response.with_error_code(code), version);
    }
    let Some(transactional_id) = request.transactional_id else {
        // A new block of ids fsyncs the allocator's file.
        let allocated = super::block_in_place(|| match existing {
            Some((id, epoch)) => api.producer_ids.bump(id, epoch),
            None => api.producer_ids.new_producer(),
        });
        let response = match allocated {
            Ok((id, epoch)) => response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate a producer id");
                // Retriable for every client: it asks again.
                response.with_error_code(errors::COORDINATOR_NOT_AVAILABLE)
            }
        };
        return ready(response, version);
    };
    // An empty transactional id is malformed, as on Kafka; null means an idempotent producer.
    if transactional_id.is_empty() {
        return ready(response.with_error_code(errors::INVALID_REQUEST), version);
    }
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        let result = api
            .txn
            .init_producer_id(transactional_id.as_str(), request.transaction_timeout_ms, existing)
            .await;
        let response = match result {
            Ok((id, epoch)) => response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
            Err(code) => response.with_error_code(errors::fenced_for_version(code, version, 4)),
        };
        encode_logged(response, version)
    })))
}
