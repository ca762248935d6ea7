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
use common::protocol::{KafkaConnection, record_batch};
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

const TOPIC_RESOURCE: i8 = 2;
const INVALID_RECORD: i16 = 87;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

/// The broker a check runs against, a connection to it, and a name unique to the check.
fn check_setup(prefix: &str) -> (Target, KafkaConnection, String) {
    let target = Target::start(&[]);
    let conn = KafkaConnection::connect(&target.bootstrap);
    let name = target.unique(prefix);
    (target, conn, name)
}

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
    // Kafka's brokers learn of a new topic from the controller a moment later: wait until
    // every partition has a leader, as a client would.
    wait_for(Duration::from_secs(15), "the new topic's leaders", || {
        let metadata = conn.call(
            12,
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(name))),
            ])),
        );
        let t = &metadata.topics[0];
        (t.error_code == 0
            && t.partitions.len() == partitions as usize
            && t.partitions.iter().all(|p| p.leader_id.0 >= 0))
        .then_some(())
    });
    result
}

/// One uncompressed batch of `(key, value)` records with CreateTime now.
fn batch(records: &[(Option<&str>, &str)]) -> Bytes {
    record_batch(records.iter().map(|(k, v)| (k.map(str::as_bytes), v.as_bytes())))
}

fn produce_raw(conn: &mut KafkaConnection, topic: &str, records: Bytes) -> produce_response::PartitionProduceResponse {
    // A new topic on Kafka may answer NOT_LEADER_OR_FOLLOWER for a moment: retry, as clients do.
    wait_for(
        Duration::from_secs(15),
        "a produce answer that is not retriable",
        || {
            let p = produce_raw_to(conn, topic, 0, records.clone());
            (p.error_code != 6).then_some(p)
        },
    )
}

fn produce_raw_to(
    conn: &mut KafkaConnection,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
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
    let (_broker, mut conn, topic) = check_setup("fetch-session-reset");
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

/// A request pipelined behind a long-polling incremental fetch closes its session (epoch -1,
/// as the Java consumer does when it closes); the long poll's answer still carries only what
/// changed, here nothing. Kafka reads a connection's next request only after answering the
/// one before, so the close cannot overtake it there.
#[test]
fn a_session_closed_behind_a_long_poll_still_answers_incrementally() {
    let (_broker, mut conn, topic) = check_setup("fetch-session-close");
    create_topic_raw(&mut conn, &topic, 1, &[]);
    let produced = produce_raw(&mut conn, &topic, batch(&[(Some("k"), "v")]));
    assert_eq!(produced.error_code, 0, "produce");
    let full = conn.call(12, &fetch_request(&topic, 0, 0));
    assert_ne!(full.session_id, 0, "a session is opened");
    assert!(fetched_bytes(&full) > 0, "the record comes back");

    // Epoch 1 from the log end: nothing new, so the broker waits max_wait_ms.
    let mut poll = fetch_request(&topic, full.session_id, 1).with_max_wait_ms(500);
    poll.topics[0].partitions[0].fetch_offset = 1;
    let close = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_session_id(full.session_id)
        .with_session_epoch(-1);
    let poll_id = conn.send(12, &poll).expect("send the long poll");
    let close_id = conn.send(12, &close).expect("send the close");
    let polled = conn.receive::<FetchRequest>(12, poll_id).expect("long poll answer");
    assert_eq!(polled.error_code, 0, "long poll");
    assert_eq!(
        polled.session_id, full.session_id,
        "the long poll answers in its session"
    );
    let partitions: Vec<_> = polled
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect();
    assert!(
        partitions.is_empty(),
        "an incremental answer carries no unchanged partition, got {partitions:?}"
    );
    let closed = conn.receive::<FetchRequest>(12, close_id).expect("close answer");
    assert_eq!(
        (closed.error_code, closed.session_id),
        (0, 0),
        "the close is sessionless"
    );
}

/// KIP-227's rotation: after an incremental response, the partitions that returned records
/// move to the end of the session's order, so a response too small for every partition does
/// not always serve the same one.
#[test]
fn a_fetch_session_rotates_partitions_that_returned_records() {
    let (_broker, mut conn, topic) = check_setup("fetch-rotation");
    create_topic_raw(&mut conn, &topic, 2, &[]);
    let produced = produce_raw(&mut conn, &topic, batch(&[(Some("k"), "p0-a")]));
    assert_eq!(produced.error_code, 0, "produce");
    for (partition, value) in [(0, "p0-b"), (0, "p0-c"), (1, "p1-a")] {
        let p = produce_raw_to(&mut conn, &topic, partition, batch(&[(Some("k"), value)]));
        assert_eq!(p.error_code, 0, "produce to {partition}");
    }
    // fetch.max.bytes of 1: each response carries the first batch it finds, and only that.
    let fetch = |session_id: i32, epoch: i32, offsets: &[(i32, i64)]| {
        let mut request = fetch_request(&topic, session_id, epoch).with_max_bytes(1);
        request.topics[0].partitions = offsets
            .iter()
            .map(|&(partition, offset)| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)
            })
            .collect();
        request
    };
    let served = |response: &FetchResponse| -> Vec<i32> {
        response
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.records.as_ref().is_some_and(|r| !r.is_empty()))
            .map(|p| p.partition_index)
            .collect()
    };
    let full = conn.call(12, &fetch(0, 0, &[(0, 0), (1, 0)]));
    assert_ne!(full.session_id, 0, "a session is opened");
    assert_eq!(served(&full), vec![0], "the full fetch reads partition 0 first");
    // Incremental: partition 0 moves on; the session reads it first still (a full response
    // does not rotate) and it has more.
    let first = conn.call(12, &fetch(full.session_id, 1, &[(0, 1)]));
    assert_eq!(served(&first), vec![0], "epoch 1 serves partition 0 again");
    // Partition 0 returned records in an incremental response: partition 1 now comes first.
    let second = conn.call(12, &fetch(full.session_id, 2, &[(0, 2)]));
    assert_eq!(
        served(&second),
        vec![1],
        "epoch 2 serves partition 1, not partition 0 a third time"
    );
}

