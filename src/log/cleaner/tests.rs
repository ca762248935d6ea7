use super::*;
use crate::record::{Compression, Record, records};
use std::collections::BTreeMap;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        delete: false,
        compact: true,
        min_cleanable_dirty_ratio: 0.01,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig) -> Arc<PartitionLog> {
    Arc::new(PartitionLog::open(&dir.join("t-0"), "t", 0, config, 0, false).unwrap())
}

/// A batch of (key, value) records, `None` values being tombstones.
fn kv_batch(codec: Compression, records: &[(String, Option<String>)], ts: i64) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(codec);
    for (k, v) in records {
        b.append(ts, Some(k.as_bytes()), v.as_deref().map(str::as_bytes), &[]);
    }
    b.build()
}

/// Every record in the log, in offset order, checking offsets only grow.
fn read_records(log: &PartitionLog) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log.read(offset, 1 << 20, true).unwrap();
        assert!(!slice.records.is_empty(), "no progress at {offset}");
        let mut pos = 0;
        while pos < slice.records.len() {
            let h = BatchHeader::parse(&slice.records[pos..]).unwrap();
            let batch = &slice.records[pos..pos + h.total_size()];
            crate::record::batch::verify_crc(&h, batch).unwrap();
            for r in records(batch).unwrap() {
                if r.offset >= offset {
                    assert!(out.last().is_none_or(|l| l.offset < r.offset));
                    out.push(r);
                }
            }
            offset = h.last_offset() + 1;
            pos += h.total_size();
        }
    }
    out
}

/// Latest value per key as a reader that reads everything sees it.
fn latest(recs: &[Record]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut m = BTreeMap::new();
    for r in recs {
        m.insert(r.key.as_ref().unwrap().to_vec(), r.value.as_ref().map(|v| v.to_vec()));
    }
    m
}

fn settings(dedupe: u64) -> BackgroundConfig {
    BackgroundConfig {
        cleaner_dedupe_buffer_size: dedupe,
        ..BackgroundConfig::default()
    }
}

/// Cleans until nothing is left to clean.
fn clean_all(cleaner: &LogCleaner, log: &Arc<PartitionLog>, now: i64, dedupe: u64) -> usize {
    let control = BackgroundControl::new(settings(dedupe));
    let deletions = DeletionQueue::default();
    let mut passes = 0;
    while cleaner.clean_filthiest(std::slice::from_ref(log), now, &settings(dedupe), &control, &deletions) {
        passes += 1;
        assert!(passes < 200, "cleaning does not converge");
    }
    deletions.remove_due(i64::MAX);
    passes
}

fn fill(log: &PartitionLog, keys: usize, rounds: usize, codec: Compression, now: i64) {
    for round in 0..rounds {
        for chunk in (0..keys).collect::<Vec<_>>().chunks(10) {
            let recs: Vec<(String, Option<String>)> = chunk
                .iter()
                .map(|k| (format!("key-{k}"), Some(format!("value-{k}-{round}"))))
                .collect();
            log.append(&mut kv_batch(codec, &recs, now), now, false).unwrap();
        }
    }
}

#[test]
fn keeps_the_latest_value_per_key_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), config());
    let now = now_ms();
    fill(&log, 50, 20, Compression::Lz4, now);
    let before = read_records(&log);
    let expected = latest(&before);
    let end = log.log_end_offset();
    let active_before = *log.segment_base_offsets().last().unwrap();
    let segments_before = log.segment_count();
    let cleaner = LogCleaner::open(dir.path());
    assert!(clean_all(&cleaner, &log, now, 1 << 20) >= 1);
    let after = read_records(&log);
    assert_eq!(latest(&after), expected, "readers see the same latest values");
    assert!(
        after.len() < before.len() / 3,
        "{} records left of {}",
        after.len(),
        before.len()
    );
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        *log.segment_base_offsets().last().unwrap(),
        active_before,
        "the active segment is untouched"
    );
    assert!(log.segment_count() < segments_before);
    // Every kept record kept its offset.
    let by_offset: HashMap<i64, &Record> = before.iter().map(|r| (r.offset, r)).collect();
    for r in &after {
        assert_eq!(by_offset[&r.offset], r);
    }
    // Each key appears once below the active segment.
    let inactive: Vec<&Record> = after.iter().filter(|r| r.offset < active_before).collect();
    let distinct: HashSet<&[u8]> = inactive.iter().map(|r| r.key.as_deref().unwrap()).collect();
    assert_eq!(distinct.len(), inactive.len());
    // Batches kept their codec; no leftovers in the directory.
    for segment in log.segments_snapshot().iter() {
        segment
            .for_each_batch(READ_BUFFER, |_, h, _| {
                assert_eq!(h.compression().unwrap(), Compression::Lz4);
                Ok(true)
            })
            .unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(log.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains(".cleaned") && !n.contains(".swap") && !n.contains(".deleted")),
        "{names:?}"
    );
    assert!(
        std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint"))
            .unwrap()
            .contains("t 0 ")
    );

    // Reopened, the log reads the same (gaps between segments are fine).
    log.close().unwrap();
    let reopened = PartitionLog::open(&dir.path().join("t-0"), "t", 0, config(), 0, true).unwrap();
    assert_eq!(read_records(&reopened), after);
}

