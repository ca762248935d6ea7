//! Topic lifecycle through librdkafka and raw requests: dynamic configs (AlterConfigs,
//! IncrementalAlterConfigs, DescribeConfigs sources), retention by size and time while a
//! consumer reads, compaction (latest value per key, tombstones, kill -9 while cleaning),
//! recompression to the topic's codec, timestamp bounds, and DeleteRecords.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::admin::{AlterConfig, ConfigSource, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use common::*;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// Big-endian request body writer for the non-flexible request versions used here.
#[derive(Default)]
struct Body(Vec<u8>);

impl Body {
    fn i8(mut self, v: i8) -> Self {
        self.0.push(v as u8);
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn string(mut self, v: Option<&str>) -> Self {
        match v {
            None => self.0.extend_from_slice(&(-1i16).to_be_bytes()),
            Some(v) => {
                self.0.extend_from_slice(&(v.len() as i16).to_be_bytes());
                self.0.extend_from_slice(v.as_bytes());
            }
        }
        self
    }
}

/// Reader for the matching responses.
struct Reply<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reply<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.pos + n <= self.buf.len(), "response truncated at {}", self.pos);
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        out
    }
    fn i8(&mut self) -> i8 {
        self.take(1)[0] as i8
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn string(&mut self) -> Option<String> {
        let len = self.i16();
        (len >= 0).then(|| String::from_utf8(self.take(len as usize).to_vec()).unwrap())
    }
}

/// Sends one request (v1 request header) and returns the response body after the correlation id.
fn raw(addr: SocketAddr, api_key: i16, version: i16, body: Body) -> Vec<u8> {
    let mut stream = raw_connect(addr);
    std::io::Write::write_all(&mut stream, &frame_request_v1(api_key, version, 7, &body.0)).unwrap();
    let frame = read_frame(&mut stream).unwrap();
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), 7, "correlation id");
    frame[4..].to_vec()
}

const API_DESCRIBE_CONFIGS: i16 = 32;
const API_ALTER_CONFIGS: i16 = 33;
const API_INCREMENTAL_ALTER_CONFIGS: i16 = 44;

/// IncrementalAlterConfigs v0 for one resource: `(key, operation, value)`; returns the
/// resource's error code and message.
fn incremental_alter(
    addr: SocketAddr,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<String>) {
    let mut body = Body::default()
        .i32(1)
        .i8(resource_type)
        .string(Some(name))
        .i32(ops.len() as i32);
    for (k, op, v) in ops {
        body = body.string(Some(k)).i8(*op).string(*v);
    }
    let body = body.i8(0); // validate_only
    let reply = raw(addr, API_INCREMENTAL_ALTER_CONFIGS, 0, body);
    let mut r = Reply { buf: &reply, pos: 0 };
    r.i32(); // throttle
    assert_eq!(r.i32(), 1, "one resource result");
    let code = r.i16();
    let message = r.string();
    (code, message)
}

/// AlterConfigs v0 (the whole new set) for one resource; the resource's error code and message.
fn raw_alter(addr: SocketAddr, resource_type: i8, name: &str, set: &[(&str, &str)]) -> (i16, Option<String>) {
    let mut body = Body::default()
        .i32(1)
        .i8(resource_type)
        .string(Some(name))
        .i32(set.len() as i32);
    for (k, v) in set {
        body = body.string(Some(k)).string(Some(v));
    }
    let reply = raw(addr, API_ALTER_CONFIGS, 0, body.i8(0));
    let mut r = Reply { buf: &reply, pos: 0 };
    r.i32(); // throttle
    assert_eq!(r.i32(), 1, "one resource result");
    let code = r.i16();
    (code, r.string())
}

/// DescribeConfigs v1 with synonyms for one key: (value, source, [(synonym, source)]).
fn describe_with_synonyms(
    addr: SocketAddr,
    resource_type: i8,
    name: &str,
    key: &str,
) -> (Option<String>, i8, Vec<(String, i8)>) {
    let body = Body::default()
        .i32(1)
        .i8(resource_type)
        .string(Some(name))
        .i32(1)
        .string(Some(key))
        .i8(1);
    let reply = raw(addr, API_DESCRIBE_CONFIGS, 1, body);
    let mut r = Reply { buf: &reply, pos: 0 };
    r.i32(); // throttle
    assert_eq!(r.i32(), 1, "one resource result");
    assert_eq!(r.i16(), 0, "error code");
    r.string(); // error message
    r.i8(); // resource type
    r.string(); // resource name
    assert_eq!(r.i32(), 1, "one config");
    assert_eq!(r.string().as_deref(), Some(key));
    let value = r.string();
    r.i8(); // read only
    let source = r.i8();
    r.i8(); // sensitive
    let n = r.i32();
    let synonyms = (0..n)
        .map(|_| {
            let name = r.string().unwrap();
            r.string();
            (name, r.i8())
        })
        .collect();
    (value, source, synonyms)
}

