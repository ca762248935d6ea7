//! The API layer: one module per Kafka API, each decoding its request with `kafka-protocol`,
//! calling into the domain (`metadata`, `log`, `group`), and encoding the reply. It holds no
//! state of its own beyond handles to those services.
//!
//! [`SUPPORTED_APIS`] is the single source of truth for the versions served: dispatch checks
//! it and ApiVersions reports it.

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_replica_log_dirs;
pub mod alter_share_group_offsets;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod client_quotas;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_share_group_offsets;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_share_group_offsets;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod errors;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_config_resources;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod records_send;
pub mod request_quota;
pub mod sasl;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::auth::{RequestContext, StandardAuthorizer};
use crate::config::BrokerConfig;
use crate::fetch_session::FetchSessionCache;
use crate::group::coordinator::Pending;
use crate::group::{Durable, GroupCoordinator};
use crate::log::LogManager;
use crate::metadata::{ClusterIdentity, ProducerIdManager, TopicRegistry};
use crate::quota::controller_mutation_quota::{ControllerMutationQuota, ControllerMutationQuotaManager};
use crate::quota::{ChannelMute, ClientQuotaManager, QuotaType};
use crate::security::KafkaPrincipal;
use crate::share::ShareGroupCoordinator;
use crate::txn::TransactionCoordinator;
pub use records_send::ResponseBody;
use request_quota::{RequestScope, Throttled};

/// Served APIs and version ranges (Kafka 4.1's). Produce is advertised from v0 although
/// v0-2 requests are refused, as Kafka 4 does: older librdkafka disables compression when
/// the advertised minimum is above 0.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 10),
    (ApiKey::OffsetFetch, 1, 10),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::AlterReplicaLogDirs, 1, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::ListConfigResources, 0, 1),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 1),
    (ApiKey::ShareAcknowledge, 1, 1),
    (ApiKey::DescribeShareGroupOffsets, 0, 0),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
];

/// The first version of an API that Kafka 4.1 marks unstable: served and advertised only with
/// `unstable.api.versions.enable=true`, as on Kafka. (OffsetCommit/OffsetFetch v10 name topics
/// by id for KIP-848 and are not final in Kafka 4.1.)
const FIRST_UNSTABLE: &[(ApiKey, i16)] = &[(ApiKey::OffsetCommit, 10), (ApiKey::OffsetFetch, 10)];

/// Produce versions below this are advertised but refused (see [`SUPPORTED_APIS`]).
pub const PRODUCE_MIN_SERVED: i16 = 3;

/// Where clients reach this broker, as Metadata and DescribeCluster report it.
#[derive(Clone, Debug)]
pub struct Advertised {
    pub host: String,
    pub port: u16,
}

/// Who a request comes from, for authorization and quotas: the authenticated principal
/// (`User:ANONYMOUS` without authentication, as on Kafka), and its connection's mute for
/// throttling.
pub struct Caller {
    pub principal: KafkaPrincipal,
    pub mute: Arc<ChannelMute>,
}

/// A request's quota identity (see [`ApiHandler::throttle`]).
pub struct QuotaClient {
    pub user: String,
    pub client_id: String,
    pub mute: Arc<ChannelMute>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            principal: KafkaPrincipal::anonymous(),
            mute: Arc::new(ChannelMute::default()),
        }
    }
}

/// Handles to the services the APIs translate into.
pub struct ApiHandler {
    pub config: Arc<BrokerConfig>,
    pub identity: ClusterIdentity,
    /// Where clients reach this broker, per listener (in `listeners` order): each request is
    /// answered with the address of the listener it came through, as Kafka does.
    pub advertised: Vec<Advertised>,
    pub topics: Arc<TopicRegistry>,
    pub logs: Arc<LogManager>,
    pub fetch_sessions: FetchSessionCache,
    pub groups: Arc<GroupCoordinator>,
    pub producer_ids: Arc<ProducerIdManager>,
    pub txn: Arc<TransactionCoordinator>,
    pub share: Arc<ShareGroupCoordinator>,
    /// Byte-rate and request-time quotas (`producer_byte_rate`, `consumer_byte_rate`,
    /// `request_percentage`).
    pub quotas: ClientQuotaManager,
    /// Controller mutation quotas (`controller_mutation_rate`).
    pub mutation_quotas: ControllerMutationQuotaManager,
    /// The ACL authorizer, when `authorizer.class.name` names one.
    pub authorizer: Option<Arc<StandardAuthorizer>>,
}

