//! `kafka-console-producer.sh`: one record per line of standard input, with Kafka's
//! `LineMessageReader` properties (keys, headers, a null marker).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;

use super::args::{self, Opt, Parsed, flag, optional, valued};
use super::client::Client;
use super::producer::{Producer, ProducerConfig, ProducerRecord, SendFailure};
use super::{install_stop_handler, stopped};

const ABOUT: &str = "This tool helps to read data from standard input and publish it to Kafka.";

const OPTS: &[Opt] = &[
    valued(
        "batch-size",
        "Integer: size",
        "Number of messages to send in a single batch if they are not being sent synchronously. (default: 16384)",
    ),
    valued(
        "bootstrap-server",
        "String: server to connect to",
        "REQUIRED: The server(s) to connect to.",
    ),
    optional(
        "compression-codec",
        "String: compression-codec",
        "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'. If specified without value, then it defaults to 'gzip'",
    ),
    super::HELP,
    valued(
        "line-reader",
        "String: reader_class",
        "The class name of the class to use for reading lines from standard in.",
    ),
    valued(
        "max-block-ms",
        "Long: max block on send",
        "The max time that the producer will block for during a send request.",
    ),
    valued(
        "max-memory-bytes",
        "Long: total memory in bytes",
        "The total memory used by the producer to buffer records waiting to be sent to the server.",
    ),
    valued(
        "max-partition-memory-bytes",
        "Integer: memory in bytes per partition",
        "The buffer size allocated for a partition.",
    ),
    valued(
        "message-send-max-retries",
        "Integer",
        "Number of retries of a failed send. (default: 3)",
    ),
    valued(
        "metadata-expiry-ms",
        "Long: metadata expiration interval",
        "The period of time in milliseconds after which we force a refresh of metadata.",
    ),
    valued(
        "producer-property",
        "String: producer_prop",
        "A mechanism to pass user-defined properties in the form key=value to the producer.",
    ),
    valued(
        "producer.config",
        "String: config file",
        "Producer config properties file. Note that [producer-property] takes precedence over this config.",
    ),
    valued(
        "property",
        "String: prop",
        "A mechanism to pass user-defined properties in the form key=value to the message reader: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error.",
    ),
    valued(
        "reader-config",
        "String: config file",
        "Config properties file for the message reader. Note that [property] takes precedence over this config.",
    ),
    valued(
        "request-required-acks",
        "String: request required acks",
        "The required `acks` of the producer requests (default: -1)",
    ),
    valued(
        "request-timeout-ms",
        "Integer: request timeout ms",
        "The ack timeout of the producer requests. Value must be non-negative and non-zero. (default: 1500)",
    ),
    valued(
        "retry-backoff-ms",
        "Long",
        "Before each retry, the producer refreshes the metadata of relevant topics.",
    ),
    valued("socket-buffer-size", "Integer: size", "The size of the tcp RECV size."),
    flag(
        "sync",
        "If set message send requests to the brokers are synchronously, one at a time as they arrive.",
    ),
    valued(
        "timeout",
        "Long: timeout_ms",
        "If set and the producer is running in asynchronous mode, this gives the maximum amount of time a message will queue awaiting sufficient batch size. (default: 1000)",
    ),
    valued(
        "topic",
        "String: topic",
        "REQUIRED: The topic name to produce messages to.",
    ),
    super::VERSION,
];

/// `LineMessageReader`'s settings.
struct LineReader {
    parse_key: bool,
    key_separator: String,
    parse_headers: bool,
    headers_delimiter: String,
    headers_separator: String,
    headers_key_separator: String,
    ignore_error: bool,
    null_marker: Option<String>,
}

