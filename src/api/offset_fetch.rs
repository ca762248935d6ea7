//! OffsetFetch: a group's committed offsets, for the requested partitions or all of them
//! (null topics, v2+); several groups per request from v8. A partition without a commit
//! comes back as offset -1 without an error, as on Kafka.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::group::group_metadata::OffsetAndMetadata;
use crate::metadata::acls::operation as op;

/// One partition's answer: offset, leader epoch, metadata, error.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: i16,
}

impl Fetched {
    fn new(partition: i32, committed: Option<OffsetAndMetadata>, error: i16) -> Fetched {
        match committed {
            Some(o) => Fetched {
                partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata,
                error,
            },
            None => Fetched {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error,
            },
        }
    }
}

/// The topics of one group's answer in request order (or name order for "all"), or the
/// group's error. Reading offsets is DESCRIBE on the group; a topic the caller may not
/// DESCRIBE is TOPIC_AUTHORIZATION_FAILED when named (after the others, as Kafka orders it)
/// and left out of "all", so its existence is not disclosed.
fn fetch(
    api: &ApiHandler,
    ctx: &RequestContext<'_>,
    group_id: &str,
    requested: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
    member: Option<(&str, i32)>,
) -> Result<Vec<(String, Vec<Fetched>)>, i16> {
    if !ctx.authorize(op::DESCRIBE, ResourceType::Group, group_id) {
        return Err(errors::GROUP_AUTHORIZATION_FAILED);
    }
    let describable = |topic: &str| ctx.authorize(op::DESCRIBE, ResourceType::Topic, topic);
    let (requested, refused) = match requested {
        None => (None, Vec::new()),
        Some(topics) => {
            let (allowed, refused): (Vec<_>, Vec<_>) = topics.into_iter().partition(|(t, _)| describable(t));
            (Some(allowed), refused)
        }
    };
    let flat: Option<Vec<(String, i32)>> = requested.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect()
    });
    let found = api
        .groups
        .fetch_offsets(group_id, flat.as_deref(), require_stable, member)?;
    let mut out: Vec<(String, Vec<Fetched>)> = Vec::new();
    for ((topic, partition), committed, error) in found {
        if flat.is_none() && !describable(&topic) {
            continue;
        }
        // An unstable partition carries no offset, only the error (KIP-447).
        let fetched = Fetched::new(partition, committed.filter(|_| error == errors::NONE), error);
        match out.last_mut() {
            Some((t, ps)) if *t == topic => ps.push(fetched),
            _ => out.push((topic, vec![fetched])),
        }
    }
    out.extend(refused.into_iter().map(|(topic, partitions)| {
        let fetched = partitions
            .into_iter()
            .map(|p| Fetched::new(p, None, errors::TOPIC_AUTHORIZATION_FAILED))
            .collect();
        (topic, fetched)
    }));
    Ok(out)
}

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|g| {
                // v10 names topics by id (KIP-848); an unknown id gets UNKNOWN_TOPIC_ID.
                let mut unknown_ids = Vec::new();
                let requested = g.topics.map(|ts| {
                    ts.into_iter()
                        .filter_map(|t| {
                            if version < 10 {
                                return Some((t.name.as_str().to_string(), t.partition_indexes));
                            }
                            match api.topics.get_by_id(&t.topic_id) {
                                Some(known) => Some((known.name.clone(), t.partition_indexes)),
                                None => {
                                    unknown_ids.push((t.topic_id, t.partition_indexes));
                                    None
                                }
                            }
                        })
                        .collect()
                });
                let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                // v9+ names the consumer group member asking (KIP-848), checked against its epoch.
                let member = g
                    .member_id
                    .as_ref()
                    .filter(|_| version >= 9)
                    .map(|m| (m.as_str(), g.member_epoch));
                match fetch(api, ctx, g.group_id.as_str(), requested, request.require_stable, member) {
                    Err(code) => group.with_error_code(code),
                    Ok(topics) => group.with_topics(
                        topics
                            .into_iter()
                            .map(|(name, parts)| {
                                let id = api.topics.get(&name).map(|t| t.id).unwrap_or_default();
                                (name, id, parts)
                            })
                            .chain(unknown_ids.into_iter().map(|(id, partitions)| {
                                let parts = partitions
                                    .into_iter()
                                    .map(|p| Fetched::new(p, None, errors::UNKNOWN_TOPIC_ID))
                                    .collect();
                                (String::new(), id, parts)
                            }))
                            .map(|(name, id, parts)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(name))
                                    .with_topic_id(id)
                                    .with_partitions(
                                        parts
                                            .into_iter()
                                            .map(|f| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(f.partition)
                                                    .with_committed_offset(f.offset)
                                                    .with_committed_leader_epoch(f.leader_epoch)
                                                    .with_metadata(Some(StrBytes::from_string(f.metadata)))
                                                    .with_error_code(f.error)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    // v1 has no null: its topic list is always explicit.
    let requested: Option<Vec<(String, Vec<i32>)>> = match request.topics {
        Some(ts) => Some(
            ts.into_iter()
                .map(|t| (t.name.as_str().to_string(), t.partition_indexes))
                .collect(),
        ),
        None if version >= 2 => None,
        None => Some(Vec::new()),
    };
    // require_stable exists from v7.
    let require_stable = version >= 7 && request.require_stable;
    let topics = match fetch(
        api,
        ctx,
        request.group_id.as_str(),
        requested.clone(),
        require_stable,
        None,
    ) {
        Ok(topics) => topics,
        // v2+ carries the group's error at the top; v1 repeats it on every partition.
        Err(code) if version >= 2 => return OffsetFetchResponse::default().with_error_code(code),
        Err(code) => requested
            .unwrap_or_default()
            .into_iter()
            .map(|(t, ps)| (t, ps.into_iter().map(|p| Fetched::new(p, None, code)).collect()))
            .collect(),
    };
    let topics = topics
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|f| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(f.partition)
                                .with_committed_offset(f.offset)
                                .with_committed_leader_epoch(if version >= 5 { f.leader_epoch } else { -1 })
                                .with_metadata(Some(StrBytes::from_string(f.metadata)))
                                .with_error_code(f.error)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

fn topic_name(name: String) -> TopicName {
    TopicName(StrBytes::from_string(name))
}
