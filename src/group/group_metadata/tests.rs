use super::*;
use bytes::BytesMut;
use kafka_protocol::protocol::{Encodable, StrBytes};

fn member(id: &str, protocols: &[(&str, &[u8])]) -> MemberMetadata {
    MemberMetadata {
        member_id: id.into(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: 1000,
        session_timeout_ms: 1000,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(n, m)| (n.to_string(), Bytes::copy_from_slice(m)))
            .collect(),
        assignment: Bytes::new(),
        awaiting_join: None,
        awaiting_sync: None,
        is_new: true,
        heartbeat_deadline: Instant::now(),
    }
}

fn subscription(topics: &[&str]) -> Bytes {
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| StrBytes::from_string(t.to_string())).collect());
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&1i16.to_be_bytes());
    sub.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

#[test]
fn first_member_leads_and_sets_the_protocol_type() {
    let mut g = GroupMetadata::new("g", 0);
    assert!(g.supports_protocols("consumer", &["range"]));
    assert!(!g.supports_protocols("", &["range"]));
    assert!(!g.supports_protocols("consumer", &[]));
    g.add(member("a", &[("range", b"")]), None);
    g.add(member("b", &[("range", b"")]), None);
    assert_eq!(g.leader_id.as_deref(), Some("a"));
    assert_eq!(g.protocol_type.as_deref(), Some("consumer"));
    g.remove("a");
    assert_eq!(g.leader_id.as_deref(), Some("b"));
    g.remove("b");
    assert_eq!(g.leader_id, None);
}

#[test]
fn protocol_selection_votes_among_common_protocols() {
    let mut g = GroupMetadata::new("g", 0);
    g.add(member("a", &[("roundrobin", b""), ("range", b"")]), None);
    g.add(member("b", &[("range", b""), ("roundrobin", b"")]), None);
    g.add(member("c", &[("range", b""), ("sticky", b"")]), None);
    // Common: range only (c lacks roundrobin).
    assert_eq!(g.select_protocol().as_deref(), Some("range"));
    g.remove("c");
    // A 1:1 tie goes to the leader's preference.
    assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
    g.add(member("d", &[("range", b""), ("roundrobin", b"")]), None);
    assert_eq!(g.select_protocol().as_deref(), Some("range"));
    // A joiner must share a protocol with every member, and the type.
    g.transition_to(GroupState::PreparingRebalance, 0);
    assert!(g.supports_protocols("consumer", &["range"]));
    assert!(!g.supports_protocols("consumer", &["sticky"]));
    assert!(!g.supports_protocols("connect", &["range"]));
}

#[test]
fn state_transitions_follow_kafka() {
    let mut g = GroupMetadata::new("g", 0);
    assert!(!g.transition_to(GroupState::Stable, 1));
    assert!(g.is(GroupState::Empty));
    assert!(g.transition_to(GroupState::PreparingRebalance, 2));
    assert_eq!(g.state_timestamp, 2);
    g.add(member("a", &[("range", b"")]), None);
    g.init_next_generation(3);
    assert_eq!(
        (g.state(), g.generation_id, g.protocol_name.as_deref()),
        (GroupState::CompletingRebalance, 1, Some("range"))
    );
    assert!(g.transition_to(GroupState::Stable, 4));
    assert!(g.transition_to(GroupState::PreparingRebalance, 5));
    g.remove("a");
    g.init_next_generation(6);
    assert_eq!(
        (g.state(), g.generation_id, g.protocol_name.as_deref()),
        (GroupState::Empty, 2, None)
    );
    assert!(g.transition_to(GroupState::Dead, 7));
    assert!(!g.transition_to(GroupState::PreparingRebalance, 8));
}

