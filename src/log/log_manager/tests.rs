use super::*;
use crate::log::test_util::batch;
use std::time::Duration;

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn partition_dir_names() {
    assert_eq!(parse_partition_dir_name("orders-3"), Some(("orders".into(), 3)));
    assert_eq!(parse_partition_dir_name("a-b.c-12"), Some(("a-b.c".into(), 12)));
    assert_eq!(parse_partition_dir_name("trailing--1"), Some(("trailing-".into(), 1)));
    assert_eq!(
        parse_partition_dir_name("__consumer_offsets-49"),
        Some(("__consumer_offsets".into(), 49))
    );
    for bad in ["orders", "orders-", "-3", "orders-x", "orders-+1", "t-99999999999"] {
        assert_eq!(parse_partition_dir_name(bad), None, "{bad}");
    }
}

#[test]
fn lifecycle_marker_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let manager = LogManager::open(&data, |_| LogConfig::default()).unwrap();
    assert!(!manager.was_clean_start());
    assert!(manager.topics_on_disk().is_empty());
    assert_eq!(manager.data_dir(), data.as_path());
    let log = manager.get_or_create("my.topic-x", 2, LogConfig::default()).unwrap();
    assert!(Arc::ptr_eq(
        &log,
        &manager.get_or_create("my.topic-x", 2, LogConfig::default()).unwrap()
    ));
    assert!(manager.get("my.topic-x", 1).is_none());
    log.append(&mut batch(3, 0), 0, false).unwrap();
    manager.get_or_create("other", 0, LogConfig::default()).unwrap();
    assert_eq!(manager.partitions().len(), 2);
    // Stray entries are ignored.
    fs::create_dir_all(data.join("not a partition")).unwrap();
    fs::write(data.join("stray-file-0"), b"x").unwrap();

    manager.shutdown().unwrap();
    manager.shutdown().unwrap();
    assert!(data.join(CLEAN_SHUTDOWN_FILE).exists());
    let checkpoint = RecoveryPointCheckpoint::in_dir(&data).read().unwrap();
    assert_eq!(checkpoint[&("my.topic-x".to_string(), 2)], 3);
    assert_eq!(checkpoint[&("other".to_string(), 0)], 0);
    assert!(matches!(log.append(&mut batch(1, 0), 0, false), Err(LogError::Closed)));
    assert!(matches!(
        manager.get_or_create("new", 0, LogConfig::default()),
        Err(LogError::Closed)
    ));
    drop(manager);

    let manager = LogManager::open(&data, |_| LogConfig::default()).unwrap();
    assert!(manager.was_clean_start());
    assert!(
        !data.join(CLEAN_SHUTDOWN_FILE).exists(),
        "marker removed right after startup"
    );
    let mut found = manager.topics_on_disk();
    found.sort();
    assert_eq!(found, vec![("my.topic-x".to_string(), 2), ("other".to_string(), 0)]);
    let log = manager.get("my.topic-x", 2).unwrap();
    assert_eq!(log.append(&mut batch(1, 0), 0, false).unwrap().base_offset, 3);
    // A crash: no shutdown, so no marker; the next start recovers.
    drop(log);
    drop(manager);
    let manager = LogManager::open(&data, |_| LogConfig::default()).unwrap();
    assert!(!manager.was_clean_start());
    let log = manager.get("my.topic-x", 2).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.recovery_point(), 4);
    assert_eq!(
        RecoveryPointCheckpoint::in_dir(&data).read().unwrap()[&("my.topic-x".to_string(), 2)],
        4
    );
    manager.shutdown().unwrap();
}

#[test]
fn log_start_offset_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let small = |_: &str| LogConfig {
        segment_bytes: 1024,
        ..LogConfig::default()
    };
    let manager = LogManager::open(dir.path(), small).unwrap();
    let log = manager.get_or_create("t", 0, small("t")).unwrap();
    for _ in 0..30 {
        log.append(&mut batch(5, 0), 0, false).unwrap();
    }
    log.flush().unwrap();
    assert!(manager.delete_records(&log, 151).is_err(), "beyond the high watermark");
    assert_eq!(manager.delete_records(&log, 42).unwrap(), 42);
    assert!(log.segment_base_offsets()[0] > 0, "segments wholly below 42 went");
    drop(log);
    drop(manager); // a crash: the checkpoint was written by DeleteRecords itself
    let manager = LogManager::open(dir.path(), small).unwrap();
    let log = manager.get("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 42);
    assert_eq!(manager.delete_records(&log, 150).unwrap(), 150);
    manager.shutdown().unwrap();
    drop(log);
    drop(manager);
    let manager = LogManager::open(dir.path(), small).unwrap();
    assert_eq!(manager.get("t", 0).unwrap().log_start_offset(), 150);
    manager.shutdown().unwrap();
}

