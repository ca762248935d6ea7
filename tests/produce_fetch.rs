//! Produce and fetch behaviour beyond the plain round trip: acks levels, concurrent writers,
//! large records, small fetch limits, starting mid-batch and out-of-range positions.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};

use common::*;

/// Polls `consumer` until `n` records arrived (or panics after a minute).
fn poll_n(consumer: &rdkafka::consumer::BaseConsumer, n: usize, what: &str) -> Vec<Consumed> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: only {} of {n} records arrived within 60 s",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Consumed::from_message(&m)),
            Some(Err(e)) => panic!("{what}: consumer error {e}"),
            None => {}
        }
    }
    out
}

fn assign_at(consumer: &rdkafka::consumer::BaseConsumer, topic: &str, partition: i32, offset: Offset) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, offset).unwrap();
    consumer.assign(&tpl).expect("assign");
}

#[test]
fn acks_zero_one_and_all_all_store_records() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "acks", 3, &[]);

    for (p, acks) in [(0, "0"), (1, "1"), (2, "all")] {
        let producer = tracked_producer(&bootstrap, &[("acks", acks)]);
        let recs: Vec<_> = (0..500)
            .map(|i| (format!("{acks}-{i}").into_bytes(), vec![b'a' + (i % 26) as u8; 100 + i]))
            .collect();
        for (i, (k, v)) in recs.iter().enumerate() {
            send(
                &producer,
                BaseRecord::with_opaque_to("acks", i)
                    .partition(p)
                    .key(&k[..])
                    .payload(&v[..]),
            );
        }
        flush(&producer);
        for r in take_reports(&producer) {
            let (rp, _) = r
                .result
                .unwrap_or_else(|e| panic!("acks={acks}: record #{} failed: {e}", r.id));
            assert_eq!(rp, p);
        }
        // With acks=0 there is no acknowledgement to wait for, so poll until the log has them.
        wait_for(CLIENT_TIMEOUT, &format!("acks={acks} records to be stored"), || {
            (watermarks(&bootstrap, "acks", p).1 == 500).then_some(())
        });
        let consumed = consume_to_end(&bootstrap, "acks", 3);
        let got = &consumed[p as usize];
        assert_dense_from_zero("acks", p, got);
        for (rec, (k, v)) in got.iter().zip(&recs) {
            assert_eq!(
                (rec.key.as_ref(), rec.value.as_ref()),
                (Some(k), Some(v)),
                "acks={acks} offset {}",
                rec.offset
            );
        }
        // The connection stays usable after acks=0 requests (the broker must not answer them).
        let placed = produce_all(
            &tracked_producer(&bootstrap, &[("acks", "all")]),
            "acks",
            Some(p),
            &[(b"tail".to_vec(), b"x".to_vec())],
        );
        assert_eq!(placed, vec![(p, 500)], "acks={acks}: next offset");
    }
}

#[test]
fn concurrent_producers_to_one_partition_get_distinct_dense_offsets() {
    const PRODUCERS: usize = 4;
    const EACH: usize = 2000;
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "contended", 1, &[]);

    let handles: Vec<_> = (0..PRODUCERS)
        .map(|w| {
            let bootstrap = bootstrap.clone();
            thread::spawn(move || {
                let codec = ["none", "lz4", "zstd", "gzip"][w % 4];
                let producer = tracked_producer(&bootstrap, &[("compression.type", codec), ("linger.ms", "1")]);
                let recs: Vec<_> = (0..EACH)
                    .map(|i| (format!("w{w}").into_bytes(), format!("w{w}-{i:06}").into_bytes()))
                    .collect();
                produce_all(&producer, "contended", Some(0), &recs)
            })
        })
        .collect();
    let placements: Vec<Vec<(i32, i64)>> = handles
        .into_iter()
        .map(|h| h.join().expect("producer thread"))
        .collect();

    let mut all = HashSet::new();
    for (w, placed) in placements.iter().enumerate() {
        for pair in placed.windows(2) {
            assert!(
                pair[1].1 > pair[0].1,
                "writer {w}: offsets not increasing in send order: {pair:?}"
            );
        }
        for &(_, o) in placed {
            assert!(all.insert(o), "offset {o} given to two records");
        }
    }
    assert_eq!(all.len(), PRODUCERS * EACH);
    assert_eq!(
        *all.iter().max().unwrap() as usize,
        PRODUCERS * EACH - 1,
        "offsets are dense from 0"
    );

    let consumed = consume_to_end(&bootstrap, "contended", 1);
    assert_eq!(consumed[0].len(), PRODUCERS * EACH);
    assert_dense_from_zero("contended", 0, &consumed[0]);
    for (w, placed) in placements.iter().enumerate() {
        for (i, &(_, o)) in placed.iter().enumerate() {
            let rec = &consumed[0][o as usize];
            assert_eq!(
                rec.value.as_deref(),
                Some(format!("w{w}-{i:06}").as_bytes()),
                "offset {o} should hold writer {w}'s record {i}"
            );
        }
    }
}

