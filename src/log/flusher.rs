//! The flusher thread: every fsync of partition data happens here, off the async workers.
//!
//! Group commit: producers waiting for durability (`acks=all`) queue their log and park on its
//! durable-offset watch. The thread takes everything queued, fsyncs each distinct log once, and
//! each flush publishes the log end offset it started from as durable, waking every waiter it
//! covers at once. Requests that arrive while an fsync runs are served by the next round, so
//! one fsync pays for all the writes that arrived during the previous one.
//!
//! Between requests the thread runs a periodic task (time-based flushes, checkpoints).
//!
//! Flushes may also be asked for a little later ([`Flusher::request_within`]): data written
//! with acks=0/1 becomes visible to consumers only once fsynced, and a short delay lets one
//! fsync cover more of it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::PartitionLog;

struct Queue {
    pending: Vec<Arc<PartitionLog>>,
    /// Flushes asked for by a deadline, earliest first once sorted.
    deferred: Vec<(Instant, Arc<PartitionLog>)>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

pub struct Flusher {
    shared: Arc<Shared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    /// Starts the thread. `periodic` runs about every `tick` on the flusher thread.
    pub fn start(tick: Duration, periodic: impl FnMut() + Send + 'static) -> std::io::Result<Flusher> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                deferred: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("log-flusher".into())
            .spawn(move || run(&thread_shared, tick, periodic))?;
        Ok(Flusher {
            shared,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Asks for `log` to be fsynced in the next round.
    pub fn request(&self, log: &Arc<PartitionLog>) {
        let mut queue = self.shared.queue.lock();
        if queue.stop {
            return;
        }
        if !queue.pending.iter().any(|l| Arc::ptr_eq(l, log)) {
            queue.pending.push(log.clone());
        }
        drop(queue);
        self.shared.wake.notify_one();
    }

    /// Asks for `log` to be fsynced within `delay` (at once if zero); a log already waiting
    /// keeps its earlier deadline.
    pub fn request_within(&self, log: &Arc<PartitionLog>, delay: Duration) {
        if delay.is_zero() {
            return self.request(log);
        }
        let mut queue = self.shared.queue.lock();
        if queue.stop
            || queue.pending.iter().any(|l| Arc::ptr_eq(l, log))
            || queue.deferred.iter().any(|(_, l)| Arc::ptr_eq(l, log))
        {
            return;
        }
        queue.deferred.push((Instant::now() + delay, log.clone()));
        drop(queue);
        self.shared.wake.notify_one();
    }

    /// Serves what is queued, then stops the thread and waits for it. Idempotent.
    pub fn stop(&self) {
        self.shared.queue.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(handle) = self.handle.lock().take()
            && handle.join().is_err()
        {
            tracing::error!("log flusher thread panicked");
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, tick: Duration, mut periodic: impl FnMut()) {
    let mut next_tick = Instant::now() + tick;
    loop {
        let (batch, stop) = {
            let mut queue = shared.queue.lock();
            loop {
                let now = Instant::now();
                // Deferred flushes that are due join this round.
                let mut i = 0;
                while i < queue.deferred.len() {
                    if queue.deferred[i].0 <= now || queue.stop {
                        let (_, log) = queue.deferred.swap_remove(i);
                        if !queue.pending.iter().any(|l| Arc::ptr_eq(l, &log)) {
                            queue.pending.push(log);
                        }
                    } else {
                        i += 1;
                    }
                }
                if !queue.pending.is_empty() || queue.stop {
                    break;
                }
                let wake_at = queue
                    .deferred
                    .iter()
                    .map(|(at, _)| *at)
                    .min()
                    .map_or(next_tick, |at| at.min(next_tick));
                if shared.wake.wait_until(&mut queue, wake_at).timed_out() && Instant::now() >= next_tick {
                    break;
                }
            }
            (std::mem::take(&mut queue.pending), queue.stop)
        };
        for log in &batch {
            let started = Instant::now();
            match log.flush() {
                Ok(()) => crate::metrics::registry().log_flush().observe(started.elapsed()),
                Err(e) => {
                    tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "log flush failed")
                }
            }
        }
        if stop {
            return;
        }
        if Instant::now() >= next_tick {
            periodic();
            next_tick = Instant::now() + tick;
        }
    }
}
