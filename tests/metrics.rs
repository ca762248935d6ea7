//! The Prometheus endpoint, scraped over a real socket from a broker process while librdkafka
//! clients produce and consume: the counters rise, the offsets are those produced, a consumer
//! group that stopped shows its lag under kafka-exporter's name, and the endpoint is off by
//! default and holds up against a client that sends a request head without end.

mod common;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};

use common::*;

const ENABLED: &[&str] = &[
    "--set",
    "metrics.prometheus.enable=true",
    "--set",
    "metrics.prometheus.listener=127.0.0.1:0",
];

/// One sample of a scrape: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape.
#[derive(Debug)]
struct Scrape {
    samples: Vec<Sample>,
    text: String,
}

impl Scrape {
    /// The value of the sample with exactly these labels.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in the scrape:\n{}", self.text))
    }
}

/// Parses Prometheus' text format 0.0.4: comment lines, then `name{k="v",...} value` lines.
/// Every sample must belong to a family announced by a `# TYPE` line before it.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line has a name and a type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad type in {line:?}"
            );
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("sample line without a value: {line:?}"),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let mut labels = BTreeMap::new();
        let value_text = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let end = loop {
                let Some(&(i, c)) = chars.peek() else {
                    panic!("unterminated labels in {line:?}")
                };
                if c == '}' {
                    break i;
                }
                if c == ',' {
                    chars.next();
                    continue;
                }
                let key: String = std::iter::from_fn(|| chars.next_if(|&(_, c)| c != '=').map(|(_, c)| c)).collect();
                assert_eq!(chars.next().map(|(_, c)| c), Some('='), "{line:?}");
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                let mut value = String::new();
                loop {
                    match chars.next().map(|(_, c)| c) {
                        Some('"') => break,
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        Some(c) => value.push(c),
                        None => panic!("unterminated label value in {line:?}"),
                    }
                }
                labels.insert(key, value);
            };
            &body[end + 1..]
        } else {
            rest
        };
        let value_text = value_text.trim();
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample {name} has no TYPE line before it");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// Sends one HTTP request and returns the status line, the headers and the body.
fn http(addr: SocketAddr, request: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to metrics");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read the response to its end");
    let response = String::from_utf8(response).expect("the response is text");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