#[test]
fn large_records_and_tiny_fetch_limits() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "large", 1, &[]);

    // Records up to just under the default message.max.bytes (1048588), uncompressed.
    let sizes = [900_000usize, 10, 500_000, 1, 1_000_000, 64 * 1024];
    let recs: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (
                format!("big{i}").into_bytes(),
                (0..n).map(|j| (j * 7 + i) as u8).collect::<Vec<u8>>(),
            )
        })
        .collect();
    let producer = tracked_producer(
        &bootstrap,
        &[
            ("compression.type", "none"),
            ("linger.ms", "0"),
            ("message.max.bytes", "2000000"),
        ],
    );
    let placed = produce_all(&producer, "large", Some(0), &recs);
    assert_eq!(
        placed.iter().map(|&(_, o)| o).collect::<Vec<_>>(),
        (0..sizes.len() as i64).collect::<Vec<_>>()
    );

    // A consumer whose fetch limits are far below the record sizes must still progress: the
    // broker returns at least the first whole batch (KIP-74).
    let consumer = plain_consumer(
        &bootstrap,
        &[
            ("message.max.bytes", "1000"),
            ("fetch.max.bytes", "1024"),
            ("max.partition.fetch.bytes", "1024"),
            ("receive.message.max.bytes", "2000000"),
        ],
    );
    assign_at(&consumer, "large", 0, Offset::Beginning);
    let got = poll_n(&consumer, sizes.len(), "tiny-limit consumer");
    for (rec, (k, v)) in got.iter().zip(&recs) {
        assert_eq!(rec.key.as_ref(), Some(k));
        assert!(
            rec.value.as_ref() == Some(v),
            "offset {}: {}-byte value differs",
            rec.offset,
            v.len()
        );
    }
}

#[test]
fn fetch_from_the_middle_of_a_batch_and_out_of_range() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "middle", 1, &[]);

    // One batch of 100 records (large linger, one flush).
    let producer = tracked_producer(&bootstrap, &[("linger.ms", "200"), ("compression.type", "lz4")]);
    let recs: Vec<_> = (0..100)
        .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();
    produce_all(&producer, "middle", Some(0), &recs);

    let consumer = plain_consumer(&bootstrap, &[]);
    assign_at(&consumer, "middle", 0, Offset::Offset(37));
    let got = poll_n(&consumer, 63, "consumer from offset 37");
    assert_eq!(got[0].offset, 37, "first record delivered from a mid-batch position");
    assert_eq!(got[0].value.as_deref(), Some(&b"v37"[..]));
    assert_eq!(got.last().unwrap().offset, 99);

    // An offset beyond the log end is out of range; auto.offset.reset=earliest restarts at 0.
    let consumer = plain_consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    assign_at(&consumer, "middle", 0, Offset::Offset(1_000));
    let got = poll_n(&consumer, 100, "consumer reset from an out-of-range offset");
    assert_eq!(got[0].offset, 0, "reset to earliest after OFFSET_OUT_OF_RANGE");

    // Fetching an empty partition at offset 0 waits without error; a later record arrives.
    create_topic(&bootstrap, "empty", 1, &[]);
    let consumer = plain_consumer(&bootstrap, &[("fetch.wait.max.ms", "200")]);
    assign_at(&consumer, "empty", 0, Offset::Offset(0));
    let idle_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < idle_until {
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            panic!(
                "nothing to consume from an empty partition, got {:?}",
                r.map(|m| Consumed::from_message(&m))
            );
        }
    }
    produce_all(&producer, "empty", Some(0), &[(b"first".to_vec(), b"record".to_vec())]);
    let got = poll_n(&consumer, 1, "consumer of the formerly empty partition");
    assert_eq!((got[0].offset, got[0].value.as_deref()), (0, Some(&b"record"[..])));
}