/// A produce answer is not held back by a fetch long-poll pipelined behind it on the same
/// connection: Kafka answers the produce before it even reads the fetch.
#[test]
fn a_produce_answer_does_not_wait_for_a_long_poll_behind_it() {
    let (_broker, mut conn, topic) = check_setup("produce-before-poll");
    create_topic_raw(&mut conn, &topic, 2, &[]);
    let produced = produce_raw(&mut conn, &topic, batch(&[(Some("k"), "warm-up")]));
    assert_eq!(produced.error_code, 0, "produce");

    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(&topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(&[(Some("k"), "v")]))),
                ]),
        ]);
    // Partition 1 stays empty: this fetch waits its whole max_wait_ms.
    let mut poll = fetch_request(&topic, 0, -1).with_max_wait_ms(20_000);
    poll.topics[0].partitions[0].partition = 1;
    let started = std::time::Instant::now();
    let produce_id = conn.send(9, &produce).expect("send the produce");
    conn.send(12, &poll).expect("send the long poll");
    let answer = conn.receive::<ProduceRequest>(9, produce_id).expect("produce answer");
    let waited = started.elapsed();
    assert_eq!(answer.responses[0].partition_responses[0].error_code, 0);
    assert!(
        waited < Duration::from_secs(10),
        "the produce answer waited {waited:?}, as long as the fetch behind it"
    );
}

/// Successful CreateTopics, AlterConfigs and IncrementalAlterConfigs carry a null error
/// message, as Kafka sends them.
#[test]
fn successful_admin_responses_carry_null_messages() {
    let (_broker, mut conn, topic) = check_setup("null-messages");
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
    let (_broker, mut conn, topic) = check_setup("record-errors");
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
    let (_broker, mut conn, topic) = check_setup("authorized-operations");
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
    let (_broker, mut conn, topic) = check_setup("fetch-sessionless");
    create_topic_raw(&mut conn, &topic, 1, &[]);
    produce_raw(&mut conn, &topic, batch(&[(Some("k"), "v")]));
    let sessionless = conn.call(12, &fetch_request(&topic, 0, -1));
    assert_eq!((sessionless.error_code, sessionless.session_id), (0, 0));
    assert!(fetched_bytes(&sessionless) > 0);
    let unknown = conn.call(12, &fetch_request(&topic, 123_456_789, 3));
    assert_eq!(unknown.error_code, FETCH_SESSION_ID_NOT_FOUND);
}

