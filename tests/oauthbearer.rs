//! SASL/OAUTHBEARER with Kafka's default (unsecured JWS) validation, over real TCP: the
//! session's lifetime bounded by the token's expiry, a refused token answered with Kafka's
//! JSON challenge and then failed, and signed-token validation refused at start. Java and
//! Python clients use it in `tests/jvm/sasl_ssl_check.sh`, against Kafka too.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use bytes::Bytes;
use common::protocol::KafkaConnection;
use common::*;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

const JAAS: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredValidatorRequiredScope=\"kafka\";";

fn start_broker(extra: &[&str]) -> (tempfile::TempDir, BrokerProcess) {
    let dir = temp_data_dir();
    let mut args = vec![
        "--set".to_string(),
        "listeners=SASL_PLAINTEXT://127.0.0.1:0".into(),
        "--set".into(),
        "sasl.enabled.mechanisms=OAUTHBEARER".into(),
        "--set".into(),
        format!("listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config={JAAS}"),
        "--set".into(),
        "connection.failed.authentication.delay.ms=0".into(),
    ];
    for e in extra {
        args.push("--set".into());
        args.push(e.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = BrokerProcess::start(&dir.path().join("data"), &args);
    (dir, broker)
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn unsecured_jwt(claims: &str) -> String {
    format!(
        "{}.{}.",
        BASE64URL.encode(r#"{"alg":"none"}"#),
        BASE64URL.encode(claims)
    )
}

fn exchange(conn: &mut KafkaConnection, token: &[u8]) -> SaslAuthenticateResponse {
    conn.call(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    )
}

fn bearer(jwt: &str) -> Vec<u8> {
    format!("n,,\u{1}auth=Bearer {jwt}\u{1}\u{1}").into_bytes()
}

fn handshake(conn: &mut KafkaConnection) {
    let r = conn.call(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("OAUTHBEARER")),
    );
    assert_eq!(r.error_code, 0);
}

#[test]
fn the_session_ends_with_the_token_and_refused_tokens_get_kafkas_challenge() {
    let (_dir, broker) = start_broker(&[]);

    // Without connections.max.reauth.ms the token's expiry bounds the session.
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    handshake(&mut conn);
    let exp = now_s() + 600;
    let r = exchange(
        &mut conn,
        &bearer(&unsecured_jwt(&format!(
            r#"{{"sub":"alice","scope":"kafka","exp":{exp}}}"#
        ))),
    );
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(
        (590_000..=600_000).contains(&r.session_lifetime_ms),
        "{}",
        r.session_lifetime_ms
    );

    for claims in [
        format!(r#"{{"sub":"alice","scope":"kafka","exp":{}}}"#, now_s() - 10),
        format!(r#"{{"scope":"kafka","exp":{exp}}}"#),
        format!(r#"{{"sub":"alice","scope":"other","exp":{exp}}}"#),
    ] {
        let mut conn = KafkaConnection::connect(&broker.bootstrap());
        handshake(&mut conn);
        let challenge = exchange(&mut conn, &bearer(&unsecured_jwt(&claims)));
        assert_eq!(challenge.error_code, 0, "{claims}");
        assert_eq!(&challenge.auth_bytes[..], br#"{"status":"invalid_token"}"#);
        let refused = exchange(&mut conn, &[1]);
        assert_eq!(refused.error_code, 58, "{claims}");
        assert_eq!(refused.error_message.as_deref(), Some(r#"{"status":"invalid_token"}"#));
    }
}

#[test]
fn signed_token_validation_is_refused_at_start() {
    let dir = temp_data_dir();
    let data = dir.path().join("data");
    let out = expect_start_failure(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--set",
            "listeners=SASL_PLAINTEXT://127.0.0.1:0",
            "--set",
            "sasl.enabled.mechanisms=OAUTHBEARER",
            "--set",
            "sasl.oauthbearer.jwks.endpoint.url=https://idp.example/jwks",
        ],
        &[],
    );
    assert!(out.contains("sasl.oauthbearer.jwks.endpoint.url"), "{out}");
}
