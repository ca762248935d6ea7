//! Share groups (KIP-932) over real TCP against a real broker: members join with
//! ShareGroupHeartbeat, acquire records with ShareFetch and settle them with acknowledgements;
//! the records that come back show redelivery after RELEASE and after a lock times out,
//! REJECT archiving, the delivery count limit, and acknowledgements that survive a crash.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::protocol::{KafkaConnection, record_batch};
use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic};
use kafka_protocol::messages::share_fetch_request::{AcknowledgementBatch, FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use uuid::Uuid;

const ACCEPT: i8 = 1;
const RELEASE: i8 = 2;
const REJECT: i8 = 3;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_MEMBER_ID: i16 = 25;
const FENCED_MEMBER_EPOCH: i16 = 110;
const INVALID_RECORD_STATE: i16 = 121;
const SHARE_SESSION_NOT_FOUND: i16 = 122;
const INVALID_SHARE_SESSION_EPOCH: i16 = 123;
const NON_EMPTY_GROUP: i16 = 68;
const UNKNOWN_TOPIC_ID: i16 = 100;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create_topic(conn: &mut KafkaConnection, topic: &str) -> Uuid {
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

fn topic_id(conn: &mut KafkaConnection, topic: &str) -> Uuid {
    let response = conn.call(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s(topic)))),
        ])),
    );
    response.topics[0].topic_id
}

fn produce(conn: &mut KafkaConnection, topic: &str, values: &[String]) {
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
type Delivered = (i64, String, i16);

/// One share group member speaking the protocol directly.
struct Member {
    conn: KafkaConnection,
    group: String,
    member_id: String,
    member_epoch: i32,
    session_epoch: i32,
    topic: Uuid,
}

impl Member {
    fn join(bootstrap: &str, group: &str, member_id: &str, topic_name: &str, topic: Uuid) -> Member {
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

    fn heartbeat(&mut self, subscribe: Option<&str>) -> ShareGroupHeartbeatResponse {
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
    fn fetch(&mut self, acks: &[(i64, i64, i8)], max_wait_ms: i32) -> (i16, Vec<Delivered>) {
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
    fn acknowledge(&mut self, acks: &[(i64, i64, Vec<i8>)]) -> i16 {
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

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn offsets(records: &[Delivered]) -> Vec<i64> {
    records.iter().map(|r| r.0).collect()
}

/// Fetches until something is acquired or `timeout` passes.
fn fetch_some(m: &mut Member, timeout: Duration) -> Vec<Delivered> {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, got) = m.fetch(&[], 500);
        if !got.is_empty() || Instant::now() >= deadline {
            return got;
        }
    }
}

#[test]
fn release_reject_lock_timeout_and_delivery_limit() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        dir.path(),
        &[
            "--set",
            "group.share.record.lock.duration.ms=2000",
            "--set",
            "group.share.delivery.count.limit=3",
        ],
    );
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_topic(&mut admin, "queue");

    // The first member's join starts the share-partition at the log end
    // (share.auto.offset.reset latest): only what is produced afterwards is delivered.
    produce(&mut admin, "queue", &values("old", 3));
    let mut a = Member::join(&bootstrap, "workers", "member-a", "queue", topic);
    assert!(a.fetch(&[], 0).1.is_empty());
    produce(&mut admin, "queue", &values("v", 10));
    let got = fetch_some(&mut a, Duration::from_secs(10));
    assert_eq!(offsets(&got), (3..13).collect::<Vec<_>>());
    assert!(got.iter().all(|r| r.2 == 1), "first delivery: {got:?}");
    assert_eq!(got[0].1, "v-0");

    // Accept 3-6, release 7-8, reject 9; 10-12 stay locked by A.
    assert_eq!(
        a.acknowledge(&[(3, 6, vec![ACCEPT]), (7, 9, vec![RELEASE, RELEASE, REJECT])]),
        0
    );

    let mut b = Member::join(&bootstrap, "workers", "member-b", "queue", topic);
    let got = fetch_some(&mut b, Duration::from_secs(10));
    assert_eq!(got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(), vec![(7, 2), (8, 2)]);
    // Accept 7 and release 8 again, piggybacked on the next fetch: 8 comes straight back.
    let (code, got) = b.fetch(&[(7, 7, ACCEPT), (8, 8, RELEASE)], 0);
    assert_eq!(code, 0);
    assert_eq!(got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(), vec![(8, 3)]);
    // Its third delivery is the limit: released once more, it is archived, never delivered.
    assert_eq!(b.acknowledge(&[(8, 8, vec![RELEASE])]), 0);
    // Records A holds cannot be acknowledged by B.
    assert_eq!(b.acknowledge(&[(10, 10, vec![ACCEPT])]), INVALID_RECORD_STATE);

    // A's lock on 10-12 times out: B gets them, delivered a second time.
    let got = fetch_some(&mut b, Duration::from_secs(10));
    assert_eq!(
        got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        vec![(10, 2), (11, 2), (12, 2)]
    );
    // A lost its lock: its late acknowledgement is refused.
    assert_eq!(a.acknowledge(&[(10, 12, vec![ACCEPT])]), INVALID_RECORD_STATE);
    let (code, got) = b.fetch(&[(10, 12, ACCEPT)], 0);
    assert_eq!(code, 0);
    assert!(got.is_empty(), "everything is accepted or archived: {got:?}");

    // The group as ShareGroupDescribe reports it.
    let described = admin.call(
        1,
        &ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("workers")), GroupId(s("nobody"))]),
    );
    let g = &described.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str()), (0, "Stable"));
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.assignor_name.as_str(), "simple");
    assert!(
        g.members
            .iter()
            .all(|m| m.assignment.topic_partitions[0].topic_name.as_str() == "queue")
    );
    assert_eq!(described.groups[1].error_code, 69);

    // B leaves; A moves to the new group epoch, and its old epoch is fenced.
    b.member_epoch = -1;
    assert_eq!(b.heartbeat(None).member_epoch, -1);
    // Epochs: 1 when the partition was initialised, 2 when A joined, 3 when B did, 4 now.
    let r = a.heartbeat(None);
    assert_eq!((r.error_code, r.member_epoch), (0, 4));
    a.member_epoch = 2;
    assert_eq!(a.heartbeat(None).error_code, FENCED_MEMBER_EPOCH);
}

