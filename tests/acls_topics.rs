mod common;

#[path = "acl_support/mod.rs"]
#[allow(dead_code)]
mod acl_support;
#[path = "acls_topics/cluster.rs"]
mod cluster;
#[path = "acls_topics/support.rs"]
mod support;

// Topic and cluster APIs under the StandardAuthorizer: what a user without ACLs is refused,
// with Kafka's error codes; what ALLOW, DENY and PREFIXED ACLs open; and (in `cluster`) the
// cluster-level APIs that only the super user, or a user with the cluster permission, is
// served.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest as DtpTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{
    AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeProducersRequest, DescribeTopicPartitionsRequest, FetchRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use uuid::Uuid;

use acl_support::{ALICE, BOB, acl, code, create_acls, start_acl_broker};
use common::protocol::record_batch;
use support::*;

/// A user with no ACLs is refused every topic API, each with Kafka's code, whether or not the
/// topic exists; the super user is not.
#[test]
fn without_acls_every_topic_api_is_refused() {
    let broker = start_acl_broker(&[]);
    create_topic(&broker, "t", 1);
    let mut alice = broker.login(ALICE);

    for topic in ["t", "ghost"] {
        assert_eq!(
            produce(&mut alice, topic, b"x"),
            TOPIC_AUTHORIZATION_FAILED,
            "produce {topic}"
        );
        assert_eq!(fetch(&mut alice, topic).0, TOPIC_AUTHORIZATION_FAILED, "fetch {topic}");
    }

    let offsets = alice.call(
        7,
        &ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default().with_name(name("t")).with_partitions(
                vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)],
            )]),
    );
    let p = &offsets.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.offset),
        (TOPIC_AUTHORIZATION_FAILED, -1),
        "list offsets"
    );

    // Listing all topics shows nothing; naming one is refused, existing or not, and a topic
    // that would be auto-created is not.
    let all = metadata(&mut alice, None, true);
    assert!(all.topics.is_empty(), "alice lists no topic: {:?}", topic_names(&all));
    let named = metadata(&mut alice, Some(&["t", "ghost"]), true);
    for t in &named.topics {
        assert_eq!(t.error_code, TOPIC_AUTHORIZATION_FAILED, "metadata {:?}", t.name);
        assert!(
            t.topic_id.is_nil() && t.partitions.is_empty(),
            "nothing of {:?} is told",
            t.name
        );
    }
    let admin_view = metadata(&mut broker.admin(), None, false);
    assert_eq!(topic_names(&admin_view), vec!["t"], "ghost was not auto-created");

    let described = alice.call(
        0,
        &DescribeTopicPartitionsRequest::default()
            .with_topics(vec![DtpTopic::default().with_name(name("t"))])
            .with_response_partition_limit(100),
    );
    assert_eq!(
        described.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "describe topic partitions"
    );
    assert!(described.topics[0].topic_id.is_nil());
    let all = alice.call(
        0,
        &DescribeTopicPartitionsRequest::default().with_response_partition_limit(100),
    );
    assert!(all.topics.is_empty(), "describing all topics shows none");

    let epochs = alice.call(
        4,
        &OffsetForLeaderEpochRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(name("t"))
                    .with_partitions(vec![
                        OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_leader_epoch(0)
                            .with_current_leader_epoch(-1),
                    ]),
            ]),
    );
    assert_eq!(
        epochs.topics[0].partitions[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "offset for leader epoch"
    );

    let producers = alice.call(
        0,
        &DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(name("t"))
                .with_partition_indexes(vec![0]),
        ]),
    );
    assert_eq!(
        producers.topics[0].partitions[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "describe producers"
    );

    let created = alice.call(
        7,
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name("new"))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(
        created.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "create topics"
    );

    let deleted = alice.call(
        6,
        &DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default().with_name(Some(name("t"))),
            DeleteTopicState::default().with_name(Some(name("ghost"))),
        ]),
    );
    for r in &deleted.responses {
        assert_eq!(r.error_code, TOPIC_AUTHORIZATION_FAILED, "delete {:?}", r.name);
    }

    let grown = alice.call(
        3,
        &CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                CreatePartitionsTopic::default().with_name(name("t")).with_count(3),
            ]),
    );
    assert_eq!(
        grown.results[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "create partitions"
    );

    let node = broker.admin().call(12, &MetadataRequest::default()).brokers[0]
        .node_id
        .0
        .to_string();
    let configs = alice.call(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(text("t")),
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_BROKER)
                .with_resource_name(text(&node)),
        ]),
    );
    assert_eq!(
        configs.results[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "describe topic configs"
    );
    assert!(configs.results[0].configs.is_empty());
    assert_eq!(
        configs.results[1].error_code, CLUSTER_AUTHORIZATION_FAILED,
        "describe broker configs"
    );

    let altered = alice.call(
        2,
        &AlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(text("t"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("1000"))),
                ]),
        ]),
    );
    assert_eq!(
        altered.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "alter configs"
    );

    let incremental = alice.call(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(text("t"))
                .with_configs(vec![
                    IncrementalConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("1000"))),
                ]),
            IncrementalResource::default()
                .with_resource_type(RESOURCE_BROKER)
                .with_resource_name(text(&node))
                .with_configs(vec![
                    IncrementalConfig::default()
                        .with_name(text("log.cleaner.threads"))
                        .with_value(Some(text("2"))),
                ]),
        ]),
    );
    let codes: Vec<(i8, i16)> = incremental
        .responses
        .iter()
        .map(|r| (r.resource_type, r.error_code))
        .collect();
    assert!(
        codes.contains(&(RESOURCE_TOPIC, TOPIC_AUTHORIZATION_FAILED)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&(RESOURCE_BROKER, CLUSTER_AUTHORIZATION_FAILED)),
        "{codes:?}"
    );
    // Another broker's id is refused as invalid before any permission is asked for.
    let other_broker = alice.call(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(RESOURCE_BROKER)
                .with_resource_name(text("999"))
                .with_configs(vec![
                    IncrementalConfig::default()
                        .with_name(text("log.cleaner.threads"))
                        .with_value(Some(text("2"))),
                ]),
        ]),
    );
    assert_eq!(other_broker.responses[0].error_code, INVALID_REQUEST);

    let records = alice.call(
        2,
        &DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
            DeleteRecordsTopic::default().with_name(name("t")).with_partitions(vec![
                DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(-1),
            ]),
        ]),
    );
    assert_eq!(
        records.topics[0].partitions[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "delete records"
    );

    // Nothing alice asked for happened, and the super user is served.
    let mut admin = broker.admin();
    assert_eq!(produce(&mut admin, "t", b"admin"), 0);
    assert_eq!(fetch(&mut admin, "t"), (0, vec![b"admin".to_vec()]));
    let admin_view = metadata(&mut admin, Some(&["t"]), false);
    assert_eq!(admin_view.topics[0].partitions.len(), 1, "t was not grown");
    assert_eq!(
        topic_names(&metadata(&mut admin, None, false)),
        vec!["t"],
        "new was not created"
    );
}

