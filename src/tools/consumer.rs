//! Reading partitions: offsets by time (ListOffsets), committed offsets (OffsetFetch and
//! OffsetCommit), and a fetcher that follows positions from the leaders, hides control
//! batches and, under read_committed, aborted transactions.

use std::collections::{BTreeMap, HashSet, VecDeque};

use anyhow::{Result, anyhow};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest};
use kafka_protocol::records::TimestampType;

use super::client::{Client, Connection, TopicLayout, sb};
use super::errors::{self, KafkaError};
use super::records;

/// ListOffsets' special timestamps.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

pub const READ_UNCOMMITTED: i8 = 0;
pub const READ_COMMITTED: i8 = 1;

pub type TopicPartition = (String, i32);

/// An offset and its record's timestamp, or why a partition has none.
pub type OffsetAnswer = Result<(i64, i64), KafkaError>;

/// The offset (and its record's timestamp) for each `(topic, partition, timestamp)`, asked
/// of each partition's leader. A partition without an answer maps to its error.
pub fn list_offsets(
    client: &mut Client,
    layout: &TopicLayout,
    isolation: i8,
    queries: &[(String, i32, i64)],
) -> Result<BTreeMap<TopicPartition, OffsetAnswer>> {
    let mut by_leader: BTreeMap<i32, Vec<&(String, i32, i64)>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for q in queries {
        match layout.leader(&q.0, q.1) {
            Some(l) => by_leader.entry(l).or_default().push(q),
            None => {
                out.insert(
                    (q.0.clone(), q.1),
                    Err(KafkaError::new(errors::LEADER_NOT_AVAILABLE, None)),
                );
            }
        }
    }
    for (leader, qs) in by_leader {
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (t, p, ts) in qs {
            topics.entry(t).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(*p)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(*ts),
            );
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_isolation_level(isolation)
            .with_timeout_ms(30_000)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| ListOffsetsTopic::default().with_name(sb(t).into()).with_partitions(ps))
                    .collect(),
            );
        let response = client.node(leader)?.call(&request)?;
        for t in response.topics {
            for p in t.partitions {
                let r = KafkaError::check(p.error_code, None).map(|()| (p.offset, p.timestamp));
                out.insert((t.name.0.to_string(), p.partition_index), r);
            }
        }
    }
    Ok(out)
}

/// The distinct topics of `partitions`, sorted: what a layout lookup needs.
pub fn topics_of<'a>(partitions: impl IntoIterator<Item = &'a TopicPartition>) -> Vec<String> {
    let topics: std::collections::BTreeSet<&String> = partitions.into_iter().map(|(t, _)| t).collect();
    topics.into_iter().cloned().collect()
}

/// Each partition's offset for `timestamp` (or LATEST, EARLIEST), read uncommitted; `None`
/// where the partition has none or answered an error.
pub fn offsets_at(
    client: &mut Client,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
    let layout = super::client::layout(client, &topics_of(partitions))?;
    let queries: Vec<_> = partitions.iter().map(|(t, p)| (t.clone(), *p, timestamp)).collect();
    Ok(list_offsets(client, &layout, READ_UNCOMMITTED, &queries)?
        .into_iter()
        .map(|(tp, r)| (tp, r.ok().map(|x| x.0).filter(|o| *o >= 0)))
        .collect())
}

/// The log-end offsets of `partitions`, leaving out those that answered none.
pub fn log_end_offsets(client: &mut Client, partitions: Vec<TopicPartition>) -> Result<BTreeMap<TopicPartition, i64>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    Ok(offsets_at(client, &partitions, LATEST)?
        .into_iter()
        .filter_map(|(tp, o)| Some((tp, o?)))
        .collect())
}

/// A group's committed offsets (all of them, or of `topics`); partitions without one are
/// left out. Asked of the group's coordinator.
pub fn committed_offsets(
    client: &mut Client,
    group: &str,
    partitions: Option<&[TopicPartition]>,
) -> Result<BTreeMap<TopicPartition, i64>> {
    Ok(committed(client, group, partitions)?
        .into_iter()
        .map(|(tp, (offset, _))| (tp, offset))
        .collect())
}

