use super::*;
use crate::config::BrokerConfig;
use crate::group::GroupConfig;

struct Fixture {
    _dir: tempfile::TempDir,
    coordinator: Arc<GroupCoordinator>,
    topics: Arc<TopicRegistry>,
    logs: Arc<LogManager>,
}

fn open_in(dir: &std::path::Path, config: GroupConfig) -> (Arc<GroupCoordinator>, Arc<TopicRegistry>, Arc<LogManager>) {
    let broker = Arc::new(BrokerConfig::default());
    let topics = Arc::new(TopicRegistry::open(broker, dir).unwrap());
    let registry = topics.clone();
    let logs = LogManager::open(dir, move |t| registry.topic_config(t).log_config()).unwrap();
    topics.attach_logs(logs.clone()).unwrap();
    let coordinator = GroupCoordinator::open(config, topics.clone(), logs.clone()).unwrap();
    (coordinator, topics, logs)
}

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 10,
        offsets_topic_partitions: 3,
        ..GroupConfig::default()
    }
}

fn fixture(config: GroupConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, topics, logs) = open_in(dir.path(), config);
    Fixture {
        _dir: dir,
        coordinator,
        topics,
        logs,
    }
}

fn join(group: &str, member: &str, protocols: &[(&str, &[u8])]) -> JoinRequest {
    JoinRequest {
        group_id: group.into(),
        member_id: member.into(),
        group_instance_id: None,
        require_known_member_id: true,
        supports_skip_assignment: false,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: 1000,
        session_timeout_ms: 500,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(n, m)| (n.to_string(), Bytes::copy_from_slice(m)))
            .collect(),
    }
}

fn ready<T: std::fmt::Debug>(p: Pending<T>) -> T {
    match p {
        Pending::Ready(v) => v,
        Pending::Waiting(_) => panic!("expected an immediate reply"),
    }
}

fn waiting<T>(p: Pending<T>) -> oneshot::Receiver<T> {
    match p {
        Pending::Waiting(rx) => rx,
        Pending::Ready(_) => panic!("expected a deferred reply"),
    }
}

/// Joins a new member through the MEMBER_ID_REQUIRED round trip.
fn join_new(c: &GroupCoordinator, group: &str) -> (String, Pending<JoinResult>) {
    let first = ready(c.join_group(join(group, "", &[("range", b"m")])));
    assert_eq!(first.error, errors::MEMBER_ID_REQUIRED);
    assert!(first.member_id.starts_with("client-"));
    let id = first.member_id.clone();
    (id.clone(), c.join_group(join(group, &id, &[("range", b"m")])))
}

fn sync(
    c: &GroupCoordinator,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
) -> Pending<SyncResult> {
    c.sync_group(SyncRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a)))
            .collect(),
    })
}

#[test]
fn single_member_join_sync_heartbeat_leave() {
    let f = fixture(config());
    let c = &f.coordinator;
    let (id, joined) = join_new(c, "g");
    let joined = ready(joined);
    assert_eq!(joined.error, 0);
    assert_eq!((joined.generation_id, joined.leader_id.as_str()), (1, id.as_str()));
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    let synced = ready(sync(c, "g", &id, 1, &[(&id, b"asg")]));
    assert_eq!((synced.error, &synced.assignment[..]), (0, &b"asg"[..]));
    assert!(synced.durable.is_some(), "the assignment is persisted before the reply");
    assert_eq!(c.heartbeat("g", &id, None, 1), 0);
    assert_eq!(c.heartbeat("g", &id, None, 0), errors::ILLEGAL_GENERATION);
    assert_eq!(c.heartbeat("g", "nobody", None, 1), errors::UNKNOWN_MEMBER_ID);
    assert_eq!(c.heartbeat("other", &id, None, 1), errors::UNKNOWN_MEMBER_ID);
    assert_eq!(c.heartbeat("", &id, None, 1), errors::INVALID_GROUP_ID);
    let left = c
        .leave_group(
            "g",
            &[LeavingMember {
                member_id: id.clone(),
                group_instance_id: None,
            }],
        )
        .unwrap();
    assert_eq!(left, vec![0]);
    let (state, generation, members, _) = c.group_snapshot("g").unwrap();
    assert_eq!((state, generation, members.len()), (GroupState::Empty, 2, 0));
}

