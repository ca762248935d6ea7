//! One partition's log: Kafka's `UnifiedLog` minus replication.
//!
//! Offsets are assigned here and nowhere else. Appends are serialised by the writer lock, which
//! is held only while batches are patched and written to the page cache; fsyncs happen in
//! [`PartitionLog::flush`], called from the flusher thread, and never hold that lock. Readers take
//! a snapshot (log end offset, then segment list) and read with `pread` outside any lock, so a
//! fetch never waits for an append or an fsync.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard, RwLock};
use tokio::sync::watch;

use super::producer_state::{
    self, BatchMetadata, CompletedTxn, ProducerCheck, ProducerEntry, ProducerStateManager, load_latest_snapshot,
    remove_snapshots, write_snapshot,
};
use super::recovery::scan_batches;
use super::segment::{
    BatchMeta, CLEANED_FILE_SUFFIX, DELETED_FILE_SUFFIX, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, LoadMode, LogSegment,
    SWAP_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, parse_segment_file_name, segment_file_name,
};
use super::transaction_index::{AbortedTxn, AbortedTxns};
use super::{AppendInfo, FetchSlice, LogConfig, LogError, fsync_dir, now_ms};
use crate::metrics::{self, TopicMetrics};
use crate::record::batch::{
    BATCH_HEADER_SIZE, BatchHeader, RecordError, set_base_offset, set_log_append_time, set_partition_leader_epoch,
};
use crate::record::{ControlRecordType, RecordStream, build_marker, read_marker};

type SegmentList = Arc<Vec<Arc<LogSegment>>>;

pub struct PartitionLog {
    topic: String,
    partition: i32,
    dir: PathBuf,
    /// The topic's produce and fetch counters, looked up once here so that requests count
    /// without touching the registry's map.
    topic_metrics: Arc<TopicMetrics>,
    config: RwLock<LogConfig>,
    /// The single-writer lock. Guards appends, rolls, truncation and close; the vector is reused
    /// scratch space for the batches of one append.
    writer: Mutex<Vec<BatchMeta>>,
    /// Replaced wholesale (copy on write) so readers can keep a snapshot without a lock.
    segments: RwLock<SegmentList>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    recovery_point: AtomicI64,
    leader_epoch: AtomicI32,
    /// Serialises flushes with each other and with truncation.
    flush_lock: Mutex<()>,
    /// Held by whoever removes or replaces segments in the background (retention, the
    /// cleaner), so they never work on the same log at once. The segment list itself is only
    /// changed under the writer lock.
    maintenance: Mutex<()>,
    /// Segment files were created or removed since the directory was last fsynced.
    dir_dirty: AtomicBool,
    closed: AtomicBool,
    /// Set at the first write or fsync error that may have lost data (anything but a full
    /// disk): from then on the log refuses appends and its durable offset and recovery point
    /// never move, because Linux reports a failed writeback once and a retried fsync would
    /// claim data that is gone.
    failure: OnceLock<String>,
    last_flush_ms: AtomicI64,
    /// Largest batch max timestamp in the log and the last offset of the first batch that had it.
    max_timestamp: Mutex<(i64, i64)>,
    /// Idempotent producers' sequence state. Changed only under the writer lock (expiry aside);
    /// never locked while waiting for the writer lock.
    producers: Mutex<ProducerStateManager>,
    /// Aborted transactions and their `.txnindex` files. Changed under the writer lock.
    aborted: Mutex<AbortedTxns>,
    end_tx: watch::Sender<i64>,
    durable_tx: watch::Sender<i64>,
}

/// Lists the base offsets of the segments in `dir`, removing index files whose log is gone.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_segment_file_name(name) {
            Some((base, LOG_FILE_SUFFIX)) => bases.push(base),
            Some((base, INDEX_FILE_SUFFIX | TIME_INDEX_FILE_SUFFIX)) => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            tracing::info!(file = %path.display(), "removing index file without a log file");
            fs::remove_file(&path)?;
        }
    }
    Ok(bases)
}

/// Finishes or discards what a crash interrupted in `dir`: `.deleted` files (segments already
/// out of the log) and `.cleaned` files (a clean that never reached its commit point) are
/// removed; a `.swap` segment (a clean past its commit point) replaces the segments whose
/// offsets it covers and takes its final name. Returns whether anything changed.
fn finish_interrupted_work(dir: &Path) -> Result<bool, LogError> {
    let mut changed = false;
    let mut log_swaps = Vec::new();
    let mut index_swaps = Vec::new();
    let mut segment_bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(DELETED_FILE_SUFFIX) || name.ends_with(CLEANED_FILE_SUFFIX) {
            fs::remove_file(entry.path())?;
            changed = true;
        } else if let Some(stem) = name.strip_suffix(SWAP_FILE_SUFFIX) {
            match parse_segment_file_name(stem) {
                Some((base, LOG_FILE_SUFFIX)) => log_swaps.push(base),
                Some((_, INDEX_FILE_SUFFIX | TIME_INDEX_FILE_SUFFIX)) => index_swaps.push(stem.to_string()),
                _ => {}
            }
        } else if let Some((base, LOG_FILE_SUFFIX)) = parse_segment_file_name(name) {
            segment_bases.push(base);
        }
    }
    log_swaps.sort_unstable();
    for base in log_swaps {
        let final_path = dir.join(segment_file_name(base, LOG_FILE_SUFFIX));
        let swap_path = super::segment::with_suffix(&final_path, SWAP_FILE_SUFFIX);
        let file = fs::File::open(&swap_path)?;
        let len = file.metadata()?.len();
        let end = scan_batches(&file, 0, len, None, false, |_| {})?
            .next_offset
            .unwrap_or(base);
        for &old in segment_bases.iter().filter(|&&b| b >= base && b < end) {
            remove_segment_files(dir, old)?;
        }
        fs::rename(&swap_path, &final_path)?;
        tracing::info!(dir = %dir.display(), base, end, "completed an interrupted log cleaner swap");
        changed = true;
    }
    for stem in index_swaps {
        let final_path = dir.join(&stem);
        fs::rename(super::segment::with_suffix(&final_path, SWAP_FILE_SUFFIX), &final_path)?;
        changed = true;
    }
    if changed {
        fsync_dir(dir)?;
    }
    Ok(changed)
}

