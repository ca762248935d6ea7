//! Share group administration over real TCP against a real broker: the share group offsets
//! APIs, what ListGroups and the classic DescribeGroups say of share groups (checked against
//! Apache Kafka 4.1 with `FIDELITY_BOOTSTRAP`), and group configs on resource type GROUP
//! (`share.auto.offset.reset`, `share.isolation.level`).

mod common;
mod share_support;

use std::time::{Duration, Instant};

use common::protocol::KafkaConnection;
use common::*;

use kafka_protocol::messages::*;
use share_support::*;
use uuid::Uuid;

#[test]
fn offsets_admin_and_listing() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    let mut admin = KafkaConnection::connect(&bootstrap);
    let topic = create_share_topic(&mut admin, "admin-q");
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

/// What the classic group APIs say of a share group, checked field by field; runs against
/// `FIDELITY_BOOTSTRAP` (Apache Kafka 4.1 with share.version=1) when it is set.
#[test]
fn classic_group_apis_on_a_share_group() {
    let target = Target::start(&[]);
    let mut admin = KafkaConnection::connect(&target.bootstrap);
    let topic_name = target.unique("classic-view");
    let group = target.unique("classic-view-group");
    let topic = create_share_topic(&mut admin, &topic_name);
    let mut conn = KafkaConnection::connect(&target.bootstrap);
    // Kafka creates __consumer_offsets, where share groups live too, at the first
    // FindCoordinator; a fresh Kafka answers NOT_COORDINATOR until then.
    common::protocol::find_coordinator(&mut conn, &group);
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

    // The group id is taken: the other protocols' requests for it are refused.
    let join = admin.call(
        9,
        &JoinGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(""))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0])),
            ]),
    );
    let heartbeat = admin.call(
        1,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(s(&Uuid::new_v4().to_string()))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s(&topic_name))]))
            .with_topic_partitions(Some(vec![])),
    );
    let commit = admin.call(
        9,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(&topic_name)))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0),
                    ]),
            ]),
    );
    assert_eq!(join.error_code, 23, "JoinGroup: INCONSISTENT_GROUP_PROTOCOL");
    assert_eq!(heartbeat.error_code, 69, "ConsumerGroupHeartbeat: GROUP_ID_NOT_FOUND");
    assert_eq!(
        heartbeat.error_message.as_deref(),
        Some(format!("Group {group} is not a consumer group.").as_str())
    );
    assert_eq!(
        commit.topics[0].partitions[0].error_code, 69,
        "OffsetCommit: GROUP_ID_NOT_FOUND"
    );
    // And a consumer group's id is not a share group's.
    let other = format!("{group}-consumer");
    let joined = admin.call(
        1,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&other)))
            .with_member_id(s(&Uuid::new_v4().to_string()))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s(&topic_name))]))
            .with_topic_partitions(Some(vec![])),
    );
    assert_eq!(joined.error_code, 0);
    let share = admin.call(
        1,
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&other)))
            .with_member_id(s(&Uuid::new_v4().to_string()))
            .with_member_epoch(0)
            .with_subscribed_topic_names(Some(vec![TopicName(s(&topic_name))])),
    );
    assert_eq!(share.error_code, 69, "ShareGroupHeartbeat to a consumer group");
    assert_eq!(
        share.error_message.as_deref(),
        Some(format!("Group {other} is not a share group.").as_str())
    );
    admin.call(
        1,
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(&other)))
            .with_member_id(joined.member_id.clone().unwrap_or_default())
            .with_member_epoch(-1),
    );
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
    let topic = create_share_topic(&mut admin, "txq");
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