/// Fetch v4 of partition 0 from `offset`: the partition's error code.
fn raw_fetch_error(addr: SocketAddr, topic: &str, offset: i64) -> i16 {
    let body = Body::default()
        .i32(-1) // replica id
        .i32(0) // max wait
        .i32(1) // min bytes
        .i32(1 << 20) // max bytes
        .i8(0) // isolation level
        .i32(1)
        .string(Some(topic))
        .i32(1)
        .i32(0)
        .i64(offset)
        .i32(1 << 20);
    let reply = raw(addr, API_FETCH, 4, body);
    let mut r = Reply { buf: &reply, pos: 0 };
    r.i32(); // throttle
    assert_eq!(r.i32(), 1, "one topic");
    r.string();
    assert_eq!(r.i32(), 1, "one partition");
    assert_eq!(r.i32(), 0, "partition index");
    r.i16()
}

fn describe(bootstrap: &str, spec: ResourceSpecifier<'_>) -> rdkafka::admin::ConfigResource {
    let admin = admin_client(bootstrap);
    let mut results = block_on(admin.describe_configs([&spec], &admin_options())).expect("DescribeConfigs");
    results
        .remove(0)
        .unwrap_or_else(|e| panic!("describing {spec:?} failed: {e:?}"))
}

// DescribeConfigs sources, numbered as Kafka numbers them.
const TOPIC: i8 = 1;
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT: i8 = 3;
const STATIC: i8 = 4;
const DEFAULT: i8 = 5;

/// (value, source, read-only) of one entry.
fn entry(resource: &rdkafka::admin::ConfigResource, key: &str) -> (Option<String>, i8, bool) {
    let e = resource.get(key).unwrap_or_else(|| panic!("{key} not described"));
    let source = match e.source {
        ConfigSource::Unknown => 0,
        ConfigSource::DynamicTopic => TOPIC,
        ConfigSource::DynamicBroker => DYNAMIC_BROKER,
        ConfigSource::DynamicDefaultBroker => DYNAMIC_DEFAULT,
        ConfigSource::StaticBroker => STATIC,
        ConfigSource::Default => DEFAULT,
    };
    (e.value.clone(), source, e.is_read_only)
}

/// Legacy AlterConfigs through librdkafka. (rdkafka 0.39 reports every resource as altered,
/// whatever the broker answered, so refusals are checked with [`raw_alter`].)
fn alter(bootstrap: &str, spec: ResourceSpecifier<'_>, set: &[(&str, &str)], validate_only: bool) {
    let admin = admin_client(bootstrap);
    let mut config = AlterConfig::new(spec);
    for (k, v) in set {
        config = config.set(k, v);
    }
    let results = block_on(admin.alter_configs([&config], &admin_options().validate_only(validate_only)))
        .expect("AlterConfigs request");
    assert!(results[0].is_ok(), "{results:?}");
}

/// Asserts a refusal with `code` and a message naming `key`.
fn assert_refused((code, message): (i16, Option<String>), expected: i16, key: &str) {
    assert_eq!(code, expected, "{message:?}");
    assert!(
        message.as_deref().is_some_and(|m| m.contains(key)),
        "message must name {key}: {message:?}"
    );
}

/// Bytes of the `.log` files of a partition directory, and whether leftovers of deletion or
/// cleaning are present.
fn log_dir_state(data_dir: &Path, topic: &str) -> (u64, bool) {
    let dir = data_dir.join(format!("{topic}-0"));
    let mut bytes = 0;
    let mut leftovers = false;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log") {
            bytes += e.metadata().unwrap().len();
        }
        leftovers |= name.contains(".deleted") || name.contains(".cleaned") || name.contains(".swap");
    }
    (bytes, leftovers)
}

