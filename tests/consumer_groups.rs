//! KIP-848 consumer groups (`group.protocol=consumer`): through librdkafka's consumer, which
//! speaks ConsumerGroupHeartbeat, and through raw requests for what a client does not show
//! (epochs, fencing, errors, the state after a restart).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId,
    ListGroupsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

const FENCED_MEMBER_EPOCH: i16 = 110;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_REQUEST: i16 = 42;
const UNSUPPORTED_ASSIGNOR: i16 = 112;
const UNRELEASED_INSTANCE_ID: i16 = 111;

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    if let Ok(d) = std::env::var("RDKAFKA_DEBUG") {
        config.set("debug", d);
    }
    config.create().expect("create consumer")
}

/// Polls every consumer until `want` records were received in all, returning each
/// consumer's (partition, offset) pairs.
fn poll_all(consumers: &[&BaseConsumer], want: usize, timeout: Duration) -> Vec<Vec<(i32, i64)>> {
    let mut got: Vec<Vec<(i32, i64)>> = vec![Vec::new(); consumers.len()];
    let deadline = Instant::now() + timeout;
    while got.iter().map(Vec::len).sum::<usize>() < want {
        assert!(
            Instant::now() < deadline,
            "timed out: {} of {want} records",
            got.iter().map(Vec::len).sum::<usize>()
        );
        for (i, c) in consumers.iter().enumerate() {
            if let Some(r) = c.poll(Duration::from_millis(50)) {
                let m = r.expect("consumer error");
                got[i].push((m.partition(), m.offset()));
            }
        }
    }
    got
}

#[test]
fn librdkafka_members_share_partitions_and_take_over_a_leaving_members_share() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let topic = "kip848-shared";
    create_topic(&bootstrap, topic, 4, &[]);
    let producer = tracked_producer(&bootstrap, &[]);
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..400)
        .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();

    let a = consumer(&bootstrap, "kip848-g1");
    let b = consumer(&bootstrap, "kip848-g1");
    a.subscribe(&[topic]).unwrap();
    b.subscribe(&[topic]).unwrap();
    // The uniform assignor splits the four partitions evenly once both have joined; the
    // records come after, so they split between the members.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(a.poll(Duration::from_millis(50)).is_none(), "no records yet");
        assert!(b.poll(Duration::from_millis(50)).is_none(), "no records yet");
        let (na, nb) = (a.assignment().unwrap().count(), b.assignment().unwrap().count());
        if (na, nb) == (2, 2) {
            break;
        }
        assert!(Instant::now() < deadline, "assignment did not settle: {na} and {nb}");
    }
    produce_all(&producer, topic, None, &records);
    let got = poll_all(&[&a, &b], 400, Duration::from_secs(30));
    let pa: BTreeSet<i32> = got[0].iter().map(|r| r.0).collect();
    let pb: BTreeSet<i32> = got[1].iter().map(|r| r.0).collect();
    assert!(pa.is_disjoint(&pb), "a partition went to both members: {pa:?} {pb:?}");
    let all: BTreeSet<(i32, i64)> = got.iter().flatten().copied().collect();
    assert_eq!(all.len(), 400, "every record exactly once");
    a.commit_consumer_state(CommitMode::Sync).unwrap();
    b.commit_consumer_state(CommitMode::Sync).unwrap();

    // b leaves; a takes over all four partitions and reads what is produced next.
    let mut first_high: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o) in all {
        let high = first_high.entry(p).or_insert(o);
        *high = (*high).max(o);
    }
    drop(b);
    produce_all(&producer, topic, None, &records);
    let more = poll_all(&[&a], 400, Duration::from_secs(60));
    let partitions: BTreeSet<i32> = more[0].iter().map(|r| r.0).collect();
    assert_eq!(partitions, (0..4).collect(), "a reads every partition after b left");
    assert!(
        more[0].iter().all(|(p, o)| *o > first_high[p]),
        "nothing committed is read again"
    );

    // The group is listed as a consumer group.
    let mut conn = KafkaConnection::connect(&bootstrap);
    let listed = conn.call(5, &ListGroupsRequest::default());
    let g = listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "kip848-g1")
        .expect("group listed");
    assert_eq!(g.group_type.as_str(), "consumer");
    assert_eq!(g.protocol_type.as_str(), "consumer");
}

fn topic_id(conn: &mut KafkaConnection, topic: &str) -> uuid::Uuid {
    let md = conn.call(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.to_string())))),
        ])),
    );
    md.topics[0].topic_id
}