// ---- admin APIs a single-node Kafka without an authorizer answers ------------------------

const TOPIC_OPERATIONS: i32 = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// DescribeTopicPartitions pages through partitions with a cursor, sorted by topic name.
#[test]
fn describe_topic_partitions_pages_with_a_cursor() {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    let (target, mut conn, topic) = check_setup("dtp");
    create_topic_raw(&mut conn, &topic, 5, &[]);
    let missing = target.unique("dtp-missing");
    let request = |cursor: Option<Cursor>| {
        DescribeTopicPartitionsRequest::default()
            .with_topics(vec![
                TopicRequest::default().with_name(topic_name(&topic)),
                TopicRequest::default().with_name(topic_name(&missing)),
            ])
            .with_response_partition_limit(2)
            .with_cursor(cursor)
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let response = conn.call(0, &request(cursor.take()));
        for t in &response.topics {
            let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            if name == missing {
                assert_eq!(t.error_code, 3, "unknown topic");
                continue;
            }
            assert_eq!(t.error_code, 0);
            assert_eq!(t.topic_authorized_operations, TOPIC_OPERATIONS);
            for p in &t.partitions {
                assert_eq!(p.replica_nodes, p.isr_nodes);
                assert_eq!(p.replica_nodes, vec![p.leader_id]);
                seen.push(p.partition_index);
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
    assert_eq!(seen, vec![0, 1, 2, 3, 4], "every partition once, in order");
}

/// DescribeQuorum: one voter, which leads.
#[test]
fn describe_quorum_has_one_voter_that_leads() {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let response = conn.call(
        2,
        &DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(topic_name("__cluster_metadata"))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ]),
    );
    assert_eq!(response.error_code, 0);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.current_voters.len(), 1, "one voter");
    assert_eq!(p.current_voters[0].replica_id, p.leader_id, "the voter leads");
    assert!(p.observers.is_empty());
    assert!(p.high_watermark >= 0);
    assert_eq!(response.nodes.len(), 1);
}

/// Without an authorizer the ACL APIs answer SECURITY_DISABLED.
#[test]
fn acl_apis_without_an_authorizer() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    const SECURITY_DISABLED: i16 = 54;
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let describe = conn.call(
        3,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(describe.error_code, SECURITY_DISABLED);
    let create = conn.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![
            AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_resource_pattern_type(3)
                .with_principal(s("User:alice"))
                .with_host(s("*"))
                .with_operation(3)
                .with_permission_type(3),
        ]),
    );
    assert_eq!(create.results[0].error_code, SECURITY_DISABLED);
}

