//! Prometheus' text exposition format, version 0.0.4: per metric family a `# HELP` and a
//! `# TYPE` line, then its samples, `name{label="value",...} value`, one per line. Every
//! sample of a family is written together, as the format requires.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write};

use kafka_protocol::messages::ApiKey;

use super::{
    BrokerState, CommittedOffset, HistogramSnapshot, LATENCY_BOUNDS_SECONDS, PartitionFigures, Registry,
    RequestMetrics, TopicMetrics,
};

/// The `Content-Type` of a scrape's body.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family whose samples are read the same way from each item: name, help, reader.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// Renders every figure: those recorded in `registry` and those read from `state` now.
pub fn render(registry: &Registry, state: &dyn BrokerState) -> String {
    let mut out = Text::default();
    topic_counters(&mut out, registry);
    request_figures(&mut out, registry);

    out.family(
        "kafka_log_logflushstats_logflush_seconds",
        "histogram",
        "Time to fsync one partition log (Kafka's LogFlushRateAndTimeMs).",
    );
    out.histogram(
        "kafka_log_logflushstats_logflush_seconds",
        &[],
        &registry.log_flush().snapshot(),
    );

    out.family(
        "kafka_server_socket_server_metrics_connection_count",
        "gauge",
        "Client connections open, per listener.",
    );
    for (listener, open) in registry.listeners() {
        out.sample(
            "kafka_server_socket_server_metrics_connection_count",
            &[("listener", &listener)],
            open,
        );
    }

    let mut partitions = state.partitions();
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    partition_figures(&mut out, &partitions);
    group_figures(&mut out, &partitions, state);
    out.0
}

fn topic_counters(out: &mut Text, registry: &Registry) {
    let topics = registry.topics();
    let families: [Family<TopicMetrics, u64>; 3] = [
        (
            "kafka_server_brokertopicmetrics_bytesin_total",
            "Bytes of record batches appended by produce requests, per topic.",
            |t| t.bytes_in.get(),
        ),
        (
            "kafka_server_brokertopicmetrics_messagesin_total",
            "Records appended by produce requests, per topic.",
            |t| t.messages_in.get(),
        ),
        (
            "kafka_server_brokertopicmetrics_bytesout_total",
            "Bytes of record batches sent in fetch responses, per topic.",
            |t| t.bytes_out.get(),
        ),
    ];
    for (name, help, read) in families {
        out.family(name, "counter", help);
        for (topic, metrics) in &topics {
            out.sample(name, &[("topic", topic)], read(metrics));
        }
    }
}

fn request_figures(out: &mut Text, registry: &Registry) {
    let seen: Vec<(String, &RequestMetrics)> = registry
        .requests_seen()
        .map(|(key, m)| (request_name(key), m))
        .collect();
    out.family(
        "kafka_network_requestmetrics_requests_total",
        "counter",
        "Requests received, per API.",
    );
    for (request, m) in &seen {
        out.sample(
            "kafka_network_requestmetrics_requests_total",
            &[("request", request)],
            m.requests.get(),
        );
    }
    out.family(
        "kafka_network_requestmetrics_totaltime_seconds",
        "histogram",
        "Time from a request read to its response written, per API (Kafka's TotalTimeMs).",
    );
    for (request, m) in &seen {
        out.histogram(
            "kafka_network_requestmetrics_totaltime_seconds",
            &[("request", request)],
            &m.total_time.snapshot(),
        );
    }
}

/// Kafka's name of an API, as its `request` label reads (`Produce`, `OffsetCommit`).
fn request_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(api) => format!("{api:?}"),
        Err(_) => key.to_string(),
    }
}