pub type ReplyFuture = Pin<Box<dyn Future<Output = Option<ResponseBody>> + Send>>;

/// What a request produces: an encoded response body now, one later, or nothing.
pub enum Reply {
    Ready(Bytes),
    /// Finishes off the connection task (an fsync wait, a fetch long-poll).
    Deferred(ReplyFuture),
    /// The KIP-511 reply to an ApiVersions request of a version this broker does not know:
    /// always encoded as v0.
    UnsupportedApiVersions(Bytes),
    /// acks=0 produce.
    None,
}

impl Reply {
    pub fn response_version(&self, request_version: i16) -> i16 {
        match self {
            Reply::UnsupportedApiVersions(_) => 0,
            _ => request_version,
        }
    }
}

/// A request the connection cannot continue after; it is closed with a log line.
#[derive(Debug)]
pub enum RequestError {
    Malformed(String),
    UnsupportedVersion { api: ApiKey, version: i16 },
    Encode(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(m) => write!(f, "{m}"),
            RequestError::UnsupportedVersion { api, version } => {
                write!(f, "unsupported version {version} of {api:?}")
            }
            RequestError::Encode(m) => write!(f, "cannot encode response: {m}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// The versions of `api` served: all of them with `unstable`, else up to the last stable one.
pub fn version_range(api: ApiKey, unstable: bool) -> Option<(i16, i16)> {
    let (lo, hi) = SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|(_, lo, hi)| (*lo, *hi))?;
    let hi = match FIRST_UNSTABLE.iter().find(|(k, _)| *k == api) {
        Some((_, first)) if !unstable => hi.min(first - 1),
        _ => hi,
    };
    Some((lo, hi))
}

pub fn decode<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, RequestError> {
    T::decode(body, version).map_err(|e| RequestError::Malformed(format!("cannot decode request body: {e}")))
}

pub fn encode<T: Encodable>(response: &T, version: i16) -> Result<Bytes, RequestError> {
    let size = response
        .compute_size(version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(size);
    response
        .encode(&mut buf, version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

/// Encodes a response computed now.
pub fn ready<T: Encodable + Throttled>(mut response: T, version: i16) -> Result<Reply, RequestError> {
    request_quota::raise_to_request_throttle(&mut response);
    Ok(Reply::Ready(encode(&response, version)?))
}

/// Encodes a deferred response; a failure is logged and leaves the request unanswered.
pub fn encode_logged<T: Encodable + Throttled>(mut response: T, version: i16) -> Option<ResponseBody> {
    request_quota::raise_to_request_throttle(&mut response);
    match encode(&response, version) {
        Ok(body) => Some(body.into()),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a deferred response");
            None
        }
    }
}

/// Answers a coordinator result that may arrive later (a rebalance completing, the leader's
/// assignment) and may have to wait for its `__consumer_offsets` write to be fsynced.
/// `closed` is the answer when the coordinator drops the request without one.
fn group_reply<T, R>(
    api: &Arc<ApiHandler>,
    pending: Pending<T>,
    version: i16,
    respond: fn(T, i16) -> (R, Option<Durable>),
    closed: fn() -> T,
) -> Result<Reply, RequestError>
where
    T: Send + 'static,
    R: Encodable + Throttled + Send + 'static,
{
    match pending {
        Pending::Ready(result) => {
            let (response, durable) = respond(result, version);
            reply_when_durable(api, response, durable.as_slice(), version)
        }
        Pending::Waiting(rx) => {
            let api = api.clone();
            Ok(Reply::Deferred(Box::pin(async move {
                let result = rx.await.unwrap_or_else(|_| closed());
                let (response, durable) = respond(result, version);
                if let Some(durable) = durable
                    && let Err(e) = api.groups.wait_durable(&durable).await
                {
                    return not_durable(&e);
                }
                encode_logged(response, version)
            })))
        }
    }
}

/// Answers at once, or once every `__consumer_offsets` write in `durable` is fsynced.
pub fn reply_when_durable<R: Encodable + Throttled + Send + 'static>(
    api: &ApiHandler,
    response: R,
    durable: &[Durable],
    version: i16,
) -> Result<Reply, RequestError> {
    if durable.is_empty() {
        return ready(response, version);
    }
    let waits: Vec<_> = durable.iter().map(|d| api.groups.wait_durable(d)).collect();
    Ok(Reply::Deferred(Box::pin(async move {
        for wait in waits {
            if let Err(e) = wait.await {
                return not_durable(&e);
            }
        }
        encode_logged(response, version)
    })))
}

/// A coordinator write that could not be made durable is never answered as a success: the
/// connection closes without a reply, so the client looks for its coordinator again and
/// retries (and the failed `__consumer_offsets` log refuses what follows with an error).
fn not_durable(e: &crate::log::LogError) -> Option<ResponseBody> {
    tracing::warn!(error = %e, "a coordinator write was not made durable; closing the connection without a reply");
    None
}

/// The error code of one partition of a batched coordinator call: its slot in the results,
/// or the code it was refused with before the call.
pub fn slot_code(slot: Result<usize, i16>, codes: &[i16]) -> i16 {
    match slot {
        Ok(i) => codes.get(i).copied().unwrap_or(errors::UNKNOWN_SERVER_ERROR),
        Err(code) => code,
    }
}

/// Runs blocking work on this worker thread after handing its other tasks to the rest of
/// the runtime; outside a multi-threaded runtime it just runs the work.
pub(crate) fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl ApiHandler {
    /// The quota identity of a request: its principal and client id, and its connection.
    fn quota_client(&self, header: &RequestHeader, caller: &Caller) -> QuotaClient {
        QuotaClient {
            user: caller.principal.name.clone(),
            client_id: header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
            mute: caller.mute.clone(),
        }
    }

    /// Records `bytes` against the client's quota of `kind`; returns the throttle time in ms
    /// for the response, having muted the connection for it.
    pub fn throttle(&self, client: &QuotaClient, kind: QuotaType, bytes: u64) -> i32 {
        self.record_bytes(client, kind, bytes as f64)
    }

    /// Takes back bytes recorded for a response that is not sent after all (a throttled
    /// fetch answers without its records, as Kafka's `unrecordQuotaSensor`).
    pub fn unrecord(&self, client: &QuotaClient, kind: QuotaType, bytes: u64) {
        self.record_bytes(client, kind, -(bytes as f64));
    }

    /// The controller mutation quota of one CreateTopics, CreatePartitions or DeleteTopics
    /// request; `strict` for the versions that can be refused with THROTTLING_QUOTA_EXCEEDED.
    pub fn controller_mutation_quota(&self, client: &QuotaClient, strict: bool) -> ControllerMutationQuota<'_> {
        let quotas = if self.topics.has_client_quotas() {
            self.topics.client_quotas()
        } else {
            Vec::new()
        };
        self.mutation_quotas
            .quota_for(&quotas, &client.user, &client.client_id, strict)
    }

    /// The throttle a request's controller mutation quota earned, in ms for its response,
    /// having muted the connection for it.
    pub fn mutation_throttle(&self, client: &QuotaClient, quota: &ControllerMutationQuota<'_>) -> i32 {
        let throttle = quota.throttle();
        client.mute.mute_for(throttle);
        request_quota::millis(throttle)
    }

    /// The most bytes one response may carry for the client under its quota of `kind`.
    pub fn max_bytes_in_quota_window(&self, client: &QuotaClient, kind: QuotaType) -> Option<usize> {
        if !self.topics.has_client_quotas() {
            return None;
        }
        let quotas = self.topics.client_quotas();
        let max = self
            .quotas
            .max_value_in_window(&quotas, kind, &client.user, &client.client_id)?;
        // Saturating: a quota beyond usize is no limit.
        Some(max.max(0.0) as usize)
    }

    fn record_bytes(&self, client: &QuotaClient, kind: QuotaType, value: f64) -> i32 {
        if !self.topics.has_client_quotas() {
            return 0;
        }
        let quotas = self.topics.client_quotas();
        let throttle = self.quotas.record(
            &quotas,
            kind,
            &client.user,
            &client.client_id,
            value,
            std::time::Instant::now(),
        );
        client.mute.mute_for(throttle);
        request_quota::millis(throttle)
    }

    /// Routes one request from the client at `peer`, timing it against the client's request
    /// quota. Runs on the connection task in request order.
    pub fn handle(
        self: &Arc<Self>,
        api: ApiKey,
        header: &RequestHeader,
        body: Bytes,
        peer: SocketAddr,
        listener: usize,
        caller: &Caller,
    ) -> Result<Reply, RequestError> {
        let client_id = header.client_id.as_ref().map(|c| c.as_str()).unwrap_or_default();
        let _request = RequestScope::enter(self, &caller.principal.name, client_id, &caller.mute);
        self.dispatch(api, header, body, peer, listener, caller)
    }

    fn dispatch(
        self: &Arc<Self>,
        api: ApiKey,
        header: &RequestHeader,
        mut body: Bytes,
        peer: SocketAddr,
        listener: usize,
        caller: &Caller,
    ) -> Result<Reply, RequestError> {
        let advertised = &self.advertised[listener.min(self.advertised.len().saturating_sub(1))];
        let version = header.request_api_version;
        let unstable = self.config.unstable_api_versions();
        let supported = version_range(api, unstable).is_some_and(|(lo, hi)| (lo..=hi).contains(&version));
        if api == ApiKey::ApiVersions && !supported {
            return api_versions::unsupported_version(unstable);
        }
        if !supported || (api == ApiKey::Produce && version < PRODUCE_MIN_SERVED) {
            return Err(RequestError::UnsupportedVersion { api, version });
        }
        let ctx = RequestContext {
            principal: &caller.principal,
            host: peer.ip(),
            authorizer: self.authorizer.as_deref(),
        };
        let b = &mut body;
        match api {
            ApiKey::ApiVersions => ready(api_versions::handle(self, decode(b, version)?, version), version),
            ApiKey::Metadata => ready(
                metadata::handle(self, &ctx, advertised, decode(b, version)?, version),
                version,
            ),
            ApiKey::Produce => produce::handle(
                self,
                &ctx,
                decode(b, version)?,
                version,
                &self.quota_client(header, caller),
            ),
            ApiKey::Fetch => fetch::handle(
                self,
                &ctx,
                decode(b, version)?,
                version,
                self.quota_client(header, caller),
            ),
            ApiKey::ListOffsets => ready(list_offsets::handle(self, &ctx, decode(b, version)?, version), version),
            // Topic changes fsync the metadata log and create or remove files: they run in
            // place (keeping this connection's order) while the runtime moves other work away.
            ApiKey::CreateTopics => {
                let request = decode(b, version)?;
                let client = self.quota_client(header, caller);
                ready(
                    block_in_place(|| create_topics::handle(self, &ctx, request, version, &client)),
                    version,
                )
            }
            ApiKey::DeleteTopics => {
                let request = decode(b, version)?;
                let client = self.quota_client(header, caller);
                ready(
                    block_in_place(|| delete_topics::handle(self, &ctx, request, version, &client)),
                    version,
                )
            }
            ApiKey::CreatePartitions => {
                let request = decode(b, version)?;
                let client = self.quota_client(header, caller);
                ready(
                    block_in_place(|| create_partitions::handle(self, &ctx, request, version, &client)),
                    version,
                )
            }
            ApiKey::DescribeConfigs => ready(
                describe_configs::handle(self, &ctx, decode(b, version)?, version),
                version,
            ),
            ApiKey::DescribeCluster => ready(
                describe_cluster::handle(self, &ctx, advertised, decode(b, version)?),
                version,
            ),
            ApiKey::OffsetForLeaderEpoch => ready(
                offset_for_leader_epoch::handle(self, &ctx, decode(b, version)?),
                version,
            ),
            ApiKey::DescribeLogDirs => ready(describe_log_dirs::handle(self, &ctx, decode(b, version)?), version),
            // Config changes fsync the metadata log, like topic changes.
            ApiKey::AlterConfigs => {
                let request = decode(b, version)?;
                ready(block_in_place(|| alter_configs::handle(self, &ctx, request)), version)
            }
            ApiKey::IncrementalAlterConfigs => {
                let request = decode(b, version)?;
                ready(
                    block_in_place(|| incremental_alter_configs::handle(self, &ctx, request)),
                    version,
                )
            }
            // Renames segment files and fsyncs the log start checkpoint.
            ApiKey::DeleteRecords => {
                let request = decode(b, version)?;
                ready(block_in_place(|| delete_records::handle(self, &ctx, request)), version)
            }
            ApiKey::FindCoordinator => ready(
                find_coordinator::handle(self, &ctx, advertised, decode(b, version)?, version),
                version,
            ),
            ApiKey::JoinGroup => {
                let client_id = header.client_id.as_ref().map(|c| c.as_str()).unwrap_or_default();
                // Kafka reports the client's address as Java's InetAddress prints it.
                join_group::handle(
                    self,
                    &ctx,
                    decode(b, version)?,
                    version,
                    client_id,
                    format!("/{}", peer.ip()),
                )
            }
            ApiKey::ConsumerGroupHeartbeat => {
                let client_id = header.client_id.as_ref().map(|c| c.as_str()).unwrap_or_default();
                consumer_group_heartbeat::handle(
                    self,
                    &ctx,
                    decode(b, version)?,
                    version,
                    client_id,
                    format!("/{}", peer.ip()),
                )
            }
            ApiKey::ConsumerGroupDescribe => ready(
                consumer_group_describe::handle(self, &ctx, decode(b, version)?, version),
                version,
            ),
            ApiKey::SyncGroup => sync_group::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::Heartbeat => ready(heartbeat::handle(self, &ctx, decode(b, version)?, version), version),
            ApiKey::LeaveGroup => ready(leave_group::handle(self, &ctx, decode(b, version)?, version), version),
            ApiKey::OffsetCommit => offset_commit::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::OffsetFetch => ready(offset_fetch::handle(self, &ctx, decode(b, version)?, version), version),
            ApiKey::DescribeGroups => ready(
                describe_groups::handle(self, &ctx, decode(b, version)?, version),
                version,
            ),
            ApiKey::ListGroups => ready(list_groups::handle(self, &ctx, decode(b, version)?, version), version),
            ApiKey::DeleteGroups => delete_groups::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::OffsetDelete => offset_delete::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::InitProducerId => init_producer_id::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::AddPartitionsToTxn => add_partitions_to_txn::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::AddOffsetsToTxn => add_offsets_to_txn::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::EndTxn => end_txn::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::TxnOffsetCommit => txn_offset_commit::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::WriteTxnMarkers => write_txn_markers::handle(self, &ctx, decode(b, version)?, version),
            ApiKey::ListTransactions => ready(
                list_transactions::handle(self, &ctx, decode(b, version)?, version),
                version,
            ),
            ApiKey::DescribeTransactions => {
                ready(describe_transactions::handle(self, &ctx, decode(b, version)?), version)
            }
            ApiKey::DescribeTopicPartitions => ready(
                describe_topic_partitions::handle(self, &ctx, decode(b, version)?),
                version,
            ),
            ApiKey::DescribeQuorum => ready(
                describe_quorum::handle(self, &ctx, advertised, decode(b, version)?),
                version,
            ),
            ApiKey::ListConfigResources => ready(
                list_config_resources::handle(self, &ctx, decode(b, version)?, version),
                version,
            ),
            ApiKey::ElectLeaders => ready(elect_leaders::handle(self, &ctx, decode(b, version)?, version), version),
            ApiKey::AlterPartitionReassignments => {
                ready(partition_reassignments::alter(self, &ctx, decode(b, version)?), version)
            }
            ApiKey::ListPartitionReassignments => {
                ready(partition_reassignments::list(&ctx, decode(b, version)?), version)
            }
            ApiKey::AlterReplicaLogDirs => {
                ready(alter_replica_log_dirs::handle(self, &ctx, decode(b, version)?), version)
            }
            ApiKey::DescribeAcls => ready(acls::describe(self, &ctx, decode(b, version)?), version),
            // ACL changes fsync the metadata log, like topic changes.
            ApiKey::CreateAcls => {
                let request = decode(b, version)?;
                ready(block_in_place(|| acls::create(self, &ctx, request)), version)
            }
            ApiKey::DeleteAcls => {
                let request = decode(b, version)?;
                ready(block_in_place(|| acls::delete(self, &ctx, request)), version)
            }
            ApiKey::DescribeUserScramCredentials => ready(
                describe_user_scram_credentials::handle(self, &ctx, decode(b, version)?),
                version,
            ),
            // A credential change fsyncs the metadata log, like a topic change.
            ApiKey::AlterUserScramCredentials => {
                let request = decode(b, version)?;
                ready(
                    block_in_place(|| alter_user_scram_credentials::handle(self, &ctx, request)),
                    version,
                )
            }
            ApiKey::SaslHandshake => ready(sasl::handshake(decode(b, version)?), version),
            ApiKey::SaslAuthenticate => ready(sasl::authenticate(decode(b, version)?), version),
            ApiKey::DescribeClientQuotas => ready(client_quotas::describe(self, &ctx, decode(b, version)?), version),
            // A quota change fsyncs the metadata log, like a topic change.
            ApiKey::AlterClientQuotas => {
                let request = decode(b, version)?;
                ready(block_in_place(|| client_quotas::alter(self, &ctx, request)), version)
            }
            ApiKey::DescribeProducers => ready(describe_producers::handle(self, &ctx, decode(b, version)?), version),
            ApiKey::ShareGroupHeartbeat => {
                let client_id = header.client_id.as_ref().map(|c| c.as_str()).unwrap_or_default();
                let host = format!("/{}", peer.ip());
                share_group_heartbeat::handle(self, &ctx, decode(b, version)?, client_id, &host, version)
            }
            ApiKey::ShareGroupDescribe => ready(share_group_describe::handle(self, &ctx, decode(b, version)?), version),
            ApiKey::ShareFetch => share_fetch::handle(self, &ctx, decode(b, version)?, version, peer),
            ApiKey::ShareAcknowledge => share_acknowledge::handle(self, &ctx, decode(b, version)?, version, peer),
            ApiKey::DescribeShareGroupOffsets => ready(
                describe_share_group_offsets::handle(self, &ctx, decode(b, version)?),
                version,
            ),
            ApiKey::AlterShareGroupOffsets => {
                alter_share_group_offsets::handle(self, &ctx, decode(b, version)?, version)
            }
            ApiKey::DeleteShareGroupOffsets => {
                delete_share_group_offsets::handle(self, &ctx, decode(b, version)?, version)
            }
            other => Err(RequestError::UnsupportedVersion { api: other, version }),
        }
    }
}

#[cfg(test)]
mod group_api_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_ranges_are_within_the_codec() {
        for (api, lo, hi) in SUPPORTED_APIS {
            let codec = api.valid_versions();
            let lo = if *api == ApiKey::Produce {
                PRODUCE_MIN_SERVED
            } else {
                *lo
            };
            assert!(
                codec.min <= lo && *hi <= codec.max,
                "{api:?} {lo}-{hi} outside codec {codec}"
            );
        }
    }
}
