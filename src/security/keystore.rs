//! JKS and PKCS12 keystores and truststores, read as Java's `KeyStore` loads them for Kafka's
//! `DefaultSslEngineFactory`.
//!
//! - The format is told by the file's first bytes, whatever `ssl.*.type` says among JKS and
//!   PKCS12: Java (9 and later) reads either file under either type.
//! - A keystore's private key entry is decrypted with `ssl.key.password`, else the store
//!   password, as Kafka hands Java's key manager. A store with several private key entries is
//!   refused: Java would pick one per handshake by key type, and a listener here serves one.
//! - A truststore trusts its trusted certificate entries and the first certificate of each
//!   private key entry, as Java's trust manager does. Without a password a JKS store is read
//!   without its integrity check and a PKCS12 store without its MAC and encrypted parts, as
//!   Java reads them.
//! - PKCS12: the MAC (HMAC with SHA-1 or SHA-2, key by the PKCS#12 KDF), PBES2 with PBKDF2 and
//!   AES-CBC (Java 17, OpenSSL 3) and the legacy PKCS#12 schemes with 3DES and RC2 (Java 8,
//!   OpenSSL 1.1). PKCS12 certificates count as trusted entries only with Java's trusted
//!   certificate attribute, as `keytool -importcert` writes it.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyInit, KeyIvInit};
use hmac::{Mac, SimpleHmac};
use pkcs8::ObjectIdentifier;
use pkcs8::der::Decode;
use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::x500::{self, Element, element, elements};

/// A private key entry: its alias, its key as stored, and its certificate chain, leaf first.
struct KeyEntry {
    alias: String,
    key: StoredKey,
    chain: Vec<Vec<u8>>,
}

enum StoredKey {
    /// A JKS key: an `EncryptedPrivateKeyInfo` with Sun's proprietary key protector.
    Jks(Vec<u8>),
    /// A PKCS12 `pkcs8ShroudedKeyBag`: an `EncryptedPrivateKeyInfo`.
    Shrouded(Vec<u8>),
    /// A PKCS12 `keyBag`: a plain PKCS#8 `PrivateKeyInfo`.
    Plain(Vec<u8>),
}

#[derive(Default)]
struct Store {
    keys: Vec<KeyEntry>,
    trusted: Vec<Vec<u8>>,
}

/// The keystore's private key and its certificate chain, leaf first.
pub fn key_entry(
    bytes: &[u8],
    store_password: &str,
    key_password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let mut store = read(bytes, Some(store_password))?;
    let entry = match store.keys.len() {
        1 => store.keys.remove(0),
        0 => return Err("the keystore holds no private key entry".into()),
        _ => {
            let aliases: Vec<&str> = store.keys.iter().map(|k| k.alias.as_str()).collect();
            return Err(format!(
                "the keystore holds {} private key entries ({}); a listener serves one: keep only its entry",
                aliases.len(),
                aliases.join(", ")
            ));
        }
    };
    if entry.chain.is_empty() {
        return Err(format!(
            "the keystore's private key entry {} has no certificate",
            entry.alias
        ));
    }
    let cannot = |why: &str| format!("cannot recover the private key {}: {why}", entry.alias);
    let key = match &entry.key {
        StoredKey::Plain(der) => der.clone(),
        StoredKey::Jks(der) => jks_key(der, key_password).map_err(|e| cannot(&e))?,
        StoredKey::Shrouded(der) => {
            let (algorithm, _, data) = encrypted_private_key_info(der).ok_or_else(|| cannot("it is not readable"))?;
            decrypt(algorithm, data, key_password).map_err(|e| cannot(&e))?
        }
    };
    // A wrong password that still unpads leaves bytes that are no PKCS#8 key.
    if single(&key).is_none_or(|(tag, _, _)| tag != SEQUENCE) {
        return Err(cannot(
            "the key password (ssl.key.password, else ssl.keystore.password) is wrong",
        ));
    }
    let chain = entry.chain.into_iter().map(CertificateDer::from).collect();
    Ok((chain, PrivateKeyDer::Pkcs8(key.into())))
}