fn partition_figures(out: &mut Text, partitions: &[PartitionFigures]) {
    out.family(
        "kafka_server_replicamanager_partitioncount",
        "gauge",
        "Partitions on this broker.",
    );
    out.sample("kafka_server_replicamanager_partitioncount", &[], partitions.len());

    let mut per_topic: BTreeMap<&str, usize> = BTreeMap::new();
    for p in partitions {
        *per_topic.entry(&p.topic).or_default() += 1;
    }
    out.family("kafka_topic_partitions", "gauge", "Partitions of the topic.");
    for (topic, count) in per_topic {
        out.sample("kafka_topic_partitions", &[("topic", topic)], count);
    }

    let families: [Family<PartitionFigures, i64>; 4] = [
        (
            "kafka_topic_partition_current_offset",
            "High watermark of the partition: the offset after the last record consumers can read.",
            |p| p.high_watermark,
        ),
        (
            "kafka_topic_partition_oldest_offset",
            "Log start offset of the partition: the first offset still stored.",
            |p| p.log_start_offset,
        ),
        (
            "kafka_log_log_logendoffset",
            "Log end offset of the partition: the offset the next record appended will take.",
            |p| p.log_end_offset,
        ),
        ("kafka_log_log_size", "Bytes of the partition's segment files.", |p| {
            i64::try_from(p.size_bytes).unwrap_or(i64::MAX)
        }),
    ];
    for (name, help, read) in families {
        out.family(name, "gauge", help);
        for p in partitions {
            let partition = p.partition.to_string();
            out.sample(name, &[("topic", &p.topic), ("partition", &partition)], read(p));
        }
    }
}

