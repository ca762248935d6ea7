//! Produce/consume round trips through librdkafka: every codec, restarts, ListOffsets by
//! timestamp, long-poll fetches and LogAppendTime topics.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{Header, OwnedHeaders, Timestamp};
use rdkafka::producer::BaseRecord;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use common::*;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// Deterministic pseudo-random bytes (xorshift64*), so failures are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Sent {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Record `i` of codec `c`: a mix of empty, null, random, highly compressible and large
/// values, binary keys, and headers including duplicate keys and null header values.
fn make_record(rng: &mut Rng, c: usize, i: usize) -> Sent {
    let key = if i.is_multiple_of(5) {
        let mut k = vec![0u8, 0xff, c as u8];
        k.extend_from_slice(&(i as u32).to_be_bytes());
        k
    } else {
        format!("key-{c}-{i}").into_bytes()
    };
    let value = match i % 10 {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some(format!("compressible {c}/{i} ").repeat(500).into_bytes()),
        3 => Some(rng.bytes(20_000)),
        _ => {
            let n = (rng.next() % 1500) as usize;
            Some(rng.bytes(n))
        }
    };
    let headers = match i % 4 {
        0 => Vec::new(),
        1 => vec![("trace".to_string(), Some(rng.bytes(16)))],
        2 => vec![
            ("dup".to_string(), Some(b"first".to_vec())),
            ("dup".to_string(), Some(b"second".to_vec())),
            ("nullable".to_string(), None),
            ("empty".to_string(), Some(Vec::new())),
        ],
        _ => vec![
            ("codec".to_string(), Some(CODECS[c].as_bytes().to_vec())),
            ("i".to_string(), Some(i.to_string().into_bytes())),
        ],
    };
    Sent {
        key: Some(key),
        value,
        headers,
    }
}

fn owned_headers(headers: &[(String, Option<Vec<u8>>)]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut out = OwnedHeaders::new_with_capacity(headers.len());
    for (k, v) in headers {
        out = out.insert(Header {
            key: k,
            value: v.as_deref(),
        });
    }
    Some(out)
}

fn describe(r: &Sent) -> String {
    format!(
        "key {:?}, value {}, headers {:?}",
        r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
        match &r.value {
            None => "null".to_string(),
            Some(v) => format!("{} bytes", v.len()),
        },
        r.headers
            .iter()
            .map(|(k, v)| (k, v.as_ref().map(Vec::len)))
            .collect::<Vec<_>>()
    )
}

