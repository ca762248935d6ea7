//! TLS for SSL and SASL_SSL listeners (Kafka's `SslFactory`): the server's key and
//! certificate chain and the CAs trusted for client certificates, read from JKS, PKCS12 or
//! PEM stores as Kafka's `ssl.keystore.*` and `ssl.truststore.*` keys describe them (each also
//! under a `listener.name.<listener>.` prefix), client authentication per `ssl.client.auth`,
//! and a reload when a keystore or truststore file changes.
//!
//! JKS and PKCS12 stores are read by [`keystore`]. A PEM keystore's encrypted PKCS#8 key is
//! decrypted with `ssl.key.password`, as Kafka does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::{keystore, listener_value};
use crate::config::BrokerConfig;

/// Kafka's `ssl.client.auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

pub struct SslFactory {
    listener: String,
    settings: Settings,
    server_config: RwLock<Arc<ServerConfig>>,
    /// The files read, with the modification time they had when read.
    watched: parking_lot::Mutex<Vec<(PathBuf, Option<SystemTime>)>>,
}

/// What a listener's ssl.* keys say, resolved once.
#[derive(Clone)]
struct Settings {
    keystore_type: StoreType,
    keystore_location: Option<String>,
    keystore_chain: Option<String>,
    keystore_key: Option<String>,
    keystore_password: Option<String>,
    key_password: Option<String>,
    truststore_type: StoreType,
    truststore_location: Option<String>,
    truststore_certificates: Option<String>,
    truststore_password: Option<String>,
    client_auth: ClientAuth,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

fn refuse<T>(listener: &str, why: impl std::fmt::Display) -> Result<T, String> {
    Err(format!("listener {listener}: {why}"))
}

/// `ssl.keystore.type` and `ssl.truststore.type`: PEM, or a Java store (JKS or PKCS12, told
/// apart by the file's content, as Java reads either under either type). Kafka's default is
/// JKS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreType {
    Pem,
    Java,
}

fn store_type(listener: &str, key: &str, value: Option<String>) -> Result<StoreType, String> {
    let value = value.unwrap_or_else(|| "JKS".into());
    match value.to_ascii_uppercase().as_str() {
        "PEM" => Ok(StoreType::Pem),
        "JKS" | "PKCS12" => Ok(StoreType::Java),
        _ => refuse(
            listener,
            format!("{key}={value} is not supported: JKS, PKCS12 and PEM stores are read"),
        ),
    }
}

