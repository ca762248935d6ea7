//! The accept loop: bounded by `max.connections` (further connections wait) and
//! `max.connections.per.ip` (further ones from that address are closed at once, as Kafka does),
//! stopped by the shutdown signal, and waiting on shutdown until every connection has written
//! the replies it owes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::connection::{self, ConnectionLimits};
use crate::api::ApiHandler;

pub struct Listener {
    pub listener: TcpListener,
    pub api: Arc<ApiHandler>,
    pub limits: Arc<ConnectionLimits>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

/// Open connections per client address.
#[derive(Default)]
struct PerIpCounts(Mutex<HashMap<IpAddr, usize>>);

impl PerIpCounts {
    /// Counts a new connection from `ip` unless that address is at `limit`.
    fn try_add(&self, ip: IpAddr, limit: usize) -> bool {
        let mut counts = self.0.lock();
        let count = counts.entry(ip).or_default();
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    fn remove(&self, ip: IpAddr) {
        let mut counts = self.0.lock();
        if let Some(count) = counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// How often refused connections are reported: a client reconnecting in a loop would
/// otherwise fill the log.
const REFUSAL_REPORT_INTERVAL: Duration = Duration::from_secs(10);

impl Listener {
    /// Accepts until `shutdown` turns true, then waits for open connections to finish.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
        // Every connection task holds a sender; when all are dropped, they have all ended.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let per_ip = Arc::new(PerIpCounts::default());
        let mut refused = 0u64;
        let mut last_report: Option<Instant> = None;
        loop {
            let permit = tokio::select! {
                _ = shutdown.changed() => break,
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let accepted = tokio::select! {
                _ = shutdown.changed() => break,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            if !per_ip.try_add(peer.ip(), self.max_connections_per_ip) {
                refused += 1;
                if last_report.is_none_or(|t| t.elapsed() >= REFUSAL_REPORT_INTERVAL) {
                    tracing::warn!(
                        ip = %peer.ip(),
                        limit = self.max_connections_per_ip,
                        refused,
                        "closing connections over max.connections.per.ip"
                    );
                    last_report = Some(Instant::now());
                    refused = 0;
                }
                drop(stream);
                continue;
            }
            tracing::debug!(%peer, "accepted connection");
            let per_ip = per_ip.clone();
            let api = self.api.clone();
            let limits = self.limits.clone();
            let shutdown = shutdown.clone();
            let done = done_tx.clone();
            tokio::spawn(async move {
                connection::serve(stream, peer, api, limits, shutdown).await;
                per_ip.remove(peer.ip());
                drop(permit);
                drop(done);
            });
        }
        drop(self.listener);
        drop(done_tx);
        let _ = done_rx.recv().await;
    }
}
