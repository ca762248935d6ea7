//! Wires the services together and runs the broker until a shutdown signal: open the data
//! directory (recovering after a crash), load the consumer groups, bind the listener, serve,
//! then shut down in order — stop accepting, answer requests waiting on the group
//! coordinator, finish in-flight requests, flush, mark the shutdown clean.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{Advertised, ApiHandler};
use crate::config::BrokerConfig;
use crate::fetch_session::FetchSessionCache;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::log::{DirLock, LogManager};
use crate::metadata::{ClusterIdentity, ProducerIdManager, TopicRegistry};
use crate::metrics::{self, BrokerState, CommittedOffset, PartitionFigures};
use crate::net::{ConnectionLimits, Listener, MemoryPool};
use crate::security::ListenerSecurity;
use crate::txn::{TransactionCoordinator, TxnConfig};

/// How long shutdown waits for connections to finish what they owe.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the broker until `shutdown` resolves.
pub async fn run(config: BrokerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let data_dir = config.data_dir();
    let node_id = config.node_id();
    let listener_specs = config.listeners()?;
    // Stores and SASL settings are checked before anything else is opened, so a bad
    // certificate or mechanism stops the start with its reason.
    let security = listener_specs
        .iter()
        .map(|spec| ListenerSecurity::new(&config, &spec.name, &spec.protocol).map(Arc::new))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut advertised_cfg = config.advertised_listeners()?;
    let metrics_addr = config.metrics_listener()?;

    let (_dir_lock, identity, topics, logs) = {
        let config = config.clone();
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || open_storage(config, &data_dir, node_id))
            .await
            .context("storage open task failed")??
    };

    let groups = {
        let group_config = GroupConfig::from_broker(&config);
        let topics = topics.clone();
        let logs = logs.clone();
        tokio::task::spawn_blocking(move || GroupCoordinator::open(group_config, topics, logs))
            .await
            .context("group coordinator load task failed")?
            .map_err(|e| anyhow::anyhow!("cannot load consumer groups: {e}"))?
    };
    groups.start();
    logs.set_producer_id_expiration_ms(config.producer_id_expiration_ms());
    logs.set_visibility_flush_ms(config.log_flush_visibility_ms());
    let producer_ids = {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || ProducerIdManager::open(&data_dir))
            .await
            .context("producer id allocator load task failed")?
            .context("cannot read the producer id block")?
    };

    let producer_ids = Arc::new(producer_ids);
    let txn = {
        let txn_config = TxnConfig::from_broker(&config);
        let (topics, logs, ids, groups) = (topics.clone(), logs.clone(), producer_ids.clone(), groups.clone());
        tokio::task::spawn_blocking(move || TransactionCoordinator::open(txn_config, topics, logs, ids, groups))
            .await
            .context("transaction coordinator load task failed")?
            .map_err(|e| anyhow::anyhow!("cannot load transactions: {e}"))?
    };
    txn.start();
    let share = {
        let (config, topics, logs, groups) = (config.clone(), topics.clone(), logs.clone(), groups.clone());
        tokio::task::spawn_blocking(move || crate::share::open(&config, topics, logs, groups))
            .await
            .context("share group state load task failed")?
            .map_err(|e| anyhow::anyhow!("cannot load share groups: {e}"))?
    };
    share.start();
    let authorizer =
        crate::auth::StandardAuthorizer::from_config(&config, topics.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;

    let mut listeners = Vec::with_capacity(listener_specs.len());
    let mut advertised = Vec::with_capacity(listener_specs.len());
    let mut bound_addrs = Vec::with_capacity(listener_specs.len());
    for spec in &listener_specs {
        let listener = crate::net::listener::bind(
            spec.addr,
            config.socket_send_buffer_bytes(),
            config.socket_receive_buffer_bytes(),
        )
        .with_context(|| format!("cannot listen on {} (listener {})", spec.addr, spec.name))?;
        let bound = listener.local_addr()?;
        advertised.push(match advertised_cfg.remove(&spec.name) {
            Some((host, port)) => Advertised { host, port },
            None => Advertised {
                host: advertise_host(bound),
                port: bound.port(),
            },
        });
        bound_addrs.push(bound);
        listeners.push(listener);
    }
    for name in advertised_cfg.keys() {
        tracing::warn!(listener = %name, "advertised.listeners names a listener that listeners does not open; ignored");
    }
    let api = Arc::new(ApiHandler {
        config: config.clone(),
        identity: identity.clone(),
        advertised: advertised.clone(),
        topics,
        logs: logs.clone(),
        fetch_sessions: FetchSessionCache::default(),
        groups: groups.clone(),
        producer_ids,
        txn: txn.clone(),
        share: share.clone(),
        quotas: crate::quota::ClientQuotaManager::new(crate::quota::QuotaWindow::from_config(&config)),
        mutation_quotas: crate::quota::controller_mutation_quota::ControllerMutationQuotaManager::new(
            crate::quota::QuotaWindow::from_config(&config),
        ),
        authorizer: authorizer.map(Arc::new),
    });
    let limits = Arc::new(ConnectionLimits {
        max_request_bytes: config.socket_request_max_bytes(),
        idle_timeout: Duration::from_millis(config.connections_max_idle_ms()),
        memory_pool: MemoryPool::new(config.queued_max_request_bytes()),
        buffers: Default::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let open_connections = listener_specs
        .iter()
        .map(|spec| metrics::registry().listener_connections(&spec.name))
        .collect();
    let server = tokio::spawn(
        Listener {
            listeners,
            security: security.clone(),
            open_connections,
            api,
            limits,
            max_connections: config.max_connections(),
            max_connections_per_ip: config.max_connections_per_ip(),
        }
        .run(stop_rx),
    );
    for ((spec, bound), advertised) in listener_specs.iter().zip(&bound_addrs).zip(&advertised) {
        tracing::info!(
            cluster_id = %identity.cluster_id,
            node_id,
            data_dir = %data_dir.display(),
            listener = %spec.name,
            advertised = %format!("{}:{}", advertised.host, advertised.port),
            "listening on {bound}"
        );
    }
    crate::security::ssl_factory::watch_stores(
        security.iter().filter_map(|s| s.ssl.clone()).collect(),
        stop_tx.subscribe(),
    );
    // Opened after the Kafka listeners so that their `listening on` lines come first.
    let metrics_server = match metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (metrics.prometheus.listener)"))?;
            tracing::info!("metrics listening on {}", listener.local_addr()?);
            let state = Arc::new(ScrapeSource {
                logs: logs.clone(),
                groups: groups.clone(),
            });
            Some(tokio::spawn(metrics::http::serve(listener, state, stop_tx.subscribe())))
        }
        None => None,
    };
    // Kafka's broker lifecycle line once recovery is done and clients are served; container
    // tooling (Testcontainers' KafkaContainer) waits for exactly this text.
    tracing::info!("Transitioning from RECOVERY to RUNNING");

    shutdown.await;
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    let _ = stop_tx.send(true);
    // Rebalances would otherwise hold JoinGroup replies past the drain timeout.
    groups.shutdown();
    txn.shutdown();
    share.shutdown();
    if tokio::time::timeout(DRAIN_TIMEOUT, server).await.is_err() {
        tracing::warn!("connections did not finish within {DRAIN_TIMEOUT:?}; closing anyway");
    }
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    tokio::task::spawn_blocking(move || logs.shutdown())
        .await
        .context("log shutdown task failed")?
        .context("log shutdown failed")?;
    tracing::info!("shutdown complete");
    Ok(())
}