/// kafka-exporter's group figures: the committed offset, and the lag behind the high
/// watermark (never below zero), per partition and summed per topic.
fn group_figures(out: &mut Text, partitions: &[PartitionFigures], state: &dyn BrokerState) {
    let high_watermarks: HashMap<(&str, i32), i64> = partitions
        .iter()
        .map(|p| ((p.topic.as_str(), p.partition), p.high_watermark))
        .collect();
    let mut committed = state.committed_offsets();
    committed.sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
    // A partition gone since its commit (its topic deleted) has no lag to report.
    let rows: Vec<(&CommittedOffset, i64)> = committed
        .iter()
        .filter_map(|c| {
            let hw = high_watermarks.get(&(c.topic.as_str(), c.partition))?;
            Some((c, (hw - c.offset).max(0)))
        })
        .collect();
    let labels = |c: &CommittedOffset, partition: &str| -> [(&'static str, String); 3] {
        [
            ("consumergroup", c.group.clone()),
            ("topic", c.topic.clone()),
            ("partition", partition.to_string()),
        ]
    };
    out.family(
        "kafka_consumergroup_current_offset",
        "gauge",
        "Offset the consumer group committed on the partition.",
    );
    for (c, _) in &rows {
        let l = labels(c, &c.partition.to_string());
        out.sample("kafka_consumergroup_current_offset", &borrowed(&l), c.offset);
    }
    out.family(
        "kafka_consumergroup_lag",
        "gauge",
        "Records of the partition the consumer group has not committed: high watermark minus committed offset.",
    );
    for (c, lag) in &rows {
        let l = labels(c, &c.partition.to_string());
        out.sample("kafka_consumergroup_lag", &borrowed(&l), lag);
    }
    let mut sums: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (c, lag) in &rows {
        *sums.entry((&c.group, &c.topic)).or_default() += lag;
    }
    out.family(
        "kafka_consumergroup_lag_sum",
        "gauge",
        "Lag of the consumer group summed over the topic's partitions.",
    );
    for ((group, topic), lag) in sums {
        out.sample(
            "kafka_consumergroup_lag_sum",
            &[("consumergroup", group), ("topic", topic)],
            lag,
        );
    }
}

fn borrowed<'a, const N: usize>(labels: &'a [(&'static str, String); N]) -> [(&'static str, &'a str); N] {
    labels.each_ref().map(|(k, v)| (*k, v.as_str()))
}

/// The text being written.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.0, " {value}");
    }

    /// A histogram's `_bucket` lines (cumulative, ending with `+Inf`), `_sum` and `_count`.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        for (bound, count) in LATENCY_BOUNDS_SECONDS.iter().zip(&h.cumulative) {
            let _ = write!(self.0, "{name}_bucket");
            self.labels(labels, Some(&bound.to_string()));
            let _ = writeln!(self.0, " {count}");
        }
        let _ = write!(self.0, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.0, " {}", h.count);
        let _ = write!(self.0, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.0, " {}", h.sum_seconds);
        let _ = write!(self.0, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.0, " {}", h.count);
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.0.push('{');
        let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (i, (key, value)) in all.enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{key}=\"{}\"", escape_label(value));
        }
        self.0.push('}');
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// Help text escapes backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Fixed;

    impl BrokerState for Fixed {
        fn partitions(&self) -> Vec<PartitionFigures> {
            vec![
                PartitionFigures {
                    topic: "orders".into(),
                    partition: 1,
                    log_start_offset: 0,
                    high_watermark: 7,
                    log_end_offset: 8,
                    size_bytes: 700,
                },
                PartitionFigures {
                    topic: "orders".into(),
                    partition: 0,
                    log_start_offset: 2,
                    high_watermark: 10,
                    log_end_offset: 10,
                    size_bytes: 1000,
                },
            ]
        }

        fn committed_offsets(&self) -> Vec<CommittedOffset> {
            let c = |partition, offset| CommittedOffset {
                group: "billing".into(),
                topic: "orders".into(),
                partition,
                offset,
            };
            // Partition 9 does not exist: no lag is reported for it.
            vec![c(0, 4), c(1, 9), c(9, 1)]
        }
    }

    #[test]
    fn renders_families_with_their_samples() {
        let registry = Registry::new();
        registry.topic("orders").bytes_in.add(1234);
        registry.topic("orders").messages_in.add(3);
        let produce = registry.request(0).unwrap();
        produce.requests.inc();
        produce.total_time.observe(Duration::from_millis(2));
        registry.listener_connections("PLAINTEXT").inc();
        let text = render(&registry, &Fixed);

        for line in [
            "# TYPE kafka_server_brokertopicmetrics_bytesin_total counter",
            "kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders\"} 1234",
            "kafka_server_brokertopicmetrics_messagesin_total{topic=\"orders\"} 3",
            "kafka_server_brokertopicmetrics_bytesout_total{topic=\"orders\"} 0",
            "kafka_network_requestmetrics_requests_total{request=\"Produce\"} 1",
            "kafka_network_requestmetrics_totaltime_seconds_bucket{request=\"Produce\",le=\"0.001\"} 0",
            "kafka_network_requestmetrics_totaltime_seconds_bucket{request=\"Produce\",le=\"0.0025\"} 1",
            "kafka_network_requestmetrics_totaltime_seconds_bucket{request=\"Produce\",le=\"+Inf\"} 1",
            "kafka_network_requestmetrics_totaltime_seconds_count{request=\"Produce\"} 1",
            "kafka_network_requestmetrics_totaltime_seconds_sum{request=\"Produce\"} 0.002",
            "kafka_log_logflushstats_logflush_seconds_count 0",
            "kafka_server_socket_server_metrics_connection_count{listener=\"PLAINTEXT\"} 1",
            "kafka_server_replicamanager_partitioncount 2",
            "kafka_topic_partitions{topic=\"orders\"} 2",
            "kafka_topic_partition_current_offset{topic=\"orders\",partition=\"0\"} 10",
            "kafka_topic_partition_oldest_offset{topic=\"orders\",partition=\"0\"} 2",
            "kafka_log_log_logendoffset{topic=\"orders\",partition=\"1\"} 8",
            "kafka_log_log_size{topic=\"orders\",partition=\"1\"} 700",
            "kafka_consumergroup_current_offset{consumergroup=\"billing\",topic=\"orders\",partition=\"0\"} 4",
            "kafka_consumergroup_lag{consumergroup=\"billing\",topic=\"orders\",partition=\"0\"} 6",
            "kafka_consumergroup_lag{consumergroup=\"billing\",topic=\"orders\",partition=\"1\"} 0",
            "kafka_consumergroup_lag_sum{consumergroup=\"billing\",topic=\"orders\"} 6",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        assert!(!text.contains("partition=\"9\""), "{text}");
        assert!(!text.contains("request=\"Fetch\""), "APIs never requested are left out");
        // Partitions sorted: partition 0 before 1.
        let p0 = text.find("current_offset{topic=\"orders\",partition=\"0\"}").unwrap();
        let p1 = text.find("current_offset{topic=\"orders\",partition=\"1\"}").unwrap();
        assert!(p0 < p1);
    }

    #[test]
    fn every_family_is_contiguous() {
        let registry = Registry::new();
        registry.topic("a").bytes_in.inc();
        registry.topic("b").bytes_in.inc();
        registry.request(1).unwrap().requests.inc();
        registry.request(0).unwrap().requests.inc();
        let text = render(&registry, &Fixed);
        let mut seen: Vec<&str> = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| f.ends_with("_seconds")))
                .unwrap_or(name);
            if seen.last() != Some(&family) {
                assert!(!seen.contains(&family), "{family} appears in two places");
                seen.push(family);
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
    }
}
