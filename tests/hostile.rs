//! Requests that try to make the broker spend what it does not have: each is refused or
//! bounded, and the broker keeps serving and restarts cleanly afterwards.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::protocol::{KafkaConnection, record_batch};
use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

fn create(conn: &mut KafkaConnection, topic: &str, partitions: i32) -> (i16, Option<String>) {
    let response = conn.call(
        7,
        &CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]),
    );
    let t = &response.topics[0];
    (t.error_code, t.error_message.as_ref().map(|m| m.to_string()))
}

fn partition_dirs(broker: &BrokerProcess, topic: &str) -> usize {
    std::fs::read_dir(broker.data_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{topic}-")))
        .count()
}

fn set_open_file_limit(pid: u32, limit: u64) {
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit reads `new` and writes nothing back (old is null).
    let rc = unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// CreateTopics with 100,000 partitions is refused as a whole (Kafka's per-request bound);
/// a topic that would not fit in the broker's open-file limit is refused before any file is
/// made, and so is growing a topic past it. The broker restarts cleanly afterwards.
#[test]
fn partition_counts_are_bounded_and_leave_nothing_behind() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    let (code, message) = create(&mut conn, "huge", 100_000);
    assert_eq!(code, 44, "POLICY_VIOLATION: {message:?}");
    assert_eq!(partition_dirs(&broker, "huge"), 0);

    // 600 open files leave room for 150 partitions, 50 of them __consumer_offsets'.
    set_open_file_limit(broker.pid(), 600);
    let (code, message) = create(&mut conn, "wide", 400);
    assert_eq!(code, 44, "over the budget: {message:?}");
    assert!(message.unwrap_or_default().contains("open-file limit"));
    assert_eq!(partition_dirs(&broker, "wide"), 0, "nothing is left behind");
    assert_eq!(create(&mut conn, "narrow", 4), (0, None));
    let grown = conn.call(
        3,
        &CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(name("narrow"))
                    .with_count(100_000)
                    .with_assignments(None),
            ]),
    );
    assert_eq!(grown.results[0].error_code, 44, "growing past the budget");
    assert_eq!(partition_dirs(&broker, "narrow"), 4);

    broker.terminate();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    let metadata = conn.call(12, &MetadataRequest::default().with_topics(None));
    let names: Vec<String> = metadata
        .topics
        .iter()
        .filter(|t| !t.is_internal)
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(names, vec!["narrow".to_string()], "only the topic that was created");
}

fn batch_of(size: usize) -> Bytes {
    record_batch([(None, vec![b'x'; size].as_slice())])
}

