//! Transaction APIs under the StandardAuthorizer, beside the librdkafka producers of
//! `acls_groups.rs`: a transaction adds only topics it may write, transactions are listed and
//! described only with DESCRIBE on their ids, and EndTxn, AddOffsetsToTxn and TxnOffsetCommit
//! refuse what the user may not write or read. The first test's broker also shows a KIP-848
//! subscription failing on a topic the user may not describe.

mod common;

// Shared by the ACL test files; this one uses only part of it.
#[path = "acl_support/mod.rs"]
#[allow(dead_code)]
mod acl_support;

use acl_support::{ALICE, acl, code, create_acls, start_acl_broker};
use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ConsumerGroupHeartbeatRequest, DescribeTransactionsRequest,
    EndTxnRequest, GroupId, InitProducerIdRequest, ListTransactionsRequest, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const OPERATION_NOT_ATTEMPTED: i16 = 55;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn group(v: &str) -> GroupId {
    GroupId(s(v))
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
    r.error_code
}

#[test]
fn a_transaction_adds_only_topics_it_may_write() {
    let broker = start_acl_broker(&[]);
    let bootstrap = broker.admin_bootstrap();
    create_topic(&bootstrap, "acl-w", 1, &[]);
    create_topic(&bootstrap, "acl-ro", 1, &[]);
    let alice_principal = "User:alice";
    create_acls(
        &broker,
        vec![
            acl(
                code::TOPIC,
                "acl-w",
                code::LITERAL,
                alice_principal,
                code::WRITE,
                code::ALLOW,
            ),
            acl(
                code::TOPIC,
                "acl-ro",
                code::LITERAL,
                alice_principal,
                code::READ,
                code::ALLOW,
            ),
            acl(
                code::TRANSACTIONAL_ID,
                "acl-tx2",
                code::LITERAL,
                alice_principal,
                code::WRITE,
                code::ALLOW,
            ),
        ],
    );
    let mut alice = broker.login(ALICE);
    let r = alice.call(
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("acl-tx2"))))
            .with_transaction_timeout_ms(30_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(r.error_code, 0);
    let add = |conn: &mut KafkaConnection, id: &str, topics: &[&str]| {
        let mut request = AddPartitionsToTxnRequest::default();
        request.v3_and_below_transactional_id = TransactionalId(s(id));
        request.v3_and_below_producer_id = r.producer_id;
        request.v3_and_below_producer_epoch = r.producer_epoch;
        request.v3_and_below_topics = topics
            .iter()
            .map(|t| {
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![0])
            })
            .collect();
        let response = conn.call(3, &request);
        response
            .results_by_topic_v3_and_below
            .iter()
            .map(|t| (t.name.to_string(), t.results_by_partition[0].partition_error_code))
            .collect::<Vec<_>>()
    };
    // A topic alice may only read fails the whole transaction; the other is not attempted.
    assert_eq!(
        add(&mut alice, "acl-tx2", &["acl-w", "acl-ro"]),
        vec![
            ("acl-w".to_string(), OPERATION_NOT_ATTEMPTED),
            ("acl-ro".to_string(), TOPIC_AUTHORIZATION_FAILED),
        ]
    );
    // Another transactional id is refused on every partition.
    assert_eq!(
        add(&mut alice, "acl-tx-nope", &["acl-w"]),
        vec![("acl-w".to_string(), TRANSACTIONAL_ID_AUTHORIZATION_FAILED)]
    );
    assert_eq!(add(&mut alice, "acl-tx2", &["acl-w"]), vec![("acl-w".to_string(), 0)]);

    // Subscribing by name to a topic alice may not describe fails the heartbeat once the
    // group is permitted.
    create_acls(
        &broker,
        vec![acl(
            code::GROUP,
            "acl-848",
            code::LITERAL,
            alice_principal,
            code::READ,
            code::ALLOW,
        )],
    );
    let heartbeat = |conn: &mut KafkaConnection, topic: &str| {
        conn.call(
            0,
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group("acl-848"))
                .with_member_id(s(""))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(s(topic))]))
                .with_topic_partitions(Some(Vec::new())),
        )
        .error_code
    };
    assert_eq!(heartbeat(&mut alice, "acl-secret"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(heartbeat(&mut alice, "acl-ro"), 0);
}

#[test]
fn transactions_are_listed_described_and_ended_only_as_permitted() {
    let broker = start_acl_broker(&[]);
    let bootstrap = broker.admin_bootstrap();
    create_topic(&bootstrap, "acl-w3", 1, &[]);
    let alice_principal = "User:alice";
    create_acls(
        &broker,
        vec![
            acl(
                code::TOPIC,
                "acl-w3",
                code::LITERAL,
                alice_principal,
                code::WRITE,
                code::ALLOW,
            ),
            acl(
                code::TRANSACTIONAL_ID,
                "acl-tx3",
                code::LITERAL,
                alice_principal,
                code::WRITE,
                code::ALLOW,
            ),
        ],
    );
    let mut admin = broker.admin();
    assert_eq!(init_producer_id(&mut admin, Some("acl-hidden-tx")), 0);
    let mut alice = broker.login(ALICE);
    assert_eq!(init_producer_id(&mut alice, Some("acl-tx3")), 0);

    let listed = |conn: &mut KafkaConnection| {
        let r = conn.call(0, &ListTransactionsRequest::default());
        assert_eq!(r.error_code, 0);
        let mut ids: Vec<String> = r
            .transaction_states
            .iter()
            .map(|t| t.transactional_id.to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(listed(&mut alice), vec!["acl-tx3".to_string()]);
    assert_eq!(
        listed(&mut admin),
        vec!["acl-hidden-tx".to_string(), "acl-tx3".to_string()]
    );
    let described = alice.call(
        0,
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s("acl-tx3")), TransactionalId(s("acl-hidden-tx"))]),
    );
    assert_eq!(described.transaction_states[0].error_code, 0);
    assert_eq!(described.transaction_states[0].transaction_state.as_str(), "Empty");
    assert_eq!(
        described.transaction_states[1].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    assert_eq!(described.transaction_states[1].transaction_state.as_str(), "");

    let end = alice.call(
        3,
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s("acl-hidden-tx")))
            .with_producer_id(ProducerId(0))
            .with_producer_epoch(0)
            .with_committed(true),
    );
    assert_eq!(end.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    // WRITE on the id is not enough to send a group's offsets: READ on the group is needed.
    let add_offsets = alice.call(
        3,
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("acl-tx3")))
            .with_producer_id(ProducerId(0))
            .with_producer_epoch(0)
            .with_group_id(group("acl-nogroup")),
    );
    assert_eq!(add_offsets.error_code, GROUP_AUTHORIZATION_FAILED);
    let txn_commit = alice.call(
        3,
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s("acl-hidden-tx")))
            .with_group_id(group("acl-nogroup"))
            .with_producer_id(ProducerId(0))
            .with_producer_epoch(0)
            .with_generation_id(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("acl-w3")))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]),
    );
    assert_eq!(
        txn_commit.topics[0].partitions[0].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
}