/// Client quotas are stored and described with Kafka's filter semantics and validation.
#[test]
fn client_quotas_are_stored_and_described() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    let (_broker, mut conn, user) = check_setup("quota-user");
    let alter = |conn: &mut KafkaConnection, ops: Vec<OpData>| {
        let response = conn.call(
            1,
            &AlterClientQuotasRequest::default().with_entries(vec![
                EntryData::default()
                    .with_entity(vec![
                        EntityData::default()
                            .with_entity_type(s("user"))
                            .with_entity_name(Some(s(&user))),
                    ])
                    .with_ops(ops),
            ]),
        );
        let e = &response.entries[0];
        (e.error_code, e.error_message.as_ref().map(|m| m.to_string()))
    };
    let set = |k: &str, v: f64| OpData::default().with_key(s(k)).with_value(v);
    assert_eq!(
        alter(
            &mut conn,
            vec![set("producer_byte_rate", 1024.0), set("request_percentage", 12.5)]
        ),
        (0, None)
    );
    let (code, _) = alter(&mut conn, vec![set("no_such_quota", 1.0)]);
    assert_eq!(code, 42, "unknown key: INVALID_REQUEST");
    let (code, _) = alter(&mut conn, vec![set("producer_byte_rate", 10.5)]);
    assert_eq!(code, 42, "fractional byte rate: INVALID_REQUEST");

    let describe = |conn: &mut KafkaConnection| {
        conn.call(
            1,
            &DescribeClientQuotasRequest::default()
                .with_components(vec![
                    ComponentData::default()
                        .with_entity_type(s("user"))
                        .with_match_type(0)
                        .with_match(Some(s(&user))),
                ])
                .with_strict(true),
        )
    };
    // Kafka's brokers see a quota change once the controller's record reaches them.
    let entries = wait_for(Duration::from_secs(15), "the quotas described", || {
        let described = describe(&mut conn);
        assert_eq!(described.error_code, 0);
        let entries = described.entries.expect("entries");
        (entries.len() == 1 && entries[0].values.len() == 2).then_some(entries)
    });
    let mut values: Vec<(String, f64)> = entries[0].values.iter().map(|v| (v.key.to_string(), v.value)).collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        values,
        vec![
            ("producer_byte_rate".into(), 1024.0),
            ("request_percentage".into(), 12.5)
        ]
    );

    let remove = |k: &str| OpData::default().with_key(s(k)).with_remove(true);
    assert_eq!(
        alter(
            &mut conn,
            vec![remove("producer_byte_rate"), remove("request_percentage")]
        ),
        (0, None)
    );
    wait_for(Duration::from_secs(15), "the quotas removed", || {
        (describe(&mut conn).entries.map(|e| e.len()) == Some(0)).then_some(())
    });
}

/// ElectLeaders: the only replica already leads; reassignments have nowhere to go.
#[test]
fn elections_and_reassignments_on_one_node() {
    use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    let (_broker, mut conn, topic) = check_setup("elect");
    create_topic_raw(&mut conn, &topic, 2, &[]);
    let elect = conn.call(
        2,
        &ElectLeadersRequest::default()
            .with_election_type(0)
            .with_timeout_ms(10_000)
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic(topic_name(&topic))
                    .with_partitions(vec![0, 7]),
            ])),
    );
    assert_eq!(elect.error_code, 0);
    let codes: Vec<(i32, i16)> = elect.replica_election_results[0]
        .partition_result
        .iter()
        .map(|p| (p.partition_id, p.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![(0, 84), (7, 3)],
        "ELECTION_NOT_NEEDED, UNKNOWN_TOPIC_OR_PARTITION"
    );
    let all = conn.call(
        2,
        &ElectLeadersRequest::default()
            .with_election_type(0)
            .with_timeout_ms(10_000),
    );
    assert_eq!(all.error_code, 0);
    let ours = all
        .replica_election_results
        .iter()
        .filter(|r| r.topic.as_str() == topic);
    assert_eq!(ours.flat_map(|r| &r.partition_result).count(), 0, "nothing to elect");

    let alter = |conn: &mut KafkaConnection, replicas: Option<Vec<i32>>| {
        let response = conn.call(
            0,
            &AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    ReassignableTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(vec![
                            ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect())),
                        ]),
                ]),
        );
        assert_eq!(response.error_code, 0);
        response.responses[0].partitions[0].error_code
    };
    assert_eq!(alter(&mut conn, Some(vec![12345])), 39, "INVALID_REPLICA_ASSIGNMENT");
    assert_eq!(alter(&mut conn, None), 85, "NO_REASSIGNMENT_IN_PROGRESS");
    let listed = conn.call(0, &ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000));
    assert_eq!(listed.error_code, 0);
    assert!(listed.topics.is_empty());
}

