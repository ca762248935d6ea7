//! Kafka's `LogCleaner`: compaction of logs with `compact` in `cleanup.policy`, keeping the
//! last record of each key.
//!
//! **Choosing a log.** Each log has a first dirty offset, kept in `cleaner-offset-checkpoint`:
//! records below it have been cleaned. The cleanable section ends at the active segment, or
//! earlier at the first segment holding records younger than `min.compaction.lag.ms`. A log is
//! cleaned when its dirty ratio (dirty bytes over all inactive bytes) reaches
//! `min.cleanable.dirty.ratio`, or when its oldest dirty record is older than
//! `max.compaction.lag.ms`; the filthiest goes first. With nothing filthy, a log whose
//! tombstones have outlived `delete.retention.ms` is cleaned to drop them.
//!
//! **Cleaning.** An offset map (key hash → latest offset) is built over the dirty section.
//! Its size is bounded by `log.cleaner.dedupe.buffer.size` at Kafka's 24 bytes per entry; when
//! the dirty section holds more keys, a prefix of it is cleaned this pass and the rest in the
//! next. Then every inactive segment from the start of the log up to the end of the mapped
//! section is rewritten, keeping a record unless the map holds a later offset for its key.
//! Offsets are kept (gaps are normal), batches keep their codec, timestamps, producer fields
//! and offset span; a batch that lost no record is copied byte for byte. Records without a key
//! are dropped, as Kafka does. Small results are grouped into segments of up to
//! `segment.bytes`. The active segment is never touched.
//!
//! **Tombstones** (null values) are kept until `delete.retention.ms` after the pass that first
//! cleaned them: that pass stores the horizon in their batch (KIP-534's delete-horizon
//! attribute, in the base timestamp), and a later pass drops them.
//!
//! **Crash safety** is Kafka's protocol. A cleaned segment is written as `<base>.*.cleaned`
//! and fsynced; renaming its log file to `.swap` (then its indexes) and fsyncing the directory
//! is the commit point. The replaced segments' files are then renamed `.deleted` and the swap
//! files take their final names. On open, `.cleaned` files are discarded (the old segments are
//! intact) and a `.swap` log replaces the segments within its offsets; so an interrupted clean
//! leaves either the old or the new segments of each group, never a mix. Readers keep the
//! segment list they started with, so a fetch during a swap reads the old files.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::checkpoint::OffsetCheckpoint;
use super::retention::DeletionQueue;
use super::segment::{
    BatchMeta, CLEANED_FILE_SUFFIX, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, LogSegment, SWAP_FILE_SUFFIX,
    TIME_INDEX_FILE_SUFFIX, segment_file_name, with_suffix,
};
use super::transaction_index::AbortedTxns;
use super::{BackgroundConfig, BackgroundControl, LogConfig, LogError, PartitionLog, fsync_dir, now_ms};
use crate::record::{BatchHeader, RecordBatchBuilder, RecordStream, RecordView, StreamingBatchBuilder};

/// Bytes Kafka's `SkimpyOffsetMap` spends per key (a 16-byte hash and an 8-byte offset).
const BYTES_PER_MAP_ENTRY: u64 = 24;
/// Kafka's `log.cleaner.io.buffer.load.factor`.
const MAP_LOAD_FACTOR: f64 = 0.9;
/// Read buffer for walking segments.
const READ_BUFFER: usize = 1 << 20;

type LogKey = (String, i32);

