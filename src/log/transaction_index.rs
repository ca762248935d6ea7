//! Kafka's `TransactionIndex`: the aborted transactions of a partition, which a read_committed
//! fetch returns so the consumer can drop their records.
//!
//! Each aborted transaction is one 34-byte entry (big-endian), in the `.txnindex` file of the
//! segment that holds its ABORT marker:
//!
//! ```text
//! version int16 (0), producer_id int64, first_offset int64, last_offset int64,
//! last_stable_offset int64
//! ```
//!
//! `last_offset` is the marker's offset and `last_stable_offset` the partition's last stable
//! offset once the transaction ended. All entries of a partition are also held in memory
//! (they are few: one per aborted transaction); the files are what a restart reads instead of
//! scanning the log. A torn last entry (a crash during its write) is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::segment::segment_file_name;

pub const TXN_INDEX_FILE_SUFFIX: &str = "txnindex";
const ENTRY_VERSION: i16 = 0;
pub const ENTRY_BYTES: usize = 34;

/// One aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&ENTRY_VERSION.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |p: usize| b.get(p..p + 8).and_then(|s| s.try_into().ok()).map(i64::from_be_bytes);
        if i16::from_be_bytes(b.get(0..2)?.try_into().ok()?) != ENTRY_VERSION {
            return None;
        }
        Some(AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }
}

pub fn txn_index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(segment_file_name(base_offset, TXN_INDEX_FILE_SUFFIX))
}

/// The entries of one `.txnindex` file; a missing file has none, a torn tail is dropped.
pub fn read_entries(path: &Path) -> io::Result<Vec<AbortedTxn>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(bytes.chunks_exact(ENTRY_BYTES).map_while(AbortedTxn::decode).collect())
}

