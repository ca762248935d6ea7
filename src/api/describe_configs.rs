//! DescribeConfigs: topic configs (overrides over broker defaults) and broker configs (this
//! broker's, or the cluster-wide dynamic defaults), with Kafka's sources, synonyms, types,
//! read-only flags and documentation; and share group configs of a group resource.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::authorize_resource;
use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::config::{
    ConfigType, SOURCE_DEFAULT, SOURCE_DYNAMIC_DEFAULT_BROKER, SOURCE_TOPIC, TOPIC_CONFIGS, TopicConfigDef, broker_def,
    is_dynamic,
};
use crate::metadata::acls::operation as op;
use crate::share::group_configs;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let synonyms = request.include_synonyms;
    let docs = request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let keys: Option<Vec<String>> = resource
                .configuration_keys
                .map(|ks| ks.into_iter().map(|k| k.to_string()).collect());
            let wanted = |name: &str| keys.as_ref().is_none_or(|ks| ks.iter().any(|k| k == name));
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if let Err((code, message)) = authorize_resource(
                ctx,
                op::DESCRIBE_CONFIGS,
                resource.resource_type,
                resource.resource_name.as_str(),
            ) {
                return result
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string));
            }
            match resource.resource_type {
                RESOURCE_TOPIC => match api.topics.get(resource.resource_name.as_str()) {
                    None => result
                        .with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "This server does not host this topic-partition.",
                        ))),
                    Some(topic) => {
                        let broker = api.topics.broker_config();
                        let configs = TOPIC_CONFIGS
                            .iter()
                            .filter(|d| wanted(d.name))
                            .map(|d| {
                                // Kafka's order: the topic override, then the broker synonyms by
                                // source; the value's source is the first of them.
                                let mut all: Vec<(&str, String, i8)> = Vec::new();
                                if let Some(v) = topic.overrides.get(d.name) {
                                    all.push((d.name, v.clone(), SOURCE_TOPIC));
                                }
                                all.extend(broker.synonyms(d));
                                let value = topic.config.get(d.name).to_string();
                                let source = all.first().map_or(SOURCE_DEFAULT, |(_, _, s)| *s);
                                let mut entry = entry(
                                    d.name,
                                    Some(value),
                                    source,
                                    false,
                                    d.ty,
                                    version,
                                    docs.then(|| topic_doc(d)),
                                );
                                if synonyms {
                                    entry.synonyms = all.into_iter().map(|(k, v, s)| synonym(k, Some(v), s)).collect();
                                }
                                entry
                            })
                            .collect();
                        result.with_configs(configs)
                    }
                },
                RESOURCE_BROKER => {
                    let name = resource.resource_name.as_str();
                    if !name.is_empty() && name != api.identity.node_id.to_string() {
                        return result.with_error_code(errors::INVALID_REQUEST).with_error_message(Some(
                            StrBytes::from_string(format!(
                                "Unexpected broker id, expected {} or empty string, but received {name}",
                                api.identity.node_id
                            )),
                        ));
                    }
                    let broker = api.topics.broker_config();
                    // The cluster-wide default resource lists only what is set there.
                    let per_broker = !name.is_empty();
                    let configs = broker
                        .describe()
                        .into_iter()
                        .filter(|(d, _, _)| wanted(d.name))
                        .filter_map(|(d, value, _)| {
                            let mut all = broker.broker_synonyms(d.name);
                            let value = if per_broker {
                                value
                            } else {
                                all.retain(|(_, _, s)| *s == SOURCE_DYNAMIC_DEFAULT_BROKER);
                                Some(all.first()?.1.clone())
                            };
                            let source = all.first().map_or(SOURCE_DEFAULT, |(_, _, s)| *s);
                            let sensitive = d.ty == ConfigType::Password;
                            let value = if sensitive { None } else { value };
                            let mut e = entry(d.name, value, source, sensitive, d.ty, version, docs.then_some(d.doc));
                            // Keys that cannot change without a restart are read-only, as on Kafka.
                            e.read_only = !is_dynamic(d.name);
                            if synonyms {
                                e.synonyms = all
                                    .into_iter()
                                    .map(|(k, v, s)| synonym(k, if sensitive { None } else { Some(v) }, s))
                                    .collect();
                            }
                            Some(e)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                group_configs::RESOURCE_GROUP => {
                    let configs = group_configs::describe(
                        &api.share.partitions.group_configs,
                        resource.resource_name.as_str(),
                        keys.as_deref(),
                    )
                    .into_iter()
                    .map(|(name, value, set, ty)| {
                        let source = if set {
                            group_configs::SOURCE_GROUP
                        } else {
                            SOURCE_DEFAULT
                        };
                        let mut e = entry(name, Some(value.clone()), source, false, ty, version, None);
                        if synonyms {
                            e.synonyms = vec![synonym(name, Some(value), source)];
                        }
                        e
                    })
                    .collect();
                    result.with_configs(configs)
                }
                other => {
                    result
                        .with_error_code(errors::INVALID_REQUEST)
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "Unsupported resource type {other}"
                        ))))
                }
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(
    name: &'static str,
    value: Option<String>,
    source: i8,
    sensitive: bool,
    ty: ConfigType,
    version: i16,
    doc: Option<&'static str>,
) -> DescribeConfigsResourceResult {
    let mut e = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(name))
        .with_value(value.map(StrBytes::from_string))
        .with_config_source(source)
        .with_is_sensitive(sensitive);
    if version >= 3 {
        e.config_type = ty as i8;
        e.documentation = doc.map(StrBytes::from_static_str);
    }
    e
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(value.map(StrBytes::from_string))
        .with_source(source)
}

/// A topic key's documentation: that of the broker key it inherits from, which says what the
/// setting does here.
fn topic_doc(d: &TopicConfigDef) -> &'static str {
    match d.broker_key.and_then(broker_def) {
        Some(broker) if d.effective => broker.doc,
        _ => "Topic config accepted for compatibility with Kafka; it has no effect on this single-node broker.",
    }
}
