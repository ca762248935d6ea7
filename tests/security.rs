//! TLS and SASL listeners over real TCP: a certificate authority made at test time, a
//! produce/fetch round trip through TLS with a client certificate, SCRAM-SHA-256/512 and PLAIN
//! logins and their refusals (SASL_AUTHENTICATION_FAILED, then the connection closes), requests
//! refused before authentication, and garbled exchanges that must never authenticate.

mod common;

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use common::protocol::{KafkaConnection, record_batch};
use common::*;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiVersionsRequest, DescribeUserScramCredentialsRequest, FetchRequest,
    MetadataRequest, ProduceRequest, SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rivulet::security::scram::{ScramFormatter, ScramMechanism};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A CA, the broker's certificate (for 127.0.0.1) and a client certificate, all in PEM.
struct Pki {
    ca: String,
    server_chain: String,
    server_key: String,
    client_chain: String,
    client_key: String,
}

fn make_pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Rivulet test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |sans: Vec<String>, dn: &[(DnType, &str)]| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (ty, value) in dn {
            params.distinguished_name.push(ty.clone(), *value);
        }
        let cert = params.signed_by(&key, &issuer).unwrap();
        (format!("{}{}", cert.pem(), ca_cert.pem()), key.serialize_pem())
    };
    let (server_chain, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        &[(DnType::CommonName, "broker")],
    );
    let (client_chain, client_key) = leaf(
        vec![],
        &[
            (DnType::OrganizationName, "Rivulet, Inc"),
            (DnType::CommonName, "alice"),
        ],
    );
    Pki {
        ca: ca_cert.pem(),
        server_chain,
        server_key,
        client_chain,
        client_key,
    }
}

const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#;

/// A broker with a PLAINTEXT, an SSL (client certificates required), a SASL_SSL and a
/// SASL_PLAINTEXT listener, and the port of each.
struct SecureBroker {
    _dir: tempfile::TempDir,
    broker: BrokerProcess,
    ports: HashMap<String, u16>,
    pki: Pki,
}

fn start_secure_broker() -> SecureBroker {
    start_secure_broker_with(&[], None)
}

/// The broker's key encrypted with `password` (PBES2, AES-256-CBC), as
/// `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it.
fn encrypt_key(key_pem: &str, password: &str) -> String {
    use pkcs8::pkcs5::pbes2;
    let der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[9; 16]).unwrap();
    let encrypted = pkcs8::PrivateKeyInfo::try_from(der.secret_der())
        .unwrap()
        .encrypt_with_params(params, password)
        .unwrap();
    encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

/// `key_password`: the keystore's key is encrypted with it and ssl.key.password set.
fn start_secure_broker_with(extra: &[&str], key_password: Option<&str>) -> SecureBroker {
    let dir = temp_data_dir();
    let pki = make_pki();
    let keystore = dir.path().join("broker.pem");
    let key = match key_password {
        Some(password) => encrypt_key(&pki.server_key, password),
        None => pki.server_key.clone(),
    };
    std::fs::write(&keystore, format!("{key}{}", pki.server_chain)).unwrap();
    let truststore = dir.path().join("ca.pem");
    std::fs::write(&truststore, &pki.ca).unwrap();
    let mut stores = vec![
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
        "ssl.truststore.type=PEM".into(),
        format!("ssl.truststore.location={}", truststore.display()),
    ];
    stores.extend(key_password.map(|p| format!("ssl.key.password={p}")));
    start_secure_broker_on(dir, pki, &stores, extra)
}

