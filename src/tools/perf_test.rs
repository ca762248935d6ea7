//! `kafka-producer-perf-test.sh` and `kafka-consumer-perf-test.sh`: throughput and latency
//! of producing and consuming, printed as the Java tools print them.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;

use super::args::{self, Opt, flag, optional, valued};
use super::client::{self, Client};
use super::consumer::{self, Fetcher, OffsetReset, TopicPartition};
use super::group::GroupMember;
use super::producer::{Producer, ProducerConfig, ProducerRecord, SendFailure, now_ms};
use super::{install_stop_handler, stopped};

const PRODUCER_ABOUT: &str = "This tool is used to verify the producer performance.";

const PRODUCER_OPTS: &[Opt] = &[
    valued(
        "bootstrap-server",
        "BOOTSTRAP-SERVERS",
        "The server(s) to connect to. This config takes precedence over bootstrap.servers specified via --producer-props or --producer.config.",
    ),
    super::HELP,
    valued("num-records", "NUM-RECORDS", "Number of messages to produce."),
    valued(
        "payload-delimiter",
        "PAYLOAD-DELIMITER",
        "Delimiter of the payload file.",
    ),
    valued(
        "payload-file",
        "PAYLOAD-FILE",
        "File to read the message payloads from.",
    ),
    flag("payload-monotonic", "Payload is a monotonically increasing integer."),
    flag("print-metrics", "Print out metrics at the end of the test."),
    valued(
        "producer-props",
        "PROP-NAME=PROP-VALUE",
        "Kafka producer related configuration properties like bootstrap.servers, client.id etc.",
    ),
    valued("producer.config", "CONFIG-FILE", "Producer config properties file."),
    valued("record-size", "RECORD-SIZE", "Message size in bytes."),
    valued(
        "throughput",
        "THROUGHPUT",
        "Throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. Set this to -1 to disable throttling.",
    ),
    valued("topic", "TOPIC", "Produce messages to this topic."),
    valued(
        "transaction-duration-ms",
        "TRANSACTION-DURATION",
        "The maximum age of each transaction.",
    ),
    valued("transactional-id", "TRANSACTIONAL-ID", "The transactional id to use."),
    super::VERSION,
];

/// The Java tool reports a window of throughput and latency every five seconds.
const REPORTING_INTERVAL: Duration = Duration::from_secs(5);

/// argparse4j's `nargs("+")`: `--producer-props a=1 b=2` gives one option per value.
fn spread_props(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_props = false;
    for a in args {
        if a.starts_with("--") {
            in_props = a == "--producer-props";
            out.push(a.clone());
        } else if in_props && out.last().is_some_and(|l| l != "--producer-props") {
            out.push("--producer-props".into());
            out.push(a.clone());
        } else {
            out.push(a.clone());
        }
    }
    out
}

pub fn producer_main(args: &[String]) -> i32 {
    let args = spread_props(args);
    let p = match super::parse_or_usage(PRODUCER_OPTS, &args, PRODUCER_ABOUT) {
        Ok(p) => p,
        Err(code) => return code,
    };
    for (name, why) in [
        ("payload-file", "payloads are random"),
        ("payload-delimiter", "payloads are random"),
        ("payload-monotonic", "payloads are random"),
        ("transactional-id", "records are produced without transactions"),
        ("transaction-duration-ms", "records are produced without transactions"),
        ("print-metrics", "the Java client's metrics do not exist here"),
    ] {
        if let Err(e) = p.refuse(name, why) {
            return super::usage_error(PRODUCER_OPTS, PRODUCER_ABOUT, &e);
        }
    }
    let settings = (|| -> Result<_, String> {
        let topic = p.value("topic").ok_or("argument --topic is required")?.to_string();
        let records: u64 = p.number("num-records")?.ok_or("argument --num-records is required")?;
        let size: usize = p.number("record-size")?.ok_or("argument --record-size is required")?;
        let throughput: f64 = p.number("throughput")?.ok_or("argument --throughput is required")?;
        let mut props = match p.value("producer.config") {
            Some(f) => args::properties_file(f)?,
            None => Vec::new(),
        };
        props.extend(args::key_values("producer-props", p.values("producer-props"))?);
        let bootstrap = p
            .value("bootstrap-server")
            .map(str::to_string)
            .or_else(|| props.iter().rev().find(|(k, _)| k == "bootstrap.servers").map(|(_, v)| v.clone()))
            .ok_or("Either --bootstrap-server or bootstrap.servers in --producer-props or --producer.config must be specified")?;
        let mut config = ProducerConfig::new("perf-producer-client");
        config.apply(&props)?;
        Ok((topic, records, size, throughput, bootstrap, config))
    })();
    let (topic, records, size, throughput, bootstrap, config) = match settings {
        Ok(s) => s,
        Err(e) => return super::usage_error(PRODUCER_OPTS, PRODUCER_ABOUT, &e),
    };
    match produce(&bootstrap, &topic, records, size, throughput, config) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Exception in thread \"main\" {e:#}");
            1
        }
    }
}