fn heartbeat(
    conn: &mut KafkaConnection,
    group: &str,
    member: &str,
    epoch: i32,
    owned: Option<&BTreeMap<uuid::Uuid, Vec<i32>>>,
    topics: Option<&[&str]>,
) -> ConsumerGroupHeartbeatResponse {
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_member_id(StrBytes::from_string(member.to_string()))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(if epoch == 0 { 30_000 } else { -1 })
        .with_subscribed_topic_names(topics.map(|ts| {
            ts.iter()
                .map(|t| TopicName(StrBytes::from_string(t.to_string())))
                .collect()
        }))
        .with_topic_partitions(owned.map(|o| {
            o.iter()
                .map(|(t, ps)| TopicPartitions::default().with_topic_id(*t).with_partitions(ps.clone()))
                .collect()
        }));
    conn.call(1, &request)
}

fn assigned(r: &ConsumerGroupHeartbeatResponse) -> Option<BTreeMap<uuid::Uuid, Vec<i32>>> {
    r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .map(|tp| (tp.topic_id, tp.partitions.clone()))
            .collect()
    })
}

#[test]
fn epochs_revocation_fencing_and_restart() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kip848-raw", 4, &[]);
    let mut conn = KafkaConnection::connect(&bootstrap);
    let id = topic_id(&mut conn, "kip848-raw");
    let empty = BTreeMap::new();

    // The first member gets every partition at epoch 1.
    let r = heartbeat(&mut conn, "raw", "m1", 0, Some(&empty), Some(&["kip848-raw"]));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5000);
    let m1 = assigned(&r).expect("assignment in a full reply");
    assert_eq!(m1[&id], vec![0, 1, 2, 3]);

    // A second member joins at epoch 2 but gets nothing until m1 revokes what moves.
    let r2 = heartbeat(&mut conn, "raw", "m2", 0, Some(&empty), Some(&["kip848-raw"]));
    assert_eq!(r2.member_epoch, 2);
    assert_eq!(assigned(&r2).unwrap().get(&id).map(Vec::len).unwrap_or(0), 0);
    // m1 learns it must give up two partitions, staying at epoch 1.
    let r = heartbeat(&mut conn, "raw", "m1", 1, Some(&m1), None);
    assert_eq!(r.member_epoch, 1);
    let keep = assigned(&r).expect("the shrunk assignment");
    assert_eq!(keep[&id].len(), 2);
    // A stale epoch is fenced.
    let stale = heartbeat(&mut conn, "raw", "m1", 3, Some(&keep), None);
    assert_eq!(stale.error_code, FENCED_MEMBER_EPOCH);
    // Once m1 reports the revocation it moves to epoch 2, and m2 gets the released partitions.
    let r = heartbeat(&mut conn, "raw", "m1", 1, Some(&keep), None);
    assert_eq!(r.member_epoch, 2);
    let r2 = heartbeat(&mut conn, "raw", "m2", 2, Some(&empty), None);
    let m2 = assigned(&r2).expect("m2's partitions");
    let mut union: Vec<i32> = keep[&id].iter().chain(m2[&id].iter()).copied().collect();
    union.sort();
    assert_eq!(union, vec![0, 1, 2, 3]);

    // Errors as Kafka gives them.
    assert_eq!(
        heartbeat(&mut conn, "raw", "nobody", 2, None, None).error_code,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut conn, "raw", "m3", 0, None, Some(&["kip848-raw"])).error_code,
        INVALID_REQUEST
    );
    let bad_assignor = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("raw")))
        .with_member_id(StrBytes::from_static_str("m9"))
        .with_rebalance_timeout_ms(1000)
        .with_server_assignor(Some(StrBytes::from_static_str("sticky")))
        .with_subscribed_topic_names(Some(vec![TopicName(StrBytes::from_static_str("kip848-raw"))]))
        .with_topic_partitions(Some(vec![]));
    assert_eq!(conn.call(1, &bad_assignor).error_code, UNSUPPORTED_ASSIGNOR);

    // Static membership: a second instance with the same id is refused while the first holds it.
    let static_join = |conn: &mut KafkaConnection, member: &str| {
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("static")))
            .with_member_id(StrBytes::from_string(member.to_string()))
            .with_instance_id(Some(StrBytes::from_static_str("instance-1")))
            .with_rebalance_timeout_ms(1000)
            .with_subscribed_topic_names(Some(vec![TopicName(StrBytes::from_static_str("kip848-raw"))]))
            .with_topic_partitions(Some(vec![]));
        conn.call(1, &request)
    };
    assert_eq!(static_join(&mut conn, "s1").error_code, 0);
    assert_eq!(static_join(&mut conn, "s2").error_code, UNRELEASED_INSTANCE_ID);

    // The group's state survives a restart: same epochs, same assignments.
    let describe = |conn: &mut KafkaConnection| {
        let d = conn.call(
            1,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(StrBytes::from_static_str("raw"))]),
        );
        let g = &d.groups[0];
        assert_eq!(g.error_code, 0);
        let members: BTreeMap<String, (i32, Vec<i32>)> = g
            .members
            .iter()
            .map(|m| {
                let parts = m
                    .assignment
                    .topic_partitions
                    .iter()
                    .flat_map(|t| t.partitions.clone())
                    .collect();
                (m.member_id.to_string(), (m.member_epoch, parts))
            })
            .collect();
        (g.group_state.to_string(), g.group_epoch, g.assignment_epoch, members)
    };
    let before = describe(&mut conn);
    assert_eq!(before.0, "Stable");
    broker.terminate();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    assert_eq!(describe(&mut conn), before);
    // The member goes on at its epoch with the restarted coordinator.
    let r = heartbeat(&mut conn, "raw", "m1", 2, Some(&keep), None);
    assert_eq!((r.error_code, r.member_epoch), (0, 2));
}