/// [`committed_offsets`] with the leader epoch committed with each (-1 for none).
pub fn committed(
    client: &mut Client,
    group: &str,
    partitions: Option<&[TopicPartition]>,
) -> Result<BTreeMap<TopicPartition, (i64, i32)>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions.unwrap_or_default() {
        by_topic.entry(t).or_default().push(*p);
    }
    let conn = client.group_coordinator(group)?;
    let version = conn.version::<OffsetFetchRequest>()?;
    let mut request = OffsetFetchRequest::default().with_require_stable(true);
    if version >= 8 {
        let topics = partitions.map(|_| {
            by_topic
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(sb(t).into())
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        });
        request = request.with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(sb(group).into())
                .with_member_id(None)
                .with_member_epoch(-1)
                .with_topics(topics),
        ]);
    } else {
        let topics = partitions.map(|_| {
            by_topic
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(sb(t).into())
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        });
        request = request.with_group_id(sb(group).into()).with_topics(topics);
    }
    let response = conn.call_at(version, &request)?;
    let mut out = BTreeMap::new();
    let mut add = |topic: &str, partition: i32, offset: i64, epoch: i32, code: i16| -> Result<()> {
        KafkaError::check(code, None)?;
        if offset >= 0 {
            out.insert((topic.to_string(), partition), (offset, epoch));
        }
        Ok(())
    };
    if version >= 8 {
        for g in &response.groups {
            KafkaError::check(g.error_code, None)?;
            for t in &g.topics {
                for p in &t.partitions {
                    add(
                        &t.name.0,
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.error_code,
                    )?;
                }
            }
        }
    } else {
        KafkaError::check(response.error_code, None)?;
        for t in &response.topics {
            for p in &t.partitions {
                add(
                    &t.name.0,
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.error_code,
                )?;
            }
        }
    }
    Ok(out)
}

/// Commits `offsets` for `group` as member `member_id` of `generation` (-1 and "" for a
/// group without members, as the admin tools do), each with its record's leader epoch
/// where `epochs` has one (KIP-320: a consumer resuming there can detect truncation).
pub fn commit_offsets(
    conn: &mut Connection,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &BTreeMap<TopicPartition, i64>,
    epochs: &BTreeMap<TopicPartition, i32>,
) -> Result<()> {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((t, p), o) in offsets {
        topics.entry(t).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*o)
                .with_committed_leader_epoch(epochs.get(&(t.clone(), *p)).copied().unwrap_or(-1))
                .with_committed_metadata(Some(sb(""))),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(sb(group).into())
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member_id))
        .with_group_instance_id(None)
        .with_retention_time_ms(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(sb(t).into())
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = conn.call(&request)?;
    for t in response.topics {
        for p in t.partitions {
            KafkaError::check(p.error_code, None)?;
        }
    }
    Ok(())
}

/// A record as the consumer hands it out.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The partition's position once this record is consumed.
    next_position: i64,
}

/// Where to start when a partition has no valid position (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    None,
}

pub struct Fetcher {
    pub isolation: i8,
    pub reset: OffsetReset,
    pub max_wait_ms: i32,
    pub layout: TopicLayout,
    pub positions: BTreeMap<TopicPartition, i64>,
    /// The leader epoch of the last record consumed from each partition, committed with
    /// its position.
    pub epochs: BTreeMap<TopicPartition, i32>,
    buffered: VecDeque<ConsumedRecord>,
    /// Records and bytes handed out, for the perf test.
    pub bytes_read: u64,
}

impl Fetcher {
    pub fn new(layout: TopicLayout, isolation: i8, reset: OffsetReset) -> Fetcher {
        Fetcher {
            isolation,
            reset,
            max_wait_ms: 500,
            layout,
            positions: BTreeMap::new(),
            epochs: BTreeMap::new(),
            buffered: VecDeque::new(),
            bytes_read: 0,
        }
    }

    /// Starts `partitions` at the given offsets, or by `reset` where none is given.
    pub fn assign(&mut self, client: &mut Client, partitions: &BTreeMap<TopicPartition, Option<i64>>) -> Result<()> {
        self.positions.clear();
        self.buffered.clear();
        let mut missing = Vec::new();
        for (tp, offset) in partitions {
            match offset {
                Some(o) => {
                    self.positions.insert(tp.clone(), *o);
                }
                None => missing.push(tp.clone()),
            }
        }
        self.reset_positions(client, &missing)
    }

