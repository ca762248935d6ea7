//! FindCoordinator: this node coordinates every group and every transactional id, since it
//! leads every partition of `__consumer_offsets` and `__transaction_state`. Batched keys from
//! v4.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Advertised, ApiHandler, errors};
use crate::auth::RequestContext;

/// Kafka's `CoordinatorType`: 0 groups, 1 transactional ids.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    advertised: &Advertised,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let key_type = if version >= 1 { request.key_type } else { KEY_TYPE_GROUP };
    let (error, message) = match key_type {
        KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION => (errors::NONE, None),
        other => (
            errors::INVALID_REQUEST,
            Some(StrBytes::from_string(format!("Unknown coordinator type: {other}"))),
        ),
    };
    // Kafka's Node.noNode() when there is no answer.
    let (node, host, port) = if error == errors::NONE {
        (
            api.identity.node_id,
            StrBytes::from_string(advertised.host.clone()),
            i32::from(advertised.port),
        )
    } else {
        (-1, StrBytes::default(), -1)
    };
    let response = FindCoordinatorResponse::default();
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(host.clone())
                    .with_port(port)
                    .with_error_code(error)
                    .with_error_message(message.clone())
            })
            .collect();
        return response.with_coordinators(coordinators);
    }
    let response = response
        .with_error_code(error)
        .with_node_id(BrokerId(node))
        .with_host(host)
        .with_port(port);
    if version >= 1 {
        response.with_error_message(message)
    } else {
        response
    }
}
