//! What every SASL mechanism's server side offers the authenticator, and PLAIN (RFC 4616)
//! with its credentials from a JAAS-style `PlainLoginModule` entry, as Kafka's
//! `PlainSaslServer` and `PlainServerCallbackHandler` use them.

use std::collections::HashMap;

/// One step of an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// More client tokens are expected; this is the server's challenge.
    Continue(Vec<u8>),
    /// The client is authenticated as `authorization_id`; `reply` is the last server token.
    Complete { reply: Vec<u8>, authorization_id: String },
}

#[derive(Debug, PartialEq, Eq)]
pub enum SaslError {
    /// A failure whose message the client may see (Kafka's `SaslAuthenticationException`).
    Authentication(String),
    /// Bad credentials or a malformed exchange: logged, while the client is told only that
    /// its credentials were invalid, so it learns nothing about which users exist.
    InvalidCredentials(String),
    Internal(String),
}

impl std::fmt::Display for SaslError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaslError::Authentication(m) | SaslError::InvalidCredentials(m) | SaslError::Internal(m) => f.write_str(m),
        }
    }
}

/// The server side of one mechanism's exchange on one connection.
pub trait SaslServer: Send {
    fn mechanism(&self) -> &'static str;
    fn evaluate_response(&mut self, token: &[u8]) -> Result<SaslStep, SaslError>;
    /// When the credential that authenticated the client expires (ms since the epoch), for
    /// mechanisms whose credentials do (OAUTHBEARER): the session ends then at the latest.
    fn credential_expiration_ms(&self) -> Option<i64> {
        None
    }
}

/// The options of the first login module in a JAAS configuration value, as Kafka's
/// `sasl.jaas.config` holds it: `ModuleClass flag key="value" ...;`.
pub fn parse_jaas_options(jaas: &str) -> Result<(String, HashMap<String, String>), String> {
    let mut chars = jaas.trim().chars().peekable();
    let word = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                break;
            }
            w.push(c);
            chars.next();
        }
        w
    };
    let module = word(&mut chars);
    let flag = word(&mut chars);
    if module.is_empty() || !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(
            "expected a login module class and a control flag (required, requisite, sufficient, optional)".into(),
        );
    }
    let mut options = HashMap::new();
    loop {
        let key = word(&mut chars);
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            return Err(format!("option {key} has no value"));
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => v.push(c),
                        None => return Err(format!("option {key}'s value is not closed")),
                    },
                    Some(c) => v.push(c),
                    None => return Err(format!("option {key}'s value is not closed")),
                }
            }
            v
        } else {
            word(&mut chars)
        };
        options.insert(key, value);
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    if chars.next() != Some(';') {
        return Err("a login module entry must end with ';'".into());
    }
    Ok((module, options))
}

pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// The users PLAIN accepts: each `user_<name>="<password>"` option of the listener's
/// `PlainLoginModule` entry.
pub fn plain_users(jaas: &str) -> Result<HashMap<String, String>, String> {
    let (module, options) = parse_jaas_options(jaas)?;
    if module != PLAIN_LOGIN_MODULE {
        return Err(format!("PLAIN needs {PLAIN_LOGIN_MODULE}, not {module}"));
    }
    Ok(options
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("user_").map(|u| (u.to_string(), v)))
        .collect())
}

/// PLAIN: one client message `authzid NUL authcid NUL password`.
pub struct PlainSaslServer {
    users: std::sync::Arc<HashMap<String, String>>,
    done: bool,
}

impl PlainSaslServer {
    pub fn new(users: std::sync::Arc<HashMap<String, String>>) -> PlainSaslServer {
        PlainSaslServer { users, done: false }
    }
}

impl SaslServer for PlainSaslServer {
    fn mechanism(&self) -> &'static str {
        "PLAIN"
    }

    fn evaluate_response(&mut self, token: &[u8]) -> Result<SaslStep, SaslError> {
        let fail = |m: &str| Err(SaslError::Authentication(m.to_string()));
        if self.done {
            return fail("Authentication failed: PLAIN takes one message");
        }
        self.done = true;
        let text = std::str::from_utf8(token)
            .map_err(|_| SaslError::Authentication("Invalid SASL/PLAIN response: not UTF-8".into()))?;
        let parts: Vec<&str> = text.split('\0').collect();
        let [authzid, username, password] = parts[..] else {
            return fail(&format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                parts.len()
            ));
        };
        if username.is_empty() {
            return fail("Authentication failed: username not specified");
        }
        if password.is_empty() {
            return fail("Authentication failed: password not specified");
        }
        let known = self.users.get(username).map(String::as_bytes);
        // Compared in full whatever the lengths, so timing tells nothing of the password.
        let matches = known.is_some_and(|k| {
            k.len() == password.len() && k.iter().zip(password.as_bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
        });
        if !matches {
            return fail("Authentication failed: Invalid username or password");
        }
        if !authzid.is_empty() && authzid != username {
            return fail("Authentication failed: Client requested an authorization id that is different from username");
        }
        Ok(SaslStep::Complete {
            reply: Vec::new(),
            authorization_id: username.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaas_entries_parse_as_kafka_writes_them() {
        let users = plain_users(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a\"b";"#,
        )
        .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "a\"b");
        assert!(plain_users("org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x\"").is_err());
        assert!(plain_users("org.apache.kafka.common.security.scram.ScramLoginModule required;").is_err());
        assert!(plain_users("PlainLoginModule maybe;").is_err());
    }

    #[test]
    fn plain_checks_every_field() {
        let users = std::sync::Arc::new(HashMap::from([("alice".to_string(), "pw".to_string())]));
        let step = |t: &[u8]| PlainSaslServer::new(users.clone()).evaluate_response(t);
        assert_eq!(
            step(b"\0alice\0pw"),
            Ok(SaslStep::Complete {
                reply: vec![],
                authorization_id: "alice".into()
            })
        );
        assert!(step(b"alice\0alice\0pw").is_ok());
        for bad in [
            &b"\0alice\0px"[..],
            b"\0alice\0p",
            b"\0bob\0pw",
            b"\0\0pw",
            b"\0alice\0",
            b"bob\0alice\0pw",
            b"alice\0pw",
            b"\xff\0a\0b",
        ] {
            assert!(step(bad).is_err(), "{bad:?}");
        }
    }
}