// A simulated crash for the crash-safety tests: fails the clean at a named step.
#[cfg(test)]
thread_local! {
    static CRASH_AT: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

#[cfg(test)]
pub(crate) fn crash_point(step: &'static str) -> Result<(), LogError> {
    if CRASH_AT.with(|c| c.get()) == Some(step) {
        return Err(LogError::Io(io::Error::other(format!("simulated crash at {step}"))));
    }
    Ok(())
}

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn crash_point(_step: &'static str) -> Result<(), LogError> {
    Ok(())
}

/// Why a clean stopped early.
#[derive(Debug)]
enum Stop {
    /// The broker is shutting down.
    ShuttingDown,
    Failed(LogError),
}

impl From<LogError> for Stop {
    fn from(e: LogError) -> Self {
        Stop::Failed(e)
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Failed(LogError::Io(e))
    }
}

/// 128 bits of a key: collisions are negligible, the memory per key is fixed.
fn key_hash(key: &[u8]) -> u128 {
    let half = |seed: u8| {
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(0x7269_7675_6c65_7401, u64::from(seed));
        h.write(key);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// How dirty one compacted log is.
#[derive(Clone, Debug)]
pub(crate) struct CleanableLog {
    pub first_dirty: i64,
    /// Offset from which nothing may be cleaned (the active segment, or younger than
    /// `min.compaction.lag.ms`).
    pub first_uncleanable: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// `max.compaction.lag.ms` has passed for the oldest dirty record.
    pub overdue: bool,
}

impl CleanableLog {
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

/// What one pass did, for logging and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CleanStats {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    /// The new first dirty offset.
    pub end_offset: i64,
}

/// A cleaned segment being written.
struct Output {
    base: i64,
    segment: LogSegment,
    /// The old segments it replaces.
    members: Vec<Arc<LogSegment>>,
}

/// The cleaner's state: first dirty offsets (checkpointed), pending tombstone horizons, and
/// logs that failed to clean (skipped until restart).
pub struct LogCleaner {
    checkpoint: OffsetCheckpoint,
    first_dirty: Mutex<HashMap<LogKey, i64>>,
    horizons: Mutex<HashMap<LogKey, i64>>,
    uncleanable: Mutex<HashSet<LogKey>>,
}

impl LogCleaner {
    /// Reads `cleaner-offset-checkpoint` in `data_dir`.
    pub fn open(data_dir: &Path) -> LogCleaner {
        let checkpoint = OffsetCheckpoint::cleaner_in_dir(data_dir);
        let first_dirty = checkpoint.read().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable cleaner checkpoint; compacted logs are cleaned from their start");
            HashMap::new()
        });
        LogCleaner {
            checkpoint,
            first_dirty: Mutex::new(first_dirty),
            horizons: Mutex::new(HashMap::new()),
            uncleanable: Mutex::new(HashSet::new()),
        }
    }

    fn key(log: &PartitionLog) -> LogKey {
        (log.topic().to_string(), log.partition())
    }

    /// The dirty section of `log` now.
    pub(crate) fn cleanable(&self, log: &PartitionLog, now: i64) -> CleanableLog {
        let config = log.config();
        let segments = log.segments_snapshot();
        let active_base = segments.last().map_or(0, |s| s.base_offset());
        let first_base = segments.first().map_or(0, |s| s.base_offset());
        let checkpoint = self.first_dirty.lock().get(&Self::key(log)).copied();
        let first_dirty = checkpoint
            .unwrap_or(first_base)
            .max(log.log_start_offset())
            .max(first_base)
            .min(active_base);
        let inactive = &segments[..segments.len().saturating_sub(1)];
        let dirty_from = inactive
            .partition_point(|s| s.base_offset() <= first_dirty)
            .saturating_sub(1);
        // An open transaction's records may still be aborted: nothing from its first offset on
        // is cleaned (Kafka's first unstable offset bound).
        let mut first_uncleanable = log
            .first_unstable_offset()
            .map_or(active_base, |o| o.max(first_dirty).min(active_base));
        if config.min_compaction_lag_ms > 0
            && let Some(young) = inactive[dirty_from..]
                .iter()
                .find(|s| s.largest_timestamp() > now.saturating_sub(config.min_compaction_lag_ms))
        {
            first_uncleanable = young.base_offset().max(first_dirty);
        }
        let dirty_to = inactive.partition_point(|s| s.base_offset() < first_uncleanable);
        let dirty = if first_dirty < first_uncleanable {
            &inactive[dirty_from..dirty_to.max(dirty_from)]
        } else {
            &[]
        };
        let clean_bytes = inactive[..dirty_from].iter().map(|s| s.size()).sum();
        let dirty_bytes = dirty.iter().map(|s| s.size()).sum();
        let overdue = config.max_compaction_lag_ms < i64::MAX
            && dirty.first().is_some_and(|s| {
                let first = s
                    .first_batch_timestamp()
                    .filter(|t| *t >= 0)
                    .unwrap_or_else(|| s.largest_timestamp());
                now.saturating_sub(first) > config.max_compaction_lag_ms
            });
        CleanableLog {
            first_dirty,
            first_uncleanable,
            clean_bytes,
            dirty_bytes,
            overdue,
        }
    }

    /// Cleans the filthiest log of `logs` that needs it; returns whether one was cleaned.
    pub(crate) fn clean_filthiest(
        &self,
        logs: &[Arc<PartitionLog>],
        now: i64,
        settings: &BackgroundConfig,
        control: &BackgroundControl,
        deletions: &DeletionQueue,
    ) -> bool {
        let compacted: Vec<&Arc<PartitionLog>> = {
            let uncleanable = self.uncleanable.lock();
            logs.iter()
                .filter(|l| !l.is_closed() && l.config().compact && !uncleanable.contains(&Self::key(l)))
                .collect()
        };
        let filthiest = compacted
            .iter()
            .map(|l| (*l, self.cleanable(l, now)))
            .filter(|(l, c)| {
                c.dirty_bytes > 0 && (c.overdue || c.dirty_ratio() >= l.config().min_cleanable_dirty_ratio)
            })
            .max_by(|a, b| a.1.dirty_ratio().total_cmp(&b.1.dirty_ratio()))
            .map(|(l, _)| l);
        // Nothing filthy: drop tombstones whose delete horizon has passed.
        let chosen = filthiest.or_else(|| {
            let horizons = self.horizons.lock();
            compacted
                .iter()
                .copied()
                .find(|l| horizons.get(&Self::key(l)).is_some_and(|h| *h <= now))
        });
        let Some(log) = chosen else { return false };
        match self.clean(log, now, settings.cleaner_dedupe_buffer_size, control, deletions) {
            Ok(stats) => {
                tracing::info!(
                    topic = log.topic(),
                    partition = log.partition(),
                    segments_before = stats.segments_before,
                    segments_after = stats.segments_after,
                    bytes_before = stats.bytes_before,
                    bytes_after = stats.bytes_after,
                    records_removed = stats.records_removed,
                    first_dirty_offset = stats.end_offset,
                    "cleaned log"
                );
                true
            }
            Err(Stop::ShuttingDown) => false,
            Err(Stop::Failed(LogError::Closed)) => false,
            Err(Stop::Failed(e)) => {
                tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "cleaning failed; the log is skipped until restart");
                self.uncleanable.lock().insert(Self::key(log));
                true
            }
        }
    }

    /// Cleans `log` once: maps its dirty section (as far as the map allows) and rewrites its
    /// inactive segments up to the end of what was mapped.
    fn clean(
        &self,
        log: &PartitionLog,
        now: i64,
        dedupe_buffer_size: u64,
        control: &BackgroundControl,
        deletions: &DeletionQueue,
    ) -> Result<CleanStats, Stop> {
        let _maintenance = log.maintenance();
        let config = log.config();
        let section = self.cleanable(log, now);
        let segments = log.segments_snapshot();
        let inactive = &segments[..segments.len().saturating_sub(1)];

        // 1. The offset map over the dirty section.
        let capacity = ((dedupe_buffer_size / BYTES_PER_MAP_ENTRY) as f64 * MAP_LOAD_FACTOR).max(1.0) as usize;
        let mut map: HashMap<u128, i64> = HashMap::new();
        // Aborted transactions' records are removed, and never shadow a committed value.
        let aborted_txns = AbortedTxns::from_entries(log.aborted_snapshot());
        let is_aborted = |h: &BatchHeader| {
            h.is_transactional() && !h.is_control() && aborted_txns.is_aborted(h.producer_id, h.base_offset)
        };
        let mut end = section.first_dirty;
        let dirty_from = inactive
            .partition_point(|s| s.base_offset() <= section.first_dirty)
            .saturating_sub(1);
        let mut full = false;
        for segment in inactive[dirty_from..]
            .iter()
            .take_while(|s| s.base_offset() < section.first_uncleanable)
        {
            segment
                .for_each_batch(READ_BUFFER, |_, header, bytes| {
                    if control.is_stopped() {
                        return Err(LogError::Closed);
                    }
                    if header.last_offset() < section.first_dirty {
                        return Ok(true);
                    }
                    if header.base_offset >= section.first_uncleanable {
                        return Ok(false);
                    }
                    if !header.is_control() && !is_aborted(header) {
                        let count = usize::try_from(header.records_count).unwrap_or(0);
                        if !map.is_empty() && map.len() + count > capacity {
                            full = true;
                            return Ok(false);
                        }
                        let mut stream = RecordStream::new(bytes, usize::MAX)?;
                        while let Some(r) = stream.next_record()? {
                            if let (Some(key), true) = (r.key, r.offset >= section.first_dirty) {
                                map.insert(key_hash(key), r.offset);
                            }
                        }
                    }
                    end = header.last_offset().saturating_add(1);
                    Ok(true)
                })
                .map_err(|e| {
                    if control.is_stopped() {
                        Stop::ShuttingDown
                    } else {
                        Stop::Failed(e)
                    }
                })?;
            if full {
                break;
            }
        }

        // 2. Rewrite every inactive segment that holds offsets below `end`.
        let victims: Vec<Arc<LogSegment>> = inactive
            .iter()
            .take_while(|s| s.base_offset() < end.max(section.first_dirty))
            .cloned()
            .collect();
        let horizon = now.saturating_add(config.delete_retention_ms);
        let last_batches: HashMap<i64, i64> = log
            .active_producers()
            .into_iter()
            .filter_map(|(id, entry)| Some((id, entry.batches.back()?.last_offset)))
            .collect();
        let mut stats = CleanStats {
            segments_before: victims.len(),
            bytes_before: victims.iter().map(|s| s.size()).sum(),
            end_offset: end,
            ..CleanStats::default()
        };
        let mut next_horizon: Option<i64> = None;
        // Per producer: whether a batch of its current transaction was kept, which decides
        // whether the transaction's marker must stay (Kafka's `CleanedTransactionMetadata`).
        let mut txn_retained: HashMap<i64, bool> = HashMap::new();
        let mut output: Option<Output> = None;
        let mut pending: Vec<Arc<LogSegment>> = Vec::new();
        let result = (|| -> Result<(), Stop> {
            for (i, old) in victims.iter().enumerate() {
                if let Some(out) = &output {
                    let too_big = out.segment.size().saturating_add(old.size()) > config.segment_bytes;
                    // The next segment's base bounds this one's offsets.
                    let next = segments.get(i + 1).map_or(i64::MAX, |s| s.base_offset());
                    let too_wide = next.saturating_sub(out.base) > i64::from(i32::MAX);
                    if (too_big || too_wide)
                        && let Some(out) = output.take()
                    {
                        self.commit(log, out, now, &config, deletions, &mut stats)?;
                    }
                }
                let mut contributed = false;
                old.for_each_batch(READ_BUFFER, |_, header, bytes| {
                    if control.is_stopped() {
                        return Err(LogError::Closed);
                    }
                    let kept = if header.is_control() && header.base_offset < end {
                        filter_marker(header, bytes, &mut txn_retained, now, horizon, &mut stats)?
                    } else {
                        let kept = filter_batch(
                            header,
                            bytes,
                            is_aborted(header),
                            &map,
                            &last_batches,
                            end,
                            now,
                            horizon,
                            &mut stats,
                        )?;
                        if header.is_transactional() && !header.is_control() {
                            // A batch kept empty (a producer's last, for its sequence state)
                            // holds nothing a reader needs the outcome of.
                            let has_records = match &kept {
                                None => false,
                                Some(Kept::Verbatim) => header.records_count > 0,
                                Some(Kept::Rebuilt(b)) => BatchHeader::parse(b).is_ok_and(|h| h.records_count > 0),
                            };
                            *txn_retained.entry(header.producer_id).or_insert(false) |= has_records;
                        }
                        kept
                    };
                    let Some(batch) = kept else { return Ok(true) };
                    let (bytes, header) = match &batch {
                        Kept::Verbatim => (bytes, *header),
                        Kept::Rebuilt(b) => (b.as_slice(), BatchHeader::parse(b)?),
                    };
                    if let Some(h) = header.delete_horizon_ms() {
                        next_horizon = Some(next_horizon.map_or(h, |n| n.min(h)));
                    }
                    if output.is_none() {
                        let base = pending.first().map_or(old.base_offset(), |s| s.base_offset());
                        let segment =
                            LogSegment::create_with_suffix(log.dir(), base, &config, now, CLEANED_FILE_SUFFIX)?;
                        output = Some(Output {
                            base,
                            segment,
                            members: Vec::new(),
                        });
                    }
                    if let Some(out) = &output {
                        let meta = BatchMeta {
                            position: 0,
                            size: bytes.len() as u64,
                            last_offset: header.last_offset(),
                            max_timestamp: header.max_timestamp,
                        };
                        out.segment.append(bytes, &[meta], config.index_interval_bytes)?;
                    }
                    contributed = true;
                    Ok(true)
                })
                .map_err(|e| {
                    if control.is_stopped() {
                        Stop::ShuttingDown
                    } else {
                        Stop::Failed(e)
                    }
                })?;
                match (&mut output, contributed) {
                    (Some(out), true) => {
                        out.members.append(&mut pending);
                        out.members.push(old.clone());
                    }
                    _ => pending.push(old.clone()),
                }
            }
            if let Some(out) = output.take() {
                self.commit(log, out, now, &config, deletions, &mut stats)?;
            }
            // Trailing segments left with no record at all leave the log.
            if !pending.is_empty() {
                let renamed = log.replace_segments(&pending, None, now)?;
                deletions.schedule(now.saturating_add(config.file_delete_delay_ms), renamed);
            }
            Ok(())
        })();
        if let Err(stop) = result {
            if let Some(out) = output.take() {
                discard(log.dir(), out);
            }
            return Err(stop);
        }

        // 3. Remember where the next pass starts and when tombstones may go.
        let key = Self::key(log);
        self.first_dirty
            .lock()
            .insert(key.clone(), end.max(section.first_dirty));
        match next_horizon {
            Some(h) => self.horizons.lock().insert(key, h),
            None => self.horizons.lock().remove(&key),
        };
        self.write_checkpoint(None)?;
        Ok(stats)
    }

    /// Seals and fsyncs a cleaned segment, passes the commit point (`.cleaned` → `.swap`,
    /// directory fsync) and swaps it into the log.
    fn commit(
        &self,
        log: &PartitionLog,
        out: Output,
        now: i64,
        config: &LogConfig,
        deletions: &DeletionQueue,
        stats: &mut CleanStats,
    ) -> Result<(), Stop> {
        let Output { base, segment, members } = out;
        segment.seal()?;
        segment.flush()?;
        stats.segments_after += 1;
        stats.bytes_after += segment.size();
        drop(segment);
        let dir = log.dir();
        crash_point("cleaned_written")?;
        // The log file first: an index `.swap` never exists without its log `.swap`.
        for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
            let path = dir.join(segment_file_name(base, suffix));
            std::fs::rename(
                with_suffix(&path, CLEANED_FILE_SUFFIX),
                with_suffix(&path, SWAP_FILE_SUFFIX),
            )?;
        }
        fsync_dir(dir)?;
        crash_point("swap_renamed")?;
        let renamed = log.replace_segments(&members, Some(base), now)?;
        deletions.schedule(now.saturating_add(config.file_delete_delay_ms), renamed);
        Ok(())
    }

    /// Writes `cleaner-offset-checkpoint`, forgetting logs that are gone (`live`, when given).
    fn write_checkpoint(&self, live: Option<&[Arc<PartitionLog>]>) -> Result<(), LogError> {
        let mut entries: Vec<(String, i32, i64)> = {
            let mut first_dirty = self.first_dirty.lock();
            if let Some(live) = live {
                let keep: HashSet<LogKey> = live.iter().map(|l| Self::key(l)).collect();
                first_dirty.retain(|k, _| keep.contains(k));
            }
            first_dirty.iter().map(|((t, p), o)| (t.clone(), *p, *o)).collect()
        };
        entries.sort();
        self.checkpoint.write(&entries)?;
        Ok(())
    }

    /// Forgets a log's state (its topic was deleted): a new topic of the same name starts clean.
    pub(crate) fn forget(&self, topic: &str) {
        self.first_dirty.lock().retain(|(t, _), _| t != topic);
        self.horizons.lock().retain(|(t, _), _| t != topic);
        self.uncleanable.lock().retain(|(t, _)| t != topic);
    }
}

