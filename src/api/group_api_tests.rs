//! Every group API at every served version: requests go through `ApiHandler::handle`'s
//! handlers and their replies must encode (a response field set outside its versions makes
//! the codec refuse, which would leave a client without an answer).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::group::GroupConfig;
use crate::metadata::{ClusterIdentity, NewTopic, TopicRegistry};

struct Fixture {
    _dir: tempfile::TempDir,
    api: Arc<ApiHandler>,
}

static ANONYMOUS: std::sync::LazyLock<crate::security::KafkaPrincipal> =
    std::sync::LazyLock::new(crate::security::KafkaPrincipal::anonymous);

/// An unauthenticated caller on a broker without an authorizer.
fn ctx() -> crate::auth::RequestContext<'static> {
    crate::auth::RequestContext {
        principal: &ANONYMOUS,
        host: std::net::IpAddr::from([127, 0, 0, 1]),
        authorizer: None,
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(BrokerConfig::default());
    let topics = Arc::new(TopicRegistry::open(config.clone(), dir.path()).unwrap());
    let registry = topics.clone();
    let logs = LogManager::open(dir.path(), move |t| registry.topic_config(t).log_config()).unwrap();
    topics.attach_logs(logs.clone()).unwrap();
    topics
        .create_topic(
            NewTopic {
                name: "t".into(),
                partitions: 2,
                replication_factor: -1,
                assignments: Vec::new(),
                configs: Default::default(),
            },
            false,
        )
        .unwrap();
    let group_config = GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_topic_partitions: 3,
        ..GroupConfig::default()
    };
    let groups = GroupCoordinator::open(group_config, topics.clone(), logs.clone()).unwrap();
    let producer_ids = Arc::new(crate::metadata::ProducerIdManager::open(dir.path()).unwrap());
    let txn = crate::txn::TransactionCoordinator::open(
        crate::txn::TxnConfig::default(),
        topics.clone(),
        logs.clone(),
        producer_ids.clone(),
        groups.clone(),
    )
    .unwrap();
    let share = crate::share::open(&config, topics.clone(), logs.clone(), groups.clone()).unwrap();
    let api = Arc::new(ApiHandler {
        config,
        identity: ClusterIdentity {
            cluster_id: "c".into(),
            node_id: 1,
        },
        advertised: vec![Advertised {
            host: "localhost".into(),
            port: 9092,
        }],
        topics,
        logs,
        fetch_sessions: FetchSessionCache::default(),
        authorizer: None,
        groups,
        producer_ids,
        txn,
        share,
        quotas: crate::quota::ClientQuotaManager::new(crate::quota::QuotaWindow::default()),
        mutation_quotas: crate::quota::controller_mutation_quota::ControllerMutationQuotaManager::new(
            crate::quota::QuotaWindow::default(),
        ),
    });
    Fixture { _dir: dir, api }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The encoded reply, waiting for it if deferred.
