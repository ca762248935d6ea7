//! `kafka-console-consumer.sh`: prints records as Kafka's `DefaultMessageFormatter` does,
//! from assigned partitions (`--partition`) or as a member of a consumer group.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use bytes::Bytes;

use super::args::{self, Opt, Parsed, flag, valued};
use super::client::{self, Client};
use super::consumer::{self, ConsumedRecord, Fetcher, OffsetReset, TopicPartition};
use super::group::GroupMember;
use super::{install_stop_handler, stopped};

const ABOUT: &str = "This tool helps to read data from Kafka topics and outputs it to standard output.";

const OPTS: &[Opt] = &[
    valued(
        "bootstrap-server",
        "String: server to connect to",
        "REQUIRED: The server(s) to connect to.",
    ),
    valued(
        "consumer-property",
        "String: consumer_prop",
        "A mechanism to pass user-defined properties in the form key=value to the consumer.",
    ),
    valued(
        "consumer.config",
        "String: config file",
        "Consumer config properties file. Note that [consumer-property] takes precedence over this config.",
    ),
    flag(
        "enable-systest-events",
        "Log lifecycle events of the consumer in addition to logging consumed messages.",
    ),
    valued(
        "formatter",
        "String: class",
        "The name of a class to use for formatting Kafka messages for display.",
    ),
    valued(
        "formatter-config",
        "String: config file",
        "Config properties file to initialize the message formatter.",
    ),
    flag(
        "from-beginning",
        "If the consumer does not already have an established offset to consume from, start with the earliest message present in the log rather than the latest message.",
    ),
    valued(
        "group",
        "String: consumer group id",
        "The consumer group id of the consumer.",
    ),
    super::HELP,
    valued(
        "include",
        "String: Java regex (String)",
        "Regular expression specifying list of topics to include for consumption.",
    ),
    valued(
        "isolation-level",
        "String",
        "Set to read_committed in order to filter out transactional messages which are not committed. Set to read_uncommitted to read all messages. (default: read_uncommitted)",
    ),
    valued("key-deserializer", "String: deserializer for key", ""),
    valued(
        "max-messages",
        "Integer: num_messages",
        "The maximum number of messages to consume before exiting. If not set, consumption is continual.",
    ),
    valued(
        "offset",
        "String: consume offset",
        "The offset to consume from (a non-negative number), or 'earliest' which means from beginning, or 'latest' which means from end (default: latest)",
    ),
    valued(
        "partition",
        "Integer: partition",
        "The partition to consume from. Consumption starts from the end of the partition unless '--offset' is specified.",
    ),
    valued(
        "property",
        "String: prop",
        "The properties to initialize the message formatter: print.timestamp, print.key, print.offset, print.partition, print.headers, print.value, key.separator, line.separator, headers.separator, null.literal.",
    ),
    flag(
        "skip-message-on-error",
        "If there is an error when processing a message, skip it instead of halt.",
    ),
    valued(
        "timeout-ms",
        "Long: timeout_ms",
        "If specified, exit if no message is available for consumption for the specified interval.",
    ),
    valued("topic", "String: topic", "The topic to consume on."),
    valued("value-deserializer", "String: deserializer for values", ""),
    super::VERSION,
];

/// `DefaultMessageFormatter`'s settings.
struct Formatter {
    print_timestamp: bool,
    print_key: bool,
    print_offset: bool,
    print_partition: bool,
    print_headers: bool,
    print_value: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
}

impl Formatter {
    fn new(props: &[(String, String)]) -> Result<Formatter, String> {
        let mut f = Formatter {
            print_timestamp: false,
            print_key: false,
            print_offset: false,
            print_partition: false,
            print_headers: false,
            print_value: true,
            key_separator: b"\t".to_vec(),
            line_separator: b"\n".to_vec(),
            headers_separator: b",".to_vec(),
            null_literal: b"null".to_vec(),
        };
        for (k, v) in props {
            let on = v.trim().eq_ignore_ascii_case("true");
            match k.as_str() {
                "print.timestamp" => f.print_timestamp = on,
                "print.key" => f.print_key = on,
                "print.offset" => f.print_offset = on,
                "print.partition" => f.print_partition = on,
                "print.headers" => f.print_headers = on,
                "print.value" => f.print_value = on,
                "key.separator" => f.key_separator = v.as_bytes().to_vec(),
                "line.separator" => f.line_separator = v.as_bytes().to_vec(),
                "headers.separator" => f.headers_separator = v.as_bytes().to_vec(),
                "null.literal" => f.null_literal = v.as_bytes().to_vec(),
                _ => return Err(format!("Formatter property {k} is not supported by this tool")),
            }
        }
        Ok(f)
    }

