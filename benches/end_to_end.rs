//! End-to-end throughput and latency through librdkafka against a real `rivulet serve`.
//!
//! `cargo bench --bench end_to_end` builds the broker with the bench profile, starts it on an
//! ephemeral 127.0.0.1 port with a temporary data directory, produces records with acks=all,
//! then consumes them back. Sizes can be changed with RIVULET_BENCH_RECORDS (default 200000),
//! RIVULET_BENCH_RECORD_BYTES (default 1024), RIVULET_BENCH_PARTITIONS (default 4),
//! RIVULET_BENCH_WINDOW (records outstanding in the throughput run, default 10000) and
//! RIVULET_BENCH_PACED_RATE (records/s in the latency run, default 10000).
//! Latency is per record, from `send` to its delivery report. Output is plain lines;
//! nothing is asserted about speed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use common::*;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn with_commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

enum Pacing {
    /// At most this many records outstanding.
    Window(usize),
    /// This many records per second.
    Rate(usize),
}

struct PhaseResult {
    delivered: usize,
    elapsed: Duration,
    /// Sorted send-to-acknowledgement latencies.
    latencies: Vec<Duration>,
}

fn produce_phase(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    payload: &[u8],
    records: usize,
    pacing: Pacing,
) -> PhaseResult {
    let producer = tracked_producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("linger.ms", "5"),
            ("batch.size", "1000000"),
            ("compression.type", "none"),
            ("queue.buffering.max.messages", "1000000"),
            ("queue.buffering.max.kbytes", "1048576"),
        ],
    );
    let mut sent_at = Vec::with_capacity(records);
    let start = Instant::now();
    for i in 0..records {
        match pacing {
            Pacing::Window(w) => {
                while producer.in_flight_count() as usize >= w {
                    producer.poll(Duration::from_millis(1));
                }
            }
            Pacing::Rate(r) => {
                let due = start + Duration::from_secs_f64(i as f64 / r as f64);
                loop {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    producer.poll(due - now);
                }
            }
        }
        let key = (i as u64).to_be_bytes();
        sent_at.push(Instant::now());
        send(
            &producer,
            BaseRecord::with_opaque_to(topic, i)
                .partition(i as i32 % partitions)
                .key(&key[..])
                .payload(payload),
        );
    }
    flush(&producer);
    let elapsed = start.elapsed();
    let reports = take_reports(&producer);
    if let Some(bad) = reports.iter().find(|r| r.result.is_err()) {
        let failed = reports.iter().filter(|r| r.result.is_err()).count();
        eprintln!("produce: {failed} records failed, e.g. {:?}", bad.result);
    }
    let mut latencies: Vec<Duration> = reports
        .iter()
        .filter(|r| r.result.is_ok())
        .map(|r| r.at.duration_since(sent_at[r.id]))
        .collect();
    latencies.sort_unstable();
    PhaseResult {
        delivered: latencies.len(),
        elapsed,
        latencies,
    }
}

fn main() {
    let records = env_usize("RIVULET_BENCH_RECORDS", 200_000);
    let record_bytes = env_usize("RIVULET_BENCH_RECORD_BYTES", 1024);
    let partitions = env_usize("RIVULET_BENCH_PARTITIONS", 4) as i32;

    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let topic = "bench";
    create_topic(&bootstrap, topic, partitions, &[]);
    println!(
        "end_to_end: {} records x {record_bytes} B, {partitions} partitions, acks=all, broker {}",
        with_commas(records as u64),
        env!("CARGO_BIN_EXE_rivulet")
    );

    let mut payload = vec![0u8; record_bytes];
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }

    // Throughput: keep up to WINDOW records outstanding, as a busy application would.
    let window = env_usize("RIVULET_BENCH_WINDOW", 10_000);
    let run = produce_phase(&bootstrap, topic, partitions, &payload, records, Pacing::Window(window));
    let bytes = (run.delivered * (record_bytes + 8)) as f64;
    println!(
        "produce: {:.1} MB/s ({} rec/s), p50 {:.1} ms, p99 {:.1} ms  [window {} records]",
        bytes / run.elapsed.as_secs_f64() / 1e6,
        with_commas((run.delivered as f64 / run.elapsed.as_secs_f64()) as u64),
        ms(percentile(&run.latencies, 0.50)),
        ms(percentile(&run.latencies, 0.99)),
        with_commas(window as u64),
    );

    // Latency at a moderate, fixed rate, where queueing in the client does not dominate.
    let rate = env_usize("RIVULET_BENCH_PACED_RATE", 10_000);
    let paced_records = (rate * 2).min(records);
    let paced = produce_phase(
        &bootstrap,
        topic,
        partitions,
        &payload,
        paced_records,
        Pacing::Rate(rate),
    );
    println!(
        "produce latency at {} rec/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        with_commas(rate as u64),
        ms(percentile(&paced.latencies, 0.50)),
        ms(percentile(&paced.latencies, 0.99)),
        ms(paced.latencies.last().copied().unwrap_or_default()),
    );
    let records = run.delivered + paced.delivered;

    // Consume everything back.
    let consumer = plain_consumer(
        &bootstrap,
        &[
            ("check.crcs", "false"),
            ("fetch.max.bytes", "52428800"),
            ("max.partition.fetch.bytes", "10485760"),
            ("queued.min.messages", "200000"),
        ],
    );
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    let start = Instant::now();
    consumer.assign(&tpl).expect("assign");
    let want = records;
    let mut got = 0usize;
    let mut consumed_bytes = 0usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    while got < want {
        assert!(
            Instant::now() < deadline,
            "consumed only {got} of {want} records in 600 s"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(msg)) => {
                got += 1;
                consumed_bytes += msg.payload_len() + msg.key_len();
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    let consume_elapsed = start.elapsed();
    println!(
        "consume: {:.1} MB/s ({} rec/s)",
        consumed_bytes as f64 / consume_elapsed.as_secs_f64() / 1e6,
        with_commas((got as f64 / consume_elapsed.as_secs_f64()) as u64),
    );
}