#[test]
fn join_barrier_and_leader_election() {
    let (tx, _rx) = oneshot::channel();
    let mut g = GroupMetadata::new("g", 0);
    g.add(member("a", &[("range", b"")]), None);
    g.add(member("b", &[("range", b"")]), Some(tx));
    assert!(!g.has_all_members_joined());
    assert_eq!(g.not_yet_rejoined(), vec!["a".to_string()]);
    // The leader has not rejoined: b takes over.
    assert!(g.maybe_elect_new_joined_leader());
    assert_eq!(g.leader_id.as_deref(), Some("b"));
    let (tx, _rx2) = oneshot::channel();
    g.update_member("a", vec![("range".into(), Bytes::new())], 1000, 1000, Some(tx));
    assert!(g.has_all_members_joined());
    g.add_pending_member("c".into(), Instant::now());
    assert!(!g.has_all_members_joined(), "a pending member holds the barrier");
    assert_eq!(g.expired_pending_members(Instant::now()), vec!["c".to_string()]);
    g.remove_pending_member("c");
    assert!(g.has_all_members_joined());
}

#[test]
fn static_member_replacement_fences_the_old_request() {
    let (tx, mut rx) = oneshot::channel();
    let mut g = GroupMetadata::new("g", 0);
    let mut m = member("old", &[("range", b"")]);
    m.group_instance_id = Some("i".into());
    g.add(m, Some(tx));
    assert!(g.is_static_member_fenced(Some("i"), "other"));
    assert!(!g.is_static_member_fenced(Some("i"), "old"));
    assert!(!g.is_static_member_fenced(Some("unknown"), "x"));
    g.replace_static_member("i", "old", "new", 82);
    assert_eq!(rx.try_recv().unwrap().error, 82);
    assert_eq!(g.current_static_member_id("i"), Some("new"));
    assert_eq!(g.leader_id.as_deref(), Some("new"));
    assert!(g.has("new") && !g.has("old"));
}

#[test]
fn subscriptions_are_decoded_for_consumer_groups() {
    assert_eq!(
        decode_subscription_topics(&subscription(&["a", "b"])),
        Some(vec!["a".into(), "b".into()])
    );
    assert_eq!(decode_subscription_topics(&Bytes::from_static(b"\x00")), None);
    assert_eq!(
        decode_subscription_topics(&Bytes::from_static(b"\x00\x00\x7f\xff\xff\xff")),
        None
    );
    let mut g = GroupMetadata::new("g", 0);
    g.add(member("a", &[]), None);
    g.get_mut("a").unwrap().protocols = vec![("range".into(), subscription(&["t1"]))];
    g.add(member("b", &[]), None);
    g.get_mut("b").unwrap().protocols = vec![("range".into(), subscription(&["t2"]))];
    g.transition_to(GroupState::PreparingRebalance, 0);
    g.init_next_generation(0);
    assert!(g.is_subscribed_to_topic("t1") && g.is_subscribed_to_topic("t2"));
    assert!(!g.is_subscribed_to_topic("t3"));
}

#[test]
fn persisted_value_round_trips_through_load() {
    let mut g = GroupMetadata::new("g", 0);
    g.add(member("a", &[("range", b"sub-a"), ("roundrobin", b"x")]), None);
    g.add(member("b", &[("range", b"sub-b")]), None);
    g.transition_to(GroupState::PreparingRebalance, 1);
    g.init_next_generation(2);
    let assignment: HashMap<String, Bytes> = [("a".to_string(), Bytes::from_static(b"asg-a"))].into_iter().collect();
    let value = g.to_value(Some(&assignment));
    assert_eq!(value.members[0].subscription, Bytes::from_static(b"sub-a"));
    assert_eq!(value.members[0].assignment, Bytes::from_static(b"asg-a"));
    assert_eq!(value.members[1].assignment, Bytes::new());
    let loaded = GroupMetadata::load("g".into(), value, Instant::now(), 9);
    assert_eq!(loaded.state(), GroupState::Stable);
    assert_eq!(loaded.generation_id, 1);
    assert_eq!(loaded.leader_id.as_deref(), Some("a"));
    assert_eq!(loaded.get("a").unwrap().assignment, Bytes::from_static(b"asg-a"));
    assert_eq!(loaded.summary().members[0].metadata, Bytes::from_static(b"sub-a"));
}
