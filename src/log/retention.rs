//! Retention: the thread that removes old segments, as Kafka's `kafka-log-retention` task.
//!
//! Every `log.retention.check.interval.ms` each log drops, oldest first, the segments that
//! are wholly below its log start offset (DeleteRecords) and, with `delete` in
//! `cleanup.policy`, those past `retention.bytes` (never the active segment) or whose newest
//! record is older than `retention.ms` (when every record has expired the active segment is
//! rolled first, so the log restarts empty at its end offset, as Kafka does). Only whole
//! segments go; the log start offset moves to the first remaining one.
//!
//! Deletion is asynchronous: a removed segment's files are renamed `<name>.deleted` at once
//! and unlinked `file.delete.delay.ms` later by this thread. A fetch that took its segment list
//! before the removal keeps reading through its open handle either way. Files still named
//! `.deleted` at start are removed by the partition's recovery.
//!
//! A log the cleaner is working on is skipped and looked at again in the next pass.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::{BackgroundControl, PartitionLog, now_ms};

/// Files waiting for their `file.delete.delay.ms` to pass.
#[derive(Default)]
pub(crate) struct DeletionQueue {
    pending: Mutex<Vec<(i64, PathBuf)>>,
}

impl DeletionQueue {
    pub(crate) fn schedule(&self, due_ms: i64, paths: Vec<PathBuf>) {
        self.pending.lock().extend(paths.into_iter().map(|p| (due_ms, p)));
    }

    /// When the next file is due, if any is waiting.
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.pending.lock().iter().map(|(due, _)| *due).min()
    }

    /// Unlinks every file due by `now`; returns how many went.
    pub(crate) fn remove_due(&self, now: i64) -> usize {
        let due: Vec<PathBuf> = {
            let mut pending = self.pending.lock();
            let (due, waiting): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(at, _)| *at <= now);
            *pending = waiting;
            due.into_iter().map(|(_, p)| p).collect()
        };
        for path in &due {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!(file = %path.display(), error = %e, "could not delete a removed segment file");
                }
                _ => tracing::debug!(file = %path.display(), "deleted removed segment file"),
            }
        }
        due.len()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.lock().len()
    }
}

/// Removes the segments of `log` that DeleteRecords (and, with `retention`, the retention
/// settings) no longer keep, queueing their files for deletion. Returns whether the log start
/// offset moved. A log busy with the cleaner is left alone.
pub(crate) fn clean_up_log(log: &PartitionLog, now: i64, retention: bool, queue: &DeletionQueue) -> bool {
    if log.is_closed() {
        return false;
    }
    let Some(_maintenance) = log.try_maintenance() else {
        return false;
    };
    let before = log.log_start_offset();
    match log.delete_old_segments(now, retention) {
        Ok(paths) if !paths.is_empty() => {
            let delay = log.config().file_delete_delay_ms;
            queue.schedule(now.saturating_add(delay), paths);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(topic = log.topic(), partition = log.partition(), error = %e, "retention failed");
        }
    }
    log.log_start_offset() != before
}

/// One retention pass over `logs`; returns whether any log start offset moved.
pub(crate) fn retention_pass(logs: &[Arc<PartitionLog>], now: i64, queue: &DeletionQueue) -> bool {
    let mut moved = false;
    for log in logs {
        moved |= clean_up_log(log, now, true, queue);
    }
    moved
}

