//! AlterConfigs (the legacy form): each resource's dynamic configs are replaced by the set in
//! the request. Topics (resource type 2) get new overrides; the broker (type 4) gets new
//! dynamic configs, for this node (name = node id) or as cluster-wide defaults (empty name).
//!
//! Changes are validated, written to the metadata log and applied to every partition before
//! the reply; `validate_only` stops after validation. The resolution of a resource and the
//! mapping of refusals are shared with IncrementalAlterConfigs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::config::DynamicScope;
use crate::metadata::TopicError;
use crate::metadata::acls::operation as op;
use crate::share::group_configs;

pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;
pub(crate) const RESOURCE_BROKER_LOGGER: i8 = 8;
pub(crate) const RESOURCE_CLIENT_METRICS: i8 = 16;

/// What one resource of an alter request names.
pub(crate) enum Target {
    Topic(String),
    Broker(DynamicScope),
}

/// A refused resource: Kafka's error code and message.
pub(crate) type Refusal = (i16, Option<String>);

/// Resolves a resource, refusing types and broker names this broker does not serve.
pub(crate) fn target(api: &ApiHandler, resource_type: i8, name: &str) -> Result<Target, Refusal> {
    match resource_type {
        RESOURCE_TOPIC => Ok(Target::Topic(name.to_string())),
        RESOURCE_BROKER if name.is_empty() => Ok(Target::Broker(DynamicScope::ClusterDefault)),
        RESOURCE_BROKER if name == api.identity.node_id.to_string() => Ok(Target::Broker(DynamicScope::Broker)),
        RESOURCE_BROKER => Err((
            errors::INVALID_REQUEST,
            Some(format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                api.identity.node_id
            )),
        )),
        other => Err((
            errors::INVALID_REQUEST,
            Some(format!("Unsupported resource type {other}")),
        )),
    }
}

/// Whether the caller may apply `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) to a config
/// resource, as Kafka judges it: broker, broker-logger and client-metrics resources on the
/// cluster, topics and groups on themselves. Types Kafka does not know are left to the caller.
pub(crate) fn authorize_resource(
    ctx: &RequestContext<'_>,
    operation: i8,
    resource_type: i8,
    name: &str,
) -> Result<(), Refusal> {
    let (allowed, code, message) = match resource_type {
        RESOURCE_TOPIC => (
            ctx.authorize(operation, ResourceType::Topic, name),
            errors::TOPIC_AUTHORIZATION_FAILED,
            errors::TOPIC_AUTHORIZATION_FAILED_MESSAGE,
        ),
        group_configs::RESOURCE_GROUP => (
            ctx.authorize(operation, ResourceType::Group, name),
            errors::GROUP_AUTHORIZATION_FAILED,
            errors::GROUP_AUTHORIZATION_FAILED_MESSAGE,
        ),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER | RESOURCE_CLIENT_METRICS => (
            ctx.authorize_cluster(operation),
            errors::CLUSTER_AUTHORIZATION_FAILED,
            errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE,
        ),
        _ => return Ok(()),
    };
    if allowed {
        Ok(())
    } else {
        Err((code, Some(message.to_string())))
    }
}

/// Runs one resource's change through the registry.
pub(crate) fn alter(
    api: &ApiHandler,
    target: &Target,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
) -> Result<(), Refusal> {
    let result = match target {
        Target::Topic(name) => api.topics.alter_topic_configs(name, validate_only, change),
        Target::Broker(scope) => api.topics.alter_broker_configs(*scope, validate_only, change),
    };
    result.map_err(|e| {
        tracing::debug!(code = e.code(), message = %e, "config change refused");
        (e.code(), e.message())
    })
}

/// Resources named more than once in one request are all refused, as on Kafka.
pub(crate) fn duplicates<'a>(resources: impl Iterator<Item = (i8, &'a str)>) -> HashMap<(i8, String), usize> {
    let mut seen: HashMap<(i8, String), usize> = HashMap::new();
    for (ty, name) in resources {
        *seen.entry((ty, name.to_string())).or_default() += 1;
    }
    seen.retain(|_, n| *n > 1);
    seen
}

pub fn handle(api: &Arc<ApiHandler>, ctx: &RequestContext<'_>, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let duplicated = duplicates(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let out = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let outcome = if duplicated.contains_key(&(resource.resource_type, resource.resource_name.to_string())) {
                Err((
                    errors::INVALID_REQUEST,
                    Some("Duplicate resource in request".to_string()),
                ))
            } else {
                // The resource is resolved first: a broker id other than this node, or a type
                // the legacy API does not know (broker loggers included), is INVALID_REQUEST
                // before any permission is asked for, as Kafka's broker checks it before the
                // controller authorizes.
                target(api, resource.resource_type, resource.resource_name.as_str())
                    .and_then(|t| {
                        let name = resource.resource_name.as_str();
                        authorize_resource(ctx, op::ALTER_CONFIGS, resource.resource_type, name).map(|()| t)
                    })
                    .and_then(|t| {
                        // The request is the whole new set; a null value leaves the key unset.
                        let configs: BTreeMap<String, String> = resource
                            .configs
                            .iter()
                            .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                            .collect();
                        alter(api, &t, request.validate_only, move |_| Ok(configs))
                    })
            };
            match outcome {
                // Kafka sends a null message with a success (clients test for null).
                Ok(()) => out.with_error_message(None),
                Err((code, message)) => out
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string)),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
