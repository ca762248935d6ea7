//! A memory-mapped file of fixed-size entries: the storage shared by the offset and time indexes.
//!
//! While its segment is active the file is preallocated to `segment.index.bytes` so appends only
//! touch memory; when the segment rolls or the log closes it is trimmed to the entries in use, so
//! a cleanly closed index has exactly `entries * entry_size` bytes. The loader relies on that to
//! tell a trustworthy index from one left preallocated (and perhaps half-written) by a crash.
//!
//! A trimmed (sealed) index is mapped lazily, on its first lookup, as Kafka's `LazyIndex`: a log
//! of tens of thousands of segments would otherwise hold two mappings per segment and run out
//! of the kernel's `vm.max_map_count`, though reads touch only a few of them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::MmapMut;

pub(crate) struct IndexFile {
    path: PathBuf,
    file: File,
    /// Unset until first needed; `None` inside when the file is empty (or cannot be mapped).
    mmap: OnceLock<Option<MmapMut>>,
    entry_size: usize,
    entries: usize,
    max_entries: usize,
    /// Length of the file when it was opened.
    opened_len: u64,
    /// Whether the file existed before it was opened.
    existed: bool,
}

/// Below this, zeroing in place is cheaper than a system call.
const PUNCH_HOLE_MIN_BYTES: usize = 64 * 1024;

/// Deallocates `len` bytes at `offset`, keeping the file size; false if the file system
/// cannot, in which case the caller zeroes the range itself.
fn punch_hole(file: &File, offset: u64, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return false;
    };
    // SAFETY: fallocate on a file descriptor this struct owns, within the file's length.
    unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset,
            len,
        ) == 0
    }
}

/// Maps the whole file for random access. Without the advice, the first touch of a page of
/// a preallocated (sparse) index makes the kernel read ahead `read_ahead_kb` of it, zeroing
/// and caching megabytes of holes for a write of 8 or 12 bytes (7 % of a produce's CPU time
/// on a disk with 8 MiB of readahead); lookups are binary searches, which readahead does not
/// help either.
fn map(file: &File) -> io::Result<MmapMut> {
    // SAFETY: the file is private to this broker's data directory and only resized by
    // `IndexFile`, which drops the mapping first; nothing else truncates it while mapped.
    let mmap = unsafe { MmapMut::map_mut(file)? };
    // A hint: should the kernel refuse it, the index works as before.
    let _ = mmap.advise(memmap2::Advice::Random);
    Ok(mmap)
}

