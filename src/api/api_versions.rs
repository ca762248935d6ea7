//! ApiVersions: the versions this broker serves, from [`super::SUPPORTED_APIS`].

use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, Reply, RequestError, SUPPORTED_APIS, encode, errors, version_range};

/// The feature levels this broker serves (KIP-584), as `kafka-features describe` shows them:
/// (name, lowest supported, highest supported, finalized). `metadata.version` spans Kafka's
/// KRaft range, 3.3-IV3 (7) to 4.1-IV1 (27). Transactions v2 (KIP-890) is finalized at 2, as
/// a new Kafka 4.1 cluster has it, so clients bump the epoch at every transaction end; older
/// clients keep using v1. `group.version` 1 is the KIP-848 consumer group protocol
/// (ConsumerGroupHeartbeat), finalized as on a new Kafka 4.1 cluster. Share groups (KIP-932,
/// `share.version` 1) are served, so the level is finalized, as on a Kafka 4.1 cluster after
/// `kafka-features.sh upgrade --feature share.version=1`.
const FEATURES: &[(&str, i16, i16, i16)] = &[
    ("group.version", 0, 1, 1),
    ("metadata.version", 7, 27, 27),
    ("share.version", 0, 1, 1),
    ("transaction.version", 0, 2, 2),
];

fn api_keys(unstable: bool) -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .filter_map(|(api, _, _)| {
            let (lo, hi) = version_range(*api, unstable)?;
            Some(
                ApiVersion::default()
                    .with_api_key(*api as i16)
                    .with_min_version(lo)
                    .with_max_version(hi),
            )
        })
        .collect()
}

pub fn handle(api: &ApiHandler, request: ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default().with_api_keys(api_keys(api.config.unstable_api_versions()));
    if version >= 3 {
        response.supported_features = FEATURES
            .iter()
            .map(|(name, lo, hi, _)| {
                SupportedFeatureKey::default()
                    .with_name(StrBytes::from_static_str(name))
                    .with_min_version(*lo)
                    .with_max_version(*hi)
            })
            .collect();
        response.finalized_features = FEATURES
            .iter()
            .filter(|(_, _, _, level)| *level > 0)
            .map(|(name, _, _, level)| {
                FinalizedFeatureKey::default()
                    .with_name(StrBytes::from_static_str(name))
                    .with_min_version_level(*level)
                    .with_max_version_level(*level)
            })
            .collect();
        // The epoch of the finalized levels is the metadata offset they were read at.
        response.finalized_features_epoch = api.topics.metadata_log_end_offset();
    }
    // KIP-511: v3+ clients name themselves; a malformed name is refused like Kafka does.
    if version >= 3
        && (!valid_software_field(request.client_software_name.as_str())
            || !valid_software_field(request.client_software_version.as_str()))
    {
        response.error_code = errors::INVALID_REQUEST;
    }
    response
}

/// The KIP-511 reply to a version this broker does not know: error UNSUPPORTED_VERSION with
/// the supported ranges, encoded as v0 so any client can read it.
pub fn unsupported_version(unstable: bool) -> Result<Reply, RequestError> {
    let response = ApiVersionsResponse::default()
        .with_error_code(errors::UNSUPPORTED_VERSION)
        .with_api_keys(api_keys(unstable));
    Ok(Reply::UnsupportedApiVersions(encode(&response, 0)?))
}

/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            edge(first) && edge(last) && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.6.1"));
        assert!(valid_software_field("apache-kafka-java"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("a b"));
    }
}
