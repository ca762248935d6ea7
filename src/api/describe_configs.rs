//! DescribeConfigs: topic configs (overrides over broker defaults) and broker configs, with
//! Kafka's sources, synonyms, types and documentation.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::config::{ConfigType, SOURCE_TOPIC, TOPIC_CONFIGS};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

pub fn handle(api: &Arc<ApiHandler>, request: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let synonyms = request.include_synonyms;
    let docs = request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let keys: Option<Vec<String>> =
                resource.configuration_keys.map(|ks| ks.into_iter().map(|k| k.to_string()).collect());
            let wanted = |name: &str| keys.as_ref().is_none_or(|ks| ks.iter().any(|k| k == name));
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match resource.resource_type {
                RESOURCE_TOPIC => match api.topics.get(resource.resource_name.as_str()) {
                    None => result
                        .with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION)
                        .with_error_message(Some(StrBytes::from_static_str("This server does not host this topic-partition."))),
                    Some(topic) => {
                        let broker = api.topics.broker_config();
                        let configs = TOPIC_CONFIGS
                            .iter()
                            .filter(|d| wanted(d.name))
                            .map(|d| {
                                let overridden = topic.overrides.get(d.name);
                                let (default_value, default_source) = broker.topic_default(d);
                                let (value, source) = match overridden {
                                    Some(v) => (v.clone(), SOURCE_TOPIC),
                                    None => (default_value, default_source),
                                };
                                let mut entry = entry(d.name, Some(value), source, false, d.ty, version, docs.then_some(""));
                                if synonyms {
                                    if let Some(v) = overridden {
                                        entry.synonyms.push(synonym(d.name, Some(v.clone()), SOURCE_TOPIC));
                                    }
                                    for (k, v, s) in broker.synonyms(d) {
                                        entry.synonyms.push(synonym(k, Some(v), s));
                                    }
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
                        return result
                            .with_error_code(errors::INVALID_REQUEST)
                            .with_error_message(Some(StrBytes::from_string(format!("Unexpected broker id, expected {} or empty string, but received {name}", api.identity.node_id))));
                    }
                    if name.is_empty() {
                        // The cluster-wide dynamic defaults: none are set.
                        return result;
                    }
                    let configs = api
                        .config
                        .describe()
                        .into_iter()
                        .filter(|(d, _, _)| wanted(d.name))
                        .map(|(d, value, source)| {
                            let sensitive = d.ty == ConfigType::Password;
                            let value = if sensitive { None } else { value };
                            let mut e = entry(d.name, value.clone(), source, sensitive, d.ty, version, docs.then_some(d.doc));
                            // Static broker configs change only with a restart.
                            e.read_only = true;
                            if synonyms {
                                e.synonyms.push(synonym(d.name, value, source));
                            }
                            e
                        })
                        .collect();
                    result.with_configs(configs)
                }
                other => result
                    .with_error_code(errors::INVALID_REQUEST)
                    .with_error_message(Some(StrBytes::from_string(format!("Unsupported resource type {other}")))),
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