/// A producer's last batch survives cleaning, emptied, so its sequence does: the producer's
/// next batch is still in order after the log is reopened from disk.
#[test]
fn a_producers_last_batch_is_kept_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), config());
    let now = now_ms();
    let producer = 4242;
    let mut idempotent = RecordBatchBuilder::new(Compression::None).producer(producer, 0, 0);
    for i in 0..3 {
        idempotent.append(now, Some(format!("key-{i}").as_bytes()), Some(b"first"), &[]);
    }
    let mut first = idempotent.build();
    log.append(&mut first, now, false).unwrap();
    let producer_last = log.log_end_offset() - 1;
    // Later values of the same keys from elsewhere supersede all three records.
    fill(&log, 3, 40, Compression::None, now);
    let cleaner = LogCleaner::open(dir.path());
    assert!(clean_all(&cleaner, &log, now, 1 << 20) >= 1);
    let mut kept = None;
    for segment in log.segments_snapshot().iter() {
        segment
            .for_each_batch(READ_BUFFER, |_, h, bytes| {
                if h.producer_id == producer {
                    kept = Some((*h, records(bytes).unwrap().len()));
                }
                Ok(true)
            })
            .unwrap();
    }
    let (header, count) = kept.expect("the producer's last batch is still in the log");
    assert_eq!(count, 0, "emptied of its superseded records");
    assert_eq!((header.base_sequence, header.last_offset()), (0, producer_last));
    log.close().unwrap();
    let reopened = PartitionLog::open(&dir.path().join("t-0"), "t", 0, config(), 0, true).unwrap();
    let mut next = RecordBatchBuilder::new(Compression::None).producer(producer, 0, 3);
    next.append(now, Some(b"key-9"), Some(b"next"), &[]);
    reopened
        .append(&mut next.build(), now, false)
        .expect("the producer's next sequence is accepted");
}

#[test]
fn bounded_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), config());
    let now = now_ms();
    fill(&log, 200, 5, Compression::None, now);
    let expected = latest(&read_records(&log));
    let cleaner = LogCleaner::open(dir.path());
    // Room for about 60 keys per pass.
    let passes = clean_all(&cleaner, &log, now, 60 * BYTES_PER_MAP_ENTRY * 10 / 9 + 24);
    assert!(passes > 3, "{passes} passes");
    let after = read_records(&log);
    assert_eq!(latest(&after), expected);
    let active = *log.segment_base_offsets().last().unwrap();
    let inactive = after.iter().filter(|r| r.offset < active).count();
    let distinct: HashSet<&[u8]> = after
        .iter()
        .filter(|r| r.offset < active)
        .map(|r| r.key.as_deref().unwrap())
        .collect();
    assert_eq!(distinct.len(), inactive);
}

#[test]
fn tombstones_survive_delete_retention_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            delete_retention_ms: 10_000,
            ..config()
        },
    );
    let now = now_ms();
    fill(&log, 20, 3, Compression::Gzip, now);
    let dead: Vec<(String, Option<String>)> = (0..5).map(|k| (format!("key-{k}"), None)).collect();
    log.append(&mut kv_batch(Compression::Gzip, &dead, now), now, false)
        .unwrap();
    fill(&log, 20, 3, Compression::Gzip, now); // the first 5 keys live again
    let tail: Vec<(String, Option<String>)> = (100..140)
        .map(|k| (format!("key-{k}"), Some(format!("{k:0>200}"))))
        .collect();
    for chunk in tail.chunks(4) {
        log.append(&mut kv_batch(Compression::None, chunk, now), now, false)
            .unwrap();
    }
    // Tombstone the first 5 keys for good, then push that batch out of the active segment.
    log.append(&mut kv_batch(Compression::Gzip, &dead, now), now, false)
        .unwrap();
    for chunk in tail.chunks(4) {
        log.append(&mut kv_batch(Compression::None, chunk, now), now, false)
            .unwrap();
    }
    let cleaner = LogCleaner::open(dir.path());
    clean_all(&cleaner, &log, now, 1 << 20);
    let after = read_records(&log);
    let tombstones = after.iter().filter(|r| r.value.is_none()).count();
    assert_eq!(tombstones, 5, "kept within delete.retention.ms");
    let state = latest(&after);
    assert_eq!(state.get(b"key-0".as_slice()), Some(&None));
    assert_eq!(state.len(), 60);

    // Past the horizon the next pass drops them, and nothing else.
    assert!(clean_all(&cleaner, &log, now + 10_001, 1 << 20) >= 1);
    let after = read_records(&log);
    assert_eq!(after.iter().filter(|r| r.value.is_none()).count(), 0);
    let state = latest(&after);
    assert!(!state.contains_key(b"key-0".as_slice()));
    assert_eq!(state.len(), 55);
    assert_eq!(
        clean_all(&cleaner, &log, now + 20_000, 1 << 20),
        0,
        "nothing left to do"
    );
}

