//! Group and transaction APIs under the StandardAuthorizer: with no ACLs a user is refused
//! every group and transactional id (and idempotence), and ListGroups shows it nothing; ACLs
//! on one topic, one group and one transactional id let its librdkafka consumer and
//! transactional producer work, while every other group and id stays refused. KIP-848
//! consumer groups and share groups are refused alike, and a consumer group whose assignment
//! names a topic the user may not describe is not described. The transaction APIs' own
//! refusals are in `acls_transactions.rs`.

mod common;

// Shared by the ACL test files; this one uses only part of it.
#[path = "acl_support/mod.rs"]
#[allow(dead_code)]
mod acl_support;

use std::time::{Duration, Instant};

use acl_support::{ALICE, AclBroker, acl, code, create_acls, start_acl_broker};
use common::protocol::{KafkaConnection, find_coordinator};
use common::*;
use kafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, DeleteGroupsRequest,
    DeleteShareGroupOffsetsRequest, DescribeGroupsRequest, DescribeShareGroupOffsetsRequest, FindCoordinatorRequest,
    GroupId, HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse, ProducerId,
    ShareAcknowledgeRequest, ShareFetchRequest, ShareGroupDescribeRequest, ShareGroupHeartbeatRequest,
    SyncGroupRequest, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn group(v: &str) -> GroupId {
    GroupId(s(v))
}

/// FindCoordinator v4 for one key: its error code.
fn coordinator_error(conn: &mut KafkaConnection, key_type: i8, key: &str) -> i16 {
    let r = conn.call(
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(key_type)
            .with_coordinator_keys(vec![s(key)]),
    );
    assert_eq!(r.coordinators.len(), 1);
    r.coordinators[0].error_code
}

/// A simple-consumer commit (generation -1) of `offset` for `topic`-0: each partition's error.
fn commit(conn: &mut KafkaConnection, group_id: &str, topic: &str, offset: i64) -> Vec<i16> {
    let r = conn.call(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(group(group_id))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset),
                    ]),
            ]),
    );
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// OffsetFetch v8 of one group, for `topic`-0 or (None) every topic.
fn fetch_offsets(conn: &mut KafkaConnection, group_id: &str, topic: Option<&str>) -> OffsetFetchResponse {
    let topics = topic.map(|t| {
        vec![
            OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(t)))
                .with_partition_indexes(vec![0]),
        ]
    });
    conn.call(
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group(group_id))
                .with_topics(topics),
        ]),
    )
}

fn list_groups(conn: &mut KafkaConnection) -> Vec<String> {
    let r: ListGroupsResponse = conn.call(4, &ListGroupsRequest::default());
    assert_eq!(r.error_code, 0);
    let mut groups: Vec<String> = r.groups.iter().map(|g| g.group_id.to_string()).collect();
    groups.sort();
    groups
}

