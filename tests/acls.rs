//! The ACL APIs with the StandardAuthorizer, over real TCP: CreateAcls, DescribeAcls and
//! DeleteAcls as the super user (filters, MATCH patterns, Kafka's refusals of malformed ACLs),
//! refused to a user without ALTER/DESCRIBE on the cluster, ACLs kept across a restart, and
//! the authorized-operations fields reporting what the caller may do.

#[path = "acl_support/mod.rs"]
#[allow(dead_code)]
mod acl_support;
mod common;

use acl_support::{ALICE, BOB, acl, code, create_acls, start_acl_broker};
use common::expect_start_failure;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateTopicsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse,
    DescribeClusterRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const INVALID_REQUEST: i16 = 42;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const ANY: i8 = 1;
const MATCH: i8 = 2;

fn describe_filter(resource_type: i8, name: Option<&str>, pattern: i8, principal: Option<&str>) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(name.map(|n| StrBytes::from_string(n.into())))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(principal.map(|p| StrBytes::from_string(p.into())))
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// Every ACL in a DescribeAcls answer as (type, name, pattern, principal, operation, permission).
fn bindings(r: &DescribeAclsResponse) -> Vec<(i8, String, i8, String, i8, i8)> {
    let mut out: Vec<_> = r
        .resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().map(move |a| {
                (
                    res.resource_type,
                    res.resource_name.to_string(),
                    res.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn acls_are_created_described_and_deleted_and_survive_a_restart() {
    let mut broker = start_acl_broker(&[]);
    create_acls(
        &broker,
        vec![
            acl(
                code::TOPIC,
                "orders",
                code::LITERAL,
                "User:alice",
                code::READ,
                code::ALLOW,
            ),
            acl(code::TOPIC, "ord", code::PREFIXED, "User:bob", code::WRITE, code::ALLOW),
            acl(code::GROUP, "*", code::LITERAL, "User:*", code::DESCRIBE, code::DENY),
            // Already there: not stored twice.
            acl(
                code::TOPIC,
                "orders",
                code::LITERAL,
                "User:alice",
                code::READ,
                code::ALLOW,
            ),
        ],
    );

    let all = broker.admin().call(2, &describe_filter(ANY, None, ANY, None));
    assert_eq!(all.error_code, 0, "{:?}", all.error_message);
    let expected_all = vec![
        (
            code::TOPIC,
            "ord".to_string(),
            code::PREFIXED,
            "User:bob".to_string(),
            code::WRITE,
            code::ALLOW,
        ),
        (
            code::TOPIC,
            "orders".to_string(),
            code::LITERAL,
            "User:alice".to_string(),
            code::READ,
            code::ALLOW,
        ),
        (
            code::GROUP,
            "*".to_string(),
            code::LITERAL,
            "User:*".to_string(),
            code::DESCRIBE,
            code::DENY,
        ),
    ];
    let mut sorted = expected_all.clone();
    sorted.sort();
    assert_eq!(bindings(&all), sorted);

    // MATCH finds every pattern that covers the name; LITERAL only the exact one.
    let matching = broker
        .admin()
        .call(2, &describe_filter(code::TOPIC, Some("orders"), MATCH, None));
    assert_eq!(bindings(&matching).len(), 2, "{:?}", bindings(&matching));
    let literal = broker
        .admin()
        .call(2, &describe_filter(code::TOPIC, Some("orders"), code::LITERAL, None));
    assert_eq!(bindings(&literal).len(), 1);
    let bobs = broker
        .admin()
        .call(2, &describe_filter(ANY, None, ANY, Some("User:bob")));
    assert_eq!(bindings(&bobs), vec![expected_all[0].clone()]);

    // Kafka's refusals, each for its own creation; the valid one beside them is created.
    let mixed = broker.admin().call(
        3,
        &CreateAclsRequest::default().with_creations(vec![
            acl(
                code::CLUSTER,
                "my-cluster",
                code::LITERAL,
                "User:alice",
                code::ALTER,
                code::ALLOW,
            ),
            acl(code::TOPIC, "", code::LITERAL, "User:alice", code::READ, code::ALLOW),
            acl(code::TOPIC, "t", MATCH, "User:alice", code::READ, code::ALLOW),
            acl(code::TOPIC, "t", code::LITERAL, "alice", code::READ, code::ALLOW),
            acl(code::TOPIC, "t", code::LITERAL, "User:alice", ANY, code::ALLOW),
            acl(code::TOPIC, "t", code::LITERAL, "User:alice", code::READ, ANY),
            acl(
                code::CLUSTER,
                "kafka-cluster",
                code::LITERAL,
                "User:alice",
                code::DESCRIBE,
                code::ALLOW,
            ),
        ]),
    );
    let codes: Vec<i16> = mixed.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            0
        ]
    );
    assert_eq!(
        mixed.results[0].error_message.as_deref(),
        Some("The only valid name for the CLUSTER resource is kafka-cluster")
    );

    broker.restart(&[]);
    let after = broker.admin().call(2, &describe_filter(ANY, None, ANY, None));
    assert_eq!(bindings(&after).len(), 4, "ACLs are kept in the metadata log");

    let deleted = broker.admin().call(
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_type_filter(ANY)
                .with_pattern_type_filter(ANY)
                .with_resource_name_filter(None)
                .with_principal_filter(Some(StrBytes::from_static_str("User:bob")))
                .with_host_filter(None)
                .with_operation(ANY)
                .with_permission_type(ANY),
        ]),
    );
    assert_eq!(deleted.filter_results[0].error_code, 0);
    let removed = &deleted.filter_results[0].matching_acls;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].resource_name.as_str(), "ord");
    assert_eq!(removed[0].pattern_type, code::PREFIXED);

    broker.restart(&[]);
    let last = broker.admin().call(2, &describe_filter(ANY, None, ANY, None));
    assert_eq!(
        bindings(&last).len(),
        3,
        "a deletion is kept too: {:?}",
        bindings(&last)
    );
    assert!(bindings(&last).iter().all(|b| b.3 != "User:bob"));
}