async fn body(reply: Result<Reply, RequestError>) -> Bytes {
    match reply {
        Ok(Reply::Ready(b)) => b,
        Ok(Reply::Deferred(f)) => f.await.expect("a deferred reply is encoded").to_contiguous().unwrap(),
        Ok(_) => panic!("unexpected reply kind"),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Error code at the start of a response body (after the throttle time when present).
fn code_at(body: &Bytes, at: usize) -> i16 {
    i16::from_be_bytes([body[at], body[at + 1]])
}

#[tokio::test]
async fn every_version_of_every_group_api_encodes() {
    let f = fixture();
    let api = &f.api;
    let protocols = || {
        vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"\x00\x00")),
        ]
    };

    for v in 0..=6 {
        let req = FindCoordinatorRequest::default()
            .with_key(s("g"))
            .with_key_type(if v >= 1 { 1 } else { 0 })
            .with_coordinator_keys(if v >= 4 { vec![s("g"), s("h")] } else { vec![] });
        let r = find_coordinator::handle(api, &ctx(), &api.advertised[0], req, v);
        if v >= 4 {
            assert_eq!(r.coordinators.len(), 2);
            assert!(
                r.coordinators
                    .iter()
                    .all(|c| c.node_id.0 == 1 && c.port == 9092 && c.error_code == 0)
            );
        } else {
            assert_eq!((r.node_id.0, r.port, r.error_code), (1, 9092, 0));
        }
        encode(&r, v).unwrap();
        if v >= 1 {
            let bad = find_coordinator::handle(
                api,
                &ctx(),
                &api.advertised[0],
                FindCoordinatorRequest::default().with_key(s("g")).with_key_type(7),
                v,
            );
            encode(&bad, v).unwrap();
        }
    }

    for v in 0..=9i16 {
        let group = format!("group-v{v}");
        let join = |member: &str| {
            JoinGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(s(member))
                .with_group_instance_id(None)
                .with_protocol_type(s("consumer"))
                .with_protocols(protocols())
        };
        let mut member = String::new();
        if v >= 4 {
            let first = join_group::handle(api, &ctx(), join(""), v, "client", "/127.0.0.1".into()).unwrap();
            let Reply::Ready(b) = first else {
                panic!("MEMBER_ID_REQUIRED is immediate")
            };
            let at = if v >= 2 { 4 } else { 0 };
            assert_eq!(code_at(&b, at), errors::MEMBER_ID_REQUIRED, "v{v}");
            member = read_member_id(&b, v);
        }
        let joined = body(join_group::handle(
            api,
            &ctx(),
            join(&member),
            v,
            "client",
            "/127.0.0.1".into(),
        ))
        .await;
        assert_eq!(code_at(&joined, if v >= 2 { 4 } else { 0 }), 0, "join v{v}");
        let (_, generation, members, _) = api.groups.group_snapshot(&group).unwrap();
        let member = members[0].clone();

        let sv = v.min(5);
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(generation)
            .with_member_id(s(&member))
            .with_protocol_type(if sv >= 5 { Some(s("consumer")) } else { None })
            .with_protocol_name(if sv >= 5 { Some(s("range")) } else { None })
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(Bytes::from_static(b"a")),
            ]);
        let synced = body(sync_group::handle(api, &ctx(), sync, sv)).await;
        assert_eq!(code_at(&synced, if sv >= 1 { 4 } else { 0 }), 0, "sync v{sv}");

        let hv = v.min(4);
        let hb = heartbeat::handle(
            api,
            &ctx(),
            HeartbeatRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(generation)
                .with_member_id(s(&member)),
            hv,
        );
        assert_eq!(hb.error_code, 0);
        encode(&hb, hv).unwrap();

        for cv in 2..=9i16 {
            let commit = OffsetCommitRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(s(&member))
                .with_retention_time_ms(-1)
                .with_topics(vec![
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(i64::from(cv)),
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(9)
                                .with_committed_offset(1),
                        ]),
                ]);
            body(offset_commit::handle(api, &ctx(), commit, cv)).await;
        }
        for fv in 1..=9i16 {
            let fetch = if fv >= 8 {
                OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(&group)))
                        .with_topics(None),
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(&group)))
                        .with_topics(Some(vec![
                            OffsetFetchRequestTopics::default()
                                .with_name(TopicName(s("t")))
                                .with_partition_indexes(vec![0, 1]),
                        ])),
                ])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(GroupId(s(&group)))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(s("t")))
                            .with_partition_indexes(vec![0, 1]),
                    ]))
            };
            let r = offset_fetch::handle(api, &ctx(), fetch, fv);
            if fv >= 8 {
                let parts = &r.groups[1].topics[0].partitions;
                assert_eq!((parts[0].committed_offset, parts[1].committed_offset), (9, -1));
                assert_eq!(r.groups[0].topics.len(), 1, "null topics: every committed partition");
            } else {
                let parts = &r.topics[0].partitions;
                assert_eq!(
                    (
                        parts[0].committed_offset,
                        parts[1].committed_offset,
                        parts[1].error_code
                    ),
                    (9, -1, 0)
                );
            }
            encode(&r, fv).unwrap();
        }
        for dv in 0..=6i16 {
            let r = describe_groups::handle(
                api,
                &ctx(),
                DescribeGroupsRequest::default()
                    .with_groups(vec![GroupId(s(&group)), GroupId(s("missing"))])
                    .with_include_authorized_operations(dv >= 3),
                dv,
            );
            assert_eq!(r.groups[0].group_state.as_str(), "Stable");
            assert_eq!(r.groups[0].members[0].member_assignment, Bytes::from_static(b"a"));
            assert_eq!(
                r.groups[1].error_code,
                if dv >= 6 { errors::GROUP_ID_NOT_FOUND } else { 0 }
            );
            encode(&r, dv).unwrap();
        }
        for lv in 0..=5i16 {
            let r = list_groups::handle(
                api,
                &ctx(),
                ListGroupsRequest::default()
                    .with_states_filter(if lv >= 4 { vec![s("stable")] } else { vec![] })
                    .with_types_filter(if lv >= 5 { vec![s("Classic")] } else { vec![] }),
                lv,
            );
            assert!(r.groups.iter().any(|g| g.group_id.as_str() == group), "v{lv}");
            encode(&r, lv).unwrap();
        }
        let od = OffsetDeleteRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![OffsetDeleteRequestPartition::default().with_partition_index(0)]),
            ]);
        body(offset_delete::handle(api, &ctx(), od, 0)).await;

        let lv = v.min(5);
        let leave = LeaveGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(if lv < 3 { s(&member) } else { StrBytes::default() })
            .with_members(if lv >= 3 {
                vec![
                    MemberIdentity::default().with_member_id(s(&member)),
                    MemberIdentity::default().with_member_id(s("stranger")),
                ]
            } else {
                vec![]
            });
        let r = leave_group::handle(api, &ctx(), leave, lv);
        if lv >= 3 {
            assert_eq!(
                (r.members[0].error_code, r.members[1].error_code),
                (0, errors::UNKNOWN_MEMBER_ID)
            );
        } else {
            assert_eq!(r.error_code, 0);
        }
        encode(&r, lv).unwrap();

        for gv in 0..=2i16 {
            let r = body(delete_groups::handle(
                api,
                &ctx(),
                DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("never"))]),
                gv,
            ))
            .await;
            assert!(!r.is_empty());
        }
    }
    let all = list_groups::handle(api, &ctx(), ListGroupsRequest::default(), 3);
    assert_eq!(all.groups.len(), 10);
    let none = list_groups::handle(
        api,
        &ctx(),
        ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        5,
    );
    assert!(none.groups.is_empty(), "every group here is classic");
    let deleted = body(delete_groups::handle(
        api,
        &ctx(),
        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("group-v0"))]),
        2,
    ))
    .await;
    assert!(!deleted.is_empty());
    assert!(api.groups.describe_group("group-v0").unwrap().is_none());
}

/// The member id of a JoinGroup reply body (generation, protocol, leader come first).
fn read_member_id(body: &[u8], version: i16) -> String {
    let mut pos = if version >= 2 { 4 } else { 0 } + 2 + 4;
    let flexible = version >= 6;
    let string = |pos: &mut usize| -> String {
        let len = if flexible {
            let n = body[*pos] as usize;
            *pos += 1;
            n.saturating_sub(1)
        } else {
            let n = i16::from_be_bytes([body[*pos], body[*pos + 1]]);
            *pos += 2;
            n.max(0) as usize
        };
        let out = String::from_utf8(body[*pos..*pos + len].to_vec()).unwrap();
        *pos += len;
        out
    };
    if version >= 7 {
        string(&mut pos); // protocol type (null encodes as 0)
    }
    string(&mut pos); // protocol name
    string(&mut pos); // leader
    if version >= 9 {
        pos += 1; // skip_assignment
    }
    string(&mut pos)
}