/// The Java tool's statistics: a line per reporting window, then the totals.
struct Stats {
    start: Instant,
    window_start: Instant,
    window: Vec<u32>,
    all: Vec<u32>,
    size: usize,
}

impl Stats {
    fn window_line(&mut self) {
        let secs = self.window_start.elapsed().as_secs_f64().max(1e-3);
        let n = self.window.len();
        let avg = self.window.iter().map(|l| f64::from(*l)).sum::<f64>() / n.max(1) as f64;
        let max = self.window.iter().copied().max().unwrap_or(0);
        println!(
            "{n} records sent, {:.1} records/sec ({:.2} MB/sec), {avg:.1} ms avg latency, {:.1} ms max latency.",
            n as f64 / secs,
            (n * self.size) as f64 / secs / (1024.0 * 1024.0),
            f64::from(max)
        );
        self.all.append(&mut self.window);
        self.window_start = Instant::now();
    }

    fn total_line(&mut self) {
        self.all.append(&mut self.window);
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let n = self.all.len();
        let avg = self.all.iter().map(|l| f64::from(*l)).sum::<f64>() / n.max(1) as f64;
        let max = self.all.iter().copied().max().unwrap_or(0);
        self.all.sort_unstable();
        let pct = |p: f64| self.all.get((p * n as f64) as usize).copied().unwrap_or(0);
        println!(
            "{n} records sent, {:.6} records/sec ({:.2} MB/sec), {avg:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            n as f64 / secs,
            (n * self.size) as f64 / secs / (1024.0 * 1024.0),
            f64::from(max),
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        );
    }
}

fn report(failures: Vec<SendFailure>) {
    for f in failures {
        eprintln!("Error when sending message to topic {}: {:#}", f.topic, f.error);
    }
}

fn produce(
    bootstrap: &str,
    topic: &str,
    records: u64,
    size: usize,
    throughput: f64,
    config: ProducerConfig,
) -> Result<()> {
    let client = Client::connect(bootstrap, &config.client_id)?;
    let mut producer = Producer::new(client, config)?;
    producer.latencies = Some(Vec::new());
    // Kafka's payload: random uppercase letters.
    let mut seed = now_ms() as u64 | 1;
    let payload: Vec<u8> = (0..size)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            b'A' + (seed % 26) as u8
        })
        .collect();
    let payload = Bytes::from(payload);
    let mut stats = Stats {
        start: Instant::now(),
        window_start: Instant::now(),
        window: Vec::new(),
        all: Vec::new(),
        size,
    };
    for i in 0..records {
        report(producer.send(ProducerRecord {
            topic: topic.to_string(),
            partition: None,
            key: None,
            value: Some(payload.clone()),
            headers: Vec::new(),
        })?);
        report(producer.flush_lingering()?);
        if let Some(l) = producer.latencies.as_mut() {
            stats.window.append(l);
        }
        if stats.window_start.elapsed() >= REPORTING_INTERVAL {
            stats.window_line();
        }
        // Kafka's ThroughputThrottler: sleep off whatever runs ahead of the target rate.
        if throughput > 0.0 {
            let due = Duration::from_secs_f64((i + 1) as f64 / throughput);
            let elapsed = stats.start.elapsed();
            if due > elapsed + Duration::from_millis(2) {
                report(producer.flush()?);
                std::thread::sleep(due - elapsed);
            }
        }
    }
    report(producer.flush()?);
    if let Some(l) = producer.latencies.as_mut() {
        stats.window.append(l);
    }
    stats.total_line();
    Ok(())
}

