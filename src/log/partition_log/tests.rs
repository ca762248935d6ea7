use super::*;
use crate::log::producer_state::ProducerStateError;
use crate::log::test_util::{batch, sized_batch};
use crate::record::batch::validate_batches;
use crate::record::records::records;
use crate::record::{Compression, RecordBatchBuilder};
use std::os::unix::fs::FileExt;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(&dir.join("t-0"), "t", 0, config, 0, false).unwrap()
}

/// Headers of every batch in `bytes`, after checking each is complete and CRC-valid.
fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    if bytes.is_empty() {
        return vec![];
    }
    let v = validate_batches(bytes, usize::MAX).unwrap();
    v.batches
        .iter()
        .map(|b| BatchHeader::parse(&bytes[b.position..]).unwrap())
        .collect()
}

/// Reads the whole log, segment by segment, checking offsets are contiguous from log start.
fn read_all(log: &PartitionLog) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log.read(offset, 1 << 20, true).unwrap();
        let hs = headers(&slice.records);
        assert!(!hs.is_empty(), "no progress at {offset}");
        for h in hs {
            assert_eq!(h.base_offset, offset, "offsets must be contiguous");
            offset = h.last_offset() + 1;
            out.push(h);
        }
    }
    out
}

#[test]
fn append_and_read_back_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let mut expected = Vec::new();
    let mut next = 0;
    for n in [1usize, 5, 3] {
        let mut b = batch(n, 1000);
        let info = log.append(&mut b, 5, false).unwrap();
        assert_eq!(info.base_offset, next);
        assert_eq!(info.last_offset, next + n as i64 - 1);
        assert_eq!(info.log_append_time, -1);
        assert_eq!(info.log_start_offset, 0);
        let mut patched = batch(n, 1000);
        set_base_offset(&mut patched, next);
        set_partition_leader_epoch(&mut patched, 0);
        assert_eq!(b, patched, "the caller's buffer holds what was written");
        expected.extend_from_slice(&patched);
        next += n as i64;
    }
    // Several batches in one append.
    let mut multi = batch(2, 1);
    multi.extend_from_slice(&batch(4, 2));
    let info = log.append(&mut multi, 5, false).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (9, 14));
    expected.extend_from_slice(&multi);

    // Consumers see nothing before the fsync; the broker's own reads see everything.
    assert!(log.fetch(0, 1 << 20, false).unwrap().records.is_empty());
    assert_eq!(log.high_watermark(), 0, "nothing is durable yet");
    let slice = log.read(0, 1 << 20, false).unwrap();
    assert_eq!(&slice.records[..], &expected[..]);
    assert_eq!(
        (slice.high_watermark, slice.log_end_offset, slice.log_start_offset),
        (0, 15, 0)
    );
    log.flush().unwrap();
    assert_eq!(&log.fetch(0, 1 << 20, false).unwrap().records[..], &expected[..]);
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(log.high_watermark(), 15);
    assert_eq!(log.size_bytes(), expected.len() as u64);
    let recs = records(
        &slice.records[..headers(&slice.records)[1].total_size() + headers(&slice.records)[0].total_size()]
            [headers(&slice.records)[0].total_size()..],
    )
    .unwrap();
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn append_rejects_garbage_without_moving_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert!(matches!(log.append(&mut [], 0, false), Err(LogError::Record(_))));
    assert!(matches!(log.append(&mut [0u8; 30], 0, false), Err(LogError::Record(_))));
    let mut torn = batch(3, 0);
    torn.truncate(torn.len() - 1);
    assert!(matches!(log.append(&mut torn, 0, false), Err(LogError::Record(_))));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn append_from_stores_what_append_stores_and_leaves_its_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        open(&dir.path().join("a"), LogConfig::default()),
        open(&dir.path().join("b"), LogConfig::default()),
    );
    for log_append_time in [false, true] {
        let mut input = batch(3, 10);
        input.extend_from_slice(&batch(2, 20));
        let original = input.clone();
        let from = b.append_from(&input, 777, log_append_time).unwrap();
        assert_eq!(input, original, "append_from does not change its input");
        let patched = a.append(&mut input, 777, log_append_time).unwrap();
        assert_eq!(
            (from.base_offset, from.last_offset),
            (patched.base_offset, patched.last_offset)
        );
        let stored = b.read(from.base_offset, 1 << 20, false).unwrap().records;
        assert_eq!(stored, a.read(patched.base_offset, 1 << 20, false).unwrap().records);
        assert_eq!(&stored[..], &input[..], "append patches its input as it stores it");
        assert_eq!(headers(&stored).len(), 2, "both batches whole, CRCs valid");
    }
}