/// The broker of [`start_secure_broker`] with the given keystore and truststore settings.
fn start_secure_broker_on(dir: tempfile::TempDir, pki: Pki, stores: &[String], extra: &[&str]) -> SecureBroker {
    let data = dir.path().join("data");
    let settings = [
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
            .to_string(),
        "listener.name.ssl.ssl.client.auth=required".into(),
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
        format!("listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}"),
        "connection.failed.authentication.delay.ms=0".into(),
    ];
    let mut args: Vec<String> = Vec::new();
    for s in settings
        .iter()
        .chain(stores)
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        args.push("--set".into());
        args.push(s.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = BrokerProcess::start(&data, &args);
    let ports = listener_ports(&broker, 4);
    SecureBroker {
        _dir: dir,
        broker,
        ports,
        pki,
    }
}

impl SecureBroker {
    fn addr(&self, listener: &str) -> String {
        format!("127.0.0.1:{}", self.ports[listener])
    }

    fn plaintext(&self, listener: &str) -> KafkaConnection {
        KafkaConnection::connect(&self.addr(listener))
    }

    fn tls_config(&self, with_client_cert: bool) -> Arc<rustls::ClientConfig> {
        self.tls_config_as(with_client_cert.then_some(&self.pki))
    }

    /// A client trusting the broker's CA, with the client certificate of `client` if any.
    fn tls_config_as(&self, client: Option<&Pki>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.pki.ca.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if let Some(client) = client {
            let chain = CertificateDer::pem_slice_iter(client.client_chain.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(client.client_key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }

    /// A TLS connection that has finished its handshake.
    fn tls(&self, listener: &str, with_client_cert: bool) -> std::io::Result<KafkaConnection> {
        self.tls_with(listener, self.tls_config(with_client_cert))
    }

    fn tls_with(&self, listener: &str, config: Arc<rustls::ClientConfig>) -> std::io::Result<KafkaConnection> {
        let tcp = TcpStream::connect(self.addr(listener))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let server_name = ServerName::try_from("127.0.0.1").unwrap();
        let session = rustls::ClientConnection::new(config, server_name).unwrap();
        let mut stream = rustls::StreamOwned::new(session, tcp.try_clone()?);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        // TLS 1.3 reports a refused client certificate only with the first read.
        stream.conn.complete_io(&mut stream.sock).map(drop).or_else(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        Ok(KafkaConnection::over(&tcp, stream))
    }
}

/// The certificate a listener presents, with a client trusting `ca_pems`.
fn server_certificate(addr: &str, ca_pems: &[&str]) -> std::io::Result<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut session =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    while session.is_handshaking() {
        session.complete_io(&mut tcp)?;
    }
    Ok(session.peer_certificates().unwrap()[0].to_vec())
}

/// Whether the broker closed the connection (end of stream or reset) rather than answer.
fn closed(conn: &mut KafkaConnection) -> bool {
    let mut byte = [0u8; 1];
    match conn.stream().read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
    }
}

fn api_versions() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("rivulet-tests"))
        .with_client_software_version(StrBytes::from_static_str("1"))
}

fn metadata_works(conn: &mut KafkaConnection) -> bool {
    conn.try_call(12, &MetadataRequest::default().with_topics(None))
        .is_ok_and(|m| !m.brokers.is_empty())
}

fn handshake(conn: &mut KafkaConnection, mechanism: &str) -> i16 {
    conn.call(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
    )
    .error_code
}

fn authenticate(conn: &mut KafkaConnection, token: &[u8]) -> (i16, Bytes) {
    let r = conn.call(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    );
    (r.error_code, r.auth_bytes)
}

fn create_scram_user(broker: &SecureBroker, user: &str, mechanism: ScramMechanism, password: &str) {
    let salt = b"0123456789abcdef".to_vec();
    let salted = ScramFormatter(mechanism).salted_password(password.as_bytes(), &salt, 4096);
    let response = broker.plaintext("PLAINTEXT").call(
        0,
        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_string(user.into()))
                .with_mechanism(mechanism.type_code())
                .with_iterations(4096)
                .with_salt(Bytes::from(salt))
                .with_salted_password(Bytes::from(salted)),
        ]),
    );
    assert_eq!(
        response.results[0].error_code, 0,
        "{:?}",
        response.results[0].error_message
    );
}