/// What survives of one batch.
enum Kept {
    Verbatim,
    Rebuilt(Vec<u8>),
}

/// A transaction marker stays while any record of its transaction does (a reader must still
/// learn the outcome); once none does, it is stamped with a delete horizon and removed by a
/// clean after the horizon, as Kafka's cleaner does, so a consumer that read the
/// transaction's records before they went still sees its marker.
fn filter_marker(
    header: &BatchHeader,
    bytes: &[u8],
    txn_retained: &mut HashMap<i64, bool>,
    now: i64,
    horizon: i64,
    stats: &mut CleanStats,
) -> Result<Option<Kept>, LogError> {
    if txn_retained.remove(&header.producer_id).unwrap_or(false) {
        return Ok(Some(Kept::Verbatim));
    }
    match header.delete_horizon_ms() {
        Some(h) if now >= h => {
            stats.records_removed += u64::try_from(header.records_count).unwrap_or(0);
            Ok(None)
        }
        Some(_) => Ok(Some(Kept::Verbatim)),
        None => {
            let template = RecordBatchBuilder::like(header, header.compression()?).delete_horizon_ms(Some(horizon));
            let mut builder = StreamingBatchBuilder::from_template(template, usize::MAX)?;
            let mut stream = RecordStream::new(bytes, usize::MAX)?;
            while let Some(r) = stream.next_record()? {
                builder.append(r.offset_delta, &r)?;
            }
            Ok(Some(Kept::Rebuilt(builder.finish()?)))
        }
    }
}

