//! `partition.metadata`: the id of the topic a partition directory belongs to, in Kafka's file
//! format (`version: 0` then `topic_id: <id>`, the id in Kafka's URL-safe base64 form).
//!
//! A directory is named after its topic, and names are reused: a topic deleted just before a
//! crash, whose directories were not yet moved away, would otherwise hand its records to the
//! next topic of that name. With the id on disk the broker can tell the two apart.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use uuid::Uuid;

pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's text form of a UUID (`Uuid.toString()`): URL-safe base64 without padding.
pub fn kafka_uuid_string(id: Uuid) -> String {
    let mut out = String::with_capacity(22);
    let (mut acc, mut bits) = (0u32, 0);
    for b in id.into_bytes() {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

/// Parses [`kafka_uuid_string`]'s form.
pub fn parse_kafka_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 22 {
        return None;
    }
    let mut bytes = Vec::with_capacity(17);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
        }
    }
    Some(Uuid::from_bytes(bytes.get(..16)?.try_into().ok()?))
}

/// The topic id stored in `dir`, `None` when the file is absent; a file that cannot be read
/// as Kafka's format is an error.
pub fn read_topic_id(dir: &Path) -> io::Result<Option<Uuid>> {
    let text = match fs::read_to_string(dir.join(PARTITION_METADATA_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|id| parse_kafka_uuid(id.trim()))
        .map(Some)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{}: no readable topic_id",
                dir.join(PARTITION_METADATA_FILE).display()
            ))
        })
}

/// Stores `id` in `dir` durably: temp file, fsync, rename, directory fsync.
pub fn write_topic_id(dir: &Path, id: Uuid) -> io::Result<()> {
    let path = dir.join(PARTITION_METADATA_FILE);
    let tmp = dir.join(format!("{PARTITION_METADATA_FILE}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        write!(f, "version: 0\ntopic_id: {}\n", kafka_uuid_string(id))?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    super::fsync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_form_round_trips() {
        for _ in 0..100 {
            let id = Uuid::new_v4();
            let text = kafka_uuid_string(id);
            assert_eq!(text.len(), 22);
            assert_eq!(parse_kafka_uuid(&text), Some(id));
        }
        // Kafka's reserved "zero" id prints as 22 'A's.
        assert_eq!(kafka_uuid_string(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(parse_kafka_uuid("not-an-id"), None);
    }

    #[test]
    fn file_round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_topic_id(dir.path()).unwrap(), None);
        let id = Uuid::new_v4();
        write_topic_id(dir.path(), id).unwrap();
        let text = fs::read_to_string(dir.path().join(PARTITION_METADATA_FILE)).unwrap();
        assert_eq!(text, format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(id)));
        assert_eq!(read_topic_id(dir.path()).unwrap(), Some(id));
        fs::write(dir.path().join(PARTITION_METADATA_FILE), "garbage").unwrap();
        assert!(read_topic_id(dir.path()).is_err());
    }
}