#[test]
fn log_append_time_is_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let mut b = batch(3, 10);
    let info = log.append(&mut b, 424_242, true).unwrap();
    assert_eq!(info.log_append_time, 424_242);
    let slice = log.read(0, 1 << 20, false).unwrap();
    let h = &headers(&slice.records)[0];
    assert!(h.timestamp_type_is_log_append());
    assert_eq!(h.max_timestamp, 424_242);
    assert!(records(&slice.records).unwrap().iter().all(|r| r.timestamp == 424_242));
    assert_eq!(log.max_timestamp().unwrap(), Some((0, 424_242)));
}

#[test]
fn rolls_on_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..30 {
        log.append(&mut sized_batch(2, i, 500), i, false).unwrap();
    }
    assert!(log.segment_count() > 3);
    let bases = log.segment_base_offsets();
    assert_eq!(bases[0], 0);
    for base in &bases {
        assert!(log.dir().join(segment_file_name(*base, "log")).exists());
        assert!(log.dir().join(segment_file_name(*base, "index")).exists());
        assert!(log.dir().join(segment_file_name(*base, "timeindex")).exists());
    }
    for w in log.segments.read().windows(2) {
        assert!(w[0].size() <= 4096);
        assert!(w[0].is_sealed());
        // Rolled indexes are trimmed to their entries.
        let len = fs::metadata(w[0].log_path().with_extension("index")).unwrap().len();
        assert_eq!(len, 8 * w[0].offset_index_entries() as u64);
    }
    // A read returns batches of one segment only.
    let slice = log.read(0, 1 << 20, false).unwrap();
    let hs = headers(&slice.records);
    assert_eq!(hs.last().unwrap().last_offset() + 1, bases[1]);
    assert_eq!(read_all(&log).len(), 30);
    // A single batch larger than segment.bytes still goes in (into a fresh segment).
    log.append(&mut sized_batch(1, 0, 10_000), 0, false).unwrap();
    assert_eq!(read_all(&log).len(), 31);
}

#[test]
fn rolls_on_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config);
    log.append(&mut batch(1, 10_000), 0, false).unwrap();
    log.append(&mut batch(1, 10_900), 0, false).unwrap();
    log.append(&mut batch(1, 11_000), 0, false).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&mut batch(1, 11_001), 0, false).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    assert_eq!(read_all(&log).len(), 4);
}

#[test]
fn finds_every_offset_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    let mut ranges = Vec::new();
    for i in 0..300usize {
        let n = 1 + i % 7;
        let info = log
            .append(&mut sized_batch(n, i as i64, 60 + (i * 37) % 300), 0, false)
            .unwrap();
        ranges.push((info.base_offset, info.last_offset));
    }
    assert!(log.segment_count() > 5);
    let end = log.log_end_offset();
    for offset in 0..end {
        let slice = log.read(offset, 1, true).unwrap();
        let hs = headers(&slice.records);
        assert_eq!(hs.len(), 1, "min_one_batch returns exactly the first batch");
        let h = hs[0];
        assert!(
            h.base_offset <= offset && offset <= h.last_offset(),
            "offset {offset} in {h:?}"
        );
        assert!(ranges.contains(&(h.base_offset, h.last_offset())));
    }
}

#[test]
fn max_bytes_and_kip74() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let b = sized_batch(2, 0, 200);
    let size = b.len();
    for _ in 0..5 {
        log.append(&mut b.clone(), 0, false).unwrap();
    }
    assert_eq!(headers(&log.read(0, 2 * size + 10, false).unwrap().records).len(), 2);
    assert_eq!(headers(&log.read(0, 2 * size, false).unwrap().records).len(), 2);
    assert_eq!(headers(&log.read(0, 2 * size - 1, false).unwrap().records).len(), 1);
    assert!(log.read(0, size - 1, false).unwrap().records.is_empty());
    assert_eq!(log.read(0, size - 1, true).unwrap().records.len(), size);
    assert_eq!(log.read(3, 0, true).unwrap().records.len(), size);
    assert_eq!(headers(&log.read(3, 0, true).unwrap().records)[0].base_offset, 2);
    // From the middle of a batch: the whole batch.
    let hs = headers(&log.read(5, 1 << 20, false).unwrap().records);
    assert_eq!(hs.len(), 3);
    assert_eq!(hs[0].base_offset, 4);
}

