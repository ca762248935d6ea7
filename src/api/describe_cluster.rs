//! DescribeCluster: this broker, the cluster id, and this node as controller.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Advertised, ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};

const ENDPOINT_BROKERS: i8 = 1;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    advertised: &Advertised,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(StrBytes::from_string(api.identity.cluster_id.clone()))
        .with_controller_id(api.identity.node_id.into())
        .with_cluster_authorized_operations(cluster_operations(ctx, request.include_cluster_authorized_operations));
    // A broker listener only answers for brokers; controllers are asked on their own listener.
    if request.endpoint_type != ENDPOINT_BROKERS {
        return response
            .with_error_code(errors::MISMATCHED_ENDPOINT_TYPE)
            .with_error_message(Some(StrBytes::from_static_str(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            )));
    }
    response.with_brokers(vec![
        DescribeClusterBroker::default()
            .with_broker_id(api.identity.node_id.into())
            .with_host(StrBytes::from_string(advertised.host.clone()))
            .with_port(advertised.port as i32),
    ])
}

/// The cluster's authorized operations: DescribeCluster itself needs no permission, but the
/// operations are told only to a caller that may describe the cluster (0 to others).
pub(super) fn cluster_operations(ctx: &RequestContext<'_>, requested: bool) -> i32 {
    if requested && !ctx.authorize_cluster(crate::metadata::acls::operation::DESCRIBE) {
        return 0;
    }
    ctx.authorized_operations(ResourceType::Cluster, crate::metadata::acls::CLUSTER_NAME, requested)
}