/// A SCRAM client's side of a login; whether the broker accepted it, and whether its
/// server-final signature proved it knows the credential.
fn scram_login(conn: &mut KafkaConnection, mechanism: ScramMechanism, user: &str, password: &str) -> (i16, bool) {
    assert_eq!(handshake(conn, mechanism.mechanism_name()), 0);
    let formatter = ScramFormatter(mechanism);
    let client_first_bare = format!("n={user},r=clientnonce123");
    let (code, server_first) = authenticate(conn, format!("n,,{client_first_bare}").as_bytes());
    if code != 0 {
        return (code, false);
    }
    let server_first = String::from_utf8(server_first.to_vec()).unwrap();
    let fields: HashMap<&str, &str> = server_first.split(',').filter_map(|f| f.split_once('=')).collect();
    let nonce = fields["r"];
    assert!(nonce.starts_with("clientnonce123") && nonce.len() > "clientnonce123".len());
    let salt = BASE64.decode(fields["s"]).unwrap();
    let iterations: u32 = fields["i"].parse().unwrap();
    assert!(iterations >= 4096);
    let salted = formatter.salted_password(password.as_bytes(), &salt, iterations);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let client_key = formatter.client_key(&salted);
    let signature = formatter.hmac(&formatter.stored_key(&client_key), auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let (code, server_final) = authenticate(conn, format!("{without_proof},p={}", BASE64.encode(proof)).as_bytes());
    let expected = formatter.hmac(&formatter.server_key(&salted), auth_message.as_bytes());
    (
        code,
        server_final.as_ref() == format!("v={}", BASE64.encode(expected)).as_bytes(),
    )
}

#[test]
fn tls_with_a_client_certificate_round_trips_records() {
    let broker = start_secure_broker();
    let mut conn = broker
        .tls("SSL", true)
        .expect("TLS handshake with a client certificate");
    create_topic(&broker.addr("PLAINTEXT"), "secure", 1, &[]);
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("secure")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(record_batch([(None, &b"over tls"[..]), (None, &b"twice"[..])]))),
                ]),
        ]);
    let produced = conn.call(9, &produce);
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("secure")))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let fetched = conn.call(11, &fetch);
    let partition = &fetched.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 2);
    let mut records = partition.records.clone().unwrap();
    let batches = kafka_protocol::records::RecordBatchDecoder::decode(&mut records).unwrap();
    let values: Vec<Bytes> = batches.records.into_iter().filter_map(|r| r.value).collect();
    assert_eq!(values, [Bytes::from_static(b"over tls"), Bytes::from_static(b"twice")]);

    // ssl.client.auth=required: a client without a certificate gets no session.
    let refused = broker.tls("SSL", false).and_then(|mut c| {
        if metadata_works(&mut c) {
            Ok(())
        } else {
            Err(std::io::ErrorKind::Other.into())
        }
    });
    assert!(refused.is_err(), "a client without a certificate was served");
    // The client's principal is its certificate's subject, as Java prints it.
    let der = CertificateDer::pem_slice_iter(broker.pki.client_chain.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        rivulet::security::x500::subject_name(&der).as_deref(),
        Some("CN=alice,O=Rivulet\\, Inc")
    );
}

/// ssl.principal.mapping.rules: a certificate whose subject no rule maps is refused, one
/// that a rule maps is served.
#[test]
fn certificates_no_mapping_rule_names_are_refused() {
    let broker = start_secure_broker_with(
        &["listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=nobody,.*$/$1/"],
        None,
    );
    let refused = broker.tls("SSL", true).map(|mut c| metadata_works(&mut c));
    assert!(!refused.unwrap_or(false), "a certificate no rule maps was served");
    // The broker's log is read from its stderr as it comes: wait for the line.
    wait_for(Duration::from_secs(10), "the refusal in the broker's log", || {
        broker
            .broker
            .log()
            .contains("no principal for the client certificate")
            .then_some(())
    });
    let broker = start_secure_broker_with(
        &["listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=([a-z]+),O=.*$/$1/U"],
        None,
    );
    let mut conn = broker.tls("SSL", true).unwrap();
    assert!(metadata_works(&mut conn));
}

#[test]
fn scram_logins_succeed_and_wrong_passwords_are_refused() {
    let broker = start_secure_broker();
    create_scram_user(&broker, "alice", ScramMechanism::Sha512, "alice-pw");
    create_scram_user(&broker, "carol", ScramMechanism::Sha256, "carol-pw");
    let described = broker.plaintext("PLAINTEXT").call(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
            UserName::default().with_name(StrBytes::from_static_str("alice")),
        ])),
    );
    assert_eq!(described.results[0].credential_infos[0].mechanism, 2);
    assert_eq!(described.results[0].credential_infos[0].iterations, 4096);

    for (listener, tls) in [("SASL_SSL", true), ("SASL_PLAINTEXT", false)] {
        let connect = || {
            if tls {
                broker.tls(listener, false).unwrap()
            } else {
                broker.plaintext(listener)
            }
        };
        let mut conn = connect();
        assert_eq!(conn.call(3, &api_versions()).error_code, 0, "ApiVersions comes first");
        assert_eq!(
            scram_login(&mut conn, ScramMechanism::Sha512, "alice", "alice-pw"),
            (0, true)
        );
        assert!(metadata_works(&mut conn), "served once authenticated");
        // After authentication another handshake is an illegal state, answered, not fatal.
        assert_eq!(handshake(&mut conn, "PLAIN"), 34);

        let mut conn = connect();
        assert_eq!(
            scram_login(&mut conn, ScramMechanism::Sha256, "carol", "carol-pw"),
            (0, true)
        );
        assert!(metadata_works(&mut conn));

        for (mechanism, user, password) in [
            (ScramMechanism::Sha512, "alice", "wrong"),
            (ScramMechanism::Sha256, "alice", "alice-pw"),
            (ScramMechanism::Sha512, "nobody", "x"),
        ] {
            let mut conn = connect();
            assert_eq!(
                scram_login(&mut conn, mechanism, user, password).0,
                58,
                "{user} {password}"
            );
            assert!(closed(&mut conn), "the connection closes after a failed login");
        }
    }
    wait_for(Duration::from_secs(10), "the failed logins in the broker's log", || {
        broker.broker.log().contains("authentication failed").then_some(())
    });
}

