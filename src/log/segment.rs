//! Kafka's `LogSegment`: one `.log` file of batches plus its offset and time indexes.
//!
//! Concurrency: only the partition's single writer appends, truncates or seals a segment; readers
//! run in parallel with it. A reader sees the segment through a byte limit taken from
//! [`LogSegment::size`], which is published only after the bytes below it are written, and reads
//! with `pread`, so it never observes a half-written batch and never blocks the writer for longer
//! than an index lookup.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::offset_index::OffsetIndex;
use super::recovery::{FileWindow, ScannedBatch, read_fully_at, scan_batches};
use super::time_index::TimeIndex;
use super::{LogConfig, LogError};
use crate::record::batch::{BATCH_HEADER_SIZE, BatchHeader};

mod segment_reads;

pub const LOG_FILE_SUFFIX: &str = "log";
pub const INDEX_FILE_SUFFIX: &str = "index";
pub const TIME_INDEX_FILE_SUFFIX: &str = "timeindex";
/// Appended to the files of a segment removed from the log, until they are deleted.
pub const DELETED_FILE_SUFFIX: &str = ".deleted";
/// Appended to the files of a segment the cleaner is still writing.
pub const CLEANED_FILE_SUFFIX: &str = ".cleaned";
/// Appended to the files of a cleaned segment that is complete and about to replace others.
pub const SWAP_FILE_SUFFIX: &str = ".swap";

/// Writes every byte of `slices` at `pos` of `file` with `pwritev`, as many at a time as one
/// call takes.
fn write_all_vectored_at(file: &File, mut slices: &mut [io::IoSlice<'_>], mut pos: u64) -> io::Result<()> {
    /// Linux's IOV_MAX.
    const MAX_IOVECS: usize = 1024;
    while !slices.is_empty() {
        let n = slices.len().min(MAX_IOVECS);
        let offset = libc::off_t::try_from(pos)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "write position past off_t"))?;
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix, and the first `n` slices
        // borrow memory that lives for the call.
        let written = unsafe { libc::pwritev(file.as_raw_fd(), slices.as_ptr().cast(), n as libc::c_int, offset) };
        if written < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        pos += written as u64;
        io::IoSlice::advance_slices(&mut slices, written as usize);
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// `<base offset, 20 digits>.<suffix>`, Kafka's segment file naming.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// Parses a segment file name back into (base offset, suffix).
pub fn parse_segment_file_name(name: &str) -> Option<(i64, &str)> {
    let (stem, suffix) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, suffix))
}

/// What the partition log tells a segment about each batch of an append.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchMeta {
    /// Position inside the appended buffer.
    pub position: u64,
    pub size: u64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

impl BatchMeta {
    fn scanned(b: &ScannedBatch) -> BatchMeta {
        BatchMeta {
            position: b.position,
            size: b.header.total_size() as u64,
            last_offset: b.header.last_offset(),
            max_timestamp: b.header.max_timestamp,
        }
    }
}

/// How much of an existing segment to trust when opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadMode {
    /// Before the recovery point after a clean shutdown: trust the data; use the indexes if they
    /// are intact, otherwise rebuild them. `offset_limit` is the next segment's base offset.
    Trust { offset_limit: Option<i64> },
    /// The active segment after a clean shutdown: trust the indexes but CRC-check the batches
    /// after the last index entry, which is cheap and catches a torn tail.
    TailCheck,
    /// After an unclean shutdown: CRC-check every batch and rebuild both indexes.
    Recover,
}

/// A cut made while loading: the file held bytes that are not part of the log.
#[derive(Clone, Debug)]
pub(crate) struct Truncation {
    pub reason: String,
    pub valid_end: u64,
    pub file_len: u64,
    pub next_offset: i64,
}

#[derive(Clone, Copy, Debug)]
struct SegmentState {
    bytes_since_last_index_entry: u64,
    /// Largest batch max timestamp so far, and the last offset of the batch that had it.
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch: what `segment.ms` is measured from.
    first_batch_timestamp: Option<i64>,
    /// Offset after the last batch; unknown for trusted segments that were never scanned.
    next_offset: Option<i64>,
}

impl SegmentState {
    fn empty(base_offset: i64) -> SegmentState {
        SegmentState {
            bytes_since_last_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_timestamp: None,
            next_offset: Some(base_offset),
        }
    }
}

