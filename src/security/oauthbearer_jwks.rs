//! OAUTHBEARER's validation of signed tokens (KIP-768), as Kafka's
//! `OAuthBearerValidatorCallbackHandler` does it with its default `BrokerJwtValidator`: a
//! JWS whose signature verifies with a key of the JWKS that `sasl.oauthbearer.jwks.endpoint.url`
//! names (see `jwks_source`), whose claims are then checked as jose4j's `JwtConsumer` checks
//! them for Kafka:
//!
//! - `exp` is required: the token is refused from `exp` + `sasl.oauthbearer.clock.skew.seconds`
//!   on; `iat` is required (not in the past or future: only present and non-negative); `nbf`,
//!   if present, must be at most now + the skew;
//! - `aud`: with `sasl.oauthbearer.expected.audience` set, one of the token's audiences must be
//!   one of those; without it, a token with an `aud` claim is refused (jose4j's default);
//! - `iss` must equal `sasl.oauthbearer.expected.issuer` when that is set;
//! - the principal is the `sasl.oauthbearer.sub.claim.name` claim (`sub`), a non-blank string;
//! - the `sasl.oauthbearer.scope.claim.name` claim (`scope`), if a string or a list, must hold
//!   no blank or repeated scope;
//! - the header's `alg` may not be `none`, and a `crit` header is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use serde_json::Value;

use super::jwks_source::JwksSource;
use super::oauthbearer::{claim_time_ms, decode_json};

/// The claim settings of `sasl.oauthbearer.*`, with Kafka's defaults.
#[derive(Clone, Debug)]
pub struct ClaimRules {
    pub sub_claim: String,
    pub scope_claim: String,
    pub expected_audience: Vec<String>,
    pub expected_issuer: Option<String>,
    pub clock_skew_seconds: i64,
}

impl Default for ClaimRules {
    fn default() -> Self {
        ClaimRules {
            sub_claim: "sub".into(),
            scope_claim: "scope".into(),
            expected_audience: Vec::new(),
            expected_issuer: None,
            clock_skew_seconds: 30,
        }
    }
}

pub struct SignedJwtValidator {
    keys: JwksSource,
    rules: ClaimRules,
}

fn object(part: &str, what: &str) -> Result<serde_json::Map<String, Value>, String> {
    match decode_json(part) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("the {what} is not a JSON object")),
        Err(e) => Err(format!("invalid {what}: {e}")),
    }
}

impl SignedJwtValidator {
    pub fn new(keys: JwksSource, rules: ClaimRules) -> SignedJwtValidator {
        SignedJwtValidator { keys, rules }
    }