impl LineReader {
    fn new(props: &[(String, String)]) -> Result<LineReader, String> {
        let mut r = LineReader {
            parse_key: false,
            key_separator: "\t".into(),
            parse_headers: false,
            headers_delimiter: "\t".into(),
            headers_separator: ",".into(),
            headers_key_separator: ":".into(),
            ignore_error: false,
            null_marker: None,
        };
        for (k, v) in props {
            match k.as_str() {
                "parse.key" => r.parse_key = v.trim().eq_ignore_ascii_case("true"),
                "key.separator" => r.key_separator = v.clone(),
                "parse.headers" => r.parse_headers = v.trim().eq_ignore_ascii_case("true"),
                "headers.delimiter" => r.headers_delimiter = v.clone(),
                "headers.separator" => r.headers_separator = v.clone(),
                "headers.key.separator" => r.headers_key_separator = v.clone(),
                "ignore.error" => r.ignore_error = v.trim().eq_ignore_ascii_case("true"),
                "null.marker" => r.null_marker = Some(v.clone()),
                _ => return Err(format!("Reader property {k} is not supported by this tool")),
            }
        }
        let pairs = [
            (
                &r.headers_delimiter,
                &r.headers_separator,
                "headers.delimiter and headers.separator",
            ),
            (
                &r.headers_delimiter,
                &r.headers_key_separator,
                "headers.delimiter and headers.key.separator",
            ),
            (
                &r.headers_separator,
                &r.headers_key_separator,
                "headers.separator and headers.key.separator",
            ),
        ];
        for (a, b, what) in pairs {
            if a == b {
                return Err(format!("{what} may not be equal"));
            }
        }
        if let Some(m) = &r.null_marker {
            for (s, name) in [
                (&r.key_separator, "key.separator"),
                (&r.headers_separator, "headers.separator"),
                (&r.headers_delimiter, "headers.delimiter"),
                (&r.headers_key_separator, "headers.key.separator"),
            ] {
                if s == m {
                    return Err(format!("null.marker and {name} may not be equal"));
                }
            }
        }
        Ok(r)
    }

    fn bytes_unless_null(&self, s: &str) -> Option<Bytes> {
        (self.null_marker.as_deref() != Some(s)).then(|| Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The text before `sep` from `start`, if parsing is `enabled`.
    fn parse<'l>(
        &self,
        enabled: bool,
        line: &'l str,
        start: usize,
        sep: &str,
        what: &str,
        n: usize,
    ) -> Result<Option<&'l str>> {
        if !enabled {
            return Ok(None);
        }
        match line[start..].find(sep) {
            Some(i) => Ok(Some(&line[start..start + i])),
            None if self.ignore_error => Ok(None),
            None => bail!("No {what} found on line number {n}: '{line}'"),
        }
    }

    fn record(&self, topic: &str, line: &str, n: usize) -> Result<ProducerRecord> {
        let headers = self.parse(
            self.parse_headers,
            line,
            0,
            &self.headers_delimiter,
            "headers delimiter",
            n,
        )?;
        let header_end = headers.map_or(0, |h| h.len() + self.headers_delimiter.len());
        let key = self.parse(
            self.parse_key,
            line,
            header_end,
            &self.key_separator,
            "key separator",
            n,
        )?;
        let key_end = key.map_or(0, |k| k.len() + self.key_separator.len());
        let value = &line[header_end + key_end..];
        let mut parsed_headers = Vec::new();
        if let Some(h) = headers.filter(|h| self.null_marker.as_deref() != Some(*h)) {
            let separator = regex::Regex::new(&self.headers_separator).map_err(|e| anyhow!("{e}"))?;
            for pair in separator.split(h) {
                match pair.find(&self.headers_key_separator) {
                    Some(i) => {
                        let k = &pair[..i];
                        if self.null_marker.as_deref() == Some(k) {
                            bail!("Header keys should not be equal to the null marker '{k}' as they can't be null");
                        }
                        let v = &pair[i + self.headers_key_separator.len()..];
                        parsed_headers.push((k.to_string(), self.bytes_unless_null(v)));
                    }
                    None if self.ignore_error => parsed_headers.push((pair.to_string(), None)),
                    None => bail!("No header key separator found in pair '{pair}' on line number {n}"),
                }
            }
        }
        Ok(ProducerRecord {
            topic: topic.to_string(),
            partition: None,
            key: key.and_then(|k| self.bytes_unless_null(k)),
            value: self.bytes_unless_null(value),
            headers: parsed_headers,
        })
    }
}

pub fn main(args: &[String]) -> i32 {
    let parsed = match super::start_tool(OPTS, ABOUT, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let bootstrap = parsed.value("bootstrap-server").unwrap_or_default();
    let Some(topic) = parsed.value("topic") else {
        return super::usage_error(OPTS, ABOUT, "Missing required argument \"[topic]\"");
    };
    let settings = settings(&parsed);
    let (config, reader) = match settings {
        Ok(s) => s,
        Err(e) => return super::usage_error(OPTS, ABOUT, &e),
    };
    match run(bootstrap, topic, config, &reader, parsed.has("sync")) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR {e:#}");
            1
        }
    }
}

