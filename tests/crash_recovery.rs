//! Unclean shutdowns: kill -9 while an acks=all producer is streaming (every acknowledged
//! record must survive), and damaged segment tails that recovery must cut off.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, Producer, PurgeConfig};

use common::*;

const PARTITIONS: i32 = 2;

fn value_for(seq: usize) -> Vec<u8> {
    // Sequence number first, then filler whose length varies, so torn writes are detectable.
    let mut v = format!("seq={seq:08};").into_bytes();
    v.extend(std::iter::repeat_n(b'a' + (seq % 26) as u8, 50 + seq % 400));
    v
}

fn seq_of(value: &[u8]) -> usize {
    let text = std::str::from_utf8(&value[4..12]).expect("sequence digits");
    let seq: usize = text.parse().expect("sequence number");
    assert_eq!(value, &value_for(seq)[..], "record body for seq {seq} is corrupt");
    seq
}

/// Moves delivery reports into `acked` ((partition, offset) -> seq) or counts them as failed.
fn collect(producer: &TrackedProducer, acked: &mut BTreeMap<(i32, i64), usize>, failed: &mut usize) {
    for r in take_reports(producer) {
        match r.result {
            Ok(po) => assert!(acked.insert(po, r.id).is_none(), "offset {po:?} acknowledged twice"),
            Err(_) => *failed += 1,
        }
    }
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = temp_data_dir();
    // Small segments so the crash is likely to leave several of them.
    let args = ["--set", "log.segment.bytes=262144"];
    let mut broker = BrokerProcess::start(dir.path(), &args);
    let topic = "crashy";
    create_topic(&broker.bootstrap(), topic, PARTITIONS, &[]);

    // Stream records (acks=all, no retries so nothing can be written twice) until a healthy
    // number have been acknowledged, then kill the broker with more still in flight.
    let producer = tracked_producer(
        &broker.bootstrap(),
        &[
            ("linger.ms", "2"),
            ("message.send.max.retries", "0"),
            ("message.timeout.ms", "10000"),
        ],
    );
    let mut acked: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut failed = 0usize;
    let mut values = Vec::new();
    let mut seq = 0usize;
    let started = Instant::now();
    while acked.len() < 5_000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} records acknowledged in 60 s",
            acked.len()
        );
        let v = value_for(seq);
        let p = (seq % PARTITIONS as usize) as i32;
        send(
            &producer,
            BaseRecord::with_opaque_to(topic, seq)
                .partition(p)
                .key(&v[..12])
                .payload(&v[..]),
        );
        values.push(v);
        seq += 1;
        if seq.is_multiple_of(64) {
            producer.poll(Duration::from_millis(1));
        }
        collect(&producer, &mut acked, &mut failed);
    }
    // Keep the pipeline full right up to the kill.
    for _ in 0..500 {
        let v = value_for(seq);
        let p = (seq % PARTITIONS as usize) as i32;
        send(
            &producer,
            BaseRecord::with_opaque_to(topic, seq)
                .partition(p)
                .key(&v[..12])
                .payload(&v[..]),
        );
        values.push(v);
        seq += 1;
    }
    let in_flight_at_kill = producer.in_flight_count();
    broker.kill9();
    // Reports already received count as acknowledged; everything else fails.
    producer.purge(PurgeConfig::default().queue().inflight());
    wait_for(Duration::from_secs(20), "the producer to settle after the kill", || {
        producer.poll(Duration::from_millis(50));
        collect(&producer, &mut acked, &mut failed);
        (producer.in_flight_count() == 0).then_some(())
    });
    collect(&producer, &mut acked, &mut failed);
    assert_eq!(acked.len() + failed, seq, "every record got a delivery report");
    drop(producer);
    eprintln!(
        "sent {seq} records, {} acknowledged, {failed} failed, {in_flight_at_kill} in flight at the kill",
        acked.len()
    );

    // Recovery.
    let broker = BrokerProcess::start(dir.path(), &args);
    let bootstrap = broker.bootstrap();
    let consumed = consume_to_end(&bootstrap, topic, PARTITIONS);
    let mut seen = HashSet::new();
    let mut last_offset = BTreeMap::new();
    for p in 0..PARTITIONS {
        let records = &consumed[p as usize];
        assert_dense_from_zero(topic, p, records);
        let mut prev_seq = None;
        for rec in records {
            let value = rec
                .value
                .as_deref()
                .unwrap_or_else(|| panic!("p{p} offset {}: null value", rec.offset));
            let s = seq_of(value);
            assert_eq!(
                s % PARTITIONS as usize,
                p as usize,
                "p{p} offset {}: seq {s} belongs to another partition",
                rec.offset
            );
            assert_eq!(
                rec.key.as_deref(),
                Some(&value[..12]),
                "p{p} offset {}: key",
                rec.offset
            );
            assert!(seen.insert(s), "seq {s} stored twice");
            if let Some(prev) = prev_seq {
                assert!(
                    s > prev,
                    "p{p} offset {}: seq {s} after seq {prev} (out of produce order)",
                    rec.offset
                );
            }
            prev_seq = Some(s);
        }
        last_offset.insert(p, records.len() as i64);
    }
    for (&(p, o), &s) in &acked {
        let rec = consumed[p as usize].get(o as usize).unwrap_or_else(|| {
            panic!(
                "acknowledged record seq {s} at p{p} offset {o} is missing after recovery (partition has {} records)",
                consumed[p as usize].len()
            )
        });
        assert_eq!(
            rec.value.as_deref(),
            Some(&values[s][..]),
            "acknowledged record at p{p} offset {o} (seq {s}) differs after recovery"
        );
    }

    // New records continue right after the recovered log.
    let producer = tracked_producer(&bootstrap, &[]);
    for p in 0..PARTITIONS {
        let placed = produce_all(&producer, topic, Some(p), &[(b"after".to_vec(), b"crash".to_vec())]);
        assert_eq!(placed, vec![(p, last_offset[&p])], "p{p}: first offset after recovery");
    }
    let again = consume_to_end(&bootstrap, topic, PARTITIONS);
    for p in 0..PARTITIONS {
        let records = &again[p as usize];
        assert_dense_from_zero(topic, p, records);
        assert_eq!(records.last().unwrap().value.as_deref(), Some(&b"crash"[..]));
    }
}

