//! Batches that cost little on the wire and much inside: millions of tiny records in a few
//! megabytes of zstd, sent to topics where the broker must look at every record (a compacted
//! topic) or rewrite it (a topic whose `compression.type` differs). The broker's memory stays
//! bounded, other connections keep being served meanwhile, and the batch is either stored
//! whole or refused with Kafka's error; batches whose inner records contradict their header
//! are refused even though their CRC is valid.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rivulet::record::batch::compute_crc;
use rivulet::record::{BatchHeader, Compression, compress};

const NONE: i16 = 0;
const INVALID_RECORD: i16 = 87;
const MESSAGE_TOO_LARGE: i16 = 10;

/// Records in the bomb: each is 12 bytes uncompressed (a one-byte key and value), so the
/// decompressed batch is about 62 MB.
const BOMB_RECORDS: i32 = 5_200_000;
/// The topics' raised `max.message.bytes`.
const MAX_MESSAGE_BYTES: usize = 16 << 20;
const RSS_LIMIT_KB: u64 = 150 * 1024;
/// Bombs sent at once, each on its own connection.
const BOMBS: usize = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create(conn: &mut KafkaConnection, topic: &str, configs: &[(&str, &str)]) {
    let response = conn.call(
        7,
        &CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig::default().with_name(s(k)).with_value(Some(s(v))))
                        .collect(),
                ),
        ]),
    );
    assert_eq!(
        response.topics[0].error_code, NONE,
        "create {topic}: {:?}",
        response.topics[0]
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// A v2 batch around already encoded records: `count` in the header, `last_offset_delta` as
/// given, `body` compressed with `codec`, and a valid CRC whatever the records say.
fn batch(body: &[u8], count: i32, last_offset_delta: i32, codec: Compression) -> Bytes {
    let body = compress(codec, body, Some(3)).unwrap();
    let now = now_ms();
    let mut b = Vec::with_capacity(61 + body.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&codec.id().to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&now.to_be_bytes());
    b.extend_from_slice(&now.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(&body);
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// One record: key `k`, value `v`, timestamp delta 0, no headers.
fn encode_record(out: &mut Vec<u8>, offset_delta: i32, key: &[u8], value: &[u8]) {
    let mut body = Vec::with_capacity(16 + key.len() + value.len());
    body.push(0);
    put_varint(&mut body, 0);
    put_varint(&mut body, i64::from(offset_delta));
    put_varint(&mut body, key.len() as i64);
    body.extend_from_slice(key);
    put_varint(&mut body, value.len() as i64);
    body.extend_from_slice(value);
    put_varint(&mut body, 0);
    put_varint(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// The bomb: `BOMB_RECORDS` records with one-byte keys and values, zstd-compressed.
fn bomb() -> Bytes {
    let mut body = Vec::with_capacity(BOMB_RECORDS as usize * 12);
    for i in 0..BOMB_RECORDS {
        encode_record(&mut body, i, &[b'a' + (i % 8) as u8], b"v");
    }
    batch(&body, BOMB_RECORDS, BOMB_RECORDS - 1, Compression::Zstd)
}

fn produce(conn: &mut KafkaConnection, topic: &str, records: Bytes) -> (i16, i64, Option<String>) {
    // acks=all: what was acknowledged is also visible (consumers see only durable data).
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(60_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = conn.call(9, &request);
    let p = &response.responses[0].partition_responses[0];
    (
        p.error_code,
        p.base_offset,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// Every stored batch of partition 0 from offset 0, as Fetch returns them.
fn fetch_all(conn: &mut KafkaConnection, topic: &str) -> Bytes {
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(i32::MAX),
                ]),
        ]);
    let response = conn.call(12, &fetch);
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, NONE, "fetch {topic}");
    p.records.clone().unwrap_or_default()
}

/// Headers of the batches back to back in `bytes`.
fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..]).unwrap();
        pos += h.total_size();
        out.push(h);
    }
    out
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// While `work` runs: samples the broker's VmRSS, and has another connection send ApiVersions
/// and Metadata requests back to back. Returns the work's result, the highest RSS seen (kB),
/// and the slowest answer on the other connection.
fn while_watching<T>(broker: &BrokerProcess, work: impl FnOnce() -> T) -> (T, u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let pid = broker.pid();
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid, "VmRSS:"), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut other = KafkaConnection::connect(&broker.bootstrap());
    let prober = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let versions = other.call(
                    3,
                    &ApiVersionsRequest::default()
                        .with_client_software_name(s("bombs"))
                        .with_client_software_version(s("1")),
                );
                assert_eq!(versions.error_code, NONE);
                let metadata = other.call(12, &MetadataRequest::default().with_topics(None));
                assert!(!metadata.brokers.is_empty());
                slowest = slowest.max(started.elapsed());
                thread::sleep(Duration::from_millis(2));
            }
            slowest
        })
    };
    // Let the prober get going before the work starts.
    thread::sleep(Duration::from_millis(50));
    let result = work();
    thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let slowest = prober.join().unwrap();
    (result, peak.load(Ordering::Relaxed), slowest)
}