/// ALLOW ACLs for one topic open exactly that topic, to exactly that user: alice produces with
/// librdkafka and fetches her records back; another topic stays refused, and bob (no ACLs) is
/// refused the allowed topic.
#[test]
fn allow_acls_open_exactly_one_topic_to_one_user() {
    let broker = start_acl_broker(&[]);
    create_topic(&broker, "orders", 1);
    create_topic(&broker, "secret", 1);
    let ops = [code::WRITE, code::READ, code::DESCRIBE];
    create_acls(
        &broker,
        ops.iter()
            .map(|&op| acl(code::TOPIC, "orders", code::LITERAL, "User:alice", op, code::ALLOW))
            .collect(),
    );

    let producer: FutureProducer = broker
        .client_config(ALICE)
        .set("message.timeout.ms", "10000")
        .create()
        .expect("alice's producer");
    for value in ["one", "two", "three"] {
        let delivered = common::block_on(producer.send(
            FutureRecord::<(), _>::to("orders").payload(value).partition(0),
            Duration::from_secs(10),
        ));
        assert!(delivered.is_ok(), "alice's produce to orders: {delivered:?}");
    }
    let refused = common::block_on(producer.send(
        FutureRecord::<(), _>::to("secret").payload("no").partition(0),
        Duration::from_secs(10),
    ));
    let err = refused.expect_err("secret is refused to alice").0;
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "refusal: {err}"
    );

    let mut alice = broker.login(ALICE);
    let (error, values) = fetch(&mut alice, "orders");
    assert_eq!(error, 0);
    assert_eq!(values, vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    assert_eq!(fetch(&mut alice, "secret").0, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(produce(&mut alice, "secret", b"x"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        topic_names(&metadata(&mut alice, None, false)),
        vec!["orders"],
        "alice lists her topic only"
    );

    let mut bob = broker.login(BOB);
    assert_eq!(produce(&mut bob, "orders", b"x"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(fetch(&mut bob, "orders").0, TOPIC_AUTHORIZATION_FAILED);
    assert!(metadata(&mut bob, None, false).topics.is_empty());

    // Fetching by topic id: a known id alice may not read is refused, an unknown id is
    // unknown.
    let ids = metadata(&mut broker.admin(), Some(&["orders", "secret"]), false);
    let id_of = |t: &str| {
        ids.topics
            .iter()
            .find(|x| x.name.as_ref().is_some_and(|n| n.as_str() == t))
            .unwrap()
            .topic_id
    };
    for (id, expected) in [
        (id_of("orders"), 0),
        (id_of("secret"), TOPIC_AUTHORIZATION_FAILED),
        (Uuid::new_v4(), UNKNOWN_TOPIC_ID),
    ] {
        let r = alice.call(
            13,
            &FetchRequest::default()
                .with_replica_id((-1).into())
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default().with_topic_id(id).with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ])]),
        );
        assert_eq!(r.responses[0].partitions[0].error_code, expected, "fetch by id {id}");
    }
}

