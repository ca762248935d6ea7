//! CreateAcls, DescribeAcls and DeleteAcls. Without an authorizer, Kafka's answer applies:
//! SECURITY_DISABLED, which the admin client and `kafka-acls` report as "No Authorizer is
//! configured". With one, the caller needs ALTER (create, delete) or DESCRIBE on the cluster,
//! and the ACLs live in the metadata log.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::{AclFilter, CLUSTER_NAME, StandardAcl, operation, pattern_type, permission, resource_type};

/// Kafka's messages, which `kafka-acls` prints.
const NO_AUTHORIZER: &str = "No Authorizer is configured.";
const NO_AUTHORIZER_ON_BROKER: &str = "No Authorizer is configured on the broker";

fn text(s: &str) -> Option<StrBytes> {
    Some(StrBytes::from_string(s.to_string()))
}

pub fn describe(api: &ApiHandler, ctx: &RequestContext<'_>, request: DescribeAclsRequest) -> DescribeAclsResponse {
    let response = DescribeAclsResponse::default();
    if api.authorizer.is_none() {
        return response
            .with_error_code(errors::SECURITY_DISABLED)
            .with_error_message(text(NO_AUTHORIZER_ON_BROKER));
    }
    if !ctx.authorize_cluster(operation::DESCRIBE) {
        return response.with_error_code(errors::CLUSTER_AUTHORIZATION_FAILED);
    }
    let filter = AclFilter {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.map(|n| n.to_string()),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.map(|p| p.to_string()),
        host: request.host_filter.map(|h| h.to_string()),
        operation: request.operation,
        permission: request.permission_type,
    };
    if let Err(why) = validate_filter(&filter) {
        return response
            .with_error_code(errors::INVALID_REQUEST)
            .with_error_message(text(&why));
    }
    // One entry per resource pattern, as Kafka groups them.
    let mut by_pattern: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in api.topics.acls().values().filter(|a| filter.matches(a)) {
        by_pattern
            .entry((acl.resource_type, acl.resource_name.clone(), acl.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(StrBytes::from_string(acl.principal.clone()))
                    .with_host(StrBytes::from_string(acl.host.clone()))
                    .with_operation(acl.operation)
                    .with_permission_type(acl.permission),
            );
    }
    let resources = by_pattern
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name))
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect();
    response.with_resources(resources)
}

