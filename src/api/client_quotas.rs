//! DescribeClientQuotas and AlterClientQuotas: client-quota entities and their values, kept in
//! the metadata log (so `kafka-configs --entity-type users/clients/ips` work and survive
//! restarts), with Kafka's validation and filter semantics.

use std::sync::Arc;

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    alter_client_quotas_response,
};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;
use crate::metadata::client_quotas::{QuotaFilter, validate_entity, validate_value};

pub fn describe(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    // DESCRIBE_CONFIGS on the cluster; a refused caller gets the error and no entries.
    if !ctx.authorize_cluster(op::DESCRIBE_CONFIGS) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(Some(StrBytes::from_static_str(
                errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE,
            )))
            .with_entries(None);
    }
    let components: Vec<(String, i8, Option<String>)> = request
        .components
        .iter()
        .map(|c| {
            (
                c.entity_type.to_string(),
                c.match_type,
                c._match.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    let filter = match QuotaFilter::parse(&components, request.strict) {
        Ok(f) => f,
        Err((unsupported, message)) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(if unsupported {
                    errors::UNSUPPORTED_VERSION
                } else {
                    errors::INVALID_REQUEST
                })
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_entries(None);
        }
    };
    let entries = api
        .topics
        .client_quotas()
        .into_iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, quotas)| {
            EntryData::default()
                .with_entity(
                    entity
                        .into_iter()
                        .map(|(kind, name)| {
                            EntityData::default()
                                .with_entity_type(StrBytes::from_string(kind))
                                .with_entity_name(name.map(StrBytes::from_string))
                        })
                        .collect(),
                )
                .with_values(
                    quotas
                        .into_iter()
                        .map(|(key, value)| {
                            ValueData::default()
                                .with_key(StrBytes::from_string(key))
                                .with_value(value)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default()
        .with_error_message(None)
        .with_entries(Some(entries))
}

pub fn alter(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    // ALTER_CONFIGS on the cluster; a refused caller gets the error on every entry.
    let authorized = ctx.authorize_cluster(op::ALTER_CONFIGS);
    let entries = request
        .entries
        .into_iter()
        .map(|entry| {
            let parts: Vec<(String, Option<String>)> = entry
                .entity
                .iter()
                .map(|e| (e.entity_type.to_string(), e.entity_name.as_ref().map(|n| n.to_string())))
                .collect();
            let invalid = |m: String| (errors::INVALID_REQUEST, m);
            let refused = (
                errors::CLUSTER_AUTHORIZATION_FAILED,
                errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE.to_string(),
            );
            let outcome = if authorized { Ok(()) } else { Err(refused) };
            let outcome = outcome.and_then(|()| {
                validate_entity(&parts).map_err(invalid).and_then(|entity| {
                    let mut changes = Vec::with_capacity(entry.ops.len());
                    for op in &entry.ops {
                        if op.remove {
                            changes.push((op.key.to_string(), None));
                        } else {
                            validate_value(&entity, op.key.as_str(), op.value).map_err(invalid)?;
                            changes.push((op.key.to_string(), Some(op.value)));
                        }
                    }
                    api.topics
                        .alter_client_quotas(entity, &changes, request.validate_only)
                        .map_err(|e| (e.code(), e.to_string()))
                })
            });
            let (code, message) = match outcome {
                Ok(()) => (errors::NONE, None),
                Err((code, m)) => (code, Some(StrBytes::from_string(m))),
            };
            alter_client_quotas_response::EntryData::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(
                    entry
                        .entity
                        .into_iter()
                        .map(|e| {
                            alter_client_quotas_response::EntityData::default()
                                .with_entity_type(e.entity_type)
                                .with_entity_name(e.entity_name)
                        })
                        .collect(),
                )
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
