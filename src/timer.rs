//! Periodic background tasks of the coordinators: run a task on an interval until a stop
//! signal, skipping ticks missed while a run was slow rather than bursting to catch up.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Spawns a task that runs `task` every `period`, the first time after `first`, until `stop`
/// changes.
pub fn every<F, Fut>(first: Duration, period: Duration, mut stop: watch::Receiver<bool>, mut task: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => task().await,
                _ = stop.changed() => break,
            }
        }
    })
}
