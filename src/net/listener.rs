//! The accept loop: bounded by `max.connections` (further connections wait),
//! `max.connections.per.ip` (further ones from that address are closed at once, as Kafka does)
//! and the connection creation rates (`quota::connection_quotas`), stopped by the shutdown
//! signal, and waiting on shutdown until every connection has written the replies it owes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, mpsc, watch};

use super::connection::{self, ConnectionLimits};
use crate::api::ApiHandler;
use crate::metrics::Gauge;
use crate::quota::connection_quotas::{ConnectionQuotas, ip_quota};
use crate::security::ListenerSecurity;

/// Queued connections the kernel holds before `accept` (tokio's own default).
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listening socket with Kafka's `socket.send.buffer.bytes` and
/// `socket.receive.buffer.bytes` (None: the operating system's default); its connections
/// inherit both. Left to Linux's autotuning, a connection's send buffer grows to megabytes,
/// and a fetch's `sendfile` then queues most of a response at once: the consumer, reading it
/// over loopback, pays in its own `recvmsg` for transmitting the broker's queued segments to
/// itself, and read 1 KiB records 30 % slower than with Kafka's 100 KiB.
pub fn bind(addr: SocketAddr, send_buffer: Option<u32>, receive_buffer: Option<u32>) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As TcpListener::bind: a restarted broker can bind while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    if let Some(bytes) = send_buffer {
        socket.set_send_buffer_size(bytes)?;
    }
    if let Some(bytes) = receive_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

pub struct Listener {
    /// Bound sockets, one per named listener; a connection knows which one it came through
    /// (its index here), so Metadata can answer with that listener's advertised address.
    pub listeners: Vec<TcpListener>,
    /// How each listener's clients authenticate, in `listeners` order.
    pub security: Vec<Arc<ListenerSecurity>>,
    /// Open connections of each listener, in `listeners` order.
    pub open_connections: Vec<Arc<Gauge>>,
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
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(self.max_connections.clamp(1, Semaphore::MAX_PERMITS))),
            per_ip: PerIpCounts::default(),
            refusals: Mutex::new((0, None)),
            connection_quotas: ConnectionQuotas::new(crate::quota::QuotaWindow::from_config(&self.api.config)),
            api: self.api,
            limits: self.limits,
            max_connections_per_ip: self.max_connections_per_ip,
        });
        // Every connection task holds a sender; when all are dropped, they have all ended.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut gauges = self.open_connections.into_iter();
        let mut security = self.security.into_iter();
        let accept_loops: Vec<_> = self
            .listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| {
                tokio::spawn(accept_loop(
                    listener,
                    index,
                    security
                        .next()
                        .unwrap_or_else(|| Arc::new(ListenerSecurity::plaintext("PLAINTEXT"))),
                    gauges.next().unwrap_or_default(),
                    shared.clone(),
                    shutdown.clone(),
                    done_tx.clone(),
                ))
            })
            .collect();
        drop(done_tx);
        for accept in accept_loops {
            let _ = accept.await;
        }
        let _ = done_rx.recv().await;
    }
}

/// What every listener's accept loop shares: the broker-wide connection limits.
struct Shared {
    permits: Arc<Semaphore>,
    per_ip: PerIpCounts,
    /// Connections refused since the last report, and when that was.
    refusals: Mutex<(u64, Option<Instant>)>,
    api: Arc<ApiHandler>,
    limits: Arc<ConnectionLimits>,
    max_connections_per_ip: usize,
    connection_quotas: ConnectionQuotas,
}

impl Shared {
    /// Applies the connection creation rates to a connection just accepted on `listener`:
    /// waits out the broker's or listener's throttle, then `false` if the client's IP
    /// address is over its quota (the connection is then closed after its throttle time).
    async fn admit(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        listener: usize,
        listener_name: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<tokio::net::TcpStream> {
        // Dynamic: read at each connection, as AlterConfigs may have changed it.
        let config = self.api.topics.broker_config();
        let limit = |value: Option<String>| {
            value
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|rate| *rate < i32::MAX as f64)
        };
        let broker_limit = limit(config.get("max.connection.creation.rate").map(str::to_string));
        let listener_limit = limit(
            config
                .get(&format!(
                    "listener.name.{}.max.connection.creation.rate",
                    listener_name.to_ascii_lowercase()
                ))
                .map(str::to_string),
        );
        let wait = self
            .connection_quotas
            .record_connection(listener, broker_limit, listener_limit);
        if !wait.is_zero() {
            tracing::debug!(?wait, listener = %listener_name, "connection creation rate exceeded: the listener waits");
            tokio::select! {
                _ = shutdown.changed() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let ip_quota = if self.api.topics.has_client_quotas() {
            ip_quota(&self.api.topics.client_quotas(), peer.ip())
        } else {
            None
        };
        let throttle = self.connection_quotas.record_ip(peer.ip(), ip_quota, listener);
        if throttle.is_zero() {
            return Some(stream);
        }
        let mut refusals = self.refusals.lock();
        refusals.0 += 1;
        if refusals.1.is_none_or(|t| t.elapsed() >= REFUSAL_REPORT_INTERVAL) {
            tracing::warn!(ip = %peer.ip(), refused = refusals.0, "closing connections over the address's connection_creation_rate quota");
            *refusals = (0, Some(Instant::now()));
        }
        // Closed once the throttle has passed, as Kafka delays the close: a client that
        // reconnects at once is held back for that long.
        tokio::spawn(async move {
            tokio::time::sleep(throttle).await;
            drop(stream);
        });
        None
    }
}

async fn accept_loop(
    listener: TcpListener,
    index: usize,
    security: Arc<ListenerSecurity>,
    open_connections: Arc<Gauge>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    done_tx: mpsc::Sender<()>,
) {
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            p = shared.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
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
        if !shared.per_ip.try_add(peer.ip(), shared.max_connections_per_ip) {
            let mut refusals = shared.refusals.lock();
            refusals.0 += 1;
            if refusals.1.is_none_or(|t| t.elapsed() >= REFUSAL_REPORT_INTERVAL) {
                tracing::warn!(
                    ip = %peer.ip(),
                    limit = shared.max_connections_per_ip,
                    refused = refusals.0,
                    "closing connections over max.connections.per.ip"
                );
                *refusals = (0, Some(Instant::now()));
            }
            drop(stream);
            continue;
        }
        let Some(stream) = shared.admit(stream, peer, index, &security.name, &mut shutdown).await else {
            shared.per_ip.remove(peer.ip());
            continue;
        };
        tracing::debug!(%peer, listener = index, "accepted connection");
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let done = done_tx.clone();
        let open_connections = open_connections.clone();
        let security = security.clone();
        open_connections.inc();
        tokio::spawn(async move {
            connection::accept(
                stream,
                peer,
                index,
                security,
                shared.api.clone(),
                shared.limits.clone(),
                shutdown,
            )
            .await;
            open_connections.dec();
            shared.per_ip.remove(peer.ip());
            drop(permit);
            drop(done);
        });
    }
}
