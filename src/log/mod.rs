//! The storage engine: partitions as append-only segment logs on disk, laid out like Kafka's
//! so the same vocabulary (and the same operational intuitions) apply.
//!
//! ```text
//! <data-dir>/
//!   .kafka_cleanshutdown                 present only while the broker is stopped cleanly
//!   recovery-point-offset-checkpoint     per partition: offsets below it are known to be fsynced
//!   log-start-offset-checkpoint          per partition: log start offsets above the first segment
//!   cleaner-offset-checkpoint            per compacted partition: where the dirty section starts
//!   <topic>-<partition>/
//!     00000000000000000000.log           record batches, byte-for-byte as produced (offsets patched)
//!     00000000000000000000.index         OffsetIndex: sparse offset -> file position
//!     00000000000000000000.timeindex     TimeIndex: sparse max timestamp -> offset
//!     00000000000000000000.snapshot      producer state as of that offset (ProducerStateManager)
//! ```
//!
//! [`LogManager`] owns every [`PartitionLog`]; a partition log is a list of [`LogSegment`]s of
//! which only the last (the active segment) is written. Durability is decided here and nowhere
//! else: appends reach the page cache, the [`flusher`] thread fsyncs (group commit for
//! `acks=all`, `flush.messages`/`flush.ms` otherwise), and on an unclean start everything after
//! the recovery point is CRC-checked and cut at the first damaged batch. Two more threads keep
//! logs in shape: [`retention`] deletes old segments, and the [`cleaner`] compacts logs with
//! `cleanup.policy=compact`.
//!
//! Nothing in this module knows about sockets or protocol messages.

pub mod checkpoint;
pub mod cleaner;
pub mod dir_lock;
pub mod file_records;
pub mod flusher;
mod index_file;
pub mod log_manager;
pub mod offset_index;
pub mod partition_log;
pub mod partition_metadata;
pub mod producer_state;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod time_index;
pub mod transaction_index;
#[cfg(test)]
mod txn_log_tests;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::RecordError;

pub use checkpoint::{OffsetCheckpoint, RecoveryPointCheckpoint};
pub use dir_lock::DirLock;
pub use file_records::FileRecords;
pub use flusher::Flusher;
pub use log_manager::LogManager;
pub use offset_index::OffsetIndex;
pub use partition_log::PartitionLog;
pub use segment::LogSegment;
pub use time_index::TimeIndex;

/// Per-topic storage settings, named and defaulted as Kafka's topic configs.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would grow past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the active segment spans more than this much time.
    pub segment_ms: i64,
    /// `segment.index.bytes`: preallocated size of each index of the active segment.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: bytes appended between two sparse index entries.
    pub index_interval_bytes: u32,
    /// `flush.messages`: fsync after this many messages (`i64::MAX`: never by count).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this (`i64::MAX`: never by time).
    pub flush_ms: i64,
    /// `retention.ms`: inactive segments whose newest record is older than this are deleted
    /// (-1: kept forever). Only with `delete` in `cleanup.policy`.
    pub retention_ms: i64,
    /// `retention.bytes`: oldest segments are deleted while the log is larger (-1: no limit).
    pub retention_bytes: i64,
    /// `cleanup.policy` contains `delete`.
    pub delete: bool,
    /// `cleanup.policy` contains `compact`.
    pub compact: bool,
    /// `delete.retention.ms`: how long a tombstone survives after the cleaner first saw it.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: records older than this are compacted whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `file.delete.delay.ms`: how long a deleted segment's files stay (as `.deleted`).
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            segment_index_bytes: 10_485_760,
            index_interval_bytes: 4096,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            delete: true,
            compact: false,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
        }
    }
}