#[test]
fn plain_logins_succeed_and_wrong_passwords_are_refused() {
    let broker = start_secure_broker();
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(handshake(&mut conn, "PLAIN"), 0);
    assert_eq!(authenticate(&mut conn, b"\0alice\0alice-secret").0, 0);
    assert!(metadata_works(&mut conn));

    let mut conn = broker.tls("SASL_SSL", false).unwrap();
    assert_eq!(handshake(&mut conn, "PLAIN"), 0);
    assert_eq!(authenticate(&mut conn, b"\0bob\0bob-secret").0, 0);
    assert!(metadata_works(&mut conn));

    for token in [
        &b"\0alice\0bob-secret"[..],
        b"\0mallory\0x",
        b"bob\0alice\0alice-secret",
        b"garbage",
    ] {
        let mut conn = broker.plaintext("SASL_PLAINTEXT");
        assert_eq!(handshake(&mut conn, "PLAIN"), 0);
        assert_eq!(authenticate(&mut conn, token).0, 58, "{token:?}");
        assert!(closed(&mut conn));
    }

    // A v0 handshake: the token goes as a bare frame, and success is an empty reply.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    let response = conn.call(
        0,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    assert_eq!(response.error_code, 0);
    let token = b"\0alice\0alice-secret";
    let mut frame = (token.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(token);
    conn.stream().write_all(&frame).unwrap();
    assert!(metadata_works(&mut conn));
}

#[test]
fn nothing_but_the_handshake_is_served_before_authentication() {
    let broker = start_secure_broker();
    // Metadata first: closed unanswered, as Kafka's authenticator does.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert!(!metadata_works(&mut conn));
    // Metadata between handshake and authentication: closed too.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(handshake(&mut conn, "PLAIN"), 0);
    assert!(!metadata_works(&mut conn));
    // A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM, with the enabled list.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    let response = conn.call(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI")),
    );
    assert_eq!(response.error_code, 33);
    let offered: Vec<String> = response.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(closed(&mut conn));
    // A frame claiming more than sasl.server.max.receive.size: closed before it is read.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    conn.stream().write_all(&(600_000i32).to_be_bytes()).unwrap();
    assert!(closed(&mut conn));
    // On a listener without SASL, the SASL requests are an illegal state.
    let mut conn = broker.plaintext("PLAINTEXT");
    assert_eq!(handshake(&mut conn, "PLAIN"), 34);
    let supported = conn.call(3, &api_versions()).api_keys;
    assert!(supported.iter().any(|k| k.api_key == 17 && k.max_version == 1));
    assert!(supported.iter().any(|k| k.api_key == 36 && k.max_version == 2));
}

