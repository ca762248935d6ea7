//! Kafka's `TransactionMetadata`: one transactional id's state, and its form in
//! `__transaction_state`.

use std::collections::BTreeSet;

use super::transaction_log::{TxnLogValue, TxnState};

/// One transactional id's state (Kafka's `TransactionMetadata`).
#[derive(Clone, Debug)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The id before the last rotation (an exhausted epoch), so a retried InitProducerId of
    /// the old id is recognised.
    pub previous_producer_id: i64,
    /// Transactions v2: the producer id a commit or abort that exhausts the epoch rotates to.
    pub next_producer_id: i64,
    /// The client speaks transactions v2 (KIP-890): every commit or abort bumps the epoch, and
    /// partitions join the transaction as they are written.
    pub client_tv2: bool,
    /// -1 until the first InitProducerId completes.
    pub producer_epoch: i16,
    /// The epoch before the last bump by InitProducerId, for KIP-360 retries; not persisted.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
}

impl TxnMetadata {
    pub(super) fn to_value(&self) -> TxnLogValue {
        TxnLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            client_transaction_version: if self.client_tv2 { 2 } else { 0 },
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }

    pub(super) fn from_value(v: TxnLogValue) -> TxnMetadata {
        TxnMetadata {
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            next_producer_id: v.next_producer_id,
            client_tv2: v.client_transaction_version >= 2,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: v.timeout_ms,
            state: v.state,
            partitions: v.partitions,
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
        }
    }

    /// Kafka's `prepareFenceProducerEpoch`: the epoch an open transaction is aborted with, so
    /// its producer (holding the old epoch) can no longer write or commit.
    pub(super) fn fence_epoch(&mut self) {
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.last_producer_epoch = -1;
    }

    /// Kafka's `isEpochExhausted`.
    pub(super) fn epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }
}
