//! AddOffsetsToTxn: a transactional producer announces offsets for a consumer group, which
//! adds the group's `__consumer_offsets` partition to its transaction; TxnOffsetCommit then
//! writes the offsets there.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::{ApiHandler, Reply, RequestError, encode_logged, errors, ready};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: AddOffsetsToTxnRequest,
    version: i16,
) -> Result<Reply, RequestError> {
    // WRITE on the transactional id, then READ on the group whose offsets it will commit.
    let refused = if !ctx.authorize(
        op::WRITE,
        ResourceType::TransactionalId,
        request.transactional_id.as_str(),
    ) {
        Some(errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !ctx.authorize(op::READ, ResourceType::Group, request.group_id.as_str()) {
        Some(errors::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    if let Some(code) = refused {
        return ready(AddOffsetsToTxnResponse::default().with_error_code(code), version);
    }
    if request.group_id.is_empty() {
        let response = AddOffsetsToTxnResponse::default().with_error_code(errors::INVALID_GROUP_ID);
        return ready(response, version);
    }
    let api = api.clone();
    Ok(Reply::Deferred(Box::pin(async move {
        let partition = api.txn.offsets_partition(request.group_id.as_str());
        let result = api
            .txn
            .add_partitions(
                request.transactional_id.as_str(),
                request.producer_id.0,
                request.producer_epoch,
                &[partition],
            )
            .await;
        let code = match result {
            Ok(()) => errors::NONE,
            Err(code) => errors::fenced_for_version(code, version, 2),
        };
        encode_logged(AddOffsetsToTxnResponse::default().with_error_code(code), version)
    })))
}