const CONSUMER_ABOUT: &str = "This tool is used to verify the consumer performance.";

const CONSUMER_OPTS: &[Opt] = &[
    valued(
        "bootstrap-server",
        "String: server to connect to",
        "REQUIRED: The server(s) to connect to.",
    ),
    valued(
        "consumer.config",
        "String: config file",
        "Consumer config properties file.",
    ),
    valued(
        "date-format",
        "String: date format",
        "The date format to use for formatting the time field. (default: yyyy-MM-dd HH:mm:ss:SSS)",
    ),
    valued(
        "fetch-size",
        "Integer: size",
        "The amount of data to fetch in a single request.",
    ),
    flag(
        "from-latest",
        "If the consumer does not already have an established offset to consume from, start with the latest message present in the log rather than the earliest message.",
    ),
    valued("group", "String: gid", "The group id to consume on."),
    super::HELP,
    flag("hide-header", "If set, skips printing the header for the stats."),
    valued(
        "messages",
        "Long: count",
        "REQUIRED: The number of messages to consume.",
    ),
    flag("print-metrics", "Print out the metrics."),
    valued(
        "reporting-interval",
        "Long: interval_ms",
        "Interval in milliseconds at which to print progress info.",
    ),
    flag(
        "show-detailed-stats",
        "If set, stats are reported for each reporting interval as configured by reporting-interval",
    ),
    valued("socket-buffer-size", "Integer: size", "The size of the tcp RECV size."),
    optional(
        "timeout",
        "Long: milliseconds",
        "The maximum allowed time in milliseconds between returned records. (default: 10000)",
    ),
    valued("topic", "String: topic", "REQUIRED: The topic to consume from."),
    super::VERSION,
];

pub fn consumer_main(args: &[String]) -> i32 {
    let p = match super::start_tool(CONSUMER_OPTS, CONSUMER_ABOUT, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let checked = (|| -> Result<_, String> {
        p.refuse("show-detailed-stats", "the totals are printed")?;
        p.refuse("print-metrics", "the Java client's metrics do not exist here")?;
        p.refuse("consumer.config", "the consumer takes no settings here")?;
        if p.value("date-format").is_some_and(|f| f != "yyyy-MM-dd HH:mm:ss:SSS") {
            return Err("--date-format: only yyyy-MM-dd HH:mm:ss:SSS is supported".into());
        }
        let topic = p
            .value("topic")
            .ok_or("Missing required argument \"[topic]\"")?
            .to_string();
        let messages: u64 = p
            .number("messages")?
            .ok_or("Missing required argument \"[messages]\"")?;
        let timeout: u64 = match p.value("timeout") {
            None | Some("") => 10_000,
            Some(_) => p.number("timeout")?.unwrap_or(10_000),
        };
        p.refuse("fetch-size", "fetches take up to 1 MiB per partition")?;
        p.refuse("socket-buffer-size", "it tunes the Java client's sockets")?;
        // As in the Java tool, the interval only paces --show-detailed-stats.
        p.number::<i64>("reporting-interval")?;
        Ok((topic, messages, Duration::from_millis(timeout)))
    })();
    let (topic, messages, timeout) = match checked {
        Ok(c) => c,
        Err(e) => return super::usage_error(CONSUMER_OPTS, CONSUMER_ABOUT, &e),
    };
    let group = p.value("group").map_or_else(
        || format!("perf-consumer-{}", std::process::id() % 100_000),
        str::to_string,
    );
    install_stop_handler();
    let bootstrap = p.value("bootstrap-server").unwrap_or_default();
    let reset = if p.has("from-latest") {
        OffsetReset::Latest
    } else {
        OffsetReset::Earliest
    };
    match consume(
        bootstrap,
        &topic,
        &group,
        messages,
        timeout,
        reset,
        !p.has("hide-header"),
    ) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Exception in thread \"main\" {e:#}");
            1
        }
    }
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in local time.
fn local_time(ms: i64) -> String {
    let t = (ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}:{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms % 1000
    )
}