/// The certificates a truststore trusts: its trusted certificate entries and the first
/// certificate of each private key entry.
pub fn trusted_certificates(bytes: &[u8], password: Option<&str>) -> Result<Vec<CertificateDer<'static>>, String> {
    let store = read(bytes, password)?;
    let mut trusted = store.trusted;
    trusted.extend(store.keys.into_iter().filter_map(|k| k.chain.into_iter().next()));
    if trusted.is_empty() {
        return Err(match password {
            None if !bytes.starts_with(&JKS_MAGIC) => {
                "the truststore shows no trusted certificate without its password: set ssl.truststore.password".into()
            }
            _ => "the truststore holds no trusted certificate entry (in PKCS12, certificates are trusted entries when they carry Java's trusted-certificate attribute, as keytool -importcert writes them)".into(),
        });
    }
    Ok(trusted.into_iter().map(CertificateDer::from).collect())
}

const JKS_MAGIC: [u8; 4] = [0xfe, 0xed, 0xfe, 0xed];
const JKS_CORRUPT: &str = "the JKS store is truncated or corrupt";

fn read(bytes: &[u8], password: Option<&str>) -> Result<Store, String> {
    if bytes.starts_with(&JKS_MAGIC) {
        read_jks(bytes, password)
    } else if bytes.first() == Some(&0x30) {
        read_pkcs12(bytes, password)
    } else if bytes.starts_with(&[0xce, 0xce, 0xce, 0xce]) {
        Err("the file is a JCEKS store: convert it to PKCS12 (keytool -importkeystore -deststoretype PKCS12)".into())
    } else {
        Err("the file is neither a JKS nor a PKCS12 store".into())
    }
}

/// JKS: a big-endian stream of entries, then a SHA-1 digest over the password (UTF-16),
/// the phrase Java's JKS keystore keys it with, and everything before it.
fn read_jks(bytes: &[u8], password: Option<&str>) -> Result<Store, String> {
    const DIGEST_LEN: usize = 20;
    let body_len = bytes.len().checked_sub(DIGEST_LEN).ok_or(JKS_CORRUPT)?;
    if let Some(password) = password {
        use sha1::Digest;
        let mut digest = sha1::Sha1::new();
        digest.update(utf16_be(password));
        digest.update(b"Mighty Aphrodite");
        digest.update(&bytes[..body_len]);
        if digest.finalize().as_slice() != &bytes[body_len..] {
            return Err(
                "the JKS store's integrity check failed: the store password is wrong or the file is corrupt".into(),
            );
        }
    }
    let mut input = Reader(&bytes[..body_len]);
    input.u32().ok_or(JKS_CORRUPT)?;
    let version = input.u32().ok_or(JKS_CORRUPT)?;
    if version != 1 && version != 2 {
        return Err(format!("JKS version {version} is not known"));
    }
    let count = input.u32().ok_or(JKS_CORRUPT)?;
    let mut store = Store::default();
    for _ in 0..count {
        let tag = input.u32().ok_or(JKS_CORRUPT)?;
        let alias = input.utf().ok_or(JKS_CORRUPT)?;
        input.take(8).ok_or(JKS_CORRUPT)?; // creation date
        match tag {
            1 => {
                let len = input.u32().ok_or(JKS_CORRUPT)? as usize;
                let key = input.take(len).ok_or(JKS_CORRUPT)?.to_vec();
                let certs = input.u32().ok_or(JKS_CORRUPT)?;
                let mut chain = Vec::new();
                for _ in 0..certs {
                    chain.push(jks_certificate(&mut input, version, &alias)?);
                }
                store.keys.push(KeyEntry {
                    alias,
                    key: StoredKey::Jks(key),
                    chain,
                });
            }
            2 => store.trusted.push(jks_certificate(&mut input, version, &alias)?),
            other => return Err(format!("JKS entry {alias} has an unknown tag {other}")),
        }
    }
    if !input.0.is_empty() {
        return Err(JKS_CORRUPT.into());
    }
    Ok(store)
}

