//! Topic administration through librdkafka's AdminClient, auto-creation, and size limits.

mod common;

use std::time::Duration;

use rdkafka::admin::{NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};

use common::*;

/// Runs CreateTopics for one topic and returns its per-topic result.
fn try_create(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replication: i32,
    validate_only: bool,
) -> Result<(), RDKafkaErrorCode> {
    let admin = admin_client(bootstrap);
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
    let opts = admin_options().validate_only(validate_only);
    let results = block_on(admin.create_topics([&topic], &opts))
        .unwrap_or_else(|e| panic!("CreateTopics request for {name:?} failed as a whole: {e}"));
    assert_eq!(results.len(), 1, "one result per topic: {results:?}");
    match &results[0] {
        Ok(t) => {
            assert_eq!(t, name, "result names the topic");
            Ok(())
        }
        Err((t, code)) => {
            assert_eq!(t, name, "result names the topic");
            Err(*code)
        }
    }
}

fn try_delete(bootstrap: &str, name: &str) -> Result<(), RDKafkaErrorCode> {
    let admin = admin_client(bootstrap);
    let results = block_on(admin.delete_topics(&[name], &admin_options()))
        .unwrap_or_else(|e| panic!("DeleteTopics request for {name:?} failed as a whole: {e}"));
    assert_eq!(results.len(), 1, "one result per topic: {results:?}");
    results[0].clone().map(|_| ()).map_err(|(_, code)| code)
}

fn try_create_partitions(bootstrap: &str, name: &str, count: usize) -> Result<(), RDKafkaErrorCode> {
    let admin = admin_client(bootstrap);
    let np = NewPartitions::new(name, count);
    let results = block_on(admin.create_partitions([&np], &admin_options()))
        .unwrap_or_else(|e| panic!("CreatePartitions request for {name:?} failed as a whole: {e}"));
    assert_eq!(results.len(), 1, "one result per topic: {results:?}");
    results[0].clone().map(|_| ()).map_err(|(_, code)| code)
}

