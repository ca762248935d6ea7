//! The log layer alone: a `PartitionLog` on a temporary directory, without the network.
//!
//! `cargo bench --bench log_layer` (add `-- --quick` for a 32 MiB log instead of 512 MiB; the
//! size can be set with RIVULET_BENCH_LOG_MIB). In order:
//! - `append`: 1 MiB batches of 1 KiB records written to the page cache, segments rolling
//!   every 128 MiB, no fsync;
//! - `append + flush`: the same with `flush()` (fsync of the segment) after every batch, as a
//!   produce with acks=all that no other request shares a group commit with;
//! - `append 1 record + flush`: one 1 KiB record per append, the unbatched worst case;
//! - `locate`: `fetch_records` at random offsets (index lookups and a scan to the batch), the
//!   work of a fetch before `sendfile`;
//! - `read`: the located batches read into memory, as a TLS connection sends them;
//! - `open` after a clean shutdown and `open + recover` of the whole log (every batch's CRC
//!   checked, indexes rebuilt), as after a crash with no recovery point.
//!
//! The directory is under the system temporary directory (set TMPDIR to measure another
//! disk). Figures are single-threaded; nothing is asserted about speed.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use rivulet::log::{LogConfig, PartitionLog};
use rivulet::record::{Compression, RecordBatchBuilder};

const RECORD_BYTES: usize = 1024;
const BATCH_RECORDS: usize = 1000;

fn batch(records: usize) -> Vec<u8> {
    let value = vec![b'v'; RECORD_BYTES];
    let mut b = RecordBatchBuilder::new(Compression::None);
    for i in 0..records {
        b.append(1_700_000_000_000 + i as i64, None, Some(&value), &[]);
    }
    b.build()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 128 << 20,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, recover: bool) -> PartitionLog {
    PartitionLog::open(dir, "bench", 0, config(), 0, recover).expect("open the log")
}

/// Prints the rate since `started`; `bytes` is None where a byte rate would mean nothing.
fn rate(label: &str, bytes: Option<u64>, ops: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let mb_per_s = bytes.map_or_else(|| "-".to_string(), |b| format!("{:.0}", b as f64 / secs / 1e6));
    println!(
        "{label:<30} {mb_per_s:>8} MB/s {:>11.0} ops/s {:>10.1} us/op   ({:.3} s)",
        ops as f64 / secs,
        secs * 1e6 / ops.max(1) as f64,
        secs,
    );
}

/// Appends `batch` `count` times, each followed by an fsync, and prints the rate.
fn append_flushed(log: &PartitionLog, label: &str, batch: &[u8], count: u64) {
    let started = Instant::now();
    for _ in 0..count {
        log.append_from(batch, 0, false).expect("append");
        log.flush().expect("flush");
    }
    rate(label, Some(count * batch.len() as u64), count, started);
}

/// A small deterministic generator for the random offsets (xorshift64).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let log_mib: u64 = match std::env::var("RIVULET_BENCH_LOG_MIB") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("RIVULET_BENCH_LOG_MIB={v:?} is not a number")),
        Err(_) if quick => 32,
        Err(_) => 512,
    };
    let base = tempfile::Builder::new()
        .prefix("rivulet-log-bench")
        .tempdir()
        .expect("a temporary directory");
    let big = batch(BATCH_RECORDS);
    let batches = (log_mib << 20) / big.len() as u64;
    println!(
        "log layer: {batches} batches of {BATCH_RECORDS} x {RECORD_BYTES} B records ({} MiB) in {}",
        (batches * big.len() as u64) >> 20,
        base.path().display()
    );

    // Appends to the page cache only.
    let dir = base.path().join("bench-0");
    let log = open(&dir, false);
    let started = Instant::now();
    for _ in 0..batches {
        log.append_from(&big, 0, false).expect("append");
    }
    rate("append", Some(batches * big.len() as u64), batches, started);
    log.flush().expect("flush");
    let records = log.log_end_offset();

    // The same with an fsync per batch, into a second log.
    let synced_batches = (batches / 4).max(8);
    let synced = open(&base.path().join("bench-1"), false);
    append_flushed(&synced, "append + flush", &big, synced_batches);
    let singles = if quick { 200 } else { 2000 };
    append_flushed(&synced, "append 1 record + flush", &batch(1), singles);
    synced.close().expect("close");

    // Fetch work before the bytes are sent: finding the batches, then reading them.
    let lookups = if quick { 2_000 } else { 20_000 };
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let started = Instant::now();
    for _ in 0..lookups {
        let offset = (next_random(&mut state) % records as u64) as i64;
        let fetched = log.fetch_records(offset, 1 << 20, true, false).expect("locate");
        assert!(!fetched.is_empty(), "a fetch below the log end finds a batch");
    }
    rate("locate (random offsets)", None, lookups, started);
    let started = Instant::now();
    let mut offset = 0i64;
    let mut read = 0u64;
    let mut reads = 0u64;
    while offset < records {
        let fetched = log.fetch_records(offset, 1 << 20, true, false).expect("locate");
        let bytes = fetched
            .records
            .expect("batches below the log end")
            .read()
            .expect("read");
        read += black_box(bytes).len() as u64;
        reads += 1;
        offset = fetched.next_offset.expect("a next offset");
    }
    rate("read (sequential, page cache)", Some(read), reads, started);
    let size = log.size_bytes();
    log.close().expect("close");

    let started = Instant::now();
    let reopened = open(&dir, false);
    rate("open (clean)", None, 1, started);
    assert_eq!(reopened.log_end_offset(), records, "the reopened log ends where it did");
    reopened.close().expect("close");
    let started = Instant::now();
    let recovered = open(&dir, true);
    rate("open + recover (whole log)", Some(size), 1, started);
    assert_eq!(recovered.log_end_offset(), records, "recovery keeps every batch");
    recovered.close().expect("close");
}
