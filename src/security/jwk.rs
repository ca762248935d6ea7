//! JSON Web Keys (RFC 7517) and JWS signature checks (RFC 7515, 7518) for OAUTHBEARER's
//! signed tokens, with `ring`'s verifiers: RS256/384/512 and PS256/384/512 with RSA keys of
//! 2048 bits or more (as jose4j requires), ES256 and ES384 with P-256 and P-384 keys, and
//! EdDSA with Ed25519 keys. ES512 (P-521) and the HMAC algorithms are not verified: a token
//! using them finds no key and is refused.
//!
//! A key is chosen for a token as jose4j's `VerificationJwkSelector` chooses it: its `kid`
//! must be the header's (when the header names one), its type and curve must fit the
//! header's `alg`, its `use` (if any) must be `sig` and its `alg` (if any) the header's; the
//! signature is then tried against each such key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
enum PublicKey {
    /// Modulus and exponent, big-endian, without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (`0x04 || x || y`) on the named curve.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

/// One verification key of a JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    kid: Option<String>,
    key_use: Option<String>,
    alg: Option<String>,
    key: PublicKey,
}

/// Why no key verified a token's signature.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// No key of the set fits the header (unknown `kid`, or none of the algorithm's type):
    /// a refreshing key source may fetch its set again.
    NoKey(String),
    /// Keys fit, but none verified the signature.
    BadSignature,
}

fn b64(field: &str, value: Option<&Value>) -> Result<Vec<u8>, String> {
    let text = value.and_then(Value::as_str).ok_or_else(|| format!("no {field}"))?;
    BASE64URL
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("{field}: {e}"))
}

fn unsigned(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

impl Jwk {
    /// A key from its JSON form; `Err` for a key of a type or curve not verified here.
    pub fn from_json(jwk: &Value) -> Result<Jwk, String> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str).map(str::to_string);
        let key = match text("kty").as_deref() {
            Some("RSA") => PublicKey::Rsa {
                n: unsigned(b64("n", jwk.get("n"))?),
                e: unsigned(b64("e", jwk.get("e"))?),
            },
            Some("EC") => {
                let (curve, len) = match text("crv").as_deref() {
                    Some("P-256") => (Curve::P256, 32),
                    Some("P-384") => (Curve::P384, 48),
                    other => return Err(format!("EC curve {other:?} is not verified here")),
                };
                let (x, y) = (b64("x", jwk.get("x"))?, b64("y", jwk.get("y"))?);
                if x.len() != len || y.len() != len {
                    return Err("EC coordinates of the wrong length".into());
                }
                let mut point = vec![4];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                PublicKey::Ec { curve, point }
            }
            Some("OKP") if text("crv").as_deref() == Some("Ed25519") => PublicKey::Ed25519 {
                x: b64("x", jwk.get("x"))?,
            },
            other => return Err(format!("key type {other:?} is not verified here")),
        };
        Ok(Jwk {
            kid: text("kid"),
            key_use: text("use"),
            alg: text("alg"),
            key,
        })
    }

    fn fits(&self, alg: &str) -> bool {
        let type_fits = match (&self.key, alg) {
            (PublicKey::Rsa { .. }, a) => a.starts_with("RS") || a.starts_with("PS"),
            (PublicKey::Ec { curve: Curve::P256, .. }, a) => a == "ES256",
            (PublicKey::Ec { curve: Curve::P384, .. }, a) => a == "ES384",
            (PublicKey::Ed25519 { .. }, a) => a == "EdDSA",
        };
        type_fits && self.key_use.as_deref().is_none_or(|u| u == "sig") && self.alg.as_deref().is_none_or(|a| a == alg)
    }

    fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        let rsa: Option<&'static signature::RsaParameters> = match alg {
            "RS256" => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            "RS384" => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            "RS512" => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            "PS256" => Some(&signature::RSA_PSS_2048_8192_SHA256),
            "PS384" => Some(&signature::RSA_PSS_2048_8192_SHA384),
            "PS512" => Some(&signature::RSA_PSS_2048_8192_SHA512),
            _ => None,
        };
        match (&self.key, rsa) {
            (PublicKey::Rsa { n, e }, Some(params)) => RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .is_ok(),
            (PublicKey::Ec { curve, point }, None) => {
                let verifier: &'static dyn VerificationAlgorithm = match curve {
                    Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                };
                UnparsedPublicKey::new(verifier, point)
                    .verify(message, signature)
                    .is_ok()
            }
            (PublicKey::Ed25519 { x }, None) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, signature)
                .is_ok(),
            _ => false,
        }
    }
}