#[test]
fn create_describe_grow_and_delete_topics() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();

    assert_eq!(try_create(&bootstrap, "orders", 2, 1, false), Ok(()));
    wait_for(CLIENT_TIMEOUT, "orders in metadata", || {
        topic_partition_count(&bootstrap, "orders")
    });

    // Validation only: accepted, but nothing is created.
    assert_eq!(try_create(&bootstrap, "dry-run", 3, 1, true), Ok(()));
    assert_eq!(
        topic_partition_count(&bootstrap, "dry-run"),
        None,
        "validate_only must not create the topic"
    );

    // Errors a client can cause.
    assert_eq!(
        try_create(&bootstrap, "three-replicas", 1, 3, false),
        Err(RDKafkaErrorCode::InvalidReplicationFactor),
        "replication factor 3 on a single broker"
    );
    assert_eq!(
        try_create(&bootstrap, "three-replicas", 1, 3, true),
        Err(RDKafkaErrorCode::InvalidReplicationFactor),
        "replication factor 3 on a single broker, validate_only"
    );
    let too_long = "t".repeat(250);
    for bad in ["bad/name", "..", "spaces are bad", too_long.as_str()] {
        assert_eq!(
            try_create(&bootstrap, bad, 1, 1, false),
            Err(RDKafkaErrorCode::InvalidTopic),
            "topic name {bad:?} must be rejected"
        );
    }
    assert_eq!(
        try_create(&bootstrap, "orders", 2, 1, false),
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );
    for name in ["three-replicas", "bad/name"] {
        assert_eq!(
            topic_partition_count(&bootstrap, name),
            None,
            "{name} must not have been created"
        );
    }

    // Metadata: one broker, which is the one we talk to, leads every partition.
    let consumer = plain_consumer(&bootstrap, &[]);
    let md = consumer.fetch_metadata(None, CLIENT_TIMEOUT).expect("metadata");
    assert_eq!(md.brokers().len(), 1, "a single broker");
    let me = &md.brokers()[0];
    assert_eq!(
        (me.host(), me.port() as u16),
        ("127.0.0.1", broker.addr().port()),
        "advertised address"
    );
    let orders = md
        .topics()
        .iter()
        .find(|t| t.name() == "orders")
        .expect("orders listed");
    assert_eq!(orders.error(), None);
    assert_eq!(orders.partitions().len(), 2);
    for (i, p) in orders.partitions().iter().enumerate() {
        assert_eq!(p.id(), i as i32, "partition ids 0..n");
        assert_eq!(p.error(), None, "partition {i} error");
        assert_eq!(p.leader(), me.id(), "partition {i} leader");
        assert_eq!(p.replicas(), &[me.id()], "partition {i} replicas");
        assert_eq!(p.isr(), &[me.id()], "partition {i} isr");
    }

    // Some data in orders, so deleting it has something to remove.
    let producer = tracked_producer(&bootstrap, &[]);
    let recs: Vec<_> = (0..10).map(|i| (format!("k{i}").into_bytes(), b"v".to_vec())).collect();
    produce_all(&producer, "orders", Some(1), &recs);

    // CreatePartitions: grow, then refuse to shrink or stay equal.
    assert_eq!(try_create_partitions(&bootstrap, "orders", 5), Ok(()));
    wait_for(CLIENT_TIMEOUT, "orders to have 5 partitions", || {
        (topic_partition_count(&bootstrap, "orders") == Some(5)).then_some(())
    });
    assert_eq!(
        try_create_partitions(&bootstrap, "orders", 3),
        Err(RDKafkaErrorCode::InvalidPartitions),
        "shrinking"
    );
    assert_eq!(
        try_create_partitions(&bootstrap, "orders", 5),
        Err(RDKafkaErrorCode::InvalidPartitions),
        "same count"
    );
    assert_eq!(
        try_create_partitions(&bootstrap, "no-such-topic", 5),
        Err(RDKafkaErrorCode::UnknownTopicOrPartition)
    );
    // The new partitions take records, numbered from 0; the old ones kept theirs.
    let producer = tracked_producer(&bootstrap, &[]);
    let placed = produce_all(
        &producer,
        "orders",
        Some(4),
        &[(b"new".to_vec(), b"partition".to_vec())],
    );
    assert_eq!(placed, vec![(4, 0)]);
    assert_eq!(watermarks(&bootstrap, "orders", 4), (0, 1));
    assert_eq!(watermarks(&bootstrap, "orders", 1), (0, 10));
    drop(producer);

    // DeleteTopics.
    assert_eq!(try_delete(&bootstrap, "orders"), Ok(()));
    wait_for(CLIENT_TIMEOUT, "orders to disappear from metadata", || {
        topic_partition_count(&bootstrap, "orders").is_none().then_some(())
    });
    assert_eq!(
        try_delete(&bootstrap, "orders"),
        Err(RDKafkaErrorCode::UnknownTopicOrPartition),
        "deleting twice"
    );

    // Re-creating the name starts from an empty log.
    assert_eq!(try_create(&bootstrap, "orders", 2, 1, false), Ok(()));
    wait_for(CLIENT_TIMEOUT, "re-created orders in metadata", || {
        topic_partition_count(&bootstrap, "orders")
    });
    assert_eq!(topic_partition_count(&bootstrap, "orders"), Some(2));
    assert_eq!(
        watermarks(&bootstrap, "orders", 1),
        (0, 0),
        "re-created topic must be empty"
    );
}

#[test]
fn topic_configs_are_described() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        "configured",
        1,
        &[
            ("retention.ms", "123456789"),
            ("message.timestamp.type", "LogAppendTime"),
        ],
    );
    let admin = admin_client(&bootstrap);
    let results = block_on(admin.describe_configs([&ResourceSpecifier::Topic("configured")], &admin_options()))
        .expect("DescribeConfigs request");
    assert_eq!(results.len(), 1);
    let resource = results[0]
        .as_ref()
        .unwrap_or_else(|e| panic!("DescribeConfigs for the topic failed: {e:?}"));
    let value = |name: &str| {
        resource
            .get(name)
            .unwrap_or_else(|| {
                panic!(
                    "config {name} not described; got {:?}",
                    resource.entries.iter().map(|e| &e.name).collect::<Vec<_>>()
                )
            })
            .value
            .clone()
    };
    assert_eq!(value("retention.ms").as_deref(), Some("123456789"));
    assert_eq!(value("message.timestamp.type").as_deref(), Some("LogAppendTime"));
    assert!(value("cleanup.policy").is_some(), "defaults are described too");
}