/// DescribeUserScramCredentials with no credentials stored; DescribeProducers after an
/// idempotent producer wrote.
#[test]
fn scram_credentials_and_producers() {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    let (target, mut conn, user) = check_setup("nobody");
    let scram = conn.call(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![UserName::default().with_name(s(&user))])),
    );
    assert_eq!(scram.error_code, 0);
    assert_eq!(scram.results.len(), 1);
    assert_eq!(scram.results[0].error_code, 91, "RESOURCE_NOT_FOUND");

    let topic = target.unique("producers");
    create_topic_raw(&mut conn, &topic, 1, &[]);
    // Kafka answers COORDINATOR_LOAD_IN_PROGRESS until its producer-id block is allocated.
    let init = wait_for(Duration::from_secs(15), "a producer id", || {
        let init = conn.call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
        assert!(
            [0, 14, 15].contains(&init.error_code),
            "InitProducerId: {}",
            init.error_code
        );
        (init.error_code == 0).then_some(init)
    });
    let mut records = BytesMut::from(&batch(&[(Some("k"), "v"), (Some("k2"), "v2")])[..]);
    // Producer id at 43, epoch at 51, base sequence at 53; then the CRC-32C from byte 21 on.
    records[43..51].copy_from_slice(&init.producer_id.0.to_be_bytes());
    records[51..53].copy_from_slice(&init.producer_epoch.to_be_bytes());
    records[53..57].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&records[21..]);
    records[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(produce_raw(&mut conn, &topic, records.freeze()).error_code, 0);

    let described = conn.call(
        0,
        &DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(topic_name(&topic))
                .with_partition_indexes(vec![0]),
        ]),
    );
    let p = &described.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.active_producers.len(), 1);
    let producer = &p.active_producers[0];
    assert_eq!(producer.producer_id, init.producer_id);
    assert_eq!(producer.last_sequence, 1);
    assert_eq!(producer.current_txn_start_offset, -1);
}

/// ApiVersions names the features served with their levels, as `kafka-features` reads them.
#[test]
fn api_versions_reports_metadata_version() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let response = conn.call(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(s("rivulet-tests"))
            .with_client_software_version(s("1")),
    );
    let supported = response
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == "metadata.version")
        .expect("metadata.version supported");
    assert_eq!(
        supported.min_version, 7,
        "3.3-IV3, the first KRaft level Kafka 4 serves"
    );
    let finalized = response
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "metadata.version")
        .expect("metadata.version finalized");
    assert!(finalized.max_version_level >= 27, "4.1-IV1 or later");
    assert!(response.finalized_features_epoch >= 0);
}

// ---- configs --------------------------------------------------------------------------

fn describe_topic_configs(
    conn: &mut KafkaConnection,
    topic: &str,
) -> Vec<describe_configs_response::DescribeConfigsResourceResult> {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let r = conn.call(
        4,
        &DescribeConfigsRequest::default()
            .with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(s(topic))
                    .with_configuration_keys(None),
            ])
            .with_include_synonyms(true),
    );
    assert_eq!(r.results[0].error_code, 0);
    r.results.into_iter().next().unwrap().configs
}

fn synonyms_of(
    configs: &[describe_configs_response::DescribeConfigsResourceResult],
    key: &str,
) -> (Option<String>, i8, Vec<(String, i8)>) {
    let c = configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} described"));
    (
        c.value.as_ref().map(|v| v.to_string()),
        c.config_source,
        c.synonyms.iter().map(|s| (s.name.to_string(), s.source)).collect(),
    )
}

/// Topic config synonyms as Kafka 4.1 reports them: a topic override, then only the broker
/// key the topic key inherits from; `min.insync.replicas` comes from the cluster-wide dynamic
/// default a new Kafka 4 cluster starts with.
#[test]
fn topic_config_sources_and_synonyms() {
    let (_broker, mut conn, topic) = check_setup("synonyms");
    create_topic_raw(&mut conn, &topic, 1, &[("retention.ms", "1000000")]);
    let configs = describe_topic_configs(&mut conn, &topic);
    assert_eq!(
        synonyms_of(&configs, "retention.ms"),
        (Some("1000000".into()), 1, vec![("retention.ms".into(), 1)]),
        "an override lists only itself: log.retention.hours holds the value in other units"
    );
    assert_eq!(
        synonyms_of(&configs, "flush.ms"),
        (Some(i64::MAX.to_string()), 5, vec![]),
        "log.flush.interval.ms has no value anywhere"
    );
    assert_eq!(
        synonyms_of(&configs, "min.insync.replicas"),
        (
            Some("1".into()),
            3,
            vec![("min.insync.replicas".into(), 3), ("min.insync.replicas".into(), 5)]
        )
    );
    assert_eq!(
        synonyms_of(&configs, "max.message.bytes"),
        (Some("1048588".into()), 5, vec![("message.max.bytes".into(), 5)])
    );
}

