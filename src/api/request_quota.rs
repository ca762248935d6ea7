//! Request-time quotas (`request_percentage`), as Kafka's `ClientRequestQuotaManager` applies
//! them: the time the broker spends handling a client's request, up to the moment its response
//! is made, is recorded against the client's quota entity; a client over its quota gets the
//! throttle time in that response (KIP-219) and its connection stops reading for as long.
//!
//! The response bodies are made by each API's handler, deep in its module, so the request being
//! handled is kept for the handling thread while `ApiHandler::handle` runs: whichever response
//! is encoded first for it settles the request's time and carries the throttle. Work that
//! answers later, on another task (a produce waiting for its fsync, a fetch long poll), settles
//! the time before it leaves the handling thread and carries the throttle itself.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;

use super::ApiHandler;
use crate::quota::{ChannelMute, QuotaType};

/// A response with Kafka's `ThrottleTimeMs` field.
pub trait Throttled {
    /// The response's throttle time, if the response has the field in its schema.
    fn throttle_time_ms(&self) -> Option<i32>;
    fn set_throttle_time_ms(&mut self, ms: i32);
}

macro_rules! throttled {
    ($($t:ty),* $(,)?) => {$(
        impl Throttled for $t {
            fn throttle_time_ms(&self) -> Option<i32> {
                Some(self.throttle_time_ms)
            }
            fn set_throttle_time_ms(&mut self, ms: i32) {
                self.throttle_time_ms = ms;
            }
        }
    )*};
}

macro_rules! unthrottled {
    ($($t:ty),* $(,)?) => {$(
        impl Throttled for $t {
            fn throttle_time_ms(&self) -> Option<i32> {
                None
            }
            fn set_throttle_time_ms(&mut self, _: i32) {}
        }
    )*};
}

throttled!(
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnResponse,
    AlterClientQuotasResponse,
    AlterConfigsResponse,
    AlterPartitionReassignmentsResponse,
    AlterReplicaLogDirsResponse,
    AlterShareGroupOffsetsResponse,
    AlterUserScramCredentialsResponse,
    ApiVersionsResponse,
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatResponse,
    CreateAclsResponse,
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteAclsResponse,
    DeleteGroupsResponse,
    DeleteRecordsResponse,
    DeleteShareGroupOffsetsResponse,
    DeleteTopicsResponse,
    DescribeAclsResponse,
    DescribeClientQuotasResponse,
    DescribeClusterResponse,
    DescribeConfigsResponse,
    DescribeGroupsResponse,
    DescribeLogDirsResponse,
    DescribeProducersResponse,
    DescribeShareGroupOffsetsResponse,
    DescribeTopicPartitionsResponse,
    DescribeTransactionsResponse,
    DescribeUserScramCredentialsResponse,
    ElectLeadersResponse,
    EndTxnResponse,
    FetchResponse,
    FindCoordinatorResponse,
    HeartbeatResponse,
    IncrementalAlterConfigsResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    LeaveGroupResponse,
    ListConfigResourcesResponse,
    ListGroupsResponse,
    ListOffsetsResponse,
    ListPartitionReassignmentsResponse,
    ListTransactionsResponse,
    MetadataResponse,
    OffsetCommitResponse,
    OffsetDeleteResponse,
    OffsetFetchResponse,
    OffsetForLeaderEpochResponse,
    ProduceResponse,
    ShareAcknowledgeResponse,
    ShareFetchResponse,
    ShareGroupDescribeResponse,
    ShareGroupHeartbeatResponse,
    SyncGroupResponse,
    TxnOffsetCommitResponse,
);

unthrottled!(
    DescribeQuorumResponse,
    SaslAuthenticateResponse,
    SaslHandshakeResponse,
    WriteTxnMarkersResponse,
);

/// The request being handled on this thread, while its client falls under client quotas.
struct RequestTimer {
    api: Arc<ApiHandler>,
    user: String,
    client_id: String,
    mute: Arc<ChannelMute>,
    started: Instant,
    /// The throttle, once the request's time is recorded.
    settled: Option<i32>,
}

thread_local! {
    static CURRENT: RefCell<Option<RequestTimer>> = const { RefCell::new(None) };
}

/// Keeps a request current on this thread until dropped, then settles its time if no
/// response did.
pub struct RequestScope(());

impl RequestScope {
    /// Makes the request current when the broker has client quotas; a broker without them
    /// times nothing.
    pub fn enter(api: &Arc<ApiHandler>, user: &str, client_id: &str, mute: &Arc<ChannelMute>) -> RequestScope {
        if api.topics.has_client_quotas() {
            let timer = RequestTimer {
                api: api.clone(),
                user: user.to_string(),
                client_id: client_id.to_string(),
                mute: mute.clone(),
                started: Instant::now(),
                settled: None,
            };
            CURRENT.with(|c| *c.borrow_mut() = Some(timer));
        }
        RequestScope(())
    }
}

impl Drop for RequestScope {
    fn drop(&mut self) {
        settle();
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Records the current request's handling time, once, and returns its throttle time in ms
/// (0 without a current request or within the quota), muting its connection for as long.
pub fn settle() -> i32 {
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        let Some(timer) = current.as_mut() else {
            return 0;
        };
        if let Some(ms) = timer.settled {
            return ms;
        }
        let spent = QuotaType::request_time_percentage(timer.started.elapsed());
        let quotas = timer.api.topics.client_quotas();
        let throttle = timer.api.quotas.record(
            &quotas,
            QuotaType::Request,
            &timer.user,
            &timer.client_id,
            spent,
            Instant::now(),
        );
        timer.mute.mute_for(throttle);
        let ms = millis(throttle);
        timer.settled = Some(ms);
        ms
    })
}

/// A throttle in whole milliseconds, as the response field carries it.
pub fn millis(throttle: Duration) -> i32 {
    i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX)
}

/// Raises a response made for the current request to the request's throttle.
pub fn raise_to_request_throttle<T: Throttled>(response: &mut T) {
    if let Some(own) = response.throttle_time_ms() {
        let throttle = settle();
        if throttle > own {
            response.set_throttle_time_ms(throttle);
        }
    }
}