impl Settings {
    fn read(config: &BrokerConfig, listener: &str, sasl: bool) -> Result<Settings, String> {
        let get = |key: &str| listener_value(config, listener, key);
        let keystore_type = store_type(listener, "ssl.keystore.type", get("ssl.keystore.type"))?;
        let truststore_type = store_type(listener, "ssl.truststore.type", get("ssl.truststore.type"))?;
        let keystore_location = get("ssl.keystore.location");
        let keystore_chain = get("ssl.keystore.certificate.chain");
        let keystore_key = get("ssl.keystore.key");
        let keystore_password = get("ssl.keystore.password");
        match (&keystore_location, &keystore_chain, &keystore_key) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (None, None, None) => {
                return refuse(
                    listener,
                    "a TLS listener needs ssl.keystore.location, or ssl.keystore.certificate.chain with ssl.keystore.key (ssl.keystore.type=PEM)",
                );
            }
            _ => {
                return refuse(
                    listener,
                    "set either ssl.keystore.location or both ssl.keystore.certificate.chain and ssl.keystore.key",
                );
            }
        }
        // What Kafka's DefaultSslEngineFactory accepts of each store's keys.
        if keystore_type == StoreType::Java && keystore_key.is_some() {
            return refuse(
                listener,
                "ssl.keystore.key and ssl.keystore.certificate.chain are read only with ssl.keystore.type=PEM",
            );
        }
        if keystore_type == StoreType::Pem && keystore_password.is_some() {
            return refuse(
                listener,
                "ssl.keystore.password cannot be specified with PEM format, only ssl.key.password may be specified",
            );
        }
        if keystore_type == StoreType::Java && keystore_password.is_none() {
            return refuse(
                listener,
                "ssl.keystore.location is set but ssl.keystore.password is not (a JKS or PKCS12 keystore needs its password)",
            );
        }
        let truststore_location = get("ssl.truststore.location");
        let truststore_certificates = get("ssl.truststore.certificates");
        let truststore_password = get("ssl.truststore.password");
        if truststore_location.is_some() && truststore_certificates.is_some() {
            return refuse(
                listener,
                "set either ssl.truststore.location or ssl.truststore.certificates",
            );
        }
        if truststore_type == StoreType::Java && truststore_certificates.is_some() {
            return refuse(
                listener,
                "ssl.truststore.certificates is read only with ssl.truststore.type=PEM",
            );
        }
        if truststore_type == StoreType::Pem && truststore_password.is_some() {
            return refuse(listener, "ssl.truststore.password cannot be specified for PEM format");
        }
        if truststore_location.is_none() && truststore_password.is_some() {
            return refuse(
                listener,
                "ssl.truststore.password is set but ssl.truststore.location is not",
            );
        }
        // KIP-684: a SASL_SSL listener asks for client certificates only when its own
        // listener-prefixed ssl.client.auth says so.
        let client_auth = if sasl {
            config
                .get(&super::listener_key(listener, "ssl.client.auth"))
                .map(str::to_string)
        } else {
            get("ssl.client.auth")
        };
        let client_auth = match client_auth.as_deref().unwrap_or("none") {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            other => {
                return refuse(
                    listener,
                    format!("ssl.client.auth={other}: expected none, requested or required"),
                );
            }
        };
        if client_auth != ClientAuth::None && truststore_location.is_none() && truststore_certificates.is_none() {
            return refuse(
                listener,
                "ssl.client.auth asks for client certificates, so a truststore (ssl.truststore.location, or ssl.truststore.certificates in PEM) is needed",
            );
        }
        let mut versions = Vec::new();
        let protocols = get("ssl.enabled.protocols").unwrap_or_else(|| "TLSv1.2,TLSv1.3".into());
        for p in protocols.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p {
                "TLSv1.3" => versions.push(&rustls::version::TLS13),
                "TLSv1.2" => versions.push(&rustls::version::TLS12),
                other => tracing::warn!(
                    listener,
                    protocol = other,
                    "ssl.enabled.protocols names a protocol older than TLSv1.2; it is not offered"
                ),
            }
        }
        if versions.is_empty() {
            return refuse(
                listener,
                format!("ssl.enabled.protocols={protocols} leaves no protocol (TLSv1.2 and TLSv1.3 are served)"),
            );
        }
        Ok(Settings {
            keystore_type,
            keystore_location,
            keystore_chain,
            keystore_key,
            keystore_password,
            key_password: get("ssl.key.password"),
            truststore_type,
            truststore_location,
            truststore_certificates,
            truststore_password,
            client_auth,
            versions,
        })
    }

    fn files(&self) -> Vec<PathBuf> {
        [&self.keystore_location, &self.truststore_location]
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .collect()
    }

    fn build(&self, listener: &str) -> Result<ServerConfig, String> {
        let read =
            |path: &str| std::fs::read(path).map_err(|e| format!("listener {listener}: cannot read {path}: {e}"));
        let (chain, key) = match (&self.keystore_location, &self.keystore_chain, &self.keystore_key) {
            (Some(path), _, _) if self.keystore_type == StoreType::Java => {
                let store_password = self.keystore_password.as_deref().unwrap_or_default();
                // As Java's key manager is handed it: the key password, else the store's.
                let key_password = self.key_password.as_deref().unwrap_or(store_password);
                keystore::key_entry(&read(path)?, store_password, key_password)
                    .map_err(|e| format!("listener {listener}: keystore {path}: {e}"))?
            }
            (Some(path), _, _) => {
                let bytes = read(path)?;
                pem_key_entry(&bytes, &bytes, self.key_password.as_deref())
                    .map_err(|e| format!("listener {listener}: {e}"))?
            }
            (None, Some(chain), Some(key)) => {
                pem_key_entry(chain.as_bytes(), key.as_bytes(), self.key_password.as_deref())
                    .map_err(|e| format!("listener {listener}: {e}"))?
            }
            _ => return refuse(listener, "no keystore"),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| format!("listener {listener}: {e}"))?;
        let builder = if self.client_auth == ClientAuth::None {
            builder.with_no_client_auth()
        } else {
            let trusted = match (&self.truststore_location, &self.truststore_certificates) {
                (Some(path), _) if self.truststore_type == StoreType::Java => {
                    keystore::trusted_certificates(&read(path)?, self.truststore_password.as_deref())
                        .map_err(|e| format!("{path}: {e}"))
                }
                (Some(path), _) => pem_certificates(&read(path)?),
                (None, Some(pem)) => pem_certificates(pem.as_bytes()),
                _ => return refuse(listener, "no truststore"),
            }
            .map_err(|e| format!("listener {listener}: truststore: {e}"))?;
            let mut roots = RootCertStore::empty();
            for cert in trusted {
                roots
                    .add(cert)
                    .map_err(|e| format!("listener {listener}: truststore certificate: {e}"))?;
            }
            if roots.is_empty() {
                return refuse(listener, "the truststore holds no certificate");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if self.client_auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("listener {listener}: {e}"))?)
        };
        builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("listener {listener}: keystore key and certificate: {e}"))
    }
}

fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// A PEM keystore's chain and key (one file holding both, or the two inline values).
fn pem_key_entry(
    chain_pem: &[u8],
    key_pem: &[u8],
    key_password: Option<&str>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = pem_certificates(chain_pem).map_err(|e| format!("keystore certificates: {e}"))?;
    if chain.is_empty() {
        return Err("the keystore holds no certificate".into());
    }
    Ok((chain, private_key(key_pem, key_password)?))
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The keystore's private key: an encrypted PKCS#8 block decrypted with `ssl.key.password`
/// (PBES2, as OpenSSL and Java write it), else an unencrypted key. As on Kafka, a password
/// with an unencrypted key is an error, and so is an encrypted key without one.
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    let Some(start) = text.find(ENCRYPTED_BEGIN) else {
        if password.is_some() {
            return Err("ssl.key.password is set but the keystore's private key is not encrypted".into());
        }
        return PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("keystore private key: {e}"));
    };
    let Some(password) = password else {
        return Err("the keystore's private key is encrypted: set ssl.key.password".into());
    };
    let end = text[start..]
        .find(ENCRYPTED_END)
        .map(|e| start + e + ENCRYPTED_END.len())
        .ok_or("the keystore's encrypted private key has no end line")?;
    let (_, document) =
        pkcs8::Document::from_pem(&text[start..end]).map_err(|e| format!("keystore encrypted private key: {e}"))?;
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
        .map_err(|e| format!("keystore encrypted private key: {e}"))?;
    let key = encrypted
        .decrypt(password)
        .map_err(|e| format!("cannot decrypt the keystore's private key with ssl.key.password: {e}"))?;
    Ok(PrivateKeyDer::Pkcs8(key.as_bytes().to_vec().into()))
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl SslFactory {
    /// Reads and checks the listener's stores; any problem stops the start with its reason.
    pub fn new(config: &BrokerConfig, listener: &str, sasl: bool) -> Result<SslFactory, String> {
        let settings = Settings::read(config, listener, sasl)?;
        let watched = settings
            .files()
            .into_iter()
            .map(|p| (modified(&p), p))
            .map(|(m, p)| (p, m))
            .collect();
        let server_config = settings.build(listener)?;
        Ok(SslFactory {
            listener: listener.to_string(),
            settings,
            server_config: RwLock::new(Arc::new(server_config)),
            watched: parking_lot::Mutex::new(watched),
        })
    }

    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }

    /// The acceptor for a new connection, with the stores as last loaded.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config.read().clone())
    }

    /// Loads the stores again if a keystore or truststore file changed since last read;
    /// a store that does not load (a half-written file) keeps the previous one in use.
    /// Returns whether new stores were loaded.
    pub fn reload_if_changed(&self) -> bool {
        let mut watched = self.watched.lock();
        if watched.iter().all(|(p, m)| modified(p) == *m) {
            return false;
        }
        match self.settings.build(&self.listener) {
            Ok(config) => {
                *self.server_config.write() = Arc::new(config);
                for (p, m) in watched.iter_mut() {
                    *m = modified(p);
                }
                tracing::info!(listener = %self.listener, "reloaded the listener's keystore and truststore");
                true
            }
            Err(e) => {
                tracing::warn!(listener = %self.listener, error = %e, "keystore or truststore changed but does not load; keeping the previous one");
                false
            }
        }
    }
}

/// How often keystore and truststore files are checked for changes.
pub const STORE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Reloads each listener's stores when their files change, until `stop` turns true.
pub fn watch_stores(factories: Vec<Arc<SslFactory>>, mut stop: tokio::sync::watch::Receiver<bool>) {
    if factories.iter().all(|f| f.watched.lock().is_empty()) {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(STORE_CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            for factory in &factories {
                let factory = factory.clone();
                // Reading and parsing files blocks.
                let _ = tokio::task::spawn_blocking(move || factory.reload_if_changed()).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::pkcs5::pbes2;

    /// An rcgen key encrypted as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it.
    fn encrypted_key(password: &str) -> (String, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let der = key.serialize_der();
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7; 16]).unwrap();
        let encrypted = pkcs8::PrivateKeyInfo::try_from(der.as_slice())
            .unwrap()
            .encrypt_with_params(params, password)
            .unwrap();
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .unwrap();
        (pem.to_string(), der)
    }

    #[test]
    fn encrypted_keys_need_their_password_and_plain_ones_none() {
        let (pem, der) = encrypted_key("key-secret");
        let key = private_key(pem.as_bytes(), Some("key-secret")).unwrap();
        assert_eq!(key.secret_der(), der.as_slice());
        assert!(
            private_key(pem.as_bytes(), Some("wrong"))
                .unwrap_err()
                .contains("cannot decrypt")
        );
        assert!(
            private_key(pem.as_bytes(), None)
                .unwrap_err()
                .contains("set ssl.key.password")
        );
        let plain = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert!(private_key(plain.as_bytes(), None).is_ok());
        assert!(
            private_key(plain.as_bytes(), Some("x"))
                .unwrap_err()
                .contains("not encrypted")
        );
    }
}