    fn bytes<'a>(&'a self, b: &'a Option<Bytes>) -> &'a [u8] {
        b.as_deref().unwrap_or(&self.null_literal)
    }

    fn write(&self, r: &ConsumedRecord, out: &mut impl Write) -> std::io::Result<()> {
        let sep = |out: &mut dyn Write, more: bool| {
            out.write_all(if more {
                &self.key_separator
            } else {
                &self.line_separator
            })
        };
        if self.print_timestamp {
            let kind = if r.log_append_time {
                "LogAppendTime"
            } else {
                "CreateTime"
            };
            if r.timestamp < 0 {
                write!(out, "NO_TIMESTAMP")?;
            } else {
                write!(out, "{kind}:{}", r.timestamp)?;
            }
            sep(
                out,
                self.print_partition || self.print_offset || self.print_headers || self.print_key || self.print_value,
            )?;
        }
        if self.print_partition {
            write!(out, "Partition:{}", r.partition)?;
            sep(
                out,
                self.print_offset || self.print_headers || self.print_key || self.print_value,
            )?;
        }
        if self.print_offset {
            write!(out, "Offset:{}", r.offset)?;
            sep(out, self.print_headers || self.print_key || self.print_value)?;
        }
        if self.print_headers {
            if r.headers.is_empty() {
                write!(out, "NO_HEADERS")?;
            }
            for (i, (k, v)) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.write_all(&self.headers_separator)?;
                }
                write!(out, "{k}:")?;
                out.write_all(self.bytes(v))?;
            }
            sep(out, self.print_key || self.print_value)?;
        }
        if self.print_key {
            out.write_all(self.bytes(&r.key))?;
            sep(out, self.print_value)?;
        }
        if self.print_value {
            out.write_all(self.bytes(&r.value))?;
            out.write_all(&self.line_separator)?;
        }
        Ok(())
    }
}

/// What to read and how.
struct Settings {
    topic: String,
    partition: Option<i32>,
    offset: Option<i64>,
    group: String,
    auto_commit: bool,
    reset: OffsetReset,
    isolation: i8,
    max_messages: Option<u64>,
    timeout: Option<Duration>,
    client_id: String,
}