#[test]
fn out_of_range_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert!(log.read(0, 100, true).unwrap().records.is_empty());
    log.append(&mut batch(3, 0), 0, false).unwrap();
    assert!(log.read(3, 100, true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(4, 100, true),
        Err(LogError::OffsetOutOfRange {
            requested: 4,
            log_start: 0,
            log_end: 3
        })
    ));
    assert!(matches!(
        log.read(-1, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    log.truncate_to(-5).unwrap_or(());
}

#[test]
fn timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    // Timestamps 100.. in batches of 3, with one out-of-order batch and a spike.
    let mut b = RecordBatchBuilder::new(Compression::Lz4);
    b.append(500, None, Some(b"a"), &[])
        .append(900, None, Some(b"b"), &[])
        .append(700, None, Some(b"c"), &[]);
    for i in 0..40i64 {
        if i == 20 {
            log.append(&mut b.build(), 0, false).unwrap(); // offsets 60..62, max 900 at 61
        }
        log.append(&mut sized_batch(3, 100 + i * 3, 300), 0, false).unwrap();
    }
    assert!(log.segment_count() > 2);
    assert_eq!(log.max_timestamp().unwrap(), Some((61, 900)));
    assert_eq!(log.offset_for_timestamp(-1).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(101).unwrap(), Some((1, 101)));
    assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((50, 150)));
    assert_eq!(log.offset_for_timestamp(160).unwrap(), Some((60, 500)));
    assert_eq!(log.offset_for_timestamp(600).unwrap(), Some((61, 900)));
    assert_eq!(log.offset_for_timestamp(800).unwrap(), Some((61, 900)));
    assert_eq!(log.offset_for_timestamp(901).unwrap(), None);
    // The first record (by offset) at or after the time wins, even if later ones are closer.
    assert_eq!(log.offset_for_timestamp(219).unwrap(), Some((60, 500)));

    // Survives a clean reopen (from the indexes) and a recovery (from a scan).
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(log.max_timestamp().unwrap(), Some((61, 900)));
    assert_eq!(log.offset_for_timestamp(160).unwrap(), Some((60, 500)));
    drop(log);
    let log = PartitionLog::open(&dir.path().join("t-0"), "t", 0, small_config(), 0, true).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((61, 900)));
    assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((50, 150)));
    // Truncation forgets the spike.
    log.truncate_to(61).unwrap();
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(log.max_timestamp().unwrap(), Some((59, 159)));
    assert_eq!(log.offset_for_timestamp(160).unwrap(), None);
}

fn producer_batch(pid: i64, epoch: i16, seq: i32, n: usize, size: usize) -> Vec<u8> {
    let value = vec![b'p'; size / n.max(1)];
    let mut b = RecordBatchBuilder::new(Compression::None).producer(pid, epoch, seq);
    for i in 0..n {
        b.append(i as i64, None, Some(&value), &[]);
    }
    b.build()
}