fn jks_certificate(input: &mut Reader, version: u32, alias: &str) -> Result<Vec<u8>, String> {
    if version == 2 {
        let ty = input.utf().ok_or(JKS_CORRUPT)?;
        if ty != "X.509" {
            return Err(format!("entry {alias}: {ty} certificates are not read"));
        }
    }
    let len = input.u32().ok_or(JKS_CORRUPT)? as usize;
    Ok(input.take(len).ok_or(JKS_CORRUPT)?.to_vec())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// Java's `DataOutput.writeUTF`: a 16-bit length, then modified UTF-8.
    fn utf(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        Some(String::from_utf8_lossy(self.take(usize::from(len))?).into_owned())
    }
}

fn utf16_be(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Sun's JKS key protector: a salt, the key XORed with a SHA-1 chain over the password and
/// the salt, and a SHA-1 check of the password and the plain key.
fn jks_key(der: &[u8], password: &str) -> Result<Vec<u8>, String> {
    use sha1::Digest;
    const KEY_PROTECTOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.42.2.17.1.1");
    let (_, oid, data) = encrypted_private_key_info(der).ok_or("the protected key is not readable")?;
    if oid != KEY_PROTECTOR.as_bytes() {
        return Err(format!(
            "the key is protected with {}, not JKS's key protector",
            x500::oid_string(oid).unwrap_or_default()
        ));
    }
    if data.len() < 40 {
        return Err("the protected key is too short".into());
    }
    let (salt, rest) = data.split_at(20);
    let (encrypted, check) = rest.split_at(rest.len() - 20);
    let password = utf16_be(password);
    let mut key = Vec::with_capacity(encrypted.len());
    let mut stream = salt.to_vec();
    for chunk in encrypted.chunks(20) {
        stream = sha1::Sha1::new()
            .chain_update(&password)
            .chain_update(&stream)
            .finalize()
            .to_vec();
        key.extend(chunk.iter().zip(&stream).map(|(c, s)| c ^ s));
    }
    let expected = sha1::Sha1::new().chain_update(&password).chain_update(&key).finalize();
    if expected.as_slice() != check {
        return Err("the key password (ssl.key.password, else ssl.keystore.password) is wrong".into());
    }
    Ok(key)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const EXPLICIT_0: u8 = 0xa0;
const IMPLICIT_0: u8 = 0x80;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
/// Java's attribute for a trusted certificate entry in PKCS12.
const JAVA_TRUSTED: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113894.746875.1.1");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");

// The PKCS12 structures (RFC 7292) are walked as DER elements: the owned decoders of the
// pkcs12 and cms crates cost the binary several times more for the same checks.

/// The one DER element `input` holds, nothing after it.
fn single(input: &[u8]) -> Option<Element<'_>> {
    match element(input)? {
        (e, []) => Some(e),
        _ => None,
    }
}

/// The elements inside a SEQUENCE (or another constructed element of `tag`).
fn inside(e: Element<'_>, tag: u8) -> Option<Vec<Element<'_>>> {
    if e.0 == tag { elements(e.1) } else { None }
}

/// A small non-negative INTEGER.
fn small_int((tag, bytes, _): Element<'_>) -> Option<i32> {
    if tag != INTEGER || bytes.is_empty() || bytes.len() > 4 || bytes[0] & 0x80 != 0 {
        return None;
    }
    i32::try_from(bytes.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b))).ok()
}

/// `ContentInfo`: its content type and the element inside its `[0] EXPLICIT` content.
fn content_info(e: Element<'_>) -> Option<(&[u8], Element<'_>)> {
    match inside(e, SEQUENCE)?[..] {
        [(OID, oid, _), (EXPLICIT_0, content, _)] => Some((oid, single(content)?)),
        _ => None,
    }
}

/// `EncryptedPrivateKeyInfo`: the whole algorithm identifier, its OID and the ciphertext.
fn encrypted_private_key_info(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    match inside(single(der)?, SEQUENCE)?[..] {
        [(SEQUENCE, algorithm, whole), (OCTET_STRING, data, _)] => match elements(algorithm)?[..] {
            [(OID, oid, _), ..] => Some((whole, oid, data)),
            _ => None,
        },
        _ => None,
    }
}