/// IncrementalAlterConfigs SUBTRACT may empty a list: Kafka stores `cleanup.policy=""`.
#[test]
fn subtract_can_empty_a_list() {
    let (_broker, mut conn, topic) = check_setup("subtract");
    create_topic_raw(&mut conn, &topic, 1, &[]);
    let response = conn.call(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s(&topic))
                .with_configs(vec![
                    IncrementalConfig::default()
                        .with_name(s("cleanup.policy"))
                        .with_config_operation(3)
                        .with_value(Some(s("delete"))),
                ]),
        ]),
    );
    assert_eq!(
        response.responses[0].error_code, 0,
        "{:?}",
        response.responses[0].error_message
    );
    let value = wait_for(Duration::from_secs(15), "the emptied list", || {
        let configs = describe_topic_configs(&mut conn, &topic);
        let (value, source, _) = synonyms_of(&configs, "cleanup.policy");
        (source == 1).then_some(value)
    });
    assert_eq!(value.as_deref(), Some(""));
}

/// Every Kafka broker config that Kafka lets change dynamically is accepted, even when it
/// means nothing on this broker.
#[test]
fn dynamic_kafka_broker_configs_are_accepted() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let cluster = conn.call(0, &DescribeClusterRequest::default());
    let node = cluster.brokers[0].broker_id.0.to_string();
    let alter = |conn: &mut KafkaConnection, op: i8, value: Option<&str>| {
        let response = conn.call(
            1,
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                IncrementalResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s(&node))
                    .with_configs(vec![
                        IncrementalConfig::default()
                            .with_name(s("sasl.kerberos.min.time.before.relogin"))
                            .with_config_operation(op)
                            .with_value(value.map(s)),
                    ]),
            ]),
        );
        let r = &response.responses[0];
        (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
    };
    assert_eq!(alter(&mut conn, 0, Some("30000")), (0, None), "SET");
    assert_eq!(alter(&mut conn, 1, None), (0, None), "DELETE");
    let (code, _) = alter(&mut conn, 0, Some("soon"));
    assert_eq!(code, 42, "a bad value is INVALID_REQUEST");
}

// ---- groups -----------------------------------------------------------------------------

/// A static member that stops heartbeating leaves the group at its session timeout, as on
/// Kafka: not a rebalance timeout or a tick later.
#[test]
fn a_silent_static_member_expires_at_its_session_timeout() {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use std::time::Instant;
    const SESSION_MS: i32 = 6000;
    let target = Target::start(&["--set", "group.initial.rebalance.delay.ms=0"]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let group = target.unique("static-expiry");
    let coordinator = wait_for(Duration::from_secs(15), "the group coordinator", || {
        let r = conn.call(3, &FindCoordinatorRequest::default().with_key(s(&group)));
        (r.error_code == 0).then_some(format!("{}:{}", r.host.as_str(), r.port))
    });
    let mut conn = KafkaConnection::connect(&coordinator);
    // A coordinator still loading its partition answers NOT_COORDINATOR or
    // COORDINATOR_LOAD_IN_PROGRESS for a moment.
    let join_request = JoinGroupRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_session_timeout_ms(SESSION_MS)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(""))
        .with_group_instance_id(Some(s("instance-a")))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0])),
        ]);
    let join = wait_for(Duration::from_secs(15), "a join", || {
        let join = conn.call(7, &join_request);
        assert!([0, 14, 15, 16].contains(&join.error_code), "join: {}", join.error_code);
        (join.error_code == 0).then_some(join)
    });
    let sync = conn.call(
        5,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(join.generation_id)
            .with_member_id(join.member_id.clone())
            .with_group_instance_id(Some(s("instance-a")))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(join.member_id.clone())
                    .with_assignment(Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0])),
            ]),
    );
    assert_eq!(sync.error_code, 0, "sync");
    let hb = conn.call(
        4,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(join.generation_id)
            .with_member_id(join.member_id.clone())
            .with_group_instance_id(Some(s("instance-a"))),
    );
    assert_eq!(hb.error_code, 0, "heartbeat");
    let last_heartbeat = Instant::now();

    let gone = loop {
        let described = conn.call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
        );
        let members = described.groups[0].members.len();
        if members == 0 {
            break last_heartbeat.elapsed();
        }
        assert!(
            last_heartbeat.elapsed() < Duration::from_secs(30),
            "the member never left"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let session = Duration::from_millis(SESSION_MS as u64);
    eprintln!("member left {gone:?} after its last heartbeat (session timeout {session:?})");
    assert!(gone >= session - Duration::from_millis(100), "left early: {gone:?}");
    assert!(gone < session + Duration::from_millis(700), "left late: {gone:?}");
}