#[test]
fn idempotent_appends_dedupe_and_fence() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(&mut batch(2, 0), 0, false).unwrap();
    let first = log.append(&mut producer_batch(9, 0, 0, 3, 30), 0, false).unwrap();
    assert_eq!((first.base_offset, first.last_offset, first.duplicate), (2, 4, false));
    log.append(&mut producer_batch(9, 0, 3, 2, 30), 0, false).unwrap();
    // The retry is answered with the original offsets and not written again.
    let again = log.append(&mut producer_batch(9, 0, 0, 3, 30), 0, false).unwrap();
    assert_eq!((again.base_offset, again.last_offset, again.duplicate), (2, 4, true));
    assert_eq!(log.log_end_offset(), 7);
    assert_eq!(read_all(&log).len(), 3);
    // A gap in the sequence.
    let err = log.append(&mut producer_batch(9, 0, 6, 1, 30), 0, false).unwrap_err();
    assert!(
        matches!(err, LogError::Producer(ProducerStateError::OutOfOrderSequence { .. })),
        "{err}"
    );
    // A bumped epoch restarts at 0, after which the old epoch is fenced.
    assert!(log.append(&mut producer_batch(9, 1, 5, 1, 30), 0, false).is_err());
    log.append(&mut producer_batch(9, 1, 0, 1, 30), 0, false).unwrap();
    let err = log.append(&mut producer_batch(9, 0, 5, 1, 30), 0, false).unwrap_err();
    assert!(
        matches!(err, LogError::Producer(ProducerStateError::InvalidProducerEpoch { .. })),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 8);
    // Two batches of one producer in one append are checked against each other.
    let mut two = producer_batch(9, 1, 1, 1, 30);
    two.extend_from_slice(&producer_batch(9, 1, 3, 1, 30));
    assert!(log.append(&mut two, 0, false).is_err());
    let mut two = producer_batch(9, 1, 1, 1, 30);
    two.extend_from_slice(&producer_batch(9, 1, 2, 1, 30));
    assert_eq!(log.append(&mut two, 0, false).unwrap().last_offset, 9);
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(log.expire_producers(now_ms(), 1000), 1);
    // Expired: the producer may continue from any sequence.
    log.append(&mut producer_batch(9, 1, 77, 1, 30), 0, false).unwrap();
}

#[test]
fn producer_state_survives_reopen_from_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    let mut seqs = [0i32; 3];
    for i in 0..40 {
        let pid = (i % 3) as i64;
        log.append(&mut producer_batch(pid, 0, seqs[i % 3], 2, 400), 0, false)
            .unwrap();
        seqs[i % 3] += 2;
    }
    assert!(log.segment_count() > 3);
    let snapshots = producer_state::list_snapshots(log.dir()).unwrap();
    assert_eq!(
        snapshots,
        log.segment_base_offsets()[1..].to_vec(),
        "one snapshot per roll"
    );
    let end = log.log_end_offset();
    let state = log.producers.lock().clone();
    log.close().unwrap();
    drop(log);
    assert!(producer_state::snapshot_path(&dir.path().join("t-0"), end).exists());

    // Clean reopen: from the snapshot at the log end.
    let log = open(dir.path(), small_config());
    assert_eq!(*log.producers.lock(), state);
    // A retry of the last batch is still recognised; the next sequence is accepted.
    let dup = log
        .append(&mut producer_batch(0, 0, seqs[0] - 2, 2, 400), 0, false)
        .unwrap();
    assert!(dup.duplicate);
    log.append(&mut producer_batch(0, 0, seqs[0], 2, 400), 0, false)
        .unwrap();
    seqs[0] += 2;
    let state = log.producers.lock().clone();
    drop(log); // unclean: no snapshot at the end

    // Unclean reopen: the newest snapshot plus a scan of what follows it.
    let log = PartitionLog::open(&dir.path().join("t-0"), "t", 0, small_config(), 0, true).unwrap();
    assert_eq!(*log.producers.lock(), state);
    assert!(
        log.append(&mut producer_batch(0, 0, seqs[0] + 4, 2, 400), 0, false)
            .is_err()
    );
    drop(log);

    // Every snapshot gone (or unreadable): a full scan gives the same state.
    let pdir = dir.path().join("t-0");
    for offset in producer_state::list_snapshots(&pdir).unwrap() {
        fs::write(producer_state::snapshot_path(&pdir, offset), b"torn").unwrap();
    }
    let log = PartitionLog::open(&pdir, "t", 0, small_config(), 0, true).unwrap();
    assert_eq!(*log.producers.lock(), state);

    // Truncation forgets the batches cut away.
    let bases = log.segment_base_offsets();
    log.truncate_to(bases[1]).unwrap();
    let last = log.producers.lock().entry(0).unwrap().batches.back().copied().unwrap();
    assert!(last.last_offset < bases[1]);
    assert!(
        producer_state::list_snapshots(&pdir)
            .unwrap()
            .iter()
            .all(|&o| o <= bases[1])
    );
}

