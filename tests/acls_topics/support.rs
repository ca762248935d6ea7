//! Requests the ACL topic tests send, and the codes they expect.

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, FetchRequest, MetadataRequest, MetadataResponse, ProduceRequest, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::acl_support::AclBroker;
use crate::common::protocol::{KafkaConnection, record_batch};

pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const UNKNOWN_TOPIC_ID: i16 = 100;
pub const INVALID_REQUEST: i16 = 42;
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Creates a topic as the super user.
pub fn create_topic(broker: &AclBroker, topic: &str, partitions: i32) {
    let r = broker.admin().call(
        7,
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(
        r.topics[0].error_code, 0,
        "creating {topic}: {:?}",
        r.topics[0].error_message
    );
}

pub fn metadata(conn: &mut KafkaConnection, topics: Option<&[&str]>, auto_create: bool) -> MetadataResponse {
    let topics = topics.map(|ts| {
        ts.iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
            .collect()
    });
    conn.call(
        12,
        &MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(auto_create),
    )
}

pub fn topic_names(r: &MetadataResponse) -> Vec<String> {
    let mut names: Vec<String> = r
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .filter(|n| !n.starts_with("__"))
        .collect();
    names.sort();
    names
}

/// One produce of `records` (a batch) to partition 0 of `topic`; the partition's error code.
pub fn produce_batch(conn: &mut KafkaConnection, topic: &str, records: Bytes, transactional_id: Option<&str>) -> i16 {
    let r = conn.call(
        9,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_transactional_id(transactional_id.map(|t| TransactionalId(text(t))))
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(name(topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(records)),
                    ]),
            ]),
    );
    r.responses[0].partition_responses[0].error_code
}

pub fn produce(conn: &mut KafkaConnection, topic: &str, value: &[u8]) -> i16 {
    produce_batch(conn, topic, record_batch([(None, value)]), None)
}

/// Fetches partition 0 of `topic` from offset 0: the error code and the record values.
pub fn fetch(conn: &mut KafkaConnection, topic: &str) -> (i16, Vec<Vec<u8>>) {
    let r = conn.call(
        12,
        &FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default().with_topic(name(topic)).with_partitions(
                vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ],
            )]),
    );
    let p = &r.responses[0].partitions[0];
    let mut values = Vec::new();
    if let Some(records) = &p.records {
        let mut buf = records.clone();
        if !buf.is_empty() {
            for set in RecordBatchDecoder::decode_all(&mut buf).expect("decode fetched records") {
                values.extend(set.records.into_iter().filter_map(|r| r.value.map(|v| v.to_vec())));
            }
        }
    }
    (p.error_code, values)
}