/// The codec id of every batch stored in a partition's segment files.
fn stored_codecs(data_dir: &Path, topic: &str) -> Vec<i16> {
    let dir = data_dir.join(format!("{topic}-0"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let mut codecs = Vec::new();
    for f in files {
        let data = std::fs::read(f).unwrap();
        let mut pos = 0;
        while pos + 61 <= data.len() {
            let len = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap()) as usize;
            let attributes = i16::from_be_bytes(data[pos + 21..pos + 23].try_into().unwrap());
            codecs.push(attributes & 0x07);
            pos += 12 + len;
        }
    }
    codecs
}

/// A record to send: key, value (`None`: a tombstone) and timestamp.
type TimedRecord = (Vec<u8>, Option<Vec<u8>>, i64);

/// Sends records with explicit timestamps (None payload = tombstone); returns the per-record
/// delivery results in order.
fn produce_timed(
    producer: &TrackedProducer,
    topic: &str,
    records: &[TimedRecord],
) -> Vec<Result<(i32, i64), KafkaError>> {
    for (i, (k, v, ts)) in records.iter().enumerate() {
        let mut r = BaseRecord::with_opaque_to(topic, i)
            .key(&k[..])
            .partition(0)
            .timestamp(*ts);
        if let Some(v) = v {
            r = r.payload(&v[..]);
        }
        send(producer, r);
    }
    let _ = producer.flush(CLIENT_TIMEOUT);
    let mut out: Vec<Option<Result<(i32, i64), KafkaError>>> = vec![None; records.len()];
    for report in take_reports(producer) {
        out[report.id] = Some(report.result);
    }
    out.into_iter()
        .map(|r| r.expect("a delivery report for every record"))
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn produce_ok(producer: &TrackedProducer, topic: &str, records: &[TimedRecord]) {
    for (i, r) in produce_timed(producer, topic, records).into_iter().enumerate() {
        if let Err(e) = r {
            panic!("record #{i} to {topic} failed: {e}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Configs
// ------------------------------------------------------------------------------------------

#[test]
fn configs_are_described_altered_validated_and_survive_restart() {
    let dir = temp_data_dir();
    let args = ["--set", "log.retention.hours=48"];
    let mut broker = BrokerProcess::start(dir.path(), &args);
    let b = broker.bootstrap();
    create_topic(&b, "conf", 1, &[("retention.ms", "1234")]);
    create_topic(&b, "plain", 1, &[]);

    // Sources as Kafka reports them.
    let conf = describe(&b, ResourceSpecifier::Topic("conf"));
    assert_eq!(entry(&conf, "retention.ms"), (Some("1234".into()), TOPIC, false));
    let plain = describe(&b, ResourceSpecifier::Topic("plain"));
    // Kafka reports the effective value, but with only `log.retention.ms` as its synonym (unset
    // here), the source is the default.
    assert_eq!(
        entry(&plain, "retention.ms"),
        (Some("172800000".into()), DEFAULT, false)
    );
    assert_eq!(
        entry(&plain, "segment.bytes"),
        (Some("1073741824".into()), DEFAULT, false)
    );

    // Legacy AlterConfigs replaces the topic's overrides.
    alter(
        &b,
        ResourceSpecifier::Topic("plain"),
        &[("segment.bytes", "2097152"), ("cleanup.policy", "compact")],
        false,
    );
    let plain = describe(&b, ResourceSpecifier::Topic("plain"));
    assert_eq!(entry(&plain, "segment.bytes"), (Some("2097152".into()), TOPIC, false));
    assert_eq!(entry(&plain, "cleanup.policy").0.as_deref(), Some("compact"));

    // Bad values, unknown keys and topics are refused with a message and change nothing.
    let addr = broker.addr();
    assert_refused(
        raw_alter(addr, RESOURCE_TOPIC, "plain", &[("retention.ms", "soon")]),
        40,
        "retention.ms",
    );
    assert_refused(
        raw_alter(addr, RESOURCE_TOPIC, "plain", &[("no.such.key", "1")]),
        40,
        "no.such.key",
    );
    assert_refused(
        raw_alter(addr, RESOURCE_TOPIC, "plain", &[("cleanup.policy", "shred")]),
        40,
        "cleanup.policy",
    );
    assert_refused(
        raw_alter(
            addr,
            RESOURCE_TOPIC,
            "plain",
            &[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")],
        ),
        40,
        "max.compaction.lag.ms",
    );
    assert_eq!(
        raw_alter(addr, RESOURCE_TOPIC, "nope", &[("retention.ms", "1")]).0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_refused(
        incremental_alter(addr, RESOURCE_TOPIC, "plain", &[("retention.ms", 0, Some("-5"))]),
        40,
        "retention.ms",
    );
    // validate_only checks without changing.
    alter(&b, ResourceSpecifier::Topic("conf"), &[("retention.ms", "5")], true);
    assert_eq!(
        entry(&describe(&b, ResourceSpecifier::Topic("conf")), "retention.ms")
            .0
            .as_deref(),
        Some("1234")
    );
    let plain = describe(&b, ResourceSpecifier::Topic("plain"));
    assert_eq!(entry(&plain, "segment.bytes").0.as_deref(), Some("2097152"));

    // IncrementalAlterConfigs: APPEND to a list, DELETE back to the inherited value.
    let (code, _) = incremental_alter(
        broker.addr(),
        RESOURCE_TOPIC,
        "plain",
        &[("cleanup.policy", 2, Some("delete")), ("segment.bytes", 1, None)],
    );
    assert_eq!(code, 0);
    let plain = describe(&b, ResourceSpecifier::Topic("plain"));
    assert_eq!(entry(&plain, "cleanup.policy").0.as_deref(), Some("compact,delete"));
    assert_eq!(entry(&plain, "segment.bytes").1, DEFAULT);
    let (code, message) = incremental_alter(
        broker.addr(),
        RESOURCE_TOPIC,
        "plain",
        &[("retention.ms", 2, Some("1"))],
    );
    assert_eq!(code, 40, "APPEND on a non-list key: {message:?}");

    // Dynamic broker configs: this node's, then the cluster-wide default.
    alter(
        &b,
        ResourceSpecifier::Broker(1),
        &[("log.retention.ms", "99999")],
        false,
    );
    let node = describe(&b, ResourceSpecifier::Broker(1));
    assert_eq!(
        entry(&node, "log.retention.ms"),
        (Some("99999".into()), DYNAMIC_BROKER, false)
    );
    assert!(entry(&node, "num.partitions").2, "static-only keys are read-only");
    assert!(!entry(&node, "log.cleaner.backoff.ms").2);
    let plain = describe(&b, ResourceSpecifier::Topic("plain"));
    assert_eq!(
        entry(&plain, "retention.ms"),
        (Some("99999".into()), DYNAMIC_BROKER, false)
    );
    assert_refused(
        raw_alter(addr, RESOURCE_BROKER, "1", &[("num.partitions", "3")]),
        42,
        "num.partitions",
    );
    assert_refused(
        incremental_alter(addr, RESOURCE_BROKER, "1", &[("num.partitions", 0, Some("3"))]),
        42,
        "num.partitions",
    );
    assert_refused(
        incremental_alter(addr, RESOURCE_BROKER, "1", &[("log.retention.ms", 0, Some("x"))]),
        42,
        "log.retention.ms",
    );
    assert_eq!(
        raw_alter(addr, RESOURCE_BROKER, "7", &[("log.retention.ms", "1")]).0,
        42,
        "another broker id"
    );
    assert_eq!(
        entry(&describe(&b, ResourceSpecifier::Broker(1)), "log.retention.ms")
            .0
            .as_deref(),
        Some("99999")
    );
    let (code, _) = incremental_alter(
        broker.addr(),
        RESOURCE_BROKER,
        "",
        &[("log.segment.bytes", 0, Some("3000000"))],
    );
    assert_eq!(code, 0);
    let conf = describe(&b, ResourceSpecifier::Topic("conf"));
    assert_eq!(
        entry(&conf, "segment.bytes"),
        (Some("3000000".into()), DYNAMIC_DEFAULT, false)
    );

    // Synonyms in Kafka's order: topic, then the broker key it inherits from by source
    // (dynamic broker, dynamic default, static, default); `log.retention.hours`, which holds
    // the value in other units, is not listed, as on Kafka 4.1.
    let synonyms = describe_with_synonyms(broker.addr(), RESOURCE_TOPIC, "conf", "retention.ms");
    assert_eq!(synonyms.0.as_deref(), Some("1234"));
    assert_eq!(
        synonyms.2,
        vec![
            ("retention.ms".to_string(), TOPIC),
            ("log.retention.ms".to_string(), DYNAMIC_BROKER),
        ]
    );

    // Everything survives a restart.
    broker.terminate();
    let broker = BrokerProcess::start(dir.path(), &args);
    let b = broker.bootstrap();
    let conf = describe(&b, ResourceSpecifier::Topic("conf"));
    assert_eq!(entry(&conf, "retention.ms"), (Some("1234".into()), TOPIC, false));
    assert_eq!(
        entry(&conf, "segment.bytes"),
        (Some("3000000".into()), DYNAMIC_DEFAULT, false)
    );
    let plain = describe(&b, ResourceSpecifier::Topic("plain"));
    assert_eq!(entry(&plain, "cleanup.policy").0.as_deref(), Some("compact,delete"));
    assert_eq!(
        entry(&plain, "retention.ms"),
        (Some("99999".into()), DYNAMIC_BROKER, false)
    );
    let node = describe(&b, ResourceSpecifier::Broker(1));
    assert_eq!(entry(&node, "log.retention.ms").1, DYNAMIC_BROKER);
}

// ------------------------------------------------------------------------------------------
// Retention
// ------------------------------------------------------------------------------------------

#[test]
fn retention_by_size_removes_old_segments_while_a_consumer_reads() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "log.retention.check.interval.ms=300"]);
    let b = broker.bootstrap();
    create_topic(
        &b,
        "sized",
        1,
        &[
            ("segment.bytes", "20000"),
            ("retention.bytes", "60000"),
            ("retention.ms", "-1"),
            ("file.delete.delay.ms", "500"),
        ],
    );
    const TOTAL: i64 = 3000;

    // A consumer reads from the beginning the whole time.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (b, done) = (b.clone(), done.clone());
        thread::spawn(move || {
            let consumer = plain_consumer(&b, &[]);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("sized", 0, Offset::Beginning).unwrap();
            consumer.assign(&tpl).unwrap();
            let mut offsets = Vec::new();
            let mut errors = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(50);
            while Instant::now() < deadline && offsets.last() != Some(&(TOTAL - 1)) {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => offsets.push(rdkafka::Message::offset(&m)),
                    Some(Err(e)) => errors.push(e.to_string()),
                    None if done.load(Ordering::Acquire) && offsets.is_empty() => break,
                    None => {}
                }
                thread::sleep(Duration::from_millis(1));
            }
            (offsets, errors)
        })
    };
    let producer = tracked_producer(&b, &[("linger.ms", "20")]);
    let value = vec![b'r'; 200];
    for round in 0..10 {
        let recs: Vec<_> = (0..TOTAL / 10)
            .map(|i| {
                (
                    format!("k{}", round * 1000 + i).into_bytes(),
                    Some(value.clone()),
                    now_ms(),
                )
            })
            .collect();
        produce_ok(&producer, "sized", &recs);
        thread::sleep(Duration::from_millis(200));
    }
    done.store(true, Ordering::Release);

    // Old segments go, the newest data and the active segment stay.
    let (low, high) = wait_for(Duration::from_secs(20), "retention by size", || {
        let (low, high) = watermarks(&b, "sized", 0);
        let (bytes, _) = log_dir_state(dir.path(), "sized");
        (low > 0 && bytes <= 60_000 + 20_000).then_some((low, high))
    });
    assert_eq!(high, TOTAL);
    assert!(low < high);
    assert_eq!(
        raw_fetch_error(broker.addr(), "sized", 0),
        1,
        "OFFSET_OUT_OF_RANGE below the log start"
    );
    // Retention may still be moving the log start past `low`; the newest record stays.
    assert_eq!(raw_fetch_error(broker.addr(), "sized", high - 1), 0);
    wait_for(
        Duration::from_secs(10),
        ".deleted files removed after file.delete.delay.ms",
        || (!log_dir_state(dir.path(), "sized").1).then_some(()),
    );

    let (offsets, errors) = reader.join().unwrap();
    assert!(errors.is_empty(), "consumer errors: {errors:?}");
    assert_eq!(offsets.last(), Some(&(TOTAL - 1)), "the consumer read to the end");
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets only grow");
}

#[test]
fn retention_by_time_follows_live_changes_and_can_expire_everything() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "log.retention.check.interval.ms=300"]);
    let b = broker.bootstrap();
    create_topic(
        &b,
        "timed",
        1,
        &[
            ("segment.bytes", "10000"),
            ("retention.ms", "-1"),
            ("file.delete.delay.ms", "0"),
        ],
    );
    let producer = tracked_producer(&b, &[]);
    let value = vec![b't'; 200];
    let old = now_ms() - 2 * 3_600_000;
    let recs: Vec<_> = (0..300)
        .map(|i| (format!("o{i}").into_bytes(), Some(value.clone()), old))
        .collect();
    produce_ok(&producer, "timed", &recs);
    let recs: Vec<_> = (0..300)
        .map(|i| (format!("n{i}").into_bytes(), Some(value.clone()), now_ms()))
        .collect();
    produce_ok(&producer, "timed", &recs);
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(watermarks(&b, "timed", 0), (0, 600), "retention.ms=-1 keeps everything");

    // One hour: the two-hour-old segments go, live.
    alter(
        &b,
        ResourceSpecifier::Topic("timed"),
        &[
            ("retention.ms", "3600000"),
            ("segment.bytes", "10000"),
            ("file.delete.delay.ms", "0"),
        ],
        false,
    );
    let low = wait_for(Duration::from_secs(15), "time retention after the change", || {
        let (low, _) = watermarks(&b, "timed", 0);
        (low > 0).then_some(low)
    });
    assert!(low <= 300, "no new record expired: low watermark {low}");
    let left = consume_to_end(&b, "timed", 1);
    assert!(left[0].iter().any(|r| r.key.as_deref() == Some(b"n0".as_slice())));

    // One second: everything expires; the active segment is rolled and removed too, and both
    // ListOffsets answers are the log end offset.
    let (code, _) = incremental_alter(
        broker.addr(),
        RESOURCE_TOPIC,
        "timed",
        &[("retention.ms", 0, Some("1000"))],
    );
    assert_eq!(code, 0);
    wait_for(Duration::from_secs(15), "every record to expire", || {
        (watermarks(&b, "timed", 0) == (600, 600)).then_some(())
    });
    let placed = produce_all(&producer, "timed", Some(0), &[(b"after".to_vec(), b"expiry".to_vec())]);
    assert_eq!(placed, vec![(0, 600)]);
}

