//! Kafka's `FileRecords` slice: whole batches as a byte range of one segment file, handed to
//! the network layer without being read. A plaintext connection sends them with `sendfile`,
//! so they go from the page cache to the socket without a copy through the broker's memory;
//! a TLS connection, which must encrypt them, reads them first ([`FileRecords::read`]).
//!
//! The bytes of the range never change: a segment is only appended to past its size, and a
//! segment removed from the log (retention, compaction, deletion) keeps its open file until
//! the last slice of it is dropped.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::Bytes;

use super::segment::LogSegment;

#[derive(Clone)]
pub struct FileRecords {
    segment: Arc<LogSegment>,
    position: u64,
    len: usize,
}

impl FileRecords {
    pub(crate) fn new(segment: Arc<LogSegment>, position: u64, len: usize) -> FileRecords {
        FileRecords { segment, position, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the range starts in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The segment file's descriptor, open as long as `self` lives.
    pub fn raw_fd(&self) -> RawFd {
        self.segment.file().as_raw_fd()
    }

    /// The bytes, read into memory.
    pub fn read(&self) -> io::Result<Bytes> {
        let bytes = self.segment.read_at(self.position, self.len)?;
        if bytes.len() < self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} ends inside the records at position {} ({} of {} bytes)",
                    self.segment.log_path().display(),
                    self.position,
                    bytes.len(),
                    self.len
                ),
            ));
        }
        Ok(Bytes::from(bytes))
    }
}

impl fmt::Debug for FileRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRecords")
            .field("file", &self.segment.log_path())
            .field("position", &self.position)
            .field("len", &self.len)
            .finish()
    }
}
