//! Transactions: Kafka's transaction coordinator on one node.
//!
//! [`TransactionCoordinator`] serves InitProducerId for transactional ids, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, ListTransactions and DescribeTransactions. Each transactional id's
//! state lives in the compacted `__transaction_state` topic ([`transaction_log`] holds Kafka's
//! record schemas), created at the first transactional producer and replayed at start.
//!
//! Ending a transaction follows Kafka's two-phase protocol: PrepareCommit or PrepareAbort is
//! made durable in `__transaction_state` (the decision), then a COMMIT or ABORT marker is
//! written to every partition of the transaction (to `__consumer_offsets` too for its
//! offsets), then CompleteCommit or CompleteAbort. A crash after the decision is finished at
//! the next start, so every partition learns the outcome. Transactions left open longer than
//! their timeout are aborted with the producer's epoch bumped, which fences the producer.
//!
//! Operations on one transactional id are serialised by its own async lock, held across the
//! durability waits; the metadata itself sits behind a plain mutex that is never held across
//! an await, so listing and describing never wait for a transaction to finish.

pub mod coordinator;
pub mod transaction_log;
pub mod transaction_metadata;

use crate::config::BrokerConfig;

pub use coordinator::TransactionCoordinator;
pub use transaction_log::{TRANSACTION_STATE_TOPIC, TxnState};
pub use transaction_metadata::TxnMetadata;

/// The `transaction.*` settings the coordinator follows.
#[derive(Clone, Debug)]
pub struct TxnConfig {
    pub max_timeout_ms: i32,
    pub state_log_partitions: i32,
    pub state_log_segment_bytes: i64,
    pub abort_timed_out_interval_ms: u64,
    pub id_expiration_ms: i64,
    pub remove_expired_interval_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            state_log_partitions: 50,
            state_log_segment_bytes: 104_857_600,
            abort_timed_out_interval_ms: 10_000,
            id_expiration_ms: 604_800_000,
            remove_expired_interval_ms: 3_600_000,
        }
    }
}

impl TxnConfig {
    pub fn from_broker(config: &BrokerConfig) -> TxnConfig {
        let d = TxnConfig::default();
        let long = |key: &str| config.get(key).and_then(|v| v.trim().parse::<i64>().ok());
        let int = |v: i64| v.clamp(1, i64::from(i32::MAX)) as i32;
        TxnConfig {
            max_timeout_ms: long("transaction.max.timeout.ms").map_or(d.max_timeout_ms, int),
            state_log_partitions: long("transaction.state.log.num.partitions").map_or(d.state_log_partitions, int),
            state_log_segment_bytes: long("transaction.state.log.segment.bytes").unwrap_or(d.state_log_segment_bytes),
            abort_timed_out_interval_ms: long("transaction.abort.timed.out.transaction.cleanup.interval.ms")
                .map_or(d.abort_timed_out_interval_ms, |v| v.max(1) as u64),
            id_expiration_ms: long("transactional.id.expiration.ms").map_or(d.id_expiration_ms, |v| v.max(1)),
            remove_expired_interval_ms: long("transaction.remove.expired.transaction.cleanup.interval.ms")
                .map_or(d.remove_expired_interval_ms, |v| v.max(1) as u64),
        }
    }
}