/// Sends the bomb on `BOMBS` connections at once (enough to occupy every async worker of a
/// two-core machine, were the codec work done there) and checks each is stored or refused.
fn check_bomb(topic: &str, configs: &[(&str, &str)], expect_codec: Compression) {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    let max = MAX_MESSAGE_BYTES.to_string();
    let mut configs = configs.to_vec();
    configs.push(("max.message.bytes", &max));
    create(&mut conn, topic, &configs);
    let bomb = bomb();
    let wire = bomb.len();
    let before = rss_kb(broker.pid(), "VmRSS:");

    let senders: Vec<KafkaConnection> = (0..BOMBS)
        .map(|_| KafkaConnection::connect(&broker.bootstrap()).with_read_timeout(Duration::from_secs(300)))
        .collect();
    let started = Instant::now();
    let (results, peak, slowest) = while_watching(&broker, || {
        let threads: Vec<_> = senders
            .into_iter()
            .map(|mut c| {
                let (bomb, topic) = (bomb.clone(), topic.to_string());
                thread::spawn(move || produce(&mut c, &topic, bomb))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
    });
    let took = started.elapsed();
    let hwm = rss_kb(broker.pid(), "VmHWM:");
    println!(
        "{topic}: {BOMBS} x {BOMB_RECORDS} records in {wire} bytes -> {results:?} in {took:?}; broker RSS {before} kB \
         before, peak {peak} kB sampled (VmHWM {hwm} kB); slowest ApiVersions+Metadata meanwhile {slowest:?}"
    );
    for (code, _, _) in &results {
        assert!(
            [NONE, INVALID_RECORD, MESSAGE_TOO_LARGE].contains(code),
            "stored or refused with Kafka's error, not {code}"
        );
    }
    assert!(peak < RSS_LIMIT_KB, "broker RSS peaked at {peak} kB");
    assert!(
        slowest < Duration::from_secs(2),
        "another connection waited {slowest:?}"
    );

    let stored: Vec<i64> = results.iter().filter(|r| r.0 == NONE).map(|r| r.1).collect();
    let expected_end = stored.len() as i64 * i64::from(BOMB_RECORDS);
    assert_eq!(watermarks(&broker.bootstrap(), topic, 0), (0, expected_end));
    if !stored.is_empty() {
        let mut bases = stored.clone();
        bases.sort();
        let want: Vec<i64> = (0..stored.len() as i64).map(|i| i * i64::from(BOMB_RECORDS)).collect();
        assert_eq!(bases, want, "each bomb got its own offset range");
        let bytes = fetch_all(&mut conn, topic);
        let hs = headers(&bytes);
        assert_eq!(hs.iter().map(|h| i64::from(h.records_count)).sum::<i64>(), expected_end);
        assert!(hs.iter().all(|h| h.compression().unwrap() == expect_codec));
        assert_eq!(hs.last().unwrap().last_offset(), expected_end - 1);
    }
    // The broker is still well and serving.
    let (code, base, _) = produce(&mut conn, topic, batch(&one_record(0), 1, 0, Compression::None));
    assert_eq!((code, base), (NONE, expected_end));
}

fn one_record(offset_delta: i32) -> Vec<u8> {
    let mut body = Vec::new();
    encode_record(&mut body, offset_delta, b"key", b"value");
    body
}

#[test]
fn zstd_bomb_on_a_compacted_topic() {
    check_bomb("bomb-compacted", &[("cleanup.policy", "compact")], Compression::Zstd);
}

#[test]
fn zstd_bomb_on_a_gzip_topic() {
    check_bomb("bomb-gzip", &[("compression.type", "gzip")], Compression::Gzip);
}

/// Kafka's record iterator checks what the header claims against the records themselves
/// (`DefaultRecordBatch.RecordIterator`): a count the records do not fill, records left over
/// after the count, or a record that does not fit its own length is an InvalidRecordException,
/// whatever the CRC says.
#[test]
fn malformed_inner_records_with_a_valid_crc_are_refused() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    create(&mut conn, "inner", &[]);

    let two = [one_record(0), one_record(1)].concat();
    let mut cases: Vec<(&str, Bytes)> = Vec::new();
    for codec in [Compression::None, Compression::Zstd] {
        cases.push(("three records declared, two present", batch(&two, 3, 2, codec)));
        cases.push(("one record declared, two present", batch(&two, 1, 0, codec)));
        let mut trailing = two.clone();
        trailing.extend_from_slice(&[0, 0, 0]);
        cases.push(("bytes after the declared records", batch(&trailing, 2, 1, codec)));
        // A record whose length varint runs over five bytes.
        let mut overlong = one_record(0);
        overlong.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        cases.push(("an over-long length varint", batch(&overlong, 2, 1, codec)));
        // A record that claims more bytes than the batch holds.
        let mut huge = one_record(0);
        put_varint(&mut huge, 1 << 30);
        huge.extend_from_slice(&[0; 8]);
        cases.push(("a record longer than the batch", batch(&huge, 2, 1, codec)));
    }
    let mut mismatches = Vec::new();
    for (what, bytes) in cases {
        let (code, _, _) = produce(&mut conn, "inner", bytes);
        if code != INVALID_RECORD {
            mismatches.push(format!(
                "{what}: error {code}, Kafka answers INVALID_RECORD ({INVALID_RECORD})"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(
        watermarks(&broker.bootstrap(), "inner", 0),
        (0, 0),
        "nothing was stored"
    );
    let (code, _, _) = produce(&mut conn, "inner", batch(&two, 2, 1, Compression::Zstd));
    assert_eq!(code, NONE);
    assert_eq!(watermarks(&broker.bootstrap(), "inner", 0), (0, 2));
}