/// A DENY beats an ALLOW on the same topic, and a PREFIXED ACL covers every topic with its
/// prefix (creating one included) and no other.
#[test]
fn deny_beats_allow_and_prefixed_acls_cover_their_prefix() {
    let broker = start_acl_broker(&[]);
    for t in ["app-one", "app-locked", "other"] {
        create_topic(&broker, t, 1);
    }
    create_acls(
        &broker,
        vec![
            acl(
                code::TOPIC,
                "app-",
                code::PREFIXED,
                "User:alice",
                code::ALL,
                code::ALLOW,
            ),
            acl(
                code::TOPIC,
                "app-locked",
                code::LITERAL,
                "User:alice",
                code::WRITE,
                code::DENY,
            ),
        ],
    );
    let mut alice = broker.login(ALICE);
    assert_eq!(produce(&mut alice, "app-one", b"x"), 0);
    assert_eq!(
        produce(&mut alice, "app-locked", b"x"),
        TOPIC_AUTHORIZATION_FAILED,
        "DENY WRITE wins"
    );
    assert_eq!(fetch(&mut alice, "app-locked").0, 0, "READ is still allowed");
    assert_eq!(produce(&mut alice, "other", b"x"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        topic_names(&metadata(&mut alice, None, false)),
        vec!["app-locked", "app-one"],
        "the prefix covers both app- topics"
    );

    // ALL covers CREATE and DESCRIBE_CONFIGS: the created topic's configs come back.
    let created = alice.call(
        7,
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name("app-new"))
                .with_num_partitions(2)
                .with_replication_factor(1),
            CreatableTopic::default()
                .with_name(name("other-new"))
                .with_num_partitions(2)
                .with_replication_factor(1),
        ]),
    );
    let app = &created.topics[0];
    assert_eq!(
        (app.error_code, app.num_partitions, app.topic_config_error_code),
        (0, 2, 0)
    );
    assert!(
        !app.configs.as_deref().unwrap_or_default().is_empty(),
        "configs are returned"
    );
    assert_eq!(created.topics[1].error_code, TOPIC_AUTHORIZATION_FAILED);
}

