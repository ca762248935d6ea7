//! The flusher threads: every fsync of partition data happens here, off the async workers.
//!
//! Group commit: producers waiting for durability (`acks=all`) queue their log and park on its
//! durable-offset watch. A flusher thread takes a queued log, fsyncs it, and publishes the log
//! end offset it started from as durable, waking every waiter it covers at once. Requests for
//! a log that arrive while it is being fsynced are served by its next round, so one fsync pays
//! for all the writes that arrived during the previous one.
//!
//! [`FLUSH_THREADS`] threads fsync different logs at once: a produce request to several
//! partitions waits for one fsync's time, not one per partition (the device queues them side
//! by side, and ext4 folds concurrent fsyncs into one journal commit). A log is fsynced by one
//! thread at a time.
//!
//! The first thread also runs a periodic task between flushes (time-based flushes,
//! checkpoints); the others keep serving requests meanwhile.
//!
//! Flushes may also be asked for a little later ([`Flusher::request_within`]): data written
//! with acks=0/1 becomes visible to consumers only once fsynced, and a short delay lets one
//! fsync cover more of it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{LogError, PartitionLog};

/// How many logs are fsynced at once.
pub const FLUSH_THREADS: usize = 4;

struct Queue {
    pending: Vec<Arc<PartitionLog>>,
    /// Logs a thread is fsyncing now; a request for one of them waits in `pending`.
    in_flight: Vec<Arc<PartitionLog>>,
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
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Flusher {
    /// Starts the threads. `periodic` runs about every `tick` on the first of them.
    pub fn start(tick: Duration, periodic: impl FnMut() + Send + 'static) -> std::io::Result<Flusher> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                in_flight: Vec::new(),
                deferred: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let flusher = Flusher {
            shared: shared.clone(),
            handles: Mutex::new(Vec::with_capacity(FLUSH_THREADS)),
        };
        let mut periodic: Option<Box<dyn FnMut() + Send>> = Some(Box::new(periodic));
        for i in 0..FLUSH_THREADS {
            let thread_shared = shared.clone();
            let thread_periodic = periodic.take();
            let handle = std::thread::Builder::new()
                .name(format!("log-flusher-{i}"))
                .spawn(move || run(&thread_shared, tick, thread_periodic));
            match handle {
                Ok(h) => flusher.handles.lock().push(h),
                Err(e) => {
                    flusher.stop();
                    return Err(e);
                }
            }
        }
        Ok(flusher)
    }

    /// Asks for `log` to be fsynced in the next round.
    pub fn request(&self, log: &Arc<PartitionLog>) {
        let mut queue = self.shared.queue.lock();
        if queue.stop {
            return;
        }
        if queue.pending.iter().any(|l| Arc::ptr_eq(l, log)) {
            return;
        }
        queue.pending.push(log.clone());
        // A log being fsynced is taken up again by the thread fsyncing it, when it is done;
        // waking another thread for it would only put that one back to sleep.
        let in_flight = queue.in_flight.iter().any(|l| Arc::ptr_eq(l, log));
        drop(queue);
        if !in_flight {
            self.shared.wake.notify_one();
        }
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

    /// Serves what is queued, then stops the threads and waits for them. Idempotent.
    pub fn stop(&self) {
        self.shared.queue.lock().stop = true;
        self.shared.wake.notify_all();
        for handle in std::mem::take(&mut *self.handles.lock()) {
            if handle.join().is_err() {
                tracing::error!("log flusher thread panicked");
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Times a finished fsync of `log` (begun at `started`), or says why it failed; the log has
/// failed itself already, so its waiters learn of it.
pub(super) fn report_flush(log: &PartitionLog, started: Instant, result: Result<(), LogError>) {
    match result {
        Ok(()) => crate::metrics::registry().log_flush().observe(started.elapsed()),
        Err(e) => {
            tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "log flush failed")
        }
    }
}

/// What a flusher thread does next.
enum Job {
    Flush(Arc<PartitionLog>),
    Periodic,
    Stop,
}

fn run(shared: &Shared, tick: Duration, mut periodic: Option<Box<dyn FnMut() + Send>>) {
    let mut next_tick = Instant::now() + tick;
    loop {
        let job = next_job(shared, periodic.is_some().then_some(next_tick));
        match job {
            Job::Flush(log) => {
                let started = Instant::now();
                report_flush(&log, started, log.flush());
                // A request for this log that came in meanwhile is this thread's next job:
                // nobody else needs waking.
                shared.queue.lock().in_flight.retain(|l| !Arc::ptr_eq(l, &log));
            }
            Job::Periodic => {
                if let Some(task) = periodic.as_mut() {
                    task();
                }
                next_tick = Instant::now() + tick;
            }
            Job::Stop => return,
        }
    }
}

/// Waits for work: a queued log no other thread is fsyncing, the periodic task once
/// `next_tick` passes (on the thread that runs it), or the stop once nothing is queued.
fn next_job(shared: &Shared, next_tick: Option<Instant>) -> Job {
    let mut queue = shared.queue.lock();
    loop {
        let now = Instant::now();
        // Deferred flushes that are due join the queue.
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
        let queue_ref = &*queue;
        if let Some(at) = queue_ref
            .pending
            .iter()
            .position(|l| !queue_ref.in_flight.iter().any(|f| Arc::ptr_eq(f, l)))
        {
            let log = queue.pending.remove(at);
            queue.in_flight.push(log.clone());
            return Job::Flush(log);
        }
        if queue.stop && queue.pending.is_empty() {
            return Job::Stop;
        }
        if next_tick.is_some_and(|t| now >= t) && !queue.stop {
            return Job::Periodic;
        }
        let deadline = queue.deferred.iter().map(|(at, _)| *at).min();
        let wake_at = match (deadline, next_tick) {
            (Some(d), Some(t)) => d.min(t),
            (Some(d), None) => d,
            (None, Some(t)) => t,
            (None, None) => now + Duration::from_secs(3600),
        };
        shared.wake.wait_until(&mut queue, wake_at);
    }
}
