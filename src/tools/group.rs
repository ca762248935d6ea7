//! Membership of a classic consumer group: JoinGroup, SyncGroup (with Kafka's range
//! assignment when this member leads), Heartbeat, OffsetCommit and LeaveGroup, in the
//! "consumer" protocol's embedded formats, so the group is one Kafka's own consumers can
//! share and its tools describe.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message};

use super::client::{Client, sb};
use super::consumer::{self, TopicPartition};
use super::errors::{self, KafkaError};

pub const PROTOCOL_TYPE: &str = "consumer";
pub const RANGE: &str = "range";

/// `session.timeout.ms`, `heartbeat.interval.ms` and `max.poll.interval.ms` defaults.
const SESSION_TIMEOUT_MS: i32 = 45_000;
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
const REBALANCE_TIMEOUT_MS: i32 = 300_000;

/// A versioned embedded message: its version, then its fields.
fn encode_versioned<M: Encodable + Message>(m: &M) -> Result<Bytes> {
    let version = M::VERSIONS.max;
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    m.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

/// Reads a versioned embedded message; a newer version than ours is read as our highest,
/// which the consumer protocol keeps compatible.
pub fn decode_versioned<M: Decodable + Message>(mut data: Bytes) -> Result<M> {
    if data.len() < 2 {
        bail!("embedded consumer protocol message of {} bytes", data.len());
    }
    let version = data.get_i16().min(M::VERSIONS.max);
    M::decode(&mut data, version)
}

/// Kafka's `RangeAssignor`: per topic, members (by id) subscribed to it take consecutive
/// ranges, the first ones one partition more when they do not divide evenly.
pub fn range_assign(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, usize>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> =
        subscriptions.keys().map(|m| (m.clone(), Vec::new())).collect();
    let topics: BTreeSet<&String> = subscriptions.values().flatten().collect();
    for topic in topics {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect();
        let n = partitions.get(topic.as_str()).copied().unwrap_or(0);
        let (each, extra) = (n / members.len(), n % members.len());
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let count = each + usize::from(i < extra);
            let list = out.get_mut(*m).expect("every member has an entry");
            list.extend((next..next + count).map(|p| (topic.clone(), p as i32)));
            next += count;
        }
    }
    out
}

pub struct GroupMember {
    pub group: String,
    pub member_id: String,
    pub generation: i32,
    topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
    last_heartbeat: Instant,
}

impl GroupMember {
    pub fn new(group: &str, topics: Vec<String>) -> GroupMember {
        GroupMember {
            group: group.to_string(),
            member_id: String::new(),
            generation: -1,
            topics,
            assignment: Vec::new(),
            last_heartbeat: Instant::now(),
        }
    }

