//! Transactions in the partition log: the last stable offset, read_committed reads, the
//! aborted-transaction index, and their survival across a restart, a crash and compaction.

use std::path::Path;

use super::transaction_index::{TXN_INDEX_FILE_SUFFIX, read_entries, txn_index_path};
use super::{LogConfig, PartitionLog};
use crate::record::{Compression, ControlRecordType, RecordBatchBuilder};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, recover: bool) -> PartitionLog {
    PartitionLog::open(&dir.join("t-0"), "t", 0, config(), 0, recover).unwrap()
}

/// A transactional batch of `n` keyed records of producer `pid` starting at sequence `seq`.
fn txn_batch(pid: i64, seq: i32, n: usize, key: &str) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None)
        .producer(pid, 0, seq)
        .transactional(true);
    for i in 0..n {
        b.append(1000, Some(key.as_bytes()), Some(format!("{pid}-{i}").as_bytes()), &[]);
    }
    b.build()
}

fn plain(key: &str) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(Compression::None);
    b.append(1000, Some(key.as_bytes()), Some(b"plain"), &[]);
    b.build()
}

fn marker(log: &PartitionLog, pid: i64, kind: ControlRecordType) -> i64 {
    log.append_marker(pid, 0, kind, 0, 1000).unwrap().base_offset
}

#[test]
fn last_stable_offset_and_aborted_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), false);
    log.append(&mut txn_batch(1, 0, 2, "a"), 1000, false).unwrap(); // 0-1
    log.append(&mut txn_batch(2, 0, 2, "b"), 1000, false).unwrap(); // 2-3
    log.append(&mut plain("c"), 1000, false).unwrap(); // 4
    log.flush().unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!(log.ongoing_transactions(), vec![(0, 1), (2, 2)]);
    assert!(log.fetch_committed(0, 1 << 20, true).unwrap().records.is_empty());
    // A plain batch from a producer with an open transaction is refused.
    let mut mixed = RecordBatchBuilder::new(Compression::None).producer(1, 0, 2);
    mixed.append(1000, None, Some(b"x"), &[]);
    assert!(log.append(&mut mixed.build(), 1000, false).is_err());

    assert_eq!(marker(&log, 1, ControlRecordType::Abort), 5);
    log.flush().unwrap();
    // Producer 2's transaction still holds the last stable offset at 2.
    assert_eq!(log.last_stable_offset(), 2);
    let aborted = log.aborted_transactions(0, 6);
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (aborted[0].producer_id, aborted[0].first_offset, aborted[0].last_offset),
        (1, 0, 5)
    );
    assert_eq!(aborted[0].last_stable_offset, 2);
    assert_eq!(marker(&log, 2, ControlRecordType::Commit), 6);
    log.flush().unwrap();
    assert_eq!(log.last_stable_offset(), 7);
    assert!(log.first_unstable_offset().is_none());
    assert_eq!(log.aborted_transactions(6, 7).len(), 0);
    // An old epoch's marker is fenced.
    assert!(log.append_marker(2, -1, ControlRecordType::Commit, 0, 1000).is_err());

    let index = txn_index_path(&dir.path().join("t-0"), 0);
    assert_eq!(read_entries(&index).unwrap().len(), 1);
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), false);
    assert_eq!(log.aborted_transactions(0, 7).len(), 1);
    assert_eq!(log.last_stable_offset(), 7);
}

#[test]
fn a_crash_keeps_open_transactions_and_rebuilds_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), false);
    // Enough data to roll segments, so the producer state snapshot sits mid-transaction.
    let mut seq = 0;
    for _ in 0..40 {
        log.append(&mut txn_batch(7, seq, 5, "k"), 1000, false).unwrap();
        seq += 5;
    }
    log.append(&mut txn_batch(8, 0, 1, "j"), 1000, false).unwrap();
    let abort_at = marker(&log, 7, ControlRecordType::Abort);
    log.flush().unwrap();
    assert!(log.segment_count() > 1);
    let pdir = dir.path().join("t-0");
    // The index entry is lost with the crash: recovery must find the marker again.
    for entry in std::fs::read_dir(&pdir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == TXN_INDEX_FILE_SUFFIX) {
            std::fs::remove_file(path).unwrap();
        }
    }
    drop(log);
    let log = open(dir.path(), true);
    let aborted = log.aborted_transactions(0, abort_at + 1);
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert_eq!((aborted[0].first_offset, aborted[0].last_offset), (0, abort_at));
    // Producer 8's transaction is still open after the restart.
    assert_eq!(log.first_unstable_offset(), Some(200));
    assert_eq!(log.ongoing_transactions(), vec![(200, 8)]);
    marker(&log, 8, ControlRecordType::Commit);
    log.flush().unwrap();
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}

