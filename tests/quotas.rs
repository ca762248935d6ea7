//! Produce and fetch byte-rate quotas and request-time quotas over real TCP: a client over its
//! quota gets a throttle time in the answer (a fetch without its records) and its connection
//! reads nothing more until the throttle has passed (KIP-219), while other clients go on. Connection creation rates: an IP address over its
//! `connection_creation_rate` quota has its new connections closed unanswered, and the
//! broker-wide `max.connection.creation.rate` slows a connection storm down. The window is
//! shortened (`quota.window.num=2`, `quota.window.size.seconds=1`) so throttles last about a
//! second.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::protocol::{KafkaConnection, record_batch};
use common::*;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    FetchRequest, MetadataRequest, ProduceRequest, TopicName,
};

const THROTTLING_QUOTA_EXCEEDED: i16 = 89;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn set_quota(conn: &mut KafkaConnection, client_id: &str, key: &str, value: f64) {
    set_entity_quotas(conn, "client-id", &[client_id], key, value);
}

/// Sets `key` on each named entity in one request, so that a broker applies them together.
fn set_entity_quotas(conn: &mut KafkaConnection, entity_type: &str, names: &[&str], key: &str, value: f64) {
    let entry = |name: &str| {
        EntryData::default()
            .with_entity(vec![
                EntityData::default()
                    .with_entity_type(s(entity_type))
                    .with_entity_name(Some(s(name))),
            ])
            .with_ops(vec![OpData::default().with_key(s(key)).with_value(value)])
    };
    let response = conn.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(names.iter().map(|n| entry(n)).collect()),
    );
    assert!(response.entries.iter().all(|e| e.error_code == 0), "{response:?}");
}

fn produce(conn: &mut KafkaConnection, topic: &str, records: Bytes) -> i32 {
    let response = conn.call(
        9,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(s(topic)))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(records)),
                    ]),
            ]),
    );
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    response.throttle_time_ms
}

/// A fetch of partition 0 from `offset`: (throttle time, record bytes returned).
fn fetch(conn: &mut KafkaConnection, topic: &str, offset: i64) -> (i32, usize) {
    let response = conn.call(
        12,
        &FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(10 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(s(topic)))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(10 << 20),
                    ]),
            ]),
    );
    let bytes = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .and_then(|p| p.records.as_ref())
        .map_or(0, |r| r.len());
    (response.throttle_time_ms, bytes)
}

/// 20 records of 1000 bytes: 20 KB, twice a 10,000 B/s quota over the 1 s minimum window.
fn twenty_kb() -> Bytes {
    let value = vec![b'v'; 1000];
    record_batch((0..20).map(|_| (None, &value[..])))
}

#[test]
fn a_client_over_its_quota_is_throttled_and_muted_and_others_are_not() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        dir.path(),
        &["--set", "quota.window.num=2", "--set", "quota.window.size.seconds=1"],
    );
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "quota-topic", 1, &[]);
    let mut admin = KafkaConnection::connect(&bootstrap);
    set_quota(&mut admin, "slow-producer", "producer_byte_rate", 10_000.0);
    set_quota(&mut admin, "slow-consumer", "consumer_byte_rate", 10_000.0);

    // Produce: within the quota at first, then throttled by (rate - quota) / quota * window.
    let mut slow = KafkaConnection::connect_as(&bootstrap, "slow-producer");
    assert_eq!(
        produce(&mut slow, "quota-topic", record_batch([(None, &b"small"[..])])),
        0
    );
    let throttle = produce(&mut slow, "quota-topic", twenty_kb());
    assert!(
        (800..=1100).contains(&throttle),
        "throttle {throttle} ms for twice the quota"
    );
    // The connection is muted: its next request is not read until the throttle has passed.
    let asked = Instant::now();
    slow.call(3, &ApiVersionsRequest::default());
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(throttle as u64 - 100),
        "answered after {waited:?}, throttled {throttle} ms"
    );
    // Another client id has no quota: never throttled.
    let mut fast = KafkaConnection::connect_as(&bootstrap, "fast-producer");
    for _ in 0..5 {
        assert_eq!(produce(&mut fast, "quota-topic", twenty_kb()), 0);
    }

    // Fetch: a response is never larger than the quota window allows (10,000 bytes here),
    // beyond the first batch, which always comes whole.
    let mut consumer = KafkaConnection::connect_as(&bootstrap, "slow-consumer");
    let (throttle, bytes) = fetch(&mut consumer, "quota-topic", 0);
    assert_eq!(throttle, 0);
    assert!(
        bytes > 0 && bytes < 10_000,
        "only the small first batch fits the quota window: {bytes} bytes"
    );
    // A 20 KB batch puts the consumer over its quota: the answer carries the throttle and no
    // records, and the bytes are not counted, as on Kafka.
    let (throttle, bytes) = fetch(&mut consumer, "quota-topic", 1);
    assert_eq!(bytes, 0, "a throttled fetch returns no records");
    assert!(
        (800..=2000).contains(&throttle),
        "a 20 KB batch against 10,000 B/s throttles for about a window: {throttle} ms"
    );
    let asked = Instant::now();
    consumer.call(3, &ApiVersionsRequest::default());
    assert!(asked.elapsed() >= Duration::from_millis(throttle as u64 - 100));
    let mut other = KafkaConnection::connect_as(&bootstrap, "other-consumer");
    let (throttle, bytes) = fetch(&mut other, "quota-topic", 0);
    assert_eq!(throttle, 0);
    assert!(
        bytes > 100_000,
        "a client without a quota reads the whole log: {bytes} bytes"
    );
}

