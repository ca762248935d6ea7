//! DescribeUserScramCredentials: no SCRAM credentials are stored on this broker, so listing
//! every user returns none, and each named user is not found (a name given twice is a
//! duplicate), as Kafka answers for users without credentials.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;

pub fn handle(request: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for user in request.users.unwrap_or_default() {
        *named.entry(user.name.to_string()).or_default() += 1;
    }
    let results = named
        .into_iter()
        .map(|(user, count)| {
            let (code, message) = if count > 1 {
                (
                    errors::DUPLICATE_RESOURCE,
                    format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
                )
            } else {
                (
                    errors::RESOURCE_NOT_FOUND,
                    format!("Attempt to describe a user credential that does not exist: {user}"),
                )
            };
            DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user))
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message)))
        })
        .collect();
    DescribeUserScramCredentialsResponse::default()
        .with_error_message(None)
        .with_results(results)
}
