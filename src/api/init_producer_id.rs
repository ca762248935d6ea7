//! InitProducerId: gives an idempotent producer its id and epoch (see
//! [`ProducerIdManager`](crate::metadata::ProducerIdManager)).
//!
//! Transactions are not served: a request with a transactional id is refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which every client treats as fatal at once (the
//! Java producer's `initTransactions()` throws, librdkafka raises a fatal error) instead of
//! retrying as it would a coordinator error. `transaction_timeout_ms` only matters with a
//! transactional id and is ignored.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{ApiHandler, errors};

pub fn handle(api: &Arc<ApiHandler>, request: InitProducerIdRequest, version: i16) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // An empty transactional id is malformed, as on Kafka; null means an idempotent producer.
    if request.transactional_id.as_ref().is_some_and(|id| id.is_empty()) {
        return response.with_error_code(errors::INVALID_REQUEST);
    }
    if request.transactional_id.is_some() {
        return response.with_error_code(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    let existing = (version >= 3 && request.producer_id.0 >= 0 && request.producer_epoch >= 0)
        .then_some((request.producer_id.0, request.producer_epoch));
    let allocated = match existing {
        Some((id, epoch)) => api.producer_ids.bump(id, epoch),
        None => api.producer_ids.new_producer(),
    };
    match allocated {
        Ok((id, epoch)) => response.with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            // Retriable for every client: it asks again.
            response.with_error_code(errors::COORDINATOR_NOT_AVAILABLE)
        }
    }
}
