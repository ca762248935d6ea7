//! DescribeUserScramCredentials: the mechanisms and iteration counts of users' SCRAM
//! credentials (never their keys). No users named means every user with a credential; a
//! named user without one is not found, and a name given twice is a duplicate, as Kafka
//! answers.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &ApiHandler,
    ctx: &RequestContext<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // DESCRIBE on the cluster; a refused caller gets the error at the top and, as Kafka
    // answers, one unnamed result carrying it per user asked about.
    if !ctx.authorize_cluster(op::DESCRIBE) {
        let message = || Some(StrBytes::from_static_str(errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE));
        let results = request
            .users
            .unwrap_or_default()
            .iter()
            .map(|_| {
                DescribeUserScramCredentialsResult::default()
                    .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
                    .with_error_message(message())
            })
            .collect();
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
            .with_error_message(message())
            .with_results(results);
    }
    let users = api.topics.scram_users();
    let described = |user: String, credentials: &[(crate::security::ScramMechanism, i32)]| {
        DescribeUserScramCredentialsResult::default()
            .with_user(StrBytes::from_string(user))
            .with_credential_infos(
                credentials
                    .iter()
                    .map(|(m, iterations)| {
                        CredentialInfo::default()
                            .with_mechanism(m.type_code())
                            .with_iterations(*iterations)
                    })
                    .collect(),
            )
    };
    let named = request.users.unwrap_or_default();
    if named.is_empty() {
        return DescribeUserScramCredentialsResponse::default()
            .with_results(users.into_iter().map(|(user, c)| described(user, &c)).collect());
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for user in named {
        *counts.entry(user.name.to_string()).or_default() += 1;
    }
    let results = counts
        .into_iter()
        .map(|(user, count)| {
            let (code, message) = if count > 1 {
                (
                    errors::DUPLICATE_RESOURCE,
                    format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
                )
            } else if let Some(credentials) = users.get(&user) {
                return described(user, credentials);
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