#[test]
fn acknowledgements_survive_a_crash() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_topic(&mut admin, "jobs");
    let mut a = Member::join(&bootstrap, "crew", "member-a", "jobs", topic);
    assert!(a.fetch(&[], 0).1.is_empty());
    produce(&mut admin, "jobs", &values("job", 20));
    let got = fetch_some(&mut a, Duration::from_secs(10));
    assert_eq!(offsets(&got), (0..20).collect::<Vec<_>>());
    // Accepted 0-9 and 15, rejected 12; the rest is still locked when the broker dies.
    assert_eq!(
        a.acknowledge(&[(0, 9, vec![ACCEPT]), (12, 12, vec![REJECT]), (15, 15, vec![ACCEPT])]),
        0
    );
    broker.kill9();

    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut b = Member::join(&bootstrap, "crew", "member-b", "jobs", topic);
    let got = fetch_some(&mut b, Duration::from_secs(10));
    assert_eq!(
        got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        vec![(10, 2), (11, 2), (13, 2), (14, 2), (16, 2), (17, 2), (18, 2), (19, 2)],
        "only what was not acknowledged comes back, delivered once before"
    );
    assert!(got.iter().all(|r| r.1 == format!("job-{}", r.0)));
}

#[test]
fn bad_requests_get_error_codes() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_topic(&mut admin, "errs");
    let mut conn = KafkaConnection::connect(&bootstrap);

    // No member id.
    let r = conn.call(
        1,
        &ShareFetchRequest::default()
            .with_group_id(Some(GroupId(s("g"))))
            .with_share_session_epoch(0),
    );
    assert_eq!(r.error_code, INVALID_REQUEST);
    // An epoch of a session that does not exist.
    let r = conn.call(
        1,
        &ShareFetchRequest::default()
            .with_group_id(Some(GroupId(s("g"))))
            .with_member_id(Some(s("m")))
            .with_share_session_epoch(5),
    );
    assert_eq!(r.error_code, SHARE_SESSION_NOT_FOUND);
    // ShareAcknowledge cannot open a session.
    let r = conn.call(
        1,
        &ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(s("g"))))
            .with_member_id(Some(s("m")))
            .with_share_session_epoch(0),
    );
    assert_eq!(r.error_code, INVALID_SHARE_SESSION_EPOCH);
    // A partition of a topic that does not exist is answered, not kept in the session.
    let r = conn.call(
        1,
        &ShareFetchRequest::default()
            .with_group_id(Some(GroupId(s("g"))))
            .with_member_id(Some(s("m-unknown")))
            .with_share_session_epoch(0)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic_id(Uuid::from_u128(42))
                    .with_partitions(vec![FetchPartition::default().with_partition_index(0)]),
            ]),
    );
    assert_eq!(r.error_code, 0);
    assert_eq!(r.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_ID);
    let r = conn.call(
        1,
        &ShareFetchRequest::default()
            .with_group_id(Some(GroupId(s("g"))))
            .with_member_id(Some(s("m-unknown")))
            .with_share_session_epoch(1),
    );
    assert_eq!((r.error_code, r.responses.len()), (0, 0));
    // Heartbeats: unknown member, join without a subscription.
    let r = conn.call(
        1,
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("m"))
            .with_member_epoch(3),
    );
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
    let r = conn.call(
        1,
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("m"))
            .with_member_epoch(0),
    );
    assert_eq!(r.error_code, INVALID_REQUEST);

    // Acknowledgements with an unknown type or a type list of the wrong length are refused
    // for their partition; nothing is settled.
    let mut m = Member::join(&bootstrap, "g", "m", "errs", topic);
    assert!(m.fetch(&[], 0).1.is_empty());
    produce(&mut admin, "errs", &values("e", 3));
    let got = fetch_some(&mut m, Duration::from_secs(10));
    assert_eq!(offsets(&got), vec![0, 1, 2]);
    assert_eq!(m.acknowledge(&[(0, 2, vec![9])]), INVALID_REQUEST);
    assert_eq!(m.acknowledge(&[(0, 2, vec![ACCEPT, ACCEPT])]), INVALID_REQUEST);
    assert_eq!(m.acknowledge(&[(0, 2, vec![ACCEPT, RELEASE, ACCEPT])]), 0);
    // Out of session order.
    m.session_epoch += 3;
    let r = m.conn.call(
        1,
        &ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(s("g"))))
            .with_member_id(Some(s("m")))
            .with_share_session_epoch(m.session_epoch),
    );
    assert_eq!(r.error_code, INVALID_SHARE_SESSION_EPOCH);
    m.session_epoch -= 3;
    let got = fetch_some(&mut m, Duration::from_secs(10));
    assert_eq!(got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(), vec![(1, 2)]);
}

