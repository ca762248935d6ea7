//! AlterUserScramCredentials, checked as Kafka's controller checks it: a user altered twice
//! in one request is a duplicate, names must not be empty, mechanisms must be SCRAM-SHA-256
//! or SCRAM-SHA-512, iterations within [4096, 16384], and a deleted credential must exist.
//! Clients send a salted password; the stored key and server key are derived from it here,
//! and neither the password nor the salted password is kept.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;
use crate::metadata::scram_credentials::ScramChange;
use crate::security::ScramMechanism;
use crate::security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramFormatter};

type Outcome = Result<ScramChange, (i16, String)>;

fn mechanism(name: &str, code: i8) -> Result<ScramMechanism, (i16, String)> {
    if name.is_empty() {
        return Err((errors::UNACCEPTABLE_CREDENTIAL, "Username must not be empty".into()));
    }
    ScramMechanism::from_type(code).ok_or((errors::UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism".into()))
}

pub fn handle(
    api: &ApiHandler,
    ctx: &RequestContext<'_>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // ALTER on the cluster; a refused caller gets the error once per user named, in order.
    if !ctx.authorize_cluster(op::ALTER) {
        let users: std::collections::BTreeSet<String> = request
            .deletions
            .iter()
            .map(|d| d.name.to_string())
            .chain(request.upsertions.iter().map(|u| u.name.to_string()))
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(
            users
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(StrBytes::from_string(user))
                        .with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED)
                        .with_error_message(Some(StrBytes::from_static_str(
                            errors::CLUSTER_AUTHORIZATION_FAILED_MESSAGE,
                        )))
                })
                .collect(),
        );
    }
    let duplicate = || {
        (
            errors::DUPLICATE_RESOURCE,
            "A user credential cannot be altered twice in the same request".to_string(),
        )
    };
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    for deletion in &request.deletions {
        let name = deletion.name.to_string();
        let outcome = match outcomes.get(&name) {
            Some(Err(_)) => continue,
            Some(Ok(_)) => Err(duplicate()),
            None => mechanism(&name, deletion.mechanism).and_then(|m| {
                if api.topics.scram_credential(&name, m).is_some() {
                    Ok(ScramChange::Delete(name.clone(), m))
                } else {
                    Err((
                        errors::RESOURCE_NOT_FOUND,
                        "Attempt to delete a user credential that does not exist".into(),
                    ))
                }
            }),
        };
        outcomes.insert(name, outcome);
    }
    for upsertion in &request.upsertions {
        let name = upsertion.name.to_string();
        let outcome = match outcomes.get(&name) {
            Some(Err(_)) => continue,
            Some(Ok(_)) => Err(duplicate()),
            None => mechanism(&name, upsertion.mechanism).and_then(|m| {
                if upsertion.iterations < MIN_ITERATIONS {
                    return Err((errors::UNACCEPTABLE_CREDENTIAL, "Too few iterations".into()));
                }
                if upsertion.iterations > MAX_ITERATIONS {
                    return Err((errors::UNACCEPTABLE_CREDENTIAL, "Too many iterations".into()));
                }
                let credential = ScramFormatter(m).credential_from_salted(
                    upsertion.salt.to_vec(),
                    &upsertion.salted_password,
                    upsertion.iterations,
                );
                Ok(ScramChange::Upsert(name.clone(), m, credential))
            }),
        };
        outcomes.insert(name, outcome);
    }
    let mut changes = Vec::new();
    let mut results = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(change) => {
                changes.push(change);
                results.push((name, errors::NONE, None));
            }
            Err((code, message)) => results.push((name, code, Some(message))),
        }
    }
    // The accepted changes are written together; if the metadata log refuses them, each
    // accepted user is answered with the storage error instead.
    if let Err(e) = api.topics.alter_scram_credentials(&changes) {
        for r in results.iter_mut().filter(|r| r.1 == errors::NONE) {
            r.1 = e.code();
            r.2 = Some(e.to_string());
        }
    }
    AlterUserScramCredentialsResponse::default().with_results(
        results
            .into_iter()
            .map(|(user, code, message)| {
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user))
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
            })
            .collect(),
    )
}
