use super::*;
use crate::log::test_util::{batch, sized_batch};
use crate::record::batch::set_base_offset;

fn cfg() -> LogConfig {
    LogConfig {
        index_interval_bytes: 256,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Appends `batches` at `base` on, like the partition log does.
fn append_all(seg: &LogSegment, mut next: i64, batches: &[Vec<u8>]) -> i64 {
    for b in batches {
        let mut b = b.clone();
        set_base_offset(&mut b, next);
        let h = BatchHeader::parse(&b).unwrap();
        let meta = BatchMeta {
            position: 0,
            size: b.len() as u64,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
        };
        seg.append(&b, &[meta], cfg().index_interval_bytes).unwrap();
        next = h.last_offset() + 1;
    }
    next
}

#[test]
fn file_names() {
    assert_eq!(segment_file_name(42, "log"), "00000000000000000042.log");
    assert_eq!(
        parse_segment_file_name("00000000000000000042.timeindex"),
        Some((42, "timeindex"))
    );
    assert_eq!(parse_segment_file_name("0042.log"), None);
    assert_eq!(parse_segment_file_name("0000000000000000004x.log"), None);
    assert_eq!(parse_segment_file_name("nodot"), None);
}

#[test]
fn append_index_translate_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let seg = LogSegment::create(dir.path(), 100, &cfg(), 0).unwrap();
    let batches: Vec<Vec<u8>> = (0..40).map(|i| sized_batch(3, 1000 + i, 120)).collect();
    let next = append_all(&seg, 100, &batches);
    assert_eq!(next, 220);
    assert_eq!(seg.next_offset(), Some(220));
    assert!(seg.offset_index_entries() > 5);
    assert_eq!(seg.max_timestamp(), (1041, 219));
    for target in [100, 101, 150, 218, 219] {
        let (_, h) = seg.translate_offset(target, seg.size()).unwrap().unwrap();
        assert!(h.base_offset <= target && target <= h.last_offset());
    }
    assert!(seg.translate_offset(220, seg.size()).unwrap().is_none());
    seg.seal().unwrap();
    seg.flush().unwrap();
    let entries = seg.offset_index_entries();
    drop(seg);

    let (seg, cut) = LogSegment::load(
        dir.path(),
        100,
        &cfg(),
        LoadMode::Trust {
            offset_limit: Some(220),
        },
        false,
        0,
        i64::MIN,
    )
    .unwrap();
    assert!(cut.is_none());
    assert_eq!(seg.offset_index_entries(), entries);
    assert_eq!(seg.max_timestamp(), (1041, 219));
    drop(seg);

    let (seg, cut) = LogSegment::load(dir.path(), 100, &cfg(), LoadMode::TailCheck, true, 0, i64::MIN).unwrap();
    assert!(cut.is_none());
    assert_eq!(seg.next_offset(), Some(220));
    assert_eq!(seg.offset_index_entries(), entries);
    assert_eq!(append_all(&seg, 220, &[batch(2, 5000)]), 222);
    assert_eq!(seg.max_timestamp(), (5001, 221));
}

#[test]
fn recover_cuts_garbage_and_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let seg = LogSegment::create(dir.path(), 0, &cfg(), 0).unwrap();
    let batches: Vec<Vec<u8>> = (0..10).map(|i| sized_batch(2, i, 200)).collect();
    append_all(&seg, 0, &batches);
    let good_len = seg.size();
    seg.file().write_all_at(&[0xab; 100], good_len).unwrap();
    drop(seg);
    let (seg, cut) = LogSegment::load(dir.path(), 0, &cfg(), LoadMode::Recover, true, 0, i64::MIN).unwrap();
    let cut = cut.unwrap();
    assert_eq!(cut.valid_end, good_len);
    assert_eq!(cut.file_len, good_len + 100);
    assert_eq!(cut.next_offset, 20);
    assert_eq!(seg.size(), good_len);
    assert_eq!(std::fs::metadata(seg.log_path()).unwrap().len(), good_len);
    assert_eq!(seg.next_offset(), Some(20));
}

#[test]
fn truncate_to_drops_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let seg = LogSegment::create(dir.path(), 0, &cfg(), 0).unwrap();
    append_all(&seg, 0, &[batch(5, 10), batch(5, 20), batch(5, 30)]);
    assert_eq!(seg.truncate_to(7, &cfg()).unwrap(), Some(5));
    assert_eq!(seg.next_offset(), Some(5));
    assert_eq!(seg.max_timestamp(), (14, 4));
    assert_eq!(seg.truncate_to(5, &cfg()).unwrap(), None);
    assert_eq!(seg.truncate_to(0, &cfg()).unwrap(), Some(0));
    assert_eq!(seg.size(), 0);
}

#[test]
fn rolls_on_size_time_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1000,
        segment_ms: 100,
        ..cfg()
    };
    let seg = LogSegment::create(dir.path(), 0, &config, 0).unwrap();
    assert!(
        !seg.should_roll(&config, 10_000, 0, 0, 1_000_000),
        "empty segments never roll"
    );
    append_all(&seg, 0, &[sized_batch(1, 1000, 500)]);
    assert!(!seg.should_roll(&config, 400, 1050, 1, 0));
    assert!(seg.should_roll(&config, 600, 1050, 1, 0));
    assert!(seg.should_roll(&config, 10, 1101, 1, 0));
    assert!(seg.should_roll(&config, 10, 1000, i64::from(i32::MAX) + 1, 0));

    // Without timestamps, segment.ms counts from the segment's creation.
    let seg = LogSegment::create(dir.path(), 50, &config, 0).unwrap();
    append_all(&seg, 50, &[sized_batch(1, -1, 100)]);
    assert!(!seg.should_roll(&config, 10, -1, 51, 100));
    assert!(seg.should_roll(&config, 10, -1, 51, 101));
}