/// CREATE without DESCRIBE_CONFIGS: the topic is created but its configs, partition count and
/// replication factor are withheld, with TOPIC_AUTHORIZATION_FAILED as the config error.
/// DeleteTopics tells a describable missing topic apart from an undeletable one.
#[test]
fn create_without_describe_configs_and_delete_without_delete() {
    let broker = start_acl_broker(&[]);
    create_topic(&broker, "keep", 1);
    create_acls(
        &broker,
        vec![
            acl(
                code::CLUSTER,
                "kafka-cluster",
                code::LITERAL,
                "User:alice",
                code::CREATE,
                code::ALLOW,
            ),
            acl(
                code::TOPIC,
                "*",
                code::LITERAL,
                "User:alice",
                code::DESCRIBE,
                code::ALLOW,
            ),
        ],
    );
    let mut alice = broker.login(ALICE);
    let created = alice.call(
        7,
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name("made"))
                .with_num_partitions(3)
                .with_replication_factor(1),
        ]),
    );
    let t = &created.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.topic_config_error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
    assert!(t.configs.as_deref().unwrap_or_default().is_empty());
    assert!(!t.topic_id.is_nil());
    let admin_view = metadata(&mut broker.admin(), Some(&["made"]), false);
    assert_eq!(admin_view.topics[0].partitions.len(), 3, "made was created");

    let deleted = alice.call(
        6,
        &DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default().with_name(Some(name("keep"))),
            DeleteTopicState::default().with_name(Some(name("missing"))),
        ]),
    );
    assert_eq!(
        deleted.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED,
        "keep: no DELETE"
    );
    assert_eq!(
        deleted.responses[1].error_code, UNKNOWN_TOPIC_OR_PARTITION,
        "missing: describable"
    );
    assert_eq!(
        topic_names(&metadata(&mut broker.admin(), None, false)),
        vec!["keep", "made"]
    );

    // Auto-creation through Metadata needs CREATE too: alice has it on the cluster, bob not.
    create_acls(
        &broker,
        vec![acl(
            code::TOPIC,
            "*",
            code::LITERAL,
            "User:bob",
            code::DESCRIBE,
            code::ALLOW,
        )],
    );
    let mut bob = broker.login(BOB);
    let r = metadata(&mut bob, Some(&["auto-bob"]), true);
    assert_eq!(r.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED, "bob may not create");
    let r = metadata(&mut alice, Some(&["auto-alice"]), true);
    assert_eq!(r.topics[0].error_code, 0, "alice's metadata creates the topic");
    assert_eq!(
        topic_names(&metadata(&mut broker.admin(), None, false)),
        vec!["auto-alice", "keep", "made"]
    );
}

/// A transactional batch needs WRITE on the transactional id, even with WRITE on the topic:
/// without it every partition answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
#[test]
fn transactional_produce_needs_the_transactional_id() {
    use kafka_protocol::records::{
        Compression, NO_PARTITION_LEADER_EPOCH, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let broker = start_acl_broker(&[]);
    create_topic(&broker, "tx", 1);
    create_acls(
        &broker,
        vec![acl(
            code::TOPIC,
            "tx",
            code::LITERAL,
            "User:alice",
            code::WRITE,
            code::ALLOW,
        )],
    );
    let record = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: 1000,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(b"txn")),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &[record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    let batch = buf.freeze();
    let mut alice = broker.login(ALICE);
    let code = produce_batch(&mut alice, "tx", batch.clone(), Some("alice-tx"));
    assert_eq!(code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    assert_eq!(
        produce_batch(&mut alice, "tx", batch.clone(), None),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    // With WRITE on the id the request gets past authorization (to the transaction checks:
    // this producer never began one).
    create_acls(
        &broker,
        vec![acl(
            code::TRANSACTIONAL_ID,
            "alice-tx",
            code::LITERAL,
            "User:alice",
            code::WRITE,
            code::ALLOW,
        )],
    );
    let code = produce_batch(&mut alice, "tx", batch, Some("alice-tx"));
    assert!(code != 0 && code != TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "{code}");
    let code = produce_batch(&mut alice, "tx", record_batch([(None, &b"txn"[..])]), None);
    assert_eq!(code, 0, "a plain batch needs only WRITE on the topic");
}

/// `allow.everyone.if.no.acl.found=true`: a topic no ACL covers is open to every user; one
/// that has ACLs follows them.
#[test]
fn allow_everyone_if_no_acl_found_opens_uncovered_topics() {
    let broker = start_acl_broker(&["allow.everyone.if.no.acl.found=true"]);
    create_topic(&broker, "open", 1);
    create_topic(&broker, "guarded", 1);
    create_acls(
        &broker,
        vec![acl(
            code::TOPIC,
            "guarded",
            code::LITERAL,
            "User:bob",
            code::ALL,
            code::ALLOW,
        )],
    );
    let mut alice = broker.login(ALICE);
    assert_eq!(produce(&mut alice, "open", b"hello"), 0);
    assert_eq!(fetch(&mut alice, "open"), (0, vec![b"hello".to_vec()]));
    assert_eq!(produce(&mut alice, "guarded", b"x"), TOPIC_AUTHORIZATION_FAILED);
    let mut bob = broker.login(BOB);
    assert_eq!(produce(&mut bob, "guarded", b"bob"), 0);
}