/// Kafka's `shouldRetainRecord` over one batch: drops records superseded by a later offset of
/// the same key, keyless records, and tombstones past their delete horizon; sets the horizon
/// on batches that keep tombstones without one. Batches at or past `end` are kept as they are.
///
/// A batch that was its producer's last (`last_batches`: producer id → last offset of its last
/// batch) is kept even when all its records go, emptied, as Kafka's cleaner keeps it: the
/// producer's epoch and sequence must survive so its next batch is not taken as out of order.
#[allow(clippy::too_many_arguments)]
fn filter_batch(
    header: &BatchHeader,
    bytes: &[u8],
    aborted: bool,
    map: &HashMap<u128, i64>,
    last_batches: &HashMap<i64, i64>,
    end: i64,
    now: i64,
    horizon: i64,
    stats: &mut CleanStats,
) -> Result<Option<Kept>, LogError> {
    if header.is_control() || header.base_offset >= end {
        return Ok(Some(Kept::Verbatim));
    }
    // Stored batches were bounded when produced; records are read one at a time, twice
    // (decide, then rewrite) rather than held, so a batch of millions of records costs one.
    let tombstones_expired = header.delete_horizon_ms().is_some_and(|h| now >= h);
    let keep = |r: &RecordView<'_>| -> bool {
        if aborted {
            return false;
        }
        let Some(key) = r.key else { return false };
        if r.offset < end && map.get(&key_hash(key)).is_some_and(|&latest| latest > r.offset) {
            return false;
        }
        r.value.is_some() || !tombstones_expired
    };
    let (mut all, mut kept, mut has_tombstones) = (0u64, 0u64, false);
    let mut stream = RecordStream::new(bytes, usize::MAX)?;
    while let Some(r) = stream.next_record()? {
        all += 1;
        if keep(&r) {
            kept += 1;
            has_tombstones |= r.value.is_none();
        }
    }
    stats.records_removed += all - kept;
    let needs_horizon = has_tombstones && header.delete_horizon_ms().is_none();
    if kept == 0 {
        let producers_last =
            header.producer_id >= 0 && last_batches.get(&header.producer_id) == Some(&header.last_offset());
        return Ok(producers_last
            .then(|| crate::record::batch::empty_like(bytes))
            .flatten()
            .map(Kept::Rebuilt));
    }
    if kept == all && !needs_horizon {
        return Ok(Some(Kept::Verbatim));
    }
    let mut template = RecordBatchBuilder::like(header, header.compression()?);
    if needs_horizon {
        template = template.delete_horizon_ms(Some(horizon));
    } else if !has_tombstones {
        template = template.delete_horizon_ms(None);
    }
    let mut builder = StreamingBatchBuilder::from_template(template, usize::MAX)?;
    let mut stream = RecordStream::new(bytes, usize::MAX)?;
    while let Some(r) = stream.next_record()? {
        if keep(&r) {
            let delta = i32::try_from(r.offset - header.base_offset)
                .map_err(|_| crate::record::RecordError::InvalidRecord("record offset out of its batch".into()))?;
            builder.append(delta, &r)?;
        }
    }
    Ok(Some(Kept::Rebuilt(builder.finish()?)))
}

