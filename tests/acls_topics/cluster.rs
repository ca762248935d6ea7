//! Cluster-level APIs under the StandardAuthorizer.

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, DescribeClientQuotasRequest, DescribeClusterRequest,
    DescribeLogDirsRequest, DescribeQuorumRequest, DescribeUserScramCredentialsRequest, ElectLeadersRequest,
    ListPartitionReassignmentsRequest, ProducerId, WriteTxnMarkersRequest,
};
use kafka_protocol::messages::{alter_user_scram_credentials_request, describe_user_scram_credentials_request};

use crate::acl_support::{ALICE, acl, code, create_acls, start_acl_broker};
use crate::support::*;

/// Cluster-level APIs: refused to alice with CLUSTER_AUTHORIZATION_FAILED (and no data),
/// served to the super user, and to alice once she holds the cluster permission.
#[test]
fn cluster_apis_need_cluster_permissions() {
    let broker = start_acl_broker(&[]);
    create_topic(&broker, "t", 1);
    let mut alice = broker.login(ALICE);
    let mut admin = broker.admin();

    let log_dirs = alice.call(4, &DescribeLogDirsRequest::default());
    assert_eq!(log_dirs.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(log_dirs.results.is_empty());
    let served = admin.call(4, &DescribeLogDirsRequest::default());
    assert_eq!(served.error_code, 0);
    assert_eq!(served.results.len(), 1);

    let quotas = DescribeClientQuotasRequest::default().with_components(vec![
        ComponentData::default()
            .with_entity_type(text("user"))
            .with_match_type(2)
            .with_match(None),
    ]);
    let r = alice.call(1, &quotas);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(r.entries.is_none());
    assert_eq!(admin.call(1, &quotas).error_code, 0);

    let alter_quotas = AlterClientQuotasRequest::default().with_entries(vec![
        EntryData::default()
            .with_entity(vec![
                EntityData::default()
                    .with_entity_type(text("user"))
                    .with_entity_name(Some(text("alice"))),
            ])
            .with_ops(vec![
                OpData::default().with_key(text("producer_byte_rate")).with_value(1e6),
            ]),
    ]);
    let r = alice.call(1, &alter_quotas);
    assert_eq!(r.entries[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(admin.call(1, &alter_quotas).entries[0].error_code, 0);

    let scram = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
        describe_user_scram_credentials_request::UserName::default().with_name(text("alice")),
    ]));
    let r = alice.call(0, &scram);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(
        admin
            .call(0, &DescribeUserScramCredentialsRequest::default())
            .error_code,
        0
    );

    let alter_scram = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        alter_user_scram_credentials_request::ScramCredentialDeletion::default()
            .with_name(text("alice"))
            .with_mechanism(1),
    ]);
    let r = alice.call(0, &alter_scram);
    assert_eq!(r.results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_ne!(
        admin.call(0, &alter_scram).results[0].error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );

    let elect = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(5000)
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(name("t"))
                .with_partitions(vec![0]),
        ]));
    let r = alice.call(2, &elect);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(admin.call(2, &elect).error_code, 0);

    let r = alice.call(0, &ListPartitionReassignmentsRequest::default().with_timeout_ms(5000));
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);

    let r = alice.call(1, &DescribeQuorumRequest::default());
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);

    let markers = WriteTxnMarkersRequest::default().with_markers(vec![
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(1000))
            .with_producer_epoch(0)
            .with_transaction_result(true)
            .with_topics(vec![
                WritableTxnMarkerTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0]),
            ]),
    ]);
    let r = alice.call(1, &markers);
    assert_eq!(
        r.markers[0].topics[0].partitions[0].error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );

    // DescribeCluster needs no permission, but tells the cluster's operations only to a
    // caller that may describe the cluster.
    let asks = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let r = alice.call(1, &asks);
    assert_eq!((r.error_code, r.cluster_authorized_operations), (0, 0));
    assert!(admin.call(1, &asks).cluster_authorized_operations > 0);

    // The cluster permission opens them to alice.
    create_acls(
        &broker,
        vec![
            acl(
                code::CLUSTER,
                "kafka-cluster",
                code::LITERAL,
                "User:alice",
                code::DESCRIBE,
                code::ALLOW,
            ),
            acl(
                code::CLUSTER,
                "kafka-cluster",
                code::LITERAL,
                "User:alice",
                code::DESCRIBE_CONFIGS,
                code::ALLOW,
            ),
        ],
    );
    let served = alice.call(4, &DescribeLogDirsRequest::default());
    assert_eq!((served.error_code, served.results.len()), (0, 1));
    assert_eq!(alice.call(1, &quotas).error_code, 0);
    assert_eq!(alice.call(0, &scram).error_code, 0);
    assert_eq!(
        alice.call(0, &ListPartitionReassignmentsRequest::default()).error_code,
        0
    );
    assert_eq!(
        alice.call(1, &alter_quotas).entries[0].error_code,
        CLUSTER_AUTHORIZATION_FAILED,
        "ALTER_CONFIGS is another permission"
    );
}