#[test]
fn offsets_admin_and_listing() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_topic(&mut admin, "admin-q");
    produce(&mut admin, "admin-q", &values("a", 5));
    let mut m = Member::join(&bootstrap, "admins", "m1", "admin-q", topic);
    produce(&mut admin, "admin-q", &values("b", 5));
    let got = fetch_some(&mut m, Duration::from_secs(10));
    assert_eq!(offsets(&got), vec![5, 6, 7, 8, 9]);
    assert_eq!(m.acknowledge(&[(5, 6, vec![ACCEPT])]), 0);

    let listed = |admin: &mut KafkaConnection, kind: &str| -> Vec<(String, String, String)> {
        let r = admin.call(5, &ListGroupsRequest::default().with_types_filter(vec![s(kind)]));
        r.groups
            .iter()
            .map(|g| {
                (
                    g.group_id.to_string(),
                    g.group_state.to_string(),
                    g.group_type.to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        listed(&mut admin, "share"),
        vec![("admins".into(), "Stable".into(), "share".into())]
    );
    assert!(listed(&mut admin, "classic").is_empty());

    let describe = |admin: &mut KafkaConnection| -> Vec<(String, i32, i64)> {
        let r = admin.call(
            0,
            &DescribeShareGroupOffsetsRequest::default().with_groups(vec![
                describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                    .with_group_id(GroupId(s("admins")))
                    .with_topics(None),
            ]),
        );
        assert_eq!(r.groups[0].error_code, 0);
        r.groups[0]
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic_name.to_string(), p.partition_index, p.start_offset))
            })
            .collect()
    };
    assert_eq!(describe(&mut admin), vec![("admin-q".to_string(), 0, 7)]);

    let alter = |admin: &mut KafkaConnection, offset: i64| -> (i16, i16) {
        let r = admin.call(
            0,
            &AlterShareGroupOffsetsRequest::default()
                .with_group_id(GroupId(s("admins")))
                .with_topics(vec![
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(TopicName(s("admin-q")))
                        .with_partitions(vec![
                            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                                .with_partition_index(0)
                                .with_start_offset(offset),
                        ]),
                ]),
        );
        (
            r.error_code,
            r.responses.first().map_or(-1, |t| t.partitions[0].error_code),
        )
    };
    let delete = |admin: &mut KafkaConnection| -> (i16, i16) {
        let r = admin.call(
            0,
            &DeleteShareGroupOffsetsRequest::default()
                .with_group_id(GroupId(s("admins")))
                .with_topics(vec![
                    delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(TopicName(s("admin-q"))),
                ]),
        );
        (r.error_code, r.responses.first().map_or(-1, |t| t.error_code))
    };
    // Offsets of a group with members stay as they are.
    assert_eq!(alter(&mut admin, 2).0, NON_EMPTY_GROUP);
    assert_eq!(delete(&mut admin).0, NON_EMPTY_GROUP);
    m.member_epoch = -1;
    assert_eq!(m.heartbeat(None).error_code, 0);
    assert_eq!(
        listed(&mut admin, "share"),
        vec![("admins".into(), "Empty".into(), "share".into())]
    );

    // Moved back to 2: everything from there is delivered again, as new.
    assert_eq!(alter(&mut admin, 2), (0, 0));
    assert_eq!(describe(&mut admin), vec![("admin-q".to_string(), 0, 2)]);
    let mut m2 = Member::join(&bootstrap, "admins", "m2", "admin-q", topic);
    let got = fetch_some(&mut m2, Duration::from_secs(10));
    assert_eq!(
        got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        (2..10).map(|o| (o, 1)).collect::<Vec<_>>()
    );
    m2.member_epoch = -1;
    assert_eq!(m2.heartbeat(None).error_code, 0);
    // Deleted: the group keeps no state for the topic.
    assert_eq!(delete(&mut admin), (0, 0));
    assert!(describe(&mut admin).is_empty());
}