/// A JSON Web Key Set: its verification keys; keys of other types are left out, as jose4j
/// leaves out a key it cannot use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    pub fn parse(json: &[u8]) -> Result<JwkSet, String> {
        let value: Value = serde_json::from_slice(json).map_err(|e| format!("not a JWKS: {e}"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JWKS: no \"keys\" array")?;
        let mut set = JwkSet::default();
        for key in keys {
            match Jwk::from_json(key) {
                Ok(jwk) => set.keys.push(jwk),
                Err(why) => tracing::debug!(reason = %why, "a JWKS key left out"),
            }
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Checks a JWS's signature over `message` (`header.payload`, as sent) with the key the
    /// header chooses.
    pub fn verify(&self, alg: &str, kid: Option<&str>, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)) && k.fits(alg))
            .peekable();
        if candidates.peek().is_none() {
            return Err(KeyError::NoKey(match kid {
                Some(kid) => format!("no key with kid {kid} for {alg}"),
                None => format!("no key for {alg}"),
            }));
        }
        if candidates.any(|k| k.verify(alg, message, signature)) {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! Keys made at test time, and tokens signed with them.
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

    type Signer = Box<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

    /// A key pair, its public JWK and its signing algorithm.
    pub struct TestKey {
        pub alg: &'static str,
        pub jwk: Value,
        sign: Signer,
    }

    fn enc(bytes: &[u8]) -> String {
        BASE64URL.encode(bytes)
    }

    /// ring makes no RSA keys: the tests use one made with openssl.
    fn rsa_pkcs8() -> Vec<u8> {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject;
        match PrivateKeyDer::from_pem_slice(RSA_TEST_KEY.as_bytes()).unwrap() {
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
            _ => unreachable!(),
        }
    }

    impl TestKey {
        pub fn new(alg: &'static str, kid: &str) -> TestKey {
            let rng = SystemRandom::new();
            let (jwk, sign): (Value, Signer) = match alg {
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
                    let pair = RsaKeyPair::from_pkcs8(&rsa_pkcs8()).unwrap();
                    let RsaPublicKeyComponents { n, e } = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                    let padding: &'static dyn signature::RsaEncoding = match alg {
                        "RS256" => &signature::RSA_PKCS1_SHA256,
                        "RS384" => &signature::RSA_PKCS1_SHA384,
                        "RS512" => &signature::RSA_PKCS1_SHA512,
                        "PS256" => &signature::RSA_PSS_SHA256,
                        "PS384" => &signature::RSA_PSS_SHA384,
                        _ => &signature::RSA_PSS_SHA512,
                    };
                    let jwk = serde_json::json!({"kty": "RSA", "kid": kid, "n": enc(&n), "e": enc(&e)});
                    (
                        jwk,
                        Box::new(move |m: &[u8]| {
                            let mut sig = vec![0; pair.public().modulus_len()];
                            pair.sign(padding, &SystemRandom::new(), m, &mut sig).unwrap();
                            sig
                        }),
                    )
                }
                "ES256" | "ES384" => {
                    let (signing, crv, len) = if alg == "ES256" {
                        (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32)
                    } else {
                        (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48)
                    };
                    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
                    let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
                    let point = pair.public_key().as_ref();
                    let jwk = serde_json::json!({"kty": "EC", "kid": kid, "crv": crv,
                        "x": enc(&point[1..1 + len]), "y": enc(&point[1 + len..])});
                    (
                        jwk,
                        Box::new(move |m: &[u8]| pair.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec()),
                    )
                }
                "EdDSA" => {
                    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
                    let jwk = serde_json::json!({"kty": "OKP", "kid": kid, "crv": "Ed25519",
                        "x": enc(pair.public_key().as_ref())});
                    (jwk, Box::new(move |m: &[u8]| pair.sign(m).as_ref().to_vec()))
                }
                other => panic!("no test key for {other}"),
            };
            TestKey { alg, jwk, sign }
        }

        pub fn kid(&self) -> &str {
            self.jwk["kid"].as_str().unwrap()
        }

        /// A compact JWS of `claims` with this key's kid and algorithm.
        pub fn sign(&self, claims: &str) -> String {
            let header = format!(r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#, self.alg, self.kid());
            let message = format!("{}.{}", enc(header.as_bytes()), enc(claims.as_bytes()));
            let signature = (self.sign)(message.as_bytes());
            format!("{message}.{}", enc(&signature))
        }
    }

    pub fn jwks(keys: &[&TestKey]) -> String {
        serde_json::json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
    }

    /// A 2048-bit RSA key made with `openssl genpkey -algorithm RSA`, for test tokens only.
    const RSA_TEST_KEY: &str = include_str!("../../tests/oauthbearer_support/jwt-rsa-test-key.pem");
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;

    fn parts(token: &str) -> (String, Vec<u8>) {
        let (message, signature) = token.rsplit_once('.').unwrap();
        (message.to_string(), BASE64URL.decode(signature).unwrap())
    }

    #[test]
    fn each_algorithm_verifies_its_own_signature_and_not_a_forged_one() {
        for alg in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ] {
            let key = TestKey::new(alg, "k1");
            let set = JwkSet::parse(jwks(&[&key]).as_bytes()).unwrap();
            let (message, signature) = parts(&key.sign(r#"{"sub":"alice"}"#));
            assert_eq!(
                set.verify(alg, Some("k1"), message.as_bytes(), &signature),
                Ok(()),
                "{alg}"
            );
            assert_eq!(set.verify(alg, None, message.as_bytes(), &signature), Ok(()), "{alg}");
            let tampered = message.replacen('.', ".e", 1);
            assert_eq!(
                set.verify(alg, Some("k1"), tampered.as_bytes(), &signature),
                Err(KeyError::BadSignature),
                "{alg}"
            );
            assert!(
                matches!(
                    set.verify(alg, Some("k2"), message.as_bytes(), &signature),
                    Err(KeyError::NoKey(_))
                ),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_key_is_chosen_by_kid_type_use_and_alg() {
        let es = TestKey::new("ES256", "ec");
        let other = TestKey::new("ES256", "other");
        let set = JwkSet::parse(jwks(&[&other, &es]).as_bytes()).unwrap();
        let (message, signature) = parts(&es.sign("{}"));
        // Without a kid every fitting key is tried.
        assert_eq!(set.verify("ES256", None, message.as_bytes(), &signature), Ok(()));
        assert_eq!(
            set.verify("ES256", Some("other"), message.as_bytes(), &signature),
            Err(KeyError::BadSignature)
        );
        // An EC key does not verify RS256, nor a P-256 key ES384.
        assert!(matches!(
            set.verify("RS256", Some("ec"), b"m", b"s"),
            Err(KeyError::NoKey(_))
        ));
        assert!(matches!(
            set.verify("ES384", Some("ec"), b"m", b"s"),
            Err(KeyError::NoKey(_))
        ));
        let mut enc_only = es.jwk.clone();
        enc_only["use"] = "enc".into();
        let set = JwkSet::parse(format!(r#"{{"keys":[{enc_only}]}}"#).as_bytes()).unwrap();
        assert!(matches!(
            set.verify("ES256", None, message.as_bytes(), &signature),
            Err(KeyError::NoKey(_))
        ));
    }

    #[test]
    fn keys_not_verified_here_are_left_out_and_a_set_needs_keys() {
        let json = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}"#;
        let set = JwkSet::parse(json.as_bytes()).unwrap();
        assert_eq!(set.key_ids().collect::<Vec<_>>(), ["r"]);
        // A modulus under 2048 bits verifies nothing.
        assert_eq!(
            set.verify("RS256", Some("r"), b"m", &[1; 256]),
            Err(KeyError::BadSignature)
        );
        assert!(JwkSet::parse(b"{}").is_err());
        assert!(JwkSet::parse(b"not json").is_err());
    }
}