/// Largest max timestamp over the segments; the earliest segment wins a tie.
fn log_max_timestamp(segments: &[Arc<LogSegment>]) -> (i64, i64) {
    segments
        .iter()
        .map(|s| s.max_timestamp())
        .fold((-1, -1), |best, (ts, offset)| {
            if offset >= 0 && (best.1 < 0 || ts > best.0) {
                (ts, offset)
            } else {
                best
            }
        })
}

impl PartitionLog {
    /// The directory name of a partition: `<topic>-<partition>`.
    pub fn dir_name(topic: &str, partition: i32) -> String {
        format!("{topic}-{partition}")
    }

    /// Opens the partition stored in `dir` (the `<topic>-<partition>` directory itself),
    /// creating it if absent.
    ///
    /// With `recover` (the broker did not shut down cleanly) every segment from the one holding
    /// `recovery_point` on is CRC-checked and the log cut at the first torn, corrupt or
    /// out-of-sequence batch, later segments removed, indexes rebuilt and the survivors fsynced.
    /// Without it the files are trusted, but missing or damaged indexes are rebuilt and the tail
    /// of the active segment is still checked. Only the unflushed tail (from `recovery_point`
    /// on) is ever cut: damage below it stops the open with [`LogError::Damaged`], naming the
    /// file, since that data was fsynced and acknowledged.
    pub fn open(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        recovery_point: i64,
        recover: bool,
    ) -> Result<PartitionLog, LogError> {
        let now = now_ms();
        let mut dir_dirty = false;
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                fsync_dir(parent)?;
            }
            dir_dirty = true;
        }
        dir_dirty |= finish_interrupted_work(dir)?;
        let bases = list_segments(dir)?;
        let first_recovered = if recover {
            bases.iter().rposition(|&b| b <= recovery_point).unwrap_or(0)
        } else {
            usize::MAX
        };

        let mut segments: Vec<Arc<LogSegment>> = Vec::with_capacity(bases.len().max(1));
        let mut expected_next: Option<i64> = None;
        let mut discard = false;
        for (i, &base) in bases.iter().enumerate() {
            let is_last = i + 1 == bases.len();
            // Compaction leaves gaps between segments; only going back in offsets is damage.
            if !discard
                && let Some(next) = expected_next
                && base < next
            {
                if base < recovery_point {
                    return Err(LogError::Damaged(format!(
                        "{}: segment {base} overlaps the offsets before it (up to {next}), below the recovery \
                         point {recovery_point}: that data was fsynced, so nothing is removed. Copy the partition \
                         directory aside and remove the segment that should not be there to start",
                        dir.display()
                    )));
                }
                tracing::warn!(
                    topic,
                    partition,
                    segment = base,
                    expected = next,
                    "segment overlaps the offsets before it; removing it and every later segment"
                );
                discard = true;
            }
            if discard {
                remove_segment_files(dir, base)?;
                dir_dirty = true;
                continue;
            }
            let mode = if i >= first_recovered {
                LoadMode::Recover
            } else if is_last {
                LoadMode::TailCheck
            } else {
                LoadMode::Trust {
                    offset_limit: bases.get(i + 1).copied(),
                }
            };
            let (segment, cut) = LogSegment::load(dir, base, &config, mode, is_last, now, recovery_point)?;
            if let Some(cut) = cut {
                tracing::warn!(
                    topic,
                    partition,
                    segment = base,
                    reason = %cut.reason,
                    bytes_removed = cut.file_len - cut.valid_end,
                    bytes_kept = cut.valid_end,
                    next_offset = cut.next_offset,
                    later_segments_removed = bases.len() - i - 1,
                    "truncated log at the first damaged batch"
                );
                discard = true;
            } else if segment.size() == 0 && !is_last {
                tracing::warn!(
                    topic,
                    partition,
                    segment = base,
                    "removing empty segment in the middle of the log"
                );
                drop(segment);
                remove_segment_files(dir, base)?;
                dir_dirty = true;
                continue;
            }
            expected_next = segment.next_offset();
            segments.push(Arc::new(segment));
        }

        match segments.last() {
            None => {
                let base = bases.first().copied().unwrap_or(0).max(0);
                segments.push(Arc::new(LogSegment::create(dir, base, &config, now)?));
                dir_dirty = true;
            }
            Some(last) if last.is_sealed() => last.unseal(&config)?,
            Some(_) => {}
        }
        let active = segments.last().cloned().ok_or(LogError::Closed)?;
        let log_end = active.next_offset().unwrap_or(active.base_offset());
        let log_start = segments.first().map_or(0, |s| s.base_offset());
        let max_timestamp = log_max_timestamp(&segments);
        dir_dirty |= remove_snapshots(dir, |o| o > log_end || o < log_start)?;
        let bases: Vec<i64> = segments.iter().map(|s| s.base_offset()).collect();
        let mut aborted = AbortedTxns::load(dir, &bases)?;
        let producers = rebuild_producer_state(dir, &segments, log_end, &mut aborted)?;

        let log = PartitionLog {
            topic: topic.to_string(),
            partition,
            dir: dir.to_path_buf(),
            topic_metrics: metrics::registry().topic(topic),
            config: RwLock::new(config),
            writer: Mutex::new(Vec::new()),
            segments: RwLock::new(Arc::new(segments)),
            log_start_offset: AtomicI64::new(log_start),
            log_end_offset: AtomicI64::new(log_end),
            recovery_point: AtomicI64::new(if recover {
                recovery_point.clamp(log_start, log_end)
            } else {
                log_end
            }),
            leader_epoch: AtomicI32::new(0),
            flush_lock: Mutex::new(()),
            maintenance: Mutex::new(()),
            dir_dirty: AtomicBool::new(dir_dirty),
            closed: AtomicBool::new(false),
            failure: OnceLock::new(),
            last_flush_ms: AtomicI64::new(now),
            max_timestamp: Mutex::new(max_timestamp),
            producers: Mutex::new(producers),
            aborted: Mutex::new(aborted),
            end_tx: watch::Sender::new(log_end),
            durable_tx: watch::Sender::new(if recover { 0 } else { log_end }),
        };
        if recover {
            // What survived the crash may still be only in the page cache: make it durable now,
            // so the recovery point and the durable offset can both start at the log end.
            let first_base = bases.get(first_recovered).copied().unwrap_or(i64::MIN);
            // Empty segments hold nothing to make durable; skipping them keeps a restart after a
            // crash quick when many partitions (such as `__consumer_offsets`) are empty.
            for segment in log
                .segments
                .read()
                .iter()
                .filter(|s| s.base_offset() >= first_base && s.size() > 0)
            {
                segment.mark_dirty();
            }
            log.flush()?;
        }
        Ok(log)
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The counters of this partition's topic (bytes and records in, bytes out).
    pub fn topic_metrics(&self) -> &TopicMetrics {
        &self.topic_metrics
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> LogConfig {
        self.config.read().clone()
    }

    /// Applies changed topic configs; they take effect from the next append.
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write() = config;
    }

    /// The partition leader epoch stamped on every appended batch (0 unless set).
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> (i64, i64, SegmentList) {
        let log_end = self.log_end_offset.load(Ordering::Acquire);
        let log_start = self.log_start_offset.load(Ordering::Acquire);
        let segments = self.segments.read().clone();
        (log_end, log_start, segments)
    }

    /// Appends one or more batches already checked by `record::validate_batches`: assigns their
    /// offsets, stamps the leader epoch (and LogAppendTime if asked), rolls the active segment if
    /// it is due, and writes to the page cache. The buffer is patched in place.
    pub fn append(&self, records: &mut [u8], now_ms: i64, log_append_time: bool) -> Result<AppendInfo, LogError> {
        let mut metas = self.writer.lock();
        if self.is_closed() {
            return Err(LogError::Closed);
        }
        if let Some(why) = self.failure.get() {
            return Err(LogError::Failed(why.clone()));
        }
        if records.is_empty() {
            return Err(RecordError::CorruptMessage("append of zero batches".into()).into());
        }
        metas.clear();
        let base_offset = self.log_end_offset.load(Ordering::Acquire);
        let epoch = self.leader_epoch();
        let mut next = base_offset;
        let mut pos = 0usize;
        let mut append_max_timestamp = -1i64;
        // Producer batches of this append, recorded in the producer state once written.
        let mut produced: Vec<(i64, i16, BatchMetadata)> = Vec::new();
        let mut transactional: Vec<bool> = Vec::new();
        // A transaction marker of this append (appended alone), applied once written.
        let mut marker = None;
        let producers = self.producers.lock();
        while pos < records.len() {
            let header = BatchHeader::parse(&records[pos..])?;
            let size = header.total_size();
            if records.len() - pos < size {
                return Err(RecordError::CorruptMessage(format!(
                    "batch at position {pos} claims {size} bytes, only {} remain",
                    records.len() - pos
                ))
                .into());
            }
            if header.last_offset_delta < 0 {
                return Err(RecordError::InvalidRecord("negative last offset delta".into()).into());
            }
            if header.is_control() {
                if pos != 0 || size != records.len() {
                    return Err(RecordError::InvalidRecord("a control batch must be appended alone".into()).into());
                }
                if let Some(m) = read_marker(&records[..size])? {
                    producers
                        .check_marker(header.producer_id, header.producer_epoch, &m)
                        .map_err(LogError::Producer)?;
                    marker = Some((header.producer_id, header.producer_epoch, m));
                }
            }
            let check = producers.check(&header, &produced).map_err(LogError::Producer)?;
            if let ProducerCheck::Duplicate(original) = check {
                if pos != 0 || size != records.len() {
                    return Err(RecordError::InvalidRecord(
                        "a batch repeating one already written must be appended alone".into(),
                    )
                    .into());
                }
                return Ok(AppendInfo {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time: -1,
                    log_start_offset: self.log_start_offset(),
                    duplicate: true,
                    flush_due: false,
                });
            }
            let batch = &mut records[pos..pos + size];
            set_base_offset(batch, next);
            set_partition_leader_epoch(batch, epoch);
            let max_timestamp = if log_append_time {
                set_log_append_time(batch, now_ms);
                now_ms
            } else {
                header.max_timestamp
            };
            let last_offset = next
                .checked_add(i64::from(header.last_offset_delta))
                .ok_or_else(|| RecordError::InvalidRecord("offset overflow".into()))?;
            metas.push(BatchMeta {
                position: pos as u64,
                size: size as u64,
                last_offset,
                max_timestamp,
            });
            if check == ProducerCheck::Append {
                transactional.push(header.is_transactional());
                produced.push((
                    header.producer_id,
                    header.producer_epoch,
                    BatchMetadata {
                        first_seq: header.base_sequence,
                        last_seq: producer_state::last_seq_of(header.base_sequence, header.last_offset_delta),
                        first_offset: next,
                        last_offset,
                        timestamp: max_timestamp,
                    },
                ));
            }
            append_max_timestamp = append_max_timestamp.max(max_timestamp);
            next = last_offset
                .checked_add(1)
                .ok_or_else(|| RecordError::InvalidRecord("offset overflow".into()))?;
            pos += size;
        }
        let last_offset = next - 1;
        drop(producers);

        let config = self.config.read().clone();
        let mut active = self.segments.read().last().cloned().ok_or(LogError::Closed)?;
        if active.should_roll(&config, records.len() as u64, append_max_timestamp, last_offset, now_ms) {
            active = self.roll(&active, base_offset, &config, now_ms)?;
        }
        if let Err(e) = active.append(records, &metas, config.index_interval_bytes) {
            // A full disk is the one write error that loses nothing: the partial batch was cut
            // off and the log resumes once space returns. Any other may have.
            if e.raw_os_error() != Some(libc::ENOSPC) {
                self.fail(&format!("write to {} failed: {e}", active.log_path().display()));
            }
            return Err(e.into());
        }
        if !produced.is_empty() {
            let mut producers = self.producers.lock();
            for ((producer_id, epoch, batch), transactional) in produced.into_iter().zip(transactional) {
                producers.record(producer_id, epoch, batch, transactional);
            }
        }
        if let Some((producer_id, epoch, m)) = marker {
            let completed = self
                .producers
                .lock()
                .complete_txn(producer_id, epoch, &m, base_offset, now_ms);
            if let Some(txn) = completed.filter(|t| t.aborted) {
                self.record_aborted(active.base_offset(), &txn);
            }
        }

        {
            let mut max = self.max_timestamp.lock();
            for m in metas.iter() {
                if m.max_timestamp > max.0 || max.1 < 0 {
                    *max = (m.max_timestamp, m.last_offset);
                }
            }
        }
        self.log_end_offset.store(next, Ordering::SeqCst);
        self.end_tx.send_replace(next);
        drop(metas);

        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset(),
            duplicate: false,
            flush_due: self.flush_due(now_ms),
        })
    }

    /// Adds an aborted transaction to the index of the segment holding its marker. Caller
    /// holds the writer lock. A failed index write fails the log: a restart would otherwise
    /// hand read_committed consumers the aborted records.
    fn record_aborted(&self, segment_base: i64, txn: &CompletedTxn) {
        let entry = AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset: txn.last_stable_offset,
        };
        if let Err(e) = self.aborted.lock().push(&self.dir, segment_base, entry) {
            self.fail(&format!(
                "write to the transaction index of segment {segment_base} failed: {e}"
            ));
        }
    }

    /// Appends a COMMIT or ABORT marker for `producer_id` (Kafka's WriteTxnMarkers on the
    /// partition leader). Returns where it landed.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlRecordType,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let mut batch = build_marker(producer_id, producer_epoch, kind, coordinator_epoch, now_ms);
        self.append(&mut batch, now_ms, false)
    }

    /// The first offset of the oldest open transaction, if one is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.lock().first_unstable_offset()
    }

    /// Kafka's last stable offset: read_committed consumers read below it. Never past the
    /// high watermark, so what they see is durable.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        // Retention may remove the start of an open transaction; what is gone cannot hold
        // readers back (Kafka forgets transactions below the log start offset too).
        self.first_unstable_offset()
            .map_or(hw, |o| o.max(self.log_start_offset()).min(hw))
    }

    /// The aborted transactions overlapping `[from, upper)`, in the order they ended.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.aborted.lock().collect(from, upper)
    }

    /// Every aborted transaction still in the log (the cleaner's view).
    pub(crate) fn aborted_snapshot(&self) -> Vec<AbortedTxn> {
        self.aborted.lock().entries().to_vec()
    }

    /// The open transactions as (first offset, producer id), oldest first.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.producers.lock().ongoing_transactions()
    }

    /// Re-files the aborted-transaction entries after segments came or went. Caller holds the
    /// writer lock.
    fn refile_aborted(&self, segments: &[Arc<LogSegment>]) {
        let bases: Vec<i64> = segments.iter().map(|s| s.base_offset()).collect();
        if let Err(e) = self.aborted.lock().rewrite(&self.dir, &bases, self.log_start_offset()) {
            self.fail(&format!("rewriting the transaction index failed: {e}"));
        }
    }

    /// Seals the active segment and starts a new one at `base_offset`. Caller holds the writer lock.
    fn roll(
        &self,
        old: &Arc<LogSegment>,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Arc<LogSegment>, LogError> {
        old.seal()?;
        // The producer state as of the new segment's base, so a restart scans from there. Not
        // fsynced: a torn snapshot fails its CRC and an older one (or a longer scan) is used.
        if let Err(e) = write_snapshot(&self.dir, base_offset, &self.producers.lock(), false) {
            tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "could not write a producer state snapshot");
        }
        let segment = Arc::new(LogSegment::create(&self.dir, base_offset, config, now_ms)?);
        let mut list = self.segments.write();
        let mut next: Vec<Arc<LogSegment>> = list.as_ref().clone();
        next.push(segment.clone());
        *list = Arc::new(next);
        self.dir_dirty.store(true, Ordering::SeqCst);
        tracing::debug!(topic = %self.topic, partition = self.partition, base_offset, "rolled new log segment");
        Ok(segment)
    }

    /// Whole batches from the one holding `offset`, all from one segment, at most `max_bytes`
    /// unless `min_one_batch` and the first batch alone is larger (KIP-74). Reads up to the log
    /// end: what the broker itself reads back; clients read through [`Self::fetch`].
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, i64::MAX)
    }

    /// [`Self::read`] as a consumer sees the log: only below the high watermark. An offset
    /// between the high watermark and the log end reads nothing (not out of range), as on
    /// Kafka; a fetch waiting for it wakes when the high watermark moves
    /// ([`Self::durable_watch`]).
    pub fn fetch(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, self.high_watermark())
    }

    /// Calls `f` with every stored batch from the log start to the log end, in order: how the
    /// coordinators rebuild their state at start. Reads `chunk` bytes at a time.
    pub fn for_each_batch(&self, chunk: usize, mut f: impl FnMut(&BatchHeader, &[u8])) -> Result<(), LogError> {
        let mut offset = self.log_start_offset();
        let end = self.log_end_offset();
        while offset < end {
            let slice = self.read(offset, chunk, true)?;
            if slice.records.is_empty() {
                break;
            }
            let buf = &slice.records[..];
            let mut pos = 0usize;
            while pos < buf.len() {
                let header = BatchHeader::parse(&buf[pos..])?;
                let size = header.total_size();
                if buf.len() - pos < size {
                    break;
                }
                f(&header, &buf[pos..pos + size]);
                pos += size;
                offset = header.last_offset() + 1;
            }
        }
        Ok(())
    }

    /// [`Self::fetch`] for a read_committed consumer: only below the last stable offset.
    pub fn fetch_committed(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, self.last_stable_offset())
    }

    fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        upper: i64,
    ) -> Result<FetchSlice, LogError> {
        let high_watermark = self.high_watermark();
        let (log_end, log_start, segments) = self.snapshot();
        let upper = upper.min(log_end);
        let slice = |records: Bytes| FetchSlice {
            records,
            high_watermark: high_watermark.min(log_end),
            log_start_offset: log_start,
            log_end_offset: log_end,
        };
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start,
                log_end,
            });
        }
        if offset >= upper {
            return Ok(slice(Bytes::new()));
        }
        let first = segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        for segment in segments.iter().skip(first) {
            let limit = segment.size();
            let Some((pos, header)) = segment.translate_offset(offset, limit)? else {
                continue;
            };
            if header.base_offset >= upper {
                break;
            }
            let first_size = header.total_size();
            let budget = if min_one_batch && first_size > max_bytes {
                first_size
            } else {
                max_bytes
            };
            if budget < first_size {
                return Ok(slice(Bytes::new()));
            }
            let len = usize::try_from((limit - pos).min(budget as u64)).unwrap_or(budget);
            let mut buf = segment.read_at(pos, len)?;
            let mut end = 0usize;
            while buf.len() - end >= BATCH_HEADER_SIZE {
                let Ok(h) = BatchHeader::parse(&buf[end..]) else { break };
                if h.base_offset >= upper || buf.len() - end < h.total_size() {
                    break;
                }
                end += h.total_size();
            }
            if end == 0 {
                return Err(RecordError::CorruptMessage(format!(
                    "stored batch at position {pos} of {} cannot be read",
                    segment.log_path().display()
                ))
                .into());
            }
            buf.truncate(end);
            return Ok(slice(Bytes::from(buf)));
        }
        Ok(slice(Bytes::new()))
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Sets the log start offset read from the `log-start-offset-checkpoint` at start; it
    /// never goes below the first segment or above the log end.
    pub(crate) fn restore_log_start_offset(&self, offset: i64) {
        let (log_end, _, segments) = self.snapshot();
        let first = segments.first().map_or(0, |s| s.base_offset());
        let start = offset.max(first).min(log_end.max(first));
        self.log_start_offset.fetch_max(start, Ordering::SeqCst);
    }

    /// Kafka's `maybeIncrementLogStartOffset` (DeleteRecords): moves the log start offset up to
    /// `offset`, never down. Offsets below it can no longer be read; the segments wholly below
    /// it are removed by [`delete_old_segments`](Self::delete_old_segments). Returns the new
    /// log start offset (the low watermark).
    pub fn advance_log_start_offset(&self, offset: i64) -> Result<i64, LogError> {
        let (log_end, log_start, _) = self.snapshot();
        if offset < 0 || offset > self.high_watermark() {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start,
                log_end,
            });
        }
        let before = self.log_start_offset.fetch_max(offset, Ordering::SeqCst);
        if offset > before {
            tracing::info!(topic = %self.topic, partition = self.partition, from = before, to = offset, "moved log start offset");
        }
        Ok(before.max(offset))
    }

    /// Exclusive right to remove or replace this log's segments in the background; `None`
    /// while someone else holds it.
    pub(crate) fn try_maintenance(&self) -> Option<MutexGuard<'_, ()>> {
        self.maintenance.try_lock()
    }

    pub(crate) fn maintenance(&self) -> MutexGuard<'_, ()> {
        self.maintenance.lock()
    }

    /// Kafka's `deleteOldSegments`: removes the oldest segments that every offset below the log
    /// start offset makes unreadable, and with `retention` and `delete` in `cleanup.policy`,
    /// those past `retention.bytes` (never the active segment) and `retention.ms`. When every
    /// record has expired the active segment is rolled first so it can go too, and the log
    /// restarts empty at its end offset. Returns the renamed (`.deleted`) files to remove
    /// after `file.delete.delay.ms`. The caller holds [`maintenance`](Self::maintenance).
    pub(crate) fn delete_old_segments(&self, now: i64, retention: bool) -> Result<Vec<PathBuf>, LogError> {
        if self.is_closed() {
            return Ok(Vec::new());
        }
        let config = self.config();
        let (_, log_start, segments) = self.snapshot();
        let len = segments.len();
        let mut count = segments
            .windows(2)
            .take_while(|w| w[1].base_offset() <= log_start)
            .count();
        if retention && config.delete {
            if config.retention_bytes >= 0 {
                let limit = config.retention_bytes as u64;
                let mut total: u64 = segments[count..].iter().map(|s| s.size()).sum();
                let mut k = count;
                while k + 1 < len && total.checked_sub(segments[k].size()).is_some_and(|rest| rest >= limit) {
                    total -= segments[k].size();
                    k += 1;
                }
                count = count.max(k);
            }
            if config.retention_ms >= 0 {
                let mut k = count;
                while k < len
                    && now.saturating_sub(segments[k].largest_timestamp()) > config.retention_ms
                    && (k + 1 < len || segments[k].size() > 0)
                {
                    k += 1;
                }
                count = count.max(k);
            }
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        self.remove_front_segments(&segments[..count], now)
    }

    /// The current segment list, oldest first (the last one is the active segment).
    pub(crate) fn segments_snapshot(&self) -> SegmentList {
        self.segments.read().clone()
    }

    /// The cleaner's swap, after its commit point (the cleaned segment's files renamed to
    /// `.swap` and the directory fsynced): replaces the run of segments `old` with the
    /// segment whose files are `<new_base>.*.swap` (or with nothing), renaming the old files
    /// to `.deleted` first and the swap files to their final names after, as Kafka's
    /// `replaceSegments` does. Readers holding the old segments keep reading them. Returns the
    /// renamed old files for removal after `file.delete.delay.ms`.
    pub(crate) fn replace_segments(
        &self,
        old: &[Arc<LogSegment>],
        new_base: Option<i64>,
        now: i64,
    ) -> Result<Vec<PathBuf>, LogError> {
        let _writer = self.writer.lock();
        if self.is_closed() {
            return Err(LogError::Closed);
        }
        let current = self.segments.read().clone();
        let Some(first) = old.first() else {
            return Ok(Vec::new());
        };
        let start = current.iter().position(|s| Arc::ptr_eq(s, first));
        let run_matches = start.is_some_and(|i| {
            i + old.len() < current.len() && old.iter().zip(&current[i..]).all(|(a, b)| Arc::ptr_eq(a, b))
        });
        let (Some(start), true) = (start, run_matches) else {
            return Err(LogError::Io(std::io::Error::other(
                "the segments to replace are no longer in the log; the swap completes at the next start",
            )));
        };
        let mut renamed = Vec::new();
        for segment in old {
            renamed.extend(segment.rename_to_deleted()?);
        }
        super::cleaner::crash_point("old_segments_renamed")?;
        let mut replacement = Vec::new();
        if let Some(base) = new_base {
            for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
                let path = self.dir.join(segment_file_name(base, suffix));
                fs::rename(super::segment::with_suffix(&path, SWAP_FILE_SUFFIX), &path)?;
            }
            fsync_dir(&self.dir)?;
            let config = self.config.read().clone();
            let next_base = current.get(start + old.len()).map(|s| s.base_offset());
            let mode = LoadMode::Trust {
                offset_limit: next_base,
            };
            let (segment, cut) = LogSegment::load(&self.dir, base, &config, mode, false, now, i64::MIN)?;
            if let Some(cut) = cut {
                tracing::warn!(topic = %self.topic, partition = self.partition, reason = %cut.reason, "cleaned segment was cut on load");
            }
            replacement.push(Arc::new(segment));
        } else {
            fsync_dir(&self.dir)?;
        }
        let mut next: Vec<Arc<LogSegment>> = Vec::with_capacity(current.len());
        next.extend_from_slice(&current[..start]);
        next.extend(replacement);
        next.extend_from_slice(&current[start + old.len()..]);
        *self.max_timestamp.lock() = log_max_timestamp(&next);
        self.refile_aborted(&next);
        *self.segments.write() = Arc::new(next);
        Ok(renamed)
    }

    /// Takes `victims`, the oldest segments, out of the log and renames their files to
    /// `.deleted`; nothing happens if the list changed meanwhile. Readers that already hold
    /// one of them keep reading it.
    fn remove_front_segments(&self, victims: &[Arc<LogSegment>], now: i64) -> Result<Vec<PathBuf>, LogError> {
        let _writer = self.writer.lock();
        if self.is_closed() {
            return Ok(Vec::new());
        }
        let current = self.segments.read().clone();
        if current.len() < victims.len() || !victims.iter().zip(current.iter()).all(|(a, b)| Arc::ptr_eq(a, b)) {
            return Ok(Vec::new());
        }
        if victims.len() == current.len() {
            // Everything goes, the active segment included: roll so the log keeps a segment.
            let Some(active) = current.last() else {
                return Ok(Vec::new());
            };
            if active.size() == 0 {
                return Ok(Vec::new());
            }
            let config = self.config.read().clone();
            self.roll(active, self.log_end_offset.load(Ordering::Acquire), &config, now)?;
        }
        let kept: Vec<Arc<LogSegment>> = self.segments.read()[victims.len()..].to_vec();
        let Some(first) = kept.first().map(|s| s.base_offset()) else {
            return Ok(Vec::new());
        };
        *self.max_timestamp.lock() = log_max_timestamp(&kept);
        *self.segments.write() = Arc::new(kept);
        let start = self.log_start_offset.fetch_max(first, Ordering::SeqCst).max(first);
        self.refile_aborted(&self.segments.read().clone());
        self.dir_dirty.store(true, Ordering::SeqCst);
        if let Err(e) = remove_snapshots(&self.dir, |o| o < first) {
            tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "could not remove old producer state snapshots");
        }
        let mut renamed = Vec::new();
        for victim in victims {
            match victim.rename_to_deleted() {
                Ok(paths) => renamed.extend(paths),
                Err(e) => tracing::warn!(
                    topic = %self.topic,
                    partition = self.partition,
                    segment = victim.base_offset(),
                    error = %e,
                    "could not rename a removed segment for deletion"
                ),
            }
        }
        tracing::info!(
            topic = %self.topic,
            partition = self.partition,
            segments = victims.len(),
            log_start_offset = start,
            "deleted old log segments"
        );
        Ok(renamed)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// On one node there are no replicas to commit to: what is committed is what is fsynced.
    /// Consumers read, and commit, only below this offset, so nothing they saw can be taken back
    /// by a power loss.
    pub fn high_watermark(&self) -> i64 {
        self.durable_offset().min(self.log_end_offset())
    }

    /// The first record with timestamp >= `timestamp`, as (offset, timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let (log_end, log_start, segments) = self.snapshot();
        for segment in segments.iter() {
            if segment.max_timestamp().0 < timestamp {
                continue;
            }
            let limit = segment.size();
            let mut pos = segment.position_for_timestamp(timestamp, log_start);
            while let Some((at, header)) = segment.find_batch(pos, limit, |h| {
                h.base_offset >= log_end || (h.max_timestamp >= timestamp && h.last_offset() >= log_start)
            })? {
                if header.base_offset >= log_end {
                    return Ok(None);
                }
                let bytes = segment.read_at(at, header.total_size())?;
                // Stored batches were bounded when produced: stream them, one record at a time.
                let mut stream = RecordStream::new(&bytes, usize::MAX)?;
                while let Some(r) = stream.next_record()? {
                    if r.timestamp >= timestamp && r.offset >= log_start && r.offset < log_end {
                        return Ok(Some((r.offset, r.timestamp)));
                    }
                }
                pos = at + header.total_size() as u64;
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first such record), as (offset, timestamp).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let (_, offset) = *self.max_timestamp.lock();
        if offset < 0 {
            return Ok(None);
        }
        let (log_end, log_start, segments) = self.snapshot();
        if offset >= log_end || offset < log_start {
            return Ok(None);
        }
        let index = segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        let Some(segment) = segments.get(index) else {
            return Ok(None);
        };
        let Some((pos, header)) = segment.translate_offset(offset, segment.size())? else {
            return Ok(None);
        };
        let bytes = segment.read_at(pos, header.total_size())?;
        // The first record with the batch's largest timestamp wins.
        let mut best: Option<(i64, i64)> = None;
        let mut stream = RecordStream::new(&bytes, usize::MAX)?;
        while let Some(r) = stream.next_record()? {
            if r.offset >= log_start && best.is_none_or(|(_, ts)| r.timestamp > ts) {
                best = Some((r.offset, r.timestamp));
            }
        }
        Ok(best.or(Some((header.last_offset(), header.max_timestamp))))
    }

    /// fsyncs every segment with unsynced data and the directory if files came or went, then
    /// advances the recovery point (and the durable offset) to the log end offset read before
    /// the first fsync.
    pub fn flush(&self) -> Result<(), LogError> {
        let _guard = self.flush_lock.lock();
        if self.is_closed() {
            // close() flushed everything; the directory may already have been renamed away.
            return Ok(());
        }
        self.flush_locked()
    }

    fn flush_locked(&self) -> Result<(), LogError> {
        if let Some(why) = self.failure.get() {
            return Err(LogError::Failed(why.clone()));
        }
        let log_end = self.log_end_offset.load(Ordering::SeqCst);
        let segments = self.segments.read().clone();
        for segment in segments.iter() {
            if let Err(e) = segment.flush() {
                let why = format!("fsync of {} failed: {e}", segment.log_path().display());
                self.fail(&why);
                return Err(LogError::Failed(why));
            }
        }
        if let Err(e) = self.aborted.lock().sync(&self.dir) {
            let why = format!("fsync of a transaction index in {} failed: {e}", self.dir.display());
            self.fail(&why);
            return Err(LogError::Failed(why));
        }
        if self.dir_dirty.swap(false, Ordering::SeqCst)
            && let Err(e) = fsync_dir(&self.dir)
        {
            let why = format!("fsync of directory {} failed: {e}", self.dir.display());
            self.fail(&why);
            return Err(LogError::Failed(why));
        }
        self.recovery_point.store(log_end, Ordering::Release);
        self.durable_tx.send_if_modified(|durable| {
            let advanced = *durable < log_end;
            if advanced {
                *durable = log_end;
            }
            advanced
        });
        self.last_flush_ms.store(now_ms(), Ordering::Release);
        Ok(())
    }

    /// Whether `flush.messages` or `flush.ms` call for a flush now.
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let unflushed = self.log_end_offset().saturating_sub(self.recovery_point());
        if unflushed <= 0 {
            return false;
        }
        let config = self.config.read();
        unflushed >= config.flush_messages
            || now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Acquire)) >= config.flush_ms
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// Marks the log failed (fail-stop storage) with one clear log line, and wakes whoever
    /// waits for durability so they answer with the error instead of waiting on.
    fn fail(&self, why: &str) {
        if self.failure.set(why.to_string()).is_ok() {
            tracing::error!(
                topic = %self.topic,
                partition = self.partition,
                durable_offset = self.durable_offset(),
                log_end_offset = self.log_end_offset(),
                "{why}: this partition now refuses writes and stays durable only up to its durable \
                 offset; data past it may be lost. Check the disk, then restart the broker: recovery \
                 keeps what was fsynced."
            );
        }
        self.durable_tx.send_modify(|_| {});
    }

    /// Why the log failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.read().iter().map(|s| s.size()).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.read().iter().map(|s| s.base_offset()).collect()
    }

    /// Resolves once the log end offset is past `offset` (at once if it already is): what a
    /// fetch waiting for new data parks on.
    pub async fn wait_past(&self, offset: i64) {
        let mut rx = self.end_tx.subscribe();
        let _ = rx.wait_for(|end| *end > offset).await;
    }

    /// The log end offset as it moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end_tx.subscribe()
    }

    /// Offsets below this are fsynced.
    pub fn durable_offset(&self) -> i64 {
        *self.durable_tx.borrow()
    }

    pub fn durable_watch(&self) -> watch::Receiver<i64> {
        self.durable_tx.subscribe()
    }

    /// Drops every batch from the one holding `offset` on (so the new log end offset is the base
    /// offset of that batch, which may be below `offset`). Truncating at or below the log start
    /// empties the log and restarts it at `offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let _writer = self.writer.lock();
        if self.is_closed() {
            return Err(LogError::Closed);
        }
        let _flush = self.flush_lock.lock();
        let log_end = self.log_end_offset();
        if offset >= log_end {
            return Ok(());
        }
        let config = self.config.read().clone();
        let segments = self.segments.read().clone();
        let (kept, new_end) = match segments.first() {
            Some(first) if offset > first.base_offset() => {
                let index = segments
                    .partition_point(|s| s.base_offset() <= offset)
                    .saturating_sub(1);
                for segment in segments.iter().skip(index + 1) {
                    segment.delete_files()?;
                }
                let segment = &segments[index];
                segment.unseal(&config)?;
                let new_end = match segment.truncate_to(offset, &config)? {
                    Some(end) => end,
                    None => segment.next_offset().unwrap_or(offset),
                };
                (segments[..=index].to_vec(), new_end)
            }
            _ => {
                for segment in segments.iter() {
                    segment.delete_files()?;
                }
                let start = offset.max(0);
                let segment = LogSegment::create(&self.dir, start, &config, now_ms())?;
                self.log_start_offset.store(start, Ordering::Release);
                (vec![Arc::new(segment)], start)
            }
        };
        tracing::info!(topic = %self.topic, partition = self.partition, from = log_end, to = new_end, "truncated log");
        *self.max_timestamp.lock() = log_max_timestamp(&kept);
        remove_snapshots(&self.dir, |o| o > new_end)?;
        let bases: Vec<i64> = kept.iter().map(|s| s.base_offset()).collect();
        let mut aborted = self.aborted.lock();
        aborted.truncate(&self.dir, new_end, &bases)?;
        *self.producers.lock() = rebuild_producer_state(&self.dir, &kept, new_end, &mut aborted)?;
        drop(aborted);
        *self.segments.write() = Arc::new(kept);
        self.log_end_offset.store(new_end, Ordering::SeqCst);
        self.dir_dirty.store(true, Ordering::SeqCst);
        self.recovery_point.fetch_min(new_end, Ordering::AcqRel);
        self.durable_tx.send_if_modified(|durable| {
            let lowered = *durable > new_end;
            if lowered {
                *durable = new_end;
            }
            lowered
        });
        self.end_tx.send_replace(new_end);
        Ok(())
    }

    /// Flushes, writes the active segment's final index entries and trims its indexes. Later
    /// appends fail with [`LogError::Closed`]; reads keep working.
    pub fn close(&self) -> Result<(), LogError> {
        let _writer = self.writer.lock();
        if self.is_closed() {
            return Ok(());
        }
        let _flush = self.flush_lock.lock();
        write_snapshot(&self.dir, self.log_end_offset(), &self.producers.lock(), true)?;
        self.dir_dirty.store(true, Ordering::SeqCst);
        self.flush_locked()?;
        if let Some(active) = self.segments.read().last() {
            active.seal()?;
            active.flush()?;
        }
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

impl PartitionLog {
    /// Forgets producers idle longer than `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.lock().expire(now_ms, expiration_ms)
    }

    /// How many producers this partition tracks.
    pub fn producer_count(&self) -> usize {
        self.producers.lock().len()
    }

    /// The producers this partition tracks, by id, with their epoch and last batches.
    pub fn active_producers(&self) -> Vec<(i64, ProducerEntry)> {
        self.producers.lock().active()
    }
}