#[test]
fn session_timeouts_are_bounded() {
    let f = fixture(GroupConfig {
        min_session_timeout_ms: 6000,
        ..config()
    });
    let r = ready(f.coordinator.join_group(join("g", "", &[("range", b"")])));
    assert_eq!(r.error, errors::INVALID_SESSION_TIMEOUT);
    let mut req = join("", "", &[("range", b"")]);
    req.session_timeout_ms = 6000;
    assert_eq!(ready(f.coordinator.join_group(req)).error, errors::INVALID_GROUP_ID);
}

#[test]
fn second_member_triggers_a_rebalance_that_completes_when_all_rejoin() {
    let f = fixture(config());
    let c = &f.coordinator;
    let (a, ja) = join_new(c, "g");
    assert_eq!(ready(ja).generation_id, 1);
    ready(sync(c, "g", &a, 1, &[(&a, b"all")]));
    // b joins: the group prepares a rebalance and waits for a.
    let (b, jb) = join_new(c, "g");
    let mut jb = waiting(jb);
    assert_eq!(c.heartbeat("g", &a, None, 1), errors::REBALANCE_IN_PROGRESS);
    // a rejoins: the barrier completes at once, without waiting for a timer.
    let ja = ready(c.join_group(join("g", &a, &[("range", b"m")])));
    let jb = jb.try_recv().expect("b's join is answered when a rejoins");
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja.leader_id, a);
    assert_eq!(ja.members.len(), 2, "the leader gets the member list");
    assert!(jb.members.is_empty());
    // b syncs first and waits for the leader's assignment.
    let mut sb = waiting(sync(c, "g", &b, 2, &[]));
    let sa = ready(sync(c, "g", &a, 2, &[(&a, b"A"), (&b, b"B")]));
    assert_eq!(&sa.assignment[..], b"A");
    let sb = sb.try_recv().unwrap();
    assert_eq!((sb.error, &sb.assignment[..]), (0, &b"B"[..]));
    assert_eq!(c.group_snapshot("g").unwrap().0, GroupState::Stable);
}

#[test]
fn members_that_stop_heartbeating_are_removed() {
    let f = fixture(config());
    let c = &f.coordinator;
    let (a, ja) = join_new(c, "g");
    ready(ja);
    ready(sync(c, "g", &a, 1, &[(&a, b"x")]));
    let (b, jb) = join_new(c, "g");
    let mut jb = waiting(jb);
    // a never rejoins: at the rebalance timeout it is dropped and b completes alone.
    c.tick(Instant::now() + Duration::from_millis(1100));
    let jb = jb.try_recv().unwrap();
    assert_eq!((jb.error, jb.generation_id, jb.leader_id.as_str()), (0, 2, b.as_str()));
    ready(sync(c, "g", &b, 2, &[(&b, b"x")]));
    // b stops heartbeating: removed after its session timeout, and the group empties.
    c.tick(Instant::now() + Duration::from_millis(600));
    let (state, _, members, _) = c.group_snapshot("g").unwrap();
    assert_eq!((state, members.len()), (GroupState::Empty, 0));
}