/// Replaces the file with `entries` (removes it when there are none). Not fsynced here: the
/// log's flush does that.
pub fn write_entries(path: &Path, entries: &[AbortedTxn]) -> io::Result<()> {
    if entries.is_empty() {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let mut out = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for e in entries {
        e.encode(&mut out);
    }
    let tmp = path.with_extension("txnindex.tmp");
    fs::write(&tmp, &out)?;
    fs::rename(&tmp, path)
}

/// Appends one entry to the file.
pub fn append_entry(path: &Path, entry: &AbortedTxn) -> io::Result<()> {
    let mut out = Vec::with_capacity(ENTRY_BYTES);
    entry.encode(&mut out);
    OpenOptions::new().create(true).append(true).open(path)?.write_all(&out)
}

pub fn sync(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Kafka's `collectAbortedTxns`: the aborted transactions that overlap `[from, upper)`, in the
/// order they ended.
pub fn collect(entries: &[AbortedTxn], from: i64, upper: i64) -> Vec<AbortedTxn> {
    // Entries are in marker order; those ending before `from` cannot overlap.
    let start = entries.partition_point(|e| e.last_offset < from);
    entries[start..]
        .iter()
        .filter(|e| e.first_offset < upper)
        .copied()
        .collect()
}

/// A partition's aborted transactions, in marker order, and the `.txnindex` files holding them.
#[derive(Debug, Default)]
pub struct AbortedTxns {
    entries: Vec<AbortedTxn>,
    /// Segment base offsets that have a `.txnindex` file.
    files: BTreeSet<i64>,
    /// Files written since their last fsync.
    unsynced: BTreeSet<i64>,
}

/// The base of the segment among `bases` (ascending) that holds `offset`.
fn segment_of(bases: &[i64], offset: i64) -> Option<i64> {
    let i = bases.partition_point(|b| *b <= offset);
    i.checked_sub(1).map(|i| bases[i])
}

impl AbortedTxns {
    /// Reads the `.txnindex` files of the segments `bases` (ascending) in `dir` and removes
    /// those of segments that no longer exist.
    pub fn load(dir: &Path, bases: &[i64]) -> io::Result<AbortedTxns> {
        let mut txns = AbortedTxns::default();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name
                .strip_suffix(TXN_INDEX_FILE_SUFFIX)
                .and_then(|s| s.strip_suffix('.'))
            else {
                continue;
            };
            let Ok(base) = stem.parse::<i64>() else { continue };
            if bases.binary_search(&base).is_ok() {
                txns.files.insert(base);
            } else {
                fs::remove_file(dir.join(name))?;
            }
        }
        for base in &txns.files {
            txns.entries.extend(read_entries(&txn_index_path(dir, *base))?);
        }
        txns.entries.sort_by_key(|e| e.last_offset);
        Ok(txns)
    }

    /// An in-memory set (no files), for readers of a snapshot.
    pub fn from_entries(entries: Vec<AbortedTxn>) -> AbortedTxns {
        AbortedTxns {
            entries,
            ..AbortedTxns::default()
        }
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Records an aborted transaction whose marker is in the segment at `segment_base`.
    pub fn push(&mut self, dir: &Path, segment_base: i64, entry: AbortedTxn) -> io::Result<()> {
        append_entry(&txn_index_path(dir, segment_base), &entry)?;
        self.files.insert(segment_base);
        self.unsynced.insert(segment_base);
        self.entries.push(entry);
        Ok(())
    }

    /// fsyncs the files written since the last call.
    pub fn sync(&mut self, dir: &Path) -> io::Result<()> {
        while let Some(base) = self.unsynced.first().copied() {
            sync(&txn_index_path(dir, base))?;
            self.unsynced.remove(&base);
        }
        Ok(())
    }

    /// Forgets the transactions whose marker is at or past `offset` (a truncated log).
    pub fn truncate(&mut self, dir: &Path, offset: i64, bases: &[i64]) -> io::Result<()> {
        self.entries.retain(|e| e.last_offset < offset);
        self.rewrite(dir, bases, i64::MIN)
    }

    /// Rewrites the files for the segments `bases` after segments came or went (retention,
    /// compaction): each entry goes to the segment holding its marker; entries wholly below
    /// `log_start` are dropped, since no fetch can reach them.
    pub fn rewrite(&mut self, dir: &Path, bases: &[i64], log_start: i64) -> io::Result<()> {
        self.entries.retain(|e| e.last_offset >= log_start);
        let mut by_segment: BTreeMap<i64, Vec<AbortedTxn>> = BTreeMap::new();
        for e in &self.entries {
            if let Some(base) = segment_of(bases, e.last_offset) {
                by_segment.entry(base).or_default().push(*e);
            }
        }
        for base in self.files.clone() {
            if !by_segment.contains_key(&base) {
                write_entries(&txn_index_path(dir, base), &[])?;
                self.files.remove(&base);
            }
        }
        for (base, entries) in &by_segment {
            let path = txn_index_path(dir, *base);
            if read_entries(&path)? != *entries {
                write_entries(&path, entries)?;
                self.unsynced.insert(*base);
            }
            self.files.insert(*base);
        }
        self.unsynced.retain(|b| self.files.contains(b));
        Ok(())
    }

    /// See [`collect`].
    pub fn collect(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        collect(&self.entries, from, upper)
    }

    /// Whether the transactional batch of `producer_id` at `offset` belongs to an aborted
    /// transaction: what the cleaner removes.
    pub fn is_aborted(&self, producer_id: i64, offset: i64) -> bool {
        let start = self.entries.partition_point(|e| e.last_offset < offset);
        self.entries[start..]
            .iter()
            .any(|e| e.producer_id == producer_id && e.first_offset <= offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn file_round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = txn_index_path(dir.path(), 100);
        assert!(read_entries(&path).unwrap().is_empty());
        append_entry(&path, &txn(1, 100, 105)).unwrap();
        append_entry(&path, &txn(2, 101, 110)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 2 * ENTRY_BYTES as u64);
        assert_eq!(read_entries(&path).unwrap(), vec![txn(1, 100, 105), txn(2, 101, 110)]);
        // A torn entry is dropped.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[0, 0, 1])
            .unwrap();
        assert_eq!(read_entries(&path).unwrap().len(), 2);
        write_entries(&path, &[txn(3, 1, 2)]).unwrap();
        assert_eq!(read_entries(&path).unwrap(), vec![txn(3, 1, 2)]);
        write_entries(&path, &[]).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn aborted_txns_follow_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = AbortedTxns::default();
        t.push(dir.path(), 0, txn(1, 0, 5)).unwrap();
        t.push(dir.path(), 10, txn(2, 8, 12)).unwrap();
        t.push(dir.path(), 10, txn(3, 11, 14)).unwrap();
        t.sync(dir.path()).unwrap();
        let loaded = AbortedTxns::load(dir.path(), &[0, 10]).unwrap();
        assert_eq!(loaded.entries(), t.entries());
        assert!(t.is_aborted(2, 9) && t.is_aborted(3, 11) && !t.is_aborted(3, 10) && !t.is_aborted(2, 13));
        // Segment 0 went: its entry and file go; the rest stay.
        t.rewrite(dir.path(), &[10], 10).unwrap();
        assert!(!txn_index_path(dir.path(), 0).exists());
        assert_eq!(t.entries().len(), 2);
        // Segments merged by the cleaner: the entries move to the surviving segment's file.
        t.rewrite(dir.path(), &[5, 20], 10).unwrap();
        assert!(!txn_index_path(dir.path(), 10).exists());
        assert_eq!(read_entries(&txn_index_path(dir.path(), 5)).unwrap().len(), 2);
        t.truncate(dir.path(), 13, &[5, 20]).unwrap();
        assert_eq!(t.entries(), &[txn(2, 8, 12)]);
        // A file for a segment that is gone is removed at load.
        let orphan = AbortedTxns::load(dir.path(), &[20]).unwrap();
        assert!(orphan.entries().is_empty() && !txn_index_path(dir.path(), 5).exists());
    }

    #[test]
    fn collect_returns_overlapping_transactions() {
        // In marker order, as the log writes them.
        let entries = [txn(1, 0, 5), txn(3, 10, 12), txn(2, 3, 20), txn(4, 30, 40)];
        let pids = |v: Vec<AbortedTxn>| v.iter().map(|t| t.producer_id).collect::<Vec<_>>();
        assert_eq!(pids(collect(&entries, 6, 15)), vec![3, 2]);
        assert_eq!(pids(collect(&entries, 0, 4)), vec![1, 2]);
        assert_eq!(pids(collect(&entries, 13, 30)), vec![2]);
        assert_eq!(pids(collect(&entries, 41, 50)), Vec::<i64>::new());
    }
}