fn settings(p: &Parsed) -> Result<Settings, String> {
    p.refuse("include", "name the topic with --topic")?;
    p.refuse("enable-systest-events", "it logs the Java consumer's life cycle")?;
    p.refuse("formatter-config", "pass the formatter's properties with --property")?;
    if let Some(f) = p.value("formatter")
        && !f.ends_with("DefaultMessageFormatter")
    {
        return Err(format!(
            "--formatter {f} is not supported: records are printed by DefaultMessageFormatter"
        ));
    }
    for opt in ["key-deserializer", "value-deserializer"] {
        if let Some(d) = p.value(opt)
            && !(d.ends_with("StringDeserializer") || d.ends_with("ByteArrayDeserializer"))
        {
            return Err(format!(
                "--{opt} {d} is not supported: keys and values are printed as bytes"
            ));
        }
    }
    let Some(topic) = p.value("topic") else {
        return Err("Exactly one of --include/--topic is required. ".into());
    };
    if p.has("offset") && !p.has("partition") {
        return Err("The partition is required when offset is specified.".into());
    }
    if p.has("from-beginning") && p.has("offset") {
        return Err("Options from-beginning and offset cannot be specified together.".into());
    }
    if p.has("group") && p.has("partition") {
        return Err("Options group and partition cannot be specified together.".into());
    }
    let mut props = match p.value("consumer.config") {
        Some(f) => args::properties_file(f)?,
        None => Vec::new(),
    };
    props.extend(args::key_values("consumer-property", p.values("consumer-property"))?);
    let prop = |k: &str| props.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    for (k, v) in &props {
        // The settings this consumer honours; bootstrap.servers yields to --bootstrap-server
        // as in the Java tool, and keys and values are bytes whatever the deserializer.
        let honoured = [
            "group.id",
            "client.id",
            "auto.offset.reset",
            "enable.auto.commit",
            "isolation.level",
            "bootstrap.servers",
        ];
        let bytes_deserializer = (k == "key.deserializer" || k == "value.deserializer")
            && (v.ends_with("StringDeserializer") || v.ends_with("ByteArrayDeserializer"));
        if !honoured.contains(&k.as_str()) && !bytes_deserializer {
            return Err(format!("consumer property {k} is not supported by this tool"));
        }
    }
    let offset = match p.value("offset") {
        None => None,
        Some("earliest") => Some(consumer::EARLIEST),
        Some("latest") => Some(consumer::LATEST),
        Some(o) => match o.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(format!(
                    "The provided offset value '{o}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."
                ));
            }
        },
    };
    let explicit_group = p.value("group").map(str::to_string).or_else(|| prop("group.id"));
    // Without a group the Java tool joins a random one and commits nothing.
    let group = explicit_group
        .clone()
        .unwrap_or_else(|| format!("console-consumer-{}", std::process::id() % 100_000));
    let auto_commit = match prop("enable.auto.commit") {
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
        None => explicit_group.is_some(),
    };
    let reset = if p.has("from-beginning") {
        OffsetReset::Earliest
    } else {
        match prop("auto.offset.reset").as_deref() {
            None | Some("latest") => OffsetReset::Latest,
            Some("earliest") => OffsetReset::Earliest,
            Some("none") => OffsetReset::None,
            Some(other) => return Err(format!("Invalid value {other} for configuration auto.offset.reset")),
        }
    };
    let isolation = match p
        .value("isolation-level")
        .map(str::to_string)
        .or_else(|| prop("isolation.level"))
        .as_deref()
    {
        None | Some("read_uncommitted") => consumer::READ_UNCOMMITTED,
        Some("read_committed") => consumer::READ_COMMITTED,
        Some(other) => return Err(format!("Invalid value {other} for configuration isolation.level")),
    };
    let max_messages = p.number::<i64>("max-messages")?.filter(|n| *n >= 0).map(|n| n as u64);
    let timeout = p
        .number::<i64>("timeout-ms")?
        .filter(|n| *n >= 0)
        .map(|n| Duration::from_millis(n as u64));
    Ok(Settings {
        topic: topic.to_string(),
        partition: p.number("partition")?,
        offset,
        group,
        auto_commit,
        reset,
        isolation,
        max_messages,
        timeout,
        client_id: prop("client.id").unwrap_or_else(|| "console-consumer".into()),
    })
}

pub fn main(args: &[String]) -> i32 {
    let parsed = match super::start_tool(OPTS, ABOUT, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let bootstrap = parsed.value("bootstrap-server").unwrap_or_default();
    let (settings, formatter) = match settings(&parsed).and_then(|s| {
        let props = args::key_values("property", parsed.values("property"))?;
        Ok((s, Formatter::new(&props)?))
    }) {
        Ok(x) => x,
        Err(e) => return super::usage_error(OPTS, ABOUT, &e),
    };
    install_stop_handler();
    let mut count = 0u64;
    let result = run(bootstrap, &settings, &formatter, &mut count);
    let status = match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR Error processing message, terminating consumer process: {e:#}");
            1
        }
    };
    eprintln!("Processed a total of {count} messages");
    status
}