#[test]
fn the_cleaner_drops_aborted_records_then_markers_past_their_horizon() {
    use std::sync::Arc;

    use super::cleaner::LogCleaner;
    use super::retention::DeletionQueue;
    use super::{BackgroundConfig, BackgroundControl, now_ms};
    use crate::record::records;

    let dir = tempfile::tempdir().unwrap();
    let compacted = LogConfig {
        delete: false,
        compact: true,
        min_cleanable_dirty_ratio: 0.01,
        file_delete_delay_ms: 0,
        delete_retention_ms: 10_000,
        ..config()
    };
    let log = Arc::new(PartitionLog::open(&dir.path().join("t-0"), "t", 0, compacted, 0, false).unwrap());
    let now = now_ms();
    // Producer 1 commits "a"; producer 2's "b" is aborted; producer 3 commits "c", which a
    // plain write of "c" then supersedes; producer 4 commits while "d" is still the latest.
    log.append(&mut txn_batch(1, 0, 1, "a"), now, false).unwrap();
    marker(&log, 1, ControlRecordType::Commit);
    log.append(&mut txn_batch(2, 0, 1, "b"), now, false).unwrap();
    marker(&log, 2, ControlRecordType::Abort);
    log.append(&mut txn_batch(3, 0, 1, "c"), now, false).unwrap();
    marker(&log, 3, ControlRecordType::Commit);
    log.append(&mut plain("c"), now, false).unwrap();
    log.append(&mut txn_batch(4, 0, 1, "d"), now, false).unwrap();
    marker(&log, 4, ControlRecordType::Commit);
    // Fill past the active segment so everything above is cleanable.
    for i in 0..60 {
        log.append(&mut plain(&format!("fill-{i}")), now, false).unwrap();
    }
    log.flush().unwrap();

    let settings = BackgroundConfig {
        cleaner_dedupe_buffer_size: 1 << 20,
        ..BackgroundConfig::default()
    };
    let cleaner = LogCleaner::open(dir.path());
    let clean_at = |at: i64| {
        let control = BackgroundControl::new(settings.clone());
        let deletions = DeletionQueue::default();
        while cleaner.clean_filthiest(std::slice::from_ref(&log), at, &settings, &control, &deletions) {}
        deletions.remove_due(i64::MAX);
    };
    // (producer id, is a marker, key) of every batch left, in order.
    let batches = || {
        let mut out = Vec::new();
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let slice = log.read(offset, 1 << 20, true).unwrap();
            let mut pos = 0;
            while pos < slice.records.len() {
                let h = crate::record::BatchHeader::parse(&slice.records[pos..]).unwrap();
                let batch = &slice.records[pos..pos + h.total_size()];
                let key = records(batch)
                    .unwrap()
                    .first()
                    .and_then(|r| r.key.clone())
                    .map(|k| String::from_utf8_lossy(&k).to_string());
                if h.producer_id >= 0 && !key.as_deref().is_some_and(|k| k.starts_with("fill")) {
                    out.push((h.producer_id, h.is_control(), if h.is_control() { None } else { key }));
                }
                offset = h.last_offset() + 1;
                pos += h.total_size();
            }
        }
        out
    };

    clean_at(now);
    // The aborted record is gone and so is the superseded "c" (their batches stay, empty, as
    // their producers' last); their markers wait for the horizon; "a" and "d" keep theirs.
    assert_eq!(
        batches(),
        vec![
            (1, false, Some("a".to_string())),
            (1, true, None),
            (2, false, None),
            (2, true, None),
            (3, false, None),
            (3, true, None),
            (4, false, Some("d".to_string())),
            (4, true, None),
        ]
    );
    clean_at(now + 10_001);
    assert_eq!(
        batches(),
        vec![
            (1, false, Some("a".to_string())),
            (1, true, None),
            (2, false, None),
            (3, false, None),
            (4, false, Some("d".to_string())),
            (4, true, None),
        ]
    );
}