#[test]
fn respects_min_compaction_lag_and_dirty_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            min_compaction_lag_ms: 60_000,
            ..config()
        },
    );
    let now = now_ms();
    fill(&log, 30, 10, Compression::None, now);
    let cleaner = LogCleaner::open(dir.path());
    assert_eq!(
        clean_all(&cleaner, &log, now, 1 << 20),
        0,
        "records younger than the lag stay"
    );
    assert!(clean_all(&cleaner, &log, now + 61_000, 1 << 20) >= 1);

    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            min_cleanable_dirty_ratio: 0.99,
            ..config()
        },
    );
    fill(&log, 30, 10, Compression::None, now);
    let cleaner = LogCleaner::open(dir.path());
    assert!(clean_all(&cleaner, &log, now, 1 << 20) >= 1, "all dirty at first");
    let segments = log.segment_count();
    fill(&log, 30, 6, Compression::None, now);
    assert!(log.segment_count() > segments, "new data reached an inactive segment");
    let c = cleaner.cleanable(&log, now);
    assert!(c.dirty_bytes > 0 && c.dirty_ratio() < 0.99, "{c:?}");
    assert_eq!(clean_all(&cleaner, &log, now, 1 << 20), 0, "below the ratio");
    log.update_config(LogConfig {
        max_compaction_lag_ms: 1_000,
        min_cleanable_dirty_ratio: 0.99,
        ..config()
    });
    assert!(cleaner.cleanable(&log, now + 5_000).overdue);
    assert!(
        clean_all(&cleaner, &log, now + 5_000, 1 << 20) >= 1,
        "max.compaction.lag.ms forces it"
    );
}

/// An interrupted clean leaves the old or the new segments of a group, never a mix, and the
/// log reads the same latest values either way.
#[test]
fn crash_at_any_step_leaves_a_consistent_log() {
    for step in ["cleaned_written", "swap_renamed", "old_segments_renamed"] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), config());
        let now = now_ms();
        fill(&log, 40, 12, Compression::Snappy, now);
        let before = read_records(&log);
        let expected = latest(&before);
        let cleaner = LogCleaner::open(dir.path());
        CRASH_AT.with(|c| c.set(Some(step)));
        let control = BackgroundControl::new(settings(1 << 20));
        let deletions = DeletionQueue::default();
        let result = cleaner.clean(&log, now, 1 << 20, &control, &deletions);
        CRASH_AT.with(|c| c.set(None));
        assert!(result.is_err(), "{step}");
        // The running broker still reads correctly.
        assert_eq!(latest(&read_records(&log)), expected, "{step}: live reads");
        drop(log); // crash: no close

        let reopened = Arc::new(PartitionLog::open(&dir.path().join("t-0"), "t", 0, config(), 0, true).unwrap());
        let recs = read_records(&reopened);
        assert_eq!(latest(&recs), expected, "{step}");
        let names: Vec<String> = std::fs::read_dir(reopened.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.contains(".cleaned") && !n.contains(".swap") && !n.contains(".deleted")),
            "{step}: {names:?}"
        );
        match step {
            // Before the commit point: the old segments, untouched.
            "cleaned_written" => assert_eq!(recs, before, "{step}"),
            // After it: the cleaned group replaced the old one.
            _ => assert!(recs.len() < before.len(), "{step}"),
        }
        // And cleaning resumes.
        let cleaner = LogCleaner::open(dir.path());
        clean_all(&cleaner, &reopened, now, 1 << 20);
        assert_eq!(latest(&read_records(&reopened)), expected, "{step}: after resuming");
    }
}

#[test]
fn readers_keep_their_snapshot_during_a_swap() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), config());
    let now = now_ms();
    fill(&log, 40, 10, Compression::Zstd, now);
    let snapshot = log.segments_snapshot();
    let first = snapshot[0].clone();
    let first_bytes = first.read_at(0, first.size() as usize).unwrap();
    let cleaner = LogCleaner::open(dir.path());
    clean_all(&cleaner, &log, now, 1 << 20);
    assert!(!Arc::ptr_eq(&log.segments_snapshot()[0], &first));
    // The old segment's files are gone, yet its handle still reads the old bytes.
    assert_eq!(first.read_at(0, first.size() as usize).unwrap(), first_bytes);
}