/// A small deterministic generator, so a failing case can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Random and garbled SASL exchanges (bytes flipped in valid SCRAM and PLAIN messages,
/// random tokens, random frames): none may authenticate, and the broker keeps serving.
#[test]
fn garbled_sasl_exchanges_never_authenticate() {
    let broker = start_secure_broker();
    create_scram_user(&broker, "alice", ScramMechanism::Sha512, "alice-pw");
    let mut rng = XorShift(0x5eed_cafe_f00d_d00d);
    let templates: [&[u8]; 4] = [
        b"n,,n=alice,r=clientnonce123",
        b"\0alice\0alice-secret",
        b"c=biws,r=clientnonce123,p=AAAA",
        b"n,a=alice,n=alice,r=x",
    ];
    for round in 0..60 {
        let mut conn = broker
            .plaintext("SASL_PLAINTEXT")
            .with_read_timeout(Duration::from_secs(10));
        match round % 3 {
            // A random frame instead of a request.
            0 => {
                let frame = rng.bytes(64);
                let mut raw = (frame.len() as i32).to_be_bytes().to_vec();
                raw.extend_from_slice(&frame);
                let _ = conn.stream().write_all(&raw);
            }
            // A mutated template through a valid handshake.
            _ => {
                let mechanism = ["PLAIN", "SCRAM-SHA-512", "SCRAM-SHA-256"][(rng.next() % 3) as usize];
                if handshake(&mut conn, mechanism) != 0 {
                    continue;
                }
                let mut token = templates[(rng.next() % 4) as usize].to_vec();
                for _ in 0..=(rng.next() % 4) {
                    if token.is_empty() {
                        break;
                    }
                    let at = (rng.next() as usize) % token.len();
                    token[at] = rng.next() as u8;
                }
                if rng.next().is_multiple_of(4) {
                    token = rng.bytes(200);
                }
                let Ok(first) = conn.try_call(
                    2,
                    &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
                ) else {
                    continue;
                };
                if first.error_code == 0 {
                    // A mutation may keep a client-first message valid; its final message
                    // is random here, so the login must still fail.
                    let last = rng.bytes(120);
                    if let Ok(r) = conn.try_call(
                        2,
                        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(last)),
                    ) {
                        assert_eq!(r.error_code, 58, "round {round}: a random final message was accepted");
                    }
                }
            }
        }
        assert!(
            !metadata_works(&mut conn),
            "round {round}: served without authenticating"
        );
    }
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(
        scram_login(&mut conn, ScramMechanism::Sha512, "alice", "alice-pw"),
        (0, true)
    );
    assert!(!broker.broker.log().contains("panicked"));
}

/// Waits for the broker to log that a changed store did not load.
fn wait_for_refused_reload(broker: &SecureBroker, within: Duration) {
    wait_for(within, "the refused keystore in the broker's log", || {
        broker
            .broker
            .log()
            .contains("does not load; keeping the previous one")
            .then_some(())
    });
}