#[test]
fn truncate_to() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..40 {
        log.append(&mut sized_batch(4, i, 400), 0, false).unwrap();
    }
    let segments_before = log.segment_count();
    assert!(segments_before > 3);
    // Mid-batch: the whole batch containing the offset goes.
    log.truncate_to(50).unwrap();
    assert_eq!(log.log_end_offset(), 48);
    assert!(log.segment_count() < segments_before);
    for base in log.segment_base_offsets() {
        assert!(base <= 48);
    }
    let files: Vec<_> = fs::read_dir(log.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".snapshot"))
        .collect();
    assert_eq!(
        files.len(),
        3 * log.segment_count(),
        "deleted segments leave no files: {files:?}"
    );
    assert_eq!(read_all(&log).len(), 12);
    let info = log.append(&mut batch(2, 0), 0, false).unwrap();
    assert_eq!(info.base_offset, 48);
    assert_eq!(read_all(&log).len(), 13);
    // Truncating at a segment boundary leaves an empty active segment there.
    let bases = log.segment_base_offsets();
    let boundary = bases[1];
    log.truncate_to(boundary).unwrap();
    assert_eq!(log.log_end_offset(), boundary);
    assert_eq!(log.segment_base_offsets(), vec![0, boundary]);
    log.append(&mut batch(1, 0), 0, false).unwrap();
    assert_eq!(read_all(&log).last().unwrap().base_offset, boundary);
    // Everything.
    log.truncate_to(0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.segment_base_offsets(), vec![0]);
    assert_eq!(log.append(&mut batch(1, 0), 0, false).unwrap().base_offset, 0);
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 1);
    log.truncate_to(0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(log.durable_offset(), 0);
}

#[test]
fn reopen_after_clean_close_continues() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..25 {
        log.append(&mut sized_batch(3, i, 450), 0, false).unwrap();
    }
    let segments = log.segment_base_offsets();
    let end = log.log_end_offset();
    log.close().unwrap();
    assert!(matches!(log.append(&mut batch(1, 0), 0, false), Err(LogError::Closed)));
    assert_eq!(read_all(&log).len(), 25, "reads still work after close");
    // The closed active segment's indexes are trimmed too.
    let active = segments.last().unwrap();
    let len = fs::metadata(log.dir().join(segment_file_name(*active, "index")))
        .unwrap()
        .len();
    assert_eq!(len % 8, 0);
    assert!(len < 1024);
    drop(log);

    let log = open(dir.path(), small_config());
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.recovery_point(), end);
    assert_eq!(log.durable_offset(), end);
    assert_eq!(log.append(&mut batch(2, 0), 0, false).unwrap().base_offset, end);
    assert_eq!(read_all(&log).len(), 26);
}

fn active_log_path(log: &PartitionLog) -> PathBuf {
    log.segments.read().last().unwrap().log_path().to_path_buf()
}

#[test]
fn recovers_from_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    let mut ends = Vec::new();
    for i in 0..20 {
        log.append(&mut sized_batch(2, i, 300), 0, false).unwrap();
        ends.push(log.log_end_offset());
    }
    let path = active_log_path(&log);
    let size = fs::metadata(&path).unwrap().len();
    drop(log); // no close: like a crash

    // Chop the last batch in half.
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(size - 100).unwrap();
    let log = PartitionLog::open(&dir.path().join("t-0"), "t", 0, small_config(), 0, true).unwrap();
    assert_eq!(log.log_end_offset(), 38);
    assert_eq!(log.recovery_point(), 38);
    assert_eq!(log.durable_offset(), 38);
    assert_eq!(read_all(&log).len(), 19);
    assert_eq!(log.append(&mut batch(1, 0), 0, false).unwrap().base_offset, 38);
    let path = active_log_path(&log);
    drop(log);

    // Garbage after the last good batch.
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(&[0x5a; 777], len).unwrap();
    let log = PartitionLog::open(&dir.path().join("t-0"), "t", 0, small_config(), 0, true).unwrap();
    assert_eq!(log.log_end_offset(), 39);
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
    assert_eq!(log.append(&mut batch(1, 0), 0, false).unwrap().base_offset, 39);
    assert_eq!(read_all(&log).len(), 21);
    drop(log);

    // A flipped byte inside the last batch: CRC catches it.
    let file = fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(&[0xff], len - 3).unwrap();
    let log = PartitionLog::open(&dir.path().join("t-0"), "t", 0, small_config(), 0, true).unwrap();
    assert_eq!(log.log_end_offset(), 39);
    assert_eq!(read_all(&log).len(), 20);
}