fn consume(
    bootstrap: &str,
    topic: &str,
    group: &str,
    messages: u64,
    timeout: Duration,
    reset: OffsetReset,
    header: bool,
) -> Result<()> {
    let start_ms = now_ms();
    let start = Instant::now();
    let mut client = Client::connect(bootstrap, "perf-consumer-client")?;
    let topics = vec![topic.to_string()];
    let layout = client::layout_creating(&mut client, &topics)?;
    if layout.partitions(topic) == 0 {
        bail!("org.apache.kafka.common.errors.UnknownTopicOrPartitionException: topic {topic} does not exist");
    }
    let mut member = GroupMember::new(group, topics.clone());
    let assigned = member.join(&mut client)?;
    let joined = start.elapsed();
    let committed = consumer::committed_offsets(&mut client, group, Some(&assigned))?;
    let starts: BTreeMap<TopicPartition, Option<i64>> = assigned
        .iter()
        .map(|tp| (tp.clone(), committed.get(tp).copied()))
        .collect();
    let mut fetcher = Fetcher::new(layout, consumer::READ_UNCOMMITTED, reset);
    fetcher.assign(&mut client, &starts)?;
    let progress = std::io::stderr().is_terminal();
    let mut count = 0u64;
    let mut last_record = Instant::now();
    let mut last_progress = Instant::now();
    while count < messages && !stopped() {
        if member.heartbeat_if_due(&mut client)? {
            let assigned = member.join(&mut client)?;
            let committed = consumer::committed_offsets(&mut client, group, Some(&assigned))?;
            let starts = assigned
                .iter()
                .map(|tp| (tp.clone(), committed.get(tp).copied()))
                .collect();
            fetcher.assign(&mut client, &starts)?;
        }
        match fetcher.next(&mut client)? {
            Some(_) => {
                count += 1;
                last_record = Instant::now();
            }
            None if last_record.elapsed() > timeout => {
                eprintln!(
                    "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.",
                    timeout.as_millis()
                );
                break;
            }
            None => {}
        }
        // Progress for whoever watches a long run on a terminal; stdout keeps only the report.
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
            eprint!(
                "\r{count} messages, {:.1} MB consumed",
                fetcher.bytes_read as f64 / (1024.0 * 1024.0)
            );
            let _ = std::io::stderr().flush();
            last_progress = Instant::now();
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    let end_ms = now_ms();
    let _ = member.commit(&mut client, &fetcher.positions, &fetcher.epochs);
    let _ = member.leave(&mut client);
    let elapsed = (end_ms - start_ms).max(1) as f64 / 1000.0;
    let mb = fetcher.bytes_read as f64 / (1024.0 * 1024.0);
    let fetch_ms = (end_ms - start_ms) - joined.as_millis() as i64;
    let fetch_s = fetch_ms as f64 / 1000.0;
    if header {
        println!(
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        );
    }
    println!(
        "{}, {}, {mb:.4}, {:.4}, {count}, {:.4}, {}, {fetch_ms}, {:.4}, {:.4}",
        local_time(start_ms),
        local_time(end_ms),
        mb / elapsed,
        count as f64 / elapsed,
        joined.as_millis(),
        mb / fetch_s,
        count as f64 / fetch_s
    );
    Ok(())
}