#[test]
fn a_client_over_its_request_quota_is_throttled_on_every_api() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        dir.path(),
        &["--set", "quota.window.num=2", "--set", "quota.window.size.seconds=1"],
    );
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "request-quota", 1, &[]);
    let mut admin = KafkaConnection::connect(&bootstrap);
    // A millionth of a thread: every request's handling time is far over it.
    set_quota(&mut admin, "busy", "request_percentage", 0.0001);
    let mut busy = KafkaConnection::connect_as(&bootstrap, "busy");
    // The throttle of request quotas is bounded by one sample (quota.window.size.seconds).
    let answered = busy.call(3, &ApiVersionsRequest::default());
    assert_eq!(answered.throttle_time_ms, 1000);
    let asked = Instant::now();
    let metadata = busy.call(12, &MetadataRequest::default());
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "a muted connection's next request waits: {waited:?}"
    );
    assert_eq!(metadata.throttle_time_ms, 1000);
    // A throttled produce is still appended; a throttled fetch returns no records.
    assert_eq!(
        produce(&mut busy, "request-quota", record_batch([(None, &b"kept"[..])])),
        1000
    );
    assert_eq!(fetch(&mut busy, "request-quota", 0), (1000, 0));
    let mut idle = KafkaConnection::connect_as(&bootstrap, "idle");
    let (throttle, bytes) = fetch(&mut idle, "request-quota", 0);
    assert_eq!(throttle, 0, "other clients are not throttled");
    assert!(bytes > 0, "the throttled client's record was appended");
    // Raised to ten threads' worth, the quota no longer throttles.
    set_quota(&mut admin, "busy", "request_percentage", 1000.0);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(busy.call(12, &MetadataRequest::default()).throttle_time_ms, 0);
}

/// Whether a new connection is served: ApiVersions answered, or closed unanswered.
fn connection_served(bootstrap: &str) -> bool {
    let Ok(conn) = KafkaConnection::try_connect(bootstrap) else {
        return false;
    };
    let mut conn = conn.with_read_timeout(Duration::from_secs(5));
    conn.try_call(3, &ApiVersionsRequest::default()).is_ok()
}

#[test]
fn connections_over_an_ip_quota_are_closed_and_served_again_later() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        dir.path(),
        &["--set", "quota.window.num=2", "--set", "quota.window.size.seconds=1"],
    );
    set_entity_quotas(
        &mut KafkaConnection::connect(&broker.bootstrap()),
        "ip",
        &["127.0.0.1"],
        "connection_creation_rate",
        2.0,
    );
    let started = Instant::now();
    let served = (0..20).filter(|_| connection_served(&broker.bootstrap())).count();
    // Two a second (measured over at least one second): at most two per second the attempts
    // took, and a few more at the edges of the samples; the rest closed unanswered.
    let allowed = 2.0 * started.elapsed().as_secs_f64() + 4.0;
    assert!(
        served >= 1 && (served as f64) <= allowed && served < 20,
        "{served} of 20 connections served in {:?}",
        started.elapsed()
    );
    wait_for(Duration::from_secs(10), "the quota's log line", || {
        broker
            .log()
            .contains("closing connections over the address's connection_creation_rate quota")
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        connection_served(&broker.bootstrap()),
        "served again once the rate fell"
    );
}

