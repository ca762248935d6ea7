//! Per partition, the produces waiting for the codec pool or behind one, in arrival order:
//! a produce takes a turn on the connection task as it arrives, and appends only once the
//! previous turn on that partition has finished. A connection's produces to a partition are
//! therefore appended in the order it sent them (which idempotent producers' sequence numbers
//! need), however long one batch's codec work takes. A partition with no turn pending appends
//! at once, as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::log::PartitionLog;

/// The last turn taken per partition (keyed by its log's address, which stays valid
/// while the turn's job holds the log): its ticket and the signal of its end.
static LAST_TURN: LazyLock<Mutex<HashMap<usize, LastTurn>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// A turn's ticket and the signal that it has finished.
type LastTurn = (u64, oneshot::Receiver<()>);
static NEXT_TICKET: AtomicU64 = AtomicU64::new(0);

pub(super) struct Turn {
    key: usize,
    ticket: u64,
    previous: Option<oneshot::Receiver<()>>,
    /// Never sent: dropped with the turn, which is what wakes the next one.
    _done: oneshot::Sender<()>,
}

fn key(log: &Arc<PartitionLog>) -> usize {
    Arc::as_ptr(log) as usize
}

pub(super) fn is_busy(log: &Arc<PartitionLog>) -> bool {
    LAST_TURN.lock().contains_key(&key(log))
}

pub(super) fn take_turn(log: &Arc<PartitionLog>) -> Turn {
    let key = key(log);
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    let (done, signal) = oneshot::channel();
    let previous = LAST_TURN.lock().insert(key, (ticket, signal)).map(|(_, s)| s);
    Turn {
        key,
        ticket,
        previous,
        _done: done,
    }
}

impl Turn {
    /// Waits until the previous turn on the partition has finished (or was dropped).
    pub(super) async fn wait(mut self) -> Turn {
        if let Some(previous) = self.previous.take() {
            let _ = previous.await;
        }
        self
    }

    /// Lets the next turn go; the last turn leaves the partition idle.
    pub(super) fn finish(self) {
        drop(self);
    }
}

/// A turn ends when it is dropped, however its job ended (a panicked append included): its
/// signal's sender goes with it, which wakes the next turn.
impl Drop for Turn {
    fn drop(&mut self) {
        let mut last = LAST_TURN.lock();
        if last.get(&self.key).is_some_and(|(ticket, _)| *ticket == self.ticket) {
            last.remove(&self.key);
        }
    }
}
