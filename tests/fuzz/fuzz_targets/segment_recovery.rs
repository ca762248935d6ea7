//! A segment file left by a crash, torn write or bad disk: the input becomes
//! `00000000000000000000.log` of a partition opened with recovery, as after an unclean
//! shutdown. Opening must succeed or fail with an error, whatever the file holds; what it
//! keeps must read back as whole batches with valid CRCs below the log end, and a second,
//! clean open must find the same log. Half of the inputs get valid CRCs, so mutations reach
//! the checks behind the checksum (offset order, record counts, the producer state rebuild).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rivulet::log::LogConfig;
use rivulet::log::partition_log::PartitionLog;
use rivulet::record::batch::verify_crc;
use rivulet::record::{BatchHeader, complete_batch_end, record_iter};

/// One directory per fuzzing process, under `$TMPDIR` (run.sh points it at a tmpfs, where
/// the fsyncs recovery does cost nothing).
fn base_dir() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rivulet-fuzz-segment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz directory");
        dir
    })
}

/// Reads the whole log back as a fetch would, checking what recovery kept.
fn read_back(log: &PartitionLog) {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert!(start <= end, "log start {start} after log end {end}");
    let mut offset = start;
    let mut reads = 0;
    while offset < end {
        reads += 1;
        assert!(reads < 100_000, "reading the log back does not advance");
        let slice = match log.read(offset, 1 << 20, true) {
            Ok(slice) => slice,
            Err(_) => return,
        };
        if slice.records.is_empty() {
            break;
        }
        let mut at = 0;
        let mut next = offset;
        while let Some(batch_end) = complete_batch_end(&slice.records, at) {
            let batch = &slice.records[at..batch_end];
            let header = BatchHeader::parse(batch).expect("recovery keeps only parseable batches");
            verify_crc(&header, batch).expect("recovery keeps only batches with valid CRCs");
            assert!(header.last_offset() < end, "a kept batch ends past the log end {end}");
            assert!(header.last_offset() >= next, "read went backwards");
            if let Ok(records) = record_iter(batch, 4 << 20) {
                records.take(10_000).for_each(drop);
            }
            next = header.last_offset() + 1;
            at = batch_end;
        }
        assert_eq!(at, slice.records.len(), "a read returned a partial batch");
        assert!(next > offset, "a read made no progress at offset {offset}");
        offset = next;
    }
    let _ = log.offset_for_timestamp(0);
    let _ = log.max_timestamp();
}

fuzz_target!(
    init: rivulet_fuzz::write_seeds_if_asked(rivulet_fuzz::segment_seeds),
    |data: &[u8]| {
        let Some((&flags, rest)) = data.split_first() else { return };
        let mut segment = rest.to_vec();
        if flags & 1 != 0 {
            rivulet_fuzz::fix_crcs(&mut segment);
        }
        let dir = base_dir().join("t-0");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the partition directory");
        std::fs::write(dir.join("00000000000000000000.log"), &segment).expect("write the segment");

        if let Ok(log) = PartitionLog::open(&dir, "t", 0, LogConfig::default(), 0, true) {
            read_back(&log);
            let end = log.log_end_offset();
            let start = log.log_start_offset();
            let _ = log.close();
            drop(log);
            // What recovery left (and the indexes it rebuilt) is trusted on a clean start.
            let reopened = PartitionLog::open(&dir, "t", 0, LogConfig::default(), end, false)
                .expect("a recovered log opens again");
            assert_eq!(reopened.log_end_offset(), end, "the log end moved between two opens");
            assert_eq!(reopened.log_start_offset(), start, "the log start moved between two opens");
            read_back(&reopened);
            let _ = reopened.close();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
);
