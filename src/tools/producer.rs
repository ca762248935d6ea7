//! A producer in the manner of Kafka's: records go to a partition by the murmur2 hash of
//! their key (keyless ones stick to one partition per batch), collect per partition up to
//! `batch.size`, and go in one Produce request per leader. With idempotence (Kafka's
//! default with acks=all) batches carry a producer id and sequence numbers, so a retried
//! batch is not written twice.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest};
use kafka_protocol::records::{Compression, Record, TimestampType};

use super::client::{self, API_TIMEOUT, Client, RETRY_BACKOFF, TopicLayout, sb};
use super::errors::{self, KafkaError};
use super::records;

/// Kafka's `Utils.murmur2`, which places keyed records.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives a keyed record.
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as usize % partitions) as i32
}

/// The producer settings the tools take (`--producer-property` and their own flags).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub acks: i16,
    pub compression: Compression,
    pub batch_size: usize,
    pub linger: Duration,
    pub idempotence: bool,
    pub request_timeout: Duration,
    pub retries: u32,
    pub client_id: String,
}

impl ProducerConfig {
    /// Kafka's producer defaults, with `client_id`.
    pub fn new(client_id: &str) -> ProducerConfig {
        ProducerConfig {
            acks: -1,
            compression: Compression::None,
            batch_size: 16384,
            linger: Duration::from_millis(5),
            idempotence: true,
            request_timeout: Duration::from_secs(30),
            retries: i32::MAX as u32,
            client_id: client_id.to_string(),
        }
    }

    /// Applies producer properties; a key this producer does not implement is refused.
    /// Idempotence follows Kafka: on by default only with acks=all.
    pub fn apply(&mut self, props: &[(String, String)]) -> Result<(), String> {
        let mut idempotence = None;
        for (k, v) in props {
            let bad = || format!("Invalid value {v} for configuration {k}");
            match k.as_str() {
                "acks" => {
                    self.acks = match v.as_str() {
                        "all" | "-1" => -1,
                        "0" => 0,
                        "1" => 1,
                        _ => return Err(bad()),
                    }
                }
                "compression.type" => self.compression = records::compression_named(v).ok_or_else(bad)?,
                "batch.size" => self.batch_size = v.parse().map_err(|_| bad())?,
                "linger.ms" => self.linger = Duration::from_millis(v.parse().map_err(|_| bad())?),
                "request.timeout.ms" => self.request_timeout = Duration::from_millis(v.parse().map_err(|_| bad())?),
                "retries" => self.retries = v.parse().map_err(|_| bad())?,
                "client.id" => self.client_id = v.clone(),
                "enable.idempotence" => idempotence = Some(v.parse::<bool>().map_err(|_| bad())?),
                // Whoever connects (the tool's --bootstrap-server), and one request in
                // flight per connection, which any limit allows.
                "bootstrap.servers" | "max.in.flight.requests.per.connection" => {}
                // Records are bytes whatever the serializer.
                "key.serializer" | "value.serializer"
                    if v.ends_with("StringSerializer") || v.ends_with("ByteArraySerializer") => {}
                _ => return Err(format!("producer property {k} is not supported by this tool")),
            }
        }
        match idempotence {
            Some(true) if self.acks != -1 => {
                return Err("Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.".into());
            }
            Some(on) => self.idempotence = on,
            None => self.idempotence = self.acks == -1,
        }
        Ok(())
    }
}

/// A record to send.
pub struct ProducerRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A record that could not be written, with why.
pub struct SendFailure {
    pub topic: String,
    pub key: Option<Bytes>,
    pub value_len: usize,
    pub error: anyhow::Error,
}

/// An encoded batch for a partition, with the records it holds (for failure reports) and
/// when each was queued (for latencies).
type Batch = ((String, i32), Bytes, Vec<Record>, Vec<Instant>);

struct Pending {
    records: Vec<Record>,
    enqueued: Vec<Instant>,
    bytes: usize,
    first: Instant,
}

pub struct Producer {
    pub client: Client,
    config: ProducerConfig,
    layouts: HashMap<String, TopicLayout>,
    producer_id: i64,
    producer_epoch: i16,
    sequences: HashMap<(String, i32), i32>,
    sticky: HashMap<String, i32>,
    pending: BTreeMap<(String, i32), Pending>,
    /// Records written.
    pub acked_records: u64,
    /// Milliseconds from queueing to acknowledgement of each record written, when kept
    /// (the perf test takes them).
    pub latencies: Option<Vec<u32>>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Producer {
    pub fn new(client: Client, config: ProducerConfig) -> Result<Producer> {
        let mut producer = Producer {
            client,
            config,
            layouts: HashMap::new(),
            producer_id: -1,
            producer_epoch: -1,
            sequences: HashMap::new(),
            sticky: HashMap::new(),
            pending: BTreeMap::new(),
            acked_records: 0,
            latencies: None,
        };
        if producer.config.idempotence {
            let request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1);
            // The transaction coordinator may still be loading its log (created on first use).
            let deadline = Instant::now() + API_TIMEOUT;
            let response = loop {
                let response = producer.client.any().call(&request)?;
                let error = KafkaError::new(response.error_code, None);
                if response.error_code == 0 || !error.is_retriable() || Instant::now() >= deadline {
                    KafkaError::check(response.error_code, None)?;
                    break response;
                }
                std::thread::sleep(RETRY_BACKOFF);
            };
            producer.producer_id = response.producer_id.0;
            producer.producer_epoch = response.producer_epoch;
        }
        Ok(producer)
    }