fn init_producer_id(conn: &mut KafkaConnection, transactional_id: Option<&str>) -> i16 {
    let r = conn.call(
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(transactional_id.map(|t| TransactionalId(s(t))))
            .with_transaction_timeout_ms(30_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    if r.error_code != 0 {
        assert_eq!(
            (r.producer_id.0, r.producer_epoch),
            (-1, -1),
            "a refusal carries no producer id"
        );
    }
    r.error_code
}

/// The admin creates `topic` with one partition and `n` records in it.
fn topic_with_records(broker: &AclBroker, topic: &str, n: usize) {
    let bootstrap = broker.admin_bootstrap();
    create_topic(&bootstrap, topic, 1, &[]);
    let producer = tracked_producer(&bootstrap, &[]);
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();
    produce_all(&producer, topic, Some(0), &records);
}

#[test]
fn without_acls_every_group_and_transactional_id_is_refused() {
    let broker = start_acl_broker(&[]);
    topic_with_records(&broker, "acl-g-topic", 3);
    // The admin makes the group exist, so refusals and listings have something to hide.
    let mut admin = broker.admin();
    find_coordinator(&mut admin, "acl-g");
    assert_eq!(commit(&mut admin, "acl-g", "acl-g-topic", 2), vec![0]);
    assert_eq!(list_groups(&mut admin), vec!["acl-g".to_string()]);

    let mut alice = broker.login(ALICE);
    assert_eq!(coordinator_error(&mut alice, 0, "acl-g"), GROUP_AUTHORIZATION_FAILED);
    assert_eq!(
        coordinator_error(&mut alice, 1, "acl-tx"),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    // Share coordinator keys are for brokers: CLUSTER_ACTION, with the error's message.
    let share = alice.call(
        6,
        &FindCoordinatorRequest::default()
            .with_key_type(2)
            .with_coordinator_keys(vec![s("acl-g:topic-id:0")]),
    );
    assert_eq!(share.coordinators[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(
        share.coordinators[0].error_message.as_ref().map(|m| m.as_str()),
        Some("Cluster authorization failed.")
    );
    let refused = alice.call(
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s("acl-g")]),
    );
    assert_eq!(
        refused.coordinators[0].error_message, None,
        "a refused group key has no message"
    );
    assert_eq!(refused.coordinators[0].node_id.0, -1);
    // Before v4 the refusal is the whole answer, with no coordinator.
    let old = alice.call(3, &FindCoordinatorRequest::default().with_key(s("acl-g")));
    assert_eq!(
        (old.error_code, old.node_id.0, old.port),
        (GROUP_AUTHORIZATION_FAILED, -1, -1)
    );

    let join = alice.call(
        7,
        &JoinGroupRequest::default()
            .with_group_id(group("acl-g"))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(""))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range"))]),
    );
    assert_eq!((join.error_code, join.generation_id), (GROUP_AUTHORIZATION_FAILED, -1));
    let sync = alice.call(
        5,
        &SyncGroupRequest::default()
            .with_group_id(group("acl-g"))
            .with_generation_id(1)
            .with_member_id(s("m")),
    );
    assert_eq!(sync.error_code, GROUP_AUTHORIZATION_FAILED);
    let heartbeat = alice.call(
        4,
        &HeartbeatRequest::default()
            .with_group_id(group("acl-g"))
            .with_generation_id(1)
            .with_member_id(s("m")),
    );
    assert_eq!(heartbeat.error_code, GROUP_AUTHORIZATION_FAILED);
    let leave = alice.call(4, &LeaveGroupRequest::default().with_group_id(group("acl-g")));
    assert_eq!(leave.error_code, GROUP_AUTHORIZATION_FAILED);

    assert_eq!(
        commit(&mut alice, "acl-g", "acl-g-topic", 3),
        vec![GROUP_AUTHORIZATION_FAILED]
    );
    let fetched = fetch_offsets(&mut alice, "acl-g", Some("acl-g-topic"));
    assert_eq!(fetched.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    assert!(fetched.groups[0].topics.is_empty(), "no offsets behind a refusal");
    let described = alice.call(5, &DescribeGroupsRequest::default().with_groups(vec![group("acl-g")]));
    assert_eq!(described.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(
        described.groups[0].group_state.as_str(),
        "",
        "the state is not disclosed"
    );
    let deleted = alice.call(
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![group("acl-g")]),
    );
    assert_eq!(deleted.results[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let cgh = alice.call(
        0,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group("acl-g-848"))
            .with_member_id(s(""))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("acl-g-topic"))]))
            .with_topic_partitions(Some(Vec::new())),
    );
    assert_eq!(cgh.error_code, GROUP_AUTHORIZATION_FAILED);
    assert!(list_groups(&mut alice).is_empty(), "alice may describe no group");

    assert_eq!(
        init_producer_id(&mut alice, Some("acl-tx")),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    assert_eq!(init_producer_id(&mut alice, None), CLUSTER_AUTHORIZATION_FAILED);

    // The group and its offsets are untouched by alice's attempts.
    let admin_view = fetch_offsets(&mut admin, "acl-g", Some("acl-g-topic"));
    assert_eq!(admin_view.groups[0].error_code, 0);
    assert_eq!(admin_view.groups[0].topics[0].partitions[0].committed_offset, 2);
    assert_eq!(list_groups(&mut admin), vec!["acl-g".to_string()]);

    // librdkafka's transactional producer is refused at init_transactions.
    let producer: rdkafka::producer::BaseProducer = broker
        .client_config(ALICE)
        .set("transactional.id", "acl-tx")
        .create()
        .expect("create producer");
    let err = producer
        .init_transactions(TXN_TIMEOUT)
        .expect_err("a refused transactional id");
    assert_eq!(
        rdkafka_code(&err),
        Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed),
        "{err}"
    );
}