/// A keystore file that changes is loaded again: new connections get the new certificate
/// without a restart (checked every 10 s), and a file that does not load keeps the old one.
#[test]
fn a_changed_keystore_file_is_reloaded() {
    let broker = start_secure_broker();
    let addr = broker.addr("SASL_SSL");
    let before = server_certificate(&addr, &[&broker.pki.ca]).unwrap();
    let next = make_pki();
    let keystore = broker._dir.path().join("broker.pem");
    // Half-written: the old certificate stays in use.
    std::fs::write(&keystore, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(server_certificate(&addr, &[&broker.pki.ca]).unwrap(), before);
    wait_for_refused_reload(&broker, Duration::from_secs(10));
    let tmp = broker._dir.path().join("broker.pem.tmp");
    std::fs::write(&tmp, format!("{}{}", next.server_key, next.server_chain)).unwrap();
    std::fs::rename(&tmp, &keystore).unwrap();
    let after = wait_for(Duration::from_secs(25), "the new certificate", || {
        server_certificate(&addr, &[&broker.pki.ca, &next.ca])
            .ok()
            .filter(|c| *c != before)
    });
    let expected = CertificateDer::pem_slice_iter(next.server_chain.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(after, expected.to_vec());
    assert!(
        broker
            .broker
            .log()
            .contains("reloaded the listener's keystore and truststore")
    );
}

/// An encrypted keystore key is decrypted with ssl.key.password; a wrong password stops the
/// start.
#[test]
fn encrypted_keystore_keys_are_decrypted_with_ssl_key_password() {
    let broker = start_secure_broker_with(&[], Some("key-secret"));
    let mut conn = broker.tls("SASL_SSL", false).unwrap();
    assert_eq!(handshake(&mut conn, "PLAIN"), 0);
    assert_eq!(authenticate(&mut conn, b"\0alice\0alice-secret").0, 0);
    assert!(metadata_works(&mut conn));

    let dir = temp_data_dir();
    let pki = make_pki();
    let keystore = dir.path().join("broker.pem");
    let key = encrypt_key(&pki.server_key, "key-secret");
    std::fs::write(&keystore, format!("{key}{}", pki.server_chain)).unwrap();
    let data = dir.path().join("data").display().to_string();
    let location = format!("ssl.keystore.location={}", keystore.display());
    let out = expect_start_failure(
        &[
            "serve",
            "--data-dir",
            &data,
            "--set",
            "listeners=SSL://127.0.0.1:0",
            "--set",
            "ssl.keystore.type=PEM",
            "--set",
            &location,
            "--set",
            "ssl.key.password=wrong",
        ],
        &[],
    );
    assert!(out.contains("cannot decrypt the keystore's private key"), "{out}");
}

#[test]
fn stores_that_cannot_be_read_stop_the_start() {
    let dir = temp_data_dir();
    let data = dir.path().display().to_string();
    let out = expect_start_failure(
        &[
            "serve",
            "--data-dir",
            &data,
            "--set",
            "listeners=SSL://127.0.0.1:0",
            "--set",
            "ssl.keystore.location=/x.jks",
        ],
        &[],
    );
    assert!(
        out.contains("ssl.keystore.password is not"),
        "JKS, Kafka's default type, needs its password: {out}"
    );
    let out = expect_start_failure(
        &[
            "serve",
            "--data-dir",
            &data,
            "--set",
            "listeners=SASL_PLAINTEXT://127.0.0.1:0",
        ],
        &[],
    );
    assert!(out.contains("GSSAPI"), "Kafka's default mechanism is refused: {out}");
    let out = expect_start_failure(
        &[
            "serve",
            "--data-dir",
            &data,
            "--set",
            "listeners=SASL_PLAINTEXT://127.0.0.1:0",
            "--set",
            "sasl.enabled.mechanisms=PLAIN",
        ],
        &[],
    );
    assert!(out.contains("plain.sasl.jaas.config"), "PLAIN needs its users: {out}");
}

/// KIP-368: with connections.max.reauth.ms the SaslAuthenticate answer gives the session's
/// lifetime; the client re-authenticates on the open connection (same mechanism, same
/// principal) and goes on; a different principal is refused and closes the connection, and
/// so does a request after the session expired without re-authentication.
#[test]
fn sessions_expire_and_are_renewed_by_re_authentication() {
    let broker = start_secure_broker_with(&["connections.max.reauth.ms=3000"], None);
    let login = |conn: &mut KafkaConnection, token: &[u8]| {
        assert_eq!(handshake(conn, "PLAIN"), 0);
        let r = conn.call(
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
        );
        (
            r.error_code,
            r.session_lifetime_ms,
            r.error_message.map(|m| m.to_string()),
        )
    };
    let ok = |(code, lifetime, _): (i16, i64, Option<String>)| (code, lifetime);

    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(ok(login(&mut conn, b"\0alice\0alice-secret")), (0, 3000));
    assert!(metadata_works(&mut conn));
    // Renewed (at most once a second, as on Kafka) across the end of the first session.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(ok(login(&mut conn, b"\0alice\0alice-secret")), (0, 3000));
        assert!(metadata_works(&mut conn));
    }

    // Another principal cannot take over the connection.
    std::thread::sleep(Duration::from_millis(1100));
    let (code, _, message) = login(&mut conn, b"\0bob\0bob-secret");
    assert_eq!(code, 58);
    assert_eq!(
        message.as_deref(),
        Some("Cannot change principals during re-authentication from User.alice: User.bob")
    );
    assert!(closed(&mut conn));

    // Not renewed: the first request after the session ended closes the connection.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(login(&mut conn, b"\0bob\0bob-secret").0, 0);
    std::thread::sleep(Duration::from_millis(3300));
    assert!(!metadata_works(&mut conn));
    wait_for(Duration::from_secs(5), "the expiry's log line", || {
        broker.broker.log().contains("its SASL session expired").then_some(())
    });

    // A re-authentication must keep the mechanism.
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(login(&mut conn, b"\0alice\0alice-secret").0, 0);
    assert_eq!(handshake(&mut conn, "SCRAM-SHA-256"), 0);
    assert!(
        conn.try_call(
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"n,,n=alice,r=abc"))
        )
        .is_err(),
        "the connection closes"
    );
}

/// Without connections.max.reauth.ms a session does not end, as on Kafka.
#[test]
fn sessions_do_not_expire_by_default() {
    let broker = start_secure_broker();
    let mut conn = broker.plaintext("SASL_PLAINTEXT");
    assert_eq!(handshake(&mut conn, "PLAIN"), 0);
    let r = conn.call(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret")),
    );
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 0));
}

