//! SASL tokens from a client that has not authenticated: PLAIN and SCRAM-SHA-256/512 servers
//! fed any sequence of tokens, and the subject parser fed any certificate bytes. Nothing may
//! panic, and no token sequence authenticates without the password: the fuzzer knows only
//! the user name, so PLAIN may succeed only with the exact password, and SCRAM never.

#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rivulet::security::sasl::{PlainSaslServer, SaslServer, SaslStep};
use rivulet::security::scram::{ScramCredential, ScramFormatter, ScramMechanism, ScramSaslServer};
use rivulet::security::x500;

const PASSWORD: &str = "alice-secret";

/// alice's credential for a mechanism, derived once: PBKDF2 on every input would make each
/// run cost milliseconds.
fn credential(mechanism: ScramMechanism) -> ScramCredential {
    static CREDENTIALS: OnceLock<[ScramCredential; 2]> = OnceLock::new();
    let [sha256, sha512] = CREDENTIALS.get_or_init(|| {
        [ScramMechanism::Sha256, ScramMechanism::Sha512]
            .map(|m| ScramFormatter(m).credential(PASSWORD, b"salt".to_vec(), 4096))
    });
    match mechanism {
        ScramMechanism::Sha256 => sha256.clone(),
        ScramMechanism::Sha512 => sha512.clone(),
    }
}

fuzz_target!(
    init: rivulet_fuzz::write_seeds_if_asked(rivulet_fuzz::sasl_seeds),
    |data: &[u8]| {
        let Some((&mechanism, rest)) = data.split_first() else { return };
        let _ = x500::subject_name(rest);
        let mut server: Box<dyn SaslServer> = match mechanism % 3 {
            0 => Box::new(PlainSaslServer::new(Arc::new(HashMap::from([(
                "alice".to_string(),
                PASSWORD.to_string(),
            )])))),
            m => {
                let mechanism = if m == 1 { ScramMechanism::Sha256 } else { ScramMechanism::Sha512 };
                Box::new(ScramSaslServer::new(mechanism, Box::new(|user, m| {
                    (user == "alice").then(|| credential(m))
                })))
            }
        };
        let mut tokens = Vec::new();
        let mut start = 0;
        while let Some(at) = rest[start..].windows(2).position(|w| w == b"\0\0") {
            tokens.push(&rest[start..start + at]);
            start += at + 2;
        }
        tokens.push(&rest[start..]);
        for token in tokens.into_iter().take(4) {
            match server.evaluate_response(token) {
                Ok(SaslStep::Continue(_)) => {}
                Ok(SaslStep::Complete { authorization_id, .. }) => {
                    assert_eq!(mechanism % 3, 0, "SCRAM authenticated without the password");
                    assert_eq!(authorization_id, "alice");
                    assert!(token.ends_with(PASSWORD.as_bytes()), "PLAIN authenticated without the password");
                    return;
                }
                Err(_) => return,
            }
        }
    }
);
