//! The registry's state as metadata-log records: replaying a record into it, and writing
//! it out as the records a compacted log keeps.

use std::sync::Arc;

use uuid::Uuid;

use super::{Registry, Topic};
use crate::config::{BrokerConfig, DynamicScope, TopicConfig, validate_dynamic};
use crate::metadata::metadata_log::MetadataRecord;

/// Replays one metadata-log record into the registry (Kafka's `MetadataDelta` applied to
/// the image).
pub(super) fn apply(broker: &mut BrokerConfig, state: &mut Registry, record: MetadataRecord) {
    match record {
        MetadataRecord::CreateTopic {
            name,
            id,
            partitions,
            configs,
        } => {
            let Ok(id) = Uuid::parse_str(&id) else {
                tracing::warn!(topic = %name, "metadata log holds a malformed topic id; topic skipped");
                return;
            };
            let config = TopicConfig::resolve(broker, &configs);
            state.by_id.insert(id, name.clone());
            state.by_name.insert(
                name.clone(),
                Arc::new(Topic {
                    name,
                    id,
                    partitions,
                    overrides: configs,
                    config,
                }),
            );
        }
        MetadataRecord::DeleteTopic { name, .. } => {
            if let Some(t) = state.by_name.remove(&name) {
                state.by_id.remove(&t.id);
            }
        }
        MetadataRecord::CreatePartitions { name, count } => {
            if let Some(t) = state.by_name.get_mut(&name) {
                Arc::make_mut(t).partitions = count;
            }
        }
        MetadataRecord::AlterTopicConfigs { name, configs } => {
            if let Some(t) = state.by_name.get_mut(&name) {
                let t = Arc::make_mut(t);
                t.config = TopicConfig::resolve(broker, &configs);
                t.overrides = configs;
            }
        }
        MetadataRecord::AlterClientQuotas { entity, quotas } => {
            if quotas.is_empty() {
                state.quotas.remove(&entity);
            } else {
                state.quotas.insert(entity, quotas);
            }
        }
        record @ (MetadataRecord::UserScramCredential { .. } | MetadataRecord::RemoveUserScramCredential { .. }) => {
            crate::metadata::scram_credentials::apply(&mut state.scram, record);
        }
        record @ (MetadataRecord::AccessControlEntry { .. } | MetadataRecord::RemoveAccessControlEntry { .. }) => {
            crate::metadata::acls::apply(&mut state.acls, record);
        }
        MetadataRecord::AlterBrokerConfigs { resource, configs } => {
            let scope = if resource.is_empty() {
                DynamicScope::ClusterDefault
            } else if resource == broker.node_id().to_string() {
                DynamicScope::Broker
            } else {
                tracing::warn!(%resource, "metadata log holds dynamic configs of another broker; ignored");
                return;
            };
            let configs = configs
                .into_iter()
                .filter_map(|(k, v)| match validate_dynamic(&k, &v) {
                    Ok(v) => Some((k, v)),
                    Err(e) => {
                        tracing::warn!(key = %k, error = %e, "dropping a stored dynamic broker config");
                        None
                    }
                })
                .collect();
            broker.set_dynamic(scope, configs);
        }
    }
}

/// The registry as the records that rebuild it: what a compacted metadata log keeps (Kafka's
/// image written as a snapshot).
pub(super) fn snapshot(broker: &BrokerConfig, state: &Registry) -> Vec<MetadataRecord> {
    let mut records: Vec<MetadataRecord> = [
        (DynamicScope::ClusterDefault, String::new()),
        (DynamicScope::Broker, broker.node_id().to_string()),
    ]
    .into_iter()
    .filter(|(scope, _)| !broker.dynamic(*scope).is_empty())
    .map(|(scope, resource)| MetadataRecord::AlterBrokerConfigs {
        resource,
        configs: broker.dynamic(scope).clone(),
    })
    .collect();
    records.extend(
        state
            .quotas
            .iter()
            .map(|(entity, quotas)| MetadataRecord::AlterClientQuotas {
                entity: entity.clone(),
                quotas: quotas.clone(),
            }),
    );
    records.extend(crate::metadata::scram_credentials::snapshot(&state.scram));
    records.extend(crate::metadata::acls::snapshot(&state.acls));
    records.extend(state.by_name.values().map(|t| MetadataRecord::CreateTopic {
        name: t.name.clone(),
        id: t.id.to_string(),
        partitions: t.partitions,
        configs: t.overrides.clone(),
    }));
    records
}