/// Runs keytool or openssl in `dir`. A missing tool fails the test rather than skip it: CI
/// installs Java and OpenSSL.
fn store_tool(dir: &Path, program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} makes the JKS and PKCS12 test stores; install a JDK and OpenSSL: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The broker's key and chain of `pki` as `file` in `dir`, a keystore of `kind`: "PKCS12"
/// (OpenSSL 3's default encryption), "PKCS12-legacy" (3DES and RC2, as Java 8 and OpenSSL 1.1
/// wrote them) or "JKS" (keytool, with a key password of its own). Returns the settings.
fn write_keystore(dir: &Path, pki: &Pki, kind: &str, file: &str) -> Vec<String> {
    std::fs::write(dir.join("server-chain.pem"), &pki.server_chain).unwrap();
    std::fs::write(dir.join("server-key.pem"), &pki.server_key).unwrap();
    let p12 = if kind == "JKS" { "export.p12" } else { file };
    let mut export = vec![
        "pkcs12",
        "-export",
        "-in",
        "server-chain.pem",
        "-inkey",
        "server-key.pem",
        "-name",
        "broker",
        "-out",
        p12,
        "-passout",
        "pass:store-secret",
    ];
    if kind == "PKCS12-legacy" {
        export.push("-legacy");
    }
    store_tool(dir, "openssl", &export);
    let location = format!("ssl.keystore.location={}", dir.join(file).display());
    if kind != "JKS" {
        return vec![
            "ssl.keystore.type=PKCS12".into(),
            location,
            "ssl.keystore.password=store-secret".into(),
        ];
    }
    store_tool(
        dir,
        "keytool",
        &[
            "-importkeystore",
            "-noprompt",
            "-srckeystore",
            p12,
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "store-secret",
            "-destkeystore",
            file,
            "-deststoretype",
            "JKS",
            "-deststorepass",
            "store-secret",
            "-destkeypass",
            "key-secret",
        ],
    );
    vec![
        "ssl.keystore.type=JKS".into(),
        location,
        "ssl.keystore.password=store-secret".into(),
        "ssl.key.password=key-secret".into(),
    ]
}

/// The CA of `pki` as a trusted certificate entry in a keytool truststore of `kind`.
fn write_truststore(dir: &Path, pki: &Pki, kind: &str) -> Vec<String> {
    std::fs::write(dir.join("ca.pem"), &pki.ca).unwrap();
    let file = format!("truststore.{}", kind.to_ascii_lowercase());
    store_tool(
        dir,
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-file",
            "ca.pem",
            "-keystore",
            &file,
            "-storetype",
            kind,
            "-storepass",
            "trust-secret",
        ],
    );
    vec![
        format!("ssl.truststore.type={kind}"),
        format!("ssl.truststore.location={}", dir.join(file).display()),
        "ssl.truststore.password=trust-secret".into(),
    ]
}

fn start_broker_with_java_stores(keystore: &str, truststore: &str) -> SecureBroker {
    let dir = temp_data_dir();
    let pki = make_pki();
    let file = if keystore == "JKS" { "broker.jks" } else { "broker.p12" };
    let mut stores = write_keystore(dir.path(), &pki, keystore, file);
    stores.extend(write_truststore(dir.path(), &pki, truststore));
    start_secure_broker_on(dir, pki, &stores, &[])
}