/// The first record a consumer assigned at `offset` receives.
fn first_record_from(consumer: &rdkafka::consumer::BaseConsumer, topic: &str, offset: i64) -> Consumed {
    assign_at(consumer, topic, 0, Offset::Offset(offset));
    poll_n(consumer, 1, &format!("a record from offset {offset}")).remove(0)
}

#[test]
fn random_access_across_many_segments_before_and_after_restarts() {
    const N: i64 = 3000;
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let topic = "segmented";
    create_topic(
        &broker.bootstrap(),
        topic,
        1,
        &[("segment.bytes", "16384"), ("index.interval.bytes", "512")],
    );
    let base_ts = 1_600_000_000_000i64;
    let value = |i: i64| format!("record-{i:05}-{}", "x".repeat((i % 97) as usize)).into_bytes();
    {
        // Batches of varying sizes: flush every few records.
        let producer = tracked_producer(&broker.bootstrap(), &[("linger.ms", "5")]);
        let mut i = 0i64;
        while i < N {
            let n = 1 + (i % 13);
            for j in i..(i + n).min(N) {
                let v = value(j);
                send(
                    &producer,
                    BaseRecord::with_opaque_to(topic, j as usize)
                        .partition(0)
                        .payload(&v[..])
                        .timestamp(base_ts + j * 10),
                );
            }
            flush(&producer);
            i += n;
        }
        for r in take_reports(&producer) {
            assert_eq!(
                r.result.clone().map(|(_, o)| o),
                Ok(r.id as i64),
                "record #{} offset",
                r.id
            );
        }
    }
    let segments = std::fs::read_dir(dir.path().join(format!("{topic}-0")))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
        .count();
    assert!(
        segments > 10,
        "expected the log to roll into many segments, found {segments}"
    );

    let probes: Vec<i64> = (0..40).map(|k| (k * 7919) % N).chain([0, 1, N - 1]).collect();
    for round in ["before any restart", "after kill -9", "after a clean restart"] {
        match round {
            "after kill -9" => {
                broker.kill9();
                broker = BrokerProcess::start(dir.path(), &[]);
            }
            "after a clean restart" => {
                broker.terminate();
                broker = BrokerProcess::start(dir.path(), &[]);
            }
            _ => {}
        }
        let bootstrap = broker.bootstrap();
        assert_eq!(watermarks(&bootstrap, topic, 0), (0, N), "{round}: watermarks");
        let consumer = plain_consumer(&bootstrap, &[]);
        for &k in &probes {
            let rec = first_record_from(&consumer, topic, k);
            assert_eq!(rec.offset, k, "{round}: first record delivered when starting at {k}");
            assert_eq!(
                rec.value.as_deref(),
                Some(&value(k)[..]),
                "{round}: value at offset {k}"
            );
        }
        for &k in &probes {
            let ts = base_ts + k * 10 - 5; // between record k-1 and record k
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, 0, Offset::Offset(ts.max(0))).unwrap();
            let res = consumer
                .offsets_for_times(tpl, CLIENT_TIMEOUT)
                .expect("ListOffsets by time");
            let got = res.find_partition(topic, 0).unwrap().offset();
            assert_eq!(
                got,
                Offset::Offset(k),
                "{round}: offsets_for_times just before record {k}'s timestamp"
            );
        }
    }
}
