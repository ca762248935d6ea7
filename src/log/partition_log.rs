//! One partition's log: Kafka's `UnifiedLog` minus replication.
//!
//! Offsets are assigned here and nowhere else. Appends are serialised by the writer lock, which
//! is held only while batches are patched and written to the page cache; fsyncs happen in
//! [`PartitionLog::flush`], called from the flusher thread, and never hold that lock. Readers take
//! a snapshot (log end offset, then segment list) and read with `pread` outside any lock, so a
//! fetch never waits for an append or an fsync.

mod log_loader;
mod log_reads;
mod log_start;

use log_loader::rebuild_producer_state;

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
    BATCH_HEADER_SIZE, BatchHeader, RecordError, set_base_offset, set_log_append_time_split, set_partition_leader_epoch,
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
        let mut headers = Vec::new();
        let info = self.append_batches(records, now_ms, log_append_time, &mut headers)?;
        let mut pos = 0usize;
        for header in &headers {
            let size = BatchHeader::parse(header)?.total_size();
            records[pos..pos + BATCH_HEADER_SIZE].copy_from_slice(header);
            pos += size;
        }
        Ok(info)
    }

    /// [`Self::append`] that leaves `records` as they are: the patched headers are written
    /// from copies and the rest of each batch straight from `records`, so a produce request's
    /// bytes reach the page cache without being copied in the broker first.
    pub fn append_from(&self, records: &[u8], now_ms: i64, log_append_time: bool) -> Result<AppendInfo, LogError> {
        self.append_batches(records, now_ms, log_append_time, &mut Vec::new())
    }

    /// The append itself; `headers` receives each written batch's patched header, in order.
    fn append_batches(
        &self,
        records: &[u8],
        now_ms: i64,
        log_append_time: bool,
        headers: &mut Vec<[u8; BATCH_HEADER_SIZE]>,
    ) -> Result<AppendInfo, LogError> {
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
            let (Some(mut head), Some(rest)) = (
                records
                    .get(pos..pos + BATCH_HEADER_SIZE)
                    .and_then(|h| <[u8; BATCH_HEADER_SIZE]>::try_from(h).ok()),
                records.get(pos + BATCH_HEADER_SIZE..pos + size),
            ) else {
                return Err(
                    RecordError::CorruptMessage(format!("batch at position {pos} is shorter than its header")).into(),
                );
            };
            set_base_offset(&mut head, next);
            set_partition_leader_epoch(&mut head, epoch);
            let max_timestamp = if log_append_time {
                set_log_append_time_split(&mut head, rest, now_ms);
                now_ms
            } else {
                header.max_timestamp
            };
            headers.push(head);
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
        if let Err(e) = active.append_with_headers(records, headers, &metas, config.index_interval_bytes) {
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

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// On one node there are no replicas to commit to: what is committed is what is fsynced.
    /// Consumers read, and commit, only below this offset, so nothing they saw can be taken back
    /// by a power loss.
    pub fn high_watermark(&self) -> i64 {
        self.durable_offset().min(self.log_end_offset())
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

    /// Makes the log durable at least up to `offset` on the calling thread, for a caller that
    /// already runs off the async workers, unless another thread is fsyncing the log now:
    /// then `Ok(None)`, and the caller should not queue behind it (a thread parked per waiting
    /// write is memory spent per request) but leave the next round to the flusher. `Some(true)`
    /// when this call fsynced, `Some(false)` when nothing needed it.
    pub fn try_flush_to(&self, offset: i64) -> Result<Option<bool>, LogError> {
        if self.durable_offset() >= offset {
            return Ok(Some(false));
        }
        let Some(_guard) = self.flush_lock.try_lock() else {
            return Ok(None);
        };
        if self.durable_offset() >= offset || self.is_closed() {
            return Ok(Some(false));
        }
        self.flush_locked().map(|()| Some(true))
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

#[cfg(test)]
mod tests;
