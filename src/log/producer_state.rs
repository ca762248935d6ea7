//! Kafka's `ProducerStateManager`: what one partition knows about each idempotent producer,
//! so that a retried batch is answered with its original offsets instead of being written
//! twice, and a batch that skips sequence numbers or comes from a fenced epoch is refused.
//!
//! For every producer id the manager keeps the current epoch and the last
//! [`MAX_CACHED_BATCHES`] batches (first and last sequence, first and last offset, max
//! timestamp). Everything it needs is in the v2 batch header, so the state can be rebuilt by
//! reading headers alone. To keep that scan short, the state as of an offset is written to
//! `<offset:020>.snapshot` when a segment rolls and when the log closes; opening a log loads
//! the newest snapshot at or below the log end and scans only the batches after it.
//!
//! Transactions: a producer's transactional batches open a transaction at the offset of the
//! first one; its COMMIT or ABORT marker closes it. The open transactions' first offsets give
//! the partition's first unstable offset, below which the last stable offset stays.
//!
//! Snapshot format (big-endian): `u16` version, `u32` CRC-32C of everything after it, `i32`
//! entry count, then per producer `i64` id, `i16` epoch, `i64` last timestamp, `i64` first
//! offset of its open transaction (-1 for none), `i32` coordinator epoch, `u8` batch count and
//! per batch `i32` first sequence, `i32` last sequence, `i64` first offset, `i64` last offset,
//! `i64` max timestamp. Version 1 (before transactions) lacks the two transaction fields and
//! is still read. A snapshot whose CRC does not match is ignored.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::record::{BatchHeader, ControlRecordType, EndTxnMarker};

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`: batches per producer checked for
/// duplicates (the producer keeps at most five requests in flight per partition).
pub const MAX_CACHED_BATCHES: usize = 5;
pub const SNAPSHOT_FILE_SUFFIX: &str = "snapshot";
const SNAPSHOT_VERSION: u16 = 2;
const SNAPSHOT_VERSION_WITHOUT_TXNS: u16 = 1;
const ENTRY_HEADER_BYTES: usize = 8 + 2 + 8 + 8 + 4 + 1;
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;

/// One appended batch of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

/// What the partition knows about one producer id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first, at most [`MAX_CACHED_BATCHES`].
    pub batches: VecDeque<BatchMetadata>,
    /// Max timestamp of the producer's last batch; expiry is measured from it.
    pub last_timestamp: i64,
    /// Offset of the first batch of the producer's open transaction.
    pub current_txn_first_offset: Option<i64>,
    /// Epoch of the transaction coordinator that wrote the producer's last marker.
    pub coordinator_epoch: i32,
}

impl ProducerEntry {
    pub fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    fn push(&mut self, epoch: i16, batch: BatchMetadata) {
        if epoch != self.epoch {
            self.batches.clear();
            self.epoch = epoch;
        }
        self.last_timestamp = batch.timestamp;
        // A write without sequence numbers (the coordinator's) has nothing to deduplicate.
        if batch.first_seq < 0 {
            return;
        }
        if self.batches.len() == MAX_CACHED_BATCHES {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
}

/// Why a producer's batch was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerStateError {
    /// The batch's epoch is older than the producer's current one (INVALID_PRODUCER_EPOCH).
    InvalidProducerEpoch { producer_id: i64, epoch: i16, current: i16 },
    /// The batch's first sequence does not follow the last one written (OUT_OF_ORDER_SEQUENCE_NUMBER).
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        expected: Option<i32>,
    },
    /// A plain batch from a producer with an open transaction (INVALID_TXN_STATE).
    ExpectedTransactional { producer_id: i64 },
    /// A marker from an older transaction coordinator (TRANSACTION_COORDINATOR_FENCED).
    CoordinatorFenced { producer_id: i64, epoch: i32, current: i32 },
}

impl fmt::Display for ProducerStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProducerStateError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current,
            } => write!(
                f,
                "Epoch of producer {producer_id} is {epoch}, which is smaller than the last seen epoch {current}"
            ),
            ProducerStateError::OutOfOrderSequence {
                producer_id,
                epoch,
                first_seq,
                expected: Some(expected),
            } => write!(
                f,
                "Out of order sequence number for producer {producer_id} at epoch {epoch}: {first_seq} (incoming seq. number), {expected} (expected seq. number)"
            ),
            ProducerStateError::OutOfOrderSequence {
                producer_id,
                epoch,
                first_seq,
                expected: None,
            } => write!(
                f,
                "Invalid sequence number for new epoch {epoch} of producer {producer_id}: {first_seq} (must be 0)"
            ),
            ProducerStateError::ExpectedTransactional { producer_id } => write!(
                f,
                "Expected transactional write from producer {producer_id}, which has an open transaction"
            ),
            ProducerStateError::CoordinatorFenced {
                producer_id,
                epoch,
                current,
            } => write!(
                f,
                "Marker for producer {producer_id} has coordinator epoch {epoch}, which is smaller than the last seen {current}"
            ),
        }
    }
}

impl std::error::Error for ProducerStateError {}

/// The verdict on one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerCheck {
    /// Not an idempotent batch (no producer id, or a control batch): nothing to track.
    Untracked,
    /// A new batch in sequence: append it, then record it.
    Append,
    /// The same batch as one already written: answer with its offsets, write nothing.
    Duplicate(BatchMetadata),
}

/// The sequence number after `seq`; sequences wrap from `i32::MAX` to 0.
fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

/// The last sequence of a batch whose first sequence is `first` and that spans `delta` more
/// offsets, wrapping like the producer does.
pub fn last_seq_of(first: i32, delta: i32) -> i32 {
    let sum = i64::from(first) + i64::from(delta.max(0));
    if sum > i64::from(i32::MAX) {
        (sum - i64::from(i32::MAX) - 1) as i32
    } else {
        sum as i32
    }
}

/// A transaction closed by its marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
    /// The partition's last stable offset once this transaction is closed.
    pub last_stable_offset: i64,
}

/// Per-partition producer state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerStateManager {
    pub fn new() -> ProducerStateManager {
        ProducerStateManager::default()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every tracked producer, by id: what DescribeProducers reports.
    pub fn active(&self) -> Vec<(i64, ProducerEntry)> {
        let mut all: Vec<_> = self.producers.iter().map(|(id, e)| (*id, e.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Kafka's `findDuplicateBatch` + `ProducerAppendInfo.append` checks for `header`, as if
    /// the `pending` batches of the same append (producer id, epoch, metadata) were already
    /// recorded. Follows Kafka 4: an older epoch is fenced; a newer epoch must start at
    /// sequence 0; within an epoch the first sequence must follow the last one; a producer this
    /// partition has no record of (never seen, or expired) may start at any sequence.
    pub fn check(
        &self,
        header: &BatchHeader,
        pending: &[(i64, i16, BatchMetadata)],
    ) -> Result<ProducerCheck, ProducerStateError> {
        let producer_id = header.producer_id;
        if producer_id < 0 || header.is_control() {
            return Ok(ProducerCheck::Untracked);
        }
        let epoch = header.producer_epoch;
        let first_seq = header.base_sequence;
        let last_seq = last_seq_of(first_seq, header.last_offset_delta);
        let stored = self.producers.get(&producer_id);
        if !header.is_transactional()
            && stored.is_some_and(|e| e.current_txn_first_offset.is_some() && e.epoch == epoch)
        {
            return Err(ProducerStateError::ExpectedTransactional { producer_id });
        }
        // The producer's state with this append's earlier batches applied.
        let pending_last = pending.iter().rev().find(|(id, _, _)| *id == producer_id);
        let (current_epoch, current_last_seq) = match (pending_last, stored) {
            (Some((_, e, b)), _) => (Some(*e), Some(b.last_seq)),
            (None, Some(entry)) => (Some(entry.epoch), entry.last_seq()),
            (None, None) => (None, None),
        };
        // The group coordinator's transactional offset commits carry no sequence numbers: they
        // are never duplicates, and only their epoch is checked, as Kafka checks writes of
        // coordinator origin.
        if first_seq < 0 {
            return match current_epoch {
                Some(current) if epoch < current => Err(ProducerStateError::InvalidProducerEpoch {
                    producer_id,
                    epoch,
                    current,
                }),
                _ => Ok(ProducerCheck::Append),
            };
        }
        if pending_last.is_none()
            && let Some(entry) = stored
            && entry.epoch == epoch
            && let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Ok(ProducerCheck::Duplicate(*dup));
        }
        let Some(current_epoch) = current_epoch else {
            return Ok(ProducerCheck::Append);
        };

        if epoch < current_epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current: current_epoch,
            });
        }
        if epoch != current_epoch {
            if first_seq != 0 {
                return Err(ProducerStateError::OutOfOrderSequence {
                    producer_id,
                    epoch,
                    first_seq,
                    expected: None,
                });
            }
            return Ok(ProducerCheck::Append);
        }
        match current_last_seq {
            Some(last) if next_seq(last) != first_seq => Err(ProducerStateError::OutOfOrderSequence {
                producer_id,
                epoch,
                first_seq,
                expected: Some(next_seq(last)),
            }),
            _ => Ok(ProducerCheck::Append),
        }
    }

    /// Records a written batch (its offsets assigned). Batches without a producer id and
    /// control batches are ignored.
    pub fn update(&mut self, header: &BatchHeader, first_offset: i64, last_offset: i64, timestamp: i64) {
        if header.producer_id < 0 || header.is_control() {
            return;
        }
        let batch = BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: last_seq_of(header.base_sequence, header.last_offset_delta),
            first_offset,
            last_offset,
            timestamp,
        };
        self.record(
            header.producer_id,
            header.producer_epoch,
            batch,
            header.is_transactional(),
        );
    }

    /// Records a written batch; a transactional one opens the producer's transaction if none
    /// is open.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchMetadata, transactional: bool) {
        let entry = self.producers.entry(producer_id).or_insert_with(|| ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: batch.timestamp,
            current_txn_first_offset: None,
            coordinator_epoch: -1,
        });
        entry.push(epoch, batch);
        if transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(batch.first_offset);
            self.ongoing.insert(batch.first_offset, producer_id);
        }
    }

    /// Kafka's checks on a transaction marker: the producer's epoch and the coordinator's epoch
    /// may not go back.
    pub fn check_marker(&self, producer_id: i64, epoch: i16, marker: &EndTxnMarker) -> Result<(), ProducerStateError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if epoch < entry.epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return Err(ProducerStateError::CoordinatorFenced {
                producer_id,
                epoch: marker.coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Applies a written marker at `offset`: closes the producer's transaction and returns it
    /// (`None` when none was open), with the last stable offset once it is closed.
    pub fn complete_txn(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: &EndTxnMarker,
        offset: i64,
        timestamp: i64,
    ) -> Option<CompletedTxn> {
        let entry = self.producers.entry(producer_id).or_insert_with(|| ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: timestamp,
            current_txn_first_offset: None,
            coordinator_epoch: marker.coordinator_epoch,
        });
        if epoch != entry.epoch {
            // A bumped epoch (a fenced producer's transaction aborted) starts sequences afresh.
            entry.batches.clear();
            entry.epoch = epoch;
        }
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_timestamp = entry.last_timestamp.max(timestamp);
        let first_offset = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        Some(CompletedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
            aborted: marker.kind == ControlRecordType::Abort,
            last_stable_offset: self.first_unstable_offset().unwrap_or(offset + 1),
        })
    }

    /// The first offset of the oldest open transaction: nothing at or past it is stable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The open transactions as (first offset, producer id), oldest first.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.ongoing.iter().map(|(o, p)| (*o, *p)).collect()
    }

    /// Forgets producers whose last batch is older than `expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`). Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        // A producer with an open transaction stays until the transaction ends.
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some() || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Encodes the state as a snapshot file body.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.producers.len() * (ENTRY_HEADER_BYTES + BATCH_BYTES));
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        body.extend_from_slice(&(ids.len() as i32).to_be_bytes());
        for id in ids {
            let Some(entry) = self.producers.get(id) else { continue };
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
            body.extend_from_slice(&entry.last_timestamp.to_be_bytes());
            body.extend_from_slice(&entry.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
            body.push(entry.batches.len() as u8);
            for b in &entry.batches {
                body.extend_from_slice(&b.first_seq.to_be_bytes());
                body.extend_from_slice(&b.last_seq.to_be_bytes());
                body.extend_from_slice(&b.first_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset.to_be_bytes());
                body.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(6 + body.len());
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a snapshot file; `None` if it is torn, corrupt or of another version.
    pub fn decode(bytes: &[u8]) -> Option<ProducerStateManager> {
        let version = u16::from_be_bytes(bytes.get(0..2)?.try_into().ok()?);
        let crc = u32::from_be_bytes(bytes.get(2..6)?.try_into().ok()?);
        let body = bytes.get(6..)?;
        if !(version == SNAPSHOT_VERSION || version == SNAPSHOT_VERSION_WITHOUT_TXNS) || crc32c::crc32c(body) != crc {
            return None;
        }
        let with_txns = version == SNAPSHOT_VERSION;
        let mut r = Reader { buf: body, pos: 0 };
        let count = r.i32()?;
        let mut producers = HashMap::with_capacity(usize::try_from(count).ok()?.min(1 << 16));
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let last_timestamp = r.i64()?;
            let (current_txn_first_offset, coordinator_epoch) = if with_txns {
                (Some(r.i64()?).filter(|o| *o >= 0), r.i32()?)
            } else {
                (None, -1)
            };
            let n = r.u8()?;
            let mut batches = VecDeque::with_capacity(usize::from(n));
            for _ in 0..n {
                batches.push_back(BatchMetadata {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    timestamp: r.i64()?,
                });
            }
            while batches.len() > MAX_CACHED_BATCHES {
                batches.pop_front();
            }
            producers.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_timestamp,
                    current_txn_first_offset,
                    coordinator_epoch,
                },
            );
        }
        let ongoing = producers
            .iter()
            .filter_map(|(id, e)| e.current_txn_first_offset.map(|o| (o, *id)))
            .collect();
        (r.pos == body.len()).then_some(ProducerStateManager { producers, ongoing })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        bytes.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

/// `<offset:020>.snapshot` in `dir`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_FILE_SUFFIX}"))
}

/// The offsets of the snapshot files in `dir`, ascending.
pub fn list_snapshots(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name
            .strip_suffix(SNAPSHOT_FILE_SUFFIX)
            .and_then(|s| s.strip_suffix('.'))
        else {
            continue;
        };
        if stem.len() == 20
            && let Ok(offset) = stem.parse::<i64>()
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Writes the snapshot of `state` at `offset` (temp file, rename). With `sync` the file is
/// fsynced before the rename; the caller fsyncs the directory.
pub fn write_snapshot(dir: &Path, offset: i64, state: &ProducerStateManager, sync: bool) -> io::Result<()> {
    let path = snapshot_path(dir, offset);
    let tmp = path.with_extension("snapshot.tmp");
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&state.encode())?;
        if sync {
            file.sync_all()?;
        }
    }
    fs::rename(&tmp, &path)
}

/// Removes the snapshots in `dir` whose offset `remove` selects.
pub fn remove_snapshots(dir: &Path, mut remove: impl FnMut(i64) -> bool) -> io::Result<bool> {
    let mut removed = false;
    for offset in list_snapshots(dir)? {
        if remove(offset) {
            match fs::remove_file(snapshot_path(dir, offset)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => removed = true,
            }
        }
    }
    Ok(removed)
}

/// The newest readable snapshot in `dir` at or below `max_offset`, as (offset, state);
/// unreadable ones are removed on the way.
pub fn load_latest_snapshot(dir: &Path, max_offset: i64) -> io::Result<Option<(i64, ProducerStateManager)>> {
    for offset in list_snapshots(dir)?.into_iter().rev().filter(|&o| o <= max_offset) {
        let path = snapshot_path(dir, offset);
        match fs::read(&path).ok().and_then(|b| ProducerStateManager::decode(&b)) {
            Some(state) => return Ok(Some((offset, state))),
            None => {
                tracing::warn!(file = %path.display(), "ignoring unreadable producer state snapshot");
                let _ = fs::remove_file(&path);
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Compression, RecordBatchBuilder};

    fn header(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let mut b = RecordBatchBuilder::new(Compression::None).producer(pid, epoch, seq);
        for i in 0..n {
            b.append(i as i64, None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.build()).unwrap()
    }

    fn append(state: &mut ProducerStateManager, h: &BatchHeader, offset: i64) -> ProducerCheck {
        let check = state.check(h, &[]).unwrap();
        if check == ProducerCheck::Append {
            state.update(h, offset, offset + i64::from(h.last_offset_delta), 100);
        }
        check
    }

    #[test]
    fn sequences_duplicates_and_fencing() {
        let mut s = ProducerStateManager::new();
        assert_eq!(s.check(&header(-1, -1, -1, 3), &[]).unwrap(), ProducerCheck::Untracked);
        // An unknown producer may start anywhere (its state may have expired).
        assert_eq!(append(&mut s, &header(7, 0, 10, 3), 0), ProducerCheck::Append);
        assert_eq!(append(&mut s, &header(7, 0, 13, 2), 3), ProducerCheck::Append);
        // A retry of either cached batch is a duplicate with its original offsets.
        match s.check(&header(7, 0, 10, 3), &[]).unwrap() {
            ProducerCheck::Duplicate(b) => assert_eq!((b.first_offset, b.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(s.check(&header(7, 0, 13, 2), &[]).unwrap(), ProducerCheck::Duplicate(b) if b.first_offset == 3)
        );
        // A gap, or a overlap that is not an exact retry.
        assert!(matches!(
            s.check(&header(7, 0, 16, 1), &[]),
            Err(ProducerStateError::OutOfOrderSequence { expected: Some(15), .. })
        ));
        assert!(matches!(
            s.check(&header(7, 0, 14, 1), &[]),
            Err(ProducerStateError::OutOfOrderSequence { .. })
        ));
        // A new epoch starts at 0; an older one is fenced.
        assert!(matches!(
            s.check(&header(7, 1, 15, 1), &[]),
            Err(ProducerStateError::OutOfOrderSequence { expected: None, .. })
        ));
        assert_eq!(append(&mut s, &header(7, 1, 0, 1), 5), ProducerCheck::Append);
        assert!(matches!(
            s.check(&header(7, 0, 15, 1), &[]),
            Err(ProducerStateError::InvalidProducerEpoch { current: 1, .. })
        ));
        // The old epoch's batches are forgotten: their retry is fenced, not a duplicate.
        assert!(matches!(
            s.check(&header(7, 0, 13, 2), &[]),
            Err(ProducerStateError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(s.entry(7).unwrap().batches.len(), 1);
    }

    #[test]
    fn only_five_batches_are_cached_and_sequences_wrap() {
        let mut s = ProducerStateManager::new();
        let mut seq = 0;
        for i in 0..7 {
            assert_eq!(append(&mut s, &header(1, 0, seq, 2), i * 2), ProducerCheck::Append);
            seq += 2;
        }
        assert_eq!(s.entry(1).unwrap().batches.len(), MAX_CACHED_BATCHES);
        // The first two batches fell out of the cache: their retry is out of order.
        assert!(s.check(&header(1, 0, 0, 2), &[]).is_err());
        assert!(matches!(
            s.check(&header(1, 0, 4, 2), &[]).unwrap(),
            ProducerCheck::Duplicate(_)
        ));

        let mut s = ProducerStateManager::new();
        assert_eq!(append(&mut s, &header(2, 0, i32::MAX - 1, 2), 0), ProducerCheck::Append);
        assert_eq!(s.entry(2).unwrap().batches[0].last_seq, i32::MAX);
        assert_eq!(append(&mut s, &header(2, 0, 0, 3), 2), ProducerCheck::Append);
        assert_eq!(last_seq_of(i32::MAX, 2), 1);
        assert_eq!(append(&mut s, &header(2, 0, 3, 1), 5), ProducerCheck::Append);
    }

    #[test]
    fn writes_without_sequences_are_never_duplicates() {
        let mut s = ProducerStateManager::new();
        for offset in 0..3 {
            assert_eq!(append(&mut s, &header(9, 2, -1, 1), offset), ProducerCheck::Append);
        }
        assert!(s.entry(9).unwrap().batches.is_empty());
        assert!(matches!(
            s.check(&header(9, 1, -1, 1), &[]),
            Err(ProducerStateError::InvalidProducerEpoch { current: 2, .. })
        ));
    }

    #[test]
    fn pending_batches_of_one_append_count() {
        let mut s = ProducerStateManager::new();
        append(&mut s, &header(3, 0, 0, 1), 0);
        let b = BatchMetadata {
            first_seq: 1,
            last_seq: 2,
            first_offset: 1,
            last_offset: 2,
            timestamp: 0,
        };
        assert_eq!(
            s.check(&header(3, 0, 3, 1), &[(3, 0, b)]).unwrap(),
            ProducerCheck::Append
        );
        assert!(s.check(&header(3, 0, 1, 1), &[(3, 0, b)]).is_err());
    }

    #[test]
    fn snapshot_round_trip_and_corruption() {
        let mut s = ProducerStateManager::new();
        for pid in 0..20 {
            for k in 0..(pid % 7) {
                append(&mut s, &header(pid, (pid % 3) as i16, k as i32, 1), pid * 100 + k);
            }
        }
        let bytes = s.encode();
        assert_eq!(ProducerStateManager::decode(&bytes).unwrap(), s);
        for cut in [0, 1, 5, bytes.len() - 1] {
            assert!(ProducerStateManager::decode(&bytes[..cut]).is_none());
        }
        let mut flipped = bytes.clone();
        flipped[10] ^= 1;
        assert!(ProducerStateManager::decode(&flipped).is_none());

        let dir = tempfile::tempdir().unwrap();
        write_snapshot(dir.path(), 40, &s, true).unwrap();
        write_snapshot(dir.path(), 90, &ProducerStateManager::new(), false).unwrap();
        fs::write(snapshot_path(dir.path(), 100), b"junk").unwrap();
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![40, 90, 100]);
        assert_eq!(load_latest_snapshot(dir.path(), 200).unwrap().unwrap().0, 90);
        assert!(!snapshot_path(dir.path(), 100).exists(), "unreadable snapshot removed");
        assert_eq!(load_latest_snapshot(dir.path(), 89).unwrap().unwrap(), (40, s.clone()));
        assert!(load_latest_snapshot(dir.path(), 39).unwrap().is_none());
        remove_snapshots(dir.path(), |o| o < 90).unwrap();
        assert_eq!(list_snapshots(dir.path()).unwrap(), vec![90]);

        let n = s.len();
        assert_eq!(s.expire(1000, 500), n);
        assert!(s.is_empty());
    }
}