#[test]
fn a_closed_connection_releases_its_records_at_once() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_topic(&mut admin, "handoff");
    let mut a = Member::join(&bootstrap, "pair", "member-a", "handoff", topic);
    produce(&mut admin, "handoff", &values("h", 4));
    let got = fetch_some(&mut a, Duration::from_secs(10));
    assert_eq!(offsets(&got), vec![0, 1, 2, 3]);
    // A's connection goes away with its share session: well before the 30 s lock would run
    // out, B gets the records, and the lost delivery is not counted.
    drop(a);
    let mut b = Member::join(&bootstrap, "pair", "member-b", "handoff", topic);
    let started = Instant::now();
    let got = fetch_some(&mut b, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        got.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        (0..4).map(|o| (o, 1)).collect::<Vec<_>>()
    );
}

/// What the classic group APIs say of a share group, checked field by field; runs against
/// `FIDELITY_BOOTSTRAP` (Apache Kafka 4.1 with share.version=1) when it is set.
#[test]
fn classic_group_apis_on_a_share_group() {
    let target = Target::start(&[]);
    let mut admin = KafkaConnection::connect(&target.bootstrap);
    let topic_name = target.unique("classic-view");
    let group = target.unique("classic-view-group");
    let topic = create_topic(&mut admin, &topic_name);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    let member = Uuid::new_v4().to_string();
    // Kafka assigns the partition once its share state is initialised, a heartbeat or two
    // after the join; the first answer carries an assignment (maybe empty) either way.
    let mut epoch = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = conn.call(
            1,
            &ShareGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_member_id(s(&member))
                .with_member_epoch(epoch)
                .with_subscribed_topic_names(Some(vec![TopicName(s(&topic_name))])),
        );
        assert_eq!(r.error_code, 0);
        assert_eq!(r.heartbeat_interval_ms, 5000);
        assert_eq!(r.member_id.as_deref(), Some(member.as_str()));
        if epoch == 0 {
            assert!(r.assignment.is_some(), "a joining member gets an assignment");
        }
        epoch = r.member_epoch;
        let assigned = r.assignment.is_some_and(|a| {
            a.topic_partitions
                .iter()
                .any(|t| t.topic_id == topic && t.partitions == vec![0])
        });
        if assigned {
            break;
        }
        assert!(Instant::now() < deadline, "partition 0 never assigned");
        std::thread::sleep(Duration::from_millis(300));
    }

    let r = admin.call(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
    );
    let g = &r.groups[0];
    assert_eq!(
        (g.error_code, g.group_state.as_str(), g.protocol_type.as_str()),
        (0, "Dead", "")
    );
    assert!(g.members.is_empty());
    let r = admin.call(
        6,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
    );
    let g = &r.groups[0];
    assert_eq!(g.error_code, 69);
    assert_eq!(
        g.error_message.as_deref(),
        Some(format!("Group {group} is not a classic group.").as_str())
    );

    for (version, kind) in [(4, ""), (5, "share")] {
        let r = admin.call(version, &ListGroupsRequest::default());
        let listed: Vec<_> = r
            .groups
            .iter()
            .filter(|g| g.group_id.as_str() == group)
            .map(|g| {
                (
                    g.protocol_type.to_string(),
                    g.group_state.to_string(),
                    g.group_type.to_string(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            vec![("share".to_string(), "Stable".to_string(), kind.to_string())],
            "v{version}"
        );
    }
    let r = admin.call(5, &ListGroupsRequest::default().with_types_filter(vec![s("classic")]));
    assert!(r.groups.iter().all(|g| g.group_id.as_str() != group));
    // Leave, so a shared broker is not left with a member.
    let r = conn.call(
        1,
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(s(&member))
            .with_member_epoch(-1),
    );
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
}

/// IncrementalAlterConfigs on a GROUP resource sets the share group's configs.
fn set_group_configs(conn: &mut KafkaConnection, group: &str, configs: &[(&str, &str)]) -> i16 {
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let r = conn.call(
        1,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(32)
                .with_resource_name(s(group))
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_config_operation(0)
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                ),
        ]),
    );
    r.responses[0].error_code
}

