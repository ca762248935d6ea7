//! Kafka's listener and environment contract: named listeners, each advertised on its own, and
//! the `KAFKA_*` variables and `CLUSTER_ID` a compose file written for `apache/kafka` sets.

mod common;

use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::{DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;

/// The `listening on ADDR` lines of a broker log, with each line's listener name.
fn listening(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| {
            let addr = l.split("listening on ").nth(1)?.split_whitespace().next()?.to_string();
            let name = l.split("listener=").nth(1)?.split_whitespace().next()?.to_string();
            Some((name, addr))
        })
        .collect()
}

/// Each listener answers Metadata, FindCoordinator and DescribeCluster with its own advertised
/// address, as Kafka does, so a client inside a compose network and one on the host each get
/// an address they can reach.
#[test]
fn each_listener_advertises_its_own_address() {
    let dir = temp_data_dir();
    let env = [
        (
            "KAFKA_LISTENERS",
            "PLAINTEXT://127.0.0.1:0,PLAINTEXT_HOST://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        ),
        (
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
        ),
        (
            "KAFKA_ADVERTISED_LISTENERS",
            "PLAINTEXT://kafka:9092,PLAINTEXT_HOST://localhost:29092",
        ),
        ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
        ("KAFKA_PROCESS_ROLES", "broker,controller"),
        ("KAFKA_NODE_ID", "1"),
        ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka:9093"),
        ("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
        ("KAFKA_NUM_PARTITIONS", "3"),
        ("KAFKA_HEAP_OPTS", "-Xmx1G"),
        ("CLUSTER_ID", "MkU3OEVBNTcwNTJENDM2Qk"),
    ];
    let broker = BrokerProcess::start_with_env(dir.path(), &[], &env);
    // The start returns at the first listener's line; the second follows.
    let listeners = wait_for(std::time::Duration::from_secs(10), "both listeners' lines", || {
        let l = listening(&broker.log());
        (l.len() >= 2).then_some(l)
    });
    let names: Vec<&str> = listeners.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["PLAINTEXT", "PLAINTEXT_HOST"],
        "the controller listener is not opened"
    );
    for ((_, addr), expected) in listeners.iter().zip([("kafka", 9092), ("localhost", 29092)]) {
        let mut conn = KafkaConnection::connect(addr);
        let metadata = conn.call(12, &MetadataRequest::default().with_topics(None));
        let b = &metadata.brokers[0];
        assert_eq!(
            (b.host.as_str(), b.port),
            (expected.0, expected.1),
            "Metadata through {addr}"
        );
        assert_eq!(
            metadata.cluster_id.as_deref(),
            Some("MkU3OEVBNTcwNTJENDM2Qk"),
            "CLUSTER_ID"
        );
        let coordinator = conn.call(
            3,
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
        );
        assert_eq!((coordinator.host.as_str(), coordinator.port), (expected.0, expected.1));
        let cluster = conn.call(1, &DescribeClusterRequest::default().with_endpoint_type(1));
        let b = &cluster.brokers[0];
        assert_eq!((b.host.as_str(), b.port), (expected.0, expected.1));
    }
    // KAFKA_NUM_PARTITIONS reached the broker; KAFKA_HEAP_OPTS is not a config and is skipped.
    let log = broker.log();
    assert!(!log.contains("HEAP"), "{log}");
    let mut conn = KafkaConnection::connect(&listeners[1].1);
    let created = conn.call(
        12,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default().with_name(Some(
                    kafka_protocol::messages::TopicName(StrBytes::from_static_str("auto-created")),
                )),
            ]))
            .with_allow_auto_topic_creation(true),
    );
    assert_eq!(created.topics[0].partitions.len(), 3);
}

/// A listener of a security protocol not served yet stops the start with a clear message.
#[test]
fn a_tls_listener_is_refused_at_start() {
    let dir = temp_data_dir();
    let data = dir.path().to_str().unwrap();
    let log = expect_start_failure(
        &["serve", "--data-dir", data, "--set", "listeners=SSL://127.0.0.1:0"],
        &[],
    );
    assert!(log.contains("SSL"), "{log}");
}
