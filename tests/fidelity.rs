//! Fidelity checks: exact wire behaviour that clients depend on, checked field by field.
//!
//! Each check runs against a fresh Rivulet, or against any running broker named by
//! `FIDELITY_BOOTSTRAP=host:port` — Apache Kafka 4.1 (`tests/jvm/kafka.sh start-kafka`) is the
//! oracle, and a check that fails there is a wrong check:
//!
//! ```sh
//! FIDELITY_BOOTSTRAP=127.0.0.1:PORT cargo test --test fidelity
//! ```

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

const TOPIC_RESOURCE: i8 = 2;
const INVALID_RECORD: i16 = 87;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Creates `name` through CreateTopics v7 and returns the response's topic entry.
fn create_topic_raw(
    conn: &mut KafkaConnection,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> create_topics_response::CreatableTopicResult {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                .collect(),
        );
    let response = conn.call(
        7,
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000),
    );
    let result = response.topics.into_iter().next().expect("one topic result");
    assert_eq!(result.error_code, 0, "create {name}: {:?}", result.error_message);
    result
}

/// One uncompressed batch of `(key, value)` records with CreateTime now.
fn batch(records: &[(Option<&str>, &str)]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset minus sequence is constant;
            // the batch's base sequence is the first record's, NO_SEQUENCE.
            sequence: NO_SEQUENCE + i as i32,
            timestamp: now,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

fn produce_raw(conn: &mut KafkaConnection, topic: &str, records: Bytes) -> produce_response::PartitionProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = conn.call(9, &request);
    response.responses[0].partition_responses[0].clone()
}

fn fetch_request(topic: &str, session_id: i32, epoch: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

fn fetched_bytes(response: &FetchResponse) -> usize {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum()
}

/// KIP-227: a full fetch (epoch 0) naming an existing session closes it and opens a new one,
/// as Kafka's fetch manager does; the Java consumer and franz-go reset sessions this way.
#[test]
fn full_fetch_naming_a_session_replaces_it() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let topic = target.unique("fetch-session-reset");
    create_topic_raw(&mut conn, &topic, 1, &[]);
    let produced = produce_raw(&mut conn, &topic, batch(&[(Some("k"), "v")]));
    assert_eq!(produced.error_code, 0, "produce");

    let first = conn.call(12, &fetch_request(&topic, 0, 0));
    assert_eq!(first.error_code, 0, "new session");
    assert_ne!(first.session_id, 0, "a session is opened");
    assert!(fetched_bytes(&first) > 0, "the record comes back");

    // The reset: the same session id with epoch 0.
    let reset = conn.call(12, &fetch_request(&topic, first.session_id, 0));
    assert_eq!(
        reset.error_code, 0,
        "a full fetch naming a session is answered normally"
    );
    assert_ne!(reset.session_id, 0, "a new session is opened");
    assert!(fetched_bytes(&reset) > 0, "a full response carries the data");

    // The new session continues incrementally; the old one is gone.
    let next = conn.call(12, &fetch_request(&topic, reset.session_id, 1));
    assert_eq!(next.error_code, 0, "the new session's epoch 1");
    if reset.session_id != first.session_id {
        let old = conn.call(12, &fetch_request(&topic, first.session_id, 1));
        assert_eq!(
            old.error_code, FETCH_SESSION_ID_NOT_FOUND,
            "the replaced session is closed"
        );
    }
}

/// Successful CreateTopics, AlterConfigs and IncrementalAlterConfigs carry a null error
/// message, as Kafka sends them.
#[test]
fn successful_admin_responses_carry_null_messages() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let topic = target.unique("null-messages");
    let created = create_topic_raw(&mut conn, &topic, 1, &[]);
    assert_eq!(created.error_message, None, "CreateTopics success message");

    let altered = conn.call(
        2,
        &AlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s(&topic))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("3600000"))),
                ]),
        ]),
    );
    let r = &altered.responses[0];
    assert_eq!((r.error_code, &r.error_message), (0, &None), "AlterConfigs success");

    let incremental = conn.call(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s(&topic))
                .with_configs(vec![
                    IncrementalConfig::default()
                        .with_name(s("segment.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("7200000"))),
                ]),
        ]),
    );
    let r = &incremental.responses[0];
    assert_eq!(
        (r.error_code, &r.error_message),
        (0, &None),
        "IncrementalAlterConfigs success"
    );
}

/// KIP-467: records without a key on a compacted topic are reported one by one, so clients
/// fail exactly those and retry the rest.
#[test]
fn keyless_records_on_a_compacted_topic_are_listed() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let topic = target.unique("record-errors");
    create_topic_raw(&mut conn, &topic, 1, &[("cleanup.policy", "compact")]);
    let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
    let records: Vec<(Option<&str>, &str)> = (0..100)
        .map(|i| (if i % 10 == 3 { None } else { Some(keys[i].as_str()) }, "value"))
        .collect();
    let response = produce_raw(&mut conn, &topic, batch(&records));
    assert_eq!(response.error_code, INVALID_RECORD);
    let indexes: Vec<i32> = response.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(
        indexes,
        (0..10).map(|i| i * 10 + 3).collect::<Vec<_>>(),
        "bad records listed"
    );
    for e in &response.record_errors {
        let m = e
            .batch_index_error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        assert!(m.contains("Compacted topic cannot accept message without key"), "{m}");
    }
    let message = response.error_message.map(|m| m.to_string()).unwrap_or_default();
    assert!(message.contains("10 record errors"), "summary message: {message}");
}

/// Without an authorizer every operation a resource supports is authorized: Kafka answers a
/// requested authorized-operations field with all of them.
#[test]
fn authorized_operations_without_an_authorizer() {
    const TOPIC_OPERATIONS: i32 =
        (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
    const CLUSTER_OPERATIONS: i32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let topic = target.unique("authorized-operations");
    create_topic_raw(&mut conn, &topic, 1, &[]);

    let metadata = conn.call(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(&topic))),
            ]))
            .with_include_topic_authorized_operations(true),
    );
    assert_eq!(
        metadata.topics[0].topic_authorized_operations, TOPIC_OPERATIONS,
        "topic"
    );
    let not_asked = conn.call(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(&topic))),
        ])),
    );
    assert_eq!(
        not_asked.topics[0].topic_authorized_operations,
        i32::MIN,
        "not requested"
    );

    let cluster = conn.call(
        1,
        &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
    );
    assert_eq!(cluster.cluster_authorized_operations, CLUSTER_OPERATIONS, "cluster");
}

/// Fetch is told apart from a rejected session: the broker still answers the old session id
/// with an error (a client can recover), and a sessionless fetch needs no session at all.
#[test]
fn sessionless_and_unknown_session_fetches() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let topic = target.unique("fetch-sessionless");
    create_topic_raw(&mut conn, &topic, 1, &[]);
    produce_raw(&mut conn, &topic, batch(&[(Some("k"), "v")]));
    let sessionless = conn.call(12, &fetch_request(&topic, 0, -1));
    assert_eq!((sessionless.error_code, sessionless.session_id), (0, 0));
    assert!(fetched_bytes(&sessionless) > 0);
    let unknown = conn.call(12, &fetch_request(&topic, 123_456_789, 3));
    assert_eq!(unknown.error_code, FETCH_SESSION_ID_NOT_FOUND);
    std::thread::sleep(Duration::from_millis(1));
}
