//! EndTxn: commits or aborts the producer's transaction. The reply comes once the decision
//! is durable and every partition of the transaction holds its marker.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::{ApiHandler, Reply, RequestError, encode_logged, errors};

pub fn handle(api: &Arc<ApiHandler>, request: EndTxnRequest, version: i16) -> Result<Reply, RequestError> {
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        let result = api
            .txn
            .end_txn(
                request.transactional_id.as_str(),
                request.producer_id.0,
                request.producer_epoch,
                request.committed,
            )
            .await;
        let code = match result {
            Ok(()) => errors::NONE,
            Err(code) => errors::fenced_for_version(code, version, 2),
        };
        let response = EndTxnResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        encode_logged(&response, version)
    })))
}