fn commit(conn: &mut KafkaConnection, group: &str, member: &str, epoch: i32, offset: i64) -> i16 {
    use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let response = conn.call(
        9,
        &kafka_protocol::messages::OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(StrBytes::from_string(member.to_string()))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("kip848-migrate")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset),
                    ]),
            ]),
    );
    response.topics[0].partitions[0].error_code
}

fn committed(conn: &mut KafkaConnection, group: &str) -> i64 {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let response = conn.call(
        7,
        &kafka_protocol::messages::OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("kip848-migrate")))
                    .with_partition_indexes(vec![0]),
            ])),
    );
    response.topics[0].partitions[0].committed_offset
}

#[test]
fn offline_migration_commit_epochs_and_the_rebalance_timeout() {
    const STALE_MEMBER_EPOCH: i16 = 113;
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kip848-migrate", 1, &[]);
    let mut conn = KafkaConnection::connect(&bootstrap);
    let empty = BTreeMap::new();

    // A group holding only offsets becomes a consumer group and keeps them.
    assert_eq!(commit(&mut conn, "migrating", "", -1, 7), 0);
    let r = heartbeat(&mut conn, "migrating", "m1", 0, Some(&empty), Some(&["kip848-migrate"]));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(committed(&mut conn, "migrating"), 7);
    // Commits are checked against the member's epoch.
    assert_eq!(commit(&mut conn, "migrating", "m1", r.member_epoch, 9), 0);
    assert_eq!(
        commit(&mut conn, "migrating", "m1", r.member_epoch + 1, 10),
        STALE_MEMBER_EPOCH
    );
    assert_eq!(
        commit(&mut conn, "migrating", "other", r.member_epoch, 10),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(commit(&mut conn, "migrating", "", -1, 10), UNKNOWN_MEMBER_ID);
    assert_eq!(committed(&mut conn, "migrating"), 9);
    // Emptied, it becomes a classic group again on a JoinGroup, offsets still there.
    let left = heartbeat(&mut conn, "migrating", "m1", -1, None, None);
    assert_eq!((left.error_code, left.member_epoch), (0, -1));
    let join = conn.call(
        9,
        &kafka_protocol::messages::JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("migrating")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(StrBytes::from_static_str(""))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0])),
            ]),
    );
    // The first join of a classic group asks for a member id (KIP-394): the group is classic.
    assert_eq!(join.error_code, 79, "MEMBER_ID_REQUIRED");
    let listed = conn.call(5, &ListGroupsRequest::default());
    let g = listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "migrating")
        .unwrap();
    assert_eq!(g.group_type.as_str(), "classic");
    assert_eq!(committed(&mut conn, "migrating"), 9);

    // A member that does not revoke within its rebalance timeout is fenced.
    create_topic(&bootstrap, "kip848-slow", 2, &[]);
    let slow = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("slow")))
        .with_member_id(StrBytes::from_static_str("s1"))
        .with_rebalance_timeout_ms(1000)
        .with_subscribed_topic_names(Some(vec![TopicName(StrBytes::from_static_str("kip848-slow"))]))
        .with_topic_partitions(Some(vec![]));
    let r = conn.call(1, &slow);
    let owned = assigned(&r).unwrap();
    assert_eq!(owned.values().map(Vec::len).sum::<usize>(), 2);
    heartbeat(&mut conn, "slow", "s2", 0, Some(&empty), Some(&["kip848-slow"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = heartbeat(&mut conn, "slow", "s1", 1, Some(&owned), None);
        if r.error_code == UNKNOWN_MEMBER_ID {
            break;
        }
        assert_eq!(r.error_code, 0);
        assert!(
            Instant::now() < deadline,
            "s1 kept its partition past its rebalance timeout"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
