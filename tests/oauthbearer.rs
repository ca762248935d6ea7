//! SASL/OAUTHBEARER over real TCP. With Kafka's default (unsecured JWS) validation: the
//! session's lifetime bounded by the token's expiry, a refused token answered with Kafka's
//! JSON challenge and then failed. With `OAuthBearerValidatorCallbackHandler` and a `file:`
//! JWKS: a client with a signed token produces and fetches, and tokens signed by another
//! key, expired or for another audience are refused. Java and Python clients use both in
//! `tests/jvm/sasl_ssl_check.sh`, against Kafka too.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use bytes::Bytes;
use common::protocol::KafkaConnection;
use common::protocol::record_batch;
use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, FetchRequest, ProduceRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

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

const VALIDATOR: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";

#[test]
fn a_jwks_url_needs_the_validator_handler_and_no_other_handler_is_loaded() {
    let dir = temp_data_dir();
    let data = dir.path().join("data");
    let start = |extra: &str| {
        expect_start_failure(
            &[
                "serve",
                "--data-dir",
                data.to_str().unwrap(),
                "--set",
                "listeners=SASL_PLAINTEXT://127.0.0.1:0",
                "--set",
                "sasl.enabled.mechanisms=OAUTHBEARER",
                "--set",
                extra,
            ],
            &[],
        )
    };
    let out = start("sasl.oauthbearer.jwks.endpoint.url=https://idp.example/jwks");
    assert!(
        out.contains("sasl.oauthbearer.jwks.endpoint.url") && out.contains(VALIDATOR),
        "{out}"
    );
    let out = start("listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class=com.example.Handler");
    assert!(out.contains("com.example.Handler"), "{out}");
    // The validator handler without a JWKS, or with one that cannot be read.
    let out = start(&format!(
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}"
    ));
    assert!(out.contains("sasl.oauthbearer.jwks.endpoint.url"), "{out}");
}

/// An EC P-256 key of the test's identity provider.
struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn new(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        SigningKey { kid: kid.into(), pair }
    }

    fn jwk(&self) -> String {
        let point = self.pair.public_key().as_ref();
        format!(
            r#"{{"kty":"EC","use":"sig","crv":"P-256","kid":"{}","x":"{}","y":"{}"}}"#,
            self.kid,
            BASE64URL.encode(&point[1..33]),
            BASE64URL.encode(&point[33..])
        )
    }

    fn sign(&self, claims: &str) -> String {
        let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{}"}}"#, self.kid);
        let message = format!("{}.{}", BASE64URL.encode(header), BASE64URL.encode(claims));
        let signature = self.pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
        format!("{message}.{}", BASE64URL.encode(signature.as_ref()))
    }
}

#[test]
fn signed_tokens_are_validated_against_a_jwks_file() {
    let idp = SigningKey::new("idp-1");
    let keys_dir = temp_data_dir();
    let jwks = keys_dir.path().join("jwks.json");
    std::fs::write(&jwks, format!(r#"{{"keys":[{}]}}"#, idp.jwk())).unwrap();
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(
        &dir.path().join("data"),
        &[
            "--set",
            "listeners=SASL_PLAINTEXT://127.0.0.1:0",
            "--set",
            "sasl.enabled.mechanisms=OAUTHBEARER",
            "--set",
            &format!("listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}"),
            "--set",
            &format!(
                "listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url=file://{}",
                jwks.display()
            ),
            "--set",
            "sasl.oauthbearer.expected.audience=kafka,other",
            "--set",
            "sasl.oauthbearer.expected.issuer=https://idp.example",
            "--set",
            "connection.failed.authentication.delay.ms=0",
        ],
    );
    let exp = now_s() + 600;
    let claims = |sub: &str, aud: &str, exp: u64| {
        format!(
            r#"{{"sub":"{sub}","aud":"{aud}","iss":"https://idp.example","iat":{},"exp":{exp},"scope":"kafka"}}"#,
            now_s() - 5
        )
    };

    // A client with a correctly signed token creates a topic, produces and fetches; its
    // session lasts as long as the token.
    let jwt = idp.sign(&claims("alice", "kafka", exp));
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    handshake(&mut conn);
    let r = exchange(&mut conn, &bearer(&jwt));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(
        (590_000..=600_000).contains(&r.session_lifetime_ms),
        "{}",
        r.session_lifetime_ms
    );
    assert_eq!(round_trip(&mut conn), ["signed 1", "signed 2"]);

    // Another key with the same kid, an expired token, another audience, an unsigned token.
    let impostor = SigningKey::new("idp-1");
    for refused in [
        impostor.sign(&claims("alice", "kafka", exp)),
        idp.sign(&claims("alice", "kafka", now_s() - 60)),
        idp.sign(&claims("alice", "billing", exp)),
        unsecured_jwt(&claims("alice", "kafka", exp)),
    ] {
        let mut conn = KafkaConnection::connect(&broker.bootstrap());
        handshake(&mut conn);
        let challenge = exchange(&mut conn, &bearer(&refused));
        assert_eq!(challenge.error_code, 0);
        assert_eq!(&challenge.auth_bytes[..], br#"{"status":"invalid_token"}"#);
        let r = exchange(&mut conn, &[1]);
        assert_eq!(r.error_code, 58, "{refused}");
    }

    // The identity provider's new key is used once the JWKS file has it.
    let rotated = SigningKey::new("idp-2");
    let fresh = rotated.sign(&claims("alice", "kafka", exp));
    std::fs::write(&jwks, format!(r#"{{"keys":[{},{}]}}"#, idp.jwk(), rotated.jwk())).unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&jwks)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let mut conn = KafkaConnection::connect(&broker.bootstrap());
    handshake(&mut conn);
    let r = exchange(&mut conn, &bearer(&fresh));
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
}

/// Creates a topic, produces two records to it and fetches them back on `conn`.
fn round_trip(conn: &mut KafkaConnection) -> Vec<String> {
    let topic = || TopicName(StrBytes::from_static_str("signed"));
    let created = conn.call(
        5,
        &CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(topic())
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
    );
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
    let produced = conn.call(
        9,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default().with_name(topic()).with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(record_batch([(None, &b"signed 1"[..]), (None, &b"signed 2"[..])]))),
                ]),
            ]),
    );
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let fetched = conn.call(
        11,
        &FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default().with_topic(topic()).with_partitions(vec![
                FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
            ])]),
    );
    let partition = &fetched.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let mut records = partition.records.clone().unwrap();
    let batch = kafka_protocol::records::RecordBatchDecoder::decode(&mut records).unwrap();
    batch
        .records
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect()
}