type Storage = (DirLock, ClusterIdentity, Arc<TopicRegistry>, Arc<LogManager>);

fn open_storage(config: Arc<BrokerConfig>, data_dir: &std::path::Path, node_id: i32) -> anyhow::Result<Storage> {
    let lock =
        DirLock::acquire(data_dir).with_context(|| format!("cannot use data directory {}", data_dir.display()))?;
    // CLUSTER_ID names a new data directory's cluster, as the apache/kafka image formats its
    // storage with it; an existing directory keeps its own.
    let cluster_id = std::env::var("CLUSTER_ID").ok().filter(|id| !id.is_empty());
    let identity = ClusterIdentity::load_or_create(data_dir, node_id, cluster_id.as_deref())
        .with_context(|| format!("cannot use data directory {}", data_dir.display()))?;
    let topics = Arc::new(TopicRegistry::open(config, data_dir).context("cannot read the metadata log")?);
    let registry = topics.clone();
    let logs = LogManager::open(data_dir, move |topic| registry.topic_config(topic).log_config())
        .map_err(|e| anyhow::anyhow!("cannot open logs: {e}"))?;
    topics
        .attach_logs(logs.clone())
        .map_err(|e| anyhow::anyhow!("cannot open topic partitions: {e}"))?;
    Ok((lock, identity, topics, logs))
}

/// What a metrics scrape reads: every partition's offsets and size, every group's commits.
struct ScrapeSource {
    logs: Arc<LogManager>,
    groups: Arc<GroupCoordinator>,
}

impl BrokerState for ScrapeSource {
    fn partitions(&self) -> Vec<PartitionFigures> {
        self.logs
            .partitions()
            .iter()
            .map(|log| PartitionFigures {
                topic: log.topic().to_string(),
                partition: log.partition(),
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                log_end_offset: log.log_end_offset(),
                size_bytes: log.size_bytes(),
            })
            .collect()
    }

    fn committed_offsets(&self) -> Vec<CommittedOffset> {
        self.groups
            .committed_offsets()
            .into_iter()
            .map(|(group, topic, partition, offset)| CommittedOffset {
                group,
                topic,
                partition,
                offset,
            })
            .collect()
    }
}

/// A wildcard listener has no address clients can use; advertise the loopback name.
fn advertise_host(bound: SocketAddr) -> String {
    if bound.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        bound.ip().to_string()
    }
}
