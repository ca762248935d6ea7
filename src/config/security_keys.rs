//! The broker keys of TLS and SASL (see `crate::security`), under Kafka's names and defaults.
//! Each `ssl.*` and `sasl.*` key here may also be set for one listener as
//! `listener.name.<listener>.<key>`, and PLAIN's JAAS entry as
//! `listener.name.<listener>.plain.sasl.jaas.config`, as on Kafka.

use super::{ConfigDef, ConfigType as T, Validator as V, def};

pub static SECURITY_CONFIGS: &[ConfigDef] = &[
    def(
        "authorizer.class.name",
        T::String,
        Some(""),
        V::OneOf(&["", crate::auth::STANDARD_AUTHORIZER]),
        "Empty for no authorization, or org.apache.kafka.metadata.authorizer.StandardAuthorizer for ACLs kept in the metadata log.",
    ),
    def(
        "super.users",
        T::String,
        Some(""),
        V::Any,
        "Principals, separated by semicolons (User:admin;User:ops), that the authorizer allows everything.",
    ),
    def(
        "allow.everyone.if.no.acl.found",
        T::Boolean,
        Some("false"),
        V::Any,
        "Whether the authorizer allows an operation on a resource that no ACL covers.",
    ),
    def(
        "ssl.keystore.type",
        T::String,
        Some("JKS"),
        V::Any,
        "Format of the keystore; only PEM is read, so a TLS listener needs ssl.keystore.type=PEM.",
    ),
    def(
        "ssl.keystore.location",
        T::String,
        None,
        V::Any,
        "PEM file with the listener's private key (PKCS#8, encrypted or not, PKCS#1 or SEC1) and certificate chain; reloaded when the file changes.",
    ),
    def(
        "ssl.keystore.certificate.chain",
        T::Password,
        None,
        V::Any,
        "The certificate chain in PEM, inline, with ssl.keystore.key.",
    ),
    def(
        "ssl.keystore.key",
        T::Password,
        None,
        V::Any,
        "The private key in PEM, inline, with ssl.keystore.certificate.chain.",
    ),
    def(
        "ssl.keystore.password",
        T::Password,
        None,
        V::Any,
        "Refused with PEM stores, as on Kafka.",
    ),
    def(
        "ssl.key.password",
        T::Password,
        None,
        V::Any,
        "Password of an encrypted PKCS#8 keystore key (PBES2, as OpenSSL and Java write it); with an unencrypted key it stops the start, as on Kafka.",
    ),
    def(
        "ssl.truststore.type",
        T::String,
        Some("JKS"),
        V::Any,
        "Format of the truststore; only PEM is read.",
    ),
    def(
        "ssl.truststore.location",
        T::String,
        None,
        V::Any,
        "PEM file of the CA certificates client certificates are checked against; reloaded when the file changes.",
    ),
    def(
        "ssl.truststore.certificates",
        T::Password,
        None,
        V::Any,
        "The trusted CA certificates in PEM, inline.",
    ),
    def(
        "ssl.truststore.password",
        T::Password,
        None,
        V::Any,
        "Refused with PEM stores, as on Kafka.",
    ),
    def(
        "ssl.client.auth",
        T::String,
        Some("none"),
        V::OneOf(&["required", "requested", "none"]),
        "Whether SSL listeners ask clients for a certificate; SASL_SSL listeners only heed the listener-prefixed key (KIP-684).",
    ),
    def(
        "ssl.enabled.protocols",
        T::List,
        Some("TLSv1.2,TLSv1.3"),
        V::Any,
        "TLS versions offered; versions before TLSv1.2 are not offered.",
    ),
    def(
        "ssl.principal.mapping.rules",
        T::String,
        Some("DEFAULT"),
        V::Any,
        "How a client certificate's subject (RFC 2253) becomes a principal name: DEFAULT or RULE:pattern/replacement/[LU] rules, as on Kafka.",
    ),
    def(
        "sasl.enabled.mechanisms",
        T::List,
        Some("GSSAPI"),
        V::Any,
        "SASL mechanisms of SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (GSSAPI and OAUTHBEARER stop the start).",
    ),
    def(
        "sasl.jaas.config",
        T::Password,
        None,
        V::Any,
        "JAAS entry; PLAIN takes its users from a PlainLoginModule entry's user_<name>=\"<password>\" options.",
    ),
    def(
        "sasl.server.max.receive.size",
        T::Int,
        Some("524288"),
        V::AtLeast(1),
        "Largest frame read from a client before it has authenticated.",
    ),
    def(
        "connection.failed.authentication.delay.ms",
        T::Int,
        Some("100"),
        V::AtLeast(0),
        "How long a connection that failed to authenticate waits before it is closed.",
    ),
];
