//! What the broker knows about its topics and itself: the topic registry, persisted in a
//! metadata log, and the cluster identity kept in `meta.properties`.

pub mod cluster;
pub mod metadata_log;
pub mod topics;

pub use cluster::ClusterIdentity;
pub use topics::{NewTopic, Topic, TopicError, TopicRegistry};
