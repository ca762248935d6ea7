//! Kafka's offset checkpoint files: `recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint` and `cleaner-offset-checkpoint`, all in one format.
//!
//! Text format, as Kafka writes it:
//!
//! ```text
//! 0                      <- version
//! 2                      <- number of entries
//! my-topic 0 1234        <- topic, partition, offset
//! my-topic 1 99
//! ```
//!
//! Written atomically (temp file, fsync, rename, fsync directory) so a crash leaves either the
//! old or the new checkpoint, never a torn one.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::fsync_dir;

pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
pub const CLEANER_OFFSET_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
const VERSION: i32 = 0;

/// One offset checkpoint file.
pub struct OffsetCheckpoint {
    path: PathBuf,
}

/// The recovery point checkpoint is an [`OffsetCheckpoint`] like the others.
pub type RecoveryPointCheckpoint = OffsetCheckpoint;

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

impl OffsetCheckpoint {
    pub fn new(path: PathBuf) -> OffsetCheckpoint {
        OffsetCheckpoint { path }
    }

    /// The recovery point checkpoint in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> OffsetCheckpoint {
        OffsetCheckpoint::new(data_dir.join(RECOVERY_POINT_CHECKPOINT_FILE))
    }

    /// The log start offset checkpoint in `data_dir`.
    pub fn log_start_in_dir(data_dir: &Path) -> OffsetCheckpoint {
        OffsetCheckpoint::new(data_dir.join(LOG_START_OFFSET_CHECKPOINT_FILE))
    }

    /// The cleaner's checkpoint in `data_dir`.
    pub fn cleaner_in_dir(data_dir: &Path) -> OffsetCheckpoint {
        OffsetCheckpoint::new(data_dir.join(CLEANER_OFFSET_CHECKPOINT_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the checkpoint; a missing file is an empty checkpoint, a malformed one an error.
    pub fn read(&self) -> io::Result<HashMap<(String, i32), i64>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(e),
        };
        let mut lines = text.lines();
        let version: i32 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| invalid("checkpoint has no version line"))?;
        if version != VERSION {
            return Err(invalid(format!("unsupported checkpoint version {version}")));
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| invalid("checkpoint has no entry count"))?;
        let mut entries = HashMap::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let line = lines
                .next()
                .ok_or_else(|| invalid("checkpoint has fewer entries than announced"))?;
            let mut fields = line.split_whitespace();
            let (Some(topic), Some(partition), Some(offset), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(invalid(format!("malformed checkpoint line {line:?}")));
            };
            let partition: i32 = partition
                .parse()
                .map_err(|_| invalid(format!("bad partition in {line:?}")))?;
            let offset: i64 = offset.parse().map_err(|_| invalid(format!("bad offset in {line:?}")))?;
            entries.insert((topic.to_string(), partition), offset);
        }
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(invalid("checkpoint has more entries than announced"));
        }
        Ok(entries)
    }

    /// Replaces the checkpoint atomically.
    pub fn write(&self, entries: &[(String, i32, i64)]) -> io::Result<()> {
        let mut text = format!("{VERSION}\n{}\n", entries.len());
        for (topic, partition, offset) in entries {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        let tmp = self.path.with_extension("tmp");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            fsync_dir(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kafka_format() {
        let dir = tempfile::tempdir().unwrap();
        let cp = RecoveryPointCheckpoint::in_dir(dir.path());
        assert!(cp.read().unwrap().is_empty());
        cp.write(&[("a.b-c".into(), 0, 10), ("x".into(), 3, 0)]).unwrap();
        assert_eq!(fs::read_to_string(cp.path()).unwrap(), "0\n2\na.b-c 0 10\nx 3 0\n");
        let read = cp.read().unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[&("a.b-c".to_string(), 0)], 10);
        assert!(!cp.path().with_extension("tmp").exists());
    }

    #[test]
    fn malformed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cp = RecoveryPointCheckpoint::in_dir(dir.path());
        for text in [
            "",
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt zero 1\n",
            "0\n1\nt 0 1 9\n",
            "0\n0\nt 0 1\n",
            "0\nx\n",
        ] {
            fs::write(cp.path(), text).unwrap();
            assert!(cp.read().is_err(), "{text:?}");
        }
    }
}
