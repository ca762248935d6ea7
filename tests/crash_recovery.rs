//! kill -9 while an acks=all producer is streaming: every acknowledged record must survive.

mod common;

use std::collections::{BTreeMap, HashSet};
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
    assert_eq!(
        value,
        &value_for(seq)[..],
        "record body for seq {seq} is corrupt"
    );
    seq
}

/// Moves delivery reports into `acked` ((partition, offset) -> seq) or counts them as failed.
fn collect(
    producer: &TrackedProducer,
    acked: &mut BTreeMap<(i32, i64), usize>,
    failed: &mut usize,
) {
    for r in take_reports(producer) {
        match r.result {
            Ok(po) => assert!(
                acked.insert(po, r.id).is_none(),
                "offset {po:?} acknowledged twice"
            ),
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
    wait_for(
        Duration::from_secs(20),
        "the producer to settle after the kill",
        || {
            producer.poll(Duration::from_millis(50));
            collect(&producer, &mut acked, &mut failed);
            (producer.in_flight_count() == 0).then_some(())
        },
    );
    collect(&producer, &mut acked, &mut failed);
    assert_eq!(
        acked.len() + failed,
        seq,
        "every record got a delivery report"
    );
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
        let placed = produce_all(
            &producer,
            topic,
            Some(p),
            &[(b"after".to_vec(), b"crash".to_vec())],
        );
        assert_eq!(
            placed,
            vec![(p, last_offset[&p])],
            "p{p}: first offset after recovery"
        );
    }
    let again = consume_to_end(&bootstrap, topic, PARTITIONS);
    for p in 0..PARTITIONS {
        let records = &again[p as usize];
        assert_dense_from_zero(topic, p, records);
        assert_eq!(
            records.last().unwrap().value.as_deref(),
            Some(&b"crash"[..])
        );
    }
}