// ------------------------------------------------------------------------------------------
// Compaction
// ------------------------------------------------------------------------------------------

fn key_value(key: usize, round: usize) -> TimedRecord {
    (
        format!("key-{key:04}").into_bytes(),
        Some(format!("value-{key:04}-{round:03}-{}", "p".repeat(20)).into_bytes()),
        now_ms(),
    )
}

/// Consumes `topic` and returns the records whose key starts with `key-`, checking offsets
/// only grow.
fn keyed_records(bootstrap: &str, topic: &str) -> Vec<Consumed> {
    let all = consume_to_end(bootstrap, topic, 1).remove(0);
    assert!(all.windows(2).all(|w| w[0].offset < w[1].offset));
    all.into_iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(b"key-")))
        .collect()
}

#[test]
fn compacted_topic_keeps_exactly_the_latest_value_per_key_even_after_kill_9() {
    let dir = temp_data_dir();
    let args = ["--set", "log.cleaner.backoff.ms=200"];
    let mut broker = BrokerProcess::start(dir.path(), &args);
    let b = broker.bootstrap();
    create_topic(
        &b,
        "changelog",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "500000"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    const KEYS: usize = 1000;
    const ROUNDS: usize = 100;
    let producer = tracked_producer(&b, &[("linger.ms", "20"), ("batch.num.messages", "2000")]);
    for round in 0..ROUNDS {
        let recs: Vec<_> = (0..KEYS).map(|k| key_value(k, round)).collect();
        produce_ok(&producer, "changelog", &recs);
    }
    // Another key pushes the last round out of the active segment.
    let filler: Vec<_> = (0..6000)
        .map(|i| (b"filler".to_vec(), Some(format!("{i:0>100}").into_bytes()), now_ms()))
        .collect();
    produce_ok(&producer, "changelog", &filler);
    drop(producer);
    let end = watermarks(&b, "changelog", 0).1;
    assert_eq!(end, (KEYS * ROUNDS + 6000) as i64);

    // A crash while the cleaner is (probably) at work must leave a correct log.
    thread::sleep(Duration::from_millis(400));
    broker.kill9();
    let broker = BrokerProcess::start(dir.path(), &args);
    let b = broker.bootstrap();
    wait_for(Duration::from_secs(50), "the cleaner to compact the log", || {
        let (bytes, leftovers) = log_dir_state(dir.path(), "changelog");
        (bytes < 1_200_000 && !leftovers).then_some(())
    });
    assert_eq!(watermarks(&b, "changelog", 0).1, end, "no offset lost or added");
    let keyed = keyed_records(&b, "changelog");
    assert_eq!(keyed.len(), KEYS, "exactly one record per key");
    let mut seen = BTreeMap::new();
    for r in &keyed {
        let key = String::from_utf8(r.key.clone().unwrap()).unwrap();
        let expected = key_value(key[4..].parse().unwrap(), ROUNDS - 1).1;
        assert_eq!(r.value, expected, "{key} holds its latest value");
        assert!(seen.insert(key, r.offset).is_none());
    }
}

#[test]
fn tombstoned_keys_vanish_after_delete_retention() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "log.cleaner.backoff.ms=200"]);
    let b = broker.bootstrap();
    create_topic(
        &b,
        "tomb",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "20000"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "2000"),
        ],
    );
    let producer = tracked_producer(&b, &[]);
    for round in 0..3 {
        let recs: Vec<_> = (0..100).map(|k| key_value(k, round)).collect();
        produce_ok(&producer, "tomb", &recs);
    }
    let tombstones: Vec<_> = (0..20)
        .map(|k| (format!("key-{k:04}").into_bytes(), None, now_ms()))
        .collect();
    produce_ok(&producer, "tomb", &tombstones);
    let filler: Vec<_> = (0..300)
        .map(|i| (b"filler".to_vec(), Some(format!("{i:0>100}").into_bytes()), now_ms()))
        .collect();
    produce_ok(&producer, "tomb", &filler);

    let keyed = wait_for(Duration::from_secs(40), "tombstoned keys to vanish", || {
        let keyed = keyed_records(&b, "tomb");
        (keyed.len() == 80).then_some(keyed)
    });
    let mut by_key = HashMap::new();
    for r in &keyed {
        assert!(r.value.is_some(), "no tombstone left: {r:?}");
        by_key.insert(r.key.clone().unwrap(), r.value.clone());
    }
    for k in 0..100 {
        let (key, value, _) = key_value(k, 2);
        match by_key.get(&key) {
            Some(v) => assert!(k >= 20 && *v == value, "key {k}"),
            None => assert!(k < 20, "key {k} must remain"),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Recompression and timestamps
// ------------------------------------------------------------------------------------------

#[test]
fn topic_compression_type_rewrites_batches_in_its_codec() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let b = broker.bootstrap();
    create_topic(
        &b,
        "zt",
        1,
        &[("compression.type", "zstd"), ("compression.zstd.level", "6")],
    );
    create_topic(&b, "flat", 1, &[("compression.type", "uncompressed")]);
    let mut expected = Vec::new();
    for codec in ["none", "gzip", "lz4", "snappy", "zstd"] {
        let producer = tracked_producer(&b, &[("compression.type", codec)]);
        let recs: Vec<_> = (0..50)
            .map(|i| {
                (
                    format!("{codec}-{i}").into_bytes(),
                    format!("value {i} {}", "z".repeat(100)).into_bytes(),
                )
            })
            .collect();
        produce_all(&producer, "zt", Some(0), &recs);
        produce_all(&producer, "flat", Some(0), &recs);
        expected.extend(recs);
    }
    let codecs = stored_codecs(dir.path(), "zt");
    assert!(!codecs.is_empty());
    assert!(codecs.iter().all(|c| *c == 4), "every stored batch is zstd: {codecs:?}");
    let codecs = stored_codecs(dir.path(), "flat");
    assert!(
        codecs.iter().all(|c| *c == 0),
        "every stored batch is uncompressed: {codecs:?}"
    );
    for topic in ["zt", "flat"] {
        let got = consume_to_end(&b, topic, 1).remove(0);
        assert_dense_from_zero(topic, 0, &got);
        let pairs: Vec<_> = got
            .iter()
            .map(|r| (r.key.clone().unwrap(), r.value.clone().unwrap()))
            .collect();
        assert_eq!(pairs, expected, "{topic}: records intact after recompression");
    }
}

#[test]
fn timestamps_outside_the_topic_bounds_are_refused() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let b = broker.bootstrap();
    create_topic(
        &b,
        "bounded",
        1,
        &[
            ("message.timestamp.after.max.ms", "60000"),
            ("message.timestamp.before.max.ms", "600000"),
        ],
    );
    let producer = tracked_producer(&b, &[("linger.ms", "0"), ("retries", "0")]);
    let now = now_ms();
    for (ts, ok) in [
        (now, true),
        (now + 3_600_000, false),
        (now - 3_600_000, false),
        (now - 300_000, true),
    ] {
        let result = produce_timed(&producer, "bounded", &[(b"k".to_vec(), Some(b"v".to_vec()), ts)]).remove(0);
        match (ok, result) {
            (true, Ok(_)) => {}
            (false, Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTimestamp))) => {}
            (ok, other) => panic!("timestamp {} ms from now: expected ok={ok}, got {other:?}", ts - now),
        }
    }
    assert_eq!(watermarks(&b, "bounded", 0), (0, 2));
}

