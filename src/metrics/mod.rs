//! The broker's figures for Prometheus: a process-wide registry of counters, gauges and
//! latency histograms that the request path, the log and the network record into, the text
//! exposition a scrape returns, and the small HTTP endpoint that serves it.
//!
//! Everything here is below the layers that record: `net`, `api` and `log` call into it, and
//! it calls into none of them. Figures that are state rather than events (offsets, log sizes,
//! committed offsets) are read at scrape time through [`BrokerState`], which the broker
//! implements above.
//!
//! Names follow what dashboards already graph: the JMX exporter's rendering of Kafka's own
//! MBeans (`kafka_server_brokertopicmetrics_bytesin_total`, ...) for what the broker counts,
//! and kafka-exporter's (`kafka_topic_partition_current_offset`, `kafka_consumergroup_lag`,
//! ...) for offsets and lag. `docs/metrics.md` lists them all.

pub mod exposition;
pub mod http;
mod instruments;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use parking_lot::{Mutex, RwLock};

pub use instruments::{Counter, Gauge, Histogram, HistogramSnapshot, LATENCY_BOUNDS_SECONDS};

/// Request slots by API key: Kafka's keys stay well below this.
const API_KEY_SLOTS: usize = 128;

/// Per topic, what Kafka's `BrokerTopicMetrics` counts.
#[derive(Debug, Default)]
pub struct TopicMetrics {
    /// Bytes of record batches appended by produce requests.
    pub bytes_in: Counter,
    /// Records appended by produce requests.
    pub messages_in: Counter,
    /// Bytes of record batches sent in fetch responses.
    pub bytes_out: Counter,
}

/// Per API, what Kafka's `RequestMetrics` reports.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    /// Requests received.
    pub requests: Counter,
    /// From the request read to its response written (Kafka's TotalTimeMs): includes a
    /// fetch's long-poll and an acks=all produce's fsync wait.
    pub total_time: Histogram,
}

/// Every figure recorded as it happens.
pub struct Registry {
    requests: Box<[RequestMetrics]>,
    log_flush: Histogram,
    topics: RwLock<BTreeMap<String, Arc<TopicMetrics>>>,
    listeners: Mutex<Vec<(String, Arc<Gauge>)>>,
}

/// The process's registry. One broker runs per process and its figures are the process's,
/// as with Kafka's own metrics registry; a global spares threading a handle through every
/// layer that counts something.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);
    &REGISTRY
}

impl Registry {
    fn new() -> Registry {
        Registry {
            requests: (0..API_KEY_SLOTS).map(|_| RequestMetrics::default()).collect(),
            log_flush: Histogram::default(),
            topics: RwLock::new(BTreeMap::new()),
            listeners: Mutex::new(Vec::new()),
        }
    }

    /// The figures of one API, by its key; `None` for a key outside Kafka's range.
    pub fn request(&self, api_key: i16) -> Option<&RequestMetrics> {
        usize::try_from(api_key).ok().and_then(|k| self.requests.get(k))
    }

    /// How long each log fsync took (Kafka's LogFlushRateAndTimeMs).
    pub fn log_flush(&self) -> &Histogram {
        &self.log_flush
    }

    /// A topic's counters, created on first use. Callers keep the handle (a partition log
    /// holds its topic's), so the map's lock is taken when a partition opens, not per request.
    pub fn topic(&self, name: &str) -> Arc<TopicMetrics> {
        if let Some(t) = self.topics.read().get(name) {
            return t.clone();
        }
        self.topics.write().entry(name.to_string()).or_default().clone()
    }

    /// Drops a deleted topic's counters, so its series leave the scrape; a topic created
    /// later under the name starts from zero, as on Kafka.
    pub fn remove_topic(&self, name: &str) {
        self.topics.write().remove(name);
    }

    /// The open-connections gauge of a named listener.
    pub fn listener_connections(&self, listener: &str) -> Arc<Gauge> {
        let mut listeners = self.listeners.lock();
        if let Some((_, g)) = listeners.iter().find(|(name, _)| name == listener) {
            return g.clone();
        }
        let gauge = Arc::new(Gauge::default());
        listeners.push((listener.to_string(), gauge.clone()));
        gauge
    }

    fn requests_seen(&self) -> impl Iterator<Item = (i16, &RequestMetrics)> {
        self.requests
            .iter()
            .enumerate()
            .filter(|(_, m)| m.requests.get() > 0)
            .map(|(key, m)| (key as i16, m))
    }

    fn topics(&self) -> Vec<(String, Arc<TopicMetrics>)> {
        self.topics.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn listeners(&self) -> Vec<(String, i64)> {
        self.listeners
            .lock()
            .iter()
            .map(|(n, g)| (n.clone(), g.get()))
            .collect()
    }
}

/// One partition as a scrape sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFigures {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    /// What consumers can read up to (on one node, the durable log end offset); what
    /// ListOffsets answers for the latest offset, and what kafka-exporter reports.
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
}

/// A consumer group's committed offset on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The broker state a scrape reads, implemented by the layer that owns the logs and groups.
pub trait BrokerState: Send + Sync {
    /// Every partition, in any order.
    fn partitions(&self) -> Vec<PartitionFigures>;
    /// Every committed (durable) offset of every live group, in any order.
    fn committed_offsets(&self) -> Vec<CommittedOffset>;
}