#[test]
fn recovery_drops_segments_after_damage() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..40 {
        log.append(&mut sized_batch(2, i, 300), 0, false).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4);
    let victim = log.dir().join(segment_file_name(bases[1], "log"));
    drop(log);
    let file = fs::OpenOptions::new().read(true).write(true).open(&victim).unwrap();
    let len = file.metadata().unwrap().len();
    file.write_all_at(&[0x00; 4], len / 2).unwrap();

    // The recovery point lies in the first segment, so the damage is found.
    let log = PartitionLog::open(&dir.path().join("t-0"), "t", 0, small_config(), 3, true).unwrap();
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    let end = log.log_end_offset();
    assert!(end > bases[1] && end < bases[2]);
    for base in &bases[2..] {
        assert!(!log.dir().join(segment_file_name(*base, "log")).exists());
        assert!(!log.dir().join(segment_file_name(*base, "index")).exists());
    }
    assert_eq!(log.append(&mut batch(1, 0), 0, false).unwrap().base_offset, end);
    let all = read_all(&log);
    assert_eq!(all.last().unwrap().base_offset, end);
}

#[test]
fn clean_open_still_checks_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..5 {
        log.append(&mut sized_batch(2, i, 300), 0, false).unwrap();
    }
    log.close().unwrap();
    let path = active_log_path(&log);
    drop(log);
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - 10).unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(read_all(&log).len(), 4);
}

#[test]
fn damaged_or_missing_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..60 {
        log.append(&mut sized_batch(1 + i % 3, i as i64, 200), 0, false)
            .unwrap();
    }
    let bases = log.segment_base_offsets();
    let end = log.log_end_offset();
    let max = log.max_timestamp().unwrap();
    log.close().unwrap();
    drop(log);
    let pdir = dir.path().join("t-0");
    // Garbage in one index, another missing, a time index missing, an orphan index.
    fs::write(pdir.join(segment_file_name(bases[0], "index")), [0xffu8; 64]).unwrap();
    fs::remove_file(pdir.join(segment_file_name(bases[1], "index"))).unwrap();
    fs::remove_file(pdir.join(segment_file_name(bases[2], "timeindex"))).unwrap();
    let last = *bases.last().unwrap();
    fs::write(pdir.join(segment_file_name(last, "index")), [0x01u8; 24]).unwrap();
    fs::write(pdir.join(segment_file_name(99_999, "index")), [0u8; 8]).unwrap();

    let log = open(dir.path(), small_config());
    assert!(!pdir.join(segment_file_name(99_999, "index")).exists());
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.max_timestamp().unwrap(), max);
    for seg in log.segments.read().iter() {
        assert!(seg.offset_index_entries() > 0);
    }
    for offset in 0..end {
        let h = headers(&log.read(offset, 1, true).unwrap().records)[0];
        assert!(h.base_offset <= offset && offset <= h.last_offset());
    }
    assert_eq!(log.offset_for_timestamp(30).unwrap().map(|(_, ts)| ts), Some(30));
}

#[test]
fn damage_below_the_recovery_point_stops_the_open_and_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..60 {
        log.append(&mut sized_batch(1 + i % 3, i as i64, 200), 0, false)
            .unwrap();
    }
    let bases = log.segment_base_offsets();
    let end = log.log_end_offset();
    log.close().unwrap();
    drop(log);
    let pdir = dir.path().join("t-0");
    // Bit rot in the middle of the second segment, whose index is gone so it is rescanned.
    let victim = pdir.join(segment_file_name(bases[1], "log"));
    let mut bytes = fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&victim, &bytes).unwrap();
    fs::remove_file(pdir.join(segment_file_name(bases[1], "index"))).unwrap();
    let files_before: Vec<_> = bases.iter().map(|b| pdir.join(segment_file_name(*b, "log"))).collect();
    let sizes_before: Vec<u64> = files_before.iter().map(|f| fs::metadata(f).unwrap().len()).collect();

    for recover in [false, true] {
        let err = PartitionLog::open(&pdir, "t", 0, small_config(), end, recover)
            .err()
            .expect("the open stops");
        assert!(matches!(err, LogError::Damaged(_)), "{err}");
        assert!(
            err.to_string().contains(&victim.display().to_string()),
            "names the file: {err}"
        );
        let sizes: Vec<u64> = files_before.iter().map(|f| fs::metadata(f).unwrap().len()).collect();
        assert_eq!(sizes, sizes_before, "no segment was cut or removed");
    }

    // The same damage above the recovery point is an unflushed tail: cut, as before.
    let log = PartitionLog::open(&pdir, "t", 0, small_config(), bases[1], true).unwrap();
    assert!(log.log_end_offset() < end);
    assert!(log.log_end_offset() >= bases[1]);
}