#[test]
fn users_without_cluster_permission_cannot_read_or_change_acls() {
    let broker = start_acl_broker(&[]);
    let mut alice = broker.login(ALICE);
    let describe = alice.call(2, &describe_filter(ANY, None, ANY, None));
    assert_eq!(describe.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(describe.resources.is_empty());
    let create = alice.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![acl(
            code::TOPIC,
            "*",
            code::LITERAL,
            "User:alice",
            code::ALL,
            code::ALLOW,
        )]),
    );
    assert_eq!(create.results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let delete = alice.call(
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_type_filter(ANY)
                .with_resource_name_filter(None)
                .with_pattern_type_filter(ANY)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(ANY)
                .with_permission_type(ANY),
        ]),
    );
    assert_eq!(delete.filter_results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let all = broker.admin().call(2, &describe_filter(ANY, None, ANY, None));
    assert!(all.resources.is_empty(), "alice created nothing");

    // ALTER on the cluster lets a user manage ACLs; DESCRIBE lets it read them.
    create_acls(
        &broker,
        vec![acl(
            code::CLUSTER,
            "kafka-cluster",
            code::LITERAL,
            "User:alice",
            code::ALTER,
            code::ALLOW,
        )],
    );
    let create = alice.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![acl(
            code::TOPIC,
            "alice-",
            code::PREFIXED,
            "User:bob",
            code::READ,
            code::ALLOW,
        )]),
    );
    assert_eq!(create.results[0].error_code, 0);
    // ALTER implies DESCRIBE.
    let describe = alice.call(2, &describe_filter(code::TOPIC, None, ANY, None));
    assert_eq!(describe.error_code, 0);
    assert_eq!(bindings(&describe).len(), 1);
    let mut bob = broker.login(BOB);
    assert_eq!(
        bob.call(2, &describe_filter(ANY, None, ANY, None)).error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
}

#[test]
fn authorized_operations_report_what_the_caller_may_do() {
    let broker = start_acl_broker(&[]);
    let created = broker.admin().call(
        7,
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("ops")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(created.topics[0].error_code, 0);
    create_acls(
        &broker,
        vec![
            acl(code::TOPIC, "ops", code::LITERAL, "User:alice", code::READ, code::ALLOW),
            acl(
                code::TOPIC,
                "op",
                code::PREFIXED,
                "User:alice",
                code::ALTER_CONFIGS,
                code::ALLOW,
            ),
            acl(code::TOPIC, "ops", code::LITERAL, "User:*", code::WRITE, code::ALLOW),
            acl(code::TOPIC, "ops", code::LITERAL, "User:alice", code::WRITE, code::DENY),
        ],
    );
    let metadata = |conn: &mut common::protocol::KafkaConnection| {
        let r = conn.call(
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("ops")))),
                ]))
                .with_include_topic_authorized_operations(true),
        );
        assert_eq!(r.topics[0].error_code, 0);
        r.topics[0].topic_authorized_operations
    };
    let bit = |op: i8| 1i32 << op;
    // READ implies DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, and the DENY of WRITE
    // beats everyone's ALLOW.
    assert_eq!(
        metadata(&mut broker.login(ALICE)),
        bit(code::READ) | bit(code::DESCRIBE) | bit(code::ALTER_CONFIGS) | bit(code::DESCRIBE_CONFIGS)
    );
    assert_eq!(metadata(&mut broker.login(BOB)), bit(code::WRITE) | bit(code::DESCRIBE));
    let topic_ops = [
        code::READ,
        code::WRITE,
        code::CREATE,
        code::DESCRIBE,
        code::DELETE,
        code::ALTER,
        code::DESCRIBE_CONFIGS,
        code::ALTER_CONFIGS,
    ];
    assert_eq!(
        metadata(&mut broker.admin()),
        topic_ops.iter().fold(0, |bits, op| bits | bit(*op)),
        "a super user may do everything"
    );

    let cluster = |conn: &mut common::protocol::KafkaConnection| {
        conn.call(
            0,
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        )
        .cluster_authorized_operations
    };
    assert_eq!(cluster(&mut broker.login(ALICE)), 0);
    // As on Kafka, the cluster's operations are reported only to a caller that may DESCRIBE it.
    create_acls(
        &broker,
        vec![acl(
            code::CLUSTER,
            "kafka-cluster",
            code::LITERAL,
            "User:alice",
            code::IDEMPOTENT_WRITE,
            code::ALLOW,
        )],
    );
    assert_eq!(cluster(&mut broker.login(ALICE)), 0);
    create_acls(
        &broker,
        vec![acl(
            code::CLUSTER,
            "kafka-cluster",
            code::LITERAL,
            "User:alice",
            code::DESCRIBE,
            code::ALLOW,
        )],
    );
    assert_eq!(
        cluster(&mut broker.login(ALICE)),
        bit(code::IDEMPOTENT_WRITE) | bit(code::DESCRIBE)
    );
}

#[test]
fn an_authorizer_this_broker_does_not_have_stops_the_start() {
    let dir = common::temp_data_dir();
    let data = dir.path().join("data");
    let out = expect_start_failure(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--set",
            "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
        ],
        &[],
    );
    assert!(out.contains("authorizer.class.name"), "{out}");
}