/// Broker-wide settings of the background threads; changed live by dynamic broker configs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundConfig {
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.cleaner.enable` and `log.cleaner.threads` > 0.
    pub cleaner_enabled: bool,
    /// `log.cleaner.backoff.ms`: the cleaner's sleep when no log needs cleaning.
    pub cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: bytes for the cleaner's key map.
    pub cleaner_dedupe_buffer_size: u64,
}

/// What the background threads (retention, the cleaner) share with the log manager: their
/// settings and a stop flag behind one lock, and a condition variable that wakes them when
/// either changes.
pub(crate) struct BackgroundControl {
    state: parking_lot::Mutex<(BackgroundConfig, bool)>,
    wake: parking_lot::Condvar,
}

impl BackgroundControl {
    pub(crate) fn new(config: BackgroundConfig) -> BackgroundControl {
        BackgroundControl {
            state: parking_lot::Mutex::new((config, false)),
            wake: parking_lot::Condvar::new(),
        }
    }

    /// The current settings; `None` once stopped.
    pub(crate) fn config(&self) -> Option<BackgroundConfig> {
        let state = self.state.lock();
        (!state.1).then(|| state.0.clone())
    }

    /// Sleeps up to `timeout` or until the settings change or a stop; returns the settings,
    /// `None` once stopped.
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> Option<BackgroundConfig> {
        let mut state = self.state.lock();
        if !state.1 {
            self.wake.wait_for(&mut state, timeout);
        }
        (!state.1).then(|| state.0.clone())
    }

    pub(crate) fn set(&self, config: BackgroundConfig) {
        self.state.lock().0 = config;
        self.wake.notify_all();
    }

    pub(crate) fn stop(&self) {
        self.state.lock().1 = true;
        self.wake.notify_all();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.state.lock().1
    }
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            retention_check_interval_ms: 300_000,
            cleaner_enabled: true,
            cleaner_backoff_ms: 15_000,
            cleaner_dedupe_buffer_size: 128 << 20,
        }
    }
}

#[derive(Debug)]
pub enum LogError {
    /// The requested offset is not in the log (OFFSET_OUT_OF_RANGE).
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// The batches handed to `append` (or read back from disk) are malformed.
    Record(RecordError),
    Io(std::io::Error),
    /// The log (or the whole manager) has been closed; it accepts no more writes.
    Closed,
    /// An idempotent producer's batch broke the sequence or epoch rules.
    Producer(producer_state::ProducerStateError),
    /// A write or fsync failed in a way that may have lost data; the log refuses writes until
    /// the broker restarts (KAFKA_STORAGE_ERROR).
    Failed(String),
    /// Fsynced data failed its checks at start; it is left in place and the start stops.
    Damaged(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::OffsetOutOfRange {
                requested,
                log_start,
                log_end,
            } => write!(
                f,
                "offset {requested} is out of range: the log holds offsets {log_start}..{log_end}"
            ),
            LogError::Record(e) => write!(f, "{e}"),
            LogError::Io(e) => write!(f, "log I/O error: {e}"),
            LogError::Closed => f.write_str("log is closed"),
            LogError::Producer(e) => write!(f, "{e}"),
            LogError::Failed(why) => write!(f, "log failed: {why}"),
            LogError::Damaged(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Record(e) => Some(e),
            LogError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for LogError {
    fn from(e: std::io::Error) -> Self {
        LogError::Io(e)
    }
}

impl From<RecordError> for LogError {
    fn from(e: RecordError) -> Self {
        LogError::Record(e)
    }
}

/// What an append did: the offsets it assigned and the state of the log after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker timestamp stamped on the batches, or -1 when the topic uses CreateTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch repeated one already in the log (an idempotent producer's retry): nothing was
    /// written and the offsets are the original batch's.
    pub duplicate: bool,
    /// `flush.messages`/`flush.ms` say this log should be fsynced now (see
    /// [`LogManager::maybe_schedule_flush`]).
    pub flush_due: bool,
}

/// The answer to a fetch of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSlice {
    /// Whole batches as stored, possibly empty.
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// A client's fetch of one partition: where its batches are, not yet read.
#[derive(Clone, Debug)]
pub struct FetchedRecords {
    /// Whole batches as stored; None when there is nothing to return.
    pub records: Option<file_records::FileRecords>,
    /// The offset after the last returned batch.
    pub next_offset: Option<i64>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

impl FetchedRecords {
    /// Bytes of the returned batches.
    pub fn len(&self) -> usize {
        self.records.as_ref().map_or(0, file_records::FileRecords::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Wall-clock milliseconds, the unit of every Kafka timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn fsync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents so that they survive a power loss: each new
/// directory's entry is fsynced in its parent (files fsynced inside a directory whose own
/// entry was never fsynced are lost with it).
pub fn create_dir_durably(dir: &std::path::Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for d in missing.iter().rev() {
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        fsync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::record::{Compression, RecordBatchBuilder};

    /// A batch of `n` records with the given timestamps' base, values "v<i>".
    pub fn batch(n: usize, ts: i64) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Compression::None);
        for i in 0..n {
            b.append(
                ts + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(format!("v{i}").as_bytes()),
                &[],
            );
        }
        b.build()
    }

    /// A batch of `n` records whose values are padded to make the batch roughly `size` bytes.
    pub fn sized_batch(n: usize, ts: i64, size: usize) -> Vec<u8> {
        let per = size.saturating_sub(61) / n.max(1);
        let value = vec![b'x'; per.saturating_sub(12)];
        let mut b = RecordBatchBuilder::new(Compression::None);
        for i in 0..n {
            b.append(ts + i as i64, None, Some(&value), &[]);
        }
        b.build()
    }
}
