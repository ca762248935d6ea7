//! SCRAM credentials in the metadata log, as Kafka's controller keeps them
//! (`UserScramCredentialRecord`, `RemoveUserScramCredentialRecord`): per user and mechanism,
//! the salt, iteration count, stored key and server key. The SASL authenticator reads them
//! here; AlterUserScramCredentials changes them.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::metadata_log::MetadataRecord;
use super::topics::{TopicError, TopicRegistry};
use crate::security::{ScramCredential, ScramMechanism};

pub type ScramCredentials = BTreeMap<(String, ScramMechanism), ScramCredential>;

/// One validated change of AlterUserScramCredentials.
pub enum ScramChange {
    Upsert(String, ScramMechanism, ScramCredential),
    Delete(String, ScramMechanism),
}

fn record(change: &ScramChange) -> MetadataRecord {
    match change {
        ScramChange::Upsert(name, mechanism, c) => MetadataRecord::UserScramCredential {
            name: name.clone(),
            mechanism: mechanism.type_code(),
            salt: BASE64.encode(&c.salt),
            stored_key: BASE64.encode(&c.stored_key),
            server_key: BASE64.encode(&c.server_key),
            iterations: c.iterations,
        },
        ScramChange::Delete(name, mechanism) => MetadataRecord::RemoveUserScramCredential {
            name: name.clone(),
            mechanism: mechanism.type_code(),
        },
    }
}

/// Replays one SCRAM record; a record that does not decode is logged and skipped.
pub(super) fn apply(credentials: &mut ScramCredentials, record: MetadataRecord) {
    match record {
        MetadataRecord::UserScramCredential {
            name,
            mechanism,
            salt,
            stored_key,
            server_key,
            iterations,
        } => {
            let decoded = (
                ScramMechanism::from_type(mechanism),
                BASE64.decode(salt),
                BASE64.decode(stored_key),
                BASE64.decode(server_key),
            );
            let (Some(mechanism), Ok(salt), Ok(stored_key), Ok(server_key)) = decoded else {
                tracing::warn!(user = %name, "metadata log holds a malformed SCRAM credential; skipped");
                return;
            };
            credentials.insert(
                (name, mechanism),
                ScramCredential {
                    salt,
                    stored_key,
                    server_key,
                    iterations,
                },
            );
        }
        MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
            if let Some(mechanism) = ScramMechanism::from_type(mechanism) {
                credentials.remove(&(name, mechanism));
            }
        }
        _ => {}
    }
}

pub(super) fn snapshot(credentials: &ScramCredentials) -> Vec<MetadataRecord> {
    credentials
        .iter()
        .map(|((name, mechanism), c)| record(&ScramChange::Upsert(name.clone(), *mechanism, c.clone())))
        .collect()
}

impl TopicRegistry {
    pub fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.state.read().scram.get(&(user.to_string(), mechanism)).cloned()
    }

    /// Every user with a credential, with each of its mechanisms and iteration counts.
    pub fn scram_users(&self) -> BTreeMap<String, Vec<(ScramMechanism, i32)>> {
        let mut users: BTreeMap<String, Vec<(ScramMechanism, i32)>> = BTreeMap::new();
        for ((name, mechanism), c) in &self.state.read().scram {
            users.entry(name.clone()).or_default().push((*mechanism, c.iterations));
        }
        users
    }

    /// Persists and applies validated changes, all in one go under the metadata log's lock.
    pub fn alter_scram_credentials(&self, changes: &[ScramChange]) -> Result<(), TopicError> {
        let mut log = self.log.lock();
        for change in changes {
            log.append(&record(change))?;
        }
        let mut state = self.state.write();
        for change in changes {
            apply(&mut state.scram, record(change));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::ScramFormatter;

    #[test]
    fn credentials_survive_a_restart_and_removal_sticks() {
        let dir = tempfile::tempdir().unwrap();
        let config = std::sync::Arc::new(crate::config::BrokerConfig::default());
        let credential = ScramFormatter(ScramMechanism::Sha512).credential("secret", vec![7; 16], 4096);
        {
            let registry = TopicRegistry::open(config.clone(), dir.path()).unwrap();
            registry
                .alter_scram_credentials(&[
                    ScramChange::Upsert("alice".into(), ScramMechanism::Sha512, credential.clone()),
                    ScramChange::Upsert("bob".into(), ScramMechanism::Sha256, credential.clone()),
                ])
                .unwrap();
            registry
                .alter_scram_credentials(&[ScramChange::Delete("bob".into(), ScramMechanism::Sha256)])
                .unwrap();
        }
        let registry = TopicRegistry::open(config, dir.path()).unwrap();
        assert_eq!(
            registry.scram_credential("alice", ScramMechanism::Sha512),
            Some(credential)
        );
        assert_eq!(registry.scram_credential("alice", ScramMechanism::Sha256), None);
        assert_eq!(registry.scram_credential("bob", ScramMechanism::Sha256), None);
        let users = registry.scram_users();
        assert_eq!(users.keys().collect::<Vec<_>>(), ["alice"]);
        let log = std::fs::read_to_string(dir.path().join("cluster-metadata.log")).unwrap();
        assert!(!log.contains("secret"), "the password is never stored");
    }
}