/// A fetch asking for 2^31-1 bytes gets at most `fetch.max.bytes` (beyond its first batch,
/// which always comes whole).
#[test]
fn fetch_responses_are_bounded_by_fetch_max_bytes() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "fetch.max.bytes=1048576"]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    assert_eq!(create(&mut conn, "big-records", 1).0, 0);
    for _ in 0..4 {
        let response = conn.call(
            9,
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(name("big-records"))
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(batch_of(600_000))),
                        ]),
                ]),
        );
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name("big-records"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(i32::MAX),
                ]),
        ]);
    let response = conn.call(12, &fetch);
    let records = response.responses[0].partitions[0].records.clone().unwrap_or_default();
    assert!(
        records.len() >= 600_000,
        "the first batch comes whole: {}",
        records.len()
    );
    assert!(
        records.len() <= 1_048_576,
        "bounded by fetch.max.bytes: {}",
        records.len()
    );
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// 200 connections that each claim a 100 MiB frame and send nothing more cost the broker
/// nothing: frames are read as their bytes arrive. Another client is served meanwhile.
#[test]
fn claimed_frame_sizes_cost_no_memory() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::Instant;
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let before = rss_bytes(broker.pid());
    let claims: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(broker.addr()).unwrap();
            // 100 MiB, the largest frame socket.request.max.bytes allows, then a header start.
            s.write_all(&104_857_600i32.to_be_bytes()).unwrap();
            s.write_all(&[0, 18, 0, 3]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    let versions = conn.call(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("tests"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    );
    let answered = start.elapsed();
    assert_eq!(versions.error_code, 0);
    let during = rss_bytes(broker.pid());
    eprintln!(
        "RSS {} MB before, {} MB with 200 claimed 100 MiB frames; another client answered in {answered:?}",
        before >> 20,
        during >> 20
    );
    assert!(during < 150 << 20, "RSS {} MB", during >> 20);
    drop(claims);
}

/// A frame whose bytes trickle in holds from `queued.max.request.bytes` about what has
/// arrived, however many reads that takes: a slow client cannot drain the pool by sending a
/// few bytes at a time, and other clients are served meanwhile.
#[test]
fn a_trickled_frame_holds_what_arrived_from_the_request_memory_pool() {
    use std::io::Write;
    use std::net::TcpStream;
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "queued.max.request.bytes=1048576"]);
    let mut slow = TcpStream::connect(broker.addr()).unwrap();
    slow.set_nodelay(true).unwrap();
    slow.write_all(&1_000_000i32.to_be_bytes()).unwrap();
    // Forty reads of a few bytes each; were each counted as a full 64 KiB read, they would
    // hold the whole pool after sixteen.
    for _ in 0..40 {
        slow.write_all(&[0; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut conn = KafkaConnection::connect(&broker.bootstrap()).with_read_timeout(Duration::from_secs(10));
    let versions = conn
        .try_call(
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("tests"))
                .with_client_software_version(StrBytes::from_static_str("1")),
        )
        .expect("another client is answered while the slow frame is arriving");
    assert_eq!(versions.error_code, 0);
    drop(slow);
}

/// `max.connections.per.ip`: connections beyond it are closed at once, as on Kafka; those
/// within it are served.
#[test]
fn connections_per_ip_are_capped() {
    use std::io::Read;
    use std::net::TcpStream;
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "max.connections.per.ip=3"]);
    let kept: Vec<KafkaConnection> = (0..3).map(|_| KafkaConnection::connect(&broker.bootstrap())).collect();
    let mut extra = TcpStream::connect(broker.addr()).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(extra.read(&mut byte).unwrap_or(0), 0, "the fourth connection is closed");
    drop(kept);
    // Freed places are usable again.
    let mut again = common::wait_for(Duration::from_secs(10), "a place for a new connection", || {
        let mut conn = KafkaConnection::connect(&broker.bootstrap());
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            conn.call(0, &ApiVersionsRequest::default()).error_code
        }));
        ok.ok().map(|_| conn)
    });
    assert_eq!(again.call(0, &ApiVersionsRequest::default()).error_code, 0);
}

/// A quota of NaN or infinity is refused: it is no rate, and a stored one would make the
/// metadata log unreadable at the next start.
#[test]
fn non_finite_quotas_are_refused_and_the_metadata_log_stays_readable() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    for value in [f64::NAN, f64::INFINITY] {
        let response = conn.call(
            1,
            &AlterClientQuotasRequest::default().with_entries(vec![
                EntryData::default()
                    .with_entity(vec![
                        EntityData::default()
                            .with_entity_type(StrBytes::from_static_str("user"))
                            .with_entity_name(Some(StrBytes::from_static_str("alice"))),
                    ])
                    .with_ops(vec![
                        OpData::default()
                            .with_key(StrBytes::from_static_str("request_percentage"))
                            .with_value(value),
                    ]),
            ]),
        );
        assert_eq!(response.entries[0].error_code, 42, "{value}: INVALID_REQUEST");
    }
    assert_eq!(create(&mut conn, "after-quotas", 1).0, 0);
    broker.terminate();
    let broker = BrokerProcess::start(dir.path(), &[]);
    assert_eq!(
        watermarks(&broker.bootstrap(), "after-quotas", 0),
        (0, 0),
        "the topic survived the restart"
    );
}