#[test]
fn untrimmed_indexes_on_a_clean_open_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for i in 0..30 {
        log.append(&mut sized_batch(2, i, 250), 0, false).unwrap();
    }
    let end = log.log_end_offset();
    let active = active_log_path(&log);
    drop(log); // indexes of the active segment stay preallocated
    assert_eq!(fs::metadata(active.with_extension("index")).unwrap().len(), 1024);
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_end_offset(), end);
    assert!(log.segments.read().last().unwrap().offset_index_entries() > 0);
    assert_eq!(read_all(&log).len(), 30);
    assert_eq!(log.append(&mut batch(1, 0), 0, false).unwrap().base_offset, end);
}

#[test]
fn try_flush_to_fsyncs_only_what_is_not_yet_durable() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    log.append(&mut batch(2, 0), 0, false).unwrap();
    log.append(&mut batch(3, 0), 0, false).unwrap();
    assert_eq!(log.durable_offset(), 0);
    assert_eq!(
        log.try_flush_to(2).unwrap(),
        Some(true),
        "nothing durable yet: it fsyncs"
    );
    assert_eq!(log.durable_offset(), 5, "one fsync covers the whole log end");
    assert_eq!(log.recovery_point(), 5);
    assert_eq!(
        log.try_flush_to(5).unwrap(),
        Some(false),
        "already covered by the fsync before"
    );
    log.append(&mut batch(1, 0), 0, false).unwrap();
    {
        let _fsyncing = log.flush_lock.lock();
        assert_eq!(
            log.try_flush_to(6).unwrap(),
            None,
            "another thread is fsyncing: no wait"
        );
        assert_eq!(log.try_flush_to(5).unwrap(), Some(false), "durable needs no lock");
    }
    assert_eq!(log.try_flush_to(6).unwrap(), Some(true));
    assert_eq!(log.high_watermark(), 6);
    log.fail("fsync of a segment failed: Input/output error (os error 5)");
    assert!(matches!(log.try_flush_to(7), Err(LogError::Failed(_))));
    assert_eq!(log.durable_offset(), 6);
}

#[test]
fn a_failed_log_refuses_writes_and_never_claims_durability() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    log.append(&mut batch(2, 0), 0, false).unwrap();
    log.flush().unwrap();
    log.append(&mut batch(3, 0), 0, false).unwrap();
    let mut watch = log.durable_watch();
    watch.borrow_and_update();
    log.fail("fsync of a segment failed: Input/output error (os error 5)");
    assert!(watch.has_changed().unwrap(), "durability waiters are woken");
    assert!(matches!(
        log.append(&mut batch(1, 0), 0, false),
        Err(LogError::Failed(_))
    ));
    assert!(matches!(log.flush(), Err(LogError::Failed(_))));
    assert_eq!(
        log.durable_offset(),
        2,
        "what was fsynced before stays durable, nothing more"
    );
    assert_eq!(log.recovery_point(), 2);
    assert_eq!(log.high_watermark(), 2, "consumers never see the unflushed batch");
}

/// Whole batches from the one holding `offset`, within `max_bytes` (the first always, with
/// `min_one`), stopping at `upper`: what a read must return, worked out from every batch.
fn expected_read(
    all: &[(u64, BatchHeader)],
    offset: i64,
    max_bytes: usize,
    min_one: bool,
    upper: i64,
) -> (u64, u64, i64) {
    let start = all.iter().position(|(_, h)| h.last_offset() >= offset).unwrap();
    let pos = all[start].0;
    let mut end = pos;
    let mut next = offset;
    for (i, (at, h)) in all[start..].iter().enumerate() {
        let batch_end = at + h.total_size() as u64;
        let fits = batch_end - pos <= max_bytes as u64 || (i == 0 && min_one);
        if h.base_offset >= upper || !fits {
            break;
        }
        end = batch_end;
        next = h.last_offset() + 1;
    }
    (pos, end, next)
}