fn scrape(addr: SocketAddr) -> Scrape {
    let (status, headers, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: rivulet\r\nAccept: */*\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK", "{headers}\n{body}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert_eq!(length, body.len());
    Scrape {
        samples: parse_exposition(&body),
        text: body,
    }
}

/// The endpoint's address, from the broker's `metrics listening on ADDR` line.
fn metrics_addr(broker: &BrokerProcess) -> SocketAddr {
    wait_for(Duration::from_secs(10), "the `metrics listening on` line", || {
        let log = broker.log();
        let rest = &log[log.find("metrics listening on ")? + "metrics listening on ".len()..];
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn records(n: usize, tag: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                format!("{tag}-{i}-{}", "x".repeat(100)).into_bytes(),
            )
        })
        .collect()
}

#[test]
fn counters_rise_and_offsets_match_during_a_produce_consume_run() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), ENABLED);
    let bootstrap = broker.bootstrap();
    let addr = metrics_addr(&broker);
    create_topic(&bootstrap, "events", 2, &[]);
    let producer = tracked_producer(&bootstrap, &[]);
    let topic = [("topic", "events")];

    let before = scrape(addr);
    assert_eq!(before.value("kafka_topic_partitions", &topic), 2.0);
    assert_eq!(
        before.value("kafka_server_brokertopicmetrics_messagesin_total", &topic),
        0.0
    );
    let partitions = before.value("kafka_server_replicamanager_partitioncount", &[]);
    assert!(partitions >= 2.0, "{partitions}");

    produce_all(&producer, "events", Some(0), &records(30, "a"));
    let middle = scrape(addr);
    produce_all(&producer, "events", Some(0), &records(20, "b"));
    produce_all(&producer, "events", Some(1), &records(25, "c"));
    let consumed = consume_to_end(&bootstrap, "events", 2);
    assert_eq!((consumed[0].len(), consumed[1].len()), (50, 25));
    let after = scrape(addr);

    let bytes_in = "kafka_server_brokertopicmetrics_bytesin_total";
    let messages_in = "kafka_server_brokertopicmetrics_messagesin_total";
    let bytes_out = "kafka_server_brokertopicmetrics_bytesout_total";
    assert_eq!(middle.value(messages_in, &topic), 30.0);
    assert_eq!(after.value(messages_in, &topic), 75.0);
    let (b0, b1, b2) = (
        before.value(bytes_in, &topic),
        middle.value(bytes_in, &topic),
        after.value(bytes_in, &topic),
    );
    assert!(b0 < b1 && b1 < b2, "bytes in rise between scrapes: {b0} {b1} {b2}");
    // Each record carries over 100 bytes of value.
    assert!(b2 - b0 > 75.0 * 100.0, "{b0} -> {b2}");
    let (o1, o2) = (middle.value(bytes_out, &topic), after.value(bytes_out, &topic));
    assert!(
        o2 > o1 && o2 >= b2 - b0,
        "every byte produced was fetched: out {o1} -> {o2}, in {b2}"
    );

    for (partition, produced) in [("0", 50.0), ("1", 25.0)] {
        let p = [("topic", "events"), ("partition", partition)];
        assert_eq!(after.value("kafka_topic_partition_current_offset", &p), produced);
        assert_eq!(after.value("kafka_log_log_logendoffset", &p), produced);
        assert_eq!(after.value("kafka_topic_partition_oldest_offset", &p), 0.0);
        assert!(after.value("kafka_log_log_size", &p) > produced * 100.0);
    }
    assert_eq!(
        middle.value(
            "kafka_topic_partition_current_offset",
            &[("topic", "events"), ("partition", "0")]
        ),
        30.0
    );

    for request in ["Produce", "Fetch", "Metadata"] {
        let r = [("request", request)];
        let count = after.value("kafka_network_requestmetrics_requests_total", &r);
        let earlier = before
            .get("kafka_network_requestmetrics_requests_total", &r)
            .unwrap_or(0.0);
        assert!(count > earlier, "{request} requests rise: {earlier} -> {count}");
        let answered = after.value("kafka_network_requestmetrics_totaltime_seconds_count", &r);
        assert!(answered > 0.0 && answered <= count, "{request}: {answered} of {count}");
        let inf = [("request", request), ("le", "+Inf")];
        assert_eq!(
            after.value("kafka_network_requestmetrics_totaltime_seconds_bucket", &inf),
            answered
        );
    }
    let produces = |s: &Scrape| {
        s.get("kafka_network_requestmetrics_requests_total", &[("request", "Produce")])
            .unwrap_or(0.0)
    };
    assert!(produces(&middle) > produces(&before));
    // acks=all: every produce waited on a flusher fsync.
    assert!(after.value("kafka_log_logflushstats_logflush_seconds_count", &[]) > 0.0);
    // The producer's connection is still open.
    assert!(
        after.value(
            "kafka_server_socket_server_metrics_connection_count",
            &[("listener", "PLAINTEXT")]
        ) >= 1.0
    );
}

#[test]
fn a_group_that_stopped_consuming_shows_its_lag() {
    let dir = temp_data_dir();
    // Enabled through the environment, as a container's compose file would.
    let broker = BrokerProcess::start_with_env(
        dir.path(),
        &["--set", "group.initial.rebalance.delay.ms=0"],
        &[
            ("KAFKA_METRICS_PROMETHEUS_ENABLE", "true"),
            ("KAFKA_METRICS_PROMETHEUS_LISTENER", "127.0.0.1:0"),
        ],
    );
    let bootstrap = broker.bootstrap();
    let addr = metrics_addr(&broker);
    create_topic(&bootstrap, "orders", 1, &[]);
    let producer = tracked_producer(&bootstrap, &[]);
    produce_all(&producer, "orders", Some(0), &records(20, "before"));

    {
        let mut config = client_config(&bootstrap);
        config
            .set("group.id", "billing")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000");
        let consumer: BaseConsumer = config.create().unwrap();
        consumer.subscribe(&["orders"]).unwrap();
        let mut read = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while read < 20 {
            assert!(Instant::now() < deadline, "read {read} of 20 records");
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.expect("consume");
                assert_eq!(message.offset(), read);
                read += 1;
            }
        }
        consumer.commit_consumer_state(CommitMode::Sync).expect("commit");
        // The consumer stops here.
    }
    let group = [("consumergroup", "billing"), ("topic", "orders"), ("partition", "0")];
    let committed = scrape(addr);
    assert_eq!(committed.value("kafka_consumergroup_current_offset", &group), 20.0);
    assert_eq!(committed.value("kafka_consumergroup_lag", &group), 0.0);

    produce_all(&producer, "orders", Some(0), &records(15, "after"));
    let lagging = scrape(addr);
    assert_eq!(lagging.value("kafka_consumergroup_current_offset", &group), 20.0);
    assert_eq!(lagging.value("kafka_consumergroup_lag", &group), 15.0);
    assert_eq!(
        lagging.value(
            "kafka_consumergroup_lag_sum",
            &[("consumergroup", "billing"), ("topic", "orders")]
        ),
        15.0
    );
    assert_eq!(
        lagging.value(
            "kafka_topic_partition_current_offset",
            &[("topic", "orders"), ("partition", "0")]
        ),
        35.0
    );
}

#[test]
fn the_endpoint_is_off_by_default() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let dir = temp_data_dir();
    let listener = format!("metrics.prometheus.listener=127.0.0.1:{port}");
    let mut broker = BrokerProcess::start(dir.path(), &["--set", &listener]);
    // A Kafka request answered means the broker finished starting.
    let _ = topic_partition_count(&broker.bootstrap(), "none");
    let refused = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(5));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
    broker.terminate();
    assert!(!broker.log().contains("metrics listening on"), "{}", broker.log());
}

#[test]
fn other_paths_are_not_found_and_an_endless_request_head_is_cut_off() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), ENABLED);
    let addr = metrics_addr(&broker);

    let (status, _, _) = http(addr, "GET /favicon.ico HTTP/1.1\r\nHost: rivulet\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = http(addr, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // A request head that never ends: the endpoint must stop reading and close the
    // connection, long before 64 MiB, without holding what was sent.
    let rss_before = resident_kib(broker.pid());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let header = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut sent = 0usize;
    let cut_off = loop {
        if sent >= 64 << 20 {
            break false;
        }
        match stream.write_all(header.as_bytes()) {
            Ok(()) => sent += header.len(),
            Err(_) => break true,
        }
    };
    assert!(
        cut_off,
        "the endpoint took {sent} bytes of request head without closing"
    );
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || rest.starts_with("HTTP/1.1 431"),
        "an oversized head is refused: {rest:?}"
    );
    let grown = resident_kib(broker.pid()).saturating_sub(rss_before);
    assert!(grown < 16 * 1024, "the broker grew by {grown} KiB");
    // And it still answers.
    assert!(
        scrape(addr)
            .get("kafka_server_replicamanager_partitioncount", &[])
            .is_some()
    );
}

/// The process's resident memory, from /proc.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}