/// Removes the files of a cleaned segment that will not be used.
fn discard(dir: &Path, out: Output) {
    let base = out.base;
    drop(out);
    for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        let path = with_suffix(&dir.join(segment_file_name(base, suffix)), CLEANED_FILE_SUFFIX);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "could not remove an unused cleaned file");
        }
    }
}

/// Starts the cleaner thread: cleans the filthiest log, then the next, and sleeps
/// `log.cleaner.backoff.ms` when none needs it.
pub(crate) fn spawn(
    control: Arc<BackgroundControl>,
    cleaner: Arc<LogCleaner>,
    deletions: Arc<DeletionQueue>,
    logs: impl Fn() -> Vec<Arc<PartitionLog>> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("log-cleaner".into()).spawn(move || {
        let mut passes = 0u64;
        while let Some(settings) = control.config() {
            let cleaned =
                settings.cleaner_enabled && cleaner.clean_filthiest(&logs(), now_ms(), &settings, &control, &deletions);
            passes += 1;
            if passes.is_multiple_of(64) {
                let live = logs();
                if let Err(e) = cleaner.write_checkpoint(Some(&live)) {
                    tracing::warn!(error = %e, "could not write the cleaner checkpoint");
                }
            }
            if !cleaned
                && control
                    .wait(Duration::from_millis(settings.cleaner_backoff_ms.max(1)))
                    .is_none()
            {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests;
