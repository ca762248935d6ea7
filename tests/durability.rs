//! Acknowledged means durable, visible means durable: the broker runs on the fault filesystem
//! (`common::faultfs`), which loses every unsynced write at a power cut and fails fsyncs on
//! demand.
//!
//! `RIVULET_POWER_CUTS` sets how many random cut points the power-loss test visits (default 30;
//! the figure given for a release is from a run with 200).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::faultfs::FaultFs;
use common::protocol::{KafkaConnection, record_batch};
use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

const KAFKA_STORAGE_ERROR: i16 = 56;
const TOPIC: &str = "durable";
const PARTITIONS: i32 = 3;
/// The partition written with acks=1: its writes promise nothing across a power loss, but a
/// consumer must still never read (and commit) past what survives one.
const ACKS_ONE_PARTITION: i32 = 2;
const GROUP: &str = "durable-readers";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn name(v: &str) -> TopicName {
    TopicName(s(v))
}

fn create_topic(conn: &mut KafkaConnection) {
    let response = conn.call(
        7,
        &CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(name(TOPIC))
                .with_num_partitions(PARTITIONS)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
}

/// One acks=all produce of `values` to `partition`; the error code, or an error if the
/// connection broke (the broker was killed).
fn produce(conn: &mut KafkaConnection, partition: i32, values: &[String]) -> std::io::Result<i16> {
    produce_with_acks(conn, partition, values, -1)
}

fn produce_with_acks(conn: &mut KafkaConnection, partition: i32, values: &[String], acks: i16) -> std::io::Result<i16> {
    let batch = record_batch(values.iter().map(|v| (None, v.as_bytes())));
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(TOPIC))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let response = conn.try_call(9, &request)?;
    Ok(response.responses[0].partition_responses[0].error_code)
}

/// Every record value of `partition` from the log start, with its offset, and the high
/// watermark.
fn read_all(conn: &mut KafkaConnection, partition: i32) -> (Vec<(i64, String)>, i64) {
    try_read_from(conn, partition, 0).expect("fetch round trip")
}

/// The records of `partition` from `offset` on, failing if the connection breaks (the broker
/// was killed).
fn try_read_from(
    conn: &mut KafkaConnection,
    partition: i32,
    mut offset: i64,
) -> std::io::Result<(Vec<(i64, String)>, i64)> {
    let mut out = Vec::new();
    loop {
        let response = conn.try_call(
            12,
            &FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_max_bytes(8 << 20)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default().with_topic(name(TOPIC)).with_partitions(
                    vec![
                            FetchPartition::default()
                                .with_partition(partition)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(8 << 20),
                        ],
                )]),
        )?;
        let p = &response.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch of {TOPIC}-{partition} at {offset}");
        let mut records = p.records.clone().unwrap_or_default();
        if records.is_empty() {
            return Ok((out, p.high_watermark));
        }
        while !records.is_empty() {
            let set = RecordBatchDecoder::decode(&mut records).expect("decode fetched batches");
            for r in set.records {
                out.push((
                    r.offset,
                    String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned(),
                ));
                offset = r.offset + 1;
            }
        }
    }
}

fn committed(conn: &mut KafkaConnection, partition: i32) -> i64 {
    try_committed(conn, partition).expect("OffsetFetch round trip")
}

fn try_committed(conn: &mut KafkaConnection, partition: i32) -> std::io::Result<i64> {
    let response = conn.try_call(
        7,
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(name(TOPIC))
                    .with_partition_indexes(vec![partition]),
            ]))
            .with_require_stable(true),
    );
    let p = &response?.topics[0].partitions[0];
    Ok(if p.error_code != 0 { -1 } else { p.committed_offset })
}

fn commit(conn: &mut KafkaConnection, partition: i32, offset: i64) -> std::io::Result<i16> {
    let response = conn.try_call(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name(TOPIC))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset),
                    ]),
            ]),
    )?;
    Ok(response.topics[0].partitions[0].error_code)
}

