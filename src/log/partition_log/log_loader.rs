//! Opening a partition's log, as Kafka's `LogLoader` does: interrupted renames and deletions
//! are finished, segments are loaded and the tail past the recovery point checked (a torn
//! batch truncated, damaged indexes rebuilt), and producer state is rebuilt from the latest
//! snapshot and the batches after it.

use super::*;

impl PartitionLog {
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
        let swap_path = crate::log::segment::with_suffix(&final_path, SWAP_FILE_SUFFIX);
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
        fs::rename(
            crate::log::segment::with_suffix(&final_path, SWAP_FILE_SUFFIX),
            &final_path,
        )?;
        changed = true;
    }
    if changed {
        fsync_dir(dir)?;
    }
    Ok(changed)
}

/// The producer state at `log_end`: the newest snapshot at or below it, then the headers of
/// the batches after the snapshot (or of the whole log when there is none).
///
/// Transaction markers in the scanned batches close their transactions; the aborted ones are
/// filed again in `aborted`, which must hold nothing at or past the snapshot's offset (those
/// entries are dropped first and rebuilt from the markers themselves, so a crash between a
/// marker and its index entry loses nothing).
pub(super) fn rebuild_producer_state(
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
