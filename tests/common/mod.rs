//! Shared harness for the integration tests: runs the `rivulet` binary as a child process,
//! builds librdkafka clients (through the `rdkafka` crate) pointed at it, and speaks a little
//! of the Kafka wire protocol by hand for the tests that need raw frames.
//!
//! Every test starts its own broker on an ephemeral 127.0.0.1 port with its own temporary
//! data directory, so tests can run in parallel.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Headers, Message, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// How long a broker may take to log that it is listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a broker may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Default bound for client operations (metadata, admin calls, flushes, consuming).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A `rivulet serve` child process.
///
/// The process's stderr is drained by a thread into a shared buffer so the pipe never fills;
/// the buffer is printed when the owning test panics. The broker is also killed by the kernel
/// (PR_SET_PDEATHSIG) if the thread that started it goes away, so it never outlives its test.
pub struct BrokerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
    data_dir: PathBuf,
}

impl BrokerProcess {
    /// Starts `rivulet serve --listen 127.0.0.1:0 --data-dir <data_dir> <extra_args...>` and waits
    /// until it logs `listening on 127.0.0.1:<port>`.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> BrokerProcess {
        Self::start_with_env(data_dir, extra_args, &[])
    }

    /// [`BrokerProcess::start`] with extra environment variables (e.g. `RIVULET_*` configs).
    pub fn start_with_env(data_dir: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> BrokerProcess {
        let mut cmd = broker_command();
        cmd.envs(envs.iter().copied());
        cmd.arg("serve");
        // A test that sets its own listeners (by --set or environment) keeps them.
        let own_listeners = extra_args.iter().any(|a| a.starts_with("listeners="))
            || envs
                .iter()
                .any(|(k, _)| *k == "KAFKA_LISTENERS" || *k == "RIVULET_LISTENERS");
        if !own_listeners {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.arg("--data-dir").arg(data_dir);
        if !extra_args.contains(&"--log-level") {
            cmd.arg("--log-level").arg("info");
        }
        cmd.args(extra_args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the closure only calls prctl(2), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", env!("CARGO_BIN_EXE_rivulet")));

        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<SocketAddr>();
        let drain = {
            let log = Arc::clone(&log);
            thread::Builder::new()
                .name("broker-stderr".into())
                .spawn(move || drain_stderr(stderr, log, ready_tx))
                .expect("spawn stderr drain thread")
        };

        let mut broker = BrokerProcess {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            drain: Some(drain),
            data_dir: data_dir.to_path_buf(),
        };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => broker.addr = addr,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                broker.kill_now();
                panic!(
                    "broker did not log `listening on` within {START_TIMEOUT:?}; its log:\n{}",
                    broker.log()
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = broker.kill_now();
                panic!(
                    "broker exited ({status:?}) before logging `listening on`; its log:\n{}",
                    broker.log()
                );
            }
        }
        broker
    }

    /// `host:port` to hand to clients as `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker was stopped").id()
    }

    /// Everything the broker wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL: no flush, no clean-shutdown marker.
    pub fn kill9(&mut self) {
        let status = self.kill_now();
        assert!(status.is_some(), "kill9 on a broker that was already stopped");
    }

    /// SIGTERM, then wait for a graceful exit; the exit status must be success.
    pub fn terminate(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("terminate on a broker that was already stopped");
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed: {}", io::Error::last_os_error());
        let status = wait_with_timeout(&mut child, STOP_TIMEOUT);
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            self.join_drain();
            panic!(
                "broker did not exit within {STOP_TIMEOUT:?} of SIGTERM; its log:\n{}",
                self.log()
            );
        };
        self.join_drain();
        assert!(
            status.success(),
            "broker exited with {status} after SIGTERM (expected success); its log:\n{}",
            self.log()
        );
    }

    fn kill_now(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        let status = child.wait().ok();
        self.join_drain();
        status
    }

    fn join_drain(&mut self) {
        if let Some(handle) = self.drain.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill_now();
        if thread::panicking() {
            eprintln!(
                "----- rivulet broker log ({}, data dir {}) -----\n{}----- end of broker log -----",
                self.addr,
                self.data_dir.display(),
                self.log()
            );
        }
    }
}

