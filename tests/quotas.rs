//! Produce and fetch byte-rate quotas over real TCP: a client over its quota gets a throttle
//! time in the answer and its connection reads nothing more until the throttle has passed
//! (KIP-219), while other clients go on. Connection creation rates: an IP address over its
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
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{AlterClientQuotasRequest, ApiVersionsRequest, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn set_quota(conn: &mut KafkaConnection, client_id: &str, key: &str, value: f64) {
    set_entity_quota(conn, "client-id", client_id, key, value);
}

fn set_entity_quota(conn: &mut KafkaConnection, entity_type: &str, name: &str, key: &str, value: f64) {
    let response = conn.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![
            EntryData::default()
                .with_entity(vec![
                    EntityData::default()
                        .with_entity_type(s(entity_type))
                        .with_entity_name(Some(s(name))),
                ])
                .with_ops(vec![OpData::default().with_key(s(key)).with_value(value)]),
        ]),
    );
    assert_eq!(response.entries[0].error_code, 0);
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

fn fetch(conn: &mut KafkaConnection, topic: &str) -> (i32, usize) {
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
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(10 << 20),
                    ]),
            ]),
    );
    let bytes = response.responses[0].partitions[0]
        .records
        .as_ref()
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

    // Fetch: the response's bytes count against the consumer quota.
    let mut consumer = KafkaConnection::connect_as(&bootstrap, "slow-consumer");
    let (throttle, bytes) = fetch(&mut consumer, "quota-topic");
    assert!(bytes > 100_000, "the whole log comes back: {bytes} bytes");
    assert!(
        throttle > 1000,
        "a fetch of {bytes} bytes against 10,000 B/s throttles: {throttle} ms"
    );
    assert!(
        throttle <= 2000,
        "throttles are capped at one quota window: {throttle} ms"
    );
    let mut other = KafkaConnection::connect_as(&bootstrap, "other-consumer");
    assert_eq!(fetch(&mut other, "quota-topic").0, 0);
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
    set_entity_quota(
        &mut KafkaConnection::connect(&broker.bootstrap()),
        "ip",
        "127.0.0.1",
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