/// The same through librdkafka: closed static members (which send no LeaveGroup) leave the
/// group one session timeout after they stopped, measured from the close.
#[test]
fn closed_static_consumers_expire_at_their_session_timeout() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::time::Instant;
    const SESSION_MS: u64 = 6000;
    let target = Target::start(&["--set", "group.initial.rebalance.delay.ms=0"]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let topic = target.unique("static-close");
    create_topic_raw(&mut conn, &topic, 3, &[]);
    let group = target.unique("static-close-group");
    let consumers: Vec<BaseConsumer> = (0..3)
        .map(|i| {
            let c = plain_consumer(
                &target.bootstrap,
                &[
                    ("group.id", group.as_str()),
                    ("group.instance.id", &format!("instance-{i}")),
                    ("session.timeout.ms", &SESSION_MS.to_string()),
                    ("heartbeat.interval.ms", "500"),
                ],
            );
            c.subscribe(&[topic.as_str()]).expect("subscribe");
            c
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for c in &consumers {
            let _ = c.poll(Duration::from_millis(50));
        }
        // Stable with all three: each holds one partition.
        if consumers.iter().all(|c| c.assignment().is_ok_and(|a| a.count() == 1)) {
            break;
        }
        assert!(Instant::now() < deadline, "the group never stabilized");
    }
    drop(consumers);
    let closed = Instant::now();
    let mut coordinator_conn = {
        let r = conn.call(3, &FindCoordinatorRequest::default().with_key(s(&group)));
        KafkaConnection::connect(&format!("{}:{}", r.host.as_str(), r.port))
    };
    let gone = loop {
        let described = coordinator_conn.call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
        );
        if described.groups[0].members.is_empty() {
            break closed.elapsed();
        }
        assert!(closed.elapsed() < Duration::from_secs(30), "the members never left");
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("static members left {gone:?} after the close (session timeout {SESSION_MS} ms)");
    if gone > Duration::from_millis(SESSION_MS + 700) {
        eprintln!("{}", target.log());
    }
    // The last heartbeat went out at most one heartbeat interval before the close.
    assert!(gone <= Duration::from_millis(SESSION_MS + 700), "left late: {gone:?}");
    assert!(gone >= Duration::from_millis(SESSION_MS - 600), "left early: {gone:?}");
}

// ---- internal topics and oversized requests ---------------------------------------------

/// Clients cannot write the coordinators' internal topics, nor create them by asking for
/// their metadata.
#[test]
fn internal_topics_are_not_writable_by_clients() {
    let target = Target::start(&[]);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    // FindCoordinator makes the group coordinator create __consumer_offsets.
    wait_for(Duration::from_secs(15), "the group coordinator", || {
        let r = conn.call(3, &FindCoordinatorRequest::default().with_key(s("any-group")));
        (r.error_code == 0).then_some(())
    });
    let response = wait_for(Duration::from_secs(15), "a produce answer", || {
        let p = produce_raw_to(&mut conn, "__consumer_offsets", 0, batch(&[(Some("k"), "forged")]));
        (![3, 6].contains(&p.error_code)).then_some(p)
    });
    assert_eq!(response.error_code, 17, "INVALID_TOPIC_EXCEPTION");
    let metadata = conn.call(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name("__transaction_state"))),
            ]))
            .with_allow_auto_topic_creation(true),
    );
    let t = &metadata.topics[0];
    assert!(
        t.error_code == 3 || (t.error_code == 0 && t.is_internal),
        "auto-creation of an internal topic by Metadata: {}",
        t.error_code
    );
}