/// The broker binary with an environment the test controls: the caller's `RUST_LOG` (which
/// would override `--log-level` and could hide the `listening on` line) and `RIVULET_*`
/// settings are removed.
fn broker_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rivulet"));
    cmd.env_remove("RUST_LOG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RIVULET_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `rivulet <args>` expecting it to refuse to start: it must exit unsuccessfully within
/// [`START_TIMEOUT`] without logging `listening on`. Returns its stderr.
pub fn expect_start_failure(args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = broker_command();
    cmd.args(args)
        .envs(envs.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn rivulet");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let drain = {
        let log = Arc::clone(&log);
        thread::spawn(move || drain_stderr(stderr, log, tx))
    };
    let status = wait_with_timeout(&mut child, START_TIMEOUT);
    let started = rx.try_recv().is_ok();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = drain.join();
    let log = log.lock().unwrap().clone();
    assert!(
        !started,
        "`rivulet {}` started, but should have refused to; its log:\n{log}",
        args.join(" ")
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "`rivulet {}` neither started nor exited within {START_TIMEOUT:?}; its log:\n{log}",
            args.join(" ")
        )
    });
    assert!(
        !status.success(),
        "`rivulet {}` exited successfully, expected a failure; its log:\n{log}",
        args.join(" ")
    );
    log
}

fn drain_stderr(stderr: impl Read, log: Arc<Mutex<String>>, ready: mpsc::Sender<SocketAddr>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut announced = false;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = strip_ansi(&String::from_utf8_lossy(&line));
        if !announced && let Some(addr) = parse_listening_line(&text) {
            announced = true;
            let _ = ready.send(addr);
        }
        let mut log = log.lock().unwrap();
        log.push_str(&text);
        if !text.ends_with('\n') {
            log.push('\n');
        }
    }
}

/// Finds `listening on 127.0.0.1:<port>` in a log line.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on")? + "listening on".len()..];
    let rest = rest.trim_start_matches([' ', '=', '"', ':']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => return None,
            Err(e) => panic!("waiting for broker: {e}"),
        }
    }
}

/// Polls `cond` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh temporary data directory, removed when dropped.
pub fn temp_data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rivulet-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Runs a future to completion (admin calls return futures).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

// ------------------------------------------------------------------------------------------
// librdkafka clients
// ------------------------------------------------------------------------------------------

/// Base librdkafka configuration for talking to the test broker.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "rivulet-it");
    config
}

pub fn admin_client(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client_config(bootstrap).create().expect("create admin client")
}

pub fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT))
}

/// Creates a topic and waits until metadata shows all its partitions with a leader.
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin_client(bootstrap);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = block_on(admin.create_topics([&topic], &admin_options()))
        .unwrap_or_else(|e| panic!("CreateTopics request for {name:?} failed: {e}"));
    assert_eq!(results.len(), 1, "one result per created topic: {results:?}");
    if let Err((t, code)) = &results[0] {
        panic!("creating topic {t:?} ({partitions} partitions, configs {configs:?}) failed: {code:?}");
    }
    wait_for(CLIENT_TIMEOUT, &format!("topic {name} in metadata"), || {
        let n = topic_partition_count(bootstrap, name)?;
        (n == partitions as usize).then_some(())
    });
}

/// Partition count of `topic` per an all-topics Metadata request (which never auto-creates),
/// or None when the broker does not list the topic.
pub fn topic_partition_count(bootstrap: &str, topic: &str) -> Option<usize> {
    let consumer = plain_consumer(bootstrap, &[]);
    let metadata = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("Metadata request failed: {e}"));
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    if found.error().is_some() {
        return None;
    }
    Some(found.partitions().len())
}

/// One delivery report from a [`TrackedProducer`].
#[derive(Clone, Debug)]
pub struct DeliveryReport {
    /// The id the record was sent with (`BaseRecord::with_opaque_to`).
    pub id: usize,
    /// `(partition, offset)` on success.
    pub result: Result<(i32, i64), KafkaError>,
    /// When the report was served by `poll`.
    pub at: Instant,
}

/// Producer context that records every delivery report.
#[derive(Default)]
pub struct CollectingContext {
    reports: Mutex<Vec<DeliveryReport>>,
}

impl ClientContext for CollectingContext {}

impl ProducerContext for CollectingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let result = match result {
            Ok(msg) => Ok((msg.partition(), msg.offset())),
            Err((err, _)) => Err(err.clone()),
        };
        self.reports.lock().unwrap().push(DeliveryReport {
            id,
            result,
            at: Instant::now(),
        });
    }
}

pub type TrackedProducer = BaseProducer<CollectingContext>;

