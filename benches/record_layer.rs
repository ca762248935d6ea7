//! The record layer alone: what a produced batch costs the broker before it reaches storage,
//! and what building a batch costs where the broker writes its own (compaction, coordinator
//! records, down-conversion of offsets).
//!
//! `cargo bench --bench record_layer` (add `-- --quick` for a pass of a tenth of the time).
//! For 100 B and 1 KiB records in batches of about 1 MiB, with every codec:
//! - `check`: `validate_batches`, the framing and CRC-32C check of every produced request;
//! - `validate`: `LogValidator::validate_batch`, which reads every record through the codec
//!   (as Kafka 4's LogValidator does);
//! - `build`: `RecordBatchBuilder`, records in and one compressed batch out.
//!
//! Figures are bytes per second (of the stored batch for `check`, which reads only that; of the
//! uncompressed records otherwise) and records per second, single-threaded; nothing is
//! asserted about speed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rivulet::record::{Compression, LogValidator, RecordBatchBuilder, decompressed_limit, validate_batches};

/// About this many uncompressed bytes per batch: librdkafka's and the Java client's largest
/// common `batch.size` settings are of this order.
const BATCH_BYTES: usize = 1 << 20;

/// Values that compress as log lines do: a fixed shape with varying numbers and words.
fn value(i: usize, size: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = ["GET", "POST", "/orders", "/users", "200", "404", "eu-west", "us-east"];
    let mut v = Vec::with_capacity(size);
    let mut n = i;
    while v.len() < size {
        let word = WORDS[n % WORDS.len()];
        v.extend_from_slice(
            format!(
                "{{\"seq\":{n},\"op\":\"{word}\",\"ms\":{}}} ",
                n.wrapping_mul(7919) % 1000
            )
            .as_bytes(),
        );
        n = n.wrapping_mul(31).wrapping_add(17);
    }
    v.truncate(size);
    v
}

fn builder(codec: Compression, record_size: usize) -> (RecordBatchBuilder, usize) {
    let count = (BATCH_BYTES / record_size).max(1);
    let mut b = RecordBatchBuilder::new(codec);
    for i in 0..count {
        b.append(
            1_700_000_000_000 + i as i64,
            Some(format!("key-{}", i % 64).as_bytes()),
            Some(&value(i, record_size)),
            &[],
        );
    }
    (b, count)
}

/// Runs `f` until `budget` has passed (at least 3 times) and prints its rate for `bytes` and
/// `records` per call.
fn measure(label: &str, budget: Duration, bytes: usize, records: usize, mut f: impl FnMut()) {
    f(); // first touch of the buffers and codec state is not what is measured
    let started = Instant::now();
    let mut calls = 0u64;
    while calls < 3 || started.elapsed() < budget {
        f();
        calls += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<34} {:>9.0} MB/s {:>13.0} records/s {:>9.1} us/batch",
        (bytes as f64 * calls as f64) / secs / 1e6,
        (records as f64 * calls as f64) / secs,
        secs * 1e6 / calls as f64,
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 100 } else { 1000 });
    let validator = LogValidator {
        compacted: false,
        timestamp_bounds: None,
        decompressed_limit: decompressed_limit(1_048_588),
    };
    println!(
        "record layer: batches of about {} KiB of records, one thread",
        BATCH_BYTES / 1024
    );
    for record_size in [100usize, 1024] {
        for codec in Compression::ALL {
            let (b, count) = builder(codec, record_size);
            let batch = b.build();
            let raw = count * record_size;
            println!(
                "{record_size} B records, {}: {count} records, {} bytes stored",
                codec.name(),
                batch.len()
            );
            measure("  check (framing, CRC-32C; stored)", budget, batch.len(), count, || {
                black_box(validate_batches(black_box(&batch), usize::MAX).expect("valid batch"));
            });
            measure("  validate (every record read)", budget, raw, count, || {
                black_box(validator.validate_batch(black_box(&batch)).expect("valid batch"));
            });
            measure("  build", budget, raw, count, || {
                black_box(b.build());
            });
        }
    }
}
