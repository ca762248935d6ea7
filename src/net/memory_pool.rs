//! The request memory pool (Kafka's `queued.max.request.bytes`): every request's bytes are
//! counted against one broker-wide budget from the moment they arrive until the request has
//! been handled. A connection whose next bytes do not fit waits, so what clients send at once
//! cannot exhaust memory. A frame takes from the pool chunk by chunk as its bytes arrive, not
//! the size its length prefix claims: a client that claims a large frame and sends nothing
//! holds nothing.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct MemoryPool {
    /// `None`: unbounded (Kafka's -1).
    budget: Option<(Arc<Semaphore>, usize)>,
}

/// Bytes held from the pool; returned when dropped.
#[derive(Default)]
pub struct PoolLease {
    permit: Option<OwnedSemaphorePermit>,
}

impl MemoryPool {
    /// A pool of `bytes`; zero or negative means unbounded.
    pub fn new(bytes: i64) -> MemoryPool {
        let budget = usize::try_from(bytes)
            .ok()
            .filter(|b| *b > 0)
            .map(|b| b.min(u32::MAX as usize).min(Semaphore::MAX_PERMITS));
        MemoryPool {
            budget: budget.map(|b| (Arc::new(Semaphore::new(b)), b)),
        }
    }

    /// Waits until `lease` can hold `bytes` in all, taking what it lacks from the pool. A lease
    /// never grows past the whole pool, so one frame larger than the pool still runs, once it
    /// has the pool to itself.
    pub async fn grow_to(&self, lease: &mut PoolLease, bytes: usize) {
        let Some((semaphore, capacity)) = &self.budget else {
            return;
        };
        let held = lease.permit.as_ref().map_or(0, |p| p.num_permits());
        let wanted = bytes.min(*capacity).saturating_sub(held);
        if wanted == 0 {
            return;
        }
        // The semaphore is never closed, so acquiring only waits.
        let Ok(more) = semaphore.clone().acquire_many_owned(wanted as u32).await else {
            return;
        };
        match &mut lease.permit {
            Some(permit) => permit.merge(more),
            None => lease.permit = Some(more),
        }
    }
}
