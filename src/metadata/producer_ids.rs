//! Producer ids for InitProducerId: Kafka's `ProducerIdManager` on one node.
//!
//! Ids are handed out from blocks of [`BLOCK_SIZE`]. Before the first id of a block is given
//! out, the end of that block is written to `producer-id-block` in the data directory (temp
//! file, fsync, rename, fsync of the directory), so after any restart, clean or not, allocation
//! resumes past every id that may have been issued and no id is ever reused.
//!
//! KIP-360: a producer without a transactional id may ask (InitProducerId v3+) to bump the
//! epoch of the id it holds. When that id and epoch are the latest this broker issued for it,
//! the answer is the same id with the next epoch (a new id when the epoch would overflow);
//! otherwise it gets a fresh id, as Kafka gives every idempotent producer.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

pub const PRODUCER_ID_FILE: &str = "producer-id-block";
pub const BLOCK_SIZE: i64 = 1000;
/// Issued ids remembered for epoch bumps; the oldest are forgotten past this.
const MAX_REMEMBERED: usize = 100_000;

struct State {
    next: i64,
    /// First id not covered by the persisted block.
    block_end: i64,
    /// Latest epoch issued per id.
    epochs: BTreeMap<i64, i16>,
}

pub struct ProducerIdManager {
    path: PathBuf,
    state: Mutex<State>,
}

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl ProducerIdManager {
    /// Reads the persisted block end in `data_dir` (none: ids start at 0).
    pub fn open(data_dir: &Path) -> io::Result<ProducerIdManager> {
        let path = data_dir.join(PRODUCER_ID_FILE);
        let block_end = match fs::read_to_string(&path) {
            Ok(text) => {
                let mut lines = text.lines();
                if lines.next() != Some("0") {
                    return Err(invalid(format!("{}: unknown version", path.display())));
                }
                lines
                    .next()
                    .and_then(|l| l.trim().parse::<i64>().ok())
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid(format!("{}: no block end", path.display())))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIdManager {
            path,
            state: Mutex::new(State {
                next: block_end,
                block_end,
                epochs: BTreeMap::new(),
            }),
        })
    }

    fn persist(&self, block_end: i64) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(format!("0\n{block_end}\n").as_bytes())?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn allocate(&self, state: &mut State) -> io::Result<i64> {
        if state.next >= state.block_end {
            let end = state
                .next
                .checked_add(BLOCK_SIZE)
                .ok_or_else(|| invalid("producer ids exhausted".into()))?;
            self.persist(end)?;
            state.block_end = end;
        }
        let id = state.next;
        state.next += 1;
        state.epochs.insert(id, 0);
        while state.epochs.len() > MAX_REMEMBERED {
            state.epochs.pop_first();
        }
        Ok(id)
    }

    /// A new producer id with epoch 0. May fsync: call off the async workers.
    pub fn new_producer(&self) -> io::Result<(i64, i16)> {
        let mut state = self.state.lock();
        Ok((self.allocate(&mut state)?, 0))
    }

    /// KIP-360: the next epoch of `producer_id` if `epoch` is its latest; otherwise (or on
    /// epoch overflow) a new id. May fsync.
    pub fn bump(&self, producer_id: i64, epoch: i16) -> io::Result<(i64, i16)> {
        let mut state = self.state.lock();
        if let Some(current) = state.epochs.get_mut(&producer_id)
            && *current == epoch
            && epoch < i16::MAX - 1
        {
            *current = epoch + 1;
            return Ok((producer_id, epoch + 1));
        }
        Ok((self.allocate(&mut state)?, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts_and_epochs_bump() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.new_producer().unwrap(), (0, 0));
        assert_eq!(m.new_producer().unwrap(), (1, 0));
        assert_eq!(m.bump(1, 0).unwrap(), (1, 1));
        assert_eq!(m.bump(1, 1).unwrap(), (1, 2));
        // A stale epoch or an id not issued here gets a new id.
        assert_eq!(m.bump(1, 0).unwrap(), (2, 0));
        assert_eq!(m.bump(777, 3).unwrap(), (3, 0));
        drop(m);
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.new_producer().unwrap(), (BLOCK_SIZE, 0));
        for _ in 0..BLOCK_SIZE {
            m.new_producer().unwrap();
        }
        drop(m);
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.new_producer().unwrap().0, 3 * BLOCK_SIZE);
        // Overflowing the epoch gives a new id.
        let id = m.new_producer().unwrap().0;
        m.state.lock().epochs.insert(id, i16::MAX - 1);
        assert_ne!(m.bump(id, i16::MAX - 1).unwrap().0, id);

        fs::write(dir.path().join(PRODUCER_ID_FILE), "garbage").unwrap();
        assert!(ProducerIdManager::open(dir.path()).is_err());
    }
}