#[test]
fn fetch_records_finds_the_same_batches_as_a_read_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        index_interval_bytes: 256,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config);
    // Batches of varied sizes, so budgets fall inside batches and between index entries.
    let mut all = Vec::new();
    let mut pos = 0u64;
    for i in 0..120usize {
        let mut b = sized_batch(1 + i % 4, 0, 100 + (i * 37) % 700);
        let info = log.append(&mut b, 0, false).unwrap();
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.base_offset, info.base_offset);
        all.push((pos, h));
        pos += b.len() as u64;
        if i == 89 {
            log.flush().unwrap();
        }
    }
    assert!(log.segments.read().len() == 1);
    let high_watermark = log.high_watermark();
    assert_eq!(
        high_watermark,
        all[89].1.last_offset() + 1,
        "the unflushed tail is above it"
    );
    for offset in (0..high_watermark).step_by(7) {
        for max_bytes in [0usize, 1, 300, 1000, 4096, 9999, 1 << 20] {
            for min_one in [false, true] {
                let got = log.fetch_records(offset, max_bytes, min_one, false).unwrap();
                let (start, end, next) = expected_read(&all, offset, max_bytes, min_one, high_watermark);
                let what = format!("offset {offset}, max {max_bytes}, min_one {min_one}");
                if end == start {
                    assert!(got.records.is_none(), "{what}: nothing");
                    continue;
                }
                let records = got.records.expect(&what);
                assert_eq!(
                    (records.position(), records.len() as u64),
                    (start, end - start),
                    "{what}"
                );
                assert_eq!(got.next_offset, Some(next), "{what}");
                let bytes = records.read().unwrap();
                assert_eq!(headers(&bytes).last().unwrap().last_offset() + 1, next, "{what}");
                assert_eq!(bytes, log.fetch(offset, max_bytes, min_one).unwrap().records, "{what}");
            }
        }
    }
    assert!(
        log.fetch_records(high_watermark, 1 << 20, true, false)
            .unwrap()
            .records
            .is_none()
    );
}

#[test]
fn flush_moves_recovery_point_and_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: 5,
        ..small_config()
    };
    let log = open(dir.path(), config);
    assert!(!log.append(&mut batch(2, 0), 0, false).unwrap().flush_due);
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(log.durable_offset(), 0);
    assert!(log.append(&mut batch(3, 0), 0, false).unwrap().flush_due);
    let mut watch = log.durable_watch();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 5);
    assert_eq!(log.durable_offset(), 5);
    assert!(watch.has_changed().unwrap());
    assert_eq!(*watch.borrow_and_update(), 5);
    assert!(!log.flush_due(now_ms()));
    let timed = LogConfig {
        flush_ms: 0,
        ..small_config()
    };
    log.update_config(timed);
    assert!(!log.flush_due(now_ms()), "nothing unflushed");
    log.append(&mut batch(1, 0), 0, false).unwrap();
    assert!(log.flush_due(now_ms()));
}

#[test]
fn waiting_for_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), LogConfig::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        log.append(&mut batch(1, 0), 0, false).unwrap();
        log.wait_past(0).await; // already past
        let mut rx = log.subscribe();
        assert_eq!(*rx.borrow_and_update(), 1);
        let waiter = {
            let log = log.clone();
            tokio::spawn(async move { log.wait_past(1).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        log.append(&mut batch(1, 0), 0, false).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 2);
    });
}

#[test]
fn concurrent_reads_never_see_partial_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(
        dir.path(),
        LogConfig {
            segment_bytes: 64 * 1024,
            ..small_config()
        },
    ));
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..2000usize {
                let mut b = sized_batch(1 + i % 4, i as i64, 100 + (i * 13) % 900);
                log.append(&mut b, 0, false).unwrap();
            }
        })
    };
    let mut offset = 0;
    let mut reads = 0;
    loop {
        let slice = log.read(offset, 4096, true).unwrap();
        for h in headers(&slice.records) {
            assert_eq!(h.base_offset, offset);
            offset = h.last_offset() + 1;
        }
        assert!(offset <= slice.log_end_offset);
        reads += 1;
        if writer.is_finished() && offset == log.log_end_offset() {
            break;
        }
    }
    writer.join().unwrap();
    assert!(reads > 0);
    assert_eq!(offset, log.log_end_offset());
}