/// A producer whose delivery reports are collected (see [`take_reports`]).
/// `settings` override the defaults (acks=all, no idempotence).
pub fn tracked_producer(bootstrap: &str, settings: &[(&str, &str)]) -> TrackedProducer {
    let mut config = client_config(bootstrap);
    config
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    config
        .create_with_context(CollectingContext::default())
        .expect("create producer")
}

/// Removes and returns the delivery reports collected so far.
pub fn take_reports(producer: &TrackedProducer) -> Vec<DeliveryReport> {
    std::mem::take(&mut *producer.context().reports.lock().unwrap())
}

/// Enqueues a record, serving delivery reports while librdkafka's queue is full.
pub fn send(producer: &TrackedProducer, mut record: BaseRecord<'_, [u8], [u8], usize>) {
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => panic!("enqueueing a record failed: {e}"),
        }
    }
}

/// Flushes, failing the test if that takes longer than [`CLIENT_TIMEOUT`].
///
/// `Producer::flush` serves delivery reports in 100 ms slices, so every flush would cost at
/// least that; this polls in 1 ms slices instead.
pub fn flush(producer: &TrackedProducer) {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    // A zero-timeout flush asks librdkafka to send now (ignoring linger) and reports whether
    // anything is still outstanding, delivery reports included.
    while producer.flush(Duration::ZERO).is_err() {
        assert!(
            Instant::now() < deadline,
            "flush timed out with {} records still in flight",
            producer.in_flight_count()
        );
        producer.poll(Duration::from_millis(1));
    }
}

/// Sends `records` (key, value) to `topic`/`partition` (None = partitioner), flushes, and returns
/// the (partition, offset) of each, in order; panics on any failed delivery.
pub fn produce_all(
    producer: &TrackedProducer,
    topic: &str,
    partition: Option<i32>,
    records: &[(Vec<u8>, Vec<u8>)],
) -> Vec<(i32, i64)> {
    for (i, (k, v)) in records.iter().enumerate() {
        let mut r = BaseRecord::with_opaque_to(topic, i).key(&k[..]).payload(&v[..]);
        if let Some(p) = partition {
            r = r.partition(p);
        }
        send(producer, r);
    }
    flush(producer);
    let mut out = vec![None; records.len()];
    for report in take_reports(producer) {
        match report.result {
            Ok(po) => out[report.id] = Some(po),
            Err(e) => panic!("record #{} to {topic} was not delivered: {e}", report.id),
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, po)| po.unwrap_or_else(|| panic!("no delivery report for record #{i}")))
        .collect()
}

/// A consumer used with `assign` only. librdkafka refuses `assign` without a group.id, but no
/// group API is used: offsets are explicit and nothing is committed.
pub fn plain_consumer(bootstrap: &str, settings: &[(&str, &str)]) -> BaseConsumer {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", "rivulet-it-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("check.crcs", "true")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    config.create().expect("create consumer")
}

/// A consumed record, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

impl Consumed {
    pub fn from_message(msg: &impl Message) -> Consumed {
        let headers = msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Consumed {
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg.key().map(<[u8]>::to_vec),
            value: msg.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: msg.timestamp(),
        }
    }
}

/// Low and high watermarks of one partition.
pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    plain_consumer(bootstrap, &[])
        .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("ListOffsets for {topic}/{partition} failed: {e}"))
}

/// Reads partitions `0..partitions` of `topic` from the beginning up to the high watermark
/// each had when this was called. Returns the records per partition, in consumed order.
pub fn consume_to_end(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Vec<Consumed>> {
    let consumer = plain_consumer(bootstrap, &[]);
    let mut high = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, hi) = consumer
            .fetch_watermarks(topic, p, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("ListOffsets for {topic}/{p} failed: {e}"));
        high.insert(p, hi);
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");

    let mut out: Vec<Vec<Consumed>> = vec![Vec::new(); partitions as usize];
    let done = |out: &Vec<Vec<Consumed>>| {
        (0..partitions).all(|p| {
            let hi = high[&p];
            hi == 0 || out[p as usize].last().is_some_and(|r| r.offset >= hi - 1)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&out) {
        if Instant::now() > deadline {
            let got: Vec<_> = out
                .iter()
                .enumerate()
                .map(|(p, rs)| {
                    format!(
                        "p{p}: {} records, last offset {:?}, high watermark {}",
                        rs.len(),
                        rs.last().map(|r| r.offset),
                        high[&(p as i32)]
                    )
                })
                .collect();
            panic!("timed out consuming {topic} to its high watermarks: {got:#?}");
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(msg)) => {
                let c = Consumed::from_message(&msg);
                out[c.partition as usize].push(c);
            }
            Some(Err(e)) => panic!("consumer error while reading {topic}: {e}"),
        }
    }
    out
}

/// Asserts that `records` hold offsets `0..records.len()` in order.
pub fn assert_dense_from_zero(topic: &str, partition: i32, records: &[Consumed]) {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r.offset, i as i64,
            "{topic}/{partition}: record #{i} has offset {} (offsets must be dense from 0)",
            r.offset
        );
    }
}