#[test]
fn config_for_is_used_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), |_| LogConfig::default()).unwrap();
    manager.get_or_create("a", 0, LogConfig::default()).unwrap();
    manager.shutdown().unwrap();
    drop(manager);
    let manager = LogManager::open(dir.path(), |topic| LogConfig {
        segment_bytes: if topic == "a" { 12345 } else { 1 },
        ..LogConfig::default()
    })
    .unwrap();
    assert_eq!(manager.get("a", 0).unwrap().config().segment_bytes, 12345);
}

#[test]
fn rejects_unsafe_names() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), |_| LogConfig::default()).unwrap();
    for (topic, partition) in [("", 0), ("..", 0), ("a/b", 0), ("ok", -1)] {
        assert!(
            manager.get_or_create(topic, partition, LogConfig::default()).is_err(),
            "{topic}/{partition}"
        );
    }
}

#[test]
fn delete_topic_renames_then_removes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    // A leftover from an earlier deletion is cleaned up at startup.
    fs::create_dir_all(data.join("old-0.0123abcd-delete")).unwrap();
    fs::write(data.join("old-0.0123abcd-delete/00000000000000000000.log"), b"junk").unwrap();
    let manager = LogManager::open(&data, |_| LogConfig::default()).unwrap();
    assert!(manager.topics_on_disk().is_empty());
    wait_until("leftover removal", || !data.join("old-0.0123abcd-delete").exists());

    for p in 0..3 {
        let log = manager.get_or_create("doomed", p, LogConfig::default()).unwrap();
        log.append(&mut batch(2, 0), 0, false).unwrap();
    }
    let keep = manager.get_or_create("doomed-not", 0, LogConfig::default()).unwrap();
    keep.append(&mut batch(1, 0), 0, false).unwrap();
    let old = manager.get("doomed", 0).unwrap();
    manager.delete_topic("doomed").unwrap();
    assert!(manager.get("doomed", 0).is_none());
    assert!(old.is_closed());
    assert!(!data.join("doomed-0").exists());
    assert!(manager.get("doomed-not", 0).is_some());
    // The name is free at once.
    let fresh = manager.get_or_create("doomed", 0, LogConfig::default()).unwrap();
    assert_eq!(fresh.log_end_offset(), 0);
    wait_until("background deletion", || {
        fs::read_dir(&data)
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with("-delete"))
    });
    assert_eq!(manager.partitions().len(), 2);
    manager.delete_topic("missing").unwrap();
    manager.shutdown().unwrap();
}

#[test]
fn wait_durable_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), |_| LogConfig::default()).unwrap();
    let logs: Vec<_> = (0..3)
        .map(|p| manager.get_or_create("durable", p, LogConfig::default()).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200usize {
            let manager = manager.clone();
            let log = logs[i % 3].clone();
            tasks.push(tokio::spawn(async move {
                let info = log.append(&mut batch(1 + i % 3, 0), 0, false).unwrap();
                manager.wait_durable(&log, info.last_offset + 1).await.unwrap();
                assert!(log.durable_offset() > info.last_offset);
                assert!(log.recovery_point() > info.last_offset);
            }));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(20), t).await.unwrap().unwrap();
        }
        // Already durable: returns at once.
        let log = &logs[0];
        tokio::time::timeout(
            Duration::from_millis(100),
            manager.wait_durable(log, log.log_end_offset()),
        )
        .await
        .unwrap()
        .unwrap();
    });
    for log in &logs {
        assert_eq!(log.durable_offset(), log.log_end_offset());
    }
    manager.shutdown().unwrap();
}

#[test]
fn flush_messages_schedules_a_background_flush() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), |_| LogConfig::default()).unwrap();
    let config = LogConfig {
        flush_messages: 3,
        ..LogConfig::default()
    };
    let log = manager.get_or_create("counted", 0, config).unwrap();
    log.append(&mut batch(2, 0), 0, false).unwrap();
    manager.maybe_schedule_flush(&log);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(log.durable_offset(), 0, "not due yet");
    let info = log.append(&mut batch(2, 0), 0, false).unwrap();
    assert!(info.flush_due);
    manager.maybe_schedule_flush(&log);
    wait_until("scheduled flush", || log.durable_offset() == 4);

    // flush.ms is checked by the flusher's periodic pass, without any request.
    let timed = manager
        .get_or_create(
            "timed",
            0,
            LogConfig {
                flush_ms: 0,
                ..LogConfig::default()
            },
        )
        .unwrap();
    timed.append(&mut batch(1, 0), 0, false).unwrap();
    wait_until("periodic flush", || timed.durable_offset() == 1);
    manager.shutdown().unwrap();
}