#[test]
fn every_codec_round_trips_keyed_records_over_partitions() {
    const PARTITIONS: i32 = 4;
    const PER_CODEC: usize = 1500;
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let topic = "codecs";
    create_topic(&bootstrap, topic, PARTITIONS, &[]);

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // (partition, offset) -> (codec, index, record)
    let mut produced: BTreeMap<(i32, i64), (usize, usize, Sent)> = BTreeMap::new();
    for (c, codec) in CODECS.iter().enumerate() {
        let records: Vec<Sent> = (0..PER_CODEC).map(|i| make_record(&mut rng, c, i)).collect();
        let producer = tracked_producer(&bootstrap, &[("compression.type", codec), ("linger.ms", "20")]);
        for (i, r) in records.iter().enumerate() {
            let mut br: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, i);
            if let Some(k) = &r.key {
                br = br.key(&k[..]);
            }
            if let Some(v) = &r.value {
                br = br.payload(&v[..]);
            }
            if let Some(h) = owned_headers(&r.headers) {
                br = br.headers(h);
            }
            send(&producer, br);
        }
        flush(&producer);
        let mut reports = take_reports(&producer);
        assert_eq!(reports.len(), PER_CODEC, "{codec}: one delivery report per record");
        reports.sort_by_key(|r| r.id);
        let mut last_offset_in_partition: BTreeMap<i32, i64> = BTreeMap::new();
        for rep in reports {
            let (p, o) = rep
                .result
                .unwrap_or_else(|e| panic!("{codec}: record #{} not delivered: {e}", rep.id));
            if let Some(prev) = last_offset_in_partition.insert(p, o) {
                assert!(
                    o > prev,
                    "{codec}: record #{} got offset {o} in partition {p}, not after the previous record's {prev}",
                    rep.id
                );
            }
            let dup = produced.insert((p, o), (c, rep.id, records[rep.id].clone()));
            assert!(dup.is_none(), "{codec}: offset {o} in partition {p} acknowledged twice");
        }
    }

    let consumed = consume_to_end(&bootstrap, topic, PARTITIONS);
    for p in 0..PARTITIONS {
        let expected: Vec<_> = produced.range((p, 0)..(p + 1, 0)).collect();
        assert!(!expected.is_empty(), "no record was partitioned to partition {p}");
        let got = &consumed[p as usize];
        assert_dense_from_zero(topic, p, got);
        assert_eq!(
            got.len(),
            expected.len(),
            "partition {p}: consumed {} records, produced {}",
            got.len(),
            expected.len()
        );
        for (rec, ((_, offset), (c, i, sent))) in got.iter().zip(expected) {
            assert_eq!(rec.offset, *offset);
            let back = Sent {
                key: rec.key.clone(),
                value: rec.value.clone(),
                headers: rec.headers.clone(),
            };
            assert!(
                back == *sent,
                "partition {p} offset {offset} ({} record #{i}) differs:\n  sent: {}\n  read: {}",
                CODECS[*c],
                describe(sent),
                describe(&back)
            );
            assert!(
                matches!(rec.timestamp, Timestamp::CreateTime(t) if t > 0),
                "partition {p} offset {offset}: expected a CreateTime timestamp, got {:?}",
                rec.timestamp
            );
        }
    }
}

