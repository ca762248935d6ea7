//! EndTxn: commits or aborts the producer's transaction. The reply comes once the decision
//! is durable and every partition of the transaction holds its marker. v5 is transactions v2
//! (KIP-890): the epoch is bumped at every end and the reply carries the producer's next id
//! and epoch.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::{ApiHandler, Reply, RequestError, encode_logged, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: EndTxnRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    if !ctx.authorize(
        op::WRITE,
        ResourceType::TransactionalId,
        request.transactional_id.as_str(),
    ) {
        let refused = EndTxnResponse::default()
            .with_error_code(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        return ready(refused, version);
    }
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        let result = api
            .txn
            .end_txn(
                request.transactional_id.as_str(),
                request.producer_id.0,
                request.producer_epoch,
                request.committed,
                version >= 5,
            )
            .await;
        let response = match result {
            Ok((id, epoch)) => EndTxnResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
            Err(code) => EndTxnResponse::default()
                .with_error_code(errors::fenced_for_version(code, version, 2))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        };
        encode_logged(response, version)
    })))
}