// ------------------------------------------------------------------------------------------
// Raw wire protocol
// ------------------------------------------------------------------------------------------

pub const API_PRODUCE: i16 = 0;
pub const API_FETCH: i16 = 1;
pub const API_LIST_OFFSETS: i16 = 2;
pub const API_METADATA: i16 = 3;
pub const API_API_VERSIONS: i16 = 18;
pub const API_CREATE_TOPICS: i16 = 19;
pub const API_DELETE_TOPICS: i16 = 20;
pub const ERROR_UNSUPPORTED_VERSION: i16 = 35;

/// Connects with read/write timeouts so a misbehaving broker fails the test instead of hanging it.
pub fn raw_connect(addr: SocketAddr) -> TcpStream {
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A length-prefixed request with a v2 (flexible) request header.
pub fn frame_request_v2(api_key: i16, api_version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let client_id = b"rivulet-raw";
    let mut msg = Vec::new();
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&api_version.to_be_bytes());
    msg.extend_from_slice(&correlation_id.to_be_bytes());
    msg.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    msg.extend_from_slice(client_id);
    msg.push(0); // header tagged fields
    msg.extend_from_slice(body);
    let mut frame = (msg.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&msg);
    frame
}

/// A length-prefixed request with a v1 (non-flexible) request header.
pub fn frame_request_v1(api_key: i16, api_version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let client_id = b"rivulet-raw";
    let mut msg = Vec::new();
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&api_version.to_be_bytes());
    msg.extend_from_slice(&correlation_id.to_be_bytes());
    msg.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    msg.extend_from_slice(client_id);
    msg.extend_from_slice(body);
    let mut frame = (msg.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&msg);
    frame
}

/// ApiVersionsRequest v3+ body: client_software_name, client_software_version, tagged fields.
pub fn api_versions_body_v3() -> Vec<u8> {
    let mut body = Vec::new();
    for s in ["rivulet-tests", "1.0"] {
        put_uvarint(&mut body, s.len() as u64 + 1);
        body.extend_from_slice(s.as_bytes());
    }
    body.push(0);
    body
}

pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads one length-prefixed response frame (without the length).
pub fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(0..=64 << 20).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("response frame length {len}"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// One (api_key, min_version, max_version) entry of an ApiVersions response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRange {
    pub api_key: i16,
    pub min: i16,
    pub max: i16,
}

/// A decoded ApiVersions response.
#[derive(Debug)]
pub struct ApiVersionsResponse {
    pub correlation_id: i32,
    pub error_code: i16,
    pub apis: Vec<ApiRange>,
    pub throttle_time_ms: Option<i32>,
}

/// Big-endian reader over a response body; every read checks bounds.
pub struct WireReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        WireReader { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.remaining() >= n,
            "response truncated: wanted {n} bytes at offset {}, {} left (response: {:02x?})",
            self.pos,
            self.remaining(),
            self.buf
        );
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        out
    }
    pub fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.bytes(2).try_into().unwrap())
    }
    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.bytes(4).try_into().unwrap())
    }
    pub fn uvarint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.bytes(1)[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("uvarint too long");
    }
    /// Skips a tagged-field section.
    pub fn tagged_fields(&mut self) {
        let n = self.uvarint();
        for _ in 0..n {
            let _tag = self.uvarint();
            let len = self.uvarint() as usize;
            self.bytes(len);
        }
    }
}

/// Decodes an ApiVersions response body in the v0 layout (as sent for an unsupported version).
pub fn parse_api_versions_v0(frame: &[u8]) -> ApiVersionsResponse {
    let mut r = WireReader::new(frame);
    let correlation_id = r.i32();
    let error_code = r.i16();
    let n = r.i32();
    assert!((0..1000).contains(&n), "implausible api_keys count {n}");
    let apis = (0..n)
        .map(|_| ApiRange {
            api_key: r.i16(),
            min: r.i16(),
            max: r.i16(),
        })
        .collect();
    assert_eq!(
        r.remaining(),
        0,
        "trailing bytes after an ApiVersions v0 response: {frame:02x?}"
    );
    ApiVersionsResponse {
        correlation_id,
        error_code,
        apis,
        throttle_time_ms: None,
    }
}