#[test]
fn the_broker_wide_connection_creation_rate_slows_connections_down() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        dir.path(),
        &[
            "--set",
            "quota.window.num=2",
            "--set",
            "quota.window.size.seconds=1",
            "--set",
            "max.connection.creation.rate=5",
        ],
    );
    let started = Instant::now();
    let served = (0..15).filter(|_| connection_served(&broker.bootstrap())).count();
    assert_eq!(served, 15, "every connection is served, only later");
    // Fifteen connections at five a second: the listener must have waited.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

/// Request and fetch quotas with Kafka's default window (11 samples of 1 s), checked against
/// a fresh Rivulet or, with `FIDELITY_BOOTSTRAP=host:port`, against Apache Kafka: a request
/// throttle is at most one sample, a throttled produce is still appended, a throttled fetch
/// comes back without records, and a fetch is never larger than the quota window allows.
#[test]
fn throttles_as_kafka_applies_them() {
    let target = Target::start(&[]);
    let bootstrap = target.bootstrap.clone();
    let topic = target.unique("quota-fidelity");
    create_topic(&bootstrap, &topic, 1, &[]);
    let mut admin = KafkaConnection::connect(&bootstrap);
    assert_eq!(produce(&mut admin, &topic, record_batch([(None, &b"small"[..])])), 0);
    assert_eq!(produce(&mut admin, &topic, twenty_kb()), 0);

    let busy = target.unique("busy");
    set_quota(&mut admin, &busy, "request_percentage", 0.0001);
    let mut conn = KafkaConnection::connect_as(&bootstrap, &busy);
    // Kafka applies a quota once its metadata reaches the broker: ask until it shows.
    let throttle = wait_for(Duration::from_secs(15), "the request quota in force", || {
        let t = conn.call(3, &ApiVersionsRequest::default()).throttle_time_ms;
        (t > 0).then_some(t)
    });
    assert_eq!(throttle, 1000, "bounded by quota.window.size.seconds");
    assert_eq!(produce(&mut conn, &topic, record_batch([(None, &b"late"[..])])), 1000);
    assert_eq!(fetch(&mut conn, &topic, 0), (1000, 0));

    // 1000 B/s over ten whole samples: at most 10,000 bytes a response. Two client ids get
    // the quota together; the first shows when it is in force (its 20 KB fetch throttled),
    // so the second starts with nothing recorded.
    let (probe, reader) = (target.unique("probe"), target.unique("reader"));
    set_entity_quotas(
        &mut admin,
        "client-id",
        &[&probe, &reader],
        "consumer_byte_rate",
        1000.0,
    );
    let mut conn = KafkaConnection::connect_as(&bootstrap, &probe);
    wait_for(Duration::from_secs(15), "the fetch quota in force", || {
        (fetch(&mut conn, &topic, 1).0 > 0).then_some(())
    });
    let mut conn = KafkaConnection::connect_as(&bootstrap, &reader);
    // Kafka's response is a 10,000-byte slice of the log (the small batch and a part of the
    // next, which the client drops), a little over the rate with its overhead, so it may be
    // throttled for a few milliseconds; Rivulet's carries the whole small batch only.
    let (throttle, bytes) = fetch(&mut conn, &topic, 0);
    assert!(bytes <= 10_000, "a response within the quota window: {bytes} bytes");
    assert!(throttle < 500, "at most a little over the quota: {throttle} ms");
    let (throttle, bytes) = fetch(&mut conn, &topic, 1);
    assert_eq!(bytes, 0, "a throttled fetch returns no records");
    assert!(
        (5_000..=11_000).contains(&throttle),
        "20 KB over a 10 s window against 1000 B/s: {throttle} ms"
    );
}