#[test]
fn records_survive_a_graceful_restart_and_offsets_continue() {
    const PARTITIONS: i32 = 3;
    const N: usize = 3000;
    let dir = temp_data_dir();
    // Small segments so the log rolls several times before the restart.
    let args = ["--set", "log.segment.bytes=65536"];
    let mut broker = BrokerProcess::start(dir.path(), &args);
    let topic = "durable";
    create_topic(&broker.bootstrap(), topic, PARTITIONS, &[]);

    let value = |i: usize| format!("value-{i:06}-").repeat(1 + i % 20).into_bytes();
    let records: Vec<_> = (0..N).map(|i| (format!("k{i}").into_bytes(), value(i))).collect();
    {
        let producer = tracked_producer(&broker.bootstrap(), &[]);
        for p in 0..PARTITIONS {
            let mine: Vec<_> = records
                .iter()
                .skip(p as usize)
                .step_by(PARTITIONS as usize)
                .cloned()
                .collect();
            let placed = produce_all(&producer, topic, Some(p), &mine);
            let offsets: Vec<i64> = placed.iter().map(|&(_, o)| o).collect();
            assert_eq!(
                offsets,
                (0..mine.len() as i64).collect::<Vec<_>>(),
                "partition {p}: offsets of the first produce"
            );
        }
    }

    broker.terminate();
    let broker = BrokerProcess::start(dir.path(), &args);
    let bootstrap = broker.bootstrap();
    assert_eq!(
        topic_partition_count(&bootstrap, topic),
        Some(PARTITIONS as usize),
        "topic after restart"
    );

    let consumed = consume_to_end(&bootstrap, topic, PARTITIONS);
    for p in 0..PARTITIONS {
        let expected: Vec<_> = records.iter().skip(p as usize).step_by(PARTITIONS as usize).collect();
        let got = &consumed[p as usize];
        assert_dense_from_zero(topic, p, got);
        assert_eq!(
            got.len(),
            expected.len(),
            "partition {p}: records read back after restart"
        );
        for (rec, (k, v)) in got.iter().zip(expected) {
            assert_eq!(
                rec.key.as_deref(),
                Some(&k[..]),
                "partition {p} offset {}: key",
                rec.offset
            );
            assert!(
                rec.value.as_deref() == Some(&v[..]),
                "partition {p} offset {}: value differs after restart",
                rec.offset
            );
        }
    }

    let producer = tracked_producer(&bootstrap, &[]);
    let per_partition = N / PARTITIONS as usize;
    for p in 0..PARTITIONS {
        let more: Vec<_> = (0..10)
            .map(|i| (format!("after-{i}").into_bytes(), b"x".to_vec()))
            .collect();
        let placed = produce_all(&producer, topic, Some(p), &more);
        let offsets: Vec<i64> = placed.iter().map(|&(_, o)| o).collect();
        let want: Vec<i64> = (per_partition as i64..per_partition as i64 + 10).collect();
        assert_eq!(
            offsets, want,
            "partition {p}: offsets after restart must continue at {per_partition}"
        );
    }
    for p in 0..PARTITIONS {
        assert_eq!(
            watermarks(&bootstrap, topic, p),
            (0, per_partition as i64 + 10),
            "partition {p} watermarks"
        );
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn list_offsets_by_timestamp_and_watermarks() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let topic = "timed";
    create_topic(&bootstrap, topic, 1, &[]);

    // Ten records one second apart, an hour ago, in two batches.
    let base = (now_ms() - 3_600_000) / 1000 * 1000;
    let producer = tracked_producer(&bootstrap, &[]);
    for batch in [0..5usize, 5..10] {
        for i in batch {
            let v = format!("t{i}");
            send(
                &producer,
                BaseRecord::with_opaque_to(topic, i)
                    .partition(0)
                    .payload(v.as_bytes())
                    .timestamp(base + i as i64 * 1000),
            );
        }
        flush(&producer);
    }
    let mut reports = take_reports(&producer);
    reports.sort_by_key(|r| r.id);
    let offsets: Vec<i64> = reports.iter().map(|r| r.result.clone().expect("delivered").1).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());

    assert_eq!(watermarks(&bootstrap, topic, 0), (0, 10), "earliest/latest watermarks");

    let consumer = plain_consumer(&bootstrap, &[]);
    let lookup = |ts: i64| -> Offset {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(ts)).unwrap();
        let res = consumer
            .offsets_for_times(tpl, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("ListOffsets(timestamp {ts}) failed: {e}"));
        let elem = res.find_partition(topic, 0).expect("partition in ListOffsets result");
        elem.error()
            .unwrap_or_else(|e| panic!("ListOffsets(timestamp {ts}) partition error: {e}"));
        elem.offset()
    };
    let cases = [
        (base - 60_000, Offset::Offset(0), "before every record"),
        (base, Offset::Offset(0), "exactly the first timestamp"),
        (base + 1, Offset::Offset(1), "just after the first"),
        (base + 2_500, Offset::Offset(3), "between records 2 and 3"),
        (base + 3_000, Offset::Offset(3), "exactly record 3"),
        (base + 4_999, Offset::Offset(5), "just before the second batch"),
        (base + 5_000, Offset::Offset(5), "first record of the second batch"),
        (base + 9_000, Offset::Offset(9), "the last record"),
        (base + 9_001, Offset::End, "after the last record"),
    ];
    for (ts, want, what) in cases {
        assert_eq!(
            lookup(ts),
            want,
            "offsets_for_times at {what} (ts = base + {})",
            ts - base
        );
    }

    // The timestamps themselves come back as produced.
    let consumed = consume_to_end(&bootstrap, topic, 1);
    let stamps: Vec<_> = consumed[0].iter().map(|r| r.timestamp).collect();
    let want: Vec<_> = (0..10).map(|i| Timestamp::CreateTime(base + i * 1000)).collect();
    assert_eq!(stamps, want);
}

/// Keeps the most recent librdkafka statistics snapshot.
#[derive(Default)]
struct StatsContext {
    latest: Mutex<Option<Statistics>>,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        *self.latest.lock().unwrap() = Some(statistics);
    }
}

impl ConsumerContext for StatsContext {}