impl IndexFile {
    /// Opens or creates the file. All whole entries in an existing file are taken as in use;
    /// the owning index sanitises them. `active` preallocates to `max_bytes`.
    pub(crate) fn open(path: &Path, entry_size: usize, max_bytes: u32, active: bool) -> io::Result<IndexFile> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let opened_len = file.metadata()?.len();
        let entries = usize::try_from(opened_len / entry_size as u64).unwrap_or(usize::MAX);
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file,
            mmap: OnceLock::new(),
            entry_size,
            entries,
            max_entries: entries,
            opened_len,
            existed,
        };
        if active {
            index.make_active(max_bytes)?;
        } else {
            index.trim()?;
        }
        Ok(index)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn existed(&self) -> bool {
        self.existed
    }

    /// True when the file on disk held exactly the entries now in use, as a trim leaves it.
    pub(crate) fn was_trimmed(&self) -> bool {
        self.existed && self.opened_len == (self.entries * self.entry_size) as u64
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    pub(crate) fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub(crate) fn entry(&self, i: usize) -> Option<&[u8]> {
        if i >= self.entries {
            return None;
        }
        let start = i * self.entry_size;
        self.mapped()?.get(start..start + self.entry_size)
    }

    /// Whether the file is mapped now.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.mmap.get(), Some(Some(_)))
    }

    fn mapped(&self) -> Option<&MmapMut> {
        self.mmap.get_or_init(|| self.map_now()).as_ref()
    }

    fn mapped_mut(&mut self) -> Option<&mut MmapMut> {
        if self.mmap.get().is_none() {
            let _ = self.mmap.set(self.map_now());
        }
        self.mmap.get_mut().and_then(Option::as_mut)
    }

    fn map_now(&self) -> Option<MmapMut> {
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return None;
        }
        match map(&self.file) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(index = %self.path.display(), error = %e, "cannot map index; lookups scan the segment instead");
                None
            }
        }
    }

    /// Appends one entry; false when the file is full.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() != self.entry_size || self.entries >= self.max_entries {
            return false;
        }
        let start = self.entries * self.entry_size;
        match self.mapped_mut().and_then(|m| m.get_mut(start..start + bytes.len())) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.entries += 1;
                true
            }
            None => false,
        }
    }

    /// Forgets entries from `n` on. Their bytes are zeroed so that a crash cannot resurrect a
    /// stale entry that happens to look like a continuation of the valid ones.
    pub(crate) fn truncate_entries(&mut self, n: usize) {
        if n >= self.entries {
            return;
        }
        let (from, to) = (n * self.entry_size, self.entries * self.entry_size);
        // A preallocated index left by a crash reads as millions of entries; writing zeros over
        // all of them would fault in and dirty every page. Punching a hole frees the range
        // instead, which reads back as zeros through the mapping too.
        if (to - from < PUNCH_HOLE_MIN_BYTES || !punch_hole(&self.file, from as u64, (to - from) as u64))
            && let Some(bytes) = self.mapped_mut().and_then(|m| m.get_mut(from..to))
        {
            bytes.fill(0);
        }
        self.entries = n;
    }

    /// Grows the file to the preallocated size used while the segment is active.
    pub(crate) fn make_active(&mut self, max_bytes: u32) -> io::Result<()> {
        let es = self.entry_size as u64;
        let wanted = (u64::from(max_bytes) / es * es).max(2 * es);
        let len = wanted.max(self.entries as u64 * es);
        self.remap(len)
    }

    /// Shrinks the file to the entries in use.
    pub(crate) fn trim(&mut self) -> io::Result<()> {
        self.remap((self.entries * self.entry_size) as u64)
    }

    /// Resizes the file; an active (preallocated) index is mapped at once, a trimmed one when
    /// first read.
    fn remap(&mut self, len: u64) -> io::Result<()> {
        // Unmap before changing the length: touching a mapping past the end of its file faults.
        if let Some(Some(m)) = self.mmap.take() {
            m.flush_async()?;
        }
        if self.file.metadata()?.len() != len {
            self.file.set_len(len)?;
        }
        self.max_entries = usize::try_from(len / self.entry_size as u64).unwrap_or(usize::MAX);
        self.entries = self.entries.min(self.max_entries);
        let trimmed = len == (self.entries * self.entry_size) as u64;
        if len > 0 && !trimmed {
            let _ = self.mmap.set(Some(map(&self.file)?));
        }
        Ok(())
    }

    /// Writes dirty pages and the file length to disk.
    pub(crate) fn sync(&self) -> io::Result<()> {
        if let Some(Some(m)) = self.mmap.get() {
            m.flush()?;
        }
        self.file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preallocates_trims_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut f = IndexFile::open(&path, 8, 100, true).unwrap();
        assert!(!f.existed());
        assert_eq!(f.max_entries(), 12);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 96);
        for i in 0..12u64 {
            assert!(f.push(&i.to_be_bytes()));
        }
        assert!(!f.push(&1u64.to_be_bytes()));
        f.truncate_entries(3);
        assert_eq!(f.entries(), 3);
        f.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24);
        f.sync().unwrap();
        drop(f);

        let f = IndexFile::open(&path, 8, 100, false).unwrap();
        assert!(f.was_trimmed());
        assert_eq!(f.entries(), 3);
        assert!(!f.is_mapped(), "a sealed index is mapped only when first read");
        assert_eq!(f.entry(2).unwrap(), &2u64.to_be_bytes());
        assert!(f.is_mapped());
        assert!(f.entry(3).is_none());
        drop(f);

        let mut f = IndexFile::open(&path, 8, 100, true).unwrap();
        assert_eq!(f.entries(), 3);
        assert!(f.push(&9u64.to_be_bytes()));
        // The stale bytes of truncated entries were zeroed.
        f.truncate_entries(0);
        f.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert!(f.entry(0).is_none());
        assert!(!f.push(&1u64.to_be_bytes()));
    }

    /// A crash leaves the active index at its preallocated size; forgetting the unused tail
    /// must zero it without writing (and allocating) every page of it.
    #[test]
    fn truncating_a_preallocated_tail_zeroes_it_without_allocating_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.index");
        let mut f = IndexFile::open(&path, 8, 8 << 20, true).unwrap();
        for i in 1..=3u64 {
            assert!(f.push(&i.to_be_bytes()));
        }
        drop(f); // no trim: as after kill -9
        // Stale data far into the tail, as an older segment's index could have left.
        let mut raw = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::io::Seek::seek(&mut raw, std::io::SeekFrom::Start(6 << 20)).unwrap();
        std::io::Write::write_all(&mut raw, &[0xAB; 8]).unwrap();
        drop(raw);

        let mut f = IndexFile::open(&path, 8, 8 << 20, true).unwrap();
        assert_eq!(
            f.entries(),
            1 << 20,
            "every slot of the preallocated file reads as an entry"
        );
        f.truncate_entries(3);
        assert_eq!(f.entries(), 3);
        assert_eq!(f.entry(2).unwrap(), &3u64.to_be_bytes());
        assert_eq!(
            f.mapped().unwrap()[6 << 20..(6 << 20) + 8],
            [0u8; 8],
            "stale bytes are gone"
        );
        let allocated = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(
            allocated < 1 << 20,
            "{allocated} bytes allocated for 24 bytes of entries"
        );
    }
}