/// A small deterministic generator, so a failing run can be repeated from its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}

/// Power is cut at random points under an acks=all load (and an acks=1 one) while a reader
/// consumes and commits: after every cut, every acknowledged acks=all record is there exactly
/// once, nothing is duplicated, offsets stay dense, and no committed offset points past the
/// recovered log, since the reader only ever saw durable data.
#[test]
fn power_cuts_lose_no_acknowledged_record_and_no_commit_outruns_the_log() {
    let cuts: usize = std::env::var("RIVULET_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    cycles_under_load(cuts, true);
}

/// The same load through kill -9 alone (the page cache survives): `RIVULET_KILL_CYCLES`
/// cycles (10 by default).
#[test]
fn kill_9_cycles_lose_no_acknowledged_record() {
    let cycles: usize = std::env::var("RIVULET_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    cycles_under_load(cycles, false);
}

/// Runs `cuts` cycles of load then SIGKILL (and, with `power`, a power cut), checking after
/// each restart what survived.
fn cycles_under_load(cuts: usize, power: bool) {
    let seed: u64 = std::env::var("RIVULET_POWER_CUT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let what = if power { "power cuts" } else { "kill -9 cycles" };
    eprintln!("{what}: {cuts}, seed {seed} (RIVULET_POWER_CUT_SEED)");
    let mut rng = Lcg(seed);
    let ffs = FaultFs::mount();
    let data = ffs.path().join("data");
    // Values acknowledged per partition, in order.
    let acknowledged: Arc<Mutex<BTreeMap<i32, Vec<String>>>> = Arc::default();
    let mut total_acknowledged = 0usize;
    let mut reader_commits = 0usize;
    for cut in 0..=cuts {
        // acks=1 data stays unsynced for up to 200 ms, long enough for the reader to find it if
        // it were visible before being durable.
        let mut broker = BrokerProcess::start(&data, &["--set", "log.flush.visibility.ms=200"]);
        let mut conn = KafkaConnection::connect(&broker.bootstrap());
        if cut == 0 {
            create_topic(&mut conn);
        }
        // Check what survived the previous cut.
        let acked = acknowledged.lock().unwrap().clone();
        for partition in 0..PARTITIONS {
            let (records, high_watermark) = read_all(&mut conn, partition);
            let values: Vec<&str> = records.iter().map(|(_, v)| v.as_str()).collect();
            let unique: HashSet<&str> = values.iter().copied().collect();
            assert_eq!(
                unique.len(),
                values.len(),
                "cut {cut}: a record appears twice in partition {partition}"
            );
            for (i, (offset, _)) in records.iter().enumerate() {
                assert_eq!(
                    *offset, i as i64,
                    "cut {cut}: offsets of partition {partition} have a hole"
                );
            }
            for v in acked.get(&partition).into_iter().flatten() {
                assert!(
                    unique.contains(v.as_str()),
                    "cut {cut}: acknowledged record {v} of partition {partition} is lost"
                );
            }
            let committed = committed(&mut conn, partition);
            assert!(
                committed <= high_watermark,
                "cut {cut}: committed offset {committed} of partition {partition} is past the recovered log end {high_watermark}"
            );
        }
        if cut == cuts {
            break;
        }
        // Load: two producers (one per partition) and a reader that commits what it read.
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..PARTITIONS)
            .map(|partition| {
                let stop = stop.clone();
                let acknowledged = acknowledged.clone();
                let bootstrap = broker.bootstrap();
                thread::spawn(move || {
                    let Ok(mut conn) = KafkaConnection::try_connect(&bootstrap) else {
                        return;
                    };
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let mut values: Vec<String> =
                            (0..1 + n % 5).map(|i| format!("c{cut}-p{partition}-{n}-{i}")).collect();
                        // Now and then a batch too large to append on the connection's task:
                        // it is appended, and made durable, on the codec pool.
                        if n % 8 == 3 {
                            values.push(large_value(&format!("c{cut}-p{partition}-{n}-large")));
                        }
                        n += 1;
                        let acks = if partition == ACKS_ONE_PARTITION { 1 } else { -1 };
                        match produce_with_acks(&mut conn, partition, &values, acks) {
                            Ok(0) if acks == 1 => {}
                            Ok(0) => acknowledged
                                .lock()
                                .unwrap()
                                .entry(partition)
                                .or_default()
                                .extend(values),
                            Ok(code) => panic!("produce answered {code} without a fault"),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        let reader = {
            let stop = stop.clone();
            let bootstrap = broker.bootstrap();
            thread::spawn(move || {
                let mut commits = 0usize;
                let Ok(mut conn) = KafkaConnection::try_connect(&bootstrap) else {
                    return 0;
                };
                // Where the reader is, from the group's committed offsets.
                let mut positions = Vec::new();
                for p in 0..PARTITIONS {
                    match try_committed(&mut conn, p) {
                        Ok(offset) => positions.push(offset.max(0)),
                        Err(_) => return 0,
                    }
                }
                while !stop.load(Ordering::Relaxed) {
                    for partition in 0..PARTITIONS {
                        let at = positions[partition as usize];
                        let Ok((records, _)) = try_read_from(&mut conn, partition, at) else {
                            return commits;
                        };
                        if let Some((offset, _)) = records.last() {
                            positions[partition as usize] = offset + 1;
                            match commit(&mut conn, partition, offset + 1) {
                                Ok(_) => commits += 1,
                                Err(_) => return commits,
                            }
                        }
                    }
                }
                commits
            })
        };
        thread::sleep(Duration::from_millis(20 + rng.next(250)));
        broker.kill9();
        stop.store(true, Ordering::Relaxed);
        for p in producers {
            p.join().expect("producer thread");
        }
        reader_commits += reader.join().unwrap_or(0);
        if power {
            ffs.power_cut();
        }
        total_acknowledged = acknowledged.lock().unwrap().values().map(Vec::len).sum();
    }
    eprintln!(
        "{cuts} {what}: {total_acknowledged} acknowledged records, 0 lost, 0 duplicated, 0 holes; {reader_commits} commits, none past the log"
    );
    assert!(total_acknowledged > 0, "the load acknowledged nothing");
}

/// An fsync that fails is never reported as success: the waiting acks=all produce gets
/// KAFKA_STORAGE_ERROR, later ones are refused, the broker says why once, and after a restart
/// everything acknowledged before the failure is there.
#[test]
fn a_failed_fsync_is_answered_kafka_storage_error() {
    let ffs = FaultFs::mount();
    let data = ffs.path().join("data");
    let mut broker = BrokerProcess::start(&data, &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    create_topic(&mut conn);
    let before = vec!["before-1".to_string(), "before-2".to_string()];
    assert_eq!(produce(&mut conn, 0, &before).unwrap(), 0);

    ffs.fail_next_fsyncs(libc::EIO, 1);
    let start = Instant::now();
    assert_eq!(
        produce(&mut conn, 0, &["during".to_string()]).unwrap(),
        KAFKA_STORAGE_ERROR,
        "the write whose fsync failed"
    );
    assert_eq!(
        produce(&mut conn, 0, &["after".to_string()]).unwrap(),
        KAFKA_STORAGE_ERROR,
        "the failed log refuses later writes, though fsync would now succeed"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    // The other partition is untouched.
    assert_eq!(produce(&mut conn, 1, &["elsewhere".to_string()]).unwrap(), 0);
    let log = broker.log();
    assert_eq!(
        log.lines().filter(|l| l.contains("refuses writes")).count(),
        1,
        "one clear line names the failure:\n{log}"
    );
    let (records, high_watermark) = read_all(&mut conn, 0);
    let values: Vec<&str> = records.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        values,
        ["before-1", "before-2"],
        "consumers never see what was not made durable"
    );
    assert_eq!(high_watermark, 2);

    broker.kill9();
    ffs.power_cut();
    let broker = BrokerProcess::start(&data, &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    let (records, _) = read_all(&mut conn, 0);
    let values: Vec<&str> = records.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(&values[..2], ["before-1", "before-2"]);
    assert!(!values.contains(&"after"), "a refused write is not there");
    assert_eq!(
        produce(&mut conn, 0, &["restarted".to_string()]).unwrap(),
        0,
        "a restart recovers"
    );
}

/// A value of `tag` padded past the size (256 KiB) that produce appends on the connection's
/// task.
fn large_value(tag: &str) -> String {
    format!("{tag}-{}", "x".repeat(300 << 10))
}

/// The same through a batch large enough to be appended and fsynced on the codec pool.
#[test]
fn a_failed_fsync_after_a_large_append_is_answered_kafka_storage_error() {
    let ffs = FaultFs::mount();
    let data = ffs.path().join("data");
    let broker = BrokerProcess::start(&data, &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    create_topic(&mut conn);
    let before = large_value("before");
    assert_eq!(produce(&mut conn, 0, std::slice::from_ref(&before)).unwrap(), 0);
    ffs.fail_next_fsyncs(libc::EIO, 1);
    assert_eq!(
        produce(&mut conn, 0, &[large_value("during")]).unwrap(),
        KAFKA_STORAGE_ERROR,
        "the write whose fsync failed"
    );
    assert_eq!(produce(&mut conn, 1, &[large_value("elsewhere")]).unwrap(), 0);
    let (records, high_watermark) = read_all(&mut conn, 0);
    assert_eq!(high_watermark, 1);
    assert_eq!(records, [(0, before)], "consumers never see what was not made durable");
}

fn latest_offset(conn: &mut KafkaConnection, partition: i32) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let response = conn.call(
        7,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default().with_name(name(TOPIC)).with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(-1),
                ]),
            ]),
    );
    response.topics[0].partitions[0].offset
}

/// Visible means durable: acks=1 writes are not shown to consumers (Fetch, ListOffsets) until
/// fsynced, so what a consumer read and committed is still there after a power cut.
#[test]
fn consumers_see_only_what_survives_a_power_cut() {
    let ffs = FaultFs::mount();
    let data = ffs.path().join("data");
    // acks=1 writes wait ten minutes for their fsync unless something else makes them durable.
    let mut broker = BrokerProcess::start(&data, &["--set", "log.flush.visibility.ms=600000"]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    create_topic(&mut conn);
    for i in 0..50 {
        assert_eq!(
            produce_with_acks(&mut conn, 0, &[format!("unsynced-{i}")], 1).unwrap(),
            0
        );
    }
    assert_eq!(
        latest_offset(&mut conn, 0),
        0,
        "ListOffsets latest stays at the durable offset"
    );
    let (records, high_watermark) = read_all(&mut conn, 0);
    assert!(records.is_empty(), "a consumer reads nothing that is not durable");
    assert_eq!(high_watermark, 0);
    // An acks=all write makes everything before it durable too.
    assert_eq!(produce(&mut conn, 0, &["synced".to_string()]).unwrap(), 0);
    let (records, high_watermark) = read_all(&mut conn, 0);
    assert_eq!((records.len(), high_watermark), (51, 51));
    assert_eq!(commit(&mut conn, 0, 51).unwrap(), 0);
    // More acks=1 data a consumer must not see, then the power goes.
    for i in 0..20 {
        assert_eq!(produce_with_acks(&mut conn, 0, &[format!("lost-{i}")], 1).unwrap(), 0);
    }
    assert_eq!(read_all(&mut conn, 0).0.len(), 51);
    broker.kill9();
    ffs.power_cut();

    let broker = BrokerProcess::start(&data, &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    let (records, high_watermark) = read_all(&mut conn, 0);
    assert_eq!(records.len(), 51, "everything a consumer saw survived");
    assert!(committed(&mut conn, 0) <= high_watermark);
    assert_eq!(committed(&mut conn, 0), 51);
}