// ------------------------------------------------------------------------------------------
// DeleteRecords
// ------------------------------------------------------------------------------------------

fn delete_records(bootstrap: &str, topic: &str, offset: Offset) -> Result<i64, KafkaError> {
    let admin = admin_client(bootstrap);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, offset).unwrap();
    let result = block_on(admin.delete_records(&tpl, &admin_options())).expect("DeleteRecords request");
    let elem = result.elements_for_topic(topic).remove(0);
    elem.error()?;
    match elem.offset() {
        Offset::Offset(o) => Ok(o),
        other => panic!("low watermark {other:?}"),
    }
}

#[test]
fn delete_records_moves_the_log_start_and_survives_restart() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let b = broker.bootstrap();
    create_topic(&b, "dr", 1, &[("segment.bytes", "4000")]);
    create_topic(&b, "compact-only", 1, &[("cleanup.policy", "compact")]);
    let producer = tracked_producer(&b, &[]);
    // Ten batches, so that several segments hold them.
    for chunk in 0..10 {
        let recs: Vec<_> = (0..10)
            .map(|i| (format!("k{chunk}-{i}").into_bytes(), vec![b'd'; 100]))
            .collect();
        produce_all(&producer, "dr", Some(0), &recs);
    }

    assert_eq!(delete_records(&b, "dr", Offset::Offset(40)).unwrap(), 40);
    assert_eq!(watermarks(&b, "dr", 0), (40, 100), "ListOffsets earliest follows");
    assert_eq!(raw_fetch_error(broker.addr(), "dr", 10), 1, "fetch below the log start");
    let left = consume_to_end(&b, "dr", 1).remove(0);
    assert_eq!(left.first().map(|r| r.offset), Some(40));
    assert_eq!(left.len(), 60);
    assert_eq!(
        delete_records(&b, "dr", Offset::Offset(20)).unwrap(),
        40,
        "never moves back"
    );
    match delete_records(&b, "dr", Offset::Offset(101)) {
        Err(KafkaError::OffsetFetch(RDKafkaErrorCode::OffsetOutOfRange)) => {}
        other => panic!("beyond the high watermark: {other:?}"),
    }
    match delete_records(&b, "compact-only", Offset::Offset(0)) {
        Err(KafkaError::OffsetFetch(RDKafkaErrorCode::PolicyViolation)) => {}
        other => panic!("compact-only topic: {other:?}"),
    }
    // Segments wholly below the new start are gone from disk.
    let bases: Vec<i64> = std::fs::read_dir(dir.path().join("dr-0"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    assert!(
        bases.iter().all(|&base| base > 0),
        "the first segment was removed: {bases:?}"
    );

    // A crash keeps the new start; then -1 means the high watermark.
    broker.kill9();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let b = broker.bootstrap();
    assert_eq!(watermarks(&b, "dr", 0), (40, 100));
    assert_eq!(delete_records(&b, "dr", Offset::End).unwrap(), 100);
    assert_eq!(watermarks(&b, "dr", 0), (100, 100));
    broker.terminate();
    let broker = BrokerProcess::start(dir.path(), &[]);
    assert_eq!(watermarks(&broker.bootstrap(), "dr", 0), (100, 100));
}
