//! SASL/OAUTHBEARER (RFC 7628, KIP-255) with Kafka's default server-side validation, the
//! unsecured JWS validator (`OAuthBearerUnsecuredValidatorCallbackHandler`): a JWT whose header
//! says `"alg":"none"`, with an empty signature, naming its principal in a string claim (`sub`
//! by default), with an expiration time (`exp`) not yet passed. It is for development, as on
//! Kafka: anyone can write such a token. Its options come from the listener's
//! `OAuthBearerLoginModule` JAAS entry: `unsecuredValidatorPrincipalClaimName`,
//! `unsecuredValidatorScopeClaimName`, `unsecuredValidatorRequiredScope` and
//! `unsecuredValidatorAllowableClockSkewMs`.
//!
//! With the listener's server callback handler set to Kafka's
//! `OAuthBearerValidatorCallbackHandler`, tokens are instead signed JWTs checked against an
//! identity provider's keys (`oauthbearer_jwks`).
//!
//! A rejected token is answered as RFC 7628 says: a JSON error as the server's challenge, and
//! once the client acknowledges it with a lone 0x01, the failure.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use serde_json::Value;

use super::oauthbearer_jwks::SignedJwtValidator;
use super::sasl::{SaslError, SaslServer, SaslStep};

/// How a listener's OAUTHBEARER tokens are validated.
pub enum TokenValidator {
    /// Kafka's default, `OAuthBearerUnsecuredValidatorCallbackHandler`.
    Unsecured(UnsecuredValidator),
    /// `OAuthBearerValidatorCallbackHandler`: signed tokens and a JWKS.
    Signed(SignedJwtValidator),
}

impl TokenValidator {
    /// The principal and the token's expiration time (ms since the epoch), or why the
    /// token is refused.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<(String, i64), String> {
        match self {
            TokenValidator::Unsecured(v) => v.validate(token, now_ms),
            TokenValidator::Signed(v) => v.validate(token, now_ms),
        }
    }
}

/// The validator's options.
#[derive(Clone, Debug)]
pub struct UnsecuredValidator {
    principal_claim: String,
    scope_claim: String,
    required_scope: Vec<String>,
    clock_skew_ms: i64,
}

impl Default for UnsecuredValidator {
    fn default() -> Self {
        UnsecuredValidator {
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: Vec::new(),
            clock_skew_ms: 0,
        }
    }
}

impl UnsecuredValidator {
    /// The validator an `OAuthBearerLoginModule` entry's options describe.
    pub fn from_options(options: &HashMap<String, String>) -> Result<UnsecuredValidator, String> {
        let mut v = UnsecuredValidator::default();
        if let Some(claim) = options
            .get("unsecuredValidatorPrincipalClaimName")
            .filter(|c| !c.trim().is_empty())
        {
            v.principal_claim = claim.trim().to_string();
        }
        if let Some(claim) = options
            .get("unsecuredValidatorScopeClaimName")
            .filter(|c| !c.trim().is_empty())
        {
            v.scope_claim = claim.trim().to_string();
        }
        if let Some(scope) = options.get("unsecuredValidatorRequiredScope") {
            v.required_scope = scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
        }
        if let Some(skew) = options.get("unsecuredValidatorAllowableClockSkewMs") {
            v.clock_skew_ms = skew.trim().parse::<i64>().ok().filter(|ms| *ms >= 0).ok_or_else(|| {
                format!("unsecuredValidatorAllowableClockSkewMs must be a non-negative number of ms, not {skew}")
            })?;
        }
        Ok(v)
    }