pub struct LogSegment {
    base_offset: i64,
    log_path: PathBuf,
    file: File,
    /// Bytes of complete batches; readers never look past it.
    size: AtomicU64,
    offset_index: RwLock<OffsetIndex>,
    time_index: RwLock<TimeIndex>,
    state: Mutex<SegmentState>,
    /// Data written since the last fsync.
    dirty: AtomicBool,
    /// Index files changed shape (trimmed) since the last fsync.
    index_dirty: AtomicBool,
    /// Rolled or closed: indexes trimmed, no more appends.
    sealed: AtomicBool,
    /// The files were renamed away (the segment left the log); `delete_files` must not touch
    /// whatever now has the old names.
    detached: AtomicBool,
    created_ms: i64,
}

/// Kafka's per-batch indexing rule: an offset index entry (and a time index entry if the max
/// timestamp grew) whenever more than `index.interval.bytes` were appended since the last one;
/// the first batch of a segment is always indexed.
fn index_batch(
    st: &mut SegmentState,
    oi: &mut OffsetIndex,
    ti: &mut TimeIndex,
    batch: &BatchMeta,
    index_interval: u32,
) {
    let BatchMeta {
        position,
        size,
        last_offset,
        max_timestamp,
    } = *batch;
    if max_timestamp > st.max_timestamp {
        st.max_timestamp = max_timestamp;
        st.offset_of_max_timestamp = last_offset;
    }
    if st.first_batch_timestamp.is_none() {
        st.first_batch_timestamp = Some(max_timestamp);
    }
    if position == 0 || st.bytes_since_last_index_entry > u64::from(index_interval) {
        oi.append(last_offset, position);
        if st.offset_of_max_timestamp >= 0 {
            ti.maybe_append(st.max_timestamp, st.offset_of_max_timestamp, false);
        }
        st.bytes_since_last_index_entry = 0;
    }
    st.bytes_since_last_index_entry += size;
    st.next_offset = Some(last_offset.saturating_add(1));
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl LogSegment {
    /// Creates a new, empty active segment (replacing any leftover files of the same name).
    pub(crate) fn create(dir: &Path, base_offset: i64, config: &LogConfig, now_ms: i64) -> io::Result<LogSegment> {
        LogSegment::create_with_suffix(dir, base_offset, config, now_ms, "")
    }

    /// Like [`create`](Self::create), with `suffix` (such as [`CLEANED_FILE_SUFFIX`]) appended
    /// to every file name.
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        suffix: &str,
    ) -> io::Result<LogSegment> {
        let name = |kind: &str| dir.join(format!("{}{suffix}", segment_file_name(base_offset, kind)));
        let log_path = name(LOG_FILE_SUFFIX);
        let index_path = name(INDEX_FILE_SUFFIX);
        let time_path = name(TIME_INDEX_FILE_SUFFIX);
        remove_if_exists(&index_path)?;
        remove_if_exists(&time_path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)?;
        Ok(LogSegment {
            base_offset,
            log_path,
            file,
            size: AtomicU64::new(0),
            offset_index: RwLock::new(OffsetIndex::open(
                &index_path,
                base_offset,
                config.segment_index_bytes,
                true,
            )?),
            time_index: RwLock::new(TimeIndex::open(
                &time_path,
                base_offset,
                config.segment_index_bytes,
                true,
            )?),
            state: Mutex::new(SegmentState::empty(base_offset)),
            dirty: AtomicBool::new(true),
            index_dirty: AtomicBool::new(false),
            sealed: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            created_ms: now_ms,
        })
    }

    /// Opens an existing segment, checking as much as `mode` asks. Returns the cut it had to make,
    /// if the file held a torn or corrupt tail.
    ///
    /// Offsets below `durable_below` were fsynced: damage among them is refused (see
    /// [`Self::recover_keeping`]), never cut away.
    pub(crate) fn load(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        mode: LoadMode,
        active: bool,
        now_ms: i64,
        durable_below: i64,
    ) -> Result<(LogSegment, Option<Truncation>), LogError> {
        let log_path = dir.join(segment_file_name(base_offset, LOG_FILE_SUFFIX));
        let index_path = dir.join(segment_file_name(base_offset, INDEX_FILE_SUFFIX));
        let time_path = dir.join(segment_file_name(base_offset, TIME_INDEX_FILE_SUFFIX));
        let file = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let file_len = file.metadata()?.len();
        let segment = LogSegment {
            base_offset,
            log_path,
            file,
            size: AtomicU64::new(file_len),
            offset_index: RwLock::new(OffsetIndex::open(
                &index_path,
                base_offset,
                config.segment_index_bytes,
                active,
            )?),
            time_index: RwLock::new(TimeIndex::open(
                &time_path,
                base_offset,
                config.segment_index_bytes,
                active,
            )?),
            state: Mutex::new(SegmentState::empty(base_offset)),
            dirty: AtomicBool::new(false),
            index_dirty: AtomicBool::new(false),
            sealed: AtomicBool::new(!active),
            detached: AtomicBool::new(false),
            created_ms: now_ms,
        };
        let mut rebuilt = true;
        let cut = match mode {
            LoadMode::Recover => segment.recover_keeping(config, true, durable_below)?,
            LoadMode::Trust { offset_limit } => {
                if segment.indexes_trustworthy(file_len, offset_limit) {
                    segment.state_from_indexes(file_len)?;
                    rebuilt = false;
                    None
                } else {
                    tracing::info!(segment = %segment.log_path.display(), "rebuilding missing or damaged indexes");
                    segment.recover_keeping(config, true, durable_below)?
                }
            }
            LoadMode::TailCheck => {
                if segment.indexes_trustworthy(file_len, None) {
                    segment.check_tail(file_len, config, durable_below)?
                } else {
                    tracing::info!(segment = %segment.log_path.display(), "rebuilding missing or damaged indexes");
                    segment.recover_keeping(config, true, durable_below)?
                }
            }
        };
        if !active && rebuilt {
            // A rebuild wrote into the index files; put them back to their trimmed shape.
            segment.offset_index.write().trim()?;
            segment.time_index.write().trim()?;
        }
        Ok((segment, cut))
    }

    /// Whether the index files are as a clean roll or close leaves them. Drops implausible
    /// entries as a side effect.
    fn indexes_trustworthy(&self, file_len: u64, offset_limit: Option<i64>) -> bool {
        let mut oi = self.offset_index.write();
        let mut ti = self.time_index.write();
        let oi_ok = oi.existed() && oi.sanitize(file_len, offset_limit) && oi.was_trimmed();
        let ti_ok = ti.existed() && ti.sanitize(offset_limit) && ti.was_trimmed();
        // The first batch of a segment is always indexed, at position 0.
        let first_ok = match oi.entry(0) {
            Some((_, pos)) => pos == 0,
            None => file_len == 0,
        };
        oi_ok && ti_ok && first_ok
    }

    fn first_batch_header(&self, limit: u64) -> Option<BatchHeader> {
        let mut head = [0u8; BATCH_HEADER_SIZE];
        if limit < BATCH_HEADER_SIZE as u64 {
            return None;
        }
        match read_fully_at(&self.file, &mut head, 0) {
            Ok(n) if n == head.len() => BatchHeader::parse(&head).ok(),
            _ => None,
        }
    }

    /// Seeds the in-memory state of a trusted segment from its indexes.
    fn state_from_indexes(&self, file_len: u64) -> io::Result<()> {
        // Lock order everywhere: state, then offset index, then time index.
        let mut st = self.state.lock();
        let oi = self.offset_index.read();
        let ti = self.time_index.read();
        *st = SegmentState::empty(self.base_offset);
        if let Some((ts, offset)) = ti.last_entry() {
            st.max_timestamp = ts;
            st.offset_of_max_timestamp = offset;
        }
        st.first_batch_timestamp = self.first_batch_header(file_len).map(|h| h.max_timestamp);
        st.bytes_since_last_index_entry = file_len.saturating_sub(oi.last_entry().map_or(0, |(_, p)| u64::from(p)));
        st.next_offset = if file_len == 0 { Some(self.base_offset) } else { None };
        Ok(())
    }

    /// CRC-checks the batches from the last offset index entry to the end of the file. Anything
    /// unexpected there falls back to a full recovery of the segment.
    fn check_tail(
        &self,
        file_len: u64,
        config: &LogConfig,
        durable_below: i64,
    ) -> Result<Option<Truncation>, LogError> {
        let index_interval = config.index_interval_bytes;
        let last_entry = self.offset_index.read().last_entry();
        let (start, expected_base) = match last_entry {
            None => (0, self.base_offset),
            Some((offset, pos)) => {
                let mut window = FileWindow::new(&self.file, file_len, BATCH_HEADER_SIZE);
                let header = window
                    .get(u64::from(pos), BATCH_HEADER_SIZE)?
                    .and_then(|head| BatchHeader::parse(head).ok());
                match header {
                    Some(h) if h.base_offset <= offset && offset <= h.last_offset() => (u64::from(pos), h.base_offset),
                    _ => {
                        tracing::warn!(
                            segment = %self.log_path.display(),
                            "last offset index entry does not point at its batch; recovering the segment"
                        );
                        return self.recover_keeping(config, true, durable_below);
                    }
                }
            }
        };
        self.state_from_indexes(file_len)?;
        let outcome = {
            let mut st = self.state.lock();
            let mut oi = self.offset_index.write();
            let mut ti = self.time_index.write();
            st.bytes_since_last_index_entry = 0;
            let outcome = scan_batches(&self.file, start, file_len, Some(expected_base), true, |b| {
                index_batch(&mut st, &mut oi, &mut ti, &BatchMeta::scanned(b), index_interval)
            })?;
            if outcome.stop_reason.is_none() {
                st.next_offset = Some(outcome.next_offset.unwrap_or(self.base_offset));
            }
            outcome
        };
        if outcome.stop_reason.is_some() {
            return self.recover_keeping(config, true, durable_below);
        }
        Ok(None)
    }

    /// Rebuilds both indexes from the batches in the file, cutting the file at the first batch
    /// that is torn, corrupt (when `verify_crc`), or does not continue the offsets before it.
    fn recover(&self, config: &LogConfig, verify_crc: bool) -> Result<Option<Truncation>, LogError> {
        self.recover_keeping(config, verify_crc, i64::MIN)
    }

    /// Rebuilds the indexes by walking the file and cuts it after the last good batch, unless
    /// the cut would remove offsets below `durable_below` (the recovery point): those were
    /// fsynced, so damage there is bit rot or tampering, not a torn write, and it stops the
    /// start with a message naming the file rather than deleting acknowledged records.
    fn recover_keeping(
        &self,
        config: &LogConfig,
        verify_crc: bool,
        durable_below: i64,
    ) -> Result<Option<Truncation>, LogError> {
        let index_interval = config.index_interval_bytes;
        let file_len = self.file.metadata()?.len();
        let mut st = self.state.lock();
        let mut oi = self.offset_index.write();
        let mut ti = self.time_index.write();
        oi.reset();
        ti.reset();
        // Room to write the rebuilt entries; a sealed segment's caller trims them again.
        oi.make_active(config.segment_index_bytes)?;
        ti.make_active(config.segment_index_bytes)?;
        *st = SegmentState::empty(self.base_offset);
        let outcome = scan_batches(&self.file, 0, file_len, Some(self.base_offset), verify_crc, |b| {
            index_batch(&mut st, &mut oi, &mut ti, &BatchMeta::scanned(b), index_interval)
        })?;
        let next_offset = outcome.next_offset.unwrap_or(self.base_offset);
        if outcome.valid_end < file_len && next_offset < durable_below {
            let reason = outcome.stop_reason.unwrap_or_else(|| "trailing bytes".to_string());
            return Err(LogError::Damaged(format!(
                "{file}: the data at byte {at} (offset {next_offset}) is damaged ({reason}), below the \
                 recovery point {durable_below}: it was fsynced, so it is not cut away. To start, copy the \
                 partition directory aside, then restore this file from a copy, or truncate it to {at} bytes \
                 (losing the rest of this segment) and delete its .index and .timeindex files",
                file = self.log_path.display(),
                at = outcome.valid_end,
            )));
        }
        st.next_offset = Some(next_offset);
        self.size.store(outcome.valid_end, Ordering::Release);
        if outcome.valid_end < file_len {
            self.file.set_len(outcome.valid_end)?;
            self.dirty.store(true, Ordering::SeqCst);
            return Ok(Some(Truncation {
                reason: outcome.stop_reason.unwrap_or_else(|| "trailing bytes".to_string()),
                valid_end: outcome.valid_end,
                file_len,
                next_offset,
            }));
        }
        Ok(None)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Bytes of complete batches, as visible to readers.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Largest batch max timestamp in the segment and the last offset of that batch
    /// (`(-1, -1)` when no batch carried a timestamp).
    pub fn max_timestamp(&self) -> (i64, i64) {
        let st = self.state.lock();
        (st.max_timestamp, st.offset_of_max_timestamp)
    }

    /// Kafka's `largestTimestamp`: the largest record timestamp, or the file's modification time
    /// when no batch carried one. What `retention.ms` and the compaction lags compare against.
    pub fn largest_timestamp(&self) -> i64 {
        let (ts, offset) = self.max_timestamp();
        if offset >= 0 && ts >= 0 {
            return ts;
        }
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(self.created_ms, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// The max timestamp of the first batch, when known.
    pub(crate) fn first_batch_timestamp(&self) -> Option<i64> {
        let known = self.state.lock().first_batch_timestamp;
        known.or_else(|| self.first_batch_header(self.size()).map(|h| h.max_timestamp))
    }

    /// Offset after the last batch, when known (always for the active segment).
    pub fn next_offset(&self) -> Option<i64> {
        self.state.lock().next_offset
    }

    pub fn offset_index_entries(&self) -> usize {
        self.offset_index.read().entries()
    }

    pub fn time_index_entries(&self) -> usize {
        self.time_index.read().entries()
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Kafka's `shouldRoll`: the append of `append_bytes` bytes with max timestamp
    /// `append_max_timestamp` ending at `append_last_offset` must go to a new segment.
    /// An empty segment never rolls, so an oversized append cannot create empty segments.
    pub(crate) fn should_roll(
        &self,
        config: &LogConfig,
        append_bytes: u64,
        append_max_timestamp: i64,
        append_last_offset: i64,
        now_ms: i64,
    ) -> bool {
        let size = self.size();
        if size == 0 {
            return false;
        }
        let full = size.saturating_add(append_bytes) > config.segment_bytes;
        let waited = match self.state.lock().first_batch_timestamp {
            Some(t) if t >= 0 => append_max_timestamp.saturating_sub(t),
            _ => now_ms.saturating_sub(self.created_ms),
        };
        let too_old = waited > config.segment_ms;
        let index_full = self.offset_index.read().is_full() || self.time_index.read().is_full();
        let offset_overflow = append_last_offset.saturating_sub(self.base_offset) > i64::from(i32::MAX);
        full || too_old || index_full || offset_overflow
    }

    /// Writes `records` (whole batches, offsets already assigned) at the end of the segment and
    /// indexes them. Readers see the bytes only once the size is published at the very end.
    pub(crate) fn append(&self, records: &[u8], batches: &[BatchMeta], index_interval: u32) -> io::Result<()> {
        let pos = self.size();
        if let Err(e) = self.file.write_all_at(records, pos) {
            // Do not leave a partial batch behind for the next append to follow.
            let _ = self.file.set_len(pos);
            return Err(e);
        }
        self.publish(pos, records.len() as u64, batches, index_interval);
        Ok(())
    }

    /// [`Self::append`] of batches whose headers are written from `headers` (one per batch,
    /// patched copies) and the rest of each from `records`, with vectored writes: the
    /// batches are never copied whole.
    pub(crate) fn append_with_headers(
        &self,
        records: &[u8],
        headers: &[[u8; BATCH_HEADER_SIZE]],
        batches: &[BatchMeta],
        index_interval: u32,
    ) -> io::Result<()> {
        let pos = self.size();
        let mut slices = Vec::with_capacity(2 * batches.len());
        for (b, header) in batches.iter().zip(headers) {
            let start = b.position as usize;
            let end = start + b.size as usize;
            let rest = records
                .get(start + BATCH_HEADER_SIZE..end)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "batch outside the records"))?;
            slices.push(io::IoSlice::new(header));
            slices.push(io::IoSlice::new(rest));
        }
        let len: usize = slices.iter().map(|s| s.len()).sum();
        if let Err(e) = write_all_vectored_at(&self.file, &mut slices, pos) {
            let _ = self.file.set_len(pos);
            return Err(e);
        }
        self.publish(pos, len as u64, batches, index_interval);
        Ok(())
    }

    /// Indexes batches just written at `pos` and makes their `len` bytes visible to readers.
    fn publish(&self, pos: u64, len: u64, batches: &[BatchMeta], index_interval: u32) {
        {
            let mut st = self.state.lock();
            let mut oi = self.offset_index.write();
            let mut ti = self.time_index.write();
            for b in batches {
                let placed = BatchMeta {
                    position: pos + b.position,
                    ..*b
                };
                index_batch(&mut st, &mut oi, &mut ti, &placed, index_interval);
            }
        }
        // Mark dirty before the new end becomes visible, so a flush that sees the new log end
        // offset also sees that this segment needs an fsync.
        self.dirty.store(true, Ordering::SeqCst);
        self.size.store(pos + len, Ordering::Release);
    }

    /// Drops every batch from the one holding `offset` on. Returns the new next offset (the base
    /// offset of the first dropped batch), or None if nothing in this segment was at or past
    /// `offset`.
    pub(crate) fn truncate_to(&self, offset: i64, config: &LogConfig) -> Result<Option<i64>, LogError> {
        let Some((pos, header)) = self.translate_offset(offset, self.size())? else {
            return Ok(None);
        };
        self.file.set_len(pos)?;
        self.size.store(pos, Ordering::Release);
        self.dirty.store(true, Ordering::SeqCst);
        self.recover(config, false)?;
        Ok(Some(header.base_offset.max(self.base_offset)))
    }

    /// Called when the segment rolls or the log closes: writes the final max-timestamp entry
    /// and trims both indexes to their used size.
    pub(crate) fn seal(&self) -> io::Result<()> {
        if self.sealed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let st = *self.state.lock();
        let mut oi = self.offset_index.write();
        let mut ti = self.time_index.write();
        if st.offset_of_max_timestamp >= 0 {
            ti.maybe_append(st.max_timestamp, st.offset_of_max_timestamp, true);
        }
        oi.trim()?;
        ti.trim()?;
        self.index_dirty.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Makes a sealed segment writable again (after truncation made it the last one).
    pub(crate) fn unseal(&self, config: &LogConfig) -> Result<(), LogError> {
        if !self.sealed.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.offset_index.write().make_active(config.segment_index_bytes)?;
        self.time_index.write().make_active(config.segment_index_bytes)?;
        let mut st = self.state.lock();
        if st.next_offset.is_none() {
            drop(st);
            self.recover(config, false)?;
            st = self.state.lock();
        }
        st.first_batch_timestamp = self.first_batch_header(self.size()).map(|h| h.max_timestamp);
        Ok(())
    }

    /// fsyncs whatever changed since the last flush.
    pub(crate) fn flush(&self) -> io::Result<()> {
        if self.dirty.swap(false, Ordering::SeqCst)
            && let Err(e) = self.file.sync_data()
        {
            self.dirty.store(true, Ordering::SeqCst);
            return Err(e);
        }
        if self.index_dirty.swap(false, Ordering::SeqCst) {
            let synced = self
                .offset_index
                .read()
                .sync()
                .and_then(|()| self.time_index.read().sync());
            if let Err(e) = synced {
                self.index_dirty.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Forces the next flush to fsync the file, e.g. for data found on disk after a crash that
    /// may never have left the page cache.
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// Whether data or index files changed since the last flush.
    pub fn needs_flush(&self) -> bool {
        self.dirty.load(Ordering::SeqCst) || self.index_dirty.load(Ordering::SeqCst)
    }

    /// Renames the segment's files to `<name>.deleted` once it has left the log, returning the
    /// new paths for removal after `file.delete.delay.ms`. Readers holding the segment keep
    /// reading through their open handles and mappings.
    pub(crate) fn rename_to_deleted(&self) -> io::Result<Vec<PathBuf>> {
        self.detached.store(true, Ordering::SeqCst);
        let paths = [
            self.log_path.clone(),
            self.offset_index.read().path().to_path_buf(),
            self.time_index.read().path().to_path_buf(),
        ];
        let mut renamed = Vec::with_capacity(paths.len());
        for path in paths {
            let target = with_suffix(&path, DELETED_FILE_SUFFIX);
            match std::fs::rename(&path, &target) {
                Ok(()) => renamed.push(target),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(renamed)
    }

    /// Removes the segment's files. Readers holding the segment keep their open handles.
    pub(crate) fn delete_files(&self) -> io::Result<()> {
        if self.detached.load(Ordering::SeqCst) {
            return Ok(());
        }
        remove_if_exists(&self.log_path)?;
        remove_if_exists(self.offset_index.read().path())?;
        remove_if_exists(self.time_index.read().path())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