#[test]
fn initial_delay_waits_for_more_members() {
    let f = fixture(GroupConfig {
        initial_rebalance_delay_ms: 300,
        ..config()
    });
    let c = &f.coordinator;
    let (_a, ja) = join_new(c, "g");
    let mut ja = waiting(ja);
    let (_b, jb) = join_new(c, "g");
    let mut jb = waiting(jb);
    c.tick(Instant::now() + Duration::from_millis(100));
    assert!(ja.try_recv().is_err(), "still inside the initial delay");
    // The delay was extended by b's arrival: one more delay period passes first.
    c.tick(Instant::now() + Duration::from_millis(310));
    assert!(
        ja.try_recv().is_err(),
        "extended once because a member joined during the delay"
    );
    c.tick(Instant::now() + Duration::from_millis(700));
    let (ra, rb) = (ja.try_recv().unwrap(), jb.try_recv().unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
}

#[test]
fn static_member_rejoins_without_rebalance_and_duplicate_is_fenced() {
    let f = fixture(config());
    let c = &f.coordinator;
    let mut req = join("g", "", &[("range", b"m")]);
    req.group_instance_id = Some("inst".into());
    let first = ready(c.join_group(req.clone()));
    assert_eq!(first.error, 0, "static members skip MEMBER_ID_REQUIRED");
    let old = first.member_id.clone();
    assert!(old.starts_with("inst-"));
    ready(c.sync_group(SyncRequest {
        group_instance_id: Some("inst".into()),
        ..sync_req("g", &old, 1, &[(&old, b"mine")])
    }));
    // Restart: unknown member id, same instance id.
    let again = ready(c.join_group(req.clone()));
    assert_eq!(
        (again.error, again.generation_id),
        (0, 1),
        "same generation, no rebalance"
    );
    let new = again.member_id.clone();
    assert_ne!(new, old);
    assert_eq!(again.leader_id, old, "the old leader id keeps it from assigning");
    let s = ready(c.sync_group(SyncRequest {
        group_instance_id: Some("inst".into()),
        ..sync_req("g", &new, 1, &[])
    }));
    assert_eq!(&s.assignment[..], b"mine");
    assert_eq!(c.group_snapshot("g").unwrap().0, GroupState::Stable);
    // The old incarnation is fenced.
    assert_eq!(c.heartbeat("g", &old, Some("inst"), 1), errors::FENCED_INSTANCE_ID);
    assert_eq!(c.heartbeat("g", &new, Some("inst"), 1), 0);
}

fn sync_req(group: &str, member: &str, generation: i32, assignments: &[(&str, &[u8])]) -> SyncRequest {
    SyncRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a)))
            .collect(),
    }
}