#[test]
fn group_configs_earliest_and_read_committed() {
    use rdkafka::producer::{BaseRecord, Producer};
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_topic(&mut admin, "txq");
    produce(&mut admin, "txq", &values("before", 2));
    // A transaction that aborts, then one that commits.
    let producer = tracked_producer(
        &bootstrap,
        &[("transactional.id", "share-txn"), ("enable.idempotence", "true")],
    );
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    for (i, commit) in [(0, false), (1, true)] {
        producer.begin_transaction().expect("begin");
        for n in 0..3 {
            let v = format!("txn{i}-{n}");
            send(
                &producer,
                BaseRecord::with_opaque_to("txq", n).partition(0).payload(v.as_bytes()),
            );
        }
        flush(&producer);
        if commit {
            producer.commit_transaction(Duration::from_secs(30)).expect("commit");
        } else {
            producer.abort_transaction(Duration::from_secs(30)).expect("abort");
        }
    }
    take_reports(&producer);

    assert_eq!(
        set_group_configs(&mut admin, "txg", &[("share.auto.offset.reset", "bogus")]),
        40
    );
    assert_eq!(
        set_group_configs(
            &mut admin,
            "txg",
            &[
                ("share.auto.offset.reset", "earliest"),
                ("share.isolation.level", "read_committed")
            ]
        ),
        0
    );
    let described = admin.call(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(32)
                .with_resource_name(s("txg"))
                .with_configuration_keys(Some(vec![
                    s("share.auto.offset.reset"),
                    s("share.record.lock.duration.ms"),
                ])),
        ]),
    );
    let entries: Vec<_> = described.results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_deref().unwrap_or("").to_string(),
                c.config_source,
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("share.auto.offset.reset".into(), "earliest".into(), 8),
            ("share.record.lock.duration.ms".into(), "30000".into(), 5),
        ]
    );

    // From the log start, committed records only: the aborted ones and the markers are
    // archived without being delivered.
    let mut m = Member::join(&bootstrap, "txg", "m", "txq", topic);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 5 && Instant::now() < deadline {
        let (_, more) = m.fetch(&[], 500);
        for r in &more {
            assert_eq!(m.acknowledge(&[(r.0, r.0, vec![ACCEPT])]), 0);
        }
        got.extend(more);
    }
    let values: Vec<String> = got.iter().map(|r| r.1.clone()).collect();
    assert_eq!(values, vec!["before-0", "before-1", "txn1-0", "txn1-1", "txn1-2"]);
    // Everything settled: the start offset is past the last marker.
    let (_, more) = m.fetch(&[], 200);
    assert!(more.is_empty());
}
