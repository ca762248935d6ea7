//! Admin operations several tools share: listing topics, describing partitions and configs,
//! in the shapes Kafka's `Admin` client gives the Java tools.

use anyhow::Result;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeTopicPartitionsRequest};
use uuid::Uuid;

use super::client::{Client, sb};
use super::errors::KafkaError;

/// Config resource types of DescribeConfigs and (Incremental)AlterConfigs.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Names Kafka treats as internal topics (`Topic.isInternal`).
pub fn is_internal(topic: &str) -> bool {
    matches!(
        topic,
        "__consumer_offsets" | "__transaction_state" | "__share_group_state"
    )
}

/// A topic id as Java's `Uuid.toString` prints it: URL-safe base64 without padding.
pub fn uuid_string(id: &Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Every topic name, sorted (internal ones included).
pub fn list_topics(client: &mut Client) -> Result<Vec<String>> {
    let response = client.metadata(None)?;
    let mut names: Vec<String> = response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    names.sort();
    Ok(names)
}

/// One partition as DescribeTopicPartitions (or Metadata) describes it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966); `None` from a broker without DescribeTopicPartitions.
    pub elr: Option<Vec<i32>>,
    pub last_known_elr: Option<Vec<i32>>,
}

#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

fn ids(v: &[kafka_protocol::messages::BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

/// Describes `topics` with DescribeTopicPartitions where the broker has it (following its
/// cursor), else with Metadata. Topics answered with an error come back as errors.
pub fn describe_topics(client: &mut Client, topics: &[String]) -> Result<Vec<Result<TopicInfo, (String, KafkaError)>>> {
    let mut out: Vec<Result<TopicInfo, (String, KafkaError)>> = Vec::new();
    if client.any().supports::<DescribeTopicPartitionsRequest>() {
        let mut cursor: Option<Cursor> = None;
        loop {
            let request = DescribeTopicPartitionsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|t| TopicRequest::default().with_name(sb(t).into()))
                        .collect(),
                )
                .with_response_partition_limit(2000)
                .with_cursor(cursor.take());
            let response = client.any().call(&request)?;
            for t in response.topics {
                let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
                if t.error_code != 0 {
                    out.push(Err((name, KafkaError::new(t.error_code, None))));
                    continue;
                }
                let partitions = t.partitions.iter().map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: ids(&p.replica_nodes),
                    isr: ids(&p.isr_nodes),
                    elr: Some(p.eligible_leader_replicas.as_deref().map(ids).unwrap_or_default()),
                    last_known_elr: Some(p.last_known_elr.as_deref().map(ids).unwrap_or_default()),
                });
                // A topic cut by the partition limit continues in the next response.
                match out.iter_mut().find(|o| matches!(o, Ok(i) if i.name == name)) {
                    Some(Ok(info)) => info.partitions.extend(partitions),
                    _ => out.push(Ok(TopicInfo {
                        name,
                        id: t.topic_id,
                        internal: t.is_internal,
                        partitions: partitions.collect(),
                    })),
                }
            }
            match response.next_cursor {
                Some(c) => {
                    cursor = Some(
                        Cursor::default()
                            .with_topic_name(c.topic_name)
                            .with_partition_index(c.partition_index),
                    )
                }
                None => break,
            }
        }
    } else {
        let response = client.metadata(Some(topics))?;
        for t in response.topics {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            if t.error_code != 0 {
                out.push(Err((name, KafkaError::new(t.error_code, None))));
                continue;
            }
            out.push(Ok(TopicInfo {
                name,
                id: t.topic_id,
                internal: t.is_internal,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        replicas: ids(&p.replica_nodes),
                        isr: ids(&p.isr_nodes),
                        elr: None,
                        last_known_elr: None,
                    })
                    .collect(),
            }));
        }
    }
    for info in out.iter_mut().flatten() {
        info.partitions.sort_by_key(|p| p.partition);
    }
    Ok(out)
}

/// A config entry as DescribeConfigs returns it.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub sensitive: bool,
    pub read_only: bool,
    /// (name, value, source), most specific first.
    pub synonyms: Vec<(String, Option<String>, i8)>,
}

/// DescribeConfigs sources.
pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

/// `ConfigEntry.ConfigSource`'s names.
pub fn source_name(source: i8) -> &'static str {
    match source {
        SOURCE_DYNAMIC_TOPIC => "DYNAMIC_TOPIC_CONFIG",
        SOURCE_DYNAMIC_BROKER => "DYNAMIC_BROKER_CONFIG",
        SOURCE_DYNAMIC_DEFAULT_BROKER => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        SOURCE_STATIC_BROKER => "STATIC_BROKER_CONFIG",
        SOURCE_DEFAULT => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The configs of one resource, in the broker's order. Broker resources go to the broker
/// they name (the cluster-wide default, an empty name, to any).
pub fn describe_configs(
    client: &mut Client,
    resource_type: i8,
    name: &str,
    synonyms: bool,
) -> Result<Vec<ConfigEntry>> {
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(sb(name))
                .with_configuration_keys(None),
        ])
        .with_include_synonyms(synonyms);
    let conn = match name.parse::<i32>() {
        Ok(id) if resource_type == RESOURCE_BROKER => client.node(id)?,
        _ => client.any(),
    };
    let response = conn.call(&request)?;
    let Some(result) = response.results.into_iter().next() else {
        anyhow::bail!("DescribeConfigs answered no result for {name}");
    };
    KafkaError::check(result.error_code, result.error_message.as_deref())?;
    Ok(result
        .configs
        .into_iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value.map(|v| v.to_string()),
            source: c.config_source,
            sensitive: c.is_sensitive,
            read_only: c.read_only,
            synonyms: c
                .synonyms
                .into_iter()
                .map(|s| (s.name.to_string(), s.value.map(|v| v.to_string()), s.source))
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_prints_as_java_does() {
        let id = uuid::Uuid::from_bytes([
            0x53, 0x8b, 0x42, 0x8d, 0xdd, 0x4c, 0x46, 0xd8, 0xa7, 0x64, 0xc9, 0x93, 0x3e, 0x5b, 0x71, 0xaa,
        ]);
        assert_eq!(super::uuid_string(&id).len(), 22);
        assert_eq!(super::uuid_string(&uuid::Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