#[test]
fn producing_to_an_unknown_topic_auto_creates_it() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "num.partitions=3"]);
    let bootstrap = broker.bootstrap();
    let producer = tracked_producer(&bootstrap, &[]);
    let recs: Vec<_> = (0..60)
        .map(|i| (format!("key-{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();
    let placed = produce_all(&producer, "auto-made", None, &recs);
    assert_eq!(
        topic_partition_count(&bootstrap, "auto-made"),
        Some(3),
        "auto-created with num.partitions"
    );
    let consumed = consume_to_end(&bootstrap, "auto-made", 3);
    let total: usize = consumed.iter().map(Vec::len).sum();
    assert_eq!(total, recs.len(), "every produced record reads back");
    for ((key, value), (p, o)) in recs.iter().zip(placed) {
        let rec = &consumed[p as usize][o as usize];
        assert_eq!(
            (rec.key.as_ref(), rec.value.as_ref()),
            (Some(key), Some(value)),
            "partition {p} offset {o}"
        );
    }
}

#[test]
fn producing_to_an_unknown_topic_fails_when_auto_create_is_off() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "auto.create.topics.enable=false"]);
    let bootstrap = broker.bootstrap();

    // Metadata for the topic reports UNKNOWN_TOPIC_OR_PARTITION.
    let consumer = plain_consumer(&bootstrap, &[("allow.auto.create.topics", "true")]);
    let md = consumer
        .fetch_metadata(Some("missing"), CLIENT_TIMEOUT)
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == "missing")
        .expect("requested topic is in the response");
    assert_eq!(t.error(), Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));

    // A produce fails (librdkafka reports the broker's UNKNOWN_TOPIC_OR_PARTITION as its local
    // "unknown topic" once metadata confirms it).
    let producer = tracked_producer(
        &bootstrap,
        &[
            ("topic.metadata.propagation.max.ms", "1000"),
            ("message.timeout.ms", "15000"),
        ],
    );
    send(
        &producer,
        BaseRecord::with_opaque_to("missing", 0).payload(&b"nowhere"[..]),
    );
    let _ = producer.flush(Duration::from_secs(20));
    let reports = take_reports(&producer);
    assert_eq!(reports.len(), 1, "one delivery report");
    match &reports[0].result {
        Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
        )) => {}
        other => panic!("expected UnknownTopicOrPartition, got {other:?}"),
    }
    assert_eq!(
        topic_partition_count(&bootstrap, "missing"),
        None,
        "the topic must not exist"
    );
}

#[test]
fn records_over_message_max_bytes_are_rejected() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "message.max.bytes=10000"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "limited", 1, &[]);
    let producer = tracked_producer(&bootstrap, &[("linger.ms", "0"), ("compression.type", "none")]);

    let big = vec![b'x'; 50_000];
    send(
        &producer,
        BaseRecord::with_opaque_to("limited", 0).partition(0).payload(&big[..]),
    );
    let _ = producer.flush(CLIENT_TIMEOUT);
    let reports = take_reports(&producer);
    assert_eq!(reports.len(), 1, "one delivery report");
    assert!(
        matches!(
            reports[0].result,
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge))
        ),
        "a 50 kB record against message.max.bytes=10000: expected MessageSizeTooLarge, got {:?}",
        reports[0].result
    );

    // The log is untouched and small records still go in at offset 0.
    let placed = produce_all(&producer, "limited", Some(0), &[(b"k".to_vec(), vec![b'y'; 1000])]);
    assert_eq!(placed, vec![(0, 0)]);
    let consumed = consume_to_end(&bootstrap, "limited", 1);
    assert_eq!(consumed[0].len(), 1);
    assert_eq!(consumed[0][0].value.as_deref(), Some(&vec![b'y'; 1000][..]));
}