    /// The principal and the token's expiration time (ms since the epoch), or why the
    /// token is refused.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<(String, i64), String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("an unsecured JWS has three dot-separated parts".into());
        };
        if !signature.is_empty() {
            return Err("an unsecured JWS has an empty signature".into());
        }
        let header = decode_json(header).map_err(|e| format!("invalid JOSE header: {e}"))?;
        if header.get("alg").and_then(Value::as_str) != Some("none") {
            return Err("an unsecured JWS must have \"alg\":\"none\" in its header".into());
        }
        let claims = decode_json(payload).map_err(|e| format!("invalid claims: {e}"))?;
        let principal = match claims.get(&self.principal_claim) {
            Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
            Some(_) => return Err(format!("the {} claim is not a non-empty string", self.principal_claim)),
            None => return Err(format!("no {} claim", self.principal_claim)),
        };
        let time_ms = |claim: &str| claim_time_ms(claim, claims.get(claim));
        let issued_at = time_ms("iat")?;
        let expires_at = time_ms("exp")?.ok_or("no exp claim: the token must expire")?;
        if let Some(iat) = issued_at {
            if iat > now_ms.saturating_add(self.clock_skew_ms) {
                return Err(format!(
                    "the token was issued in the future (iat {iat} ms, now {now_ms} ms)"
                ));
            }
            if expires_at <= iat {
                return Err("the token expires before it was issued".into());
            }
        }
        if expires_at <= now_ms.saturating_sub(self.clock_skew_ms) {
            return Err(format!("the token expired (exp {expires_at} ms, now {now_ms} ms)"));
        }
        if !self.required_scope.is_empty() {
            let scope: Vec<&str> = match claims.get(&self.scope_claim) {
                Some(Value::String(s)) => s.split(' ').filter(|s| !s.is_empty()).collect(),
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if let Some(missing) = self.required_scope.iter().find(|r| !scope.contains(&r.as_str())) {
                return Err(format!("the token's scope lacks {missing}"));
            }
        }
        Ok((principal, expires_at))
    }
}

/// A NumericDate claim (seconds since the epoch, maybe fractional) in ms, if present.
pub(super) fn claim_time_ms(claim: &str, value: Option<&Value>) -> Result<Option<i64>, String> {
    match value {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|s| s.is_finite())
            .map(|s| Some((s * 1000.0) as i64))
            .ok_or_else(|| format!("the {claim} claim is not a number")),
    }
}

/// A base64url-encoded JSON object: a JWT's header or claims.
pub(super) fn decode_json(part: &str) -> Result<Value, String> {
    let bytes = BASE64URL
        .decode(part.trim_end_matches('='))
        .map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("not a JSON object".into())
    }
}

enum State {
    Initial,
    /// The token was refused and the client told why in JSON; it must acknowledge with
    /// 0x01, and then is refused with that JSON as the message, as Kafka does.
    Refused(String),
    Done,
}

pub struct OAuthBearerSaslServer {
    validator: Arc<TokenValidator>,
    state: State,
    expires_at_ms: Option<i64>,
}

impl OAuthBearerSaslServer {
    pub fn new(validator: Arc<TokenValidator>) -> OAuthBearerSaslServer {
        OAuthBearerSaslServer {
            validator,
            state: State::Initial,
            expires_at_ms: None,
        }
    }

    /// The client's first message: `n,[a=authzid],` then `0x01`-separated `key=value`
    /// pairs, `auth=Bearer <token>` among them, ended by two `0x01`.
    fn parse_initial(token: &[u8]) -> Result<(Option<String>, String), SaslError> {
        let malformed =
            |why: &str| SaslError::InvalidCredentials(format!("malformed OAUTHBEARER initial response: {why}"));
        let text = std::str::from_utf8(token).map_err(|_| malformed("not UTF-8"))?;
        let rest = text.strip_prefix("n,").ok_or_else(|| malformed("no gs2 header"))?;
        let (authzid, rest) = rest.split_once(',').ok_or_else(|| malformed("no gs2 header"))?;
        let authzid = match authzid {
            "" => None,
            a => Some(
                a.strip_prefix("a=")
                    .ok_or_else(|| malformed("bad authzid"))?
                    .to_string(),
            ),
        };
        let pairs = rest
            .strip_prefix('\u{1}')
            .and_then(|r| r.strip_suffix("\u{1}\u{1}"))
            .ok_or_else(|| malformed("key-value pairs not framed by 0x01"))?;
        let mut bearer = None;
        for pair in pairs.split('\u{1}') {
            let (key, value) = pair.split_once('=').ok_or_else(|| malformed("a pair without ="))?;
            if key == "auth" {
                let token = value
                    .strip_prefix("Bearer ")
                    .ok_or_else(|| malformed("auth is not a Bearer token"))?;
                bearer = Some(token.trim().to_string());
            }
        }
        let bearer = bearer.ok_or_else(|| malformed("no auth=Bearer pair"))?;
        Ok((authzid, bearer))
    }
}

