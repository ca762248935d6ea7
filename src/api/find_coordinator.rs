//! FindCoordinator: this node coordinates every group and every transactional id, since it
//! leads every partition of `__consumer_offsets` and `__transaction_state`. Batched keys from
//! v4.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Advertised, ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::metadata::acls::operation as op;

/// Kafka's `CoordinatorType`: 0 groups, 1 transactional ids.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
/// Share-group state coordinators (KIP-932), which brokers look up for one another.
const KEY_TYPE_SHARE: i8 = 2;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    advertised: &Advertised,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let key_type = if version >= 1 { request.key_type } else { KEY_TYPE_GROUP };
    let coordinator = Node {
        id: api.identity.node_id,
        host: StrBytes::from_string(advertised.host.clone()),
        port: i32::from(advertised.port),
    };
    let response = FindCoordinatorResponse::default();
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (node, error, message) = match answer(api, ctx, key_type, key.as_str(), version) {
                    Ok(()) => (coordinator.clone(), errors::NONE, None),
                    // A batched key refused for its group or transactional id carries no
                    // message, as on Kafka; a refused share key fails the whole request there,
                    // which answers every key with the error's message.
                    Err((error, message)) => (Node::none(), error, message.filter(|_| !is_key_refusal(error))),
                };
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node.id))
                    .with_host(node.host)
                    .with_port(node.port)
                    .with_error_code(error)
                    .with_error_message(message)
            })
            .collect();
        return response.with_coordinators(coordinators);
    }
    let (node, error, message) = match answer(api, ctx, key_type, request.key.as_str(), version) {
        Ok(()) => (coordinator, errors::NONE, None),
        Err((error, message)) => (Node::none(), error, message),
    };
    let response = response
        .with_error_code(error)
        .with_node_id(BrokerId(node.id))
        .with_host(node.host)
        .with_port(node.port);
    if version >= 1 {
        response.with_error_message(message)
    } else {
        response
    }
}

/// Kafka's `Node`, or its `Node.noNode()` when there is no answer.
#[derive(Clone)]
struct Node {
    id: i32,
    host: StrBytes,
    port: i32,
}

impl Node {
    fn none() -> Node {
        Node {
            id: -1,
            host: StrBytes::default(),
            port: -1,
        }
    }
}

fn is_key_refusal(error: i16) -> bool {
    matches!(
        error,
        errors::GROUP_AUTHORIZATION_FAILED | errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    )
}

/// Whether this node answers for `key`, or the error and message the client gets instead.
/// Knowing where a group or transactional id lives is itself DESCRIBE on it, so a caller
/// without that learns nothing about the key. The first group asked for creates
/// `__consumer_offsets`, as on Kafka.
fn answer(
    api: &ApiHandler,
    ctx: &RequestContext<'_>,
    key_type: i8,
    key: &str,
    version: i16,
) -> Result<(), (i16, Option<StrBytes>)> {
    let refused = |error: i16, message: &'static str| Err((error, Some(StrBytes::from_static_str(message))));
    match key_type {
        KEY_TYPE_GROUP if !ctx.authorize(op::DESCRIBE, ResourceType::Group, key) => {
            refused(errors::GROUP_AUTHORIZATION_FAILED, "Group authorization failed.")
        }
        KEY_TYPE_TRANSACTION if !ctx.authorize(op::DESCRIBE, ResourceType::TransactionalId, key) => refused(
            errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            "Transactional Id authorization failed.",
        ),
        KEY_TYPE_GROUP => super::block_in_place(|| api.groups.ensure_offsets_topic()).map_err(|code| (code, None)),
        KEY_TYPE_TRANSACTION => Ok(()),
        // Share coordinator keys are for brokers, which must hold CLUSTER_ACTION; this node
        // serves no share coordinator to other brokers, so an authorized caller still gets
        // INVALID_REQUEST.
        KEY_TYPE_SHARE if version >= 6 && !ctx.authorize_cluster(op::CLUSTER_ACTION) => {
            refused(errors::CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")
        }
        other => Err((
            errors::INVALID_REQUEST,
            Some(StrBytes::from_string(format!("Unknown coordinator type: {other}"))),
        )),
    }
}
