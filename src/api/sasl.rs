//! SaslHandshake and SaslAuthenticate reaching the API layer: the authenticator
//! (`security::sasl_authenticator`) answers them while a SASL listener's client
//! authenticates, so here they come either after authentication or on a listener without
//! SASL, and Kafka answers both with ILLEGAL_SASL_STATE.

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::errors;

pub fn handshake(_request: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(errors::ILLEGAL_SASL_STATE)
}

pub fn authenticate(_request: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(errors::ILLEGAL_SASL_STATE)
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}