    /// The topic's partitions and leaders; the topic is created if the broker creates
    /// topics on first use (as the Java producer's metadata requests allow).
    fn layout(&mut self, topic: &str) -> Result<&TopicLayout> {
        if !self.layouts.contains_key(topic) {
            let layout = client::layout_creating(&mut self.client, &[topic.to_string()])?;
            if let Some(e) = layout.errors.get(topic) {
                return Err(e.clone().into());
            }
            if layout.partitions(topic) == 0 {
                bail!(
                    "Topic {topic} not present in metadata after {} ms.",
                    API_TIMEOUT.as_millis()
                );
            }
            self.layouts.insert(topic.to_string(), layout);
        }
        Ok(&self.layouts[topic])
    }

    /// Queues `record`; sends the partition's batch once it reaches `batch.size`. Failures
    /// of what was sent are returned.
    pub fn send(&mut self, record: ProducerRecord) -> Result<Vec<SendFailure>> {
        let partitions = self.layout(&record.topic)?.partitions(&record.topic);
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => {
                if p < 0 || p as usize >= partitions {
                    bail!("Invalid partition given with record: {p} is not in the range [0...{partitions}).");
                }
                p
            }
            (None, Some(key)) => partition_for_key(key, partitions),
            (None, None) => *self
                .sticky
                .entry(record.topic.clone())
                .or_insert_with(|| (now_ms() as u64 % partitions as u64) as i32),
        };
        let size = record.key.as_ref().map_or(0, Bytes::len) + record.value.as_ref().map_or(0, Bytes::len) + 16;
        let tp = (record.topic.clone(), partition);
        let pending = self.pending.entry(tp.clone()).or_insert_with(|| Pending {
            records: Vec::new(),
            enqueued: Vec::new(),
            bytes: 0,
            first: Instant::now(),
        });
        pending.records.push(Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: pending.records.len() as i64,
            sequence: -1,
            timestamp: now_ms(),
            key: record.key,
            value: record.value,
            headers: record.headers.into_iter().map(|(k, v)| (sb(&k), v)).collect(),
        });
        pending.bytes += size;
        pending.enqueued.push(Instant::now());
        if pending.bytes >= self.config.batch_size {
            return self.flush_where(|tp2, _| *tp2 == tp);
        }
        Ok(Vec::new())
    }

    /// Sends the batches that waited `linger.ms`.
    pub fn flush_lingering(&mut self) -> Result<Vec<SendFailure>> {
        let linger = self.config.linger;
        self.flush_where(|_, p| p.first.elapsed() >= linger)
    }

    /// Sends everything queued.
    pub fn flush(&mut self) -> Result<Vec<SendFailure>> {
        self.flush_where(|_, _| true)
    }

    /// The linger deadline of the oldest queued batch.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.first + self.config.linger).min()
    }

    fn flush_where(&mut self, pick: impl Fn(&(String, i32), &Pending) -> bool) -> Result<Vec<SendFailure>> {
        let chosen: Vec<(String, i32)> = self
            .pending
            .iter()
            .filter(|(tp, p)| pick(tp, p))
            .map(|(tp, _)| tp.clone())
            .collect();
        let mut batches = Vec::new();
        for tp in chosen {
            let mut pending = self.pending.remove(&tp).expect("chosen from pending");
            // The next keyless record goes elsewhere, spreading batches over partitions.
            if let Some(sticky) = self.sticky.get_mut(&tp.0)
                && *sticky == tp.1
            {
                let n = self.layouts[&tp.0].partitions(&tp.0) as i32;
                *sticky = (*sticky + 1) % n.max(1);
            }
            // The encoder keeps records in one batch while offset minus sequence stays
            // constant; without a producer id the batch's base sequence is -1 (none).
            let next = if self.producer_id >= 0 {
                self.sequences.entry(tp.clone()).or_insert(0)
            } else {
                &mut -1
            };
            for (i, r) in pending.records.iter_mut().enumerate() {
                r.sequence = next.wrapping_add(i as i32);
            }
            *next = next.wrapping_add(pending.records.len() as i32);
            let encoded = records::encode_batch(&pending.records, self.config.compression)?;
            batches.push((tp, encoded, pending.records, pending.enqueued));
        }
        self.send_batches(batches)
    }

    /// Sends batches to their leaders, retrying retriable errors after a metadata refresh.
    fn send_batches(&mut self, mut batches: Vec<Batch>) -> Result<Vec<SendFailure>> {
        let mut failures = Vec::new();
        let mut attempt = 0;
        let deadline = Instant::now() + API_TIMEOUT.max(self.config.request_timeout);
        while !batches.is_empty() {
            let mut by_leader: BTreeMap<i32, Vec<Batch>> = BTreeMap::new();
            for b in batches.drain(..) {
                let leader = self
                    .layouts
                    .get(&b.0.0)
                    .and_then(|l| l.leader(&b.0.0, b.0.1))
                    .unwrap_or(-1);
                by_leader.entry(leader).or_default().push(b);
            }
            let mut retry = Vec::new();
            for (leader, group) in by_leader {
                let outcome = if leader < 0 {
                    Err(anyhow!(KafkaError::new(errors::LEADER_NOT_AVAILABLE, None)))
                } else {
                    self.produce(leader, &group)
                };
                let results: Vec<Result<(), KafkaError>> = match outcome {
                    Ok(r) => r,
                    Err(e) => {
                        self.client.forget(leader);
                        let k = e.downcast_ref::<KafkaError>().cloned();
                        let e = k.unwrap_or_else(|| KafkaError::new(13, Some(&format!("{e:#}"))));
                        vec![Err(e); group.len()]
                    }
                };
                for (batch, result) in group.into_iter().zip(results) {
                    match result {
                        Ok(()) => {
                            self.acked_records += batch.2.len() as u64;
                            if let Some(l) = self.latencies.as_mut() {
                                l.extend(batch.3.iter().map(|t| t.elapsed().as_millis() as u32));
                            }
                        }
                        Err(e)
                            if (e.is_retriable() || e.code == 13)
                                && attempt < self.config.retries
                                && Instant::now() < deadline =>
                        {
                            retry.push(batch)
                        }
                        Err(e) => failures.extend(batch.2.iter().map(|r| SendFailure {
                            topic: batch.0.0.clone(),
                            key: r.key.clone(),
                            value_len: r.value.as_ref().map_or(0, Bytes::len),
                            error: anyhow!(e.clone()),
                        })),
                    }
                }
            }
            if !retry.is_empty() {
                attempt += 1;
                std::thread::sleep(RETRY_BACKOFF);
                let topics: Vec<String> = retry.iter().map(|b| b.0.0.clone()).collect();
                for t in topics {
                    self.layouts.remove(&t);
                    self.layout(&t)?;
                }
            }
            batches = retry;
        }
        Ok(failures)
    }

    /// One Produce request to `leader`; the outcome per batch, in order.
    fn produce(&mut self, leader: i32, group: &[Batch]) -> Result<Vec<Result<(), KafkaError>>> {
        let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
        for ((topic, partition), bytes, _, _) in group {
            topics.entry(topic).or_default().push(
                PartitionProduceData::default()
                    .with_index(*partition)
                    .with_records(Some(bytes.clone())),
            );
        }
        let topic_data = topics
            .into_iter()
            .map(|(t, parts)| {
                let id = self
                    .layouts
                    .get(t)
                    .and_then(|l| l.topics.get(t))
                    .map(|x| x.0)
                    .unwrap_or_default();
                TopicProduceData::default()
                    .with_name(sb(t).into())
                    .with_topic_id(id)
                    .with_partition_data(parts)
            })
            .collect();
        let request = ProduceRequest::default()
            .with_acks(self.config.acks)
            .with_timeout_ms(self.config.request_timeout.as_millis() as i32)
            .with_topic_data(topic_data);
        let conn = self.client.node(leader)?;
        let version = conn.version::<ProduceRequest>()?;
        if self.config.acks == 0 {
            conn.send(version, &request)?;
            return Ok(vec![Ok(()); group.len()]);
        }
        let response = conn.call_at(version, &request)?;
        let mut outcome = HashMap::new();
        for t in &response.responses {
            let name = if t.name.0.is_empty() {
                self.layouts
                    .iter()
                    .find(|(_, l)| l.topics.values().any(|x| x.0 == t.topic_id))
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default()
            } else {
                t.name.0.to_string()
            };
            for p in &t.partition_responses {
                outcome.insert(
                    (name.clone(), p.index),
                    KafkaError::check(p.error_code, p.error_message.as_deref()),
                );
            }
        }
        Ok(group
            .iter()
            .map(|(tp, _, _, _)| {
                outcome
                    .remove(tp)
                    .unwrap_or_else(|| Err(KafkaError::new(-1, Some("no response for the partition"))))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values of Kafka's Utils.murmur2 (its UtilsTest).
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }
}