/// The producer config and line reader: the config files, then the `--*-property`
/// options over them, then the dedicated flags when given (their defaults otherwise).
fn settings(p: &Parsed) -> Result<(ProducerConfig, LineReader), String> {
    p.refuse(
        "line-reader",
        "lines are read by Kafka's LineMessageReader, configured with --property",
    )?;
    let mut props = match p.value("producer.config") {
        Some(file) => args::properties_file(file)?,
        None => Vec::new(),
    };
    props.extend(args::key_values("producer-property", p.values("producer-property"))?);
    let has = |k: &str| props.iter().any(|(key, _)| key == k);
    let mut merged = Vec::new();
    for (flag, key, default) in [
        ("request-required-acks", "acks", "-1"),
        ("compression-codec", "compression.type", "none"),
        ("batch-size", "batch.size", "16384"),
        ("timeout", "linger.ms", "1000"),
        ("message-send-max-retries", "retries", "3"),
        ("request-timeout-ms", "request.timeout.ms", "1500"),
    ] {
        match p.value(flag) {
            // A bare --compression-codec means gzip.
            Some("") if flag == "compression-codec" => merged.push((key.to_string(), "gzip".to_string())),
            Some(v) => merged.push((key.to_string(), v.to_string())),
            None if !has(key) => merged.push((key.to_string(), default.to_string())),
            None => {}
        }
    }
    if !has("client.id") {
        merged.push(("client.id".into(), "console-producer".into()));
    }
    props.extend(merged);
    // Tuning of the Java client's buffers, sockets and metadata cache.
    for java_tuning in [
        "max-block-ms",
        "max-memory-bytes",
        "max-partition-memory-bytes",
        "metadata-expiry-ms",
        "retry-backoff-ms",
        "socket-buffer-size",
    ] {
        p.refuse(java_tuning, "it tunes the Java client's buffers and sockets")?;
    }
    let mut config = ProducerConfig::new("console-producer");
    config.apply(&props)?;
    let mut reader_props = match p.value("reader-config") {
        Some(file) => args::properties_file(file)?,
        None => Vec::new(),
    };
    reader_props.extend(args::key_values("property", p.values("property"))?);
    Ok((config, LineReader::new(&reader_props)?))
}

fn report(failures: Vec<SendFailure>) {
    for f in failures {
        let key = f
            .key
            .as_ref()
            .map_or("null".to_string(), |k| format!("{} bytes", k.len()));
        eprintln!(
            "ERROR Error when sending message to topic {} with key: {key}, value: {} bytes with error: {:#}",
            f.topic, f.value_len, f.error
        );
    }
}

fn run(bootstrap: &str, topic: &str, config: ProducerConfig, reader: &LineReader, sync: bool) -> Result<()> {
    let client = Client::connect(bootstrap, &config.client_id)?;
    let mut producer = Producer::new(client, config)?;
    // Ctrl-C or SIGTERM ends the input: what was read is still sent, as the Java tool's
    // shutdown hook closes (and so flushes) its producer.
    install_stop_handler();
    // Lines arrive on a thread of their own, so batches go out after linger.ms even while
    // standard input stays open and quiet.
    let (tx, rx) = mpsc::channel::<std::io::Result<String>>();
    let prompt = std::io::stdin().is_terminal();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        loop {
            if prompt {
                print!(">");
                let _ = std::io::stdout().flush();
            }
            let mut line = String::new();
            match lock.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string();
                    if tx.send(Ok(trimmed)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
    });
    let mut n = 0;
    // A bulk load piped in while a terminal watches stderr shows how far it got; stdout
    // stays as the Java tool's (empty).
    let progress = !prompt && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut shown = false;
    while !stopped() {
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
            eprint!("\r{} records sent", producer.acked_records);
            last_progress = Instant::now();
            shown = true;
        }
        let wait = producer.next_deadline().map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        // Short enough to notice a stop signal, or the second of a progress line.
        let wait = wait.min(Duration::from_millis(200));
        match rx.recv_timeout(wait) {
            Ok(line) => {
                n += 1;
                let record = match reader.record(topic, &line?, n) {
                    Ok(r) => r,
                    Err(e) => {
                        report(producer.flush()?);
                        return Err(e.context("org.apache.kafka.common.KafkaException"));
                    }
                };
                report(producer.send(record)?);
                if sync {
                    report(producer.flush()?);
                }
            }
            Err(RecvTimeoutError::Timeout) => report(producer.flush_lingering()?),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    report(producer.flush()?);
    if shown {
        eprint!("\r\x1b[K");
    }
    Ok(())
}
