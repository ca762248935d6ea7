//! IncrementalAlterConfigs: edits a resource's dynamic configs key by key with Kafka's four
//! operations: SET (0), DELETE (1, back to the inherited value), APPEND (2) and SUBTRACT (3)
//! on list-typed keys. Validation, persistence and resource naming are AlterConfigs'; group
//! resources (share group configs) are `share::group_configs`'.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::{RESOURCE_BROKER_LOGGER, Target, alter, authorize_resource, duplicates, target};
use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::config::{ConfigType, broker_def, topic_def};
use crate::metadata::TopicError;
use crate::metadata::acls::operation as op;
use crate::share::group_configs;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
            let mut names = HashSet::new();
            let outcome = if duplicated.contains_key(&(resource.resource_type, resource.resource_name.to_string())) {
                Err((
                    errors::INVALID_REQUEST,
                    Some("Duplicate resource in request".to_string()),
                ))
            } else if !resource.configs.iter().all(|c| names.insert(c.name.as_str())) {
                Err((
                    errors::INVALID_REQUEST,
                    Some("Error due to duplicate config keys".to_string()),
                ))
            } else if let Err(refusal) = resolvable(api, resource.resource_type, resource.resource_name.as_str()) {
                Err(refusal)
            } else if let Err(refusal) = authorize_resource(
                ctx,
                op::ALTER_CONFIGS,
                resource.resource_type,
                resource.resource_name.as_str(),
            ) {
                Err(refusal)
            } else if resource.resource_type == group_configs::RESOURCE_GROUP {
                let ops: Vec<_> = resource
                    .configs
                    .iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            c.config_operation,
                            c.value.as_ref().map(|v| v.to_string()),
                        )
                    })
                    .collect();
                let configs = &api.share.partitions.group_configs;
                configs.alter(resource.resource_name.as_str(), &ops, request.validate_only)
            } else {
                target(api, resource.resource_type, resource.resource_name.as_str()).and_then(|t| {
                    let ops = resource.configs;
                    let is_topic = matches!(t, Target::Topic(_));
                    alter(api, &t, request.validate_only, move |current| {
                        apply_ops(current, &ops, is_topic)
                    })
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Refuses a broker id other than this node, or a type not served here, before permissions
/// are asked for, as Kafka's broker does before the controller authorizes. Groups, and broker
/// loggers (whose permission Kafka asks first), are judged before they are resolved.
fn resolvable(api: &ApiHandler, resource_type: i8, name: &str) -> Result<(), (i16, Option<String>)> {
    if resource_type == group_configs::RESOURCE_GROUP || resource_type == RESOURCE_BROKER_LOGGER {
        return Ok(());
    }
    target(api, resource_type, name).map(|_| ())
}

/// The new set of dynamic configs after `ops`, as Kafka's `prepareIncrementalConfigs`.
fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[AlterableConfig],
    is_topic: bool,
) -> Result<BTreeMap<String, String>, TopicError> {
    let mut configs = current.clone();
    for op in ops {
        let name = op.name.to_string();
        match op.config_operation {
            SET => match &op.value {
                Some(v) => {
                    configs.insert(name, v.to_string());
                }
                None => {
                    return Err(TopicError::InvalidRequest(format!(
                        "Null value not supported for : {name}"
                    )));
                }
            },
            DELETE => {
                configs.remove(&name);
            }
            APPEND | SUBTRACT => {
                // Only list-typed keys; the starting point is the resource's own value, else the
                // key's default.
                let (ty, default) = if is_topic {
                    let d = topic_def(&name)
                        .ok_or_else(|| TopicError::InvalidConfig(format!("Unknown topic config name: {name}")))?;
                    (d.ty, d.default)
                } else {
                    let d = broker_def(&name)
                        .ok_or_else(|| TopicError::InvalidRequest(format!("Unknown broker config: {name}")))?;
                    (d.ty, d.default)
                };
                let verb = if op.config_operation == APPEND {
                    "append"
                } else {
                    "subtract"
                };
                if ty != ConfigType::List {
                    return Err(TopicError::InvalidConfig(format!(
                        "Config value {verb} is not allowed for config key: {name}"
                    )));
                }
                let split = |s: &str| -> Vec<String> {
                    s.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                };
                let old = split(configs.get(&name).map(String::as_str).or(default).unwrap_or(""));
                let given = split(op.value.as_ref().map(|v| v.as_str()).unwrap_or(""));
                let new: Vec<String> = if op.config_operation == APPEND {
                    let mut all = old;
                    for item in given {
                        if !all.contains(&item) {
                            all.push(item);
                        }
                    }
                    all
                } else {
                    old.into_iter().filter(|item| !given.contains(item)).collect()
                };
                configs.insert(name, new.join(","));
            }
            other => {
                return Err(TopicError::InvalidRequest(format!(
                    "Unknown alter config operation type {other}"
                )));
            }
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_config_operation(operation)
            .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
    }

    #[test]
    fn operations() {
        let mut current = BTreeMap::new();
        current.insert("retention.ms".to_string(), "1000".to_string());
        let out = apply_ops(
            &current,
            &[
                op("segment.bytes", SET, Some("2048")),
                op("retention.ms", DELETE, None),
                op("cleanup.policy", APPEND, Some("compact")),
            ],
            true,
        )
        .unwrap();
        assert_eq!(out.get("segment.bytes").map(String::as_str), Some("2048"));
        assert!(!out.contains_key("retention.ms"));
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("delete,compact"));
        let out = apply_ops(&out, &[op("cleanup.policy", SUBTRACT, Some("delete"))], true).unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("compact"));
        let out = apply_ops(&out, &[op("cleanup.policy", APPEND, Some("compact"))], true).unwrap();
        assert_eq!(out.get("cleanup.policy").map(String::as_str), Some("compact"));

        let err = apply_ops(&out, &[op("retention.ms", APPEND, Some("1"))], true).unwrap_err();
        assert_eq!(err.code(), 40);
        assert!(err.to_string().contains("retention.ms"));
        assert_eq!(apply_ops(&out, &[op("x", 9, None)], true).unwrap_err().code(), 42);
        assert_eq!(apply_ops(&out, &[op("x", SET, None)], true).unwrap_err().code(), 42);
        assert_eq!(
            apply_ops(&out, &[op("nope", APPEND, Some("a"))], true)
                .unwrap_err()
                .code(),
            40
        );
        let out = apply_ops(
            &BTreeMap::new(),
            &[op("log.cleanup.policy", APPEND, Some("compact"))],
            false,
        )
        .unwrap();
        assert_eq!(
            out.get("log.cleanup.policy").map(String::as_str),
            Some("delete,compact")
        );
    }
}
