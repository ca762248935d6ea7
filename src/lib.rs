//! Rivulet: a single-node, Kafka-compatible event-log broker.
//!
//! Layers, top to bottom (nothing calls upward): `broker` wires everything; `net` owns
//! sockets and framing; `api` translates wire messages into domain calls; `group` is the
//! consumer-group coordinator; `auth` answers what a principal may do; `metadata` keeps topics and their configs; `log` stores
//! partitions as segment files; `record` understands the v2 record-batch format; `metrics`
//! holds the figures the layers above record and serves them to Prometheus. `tools` is
//! apart: Kafka's command-line tools, clients of the wire protocol that share nothing with the
//! broker.

pub mod api;
pub mod auth;
pub mod broker;
pub mod config;
pub mod fetch_session;
pub mod group;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod net;
pub mod quota;
pub mod record;
pub mod security;
pub mod share;
pub mod timer;
pub mod tools;
pub mod txn;