fn rdkafka_code(err: &KafkaError) -> Option<RDKafkaErrorCode> {
    match err {
        KafkaError::Transaction(e) => Some(e.code()),
        other => other.rdkafka_error_code(),
    }
}

#[test]
fn with_acls_alice_consumes_commits_and_transacts_in_what_she_is_given() {
    let broker = start_acl_broker(&[]);
    let topic = "acl-orders";
    topic_with_records(&broker, topic, 5);
    // Another group exists, which alice must not see.
    let mut admin = broker.admin();
    find_coordinator(&mut admin, "acl-others");
    assert_eq!(commit(&mut admin, "acl-others", topic, 1), vec![0]);
    let alice_principal = "User:alice";
    create_acls(
        &broker,
        vec![
            acl(
                code::TOPIC,
                topic,
                code::LITERAL,
                alice_principal,
                code::READ,
                code::ALLOW,
            ),
            acl(
                code::TOPIC,
                topic,
                code::LITERAL,
                alice_principal,
                code::WRITE,
                code::ALLOW,
            ),
            acl(
                code::GROUP,
                "acl-readers",
                code::LITERAL,
                alice_principal,
                code::READ,
                code::ALLOW,
            ),
            acl(
                code::TRANSACTIONAL_ID,
                "acl-tx",
                code::LITERAL,
                alice_principal,
                code::WRITE,
                code::ALLOW,
            ),
        ],
    );

    // A librdkafka consumer in the permitted group reads the admin's records and commits.
    let consumer: BaseConsumer = broker
        .client_config(ALICE)
        .set("group.id", "acl-readers")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut values = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while values.len() < 5 {
        assert!(Instant::now() < deadline, "alice read only {values:?}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("alice's consumer");
            values.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(values, (0..5).map(|i| format!("v{i}")).collect::<Vec<_>>());
    consumer.commit_consumer_state(CommitMode::Sync).expect("commit");

    let mut alice = broker.login(ALICE);
    let named = fetch_offsets(&mut alice, "acl-readers", Some(topic));
    assert_eq!(named.groups[0].error_code, 0);
    assert_eq!(named.groups[0].topics[0].partitions[0].error_code, 0);
    assert_eq!(named.groups[0].topics[0].partitions[0].committed_offset, 5);
    let all = fetch_offsets(&mut alice, "acl-readers", None);
    assert_eq!(all.groups[0].topics.len(), 1);
    assert_eq!(all.groups[0].topics[0].name.as_str(), topic);
    assert_eq!(all.groups[0].topics[0].partitions[0].committed_offset, 5);
    // A topic alice may not describe is refused by name.
    let hidden = fetch_offsets(&mut alice, "acl-readers", Some("acl-hidden"));
    assert_eq!(
        hidden.groups[0].topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    // Only the permitted group is listed and described; the other stays refused.
    assert_eq!(list_groups(&mut alice), vec!["acl-readers".to_string()]);
    assert_eq!(
        list_groups(&mut admin),
        vec!["acl-others".to_string(), "acl-readers".to_string()]
    );
    let described = alice.call(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![group("acl-readers"), group("acl-others")]),
    );
    // Kafka answers the refused group first.
    assert_eq!(described.groups[0].group_id.as_str(), "acl-others");
    assert_eq!(described.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(described.groups[1].group_id.as_str(), "acl-readers");
    assert_eq!(described.groups[1].error_code, 0);
    assert_eq!(described.groups[1].members.len(), 1, "alice's consumer is a member");
    assert_eq!(
        commit(&mut alice, "acl-others", topic, 2),
        vec![GROUP_AUTHORIZATION_FAILED]
    );
    assert_eq!(
        coordinator_error(&mut alice, 0, "acl-others"),
        GROUP_AUTHORIZATION_FAILED
    );
    assert_eq!(coordinator_error(&mut alice, 0, "acl-readers"), 0);
    drop(consumer);

    // A transactional producer with the permitted id commits a transaction.
    let producer = tracked_alice_producer(&broker, "acl-tx");
    producer.init_transactions(TXN_TIMEOUT).expect("init_transactions");
    producer.begin_transaction().expect("begin");
    send(
        &producer,
        BaseRecord::with_opaque_to(topic, 0)
            .partition(0)
            .payload(b"in-txn".as_slice()),
    );
    producer.commit_transaction(TXN_TIMEOUT).expect("commit_transaction");
    let reports = take_reports(&producer);
    assert!(
        reports.iter().all(|r| r.result.is_ok()),
        "transactional record delivered"
    );
    let (_, high) = watermarks(&broker.admin_bootstrap(), topic, 0);
    assert_eq!(high, 7, "five records, the transactional one and its commit marker");
    assert_eq!(coordinator_error(&mut alice, 1, "acl-tx"), 0);

    // Another transactional id stays refused, to librdkafka and on the wire.
    let other: rdkafka::producer::BaseProducer = broker
        .client_config(ALICE)
        .set("transactional.id", "acl-tx-other")
        .create()
        .expect("create producer");
    let err = other
        .init_transactions(TXN_TIMEOUT)
        .expect_err("a refused transactional id");
    assert_eq!(
        rdkafka_code(&err),
        Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed),
        "{err}"
    );
    assert_eq!(
        init_producer_id(&mut alice, Some("acl-tx-other")),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    // WRITE on a topic makes alice an idempotent producer (KIP-679).
    assert_eq!(init_producer_id(&mut alice, None), 0);
}

fn tracked_alice_producer(broker: &AclBroker, transactional_id: &str) -> TrackedProducer {
    broker
        .client_config(ALICE)
        .set("transactional.id", transactional_id)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(CollectingContext::default())
        .expect("create producer")
}

#[test]
fn share_group_and_consumer_group_apis_refuse_a_group_without_acls() {
    let broker = start_acl_broker(&[]);
    create_topic(&broker.admin_bootstrap(), "acl-q", 1, &[]);
    let mut alice = broker.login(ALICE);
    let refused_group = "acl-share";
    let member = Some(s("0123456789abcdef0123456789abcdef"));

    let described = alice.call(
        0,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group("acl-848-x")]),
    );
    assert_eq!(described.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let share_heartbeat = alice.call(
        1,
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(group(refused_group))
            .with_member_id(s("0123456789abcdef0123456789abcdef"))
            .with_member_epoch(0)
            .with_subscribed_topic_names(Some(vec![TopicName(s("acl-q"))])),
    );
    assert_eq!(share_heartbeat.error_code, GROUP_AUTHORIZATION_FAILED);
    let share_described = alice.call(
        1,
        &ShareGroupDescribeRequest::default().with_group_ids(vec![group(refused_group)]),
    );
    assert_eq!(share_described.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let fetched = alice.call(
        1,
        &ShareFetchRequest::default()
            .with_group_id(Some(group(refused_group)))
            .with_member_id(member.clone())
            .with_share_session_epoch(0),
    );
    assert_eq!(fetched.error_code, GROUP_AUTHORIZATION_FAILED);
    let acknowledged = alice.call(
        1,
        &ShareAcknowledgeRequest::default()
            .with_group_id(Some(group(refused_group)))
            .with_member_id(member)
            .with_share_session_epoch(1),
    );
    assert_eq!(acknowledged.error_code, GROUP_AUTHORIZATION_FAILED);
    let offsets = alice.call(
        0,
        &DescribeShareGroupOffsetsRequest::default().with_groups(vec![
            DescribeShareGroupOffsetsRequestGroup::default()
                .with_group_id(group(refused_group))
                .with_topics(None),
        ]),
    );
    assert_eq!(offsets.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let altered = alice.call(
        0,
        &AlterShareGroupOffsetsRequest::default().with_group_id(group(refused_group)),
    );
    assert_eq!(altered.error_code, GROUP_AUTHORIZATION_FAILED);
    let deleted = alice.call(
        0,
        &DeleteShareGroupOffsetsRequest::default().with_group_id(group(refused_group)),
    );
    assert_eq!(deleted.error_code, GROUP_AUTHORIZATION_FAILED);
}

#[test]
fn a_consumer_group_is_not_described_when_its_assignment_names_a_hidden_topic() {
    let broker = start_acl_broker(&[]);
    create_topic(&broker.admin_bootstrap(), "acl-secret-t", 2, &[]);
    // The admin's member is assigned both partitions of the topic.
    let mut admin = broker.admin();
    let mut member_id = s("");
    let mut epoch = 0;
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let r = admin.call(
            0,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group("acl-cg"))
                .with_member_id(member_id.clone())
                .with_member_epoch(epoch)
                .with_rebalance_timeout_ms(if epoch == 0 { 30_000 } else { -1 })
                .with_subscribed_topic_names((epoch == 0).then(|| vec![TopicName(s("acl-secret-t"))]))
                .with_topic_partitions((epoch == 0).then(Vec::new)),
        );
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        member_id = r.member_id.clone().unwrap_or(member_id);
        epoch = r.member_epoch;
        if r.assignment.is_some_and(|a| !a.topic_partitions.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no assignment");
        std::thread::sleep(Duration::from_millis(100));
    }
    let alice_principal = "User:alice";
    create_acls(
        &broker,
        vec![acl(
            code::GROUP,
            "acl-cg",
            code::LITERAL,
            alice_principal,
            code::DESCRIBE,
            code::ALLOW,
        )],
    );
    let mut alice = broker.login(ALICE);
    let describe = |conn: &mut KafkaConnection| {
        conn.call(
            0,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![group("acl-cg")]),
        )
    };
    let hidden = describe(&mut alice);
    assert_eq!(hidden.groups[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        hidden.groups[0].error_message.as_ref().map(|m| m.as_str()),
        Some("The group has described topic(s) that the client is not authorized to describe.")
    );
    assert!(hidden.groups[0].members.is_empty(), "nothing of the group is shown");

    create_acls(
        &broker,
        vec![acl(
            code::TOPIC,
            "acl-secret-t",
            code::LITERAL,
            alice_principal,
            code::DESCRIBE,
            code::ALLOW,
        )],
    );
    let shown = describe(&mut alice);
    assert_eq!(shown.groups[0].error_code, 0);
    assert_eq!(shown.groups[0].members.len(), 1);
    assert_eq!(shown.groups[0].members[0].member_id, member_id);
}

/// As on Kafka 4.1, a subscription regex resolves only to topics the member may DESCRIBE:
/// matching a topic is no way to learn that it exists.
#[test]
fn a_regex_subscription_resolves_only_to_topics_the_member_may_describe() {
    use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, MetadataRequest};

    let broker = start_acl_broker(&[]);
    let admin = broker.admin_bootstrap();
    create_topic(&admin, "rx-open", 2, &[]);
    create_topic(&admin, "rx-secret", 2, &[]);
    create_acls(
        &broker,
        vec![
            acl(
                code::GROUP,
                "rx-group",
                code::LITERAL,
                "User:alice",
                code::READ,
                code::ALLOW,
            ),
            acl(
                code::TOPIC,
                "rx-open",
                code::LITERAL,
                "User:alice",
                code::DESCRIBE,
                code::ALLOW,
            ),
        ],
    );
    let ids: Vec<(String, uuid::Uuid)> = broker
        .admin()
        .call(12, &MetadataRequest::default().with_topics(None))
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.topic_id))
        .collect();
    let id_of = |name: &str| ids.iter().find(|(n, _)| n == name).unwrap().1;

    let mut alice = broker.login(ALICE);
    // v1 (regex subscriptions): the member names itself (KIP-1082).
    let (member, mut epoch) = ("rx-member-1".to_string(), 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let assigned = loop {
        let r = alice.call(
            1,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("rx-group")))
                .with_member_id(StrBytes::from_string(member.clone()))
                .with_member_epoch(epoch)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(None)
                .with_subscribed_topic_regex(Some(StrBytes::from_static_str("rx-.*")))
                .with_topic_partitions(Some(Vec::new())),
        );
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        epoch = r.member_epoch;
        if let Some(a) = r.assignment.filter(|a| !a.topic_partitions.is_empty()) {
            break a;
        }
        assert!(Instant::now() < deadline, "no assignment");
        std::thread::sleep(Duration::from_millis(200));
    };
    let topics: Vec<uuid::Uuid> = assigned.topic_partitions.iter().map(|t| t.topic_id).collect();
    assert_eq!(
        topics,
        vec![id_of("rx-open")],
        "rx-secret ({}) is not assigned",
        id_of("rx-secret")
    );
}