fn run(bootstrap: &str, s: &Settings, formatter: &Formatter, count: &mut u64) -> Result<()> {
    let mut client = Client::connect(bootstrap, &s.client_id)?;
    let topics = vec![s.topic.clone()];
    let layout = client::layout_creating(&mut client, &topics)?;
    let mut fetcher = Fetcher::new(layout.clone(), s.isolation, s.reset);
    if let Some(t) = s.timeout {
        fetcher.max_wait_ms = fetcher.max_wait_ms.min(t.as_millis().max(1) as i32);
    }
    let mut member = None;
    if let Some(partition) = s.partition {
        if partition < 0 || partition as usize >= layout.partitions(&s.topic).max(1) {
            return Err(anyhow!("Partition {partition} of topic {} does not exist", s.topic));
        }
        let start = match s.offset {
            Some(consumer::EARLIEST) => {
                fetcher.reset = OffsetReset::Earliest;
                None
            }
            Some(consumer::LATEST) => {
                fetcher.reset = OffsetReset::Latest;
                None
            }
            Some(o) => Some(o),
            None => None,
        };
        fetcher.assign(&mut client, &BTreeMap::from([((s.topic.clone(), partition), start)]))?;
    } else {
        let mut m = GroupMember::new(&s.group, topics.clone());
        rebalance(&mut client, &mut m, &mut fetcher)?;
        member = Some(m);
    }
    let outcome = consume(&mut client, s, formatter, &mut fetcher, member.as_mut(), count);
    // Like the Java consumer's close: commit what was consumed, then leave the group.
    if let Some(m) = member.as_mut() {
        if s.auto_commit {
            let _ = m.commit(&mut client, &fetcher.positions, &fetcher.epochs);
        }
        let _ = m.leave(&mut client);
    }
    outcome
}

/// Joins and starts fetching the assigned partitions from their committed offsets.
fn rebalance(client: &mut Client, member: &mut GroupMember, fetcher: &mut Fetcher) -> Result<()> {
    let assigned = member.join(client)?;
    let committed = if assigned.is_empty() {
        BTreeMap::new()
    } else {
        consumer::committed_offsets(client, &member.group, Some(&assigned))?
    };
    let start: BTreeMap<TopicPartition, Option<i64>> = assigned
        .iter()
        .map(|tp| (tp.clone(), committed.get(tp).copied()))
        .collect();
    fetcher.layout = client::layout(client, &member_topics(&assigned, fetcher))?;
    fetcher.assign(client, &start)
}

fn member_topics(assigned: &[TopicPartition], fetcher: &Fetcher) -> Vec<String> {
    let mut topics: Vec<String> = assigned.iter().map(|(t, _)| t.clone()).collect();
    topics.extend(fetcher.layout.topics.keys().cloned());
    topics.sort();
    topics.dedup();
    topics
}

const AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(5);

fn consume(
    client: &mut Client,
    s: &Settings,
    formatter: &Formatter,
    fetcher: &mut Fetcher,
    mut member: Option<&mut GroupMember>,
    count: &mut u64,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut last_record = Instant::now();
    let mut last_commit = Instant::now();
    while s.max_messages.is_none_or(|m| *count < m) && !stopped() {
        if let Some(m) = member.as_deref_mut() {
            if m.heartbeat_if_due(client)? {
                out.flush()?;
                if s.auto_commit {
                    let _ = m.commit(client, &fetcher.positions, &fetcher.epochs);
                }
                rebalance(client, m, fetcher)?;
            }
            if s.auto_commit && last_commit.elapsed() >= AUTO_COMMIT_INTERVAL {
                m.commit(client, &fetcher.positions, &fetcher.epochs)?;
                last_commit = Instant::now();
            }
        }
        match fetcher.next(client)? {
            Some(r) => {
                *count += 1;
                last_record = Instant::now();
                if formatter.write(&r, &mut out).is_err() {
                    eprintln!("Unable to write to standard out, closing consumer.");
                    return Ok(());
                }
            }
            None => {
                if out.flush().is_err() {
                    eprintln!("Unable to write to standard out, closing consumer.");
                    return Ok(());
                }
                if s.timeout.is_some_and(|t| last_record.elapsed() > t) {
                    eprintln!(
                        "ERROR Error processing message, terminating consumer process: \norg.apache.kafka.common.errors.TimeoutException"
                    );
                    return Ok(());
                }
            }
        }
    }
    let _ = out.flush();
    Ok(())
}