    /// Joins (or rejoins) the group until it is stable, and returns this member's partitions.
    pub fn join(&mut self, client: &mut Client) -> Result<Vec<TopicPartition>> {
        loop {
            let subscription = ConsumerProtocolSubscription::default()
                .with_topics(self.topics.iter().map(|t| sb(t)).collect())
                .with_user_data(None)
                .with_generation_id(self.generation)
                .with_rack_id(None);
            let request = JoinGroupRequest::default()
                .with_group_id(sb(&self.group).into())
                .with_session_timeout_ms(SESSION_TIMEOUT_MS)
                .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
                .with_member_id(sb(&self.member_id))
                .with_group_instance_id(None)
                .with_protocol_type(sb(PROTOCOL_TYPE))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(sb(RANGE))
                        .with_metadata(encode_versioned(&subscription)?),
                ]);
            let conn = client.group_coordinator(&self.group)?;
            // The join waits for every member to rejoin, up to the rebalance timeout.
            let response = conn.call_waiting(&request, Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 + 5_000))?;
            match response.error_code {
                0 => {}
                errors::MEMBER_ID_REQUIRED => {
                    self.member_id = response.member_id.to_string();
                    continue;
                }
                errors::UNKNOWN_MEMBER_ID | errors::ILLEGAL_GENERATION => {
                    self.member_id.clear();
                    self.generation = -1;
                    continue;
                }
                errors::REBALANCE_IN_PROGRESS
                | errors::NOT_COORDINATOR
                | errors::COORDINATOR_NOT_AVAILABLE
                | errors::COORDINATOR_LOAD_IN_PROGRESS => {
                    std::thread::sleep(super::client::RETRY_BACKOFF);
                    continue;
                }
                code => return Err(KafkaError::new(code, None).into()),
            }
            self.member_id = response.member_id.to_string();
            self.generation = response.generation_id;
            let assignments = if response.leader == response.member_id {
                self.lead(client, &response.members)?
            } else {
                Vec::new()
            };
            let request = SyncGroupRequest::default()
                .with_group_id(sb(&self.group).into())
                .with_generation_id(self.generation)
                .with_member_id(sb(&self.member_id))
                .with_group_instance_id(None)
                .with_protocol_type(Some(sb(PROTOCOL_TYPE)))
                .with_protocol_name(Some(sb(RANGE)))
                .with_assignments(assignments);
            let conn = client.group_coordinator(&self.group)?;
            let response = conn.call_waiting(&request, Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 + 5_000))?;
            match response.error_code {
                0 => {}
                errors::REBALANCE_IN_PROGRESS => continue,
                errors::UNKNOWN_MEMBER_ID | errors::ILLEGAL_GENERATION => {
                    self.member_id.clear();
                    self.generation = -1;
                    continue;
                }
                code => return Err(KafkaError::new(code, None).into()),
            }
            let assignment: ConsumerProtocolAssignment = if response.assignment.is_empty() {
                ConsumerProtocolAssignment::default()
            } else {
                decode_versioned(response.assignment)?
            };
            self.assignment = assignment
                .assigned_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
                .collect();
            self.last_heartbeat = Instant::now();
            return Ok(self.assignment.clone());
        }
    }

    /// The leader's work: every member's partitions by range assignment.
    fn lead(
        &mut self,
        client: &mut Client,
        members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let mut subscriptions = BTreeMap::new();
        for m in members {
            let s: ConsumerProtocolSubscription = decode_versioned(m.metadata.clone())?;
            subscriptions.insert(
                m.member_id.to_string(),
                s.topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            );
        }
        let topics: Vec<String> = subscriptions
            .values()
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let layout = super::client::layout(client, &topics)?;
        let counts = topics.iter().map(|t| (t.clone(), layout.partitions(t))).collect();
        let mut out = Vec::new();
        for (member, parts) in range_assign(&subscriptions, &counts) {
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in parts {
                by_topic.entry(t).or_default().push(p);
            }
            let assignment = ConsumerProtocolAssignment::default()
                .with_assigned_partitions(
                    by_topic
                        .into_iter()
                        .map(|(t, ps)| AssignedTopic::default().with_topic(sb(&t).into()).with_partitions(ps))
                        .collect(),
                )
                .with_user_data(None);
            out.push(
                SyncGroupRequestAssignment::default()
                    .with_member_id(sb(&member))
                    .with_assignment(encode_versioned(&assignment)?),
            );
        }
        Ok(out)
    }

    /// Heartbeats when one is due; `true` when the group is rebalancing and this member
    /// must rejoin.
    pub fn heartbeat_if_due(&mut self, client: &mut Client) -> Result<bool> {
        if self.last_heartbeat.elapsed() < HEARTBEAT_INTERVAL {
            return Ok(false);
        }
        self.last_heartbeat = Instant::now();
        let request = HeartbeatRequest::default()
            .with_group_id(sb(&self.group).into())
            .with_generation_id(self.generation)
            .with_member_id(sb(&self.member_id))
            .with_group_instance_id(None);
        let response = client.group_coordinator(&self.group)?.call(&request)?;
        match response.error_code {
            0 => Ok(false),
            errors::REBALANCE_IN_PROGRESS => Ok(true),
            errors::UNKNOWN_MEMBER_ID | errors::ILLEGAL_GENERATION => {
                self.member_id.clear();
                self.generation = -1;
                Ok(true)
            }
            code => Err(KafkaError::new(code, None).into()),
        }
    }

    /// Commits positions of this member's partitions, with their records' leader epochs.
    pub fn commit(
        &mut self,
        client: &mut Client,
        positions: &BTreeMap<TopicPartition, i64>,
        epochs: &BTreeMap<TopicPartition, i32>,
    ) -> Result<()> {
        let mine: BTreeMap<TopicPartition, i64> = positions
            .iter()
            .filter(|(tp, _)| self.assignment.contains(tp))
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        let conn = client.group_coordinator(&self.group)?;
        consumer::commit_offsets(conn, &self.group, self.generation, &self.member_id, &mine, epochs)
    }

    /// Leaves the group, so that it rebalances (or empties) at once.
    pub fn leave(&mut self, client: &mut Client) -> Result<()> {
        if self.member_id.is_empty() {
            return Ok(());
        }
        let conn = client.group_coordinator(&self.group)?;
        let version = conn.version::<LeaveGroupRequest>()?;
        // v3 names the leaving members in a list (for static members); v0-2 name one.
        let request = if version >= 3 {
            let reason = (version >= 5).then(|| sb("the consumer is being closed"));
            LeaveGroupRequest::default().with_members(vec![
                MemberIdentity::default()
                    .with_member_id(sb(&self.member_id))
                    .with_group_instance_id(None)
                    .with_reason(reason),
            ])
        } else {
            LeaveGroupRequest::default().with_member_id(sb(&self.member_id))
        }
        .with_group_id(sb(&self.group).into());
        let response = conn.call_at(version, &request)?;
        KafkaError::check(response.error_code, None)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_gives_the_first_members_the_remainder() {
        let subs = BTreeMap::from([
            ("a".to_string(), vec!["t".to_string()]),
            ("b".to_string(), vec!["t".to_string()]),
        ]);
        let parts = BTreeMap::from([("t".to_string(), 3)]);
        let out = range_assign(&subs, &parts);
        assert_eq!(out["a"], vec![("t".to_string(), 0), ("t".to_string(), 1)]);
        assert_eq!(out["b"], vec![("t".to_string(), 2)]);
    }
}