/// A certificate bag's certificate and what its attributes say of it.
struct CertBag {
    der: Vec<u8>,
    local_key_id: Option<Vec<u8>>,
    trusted: bool,
}

/// What a bag's attributes say: its local key id, its alias and whether Java trusts it.
#[derive(Default)]
struct BagAttributes {
    local_key_id: Option<Vec<u8>>,
    alias: Option<String>,
    trusted: bool,
}

fn bag_attributes(set: &[u8]) -> Option<BagAttributes> {
    let mut out = BagAttributes::default();
    for attribute in elements(set)? {
        let [(OID, oid, _), values] = inside(attribute, SEQUENCE)?[..] else {
            return None;
        };
        let first = inside(values, SET)?.first().copied();
        if oid == LOCAL_KEY_ID.as_bytes() {
            out.local_key_id = first.filter(|v| v.0 == OCTET_STRING).map(|v| v.1.to_vec());
        } else if oid == FRIENDLY_NAME.as_bytes() {
            out.alias = first.and_then(|(tag, value, _)| x500::string_value(tag, value));
        } else if oid == JAVA_TRUSTED.as_bytes() {
            out.trusted = true;
        }
    }
    Some(out)
}

fn read_pkcs12(bytes: &[u8], password: Option<&str>) -> Result<Store, String> {
    let corrupt = || "the file is not a readable PKCS12 store".to_string();
    let pfx = single(bytes).and_then(|e| inside(e, SEQUENCE)).ok_or_else(corrupt)?;
    let [version, auth_safe, ref rest @ ..] = pfx[..] else {
        return Err(corrupt());
    };
    if small_int(version) != Some(3) {
        return Err(corrupt());
    }
    let (content_type, content) = content_info(auth_safe).ok_or_else(corrupt)?;
    if content_type != ID_DATA.as_bytes() {
        return Err("the PKCS12 store is signed with a public key, which is not read (only password integrity)".into());
    }
    let (OCTET_STRING, content, _) = content else {
        return Err(corrupt());
    };
    if let (Some(password), [mac_data, ..]) = (password, rest) {
        verify_mac(*mac_data, content, password)?;
    }
    let safes = single(content).and_then(|e| inside(e, SEQUENCE)).ok_or_else(corrupt)?;
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for safe in safes {
        let (content_type, content) = content_info(safe).ok_or_else(corrupt)?;
        let contents = if content_type == ID_DATA.as_bytes() {
            let (OCTET_STRING, data, _) = content else {
                return Err(corrupt());
            };
            data.to_vec()
        } else if content_type == ID_ENCRYPTED_DATA.as_bytes() {
            // Without a password Java skips what is encrypted.
            let Some(password) = password else { continue };
            // EncryptedData: version, then EncryptedContentInfo: content type, algorithm,
            // and the ciphertext as [0] IMPLICIT OCTET STRING.
            let [_, info, ..] = inside(content, SEQUENCE).ok_or_else(corrupt)?[..] else {
                return Err(corrupt());
            };
            let [(OID, _, _), (SEQUENCE, _, algorithm), (IMPLICIT_0, ciphertext, _)] =
                inside(info, SEQUENCE).ok_or_else(corrupt)?[..]
            else {
                return Err(corrupt());
            };
            decrypt(algorithm, ciphertext, password)
                .map_err(|e| format!("cannot decrypt the PKCS12 store's certificates: {e}"))?
        } else {
            return Err(format!(
                "the PKCS12 store holds {} content, which is not read",
                x500::oid_string(content_type).unwrap_or_default()
            ));
        };
        let bags = single(&contents)
            .and_then(|e| inside(e, SEQUENCE))
            .ok_or_else(corrupt)?;
        for bag in bags {
            let fields = inside(bag, SEQUENCE).ok_or_else(corrupt)?;
            let [(OID, bag_id, _), (EXPLICIT_0, value, _), ref attributes @ ..] = fields[..] else {
                return Err(corrupt());
            };
            let attributes = match attributes {
                [] => BagAttributes::default(),
                [(SET, set, _)] => bag_attributes(set).ok_or_else(corrupt)?,
                _ => return Err(corrupt()),
            };
            if bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID.as_bytes()
                || bag_id == pkcs12::PKCS_12_KEY_BAG_OID.as_bytes()
            {
                let key = if bag_id == pkcs12::PKCS_12_KEY_BAG_OID.as_bytes() {
                    StoredKey::Plain(value.to_vec())
                } else {
                    StoredKey::Shrouded(value.to_vec())
                };
                let alias = attributes.alias.unwrap_or_else(|| format!("#{}", keys.len() + 1));
                keys.push((alias, key, attributes.local_key_id));
            } else if bag_id == pkcs12::PKCS_12_CERT_BAG_OID.as_bytes() {
                // CertBag: the certificate type, then the certificate in [0] EXPLICIT OCTET STRING.
                let cert = single(value).and_then(|e| inside(e, SEQUENCE)).ok_or_else(corrupt)?;
                let [(OID, cert_id, _), (EXPLICIT_0, cert, _)] = cert[..] else {
                    return Err(corrupt());
                };
                let Some((OCTET_STRING, der, _)) = single(cert) else {
                    return Err(corrupt());
                };
                if cert_id == X509_CERTIFICATE.as_bytes() {
                    certs.push(CertBag {
                        der: der.to_vec(),
                        local_key_id: attributes.local_key_id,
                        trusted: attributes.trusted,
                    });
                }
            }
        }
    }
    let mut store = Store::default();
    for (alias, key, local_key_id) in keys {
        let leaf = local_key_id.and_then(|id| certs.iter().find(|c| c.local_key_id.as_ref() == Some(&id)));
        store.keys.push(KeyEntry {
            alias,
            key,
            chain: leaf.map(|leaf| chain_from(&leaf.der, &certs)).unwrap_or_default(),
        });
    }
    store.trusted = certs.into_iter().filter(|c| c.trusted).map(|c| c.der).collect();
    Ok(store)
}

