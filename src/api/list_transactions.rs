//! ListTransactions: the transactional ids this coordinator knows, filtered by state,
//! producer id, (v1+) how long the transaction has been open and (v2+, KIP-1152) a regular
//! expression the whole transactional id must match (RE2 syntax, as Kafka's RE2J).

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use regex::Regex;

use super::{ApiHandler, errors};
use crate::auth::{RequestContext, ResourceType};
use crate::log::now_ms;
use crate::metadata::acls::operation as op;
use crate::txn::TxnState;

/// The state names a filter may use (Kafka's `TransactionState` names).
const STATES: &[TxnState] = &[
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let pattern = match request
        .transactional_id_pattern
        .as_ref()
        .filter(|p| version >= 2 && !p.is_empty())
    {
        None => None,
        Some(p) => match Regex::new(&format!("^(?:{})$", p.as_str())) {
            Ok(re) => Some(re),
            Err(_) => return ListTransactionsResponse::default().with_error_code(errors::INVALID_REGULAR_EXPRESSION),
        },
    };
    let unknown: Vec<StrBytes> = request
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let duration = if version >= 1 { request.duration_filter } else { -1 };
    let now = now_ms();
    let states = api
        .txn
        .list()
        .into_iter()
        .filter(|t| {
            request.state_filters.is_empty() || request.state_filters.iter().any(|f| f.as_str() == t.state.name())
        })
        .filter(|t| {
            request.producer_id_filters.is_empty() || request.producer_id_filters.contains(&ProducerId(t.producer_id))
        })
        .filter(|t| duration < 0 || now.saturating_sub(t.start_ms) >= duration)
        .filter(|t| pattern.as_ref().is_none_or(|re| re.is_match(&t.transactional_id)))
        // Only the ids the caller may DESCRIBE are listed.
        .filter(|t| ctx.authorize(op::DESCRIBE, ResourceType::TransactionalId, &t.transactional_id))
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
