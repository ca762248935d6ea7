//! ApiVersions: the versions this broker serves, from [`super::SUPPORTED_APIS`].

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, api_versions_response::ApiVersion};

use super::{Reply, RequestError, SUPPORTED_APIS, encode, errors};

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|(api, lo, hi)| {
            ApiVersion::default()
                .with_api_key(*api as i16)
                .with_min_version(*lo)
                .with_max_version(*hi)
        })
        .collect()
}

pub fn handle(request: ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default().with_api_keys(api_keys());
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
pub fn unsupported_version() -> Result<Reply, RequestError> {
    let response = ApiVersionsResponse::default()
        .with_error_code(errors::UNSUPPORTED_VERSION)
        .with_api_keys(api_keys());
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
