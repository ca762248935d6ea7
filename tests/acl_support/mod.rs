//! A broker with the StandardAuthorizer for the ACL tests: a PLAINTEXT listener whose
//! `User:ANONYMOUS` is a super user (the admin), and a SASL_PLAINTEXT listener where `alice`
//! and `bob` log in with PLAIN and get only what ACLs give them. Included by the ACL test
//! files with `#[path]`, beside `common`; each uses part of it (hence `allow(dead_code)` there).

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{CreateAclsRequest, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;

use crate::common::protocol::KafkaConnection;
use crate::common::{BrokerProcess, listener_ports, temp_data_dir};

const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#;

pub const ALICE: (&str, &str) = ("alice", "alice-secret");
pub const BOB: (&str, &str) = ("bob", "bob-secret");

/// Kafka's codes, for ACLs and filters.
pub mod code {
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

pub struct AclBroker {
    pub dir: tempfile::TempDir,
    pub broker: BrokerProcess,
    ports: HashMap<String, u16>,
}

/// Starts the broker; `extra` are more `key=value` settings.
pub fn start_acl_broker(extra: &[&str]) -> AclBroker {
    let dir = temp_data_dir();
    let broker = start_on(&dir, extra);
    let ports = listener_ports(&broker, 2);
    AclBroker { dir, broker, ports }
}

fn start_on(dir: &tempfile::TempDir, extra: &[&str]) -> BrokerProcess {
    let settings = [
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0".to_string(),
        "sasl.enabled.mechanisms=PLAIN".into(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
        "super.users=User:ANONYMOUS".into(),
    ];
    let mut args: Vec<String> = Vec::new();
    for s in settings.iter().map(String::as_str).chain(extra.iter().copied()) {
        args.push("--set".into());
        args.push(s.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    BrokerProcess::start(&dir.path().join("data"), &args)
}

impl AclBroker {
    /// The super user's listener.
    pub fn admin_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports["PLAINTEXT"])
    }

    /// The listener where users log in.
    pub fn user_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports["SASL_PLAINTEXT"])
    }

    /// A protocol connection as the super user.
    pub fn admin(&self) -> KafkaConnection {
        KafkaConnection::connect(&self.admin_bootstrap())
    }

    /// A protocol connection logged in as `user` with PLAIN.
    pub fn login(&self, (user, password): (&str, &str)) -> KafkaConnection {
        let mut conn = KafkaConnection::connect(&self.user_bootstrap());
        let handshake = conn.call(
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        assert_eq!(handshake.error_code, 0, "SaslHandshake PLAIN");
        let token = format!("\0{user}\0{password}");
        let r = conn.call(
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token.into_bytes())),
        );
        assert_eq!(r.error_code, 0, "PLAIN login of {user}: {:?}", r.error_message);
        conn
    }

    /// librdkafka settings for `user` on the SASL listener.
    pub fn client_config(&self, (user, password): (&str, &str)) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.user_bootstrap())
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", user)
            .set("sasl.password", password)
            .set("broker.address.family", "v4");
        config
    }

    /// Restarts the broker on the same data directory (and new ports).
    pub fn restart(&mut self, extra: &[&str]) {
        self.broker.terminate();
        self.broker = start_on(&self.dir, extra);
        self.ports = listener_ports(&self.broker, 2);
    }
}

/// An ALLOW (or DENY) ACL for `principal` from any host.
pub fn acl(resource_type: i8, name: &str, pattern: i8, principal: &str, operation: i8, permission: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_string(name.into()))
        .with_resource_pattern_type(pattern)
        .with_principal(StrBytes::from_string(principal.into()))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

/// Creates ACLs as the super user, asserting each was created.
pub fn create_acls(broker: &AclBroker, acls: Vec<AclCreation>) {
    let r = broker
        .admin()
        .call(3, &CreateAclsRequest::default().with_creations(acls));
    for result in &r.results {
        assert_eq!(result.error_code, 0, "CreateAcls: {:?}", result.error_message);
    }
}