/// Decodes an ApiVersions v3/v4 response (response header v0, flexible body).
pub fn parse_api_versions_v3(frame: &[u8]) -> ApiVersionsResponse {
    let mut r = WireReader::new(frame);
    let correlation_id = r.i32();
    let error_code = r.i16();
    let n = r.uvarint();
    assert!((1..1000).contains(&n), "implausible compact api_keys length {n}");
    let apis = (0..n - 1)
        .map(|_| {
            let range = ApiRange {
                api_key: r.i16(),
                min: r.i16(),
                max: r.i16(),
            };
            r.tagged_fields();
            range
        })
        .collect();
    let throttle_time_ms = Some(r.i32());
    r.tagged_fields();
    assert_eq!(
        r.remaining(),
        0,
        "trailing bytes after an ApiVersions v3 response: {frame:02x?}"
    );
    ApiVersionsResponse {
        correlation_id,
        error_code,
        apis,
        throttle_time_ms,
    }
}

/// Sends ApiVersions v3 on `stream` and decodes the reply.
pub fn raw_api_versions(stream: &mut TcpStream, correlation_id: i32) -> io::Result<ApiVersionsResponse> {
    stream.write_all(&frame_request_v2(
        API_API_VERSIONS,
        3,
        correlation_id,
        &api_versions_body_v3(),
    ))?;
    let frame = read_frame(stream)?;
    Ok(parse_api_versions_v3(&frame))
}

/// Brokers `(node id, host, port)` from a Metadata v1 request for no topics.
pub fn raw_metadata_brokers(stream: &mut TcpStream, correlation_id: i32) -> Vec<(i32, String, i32)> {
    // Metadata v1 body: an empty topic array.
    stream
        .write_all(&frame_request_v1(API_METADATA, 1, correlation_id, &0i32.to_be_bytes()))
        .expect("send Metadata");
    let frame = read_frame(stream).expect("Metadata response");
    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), correlation_id, "correlation id");
    let n = r.i32();
    let string = |r: &mut WireReader<'_>| {
        let len = r.i16();
        (len >= 0).then(|| String::from_utf8(r.bytes(len as usize).to_vec()).expect("utf-8"))
    };
    (0..n)
        .map(|_| {
            let id = r.i32();
            let host = string(&mut r).expect("host");
            let port = r.i32();
            let _rack = string(&mut r);
            (id, host, port)
        })
        .collect()
}

pub mod faultfs;
pub mod protocol;

/// The broker a fidelity check runs against. `FIDELITY_BOOTSTRAP=host:port` names a running
/// broker — Apache Kafka, to prove the check itself right — and otherwise each check starts
/// its own Rivulet with `args`. Checks against a shared broker use names unique to the run.
pub struct Target {
    pub bootstrap: String,
    pub external: bool,
    // Dropped in this order: the broker stops before its directory goes.
    _broker: Option<BrokerProcess>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    pub fn start(args: &[&str]) -> Target {
        if let Ok(bootstrap) = std::env::var("FIDELITY_BOOTSTRAP") {
            return Target {
                bootstrap,
                external: true,
                _broker: None,
                _dir: None,
            };
        }
        let dir = temp_data_dir();
        let broker = BrokerProcess::start(dir.path(), args);
        Target {
            bootstrap: broker.bootstrap(),
            external: false,
            _broker: Some(broker),
            _dir: Some(dir),
        }
    }

    /// The broker's log so far (empty for an external broker).
    pub fn log(&self) -> String {
        self._broker.as_ref().map(|b| b.log()).unwrap_or_default()
    }

    /// A name no other check or run uses.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
    }
}

/// The port of each of a broker's listeners, by name, once all `count` have logged
/// `listening on`.
pub fn listener_ports(broker: &BrokerProcess, count: usize) -> std::collections::HashMap<String, u16> {
    wait_for(Duration::from_secs(10), "every listener's line", || {
        let ports: std::collections::HashMap<String, u16> = broker
            .log()
            .lines()
            .filter_map(|l| {
                let addr = l.split("listening on ").nth(1)?.split_whitespace().next()?;
                let name = l.split("listener=").nth(1)?.split_whitespace().next()?;
                Some((name.to_string(), addr.rsplit(':').next()?.parse().ok()?))
            })
            .collect();
        (ports.len() == count).then_some(ports)
    })
}