fn leaf_of(chain_pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// Client certificates against a JKS or PKCS12 truststore (ssl.client.auth=required on the
/// SSL listener): the broker's CA's client is served, one of another CA and one without a
/// certificate are not.
fn assert_client_certificates_checked(broker: &SecureBroker) {
    let mut conn = broker.tls("SSL", true).expect("a trusted client certificate");
    assert!(metadata_works(&mut conn));
    let stranger = make_pki();
    for config in [broker.tls_config_as(Some(&stranger)), broker.tls_config(false)] {
        let refused = broker.tls_with("SSL", config).map(|mut c| metadata_works(&mut c));
        assert!(!refused.unwrap_or(false), "an untrusted client was served");
    }
}

/// JKS and PKCS12 keystores (OpenSSL 3's AES, the legacy 3DES/RC2 of Java 8 and OpenSSL 1.1,
/// keytool's JKS with its own key password) serve TLS to a client that verifies the broker's
/// certificate, and JKS and PKCS12 truststores decide which client certificates are accepted.
#[test]
fn jks_and_pkcs12_stores_serve_tls() {
    for (keystore, truststore) in [("JKS", "PKCS12"), ("PKCS12-legacy", "JKS")] {
        let broker = start_broker_with_java_stores(keystore, truststore);
        let served = server_certificate(&broker.addr("SASL_SSL"), &[&broker.pki.ca]).unwrap();
        assert_eq!(served, leaf_of(&broker.pki.server_chain), "{keystore}");
        let mut conn = broker.tls("SASL_SSL", false).unwrap();
        assert_eq!(handshake(&mut conn, "PLAIN"), 0);
        assert_eq!(authenticate(&mut conn, b"\0alice\0alice-secret").0, 0);
        assert!(metadata_works(&mut conn));
        assert_client_certificates_checked(&broker);
    }
}

/// A PKCS12 keystore that changes is loaded again, as a PEM one is: one that does not load
/// (corrupt here) keeps the old certificate in use.
#[test]
fn a_changed_pkcs12_keystore_is_reloaded() {
    let broker = start_broker_with_java_stores("PKCS12", "JKS");
    assert_client_certificates_checked(&broker);
    let addr = broker.addr("SASL_SSL");
    let before = server_certificate(&addr, &[&broker.pki.ca]).unwrap();
    assert_eq!(before, leaf_of(&broker.pki.server_chain));
    let dir = broker._dir.path();
    let keystore = dir.join("broker.p12");
    let mut corrupt = std::fs::read(&keystore).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&keystore, &corrupt).unwrap();
    wait_for_refused_reload(&broker, Duration::from_secs(25));
    assert_eq!(server_certificate(&addr, &[&broker.pki.ca]).unwrap(), before);

    let next = make_pki();
    write_keystore(dir, &next, "PKCS12", "next.p12");
    std::fs::rename(dir.join("next.p12"), &keystore).unwrap();
    let after = wait_for(Duration::from_secs(25), "the new certificate", || {
        server_certificate(&addr, &[&broker.pki.ca, &next.ca])
            .ok()
            .filter(|c| *c != before)
    });
    assert_eq!(after, leaf_of(&next.server_chain));
}

/// A wrong store or key password, an unknown store type or a corrupt store stops the start
/// with its reason.
#[test]
fn java_stores_that_cannot_be_read_stop_the_start() {
    let dir = temp_data_dir();
    let pki = make_pki();
    let jks = write_keystore(dir.path(), &pki, "JKS", "broker.jks");
    let p12 = write_keystore(dir.path(), &pki, "PKCS12", "broker.p12");
    std::fs::write(dir.path().join("corrupt.p12"), b"\x30\x82\x01\x00garbage").unwrap();
    let corrupt = format!("ssl.keystore.location={}", dir.path().join("corrupt.p12").display());
    let data = dir.path().join("data").display().to_string();
    let refusal = |settings: &[String]| {
        let mut args = vec!["serve".to_string(), "--data-dir".into(), data.clone()];
        for s in std::iter::once(&"listeners=SSL://127.0.0.1:0".to_string()).chain(settings) {
            args.push("--set".into());
            args.push(s.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        expect_start_failure(&args, &[])
    };
    let with = |base: &[String], changes: &[&str]| {
        let mut settings = base.to_vec();
        for change in changes {
            let key = change.split('=').next().unwrap();
            settings.retain(|s| s.split('=').next() != Some(key));
            settings.push(change.to_string());
        }
        settings
    };
    let without = |base: &[String], key: &str| {
        let mut settings = base.to_vec();
        settings.retain(|s| s.split('=').next() != Some(key));
        settings
    };
    let cases = [
        (
            with(&jks, &["ssl.keystore.password=wrong-secret"]),
            "integrity check failed",
        ),
        // Without ssl.key.password the store password is tried on the key, as on Java.
        (
            without(&jks, "ssl.key.password"),
            "cannot recover the private key broker",
        ),
        (
            with(&p12, &["ssl.keystore.password=wrong-secret"]),
            "integrity check failed",
        ),
        (
            with(&p12, &["ssl.keystore.type=JCEKS"]),
            "ssl.keystore.type=JCEKS is not supported",
        ),
        (with(&p12, &[&corrupt]), "not a readable PKCS12 store"),
        (without(&p12, "ssl.keystore.password"), "ssl.keystore.password is not"),
    ];
    for (settings, reason) in cases {
        let out = refusal(&settings);
        assert!(out.contains(reason) && !out.contains("panicked"), "{settings:?}: {out}");
    }
}