/// Starts the retention thread. `logs` lists the logs to look at; `start_moved` runs after a
/// pass that moved a log start offset (to checkpoint it).
pub(crate) fn spawn(
    control: Arc<BackgroundControl>,
    queue: Arc<DeletionQueue>,
    logs: impl Fn() -> Vec<Arc<PartitionLog>> + Send + 'static,
    start_moved: impl Fn() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("log-retention".into()).spawn(move || {
        let Some(config) = control.config() else { return };
        let mut interval = config.retention_check_interval_ms.max(1) as i64;
        let mut last_check = now_ms();
        loop {
            let now = now_ms();
            if now.saturating_sub(last_check) >= interval {
                last_check = now;
                if retention_pass(&logs(), now, &queue) {
                    start_moved();
                }
            }
            queue.remove_due(now_ms());
            let now = now_ms();
            let wake_at = queue.next_due().map_or(last_check.saturating_add(interval), |due| {
                due.min(last_check.saturating_add(interval))
            });
            let timeout = Duration::from_millis(wake_at.saturating_sub(now).clamp(1, 60_000) as u64);
            match control.wait(timeout) {
                None => return,
                Some(config) => interval = config.retention_check_interval_ms.max(1) as i64,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogConfig;
    use crate::log::test_util::{batch, sized_batch};
    use std::fs;

    fn config() -> LogConfig {
        LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 256,
            segment_index_bytes: 1024,
            file_delete_delay_ms: 0,
            ..LogConfig::default()
        }
    }

    fn open(dir: &std::path::Path, config: LogConfig) -> Arc<PartitionLog> {
        Arc::new(PartitionLog::open(&dir.join("t-0"), "t", 0, config, 0, false).unwrap())
    }

    fn files(log: &PartitionLog) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(log.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn retention_by_size_keeps_the_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                retention_bytes: 3000,
                ..config()
            },
        );
        let now = now_ms();
        for _ in 0..20 {
            log.append(&mut sized_batch(2, now, 500), now, false).unwrap();
        }
        let before = log.segment_count();
        assert!(before > 4);
        let queue = DeletionQueue::default();
        assert!(retention_pass(std::slice::from_ref(&log), now, &queue));
        assert!(
            log.size_bytes() >= 3000 - 2048 && log.size_bytes() <= 3000 + 2048,
            "{}",
            log.size_bytes()
        );
        assert!(log.segment_count() < before);
        assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
        // Removed segments wait as .deleted until their delay passes (0 here).
        assert!(files(&log).iter().any(|f| f.ends_with(".deleted")));
        assert!(queue.len() > 0);
        queue.remove_due(now);
        assert!(!files(&log).iter().any(|f| f.ends_with(".deleted")));
        let (snapshots, segment_files): (Vec<_>, Vec<_>) =
            files(&log).into_iter().partition(|f| f.ends_with(".snapshot"));
        assert_eq!(segment_files.len(), 3 * log.segment_count());
        // Producer state snapshots below the first segment go with the segments.
        let first = format!("{:020}.snapshot", log.segment_base_offsets()[0]);
        assert!(snapshots.iter().all(|f| f.as_str() >= first.as_str()), "{snapshots:?}");

        // A tiny limit still never takes the active segment.
        log.update_config(LogConfig {
            retention_bytes: 0,
            ..config()
        });
        retention_pass(std::slice::from_ref(&log), now, &queue);
        assert_eq!(log.segment_count(), 1);
        assert!(log.size_bytes() > 0);
        let end = log.log_end_offset();
        assert_eq!(log.append(&mut batch(1, now), now, false).unwrap().base_offset, end);
    }

    #[test]
    fn retention_by_time_rolls_when_everything_expired() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                retention_ms: 60_000,
                file_delete_delay_ms: 1_000,
                ..config()
            },
        );
        let now = now_ms();
        // Old records, then newer ones.
        for i in 0..10 {
            log.append(&mut sized_batch(2, now - 600_000 + i, 500), now, false)
                .unwrap();
        }
        let old_end = log.log_end_offset();
        for _ in 0..6 {
            log.append(&mut sized_batch(2, now, 500), now, false).unwrap();
        }
        // A fetch holding the old segments keeps reading them after they are removed.
        let slice_before = log.read(0, 100, true).unwrap();
        let queue = DeletionQueue::default();
        retention_pass(std::slice::from_ref(&log), now, &queue);
        let start = log.log_start_offset();
        assert!(start > 0 && start <= old_end, "start {start}, old end {old_end}");
        assert!(matches!(
            log.read(0, 100, true),
            Err(crate::log::LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(queue.remove_due(now), 0, "not due before file.delete.delay.ms");
        assert!(queue.remove_due(now + 1_000) > 0);
        assert!(!slice_before.records.is_empty());

        // Everything expires: the active segment is rolled and removed as well.
        let end = log.log_end_offset();
        retention_pass(std::slice::from_ref(&log), now + 3_600_000, &queue);
        assert_eq!(log.segment_count(), 1);
        assert_eq!(log.log_start_offset(), end);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(log.segment_base_offsets(), vec![end]);
        assert_eq!(log.size_bytes(), 0);
        // Nothing more to do for an empty active segment.
        assert!(!retention_pass(std::slice::from_ref(&log), now + 7_200_000, &queue));
        assert_eq!(log.append(&mut batch(1, now), now, false).unwrap().base_offset, end);
    }

    #[test]
    fn delete_records_then_segments_below_start_go() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(
            dir.path(),
            LogConfig {
                retention_ms: -1,
                ..config()
            },
        );
        let now = now_ms();
        for _ in 0..20 {
            log.append(&mut sized_batch(2, now, 500), now, false).unwrap();
        }
        log.flush().unwrap();
        let bases = log.segment_base_offsets();
        let end = log.log_end_offset();
        assert!(matches!(
            log.advance_log_start_offset(end + 1),
            Err(crate::log::LogError::OffsetOutOfRange { .. })
        ));
        let target = bases[2] + 1;
        assert_eq!(log.advance_log_start_offset(target).unwrap(), target);
        assert_eq!(log.advance_log_start_offset(1).unwrap(), target, "never moves back");
        let queue = DeletionQueue::default();
        // Without retention only the log start matters.
        assert!(
            !clean_up_log(&log, now, false, &queue),
            "the start offset stays where DeleteRecords put it"
        );
        assert_eq!(log.segment_base_offsets()[0], bases[2]);
        assert_eq!(log.log_start_offset(), target);
        assert!(log.read(target - 1, 100, true).is_err());
        assert!(log.read(target, 100, true).is_ok());
        // The whole log: the active segment stays (empty logs restart by retention only).
        log.advance_log_start_offset(end).unwrap();
        clean_up_log(&log, now, false, &queue);
        assert_eq!(log.segment_count(), 1);
        assert_eq!(log.log_start_offset(), end);
        assert_eq!(log.read(end, 100, true).unwrap().records.len(), 0);
    }
}
