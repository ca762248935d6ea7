//! The cluster's identity, kept in `<data-dir>/meta.properties` as Kafka keeps it, so that a
//! data directory is never silently served under another cluster id or node id.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub cluster_id: String,
    pub node_id: i32,
}

impl ClusterIdentity {
    /// Reads the identity, or creates one on first start with `cluster_id` (Kafka's 22-character
    /// base64 form) or a fresh id.
    pub fn load_or_create(data_dir: &Path, node_id: i32, cluster_id: Option<&str>) -> io::Result<ClusterIdentity> {
        crate::log::create_dir_durably(data_dir)?;
        let path = data_dir.join("meta.properties");
        if let Ok(text) = fs::read_to_string(&path) {
            let value = |key: &str| {
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_string())
            };
            let cluster_id =
                value("cluster.id").ok_or_else(|| io::Error::other(format!("{} has no cluster.id", path.display())))?;
            let stored: i32 = value("node.id").and_then(|v| v.parse().ok()).unwrap_or(node_id);
            if stored != node_id {
                return Err(io::Error::other(format!(
                    "{} belongs to node.id {stored} but this broker is configured as node.id {node_id}",
                    path.display()
                )));
            }
            return Ok(ClusterIdentity { cluster_id, node_id });
        }
        let cluster_id = match cluster_id {
            Some(id) if crate::log::partition_metadata::parse_kafka_uuid(id).is_some() => id.to_string(),
            Some(id) => {
                return Err(io::Error::other(format!(
                    "cluster id {id} is not a 22-character base64 UUID (kafka-storage random-uuid makes one)"
                )));
            }
            None => new_cluster_id(),
        };
        let identity = ClusterIdentity { cluster_id, node_id };
        let tmp = path.with_extension("properties.tmp");
        let mut f = fs::File::create(&tmp)?;
        write!(
            f,
            "#\nversion=1\ncluster.id={}\nnode.id={node_id}\n",
            identity.cluster_id
        )?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        // The rename is only durable once the directory is.
        fs::File::open(data_dir)?.sync_all()?;
        Ok(identity)
    }
}

/// Kafka's form: a random UUID in URL-safe base64 without padding (22 characters).
fn new_cluster_id() -> String {
    crate::log::partition_metadata::kafka_uuid_string(uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = ClusterIdentity::load_or_create(dir.path(), 1, None).unwrap();
        assert_eq!(a.cluster_id.len(), 22);
        let b = ClusterIdentity::load_or_create(dir.path(), 1, Some("MkU3OEVBNTcwNTJENDM2Qk")).unwrap();
        assert_eq!(a, b, "an existing directory keeps its cluster id");
        assert!(ClusterIdentity::load_or_create(dir.path(), 2, None).is_err());
        let fresh = tempfile::tempdir().unwrap();
        let c = ClusterIdentity::load_or_create(fresh.path(), 1, Some("MkU3OEVBNTcwNTJENDM2Qk")).unwrap();
        assert_eq!(c.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
        let other = tempfile::tempdir().unwrap();
        assert!(ClusterIdentity::load_or_create(other.path(), 1, Some("not-an-id")).is_err());
    }
}