pub fn create(api: &ApiHandler, ctx: &RequestContext<'_>, request: CreateAclsRequest) -> CreateAclsResponse {
    let refuse_all = |code: i16, message: Option<StrBytes>| {
        let results = request
            .creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        CreateAclsResponse::default().with_results(results)
    };
    if api.authorizer.is_none() {
        return refuse_all(errors::SECURITY_DISABLED, text(NO_AUTHORIZER));
    }
    if !ctx.authorize_cluster(operation::ALTER) {
        return refuse_all(errors::CLUSTER_AUTHORIZATION_FAILED, None);
    }
    let checked: Vec<Result<StandardAcl, String>> = request.creations.iter().map(validate_creation).collect();
    let valid: Vec<StandardAcl> = checked.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
    let stored = api.topics.create_acls(&valid);
    let results = checked
        .into_iter()
        .map(|c| match (c, &stored) {
            (Err(why), _) => AclCreationResult::default()
                .with_error_code(errors::INVALID_REQUEST)
                .with_error_message(text(&why)),
            (Ok(_), Err(e)) => AclCreationResult::default()
                .with_error_code(errors::UNKNOWN_SERVER_ERROR)
                .with_error_message(text(&e.to_string())),
            (Ok(acl), Ok(())) => {
                tracing::info!(principal = %ctx.principal, acl = ?acl, "created ACL");
                AclCreationResult::default()
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub fn delete(api: &ApiHandler, ctx: &RequestContext<'_>, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let refuse_all = |code: i16, message: Option<StrBytes>| {
        let results = request
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(message.clone())
            })
            .collect();
        DeleteAclsResponse::default().with_filter_results(results)
    };
    if api.authorizer.is_none() {
        return refuse_all(errors::SECURITY_DISABLED, text(NO_AUTHORIZER));
    }
    if !ctx.authorize_cluster(operation::ALTER) {
        return refuse_all(errors::CLUSTER_AUTHORIZATION_FAILED, None);
    }
    let filters: Vec<Result<AclFilter, String>> = request
        .filters
        .iter()
        .map(|f| {
            let filter = AclFilter {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.as_ref().map(|n| n.to_string()),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_ref().map(|p| p.to_string()),
                host: f.host_filter.as_ref().map(|h| h.to_string()),
                operation: f.operation,
                permission: f.permission_type,
            };
            validate_filter(&filter).map(|()| filter)
        })
        .collect();
    let valid: Vec<AclFilter> = filters.iter().filter_map(|f| f.as_ref().ok().cloned()).collect();
    let mut removed = match api.topics.delete_acls(&valid) {
        Ok(removed) => removed.into_iter(),
        Err(e) => return refuse_all(errors::UNKNOWN_SERVER_ERROR, text(&e.to_string())),
    };
    let results = filters
        .into_iter()
        .map(|f| match f {
            Err(why) => DeleteAclsFilterResult::default()
                .with_error_code(errors::INVALID_REQUEST)
                .with_error_message(text(&why)),
            Ok(_) => {
                let matching = removed.next().unwrap_or_default();
                for acl in &matching {
                    tracing::info!(principal = %ctx.principal, acl = ?acl, "deleted ACL");
                }
                DeleteAclsFilterResult::default().with_matching_acls(
                    matching
                        .into_iter()
                        .map(|acl| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(acl.resource_type)
                                .with_resource_name(StrBytes::from_string(acl.resource_name))
                                .with_pattern_type(acl.pattern_type)
                                .with_principal(StrBytes::from_string(acl.principal))
                                .with_host(StrBytes::from_string(acl.host))
                                .with_operation(acl.operation)
                                .with_permission_type(acl.permission)
                        })
                        .collect(),
                )
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

/// Kafka's checks of a new ACL (the broker's and the controller's).
fn validate_creation(c: &AclCreation) -> Result<StandardAcl, String> {
    let name = c.resource_name.to_string();
    if !(resource_type::TOPIC..=resource_type::USER).contains(&c.resource_type) {
        return Err(format!("Invalid resourceType {}", c.resource_type));
    }
    if c.resource_type == resource_type::CLUSTER && name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if name.is_empty() {
        return Err("Invalid empty resource name".into());
    }
    if !matches!(c.resource_pattern_type, pattern_type::LITERAL | pattern_type::PREFIXED) {
        return Err(format!("Invalid patternType {}", c.resource_pattern_type));
    }
    if !(operation::ALL..=operation::DESCRIBE_TOKENS).contains(&c.operation) {
        return Err(format!("Invalid operation {}", c.operation));
    }
    if !matches!(c.permission_type, permission::DENY | permission::ALLOW) {
        return Err(format!("Invalid permissionType {}", c.permission_type));
    }
    let principal = c.principal.to_string();
    match principal.split_once(':') {
        Some((kind, who)) if !kind.is_empty() && !who.is_empty() => {}
        _ => {
            return Err(format!(
                "expected a string in format principalType:principalName but got {principal}"
            ));
        }
    }
    Ok(StandardAcl {
        resource_type: c.resource_type,
        resource_name: name,
        pattern_type: c.resource_pattern_type,
        principal,
        host: c.host.to_string(),
        operation: c.operation,
        permission: c.permission_type,
    })
}

/// A filter with a code Kafka does not know matches nothing Kafka could store: refused.
fn validate_filter(f: &AclFilter) -> Result<(), String> {
    if !(resource_type::ANY..=resource_type::USER).contains(&f.resource_type)
        || !(pattern_type::ANY..=pattern_type::PREFIXED).contains(&f.pattern_type)
    {
        return Err("Unknown patternFilter.".into());
    }
    if !(operation::ANY..=operation::DESCRIBE_TOKENS).contains(&f.operation)
        || !(permission::ANY..=permission::ALLOW).contains(&f.permission)
    {
        return Err("Unknown entryFilter.".into());
    }
    Ok(())
}
