//! The metadata log: every change to the set of topics, their configs and the dynamic broker
//! configs is appended as one JSON line and fsynced before it is acknowledged; replaying the
//! file at start rebuilds the registry.
//!
//! A torn last line (a crash mid-append) is dropped on replay. When the file holds many more
//! records than live topics, it is rewritten as a snapshot (temp file, fsync, rename).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// One change to the topic registry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    CreateTopic {
        name: String,
        id: String,
        partitions: i32,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
        id: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
    },
    /// The full override map of a topic after an AlterConfigs.
    AlterTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// The full set of dynamic broker configs of one scope: `resource` is the node id for
    /// this broker's own configs, "" for the cluster-wide defaults.
    AlterBrokerConfigs {
        resource: String,
        configs: BTreeMap<String, String>,
    },
    /// The full set of quotas of one client-quota entity after an AlterClientQuotas; an empty
    /// set removes the entity.
    AlterClientQuotas {
        entity: BTreeMap<String, Option<String>>,
        quotas: BTreeMap<String, f64>,
    },
    /// A user's SCRAM credential for one mechanism (Kafka's type code), binary fields in
    /// base64: the salt and the keys derived from the salted password, never the password.
    UserScramCredential {
        name: String,
        mechanism: i8,
        salt: String,
        stored_key: String,
        server_key: String,
        iterations: i32,
    },
    RemoveUserScramCredential {
        name: String,
        mechanism: i8,
    },
    /// One ACL under its id, with Kafka's codes for the resource type, pattern type,
    /// operation and permission type.
    AccessControlEntry {
        id: String,
        resource_type: i8,
        resource_name: String,
        pattern_type: i8,
        principal: String,
        host: String,
        operation: i8,
        permission_type: i8,
    },
    RemoveAccessControlEntry {
        id: String,
    },
}

pub struct MetadataLog {
    path: PathBuf,
    file: File,
    /// Records in the file; shared so readers (ApiVersions, DescribeQuorum) need not take the
    /// lock that appends hold across their fsync.
    records: Arc<AtomicUsize>,
    /// Set at the first failed write or fsync: like a partition log, the metadata log then
    /// refuses every change until a restart, since a retried fsync could claim lost data.
    failure: Option<String>,
}

impl MetadataLog {
    /// Opens the log, returning it and the records it holds, in order.
    pub fn open(data_dir: &Path) -> io::Result<(MetadataLog, Vec<MetadataRecord>)> {
        crate::log::create_dir_durably(data_dir)?;
        let path = data_dir.join("cluster-metadata.log");
        let mut records = Vec::new();
        let mut good_len = 0u64;
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            let mut offset = 0u64;
            for line in reader.split(b'\n') {
                let line = line?;
                let len = line.len() as u64 + 1;
                match serde_json::from_slice::<MetadataRecord>(&line) {
                    Ok(r) => {
                        records.push(r);
                        offset += len;
                        good_len = offset;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), offset, error = %e, "metadata log ends in an unreadable record; dropping it and what follows");
                        break;
                    }
                }
            }
        }
        let existed = path.exists();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if !existed {
            // A new file's entry must be durable before any record in it can be.
            File::open(data_dir)?.sync_all()?;
        }
        if file.metadata()?.len() != good_len {
            file.set_len(good_len)?;
            file.sync_all()?;
        }
        let count = records.len();
        Ok((
            MetadataLog {
                path,
                file,
                records: Arc::new(AtomicUsize::new(count)),
                failure: None,
            },
            records,
        ))
    }

    /// Appends one record durably.
    pub fn append(&mut self, record: &MetadataRecord) -> io::Result<()> {
        if let Some(why) = &self.failure {
            return Err(io::Error::other(format!("metadata log failed earlier: {why}")));
        }
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let before = self.file.metadata()?.len();
        if let Err(e) = self.file.write_all(&line) {
            // A full disk loses nothing once the partial line is cut off: refuse this change
            // and keep serving. Anything else may have lost data.
            if e.raw_os_error() == Some(libc::ENOSPC) && self.file.set_len(before).is_ok() {
                return Err(e);
            }
            let why = format!("write to {} failed: {e}", self.path.display());
            tracing::error!("{why}: topic, config and quota changes are refused until the broker restarts");
            self.failure = Some(why);
            return Err(e);
        }
        if let Err(e) = self.file.sync_data() {
            let why = format!("fsync of {} failed: {e}", self.path.display());
            tracing::error!(
                "{why}: topic, config and quota changes are refused until the broker restarts; \
                 check the disk"
            );
            self.failure = Some(why);
            return Err(e);
        }
        self.records.fetch_add(1, Ordering::Release);
        Ok(())
    }

    pub fn record_count(&self) -> usize {
        self.records.load(Ordering::Acquire)
    }

    /// The live record count, readable without this log's lock.
    pub fn record_counter(&self) -> Arc<AtomicUsize> {
        self.records.clone()
    }

    /// Replaces the log with `snapshot` atomically.
    pub fn rewrite(&mut self, snapshot: &[MetadataRecord]) -> io::Result<()> {
        let tmp = self.path.with_extension("log.tmp");
        {
            let mut f = File::create(&tmp)?;
            for r in snapshot {
                let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
                line.push(b'\n');
                f.write_all(&line)?;
            }
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.records.store(snapshot.len(), Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_drops_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, records) = MetadataLog::open(dir.path()).unwrap();
        assert!(records.is_empty());
        let r = MetadataRecord::CreatePartitions {
            name: "t".into(),
            count: 3,
        };
        log.append(&r).unwrap();
        drop(log);
        let path = dir.path().join("cluster-metadata.log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"type\":\"create_").unwrap();
        let (mut log, records) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![r.clone()]);
        log.append(&r).unwrap();
        let (_, records) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(records.len(), 2);
    }
}