#[test]
fn sync_checks_protocol_and_generation() {
    let f = fixture(config());
    let c = &f.coordinator;
    let (a, ja) = join_new(c, "g");
    ready(ja);
    let mut req = sync_req("g", &a, 1, &[]);
    req.protocol_name = Some("roundrobin".into());
    assert_eq!(ready(c.sync_group(req)).error, errors::INCONSISTENT_GROUP_PROTOCOL);
    let mut req = sync_req("g", &a, 1, &[]);
    req.protocol_type = Some("connect".into());
    assert_eq!(ready(c.sync_group(req)).error, errors::INCONSISTENT_GROUP_PROTOCOL);
    assert_eq!(
        ready(c.sync_group(sync_req("g", &a, 7, &[]))).error,
        errors::ILLEGAL_GENERATION
    );
    assert_eq!(
        ready(c.sync_group(sync_req("g", "x", 1, &[]))).error,
        errors::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        ready(c.sync_group(sync_req("none", &a, 1, &[]))).error,
        errors::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn group_max_size_is_enforced() {
    let f = fixture(GroupConfig {
        max_size: 1,
        ..config()
    });
    let c = &f.coordinator;
    let (_a, ja) = join_new(c, "g");
    ready(ja);
    // Refused before a member id is handed out, as Kafka does.
    let r = ready(c.join_group(join("g", "", &[("range", b"m")])));
    assert_eq!((r.error, r.member_id.as_str()), (errors::GROUP_MAX_SIZE_REACHED, ""));
}

fn commit(topic: &str, partition: i32, offset: i64) -> OffsetCommit {
    OffsetCommit {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        retention_ms: None,
    }
}

/// Waits for a commit to be durable, as the OffsetCommit answer does.
fn durably((codes, durable): (Vec<i16>, Option<Durable>)) -> Vec<i16> {
    if let Some(d) = durable {
        d.log.flush().unwrap();
    }
    codes
}

#[test]
fn offsets_commit_fetch_and_validation() {
    let f = fixture(config());
    let c = &f.coordinator;
    // Standalone commit creates the group.
    let (codes, durable) = c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5), commit("t", 1, 7)]);
    assert_eq!(codes, vec![0, 0]);
    let durable = durable.expect("a write to make durable");
    // Not durable yet: invisible, and unstable for a reader that asks for stability.
    assert!(c.fetch_offsets("simple", None, false, None).unwrap().is_empty());
    let unstable = c.fetch_offsets("simple", Some(&[("t".into(), 1)]), true, None).unwrap();
    assert_eq!((&unstable[0].1, unstable[0].2), (&None, errors::UNSTABLE_OFFSET_COMMIT));
    durable.log.flush().unwrap();
    let all = c.fetch_offsets("simple", None, true, None).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|(_, _, code)| *code == errors::NONE));
    let some = c
        .fetch_offsets("simple", Some(&[("t".into(), 1), ("t".into(), 9)]), false, None)
        .unwrap();
    assert_eq!(some[0].1.as_ref().map(|o| o.offset), Some(7));
    assert_eq!(some[1].1, None, "no commit: -1 without an error");
    assert_eq!(
        c.fetch_offsets("unknown", Some(&[("t".into(), 0)]), false, None)
            .unwrap()[0]
            .1,
        None
    );
    // A group generation that never existed.
    let (codes, _) = c.commit_offsets("nogroup", "m", None, 3, &[commit("t", 0, 1)]);
    assert_eq!(codes, vec![errors::ILLEGAL_GENERATION]);
    // A live group refuses anonymous commits and stale generations.
    let (a, ja) = join_new(c, "live");
    ready(ja);
    ready(sync(c, "live", &a, 1, &[(&a, b"")]));
    assert_eq!(
        c.commit_offsets("live", "", None, -1, &[commit("t", 0, 1)]).0,
        vec![errors::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        c.commit_offsets("live", &a, None, 0, &[commit("t", 0, 1)]).0,
        vec![errors::ILLEGAL_GENERATION]
    );
    assert_eq!(
        c.commit_offsets("live", "x", None, 1, &[commit("t", 0, 1)]).0,
        vec![errors::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(c.commit_offsets("live", &a, None, 1, &[commit("t", 0, 1)]).0, vec![0]);
    assert_eq!(
        c.commit_offsets("", "", None, -1, &[commit("t", 0, 1)]).0,
        vec![errors::INVALID_GROUP_ID]
    );
}

#[test]
fn admin_apis() {
    let f = fixture(config());
    let c = &f.coordinator;
    durably(c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5), commit("u", 0, 1)]));
    let (a, ja) = join_new(c, "live");
    ready(ja);
    let listed = c.list_groups(&[], &[]).unwrap();
    assert_eq!(
        listed.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(),
        vec!["live", "simple"]
    );
    assert_eq!(c.list_groups(&["EMPTY".into()], &[]).unwrap().len(), 1);
    assert_eq!(
        c.list_groups(&["completingrebalance".into()], &[]).unwrap()[0].group_id,
        "live"
    );
    let d = c.describe_group("live").unwrap().unwrap();
    assert_eq!(
        (d.state, d.members.len(), d.protocol.as_str()),
        (GroupState::CompletingRebalance, 1, "")
    );
    assert!(c.describe_group("nope").unwrap().is_none());
    let (codes, _) = c.delete_groups(&["live".into(), "nope".into(), "".into()]);
    assert_eq!(
        codes,
        vec![
            errors::NON_EMPTY_GROUP,
            errors::GROUP_ID_NOT_FOUND,
            errors::INVALID_GROUP_ID
        ]
    );
    // A consumer group whose subscription cannot be read counts as subscribed to everything.
    let (codes, _) = c.delete_offsets("live", &[("t".into(), 0)]).unwrap();
    assert_eq!(codes, vec![errors::GROUP_SUBSCRIBED_TO_TOPIC]);
    ready(sync(c, "live", &a, 1, &[(&a, b"")]));
    let (codes, _) = c.delete_offsets("live", &[("t".into(), 0)]).unwrap();
    assert_eq!(codes, vec![errors::GROUP_SUBSCRIBED_TO_TOPIC]);
    // A group of another protocol type with members refuses offset deletion.
    let mut other = join("connect-group", "", &[("x", b"")]);
    other.protocol_type = "connect".into();
    let r = ready(c.join_group(other.clone()));
    other.member_id = r.member_id;
    assert_eq!(ready(c.join_group(other)).error, 0);
    assert_eq!(
        c.delete_offsets("connect-group", &[("t".into(), 0)]).unwrap_err(),
        errors::NON_EMPTY_GROUP
    );
    let (codes, _) = c.delete_offsets("simple", &[("t".into(), 0)]).unwrap();
    assert_eq!(codes, vec![0]);
    assert_eq!(c.fetch_offsets("simple", None, false, None).unwrap().len(), 1);
    let (codes, _) = c.delete_groups(&["simple".into()]);
    assert_eq!(codes, vec![0]);
    assert!(c.describe_group("simple").unwrap().is_none());
    assert_eq!(
        c.delete_offsets("simple", &[("t".into(), 0)]).unwrap_err(),
        errors::GROUP_ID_NOT_FOUND
    );
}