    fn reset_positions(&mut self, client: &mut Client, partitions: &[TopicPartition]) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let timestamp = match self.reset {
            OffsetReset::Earliest => EARLIEST,
            OffsetReset::Latest => LATEST,
            OffsetReset::None => {
                return Err(anyhow!(
                    "org.apache.kafka.clients.consumer.NoOffsetForPartitionException: Undefined offset with no reset policy for partitions: [{}]",
                    partitions
                        .iter()
                        .map(|(t, p)| format!("{t}-{p}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        let queries: Vec<_> = partitions.iter().map(|(t, p)| (t.clone(), *p, timestamp)).collect();
        for (tp, r) in list_offsets(client, &self.layout.clone(), self.isolation, &queries)? {
            self.positions.insert(tp, r?.0);
        }
        Ok(())
    }

    /// The next record, fetching when none is buffered; `None` when a fetch brought nothing
    /// (the broker waited `max_wait_ms`).
    pub fn next(&mut self, client: &mut Client) -> Result<Option<ConsumedRecord>> {
        if self.buffered.is_empty() {
            self.fetch(client)?;
        }
        let Some(r) = self.buffered.pop_front() else {
            return Ok(None);
        };
        self.positions.insert((r.topic.clone(), r.partition), r.next_position);
        self.epochs.insert((r.topic.clone(), r.partition), r.leader_epoch);
        self.bytes_read += (r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)) as u64;
        Ok(Some(r))
    }

    fn fetch(&mut self, client: &mut Client) -> Result<()> {
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, pos) in &self.positions {
            if let Some(l) = self.layout.leader(&tp.0, tp.1) {
                by_leader.entry(l).or_default().push((tp.clone(), *pos));
            }
        }
        if by_leader.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(self.max_wait_ms as u64));
            return Ok(());
        }
        let mut out_of_range = Vec::new();
        let mut stale = false;
        // One leader per fetch keeps the wait bounded by max_wait_ms; a single node leads all.
        for (leader, parts) in by_leader {
            let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
            for ((t, p), pos) in &parts {
                topics.entry(t).or_default().push(
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_current_leader_epoch(-1)
                        .with_fetch_offset(*pos)
                        .with_last_fetched_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(1 << 20),
                );
            }
            let request = FetchRequest::default()
                .with_replica_id((-1).into())
                .with_max_wait_ms(self.max_wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(50 << 20)
                .with_isolation_level(self.isolation)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            let id = self.layout.topics.get(t).map(|x| x.0).unwrap_or_default();
                            FetchTopic::default()
                                .with_topic(sb(t).into())
                                .with_topic_id(id)
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            let response = match client.node(leader).and_then(|c| c.call(&request)) {
                Ok(r) => r,
                Err(e) => {
                    client.forget(leader);
                    return Err(e);
                }
            };
            KafkaError::check(response.error_code, None)?;
            for t in response.responses {
                let topic = if t.topic.0.is_empty() {
                    self.layout
                        .topics
                        .iter()
                        .find(|(_, x)| x.0 == t.topic_id)
                        .map(|(n, _)| n.clone())
                        .unwrap_or_default()
                } else {
                    t.topic.0.to_string()
                };
                for p in t.partitions {
                    let tp = (topic.clone(), p.partition_index);
                    match p.error_code {
                        0 => {}
                        1 => {
                            out_of_range.push(tp);
                            continue;
                        }
                        code => {
                            let e = KafkaError::new(code, None);
                            if e.is_retriable() || code == 100 {
                                stale = true;
                                continue;
                            }
                            return Err(e.into());
                        }
                    }
                    let aborted: Vec<(i64, i64)> = p
                        .aborted_transactions
                        .unwrap_or_default()
                        .iter()
                        .map(|a| (a.producer_id.0, a.first_offset))
                        .collect();
                    let position = self.positions.get(&tp).copied().unwrap_or(0);
                    self.take(&tp, position, p.records.unwrap_or_default(), aborted)?;
                }
            }
        }
        if stale {
            let topics: Vec<String> = self.layout.topics.keys().cloned().collect();
            self.layout = super::client::layout(client, &topics)?;
        }
        self.reset_positions(client, &out_of_range)
    }

    /// Buffers the records of one partition's fetched batches from `position` on.
    fn take(&mut self, tp: &TopicPartition, position: i64, data: Bytes, mut aborted: Vec<(i64, i64)>) -> Result<()> {
        aborted.sort_by_key(|a| a.1);
        let mut aborted = aborted.into_iter().peekable();
        let mut aborting: HashSet<i64> = HashSet::new();
        let mut end = position;
        let first_new = self.buffered.len();
        for batch in records::decode_batches(data)? {
            if batch.last_offset < position {
                continue;
            }
            end = end.max(batch.last_offset + 1);
            if self.isolation == READ_COMMITTED {
                while let Some(a) = aborted.next_if(|a| a.1 <= batch.last_offset) {
                    aborting.insert(a.0);
                }
            }
            if batch.control {
                // An abort marker ends the producer's aborted transaction.
                let is_abort = batch
                    .records
                    .first()
                    .and_then(|r| r.key.as_ref())
                    .is_some_and(|k| k.len() >= 4 && k[2..4] == [0, 0]);
                if is_abort {
                    aborting.remove(&batch.producer_id);
                }
                continue;
            }
            if batch.transactional && aborting.contains(&batch.producer_id) {
                continue;
            }
            for r in batch.records.into_iter().filter(|r| r.offset >= position) {
                self.buffered.push_back(ConsumedRecord {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    offset: r.offset,
                    leader_epoch: r.partition_leader_epoch,
                    timestamp: r.timestamp,
                    log_append_time: r.timestamp_type == TimestampType::LogAppend,
                    key: r.key,
                    value: r.value,
                    headers: r.headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    next_position: r.offset + 1,
                });
            }
        }
        // Past the last record: control batches and compacted gaps are not fetched again.
        match self.buffered.iter_mut().skip(first_new).last() {
            Some(last) => last.next_position = end,
            None => {
                self.positions.insert(tp.clone(), end);
            }
        }
        Ok(())
    }
}