/// The producer state at `log_end`: the newest snapshot at or below it, then the headers of
/// the batches after the snapshot (or of the whole log when there is none).
///
/// Transaction markers in the scanned batches close their transactions; the aborted ones are
/// filed again in `aborted`, which must hold nothing at or past the snapshot's offset (those
/// entries are dropped first and rebuilt from the markers themselves, so a crash between a
/// marker and its index entry loses nothing).
fn rebuild_producer_state(
    dir: &Path,
    segments: &[Arc<LogSegment>],
    log_end: i64,
    aborted: &mut AbortedTxns,
) -> Result<ProducerStateManager, LogError> {
    let (from, mut state) = load_latest_snapshot(dir, log_end)?.unwrap_or((i64::MIN, ProducerStateManager::new()));
    if from >= log_end {
        return Ok(state);
    }
    let bases: Vec<i64> = segments.iter().map(|s| s.base_offset()).collect();
    aborted.truncate(dir, from.max(0), &bases)?;
    let first = segments.partition_point(|s| s.base_offset() <= from).saturating_sub(1);
    for segment in segments.iter().skip(first) {
        let mut done = false;
        let mut error = None;
        segment.find_batch(0, segment.size(), |h| {
            if h.base_offset >= log_end {
                done = true;
                return true;
            }
            if h.last_offset() < from {
                return false;
            }
            if !h.is_control() {
                state.update(h, h.base_offset, h.last_offset(), h.max_timestamp);
                return false;
            }
            match replay_marker(segment, h, &mut state) {
                Ok(Some(txn)) if txn.aborted => {
                    let entry = AbortedTxn {
                        producer_id: txn.producer_id,
                        first_offset: txn.first_offset,
                        last_offset: txn.last_offset,
                        last_stable_offset: txn.last_stable_offset,
                    };
                    if let Err(e) = aborted.push(dir, segment.base_offset(), entry) {
                        error = Some(LogError::from(e));
                        return true;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    error = Some(e);
                    return true;
                }
            }
            false
        })?;
        if let Some(e) = error {
            return Err(e);
        }
        if done {
            break;
        }
    }
    Ok(state)
}

/// Applies the marker in the control batch `header` of `segment` to `state`.
fn replay_marker(
    segment: &LogSegment,
    header: &BatchHeader,
    state: &mut ProducerStateManager,
) -> Result<Option<CompletedTxn>, LogError> {
    let Some((pos, _)) = segment.translate_offset(header.base_offset, segment.size())? else {
        return Ok(None);
    };
    let bytes = segment.read_at(pos, header.total_size())?;
    let Some(marker) = read_marker(&bytes)? else {
        return Ok(None);
    };
    Ok(state.complete_txn(
        header.producer_id,
        header.producer_epoch,
        &marker,
        header.base_offset,
        header.max_timestamp,
    ))
}

fn remove_segment_files(dir: &Path, base: i64) -> Result<(), LogError> {
    for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        match fs::remove_file(dir.join(segment_file_name(base, suffix))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