#[test]
fn offsets_expire_for_empty_groups() {
    let f = fixture(GroupConfig {
        offsets_retention_ms: 1000,
        ..config()
    });
    let c = &f.coordinator;
    durably(c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5)]));
    assert_eq!(c.expire_offsets(now_ms()), 0);
    assert_eq!(c.expire_offsets(now_ms() + 2000), 1);
    assert!(
        c.describe_group("simple").unwrap().is_none(),
        "an empty group without offsets is removed"
    );
}

#[tokio::test]
async fn state_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let member;
    {
        let (c, _topics, logs) = open_in(dir.path(), config());
        c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 5), commit("t", 1, 6)]);
        c.commit_offsets("simple", "", None, -1, &[commit("t", 0, 8)]);
        c.commit_offsets("gone", "", None, -1, &[commit("t", 0, 1)]);
        c.delete_groups(&["gone".into()]);
        let (a, ja) = join_new(&c, "live");
        ready(ja);
        let s = ready(sync(&c, "live", &a, 1, &[(&a, b"assigned")]));
        c.wait_durable(s.durable.as_ref().unwrap()).await.unwrap();
        c.commit_offsets("live", &a, None, 1, &[commit("t", 2, 42)]);
        member = a;
        c.shutdown();
        logs.shutdown().unwrap();
    }
    let (c, _topics, _logs) = open_in(dir.path(), config());
    let simple = c.fetch_offsets("simple", None, false, None).unwrap();
    let offsets: Vec<i64> = simple.iter().map(|(_, o, _)| o.as_ref().unwrap().offset).collect();
    assert_eq!(offsets, vec![8, 6]);
    assert!(c.describe_group("gone").unwrap().is_none());
    let (state, generation, members, leader) = c.group_snapshot("live").unwrap();
    assert_eq!((state, generation), (GroupState::Stable, 1));
    assert_eq!(members, vec![member.clone()]);
    assert_eq!(leader.as_deref(), Some(member.as_str()));
    // The member carries on in its generation and gets its assignment back.
    assert_eq!(c.heartbeat("live", &member, None, 1), 0);
    let s = ready(sync(&c, "live", &member, 1, &[]));
    assert_eq!(&s.assignment[..], b"assigned");
    assert_eq!(
        c.fetch_offsets("live", None, false, None).unwrap()[0]
            .1
            .as_ref()
            .unwrap()
            .offset,
        42
    );
}

#[test]
fn shutdown_answers_waiting_joins() {
    let f = fixture(GroupConfig {
        initial_rebalance_delay_ms: 10_000,
        ..config()
    });
    let (_a, ja) = join_new(&f.coordinator, "g");
    let mut ja = waiting(ja);
    f.coordinator.shutdown();
    assert_eq!(ja.try_recv().unwrap().error, errors::NOT_COORDINATOR);
    assert_eq!(
        ready(f.coordinator.join_group(join("g", "", &[("range", b"")]))).error,
        errors::COORDINATOR_NOT_AVAILABLE
    );
    let _ = (&f.topics, &f.logs);
}
