//! What the broker knows about its topics and itself: the topic registry, the client quotas,
//! SCRAM credentials and ACLs, persisted in a metadata log, the cluster identity kept in
//! `meta.properties`, and the producer id allocator.

pub mod acls;
pub mod client_quotas;
pub mod cluster;
pub mod metadata_log;
pub mod producer_ids;
pub mod scram_credentials;
pub mod topics;

pub use cluster::ClusterIdentity;
pub use producer_ids::ProducerIdManager;
pub use topics::{NewTopic, Topic, TopicError, TopicRegistry};