/// The chain from `leaf` through the store's certificates, each the issuer of the one before,
/// as Java builds a PKCS12 key entry's chain.
fn chain_from(leaf: &[u8], certs: &[CertBag]) -> Vec<Vec<u8>> {
    let mut chain = vec![leaf.to_vec()];
    while chain.len() <= certs.len() {
        let Some((issuer, subject)) = x500::issuer_and_subject(chain.last().unwrap()) else {
            break;
        };
        if issuer == subject {
            break;
        }
        let next = certs
            .iter()
            .find(|c| !chain.contains(&c.der) && x500::issuer_and_subject(&c.der).is_some_and(|(_, s)| s == issuer));
        match next {
            Some(next) => chain.push(next.der.clone()),
            None => break,
        }
    }
    chain
}

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// The PKCS12 integrity check (`MacData`: a `DigestInfo`, the salt, the iterations): an HMAC
/// of the content keyed by the PKCS#12 KDF.
fn verify_mac(mac_data: Element<'_>, content: &[u8], password: &str) -> Result<(), String> {
    fn check<D>(salt: &[u8], iterations: i32, expected: &[u8], content: &[u8], password: &str) -> Result<bool, String>
    where
        D: sha2::Digest + sha2::digest::FixedOutputReset + sha2::digest::core_api::BlockSizeUser,
    {
        let key = derive_key_utf8::<D>(
            password,
            salt,
            Pkcs12KeyType::Mac,
            iterations,
            <D as sha2::Digest>::output_size(),
        )
        .map_err(|e| format!("the password cannot be used with PKCS12: {e}"))?;
        let mut hmac = <SimpleHmac<D> as KeyInit>::new_from_slice(&key).map_err(|e| e.to_string())?;
        hmac.update(content);
        Ok(hmac.verify_slice(expected).is_ok())
    }
    let unreadable = || "the PKCS12 store's MAC is not readable".to_string();
    let fields = inside(mac_data, SEQUENCE).ok_or_else(unreadable)?;
    let [digest_info, (OCTET_STRING, salt, _), ref iterations @ ..] = fields[..] else {
        return Err(unreadable());
    };
    let iterations = match iterations {
        [] => 1,
        [n] => small_int(*n).ok_or_else(unreadable)?,
        _ => return Err(unreadable()),
    };
    let [(SEQUENCE, algorithm, _), (OCTET_STRING, expected, _)] =
        inside(digest_info, SEQUENCE).ok_or_else(unreadable)?[..]
    else {
        return Err(unreadable());
    };
    let Some(&(OID, oid, _)) = elements(algorithm).ok_or_else(unreadable)?.first() else {
        return Err(unreadable());
    };
    let args = (salt, iterations, expected, content, password);
    let ok = match oid {
        _ if oid == SHA1.as_bytes() => check::<sha1::Sha1>(args.0, args.1, args.2, args.3, args.4)?,
        _ if oid == SHA256.as_bytes() => check::<sha2::Sha256>(args.0, args.1, args.2, args.3, args.4)?,
        _ if oid == SHA384.as_bytes() => check::<sha2::Sha384>(args.0, args.1, args.2, args.3, args.4)?,
        _ if oid == SHA512.as_bytes() => check::<sha2::Sha512>(args.0, args.1, args.2, args.3, args.4)?,
        _ => {
            return Err(format!(
                "the PKCS12 store's MAC uses {}, which is not supported",
                x500::oid_string(oid).unwrap_or_default()
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err("the PKCS12 store's integrity check failed: the store password is wrong or the file is corrupt".into())
    }
}

const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const PBE_SHA1_3DES: ObjectIdentifier = pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC;
const PBE_SHA1_RC2_128: ObjectIdentifier = pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC;
const PBE_SHA1_RC2_40: ObjectIdentifier = pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC;

/// Decrypts a PKCS12 key bag or encrypted safe, given its whole `AlgorithmIdentifier`: PBES2
/// (PBKDF2 with AES-CBC, through the pkcs5 crate), or one of the legacy PKCS#12 schemes
/// (SHA-1 KDF with 3DES or RC2).
fn decrypt(algorithm: &[u8], ciphertext: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let wrong = "the password is wrong or the data corrupt".to_string();
    let unreadable = || "the encryption parameters are not readable".to_string();
    let fields = single(algorithm)
        .and_then(|e| inside(e, SEQUENCE))
        .ok_or_else(unreadable)?;
    let [(OID, oid, _), ref params @ ..] = fields[..] else {
        return Err(unreadable());
    };
    if oid == PBES2.as_bytes() {
        let scheme = pkcs8::pkcs5::EncryptionScheme::from_der(algorithm).map_err(|e| e.to_string())?;
        return scheme.decrypt(password, ciphertext).map_err(|_| wrong);
    }
    let (key_len, rc2_bits) = match oid {
        _ if oid == PBE_SHA1_3DES.as_bytes() => (24, None),
        _ if oid == PBE_SHA1_RC2_128.as_bytes() => (16, Some(128)),
        _ if oid == PBE_SHA1_RC2_40.as_bytes() => (5, Some(40)),
        _ => {
            return Err(format!(
                "encryption scheme {} is not supported",
                x500::oid_string(oid).unwrap_or_default()
            ));
        }
    };
    // pkcs-12PbeParams: the salt and the iterations.
    let [params] = params else {
        return Err(unreadable());
    };
    let [(OCTET_STRING, salt, _), iterations] = inside(*params, SEQUENCE).ok_or_else(unreadable)?[..] else {
        return Err(unreadable());
    };
    let iterations = small_int(iterations).ok_or_else(unreadable)?;
    let derive = |id, len| {
        derive_key_utf8::<sha1::Sha1>(password, salt, id, iterations, len)
            .map_err(|e| format!("the password cannot be used with PKCS12: {e}"))
    };
    let key = derive(Pkcs12KeyType::EncryptionKey, key_len)?;
    let iv = derive(Pkcs12KeyType::Iv, 8)?;
    let mut buffer = ciphertext.to_vec();
    let plain = match rc2_bits {
        None => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| wrong)?
            .len(),
        Some(bits) => cbc::Decryptor::inner_iv_slice_init(rc2::Rc2::new_with_eff_key_len(&key, bits), &iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| wrong)?
            .len(),
    };
    buffer.truncate(plain);
    Ok(buffer)
}

#[cfg(test)]
mod tests;