/// CreateTopics of one topic with `partitions`, as `version`: (error code, message, throttle).
fn create_topics(conn: &mut KafkaConnection, version: i16, name: &str, partitions: i32) -> (i16, Option<String>, i32) {
    let response = conn.call(
        version,
        &CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]),
    );
    let topic = &response.topics[0];
    (
        topic.error_code,
        topic.error_message.as_ref().map(|m| m.to_string()),
        response.throttle_time_ms,
    )
}

/// Controller mutation quotas (KIP-599) with Kafka's default window, against a fresh Rivulet
/// or, with `FIDELITY_BOOTSTRAP`, Apache Kafka: a bucket of 11 partitions at 1 a second lets
/// one request take more than is left, then refuses the next topic (CreateTopics v6+) with
/// THROTTLING_QUOTA_EXCEEDED and the time to refill, or (v5) creates it and throttles.
#[test]
fn controller_mutations_throttle_as_kafka_applies_them() {
    let target = Target::start(&[]);
    let bootstrap = target.bootstrap.clone();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let (probe, strict, permissive) = (
        target.unique("probe"),
        target.unique("strict"),
        target.unique("permissive"),
    );
    set_entity_quotas(
        &mut admin,
        "client-id",
        &[&probe, &strict, &permissive],
        "controller_mutation_rate",
        1.0,
    );
    // In force once the probe's second topic is refused.
    let mut conn = KafkaConnection::connect_as(&bootstrap, &probe);
    wait_for(Duration::from_secs(15), "the mutation quota in force", || {
        assert_eq!(create_topics(&mut conn, 7, &target.unique("probe-big"), 20).0, 0);
        (create_topics(&mut conn, 7, &target.unique("probe-small"), 1).0 == THROTTLING_QUOTA_EXCEEDED).then_some(())
    });

    let mut conn = KafkaConnection::connect_as(&bootstrap, &strict);
    // 20 partitions from a full bucket of 11: allowed, unthrottled, and the bucket is at -9.
    let big = target.unique("strict-big");
    let (code, _, throttle) = create_topics(&mut conn, 7, &big, 20);
    assert_eq!((code, throttle), (0, 0));
    let (code, message, throttle) = create_topics(&mut conn, 7, &target.unique("strict-small"), 1);
    assert_eq!(code, THROTTLING_QUOTA_EXCEEDED);
    assert_eq!(message, None, "refused without a message, as Kafka's controller does");
    assert!(
        (8_000..=9_000).contains(&throttle),
        "9 partitions to refill at 1 a second: {throttle} ms"
    );
    // Deleting topics and adding partitions draw on the same bucket (each on a connection of
    // its own, as the refusal mutes the one it came on).
    let deleted = KafkaConnection::connect_as(&bootstrap, &strict).call(
        6,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![DeleteTopicState::default().with_name(Some(TopicName(s(&big))))]),
    );
    let refused = &deleted.responses[0];
    assert_eq!(
        (refused.error_code, &refused.error_message),
        (THROTTLING_QUOTA_EXCEEDED, &None)
    );
    assert!(!refused.topic_id.is_nil(), "the refused topic's id is named");
    assert!(
        (7_000..=9_000).contains(&deleted.throttle_time_ms),
        "{}",
        deleted.throttle_time_ms
    );
    let grown = KafkaConnection::connect_as(&bootstrap, &strict).call(
        3,
        &CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(TopicName(s(&big)))
                    .with_count(21)
                    .with_assignments(None),
            ]),
    );
    let refused = &grown.results[0];
    assert_eq!(
        (refused.error_code, &refused.error_message),
        (THROTTLING_QUOTA_EXCEEDED, &None)
    );
    assert!(
        (7_000..=9_000).contains(&grown.throttle_time_ms),
        "{}",
        grown.throttle_time_ms
    );

    let mut conn = KafkaConnection::connect_as(&bootstrap, &permissive);
    let (code, _, throttle) = create_topics(&mut conn, 5, &target.unique("permissive-big"), 20);
    assert_eq!(code, 0);
    assert!(
        (8_000..=9_000).contains(&throttle),
        "a permissive quota throttles past the bucket: {throttle} ms"
    );
}
