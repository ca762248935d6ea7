//! Share groups (KIP-932) over real TCP against a real broker: members join with
//! ShareGroupHeartbeat, acquire records with ShareFetch and settle them with acknowledgements;
//! the records that come back show redelivery after RELEASE and after a lock times out,
//! REJECT archiving, the delivery count limit, and acknowledgements that survive a crash.
mod common;
mod share_support;

use std::time::{Duration, Instant};

use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::share_fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use share_support::*;
use uuid::Uuid;

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
    let topic = create_share_topic(&mut admin, "queue");

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
    let topic = create_share_topic(&mut admin, "jobs");
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
    let topic = create_share_topic(&mut admin, "errs");
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
fn a_closed_connection_releases_its_records_at_once() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_share_topic(&mut admin, "handoff");
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