#[test]
fn waiting_fetch_is_woken_by_a_produce() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let topic = "wakeup";
    create_topic(&bootstrap, topic, 1, &[]);
    let producer = tracked_producer(&bootstrap, &[("linger.ms", "0")]);
    produce_all(&producer, topic, Some(0), &[(b"old".to_vec(), b"before".to_vec())]);

    // The consumer reports librdkafka statistics every 100 ms; they show when it is fetching
    // from offset 1 and has a request outstanding at the broker.
    let consumer: BaseConsumer<StatsContext> = client_config(&bootstrap)
        .set("group.id", "rivulet-it-assign-only")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10000")
        .set("statistics.interval.ms", "100")
        .create_with_context(StatsContext::default())
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::End).unwrap();
    let assigned_at = Instant::now();
    consumer.assign(&tpl).unwrap();
    wait_for(CLIENT_TIMEOUT, "the consumer to wait on a fetch from offset 1", || {
        assert!(
            consumer.poll(Duration::from_millis(100)).is_none(),
            "nothing should be consumed yet"
        );
        let stats = consumer.context().latest.lock().unwrap().clone()?;
        let part = stats.topics.get(topic)?.partitions.get(&0)?;
        let fetch_outstanding = stats.brokers.values().any(|b| b.nodeid >= 0 && b.waitresp_cnt > 0);
        (part.fetch_state == "active" && part.next_offset == 1 && fetch_outstanding).then_some(())
    });
    // Produce about a second after the consumer started waiting.
    while assigned_at.elapsed() < Duration::from_secs(1) {
        assert!(
            consumer.poll(Duration::from_millis(100)).is_none(),
            "nothing should be consumed yet"
        );
    }

    let sent_at = Instant::now();
    send(
        &producer,
        BaseRecord::with_opaque_to(topic, 1)
            .partition(0)
            .key(&b"new"[..])
            .payload(&b"wake up"[..]),
    );
    let msg = loop {
        if let Some(m) = consumer.poll(Duration::from_millis(50)) {
            break Consumed::from_message(&m.expect("consumer error"));
        }
        assert!(
            sent_at.elapsed() < Duration::from_secs(15),
            "the produced record never arrived at the waiting consumer"
        );
    };
    let latency = sent_at.elapsed();
    assert_eq!((msg.offset, msg.value.as_deref()), (1, Some(&b"wake up"[..])));
    assert!(
        latency < Duration::from_secs(5),
        "a fetch waiting up to 10 s should be answered when the record arrives; it took {latency:?}"
    );
    flush(&producer);
}

#[test]
fn log_append_time_topic_stamps_records_with_broker_time() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let topic = "appended";
    create_topic(&bootstrap, topic, 1, &[("message.timestamp.type", "LogAppendTime")]);
    check_log_append_time(&bootstrap, topic);
}

#[test]
fn broker_wide_log_append_time_applies_to_new_topics() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "log.message.timestamp.type=LogAppendTime"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "broker-default", 1, &[]);
    check_log_append_time(&bootstrap, "broker-default");
}

fn check_log_append_time(bootstrap: &str, topic: &str) {
    let producer = tracked_producer(bootstrap, &[]);
    let ancient = 1_000_000_000_000; // 2001-09-09
    let before = now_ms();
    for i in 0..20usize {
        let v = format!("v{i}");
        send(
            &producer,
            BaseRecord::with_opaque_to(topic, i)
                .partition(0)
                .payload(v.as_bytes())
                .timestamp(ancient + i as i64),
        );
    }
    flush(&producer);
    let after = now_ms();
    for r in take_reports(&producer) {
        r.result
            .unwrap_or_else(|e| panic!("record #{} not delivered: {e}", r.id));
    }
    let consumed = consume_to_end(bootstrap, topic, 1);
    assert_eq!(consumed[0].len(), 20);
    for rec in &consumed[0] {
        match rec.timestamp {
            Timestamp::LogAppendTime(t) => assert!(
                (before - 5_000..=after + 5_000).contains(&t),
                "offset {}: LogAppendTime {t} is not between produce start {before} and end {after}",
                rec.offset
            ),
            other => panic!(
                "offset {}: expected a LogAppendTime timestamp, got {other:?}",
                rec.offset
            ),
        }
    }
}
