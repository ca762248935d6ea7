//! CreateAcls, DescribeAcls and DeleteAcls. No authorizer is configured on this broker, so
//! Kafka's answer applies: SECURITY_DISABLED, which the admin client and `kafka-acls` report
//! as "No Authorizer is configured".

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::errors;

/// Kafka's messages, which `kafka-acls` prints.
const NO_AUTHORIZER: &str = "No Authorizer is configured.";
const NO_AUTHORIZER_ON_BROKER: &str = "No Authorizer is configured on the broker";

fn message() -> Option<StrBytes> {
    Some(StrBytes::from_static_str(NO_AUTHORIZER))
}

pub fn describe(_request: DescribeAclsRequest) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(errors::SECURITY_DISABLED)
        .with_error_message(Some(StrBytes::from_static_str(NO_AUTHORIZER_ON_BROKER)))
}

pub fn create(request: CreateAclsRequest) -> CreateAclsResponse {
    let results = request
        .creations
        .iter()
        .map(|_| {
            AclCreationResult::default()
                .with_error_code(errors::SECURITY_DISABLED)
                .with_error_message(message())
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub fn delete(request: DeleteAclsRequest) -> DeleteAclsResponse {
    let results = request
        .filters
        .iter()
        .map(|_| {
            DeleteAclsFilterResult::default()
                .with_error_code(errors::SECURITY_DISABLED)
                .with_error_message(message())
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