impl SaslServer for OAuthBearerSaslServer {
    fn mechanism(&self) -> &'static str {
        "OAUTHBEARER"
    }

    fn evaluate_response(&mut self, token: &[u8]) -> Result<SaslStep, SaslError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Refused(json) => {
                if token == [1] {
                    Err(SaslError::Authentication(json))
                } else {
                    Err(SaslError::InvalidCredentials(
                        "the client did not acknowledge the refusal of its token".into(),
                    ))
                }
            }
            State::Done => Err(SaslError::Internal("the exchange is over".into())),
            State::Initial => {
                let (authzid, bearer) = Self::parse_initial(token)?;
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                match self.validator.validate(&bearer, now_ms) {
                    Ok((principal, expires_at)) => {
                        if authzid.as_ref().is_some_and(|a| *a != principal) {
                            return Err(SaslError::Authentication(
                                "Authentication failed: Client requested an authorization id that is different from the token's principal name".into(),
                            ));
                        }
                        self.expires_at_ms = Some(expires_at);
                        Ok(SaslStep::Complete {
                            reply: Vec::new(),
                            authorization_id: principal,
                        })
                    }
                    Err(why) => {
                        tracing::info!(reason = %why, "OAUTHBEARER token refused");
                        let json = r#"{"status":"invalid_token"}"#.to_string();
                        let challenge = json.clone().into_bytes();
                        self.state = State::Refused(json);
                        Ok(SaslStep::Continue(challenge))
                    }
                }
            }
        }
    }

    fn credential_expiration_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        format!("{}.{}.", BASE64URL.encode(header), BASE64URL.encode(claims))
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn unsecured_tokens_are_checked_as_kafka_checks_them() {
        let v = UnsecuredValidator::default();
        let none = r#"{"alg":"none"}"#;
        let good = jwt(none, r#"{"sub":"alice","iat":1799999999,"exp":1800000600}"#);
        assert_eq!(v.validate(&good, NOW), Ok(("alice".into(), 1_800_000_600_000)));
        let refused = [
            jwt(r#"{"alg":"HS256"}"#, r#"{"sub":"alice","exp":1800000600}"#),
            jwt(none, r#"{"exp":1800000600}"#),
            jwt(none, r#"{"sub":"alice"}"#),
            jwt(none, r#"{"sub":"alice","exp":1799999999}"#),
            jwt(none, r#"{"sub":7,"exp":1800000600}"#),
            jwt(none, r#"{"sub":"alice","iat":1800000700,"exp":1800000600}"#),
            format!("{}sig", good),
            "not-a-jwt".to_string(),
        ];
        for token in refused {
            assert!(v.validate(&token, NOW).is_err(), "{token}");
        }
    }

    #[test]
    fn options_name_the_principal_claim_and_the_required_scope() {
        let options = HashMap::from([
            ("unsecuredValidatorPrincipalClaimName".to_string(), "user".to_string()),
            ("unsecuredValidatorRequiredScope".to_string(), "kafka write".to_string()),
        ]);
        let v = UnsecuredValidator::from_options(&options).unwrap();
        let none = r#"{"alg":"none"}"#;
        let scoped = jwt(none, r#"{"user":"bob","scope":"kafka write read","exp":1800000600}"#);
        assert_eq!(v.validate(&scoped, NOW).unwrap().0, "bob");
        let narrow = jwt(none, r#"{"user":"bob","scope":["kafka"],"exp":1800000600}"#);
        assert!(v.validate(&narrow, NOW).is_err());
    }

    #[test]
    fn a_refused_token_is_answered_with_a_json_error_then_fails() {
        let mut server = OAuthBearerSaslServer::new(Arc::new(TokenValidator::Unsecured(UnsecuredValidator::default())));
        let expired = jwt(r#"{"alg":"none"}"#, r#"{"sub":"alice","exp":1000}"#);
        let first = format!("n,,\u{1}auth=Bearer {expired}\u{1}\u{1}");
        assert_eq!(
            server.evaluate_response(first.as_bytes()),
            Ok(SaslStep::Continue(br#"{"status":"invalid_token"}"#.to_vec()))
        );
        assert!(matches!(
            server.evaluate_response(&[1]),
            Err(SaslError::Authentication(_))
        ));
    }

    #[test]
    fn the_authorization_id_must_be_the_principal() {
        let token = jwt(r#"{"alg":"none"}"#, r#"{"sub":"alice","exp":99999999999}"#);
        let mut server = OAuthBearerSaslServer::new(Arc::new(TokenValidator::Unsecured(UnsecuredValidator::default())));
        let ok = format!("n,a=alice,\u{1}auth=Bearer {token}\u{1}\u{1}");
        assert!(matches!(
            server.evaluate_response(ok.as_bytes()),
            Ok(SaslStep::Complete { .. })
        ));
        let mut server = OAuthBearerSaslServer::new(Arc::new(TokenValidator::Unsecured(UnsecuredValidator::default())));
        let other = format!("n,a=bob,\u{1}auth=Bearer {token}\u{1}\u{1}");
        assert!(server.evaluate_response(other.as_bytes()).is_err());
    }
}
