//! Kafka's `OffsetIndex`: a sparse map from offset to byte position in the segment's `.log` file.
//!
//! Each 8-byte entry is `relative offset (u32 BE) | position (u32 BE)`, where the offset is the
//! *last* offset of the indexed batch (as Kafka stores it) relative to the segment's base offset.
//! A lookup returns the position of a batch at or before the target, from which a short forward
//! scan of batch headers finds the batch that holds the target.

use std::io;
use std::path::Path;

use super::index_file::IndexFile;

pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;

pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

impl OffsetIndex {
    pub fn open(path: &Path, base_offset: i64, max_index_bytes: u32, active: bool) -> io::Result<OffsetIndex> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::open(path, OFFSET_INDEX_ENTRY_SIZE, max_index_bytes, active)?,
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    pub fn is_full(&self) -> bool {
        self.file.entries() >= self.file.max_entries()
    }

    pub(crate) fn existed(&self) -> bool {
        self.file.existed()
    }

    pub(crate) fn was_trimmed(&self) -> bool {
        self.file.was_trimmed()
    }

    /// Entry `i` as (absolute offset, position).
    pub fn entry(&self, i: usize) -> Option<(i64, u32)> {
        let bytes = self.file.entry(i)?;
        let rel = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?);
        let pos = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
        Some((self.base_offset.saturating_add(i64::from(rel)), pos))
    }

    pub fn last_entry(&self) -> Option<(i64, u32)> {
        self.entries().checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Adds an entry; refused (false) when full, out of order, or not representable.
    pub fn append(&mut self, offset: i64, position: u64) -> bool {
        let Ok(rel) = u32::try_from(offset.saturating_sub(self.base_offset)) else {
            return false;
        };
        let Ok(pos) = u32::try_from(position) else {
            return false;
        };
        if let Some((last_offset, last_pos)) = self.last_entry()
            && (offset <= last_offset || pos <= last_pos)
        {
            return false;
        }
        let mut entry = [0u8; OFFSET_INDEX_ENTRY_SIZE];
        entry[..4].copy_from_slice(&rel.to_be_bytes());
        entry[4..].copy_from_slice(&pos.to_be_bytes());
        self.file.push(&entry)
    }

    /// The entry with the largest offset <= `target`, if any.
    pub fn lookup(&self, target: i64) -> Option<(i64, u32)> {
        // Entries are sorted by offset: find the first entry past the target.
        let (mut lo, mut hi) = (0usize, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((offset, _)) if offset <= target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// The entry with the largest position <= `position`, if any: positions grow with offsets,
    /// so the same search finds where a byte budget ends.
    pub fn lookup_position(&self, position: u64) -> Option<(i64, u32)> {
        let (mut lo, mut hi) = (0usize, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((_, pos)) if u64::from(pos) <= position => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Keeps the longest prefix of entries that can be true for a log of `log_size` bytes whose
    /// offsets stay below `offset_limit`: strictly increasing offsets and positions, positions
    /// inside the file. Returns whether every entry survived.
    pub fn sanitize(&mut self, log_size: u64, offset_limit: Option<i64>) -> bool {
        let total = self.entries();
        let mut keep = 0;
        let mut prev: Option<(i64, u32)> = None;
        while keep < total {
            let Some((offset, pos)) = self.entry(keep) else { break };
            let ordered = prev.is_none_or(|(po, pp)| offset > po && pos > pp);
            let in_file = u64::from(pos) < log_size;
            let in_range =
                offset_limit.is_none_or(|limit| offset < limit) && offset - self.base_offset <= i64::from(i32::MAX);
            if !(ordered && in_file && in_range) {
                break;
            }
            prev = Some((offset, pos));
            keep += 1;
        }
        self.file.truncate_entries(keep);
        keep == total
    }

    /// Drops entries pointing at or past `position` (after the log was truncated there).
    pub fn truncate_to_position(&mut self, position: u64) {
        let keep = (0..self.entries())
            .take_while(|&i| self.entry(i).is_some_and(|(_, p)| u64::from(p) < position))
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
    fn append_lookup_and_ordering() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::open(&dir.path().join("a.index"), 1000, 1024, true).unwrap();
        assert_eq!(idx.lookup(5000), None);
        for i in 0..50i64 {
            assert!(idx.append(1000 + i * 10 + 9, (i * 100) as u64));
        }
        assert!(!idx.append(1000, 99_999), "offset must grow");
        assert!(!idx.append(99_999, 100), "position must grow");
        assert!(!idx.append(999, 100_000), "below base");
        assert_eq!(idx.lookup(1000), None);
        assert_eq!(idx.lookup(1009), Some((1009, 0)));
        assert_eq!(idx.lookup(1015), Some((1009, 0)));
        assert_eq!(idx.lookup(1019), Some((1019, 100)));
        assert_eq!(idx.lookup(i64::MAX), Some((1499, 4900)));
        assert_eq!(idx.lookup_position(0), Some((1009, 0)));
        assert_eq!(idx.lookup_position(199), Some((1019, 100)));
        assert_eq!(idx.lookup_position(200), Some((1029, 200)));
        assert_eq!(idx.lookup_position(u64::MAX), Some((1499, 4900)));
        idx.truncate_to_position(250);
        assert_eq!(idx.entries(), 3);
        assert_eq!(idx.last_entry(), Some((1029, 200)));
    }

    #[test]
    fn sanitize_keeps_valid_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.index");
        let mut idx = OffsetIndex::open(&path, 0, 1024, true).unwrap();
        for i in 1..=10i64 {
            idx.append(i * 10, (i * 100) as u64);
        }
        drop(idx);
        // Reopened untrimmed: 128 entries, the zeroed tail must be cut.
        let mut idx = OffsetIndex::open(&path, 0, 1024, true).unwrap();
        assert_eq!(idx.entries(), 128);
        assert!(!idx.sanitize(1_000_000, None));
        assert_eq!(idx.entries(), 10);
        assert!(!idx.sanitize(650, None));
        assert_eq!(idx.entries(), 6);
        assert!(!idx.sanitize(650, Some(50)));
        assert_eq!(idx.entries(), 4);
        assert!(idx.sanitize(650, Some(50)));
    }
}
