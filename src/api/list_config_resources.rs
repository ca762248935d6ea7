//! ListConfigResources (KIP-1142; v0 was ListClientMetricsResources): the resources that have
//! configs, by type. v0 asks for client-metrics subscriptions only, of which this broker has
//! none; v1 names the types wanted, all of them when the list is empty (groups: every group,
//! and group ids with configs set).

use std::sync::Arc;

use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const CLIENT_METRICS: i8 = 16;
const GROUP: i8 = 32;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ListConfigResourcesRequest,
    version: i16,
) -> ListConfigResourcesResponse {
    // DESCRIBE_CONFIGS on the cluster, whatever resource types are asked for.
    if !ctx.authorize_cluster(op::DESCRIBE_CONFIGS) {
        return ListConfigResourcesResponse::default().with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED);
    }
    let types = if version == 0 {
        vec![CLIENT_METRICS]
    } else if request.resource_types.is_empty() {
        vec![TOPIC, BROKER, CLIENT_METRICS, GROUP]
    } else {
        request.resource_types
    };
    if let Some(unsupported) = types
        .iter()
        .find(|t| ![TOPIC, BROKER, CLIENT_METRICS, GROUP].contains(t))
    {
        tracing::debug!(
            resource_type = unsupported,
            "ListConfigResources for an unsupported resource type"
        );
        return ListConfigResourcesResponse::default().with_error_code(errors::UNSUPPORTED_VERSION);
    }
    let mut resources = Vec::new();
    for kind in types {
        let names: Vec<String> = match kind {
            TOPIC => api.topics.all().iter().map(|t| t.name.clone()).collect(),
            BROKER => vec![api.identity.node_id.to_string()],
            // Every group, and any group id with configs set, as on Kafka.
            GROUP => {
                let mut names: Vec<String> = api
                    .groups
                    .list_groups(&[], &[])
                    .unwrap_or_default()
                    .into_iter()
                    .map(|g| g.group_id)
                    .chain(api.share.list().into_iter().map(|(g, _)| g))
                    .chain(api.share.partitions.group_configs.groups())
                    .collect();
                names.sort();
                names.dedup();
                names
            }
            // No client-metrics subscriptions are kept here.
            _ => Vec::new(),
        };
        resources.extend(names.into_iter().map(|name| {
            ConfigResource::default()
                .with_resource_name(StrBytes::from_string(name))
                .with_resource_type(kind)
        }));
    }
    ListConfigResourcesResponse::default().with_config_resources(resources)
}