/// A CreateTopics request for more partitions than Kafka's controller writes in one
/// operation fails as a whole with POLICY_VIOLATION, creating nothing. (CreatePartitions has
/// no such bound on Kafka 4.1; here the broker's partition budget bounds it.)
#[test]
fn oversized_partition_requests_are_refused() {
    let (_broker, mut conn, big) = check_setup("too-big");
    let response = conn.call(
        7,
        &CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(&big))
                .with_num_partitions(100_000)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(response.topics[0].error_code, 44, "POLICY_VIOLATION");
    let metadata = conn.call(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(&big))),
            ]))
            .with_allow_auto_topic_creation(false),
    );
    assert_eq!(metadata.topics[0].error_code, 3, "nothing was created");
}

/// A KIP-848 consumer group through the classic APIs and the other way round: DescribeGroups
/// does not describe a consumer group, ConsumerGroupDescribe does not describe a classic one
/// (clients then fall back to DescribeGroups), and ListGroups names each type.
#[test]
fn consumer_groups_seen_through_the_classic_apis() {
    const GROUP_ID_NOT_FOUND: i16 = 69;
    let (_target, mut conn, name) = check_setup("kip848-fid");
    assert_eq!(create_topic_raw(&mut conn, &name, 2, &[]).error_code, 0);
    let group = format!("{name}-consumer");
    common::protocol::find_coordinator(&mut conn, &group);
    let heartbeat = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_member_id(s("fidelity-member-1"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![topic_name(&name)]))
        .with_topic_partitions(Some(vec![]));
    let joined = conn.call(1, &heartbeat);
    assert_eq!(joined.error_code, 0, "{:?}", joined.error_message);
    assert!(joined.member_epoch >= 1);
    assert_eq!(joined.heartbeat_interval_ms, 5000);

    // DescribeGroups answers as for an unknown group: Dead, or GROUP_ID_NOT_FOUND from v6.
    let described = conn.call(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
    );
    assert_eq!(described.groups[0].error_code, 0);
    assert_eq!(described.groups[0].group_state.as_str(), "Dead");
    assert!(described.groups[0].members.is_empty());
    let described = conn.call(
        6,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
    );
    assert_eq!(described.groups[0].error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(
        described.groups[0].error_message.as_deref(),
        Some(format!("Group {group} is not a classic group.").as_str())
    );

    let listed = conn.call(5, &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]));
    let ours = listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == group)
        .expect("listed");
    assert_eq!(ours.group_type.as_str(), "consumer");
    assert_eq!(ours.protocol_type.as_str(), "consumer");
    let classic_only = conn.call(5, &ListGroupsRequest::default().with_types_filter(vec![s("classic")]));
    assert!(classic_only.groups.iter().all(|g| g.group_id.as_str() != group));

    // A group that only holds offsets is not a consumer group.
    let classic = format!("{name}-classic");
    let commit = conn.call(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&classic)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic_name(&name))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0),
                    ]),
            ]),
    );
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    let describe = |conn: &mut KafkaConnection, g: &str| {
        let r = conn.call(
            1,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(g))]),
        );
        r.groups[0].clone()
    };
    assert_eq!(describe(&mut conn, &classic).error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(
        describe(&mut conn, &format!("{name}-missing")).error_code,
        GROUP_ID_NOT_FOUND
    );
    let ours = describe(&mut conn, &group);
    assert_eq!(ours.error_code, 0);
    assert_eq!(ours.assignor_name.as_str(), "uniform");
    assert_eq!(ours.members.len(), 1);
    assert_eq!(ours.members[0].member_id.as_str(), "fidelity-member-1");
    assert_eq!(ours.members[0].member_type, 1);

    // Leaving ends the membership.
    let left = conn.call(
        1,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(s("fidelity-member-1"))
            .with_member_epoch(-1),
    );
    assert_eq!((left.error_code, left.member_epoch), (0, -1));
}
