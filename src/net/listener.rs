//! The accept loop: bounded by `max.connections`, stopped by the shutdown signal, and
//! waiting on shutdown until every connection has written the replies it owes.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::connection::{self, ConnectionLimits};
use crate::api::ApiHandler;

pub struct Listener {
    pub listener: TcpListener,
    pub api: Arc<ApiHandler>,
    pub limits: Arc<ConnectionLimits>,
    pub max_connections: usize,
}

impl Listener {
    /// Accepts until `shutdown` turns true, then waits for open connections to finish.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
        // Every connection task holds a sender; when all are dropped, they have all ended.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
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
            tracing::debug!(%peer, "accepted connection");
            let api = self.api.clone();
            let limits = self.limits.clone();
            let shutdown = shutdown.clone();
            let done = done_tx.clone();
            tokio::spawn(async move {
                connection::serve(stream, peer, api, limits, shutdown).await;
                drop(permit);
                drop(done);
            });
        }
        drop(self.listener);
        drop(done_tx);
        let _ = done_rx.recv().await;
    }
}
