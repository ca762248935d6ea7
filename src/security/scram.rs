//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka implements them: the
//! credential a broker keeps per user and mechanism ([`ScramCredential`]: salt, iterations,
//! stored key and server key, never the password), the formulas that derive it
//! ([`ScramFormatter`]), and the server side of one exchange ([`ScramSaslServer`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::sasl::{SaslError, SaslServer, SaslStep};

/// Kafka's SCRAM mechanisms, with the type codes AlterUserScramCredentials and
/// DescribeUserScramCredentials use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

/// Kafka's minimum for either mechanism: fewer iterations make a stolen credential cheap to
/// attack.
pub const MIN_ITERATIONS: i32 = 4096;
/// Kafka's controller refuses more than this (each login would cost too much CPU).
pub const MAX_ITERATIONS: i32 = 16384;

impl ScramMechanism {
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn from_type(code: i8) -> Option<ScramMechanism> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn type_code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn mechanism_name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }
}

/// What the broker stores for one user and mechanism.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// RFC 5802's functions for one hash.
pub struct ScramFormatter(pub ScramMechanism);

impl ScramFormatter {
    pub fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        match self.0 {
            ScramMechanism::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    pub fn hash(&self, data: &[u8]) -> Vec<u8> {
        match self.0 {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Hi(password, salt, iterations): PBKDF2 with this hash's HMAC.
    pub fn salted_password(&self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self.0 {
            ScramMechanism::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec(),
            ScramMechanism::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec(),
        }
    }

    pub fn client_key(&self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Client Key")
    }

    pub fn server_key(&self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Server Key")
    }

    pub fn stored_key(&self, client_key: &[u8]) -> Vec<u8> {
        self.hash(client_key)
    }

    /// The credential for a salted password, as the controller derives it from an
    /// AlterUserScramCredentials upsertion (clients send the salted password, not the password).
    pub fn credential_from_salted(&self, salt: Vec<u8>, salted_password: &[u8], iterations: i32) -> ScramCredential {
        ScramCredential {
            salt,
            stored_key: self.stored_key(&self.client_key(salted_password)),
            server_key: self.server_key(salted_password),
            iterations,
        }
    }

    pub fn credential(&self, password: &str, salt: Vec<u8>, iterations: i32) -> ScramCredential {
        let salted = self.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
        self.credential_from_salted(salt, &salted, iterations)
    }
}

/// Equality that takes the same time wherever the inputs differ, so a proof cannot be
/// guessed byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A SCRAM `saslname`: `=2C` and `=3D` stand for `,` and `=`; any other `=` is malformed.
fn decode_saslname(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A fresh server nonce in Kafka's alphabet: lower-case letters and digits (Kafka prints 130
/// random bits in base 36). Some clients mishandle other printable characters in the nonce.
fn server_nonce() -> Result<String, SaslError> {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut nonce = String::with_capacity(32);
    while nonce.len() < 32 {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes)
            .map_err(|e| SaslError::Internal(format!("no randomness for a SCRAM nonce: {e}")))?;
        // Bytes past the largest multiple of 36 are dropped, so every character is equally likely.
        for b in bytes.into_iter().filter(|b| *b < 252) {
            if nonce.len() < 32 {
                nonce.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
    }
    Ok(nonce)
}

/// Looks a user's credential up when its client-first message names it.
pub type CredentialLookup = Box<dyn Fn(&str, ScramMechanism) -> Option<ScramCredential> + Send + Sync>;

enum State {
    ReceiveClientFirst,
    ReceiveClientFinal {
        username: String,
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        credential: ScramCredential,
    },
    Complete {
        username: String,
    },
    Failed,
}

/// The server side of one SCRAM exchange: client-first, server-first, client-final,
/// server-final.
pub struct ScramSaslServer {
    mechanism: ScramMechanism,
    lookup: CredentialLookup,
    state: State,
}

impl ScramSaslServer {
    pub fn new(mechanism: ScramMechanism, lookup: CredentialLookup) -> ScramSaslServer {
        ScramSaslServer {
            mechanism,
            lookup,
            state: State::ReceiveClientFirst,
        }
    }

    fn client_first(&mut self, token: &str) -> Result<Vec<u8>, SaslError> {
        let invalid = || SaslError::InvalidCredentials("Invalid SCRAM client first message".into());
        // gs2-header: a channel-binding flag ("n": Kafka supports no channel binding), an
        // optional authorization id, then the bare message.
        let rest = token.strip_prefix("n,").ok_or_else(invalid)?;
        let (authzid, bare) = rest.split_once(',').ok_or_else(invalid)?;
        let authzid = match authzid {
            "" => None,
            a => Some(a.strip_prefix("a=").ok_or_else(invalid)?),
        };
        let gs2_header = format!("n,{},", authzid.map(|a| format!("a={a}")).unwrap_or_default());
        let mut fields = bare.split(',');
        let saslname = fields.next().and_then(|f| f.strip_prefix("n=")).ok_or_else(invalid)?;
        let client_nonce = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(invalid)?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(invalid());
        }
        // Extensions: Kafka's only one, `tokenauth`, is for delegation tokens, which this
        // broker does not issue, so such a login cannot succeed.
        for extension in fields {
            if extension.starts_with("tokenauth=") {
                return Err(SaslError::InvalidCredentials(
                    "Authentication failed: delegation tokens are not supported".into(),
                ));
            }
        }
        let username = decode_saslname(saslname)
            .filter(|u| !u.is_empty())
            .ok_or_else(invalid)?;
        if let Some(authzid) = authzid
            && decode_saslname(authzid).as_deref() != Some(username.as_str())
        {
            return Err(SaslError::InvalidCredentials(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            ));
        }
        let credential = (self.lookup)(&username, self.mechanism)
            .ok_or_else(|| SaslError::InvalidCredentials("Authentication failed: Invalid user credentials".into()))?;
        let nonce = format!("{client_nonce}{}", server_nonce()?);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        self.state = State::ReceiveClientFinal {
            username,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            credential,
        };
        Ok(reply)
    }

    fn client_final(&mut self, token: &str) -> Result<Vec<u8>, SaslError> {
        let State::ReceiveClientFinal {
            username,
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
            credential,
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(SaslError::InvalidCredentials("Unexpected SCRAM state".into()));
        };
        let invalid = || SaslError::InvalidCredentials("Invalid SCRAM client final message".into());
        let (without_proof, proof) = token.rsplit_once(",p=").ok_or_else(invalid)?;
        let mut fields = without_proof.split(',');
        let channel = fields.next().and_then(|f| f.strip_prefix("c=")).ok_or_else(invalid)?;
        let client_nonce = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(invalid)?;
        // RFC 5802 asks for exactly the combined nonce, and so does Kafka 4 (CVE-2024-56128),
        // which refuses librdkafka before 2.6.1: it sends its own nonce once more in front.
        if client_nonce != nonce {
            return Err(SaslError::InvalidCredentials(format!(
                "Invalid client nonce in the final client message: {client_nonce:?}, expected {nonce:?}"
            )));
        }
        if BASE64.decode(channel).ok().as_deref() != Some(gs2_header.as_bytes()) {
            return Err(SaslError::InvalidCredentials(
                "Invalid channel binding in the final client message.".into(),
            ));
        }
        let proof = BASE64.decode(proof).map_err(|_| invalid())?;
        let formatter = ScramFormatter(self.mechanism);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = formatter.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(SaslError::InvalidCredentials("Invalid client credentials".into()));
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&formatter.stored_key(&client_key), &credential.stored_key) {
            return Err(SaslError::InvalidCredentials("Invalid client credentials".into()));
        }
        let server_signature = formatter.hmac(&credential.server_key, auth_message.as_bytes());
        self.state = State::Complete { username };
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }
}

impl SaslServer for ScramSaslServer {
    fn mechanism(&self) -> &'static str {
        self.mechanism.mechanism_name()
    }

    fn evaluate_response(&mut self, token: &[u8]) -> Result<SaslStep, SaslError> {
        let text = std::str::from_utf8(token)
            .map_err(|_| SaslError::InvalidCredentials("SCRAM message is not UTF-8".into()))?
            .to_string();
        let outcome = match self.state {
            State::ReceiveClientFirst => self.client_first(&text),
            State::ReceiveClientFinal { .. } => self.client_final(&text),
            State::Complete { .. } | State::Failed => {
                Err(SaslError::InvalidCredentials("Unexpected SCRAM message".into()))
            }
        };
        match outcome {
            Ok(reply) => Ok(match &self.state {
                State::Complete { username } => SaslStep::Complete {
                    reply,
                    authorization_id: username.clone(),
                },
                _ => SaslStep::Continue(reply),
            }),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example, with its nonce, salt and iterations.
    #[test]
    fn rfc7677_example_authenticates_and_signs() {
        let formatter = ScramFormatter(ScramMechanism::Sha256);
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = formatter.credential("pencil", salt, 4096);
        let client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth = format!("{bare},{server_first},{without_proof}");
        let server_signature = formatter.hmac(&credential.server_key, auth.as_bytes());
        assert_eq!(
            BASE64.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // The server's own nonce differs from the RFC's, so the exchange itself is checked
        // with a client computed here.
        let stored = credential.clone();
        let mut server = ScramSaslServer::new(ScramMechanism::Sha256, Box::new(move |_, _| Some(stored.clone())));
        let SaslStep::Continue(first) = server.evaluate_response(client_first.as_bytes()).unwrap() else {
            panic!("SCRAM completes after two messages");
        };
        let first = String::from_utf8(first).unwrap();
        let nonce = first.strip_prefix("r=").unwrap().split(',').next().unwrap();
        assert!(nonce.starts_with("rOprNGfwEbeRWgbNEkqO") && nonce.len() > 20);
        let salted = formatter.salted_password(b"pencil", &credential.salt, 4096);
        let final_bare = format!("c=biws,r={nonce}");
        let auth = format!("{bare},{first},{final_bare}");
        let client_key = formatter.client_key(&salted);
        let signature = formatter.hmac(&formatter.stored_key(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let final_message = format!("{final_bare},p={}", BASE64.encode(&proof));
        let step = server.evaluate_response(final_message.as_bytes()).unwrap();
        let expected = formatter.hmac(&credential.server_key, auth.as_bytes());
        assert_eq!(
            step,
            SaslStep::Complete {
                reply: format!("v={}", BASE64.encode(expected)).into_bytes(),
                authorization_id: "user".into()
            }
        );
    }

    /// A client-final message for `server`'s challenge, with `nonce_prefix` before the nonce.
    fn client_final(
        formatter: &ScramFormatter,
        bare: &str,
        first: &str,
        password: &[u8],
        nonce_prefix: &str,
    ) -> String {
        let fields: Vec<&str> = first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        let salt = BASE64.decode(fields[1].strip_prefix("s=").unwrap()).unwrap();
        let salted = formatter.salted_password(password, &salt, 4096);
        let final_bare = format!("c=biws,r={nonce_prefix}{nonce}");
        let auth = format!("{bare},{first},{final_bare}");
        let client_key = formatter.client_key(&salted);
        let signature = formatter.hmac(&formatter.stored_key(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        format!("{final_bare},p={}", BASE64.encode(proof))
    }

    /// librdkafka before 2.6.1 repeats its nonce in the final message; Kafka 4 refuses that
    /// (a final nonce must be the combined one exactly), and so does this server, even with
    /// a proof computed over what it sent. A wrong password fails too.
    #[test]
    fn final_nonce_must_be_the_combined_nonce() {
        let formatter = ScramFormatter(ScramMechanism::Sha512);
        let credential = formatter.credential("pw", vec![3; 16], 4096);
        for (prefix, password, accepted) in [("", "pw", true), ("cn", "pw", false), ("", "px", false)] {
            let stored = credential.clone();
            let mut server = ScramSaslServer::new(ScramMechanism::Sha512, Box::new(move |_, _| Some(stored.clone())));
            let SaslStep::Continue(first) = server.evaluate_response(b"n,,n=alice,r=cn").unwrap() else {
                panic!("SCRAM completes after two messages");
            };
            let first = String::from_utf8(first).unwrap();
            assert!(
                first[2..]
                    .split(',')
                    .next()
                    .unwrap()
                    .bytes()
                    .skip(2)
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
            let last = client_final(&formatter, "n=alice,r=cn", &first, password.as_bytes(), prefix);
            assert_eq!(
                server.evaluate_response(last.as_bytes()).is_ok(),
                accepted,
                "{prefix:?} {password}"
            );
        }
        let stored = credential.clone();
        let mut server = ScramSaslServer::new(ScramMechanism::Sha512, Box::new(move |_, _| Some(stored.clone())));
        let SaslStep::Continue(first) = server.evaluate_response(b"n,,n=alice,r=cn").unwrap() else {
            panic!("SCRAM completes after two messages");
        };
        let first = String::from_utf8(first).unwrap();
        let last = client_final(&formatter, "n=alice,r=cn", &first, b"pw", "").replace(",r=cn", ",r=cX");
        assert!(
            server.evaluate_response(last.as_bytes()).is_err(),
            "a changed nonce fails"
        );
    }

    #[test]
    fn saslnames_decode_and_bad_escapes_are_refused() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_saslname("a=2"), None);
        assert_eq!(decode_saslname("a=XYb"), None);
    }

    #[test]
    fn unknown_users_and_foreign_authzids_fail() {
        let mut server = ScramSaslServer::new(ScramMechanism::Sha512, Box::new(|_, _| None));
        assert!(server.evaluate_response(b"n,,n=nobody,r=abc").is_err());
        let mut server = ScramSaslServer::new(
            ScramMechanism::Sha512,
            Box::new(|_, m| Some(ScramFormatter(m).credential("pw", vec![1; 16], 4096))),
        );
        assert!(server.evaluate_response(b"n,a=admin,n=alice,r=abc").is_err());
        assert!(server.evaluate_response(b"n,,n=alice,r=abc").is_err(), "no second try");
    }
}
