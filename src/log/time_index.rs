//! Kafka's `TimeIndex`: a sparse map from timestamp to offset, for ListOffsets by time.
//!
//! Each 12-byte entry is `timestamp (i64 BE) | relative offset (u32 BE)`: the largest timestamp
//! seen in the segment so far and the last offset of the batch that carried it. Entries are only
//! added when the timestamp grows, so timestamps are strictly increasing and every record before
//! an entry's offset has a timestamp no larger than the entry's. That makes "largest entry with
//! timestamp <= t" a safe place to start scanning for the first record at or after t.
//!
//! The last slot is kept free while the segment is active so the final max-timestamp entry can
//! always be written when the segment rolls or the log closes.

use std::io;
use std::path::Path;

use super::index_file::IndexFile;

pub const TIME_INDEX_ENTRY_SIZE: usize = 12;

pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

impl TimeIndex {
    pub fn open(path: &Path, base_offset: i64, max_index_bytes: u32, active: bool) -> io::Result<TimeIndex> {
        Ok(TimeIndex {
            base_offset,
            file: IndexFile::open(path, TIME_INDEX_ENTRY_SIZE, max_index_bytes, active)?,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    /// Full for ordinary appends one slot early; see the module docs.
    pub fn is_full(&self) -> bool {
        self.file.entries() + 1 >= self.file.max_entries()
    }

    pub(crate) fn existed(&self) -> bool {
        self.file.existed()
    }

    pub(crate) fn was_trimmed(&self) -> bool {
        self.file.was_trimmed()
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub fn entry(&self, i: usize) -> Option<(i64, i64)> {
        let bytes = self.file.entry(i)?;
        let ts = i64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
        let rel = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        Some((ts, self.base_offset.saturating_add(i64::from(rel))))
    }

    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries().checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Adds `(timestamp, offset)` if the timestamp is larger than the last entry's (Kafka's
    /// `maybeAppend`). `final_entry` may use the reserved last slot.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, final_entry: bool) -> bool {
        let (last_ts, last_offset) = self.last_entry().unwrap_or((-1, self.base_offset));
        if timestamp <= last_ts || offset < last_offset {
            return false;
        }
        if !final_entry && self.is_full() {
            return false;
        }
        let Ok(rel) = u32::try_from(offset.saturating_sub(self.base_offset)) else {
            return false;
        };
        let mut entry = [0u8; TIME_INDEX_ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&rel.to_be_bytes());
        self.file.push(&entry)
    }

    /// The entry with the largest timestamp <= `timestamp`, if any.
    pub fn lookup(&self, timestamp: i64) -> Option<(i64, i64)> {
        let (mut lo, mut hi) = (0usize, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((ts, _)) if ts <= timestamp => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Keeps the longest plausible prefix: strictly increasing timestamps, non-decreasing offsets
    /// inside the segment and below `offset_limit`. Returns whether every entry survived.
    pub fn sanitize(&mut self, offset_limit: Option<i64>) -> bool {
        let total = self.entries();
        let mut keep = 0;
        let mut prev: Option<(i64, i64)> = None;
        while keep < total {
            let Some((ts, offset)) = self.entry(keep) else { break };
            let ordered = prev.is_none_or(|(pts, po)| ts > pts && offset >= po);
            let in_range = ts >= 0
                && offset_limit.is_none_or(|limit| offset < limit)
                && offset - self.base_offset <= i64::from(i32::MAX);
            if !(ordered && in_range) {
                break;
            }
            prev = Some((ts, offset));
            keep += 1;
        }
        self.file.truncate_entries(keep);
        keep == total
    }

    /// Drops entries for offsets at or past `offset`.
    pub fn truncate_to_offset(&mut self, offset: i64) {
        let keep = (0..self.entries())
            .take_while(|&i| self.entry(i).is_some_and(|(_, o)| o < offset))
            .count();
        self.file.truncate_entries(keep);
    }

    pub fn reset(&mut self) {
        self.file.truncate_entries(0);
    }

    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    pub fn make_active(&mut self, max_index_bytes: u32) -> io::Result<()> {
        self.file.make_active(max_index_bytes)
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_growing_timestamps_are_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::open(&dir.path().join("a.timeindex"), 100, 120, true).unwrap();
        assert!(!idx.maybe_append(-1, 100, false), "no timestamp");
        assert!(idx.maybe_append(10, 105, false));
        assert!(!idx.maybe_append(10, 110, false), "equal timestamp");
        assert!(!idx.maybe_append(5, 110, false), "older timestamp");
        assert!(!idx.maybe_append(20, 104, false), "offset went back");
        assert!(idx.maybe_append(20, 110, false));
        assert_eq!(idx.lookup(9), None);
        assert_eq!(idx.lookup(10), Some((10, 105)));
        assert_eq!(idx.lookup(15), Some((10, 105)));
        assert_eq!(idx.lookup(i64::MAX), Some((20, 110)));
        idx.truncate_to_offset(110);
        assert_eq!(idx.last_entry(), Some((10, 105)));
    }

    #[test]
    fn last_slot_is_reserved_for_the_final_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::open(&dir.path().join("b.timeindex"), 0, 36, true).unwrap();
        assert!(idx.maybe_append(1, 1, false));
        assert!(idx.maybe_append(2, 2, false));
        assert!(idx.is_full());
        assert!(!idx.maybe_append(3, 3, false));
        assert!(idx.maybe_append(3, 3, true));
        assert!(!idx.maybe_append(4, 4, true));
    }

    #[test]
    fn sanitize_cuts_zeroed_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.timeindex");
        let mut idx = TimeIndex::open(&path, 0, 1200, true).unwrap();
        idx.maybe_append(5, 1, false);
        idx.maybe_append(7, 3, false);
        drop(idx);
        let mut idx = TimeIndex::open(&path, 0, 1200, true).unwrap();
        assert!(!idx.sanitize(None));
        assert_eq!(idx.entries(), 2);
        assert!(!idx.sanitize(Some(2)));
        assert_eq!(idx.entries(), 1);
    }
}
