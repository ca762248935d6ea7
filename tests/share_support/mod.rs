//! What the share group tests share: a share group member speaking the protocol directly
//! (ShareGroupHeartbeat, ShareFetch, ShareAcknowledge), topic and produce helpers, and Kafka's
//! codes. Included by tests/share_groups.rs and tests/share_group_admin.rs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::protocol::{KafkaConnection, record_batch};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic};
use kafka_protocol::messages::share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use uuid::Uuid;

pub const ACCEPT: i8 = 1;
pub const RELEASE: i8 = 2;
pub const REJECT: i8 = 3;
pub const INVALID_REQUEST: i16 = 42;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const FENCED_MEMBER_EPOCH: i16 = 110;
pub const INVALID_RECORD_STATE: i16 = 121;
pub const SHARE_SESSION_NOT_FOUND: i16 = 122;
pub const INVALID_SHARE_SESSION_EPOCH: i16 = 123;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const UNKNOWN_TOPIC_ID: i16 = 100;

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Creates a one-partition topic through CreateTopics v7 and returns its id.
pub fn create_share_topic(conn: &mut KafkaConnection, topic: &str) -> Uuid {
    let response = conn.call(
        7,
        &CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
    topic_id(conn, topic)
}

pub fn topic_id(conn: &mut KafkaConnection, topic: &str) -> Uuid {
    let response = conn.call(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s(topic)))),
        ])),
    );
    response.topics[0].topic_id
}

pub fn produce(conn: &mut KafkaConnection, topic: &str, values: &[String]) {
    let batch = record_batch(values.iter().map(|v| (None, v.as_bytes())));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default().with_index(0).with_records(Some(batch)),
                ]),
        ]);
    let response = conn.call(9, &request);
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
}

/// A record delivered to a member: offset, value, delivery count.
pub type Delivered = (i64, String, i16);

/// One share group member speaking the protocol directly.
pub struct Member {
    pub conn: KafkaConnection,
    pub group: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub session_epoch: i32,
    pub topic: Uuid,
}

impl Member {
    pub fn join(bootstrap: &str, group: &str, member_id: &str, topic_name: &str, topic: Uuid) -> Member {
        let mut m = Member {
            conn: KafkaConnection::connect(bootstrap),
            group: group.to_string(),
            member_id: member_id.to_string(),
            member_epoch: 0,
            session_epoch: 0,
            topic,
        };
        let response = m.heartbeat(Some(topic_name));
        assert_eq!(response.error_code, 0, "join: {:?}", response.error_message);
        let assignment = response.assignment.expect("a joining member gets its assignment");
        assert_eq!(assignment.topic_partitions.len(), 1);
        assert_eq!(assignment.topic_partitions[0].topic_id, topic);
        assert_eq!(assignment.topic_partitions[0].partitions, vec![0]);
        m
    }

    pub fn heartbeat(&mut self, subscribe: Option<&str>) -> ShareGroupHeartbeatResponse {
        let response = self.conn.call(
            1,
            &ShareGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(&self.group)))
                .with_member_id(s(&self.member_id))
                .with_member_epoch(self.member_epoch)
                .with_subscribed_topic_names(subscribe.map(|t| vec![TopicName(s(t))])),
        );
        if response.error_code == 0 {
            self.member_epoch = response.member_epoch;
        }
        response
    }

    /// A ShareFetch in the member's session carrying `acks` (first, last, type); returns the
    /// acknowledgement's error code and the records acquired, read from the batches returned
    /// and kept only where the acquired ranges say.
    pub fn fetch(&mut self, acks: &[(i64, i64, i8)], max_wait_ms: i32) -> (i16, Vec<Delivered>) {
        let batches = acks
            .iter()
            .map(|(f, l, t)| {
                AcknowledgementBatch::default()
                    .with_first_offset(*f)
                    .with_last_offset(*l)
                    .with_acknowledge_types(vec![*t])
            })
            .collect();
        let request = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(s(&self.group))))
            .with_member_id(Some(s(&self.member_id)))
            .with_share_session_epoch(self.session_epoch)
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_max_records(500)
            .with_batch_size(500)
            .with_topics(vec![FetchTopic::default().with_topic_id(self.topic).with_partitions(
                vec![
                FetchPartition::default()
                    .with_partition_index(0)
                    .with_acknowledgement_batches(batches),
            ],
            )]);
        let response = self.conn.call(1, &request);
        assert_eq!(response.error_code, 0, "share fetch: {:?}", response.error_message);
        self.session_epoch += 1;
        let mut ack_code = 0;
        let mut out = Vec::new();
        for t in &response.responses {
            for p in &t.partitions {
                assert_eq!(p.error_code, 0);
                ack_code = p.acknowledge_error_code;
                let mut delivery: BTreeMap<i64, i16> = BTreeMap::new();
                for r in &p.acquired_records {
                    for o in r.first_offset..=r.last_offset {
                        delivery.insert(o, r.delivery_count);
                    }
                }
                let mut records = p.records.clone().unwrap_or_default();
                while !records.is_empty() {
                    let set = RecordBatchDecoder::decode(&mut records).expect("decode batches");
                    for r in set.records {
                        if let Some(count) = delivery.get(&r.offset) {
                            let value = String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned();
                            out.push((r.offset, value, *count));
                        }
                    }
                }
                assert_eq!(out.len(), delivery.len(), "every acquired offset has its record");
            }
        }
        assert!(response.acquisition_lock_timeout_ms > 0);
        (ack_code, out)
    }

    /// A ShareAcknowledge in the member's session; returns the partition's error code.
    pub fn acknowledge(&mut self, acks: &[(i64, i64, Vec<i8>)]) -> i16 {
        let batches = acks
            .iter()
            .map(|(f, l, t)| {
                share_acknowledge_request::AcknowledgementBatch::default()
                    .with_first_offset(*f)
                    .with_last_offset(*l)
                    .with_acknowledge_types(t.clone())
            })
            .collect();
        let response = self.conn.call(
            1,
            &ShareAcknowledgeRequest::default()
                .with_group_id(Some(GroupId(s(&self.group))))
                .with_member_id(Some(s(&self.member_id)))
                .with_share_session_epoch(self.session_epoch)
                .with_topics(vec![
                    AcknowledgeTopic::default()
                        .with_topic_id(self.topic)
                        .with_partitions(vec![
                            AcknowledgePartition::default()
                                .with_partition_index(0)
                                .with_acknowledgement_batches(batches),
                        ]),
                ]),
        );
        assert_eq!(response.error_code, 0);
        self.session_epoch += 1;
        response.responses[0].partitions[0].error_code
    }
}

pub fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

pub fn offsets(records: &[Delivered]) -> Vec<i64> {
    records.iter().map(|r| r.0).collect()
}

/// Fetches until something is acquired or `timeout` passes.
pub fn fetch_some(m: &mut Member, timeout: Duration) -> Vec<Delivered> {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, got) = m.fetch(&[], 500);
        if !got.is_empty() || Instant::now() >= deadline {
            return got;
        }
    }
}