    /// The principal and the token's expiration time (ms since the epoch), or why the
    /// token is refused.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<(String, i64), String> {
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("a JWS has three sections (header, payload and signature)".into());
        };
        let header = object(header, "JOSE header")?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or("no alg in the JOSE header")?;
        if alg == "none" {
            return Err("the token is not signed (alg none)".into());
        }
        if header.contains_key("crit") {
            return Err("the JOSE header has critical extensions (crit), which are not supported".into());
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let signed = &token[..token.len() - signature.len() - 1];
        let signature = BASE64URL
            .decode(signature.trim_end_matches('='))
            .map_err(|e| format!("the signature is not base64url: {e}"))?;
        self.keys.verify(alg, kid, signed.as_bytes(), &signature)?;
        let claims = object(payload, "payload")?;
        self.check_claims(&claims, now_ms)
    }

    fn check_claims(&self, claims: &serde_json::Map<String, Value>, now_ms: i64) -> Result<(String, i64), String> {
        let rules = &self.rules;
        let skew_ms = rules.clock_skew_seconds.saturating_mul(1000);
        let time_ms = |name: &str| claim_time_ms(name, claims.get(name));
        let exp = time_ms("exp")?.ok_or("no exp claim: the token must expire")?;
        if exp < 0 {
            return Err("the exp claim is negative".into());
        }
        if now_ms >= exp.saturating_add(skew_ms) {
            return Err(format!("the token expired (exp {exp} ms, now {now_ms} ms)"));
        }
        match time_ms("iat")? {
            None => return Err("no iat claim".into()),
            Some(iat) if iat < 0 => return Err("the iat claim is negative".into()),
            Some(_) => {}
        }
        if let Some(nbf) = time_ms("nbf")?
            && nbf > now_ms.saturating_add(skew_ms)
        {
            return Err(format!("the token is not valid before {nbf} ms (now {now_ms} ms)"));
        }
        let audiences: Option<Vec<&str>> = match claims.get("aud") {
            None => None,
            Some(Value::String(a)) => Some(vec![a.as_str()]),
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|a| a.as_str().ok_or("the aud claim is not a string or a list of strings"))
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err("the aud claim is not a string or a list of strings".into()),
        };
        match audiences {
            None if !rules.expected_audience.is_empty() => return Err("no aud claim".into()),
            None => {}
            Some(aud) if !aud.iter().any(|a| rules.expected_audience.iter().any(|e| e == a)) => {
                return Err(if rules.expected_audience.is_empty() {
                    format!("the token has an aud claim {aud:?}, but no sasl.oauthbearer.expected.audience is set")
                } else {
                    format!("the token's audience {aud:?} is none of {:?}", rules.expected_audience)
                });
            }
            Some(_) => {}
        }
        if let Some(issuer) = &rules.expected_issuer {
            match claims.get("iss") {
                Some(Value::String(iss)) if iss == issuer => {}
                Some(iss) => return Err(format!("the token's issuer {iss} is not {issuer}")),
                None => return Err("no iss claim".into()),
            }
        }
        let principal = match claims.get(&rules.sub_claim) {
            Some(Value::String(p)) if !p.trim().is_empty() => p.trim().to_string(),
            Some(_) => return Err(format!("the {} claim is not a non-blank string", rules.sub_claim)),
            None => return Err(format!("no {} claim", rules.sub_claim)),
        };
        let scopes: Vec<&Value> = match claims.get(&rules.scope_claim) {
            Some(s @ Value::String(_)) => vec![s],
            Some(Value::Array(items)) => items.iter().collect(),
            _ => Vec::new(),
        };
        let mut seen = Vec::new();
        for scope in scopes {
            let scope = scope
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("the {} claim holds a blank or non-string scope", rules.scope_claim))?;
            if seen.contains(&scope) {
                return Err(format!("the {} claim repeats {scope}", rules.scope_claim));
            }
            seen.push(scope);
        }
        Ok((principal, exp))
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwk::test_keys::*;
    use super::super::jwks_source::RefreshSettings;
    use super::*;
    use std::time::Duration;

    const NOW: i64 = 1_800_000_000_000;

    fn validator(keys: &[&TestKey], rules: ClaimRules) -> (tempfile::TempDir, SignedJwtValidator) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks(keys)).unwrap();
        let settings = RefreshSettings {
            refresh: Duration::from_secs(3600),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(10),
            trusted_pem: None,
        };
        let source = JwksSource::open(&format!("file:{}", path.display()), settings).unwrap();
        (dir, SignedJwtValidator::new(source, rules))
    }

    #[test]
    fn tokens_signed_with_each_algorithm_authenticate_their_subject() {
        for alg in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ] {
            let key = TestKey::new(alg, "k");
            let (_dir, v) = validator(&[&key], ClaimRules::default());
            let token = key.sign(r#"{"sub":"alice","iat":1799999990,"exp":1800000600,"scope":"kafka"}"#);
            assert_eq!(
                v.validate(&token, NOW),
                Ok(("alice".into(), 1_800_000_600_000)),
                "{alg}"
            );
        }
    }

    #[test]
    fn bad_signatures_unknown_kids_and_unsigned_tokens_are_refused() {
        let key = TestKey::new("ES256", "k");
        let (_dir, v) = validator(&[&key], ClaimRules::default());
        let claims = r#"{"sub":"alice","iat":1799999990,"exp":1800000600}"#;
        let good = key.sign(claims);
        assert!(v.validate(&good, NOW).is_ok());
        let impostor = TestKey::new("ES256", "k");
        assert_eq!(
            v.validate(&impostor.sign(claims), NOW),
            Err("the signature does not verify".into())
        );
        let stranger = TestKey::new("ES256", "other");
        assert!(
            v.validate(&stranger.sign(claims), NOW)
                .unwrap_err()
                .contains("kid other")
        );
        // The payload of another token under this signature.
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!("{head}.{}.{sig}", BASE64URL.encode(claims.replace("alice", "admin")));
        assert!(v.validate(&forged, NOW).is_err());
        let none = format!(
            "{}.{}.",
            BASE64URL.encode(r#"{"alg":"none"}"#),
            BASE64URL.encode(claims)
        );
        assert!(v.validate(&none, NOW).is_err());
        let crit = format!(
            "{}.{}.{sig}",
            BASE64URL.encode(r#"{"alg":"ES256","kid":"k","crit":["exp"],"exp":1}"#),
            BASE64URL.encode(claims)
        );
        assert!(v.validate(&crit, NOW).is_err());
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(v.validate(garbage, NOW).is_err(), "{garbage}");
        }
    }

    #[test]
    fn exp_iat_and_nbf_are_checked_with_the_clock_skew() {
        let key = TestKey::new("ES256", "k");
        let (_dir, v) = validator(&[&key], ClaimRules::default());
        let check = |claims: &str| v.validate(&key.sign(claims), NOW).map(|(p, _)| p);
        // Expired 20 s ago: within the 30 s skew. 40 s ago: refused.
        assert!(check(r#"{"sub":"a","iat":1799990000,"exp":1799999980}"#).is_ok());
        assert!(check(r#"{"sub":"a","iat":1799990000,"exp":1799999960}"#).is_err());
        assert!(check(r#"{"sub":"a","iat":1799990000}"#).is_err());
        assert!(check(r#"{"sub":"a","exp":1800000600}"#).is_err());
        assert!(check(r#"{"sub":"a","iat":"yesterday","exp":1800000600}"#).is_err());
        assert!(check(r#"{"sub":"a","iat":1,"exp":1800000600,"nbf":1800000020}"#).is_ok());
        assert!(check(r#"{"sub":"a","iat":1,"exp":1800000600,"nbf":1800000040}"#).is_err());
        assert!(check(r#"{"iat":1,"exp":1800000600}"#).is_err());
        assert!(check(r#"{"sub":" ","iat":1,"exp":1800000600}"#).is_err());
        assert!(check(r#"{"sub":7,"iat":1,"exp":1800000600}"#).is_err());
    }

    #[test]
    fn audience_issuer_and_scope_are_checked_as_kafka_checks_them() {
        let key = TestKey::new("RS256", "k");
        let rules = ClaimRules {
            sub_claim: "client_id".into(),
            expected_audience: vec!["kafka".into(), "brokers".into()],
            expected_issuer: Some("https://idp.example".into()),
            ..ClaimRules::default()
        };
        let (_dir, v) = validator(&[&key], rules);
        let check = |extra: &str| {
            let claims = format!(r#"{{"client_id":"svc","iat":1,"exp":1800000600{extra}}}"#);
            v.validate(&key.sign(&claims), NOW).map(|(p, _)| p)
        };
        let iss = r#","iss":"https://idp.example""#;
        assert_eq!(check(&format!(r#"{iss},"aud":"kafka""#)), Ok("svc".into()));
        assert_eq!(check(&format!(r#"{iss},"aud":["web","brokers"]"#)), Ok("svc".into()));
        assert!(check(&format!(r#"{iss},"aud":"web""#)).is_err());
        assert!(check(iss).is_err());
        assert!(check(r#","aud":"kafka""#).is_err());
        assert!(check(r#","aud":"kafka","iss":"https://evil.example""#).is_err());
        let scoped = |scope: &str| check(&format!(r#"{iss},"aud":"kafka","scope":{scope}"#));
        assert!(scoped(r#""kafka write""#).is_ok());
        assert!(scoped(r#"["read","write"]"#).is_ok());
        assert!(scoped("42").is_ok());
        assert!(scoped(r#"["read","read"]"#).is_err());
        assert!(scoped(r#"["read",""]"#).is_err());
        assert!(scoped(r#"["read",3]"#).is_err());

        // Without an expected audience, a token naming one is refused, as jose4j does.
        let (_dir, v) = validator(&[&key], ClaimRules::default());
        let with_aud = key.sign(r#"{"sub":"a","iat":1,"exp":1800000600,"aud":"kafka"}"#);
        assert!(v.validate(&with_aud, NOW).is_err());
    }
}
