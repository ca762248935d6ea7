//! Metadata: this broker, the cluster id, and the requested topics with their partitions,
//! all led by this node. Unknown topics are created here when auto-creation is allowed, as
//! Kafka does, so a producer's first metadata request finds its topic ready.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{Advertised, ApiHandler, errors};
use crate::auth::{OPERATIONS_OMITTED, RequestContext, ResourceType};
use crate::metadata::acls::operation as op;
use crate::metadata::{Topic, TopicError, topics::validate_name};

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    advertised: &Advertised,
    request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let node: BrokerId = api.identity.node_id.into();
    let brokers = vec![
        MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(advertised.host.clone()))
            .with_port(advertised.port as i32),
    ];
    // Before v4 a request could not opt out of auto-creation.
    let allow_auto_create = (version < 4 || request.allow_auto_topic_creation) && api.config.auto_create_topics();
    // Authorized operations exist from v8; the cluster's only until v10 (later versions ask
    // DescribeCluster instead).
    let topic_ops = version >= 8 && request.include_topic_authorized_operations;
    let cluster_ops = (8..=10).contains(&version) && request.include_cluster_authorized_operations;
    let may_describe = |name: &str| ctx.authorize(op::DESCRIBE, ResourceType::Topic, name);
    // Listing every topic leaves out, silently, those the caller may not describe.
    let all = || -> Vec<MetadataResponseTopic> {
        api.topics
            .all()
            .iter()
            .filter(|t| may_describe(&t.name))
            .map(|t| describe(api, t))
            .collect()
    };
    let mut topics: Vec<MetadataResponseTopic> = match request.topics {
        None => all(),
        // v0 has no null: an empty list means every topic.
        Some(list) if list.is_empty() && version == 0 => all(),
        Some(list) => list
            .into_iter()
            // A topic id, when given, names the topic: the Java client sends an empty name
            // beside it (v12+), as Kafka reads it.
            .map(|requested| match requested.name {
                Some(name) if requested.topic_id.is_nil() => {
                    // A named topic the caller may not describe is refused whether or not it
                    // exists, so the answer does not tell.
                    if !may_describe(name.as_str()) {
                        return refused(Some(name), Uuid::nil());
                    }
                    // Creating it on the way needs CREATE on the cluster or on the topic.
                    let creates = allow_auto_create && api.topics.get(name.as_str()).is_none();
                    if creates
                        && !ctx.authorize_cluster(op::CREATE)
                        && !ctx.authorize(op::CREATE, ResourceType::Topic, name.as_str())
                    {
                        return refused(Some(name), Uuid::nil());
                    }
                    lookup_by_name(api, name, allow_auto_create)
                }
                _ => match api.topics.get_by_id(&requested.topic_id) {
                    // Topic ids are not secret: the refusal names the id, not the topic.
                    Some(t) if !may_describe(&t.name) => refused(None, t.id),
                    _ => lookup_by_id(api, requested.topic_id),
                },
            })
            .collect(),
    };
    for t in topics.iter_mut().filter(|t| t.error_code == errors::NONE) {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        t.topic_authorized_operations = ctx.authorized_operations(ResourceType::Topic, &name, topic_ops);
    }
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(api.identity.cluster_id.clone())))
        .with_controller_id(node)
        .with_topics(topics)
        .with_cluster_authorized_operations(super::describe_cluster::cluster_operations(ctx, cluster_ops))
}

/// A topic the caller may not see: TOPIC_AUTHORIZATION_FAILED, with nothing of the topic.
fn refused(name: Option<TopicName>, id: Uuid) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(errors::TOPIC_AUTHORIZATION_FAILED)
        .with_name(name)
        .with_topic_id(id)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

fn lookup_by_name(api: &ApiHandler, name: TopicName, allow_auto_create: bool) -> MetadataResponseTopic {
    let error = |code: i16| {
        MetadataResponseTopic::default()
            .with_error_code(code)
            .with_name(Some(name.clone()))
            .with_topic_authorized_operations(OPERATIONS_OMITTED)
    };
    if validate_name(name.as_str()).is_err() {
        return error(errors::INVALID_TOPIC_EXCEPTION);
    }
    let found = if allow_auto_create {
        // Only a topic that must be created touches the disk; known ones are answered in place.
        api.topics
            .get(name.as_str())
            .map(Ok)
            .unwrap_or_else(|| super::block_in_place(|| api.topics.get_or_auto_create(name.as_str())))
    } else {
        api.topics.get(name.as_str()).ok_or(TopicError::UnknownTopic)
    };
    match found {
        Ok(t) => describe(api, &t),
        Err(e) => error(e.code()),
    }
}

fn lookup_by_id(api: &ApiHandler, id: Uuid) -> MetadataResponseTopic {
    match api.topics.get_by_id(&id) {
        Some(t) => describe(api, &t),
        None => MetadataResponseTopic::default()
            .with_error_code(errors::UNKNOWN_TOPIC_ID)
            .with_topic_id(id)
            .with_topic_authorized_operations(OPERATIONS_OMITTED),
    }
}

fn describe(api: &ApiHandler, topic: &Topic) -> MetadataResponseTopic {
    let node: BrokerId = api.identity.node_id.into();
    let partitions = (0..topic.partitions)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(errors::LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.is_internal())
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}
