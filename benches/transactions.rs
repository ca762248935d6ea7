//! Produce throughput of a transactional producer next to a non-transactional (idempotent)
//! one, through librdkafka, in one run against the same broker.
//!
//! `cargo bench --bench transactions` builds the broker with the bench profile and starts it
//! on an ephemeral 127.0.0.1 port with a temporary data directory; with
//! RIVULET_BENCH_BOOTSTRAP=host:port it measures that broker instead (an Apache Kafka started
//! by `tests/jvm/kafka.sh start-kafka`, say), so both can be measured by the same commands.
//! Sizes: RIVULET_BENCH_RECORDS (default 200000), RIVULET_BENCH_RECORD_BYTES (1024),
//! RIVULET_BENCH_PARTITIONS (4), RIVULET_BENCH_TXN_RECORDS (records per transaction, 1000).
//! Both producers use acks=all and linger.ms=5. Output is plain lines; nothing is asserted
//! about speed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, Producer};

use common::*;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Sends `records` records of `payload`, committing a transaction every `per_txn` records
/// when `transactional`; returns the elapsed time until every record is acknowledged.
fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    payload: &[u8],
    records: usize,
    per_txn: Option<usize>,
) -> Duration {
    let mut settings = vec![
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("batch.size", "1048576"),
        ("message.timeout.ms", "60000"),
    ];
    let id = format!("bench-{topic}");
    if per_txn.is_some() {
        settings.push(("transactional.id", &id));
    }
    let producer = tracked_producer(bootstrap, &settings);
    let timeout = Duration::from_secs(60);
    if per_txn.is_some() {
        producer.init_transactions(timeout).expect("init_transactions");
    }
    let started = Instant::now();
    let mut in_txn = 0usize;
    for i in 0..records {
        if let Some(n) = per_txn {
            if in_txn == 0 {
                producer.begin_transaction().expect("begin_transaction");
            }
            in_txn += 1;
            send(
                &producer,
                BaseRecord::with_opaque_to(topic, i)
                    .partition(i as i32 % partitions)
                    .payload(payload),
            );
            if in_txn == n || i + 1 == records {
                // Serve the delivery reports first: librdkafka's commit flushes by polling every
                // 100 ms otherwise.
                flush(&producer);
                producer.commit_transaction(timeout).expect("commit_transaction");
                in_txn = 0;
            }
        } else {
            send(
                &producer,
                BaseRecord::with_opaque_to(topic, i)
                    .partition(i as i32 % partitions)
                    .payload(payload),
            );
        }
    }
    flush(&producer);
    let elapsed = started.elapsed();
    let failed = take_reports(&producer).iter().filter(|r| r.result.is_err()).count();
    assert_eq!(failed, 0, "{failed} records were not acknowledged");
    elapsed
}

fn main() {
    let records = env_usize("RIVULET_BENCH_RECORDS", 200_000);
    let record_bytes = env_usize("RIVULET_BENCH_RECORD_BYTES", 1024);
    let partitions = env_usize("RIVULET_BENCH_PARTITIONS", 4) as i32;
    let per_txn = env_usize("RIVULET_BENCH_TXN_RECORDS", 1000).max(1);
    let external = std::env::var("RIVULET_BENCH_BOOTSTRAP").ok();
    let dir = temp_data_dir();
    let broker = match external {
        Some(_) => None,
        None => Some(BrokerProcess::start(dir.path(), &[])),
    };
    let bootstrap = external.unwrap_or_else(|| broker.as_ref().map(|b| b.bootstrap()).unwrap_or_default());
    let payload = vec![b'x'; record_bytes];
    let mb = (records * record_bytes) as f64 / 1e6;
    println!(
        "broker {bootstrap}: {records} records of {record_bytes} B over {partitions} partitions, acks=all, \
         linger.ms=5; transactions of {per_txn} records"
    );
    let suffix = std::process::id();
    let runs: [(&str, Option<usize>); 2] = [("idempotent", None), ("transactional", Some(per_txn))];
    let mut rates = Vec::new();
    for (name, txn) in runs {
        let topic = format!("bench-{name}-{suffix}");
        create_topic(&bootstrap, &topic, partitions, &[]);
        let elapsed = produce(&bootstrap, &topic, partitions, &payload, records, txn);
        let rate = records as f64 / elapsed.as_secs_f64();
        rates.push(rate);
        println!(
            "{name:>13}: {:>10.0} records/s, {:>7.1} MB/s ({:.2} s)",
            rate,
            mb / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }
    println!("transactional / idempotent: {:.2}x", rates[1] / rates[0]);
}