/// The newest `.log` segment of `<data-dir>/<topic>-<partition>/`.
fn newest_segment(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("partition directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.pop()
        .unwrap_or_else(|| panic!("no .log segment in {}", dir.display()))
}

fn append_to(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn torn_and_corrupt_segment_tails_are_truncated_on_recovery() {
    const PER_PARTITION: usize = 300;
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let topic = "torn";
    create_topic(&broker.bootstrap(), topic, 3, &[]);
    let producer = tracked_producer(&broker.bootstrap(), &[]);
    let records: Vec<_> = (0..PER_PARTITION)
        .map(|i| (format!("k{i}").into_bytes(), value_for(i)))
        .collect();
    for p in 0..3 {
        produce_all(&producer, topic, Some(p), &records);
    }
    drop(producer);
    broker.kill9();

    // p0: a batch header announcing 1000 bytes, followed by only 20 (a torn write).
    let mut torn = Vec::new();
    torn.extend_from_slice(&(PER_PARTITION as i64).to_be_bytes());
    torn.extend_from_slice(&1000i32.to_be_bytes());
    torn.extend_from_slice(&[0, 0, 0, 0, 2]);
    torn.extend_from_slice(&[0x5a; 15]);
    append_to(&newest_segment(dir.path(), topic, 0), &torn);
    // p1: a complete-looking batch whose CRC does not match its contents.
    let mut corrupt = Vec::new();
    corrupt.extend_from_slice(&(PER_PARTITION as i64).to_be_bytes());
    let body_len = 49 + 20;
    corrupt.extend_from_slice(&(body_len as i32).to_be_bytes());
    corrupt.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    corrupt.push(2); // magic
    corrupt.extend_from_slice(&0xdead_beef_u32.to_be_bytes()); // wrong CRC
    corrupt.extend(std::iter::repeat_n(0x11, body_len - 9));
    append_to(&newest_segment(dir.path(), topic, 1), &corrupt);
    // p2: a run of zeros, as a file system may leave after a crash.
    append_to(&newest_segment(dir.path(), topic, 2), &[0u8; 4096]);

    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let consumed = consume_to_end(&bootstrap, topic, 3);
    for p in 0..3 {
        let got = &consumed[p as usize];
        assert_eq!(
            got.len(),
            PER_PARTITION,
            "p{p}: records after recovery (the damaged tail must be cut off)"
        );
        assert_dense_from_zero(topic, p, got);
        for (rec, (_, v)) in got.iter().zip(&records) {
            assert_eq!(rec.value.as_deref(), Some(&v[..]), "p{p} offset {}", rec.offset);
        }
    }
    let producer = tracked_producer(&bootstrap, &[]);
    for p in 0..3 {
        let placed = produce_all(&producer, topic, Some(p), &[(b"after".to_vec(), b"repair".to_vec())]);
        assert_eq!(
            placed,
            vec![(p, PER_PARTITION as i64)],
            "p{p}: next offset after recovery"
        );
    }
    let again = consume_to_end(&bootstrap, topic, 3);
    for p in 0..3 {
        let got = &again[p as usize];
        assert_eq!(
            got.len(),
            PER_PARTITION + 1,
            "p{p}: the new record is readable after the repaired tail"
        );
        assert_eq!(got[PER_PARTITION].value.as_deref(), Some(&b"repair"[..]));
    }
}