#[test]
fn topic_changes_survive_restarts_clean_and_unclean() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kept", 2, &[("retention.ms", "86400000")]);
    assert_eq!(try_create_partitions(&bootstrap, "kept", 4), Ok(()));
    create_topic(&bootstrap, "gone", 1, &[]);
    assert_eq!(try_delete(&bootstrap, "gone"), Ok(()));
    let producer = tracked_producer(&bootstrap, &[]);
    produce_all(
        &producer,
        "kept",
        Some(3),
        &[(b"k".to_vec(), b"in the new partition".to_vec())],
    );
    drop(producer);

    for (round, unclean) in [(1, false), (2, true)] {
        if unclean {
            broker.kill9();
        } else {
            broker.terminate();
        }
        broker = BrokerProcess::start(dir.path(), &[]);
        let bootstrap = broker.bootstrap();
        let how = if unclean { "kill -9" } else { "SIGTERM" };
        assert_eq!(
            topic_partition_count(&bootstrap, "kept"),
            Some(4),
            "round {round} ({how}): kept's partitions"
        );
        assert_eq!(
            topic_partition_count(&bootstrap, "gone"),
            None,
            "round {round} ({how}): deleted topic came back"
        );
        assert_eq!(
            watermarks(&bootstrap, "kept", 3),
            (0, 1),
            "round {round} ({how}): record in the added partition"
        );
        let admin = admin_client(&bootstrap);
        let described = block_on(admin.describe_configs([&ResourceSpecifier::Topic("kept")], &admin_options()))
            .expect("DescribeConfigs");
        let resource = described[0].as_ref().expect("kept described");
        assert_eq!(
            resource.get("retention.ms").and_then(|e| e.value.as_deref()),
            Some("86400000"),
            "round {round} ({how}): topic config"
        );
    }
    // The deleted name is free again.
    assert_eq!(try_create(&broker.bootstrap(), "gone", 1, 1, false), Ok(()));
}

#[test]
fn invalid_topic_configs_are_refused_and_broker_configs_described() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "num.partitions=2"]);
    let bootstrap = broker.bootstrap();
    let admin = admin_client(&bootstrap);
    for (key, value) in [
        ("retention.ms", "not-a-number"),
        ("no.such.config", "1"),
        ("cleanup.policy", "sideways"),
        ("message.timestamp.type", "WallClock"),
    ] {
        let topic = NewTopic::new("configs-bad", 1, TopicReplication::Fixed(1)).set(key, value);
        let results = block_on(admin.create_topics([&topic], &admin_options())).expect("CreateTopics request");
        assert!(
            matches!(results[0], Err((_, RDKafkaErrorCode::InvalidConfig))),
            "{key}={value}: expected InvalidConfig, got {:?}",
            results[0]
        );
        assert_eq!(
            topic_partition_count(&bootstrap, "configs-bad"),
            None,
            "{key}={value} must not create the topic"
        );
    }

    let md = plain_consumer(&bootstrap, &[])
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("metadata");
    let id = md.brokers()[0].id();
    let described = block_on(admin.describe_configs([&ResourceSpecifier::Broker(id)], &admin_options()))
        .expect("DescribeConfigs request");
    let resource = described[0]
        .as_ref()
        .unwrap_or_else(|e| panic!("DescribeConfigs for broker {id}: {e:?}"));
    let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
    assert_eq!(
        value("num.partitions").as_deref(),
        Some("2"),
        "num.partitions as set on the command line"
    );
    assert_eq!(value("auto.create.topics.enable").as_deref(), Some("true"));
    assert_eq!(
        value("message.max.bytes").as_deref(),
        Some("1048588"),
        "Kafka's default"
    );
}

#[test]
fn compacted_topics_refuse_records_without_keys() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "compacted", 1, &[("cleanup.policy", "compact")]);
    let producer = tracked_producer(&bootstrap, &[("linger.ms", "0")]);
    send(
        &producer,
        BaseRecord::with_opaque_to("compacted", 0)
            .partition(0)
            .payload(&b"no key"[..]),
    );
    let _ = producer.flush(CLIENT_TIMEOUT);
    let reports = take_reports(&producer);
    assert!(
        matches!(
            reports[0].result,
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord))
        ),
        "a keyless record on a compacted topic: expected InvalidRecord, got {:?}",
        reports[0].result
    );
    let placed = produce_all(&producer, "compacted", Some(0), &[(b"key".to_vec(), b"value".to_vec())]);
    assert_eq!(
        placed,
        vec![(0, 0)],
        "keyed records are fine, and the refused one took no offset"
    );
}
