//! Moving the log start offset (DeleteRecords, retention): whole segments below it are
//! renamed away and removed, and what they held is forgotten by the indexes and producer
//! state.

use super::*;

impl PartitionLog {
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
        crate::log::cleaner::crash_point("old_segments_renamed")?;
        let mut replacement = Vec::new();
        if let Some(base) = new_base {
            for suffix in [LOG_FILE_SUFFIX, INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
                let path = self.dir.join(segment_file_name(base, suffix));
                fs::rename(crate::log::segment::with_suffix(&path, SWAP_FILE_SUFFIX), &path)?;
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
}
