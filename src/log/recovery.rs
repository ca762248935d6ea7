//! Walking the batches of a segment file and deciding where the valid data ends.
//!
//! Used to rebuild indexes, to check the tail of the active segment on every start, and, after
//! an unclean shutdown, to CRC-check every segment from the recovery point on. A walk stops at
//! the first batch that is torn (runs past the end of the file), malformed, fails its CRC, or
//! goes back in offsets (gaps are normal: compaction leaves them); everything from there on is
//! not part of the log.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::record::batch::{BATCH_HEADER_SIZE, BatchHeader, verify_crc as check_crc};

/// Reads a file through one reusable buffer, so walking many small batches costs few syscalls.
pub(crate) struct FileWindow<'a> {
    file: &'a File,
    limit: u64,
    buf: Vec<u8>,
    start: u64,
    capacity: usize,
}

impl<'a> FileWindow<'a> {
    /// A window over bytes `[0, limit)` of `file`, reading `capacity` bytes at a time.
    pub(crate) fn new(file: &'a File, limit: u64, capacity: usize) -> FileWindow<'a> {
        FileWindow {
            file,
            limit,
            buf: Vec::new(),
            start: 0,
            capacity: capacity.max(BATCH_HEADER_SIZE),
        }
    }

    /// Bytes `[pos, pos + len)`, or None when they are not all below the limit (or the file is
    /// shorter than expected).
    pub(crate) fn get(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = pos.checked_add(len as u64) else {
            return Ok(None);
        };
        if end > self.limit {
            return Ok(None);
        }
        let cached_end = self.start + self.buf.len() as u64;
        if pos < self.start || end > cached_end {
            let want = (len.max(self.capacity) as u64).min(self.limit - pos) as usize;
            self.buf.resize(want, 0);
            let got = read_fully_at(self.file, &mut self.buf, pos)?;
            self.buf.truncate(got);
            self.start = pos;
            if got < len {
                return Ok(None);
            }
        }
        let from = (pos - self.start) as usize;
        Ok(self.buf.get(from..from + len))
    }
}

/// `read_at` until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_fully_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// One batch met during a walk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScannedBatch {
    pub position: u64,
    pub header: BatchHeader,
}

/// Where a walk ended and why.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScanOutcome {
    /// End of the last good batch: the file is valid up to here.
    pub valid_end: u64,
    /// Offset after the last good batch, if any batch was good.
    pub next_offset: Option<i64>,
    pub batches: u64,
    /// Why the walk stopped before the end of the file, if it did.
    pub stop_reason: Option<String>,
}

/// Walks batches from `start` up to `limit` bytes of `file`.
///
/// `expected_base`: the lowest base offset the first batch may have (None to accept any); each
/// later batch must start after the previous one's last offset. With `verify_crc` every batch is
/// read whole and its CRC-32C checked; otherwise only headers are read.
pub(crate) fn scan_batches(
    file: &File,
    start: u64,
    limit: u64,
    expected_base: Option<i64>,
    verify_crc: bool,
    mut on_batch: impl FnMut(&ScannedBatch),
) -> io::Result<ScanOutcome> {
    let mut window = FileWindow::new(file, limit, 1 << 20);
    let mut outcome = ScanOutcome {
        valid_end: start,
        ..ScanOutcome::default()
    };
    let mut pos = start;
    let mut expected = expected_base;
    while pos < limit {
        let Some(head) = window.get(pos, BATCH_HEADER_SIZE)? else {
            outcome.stop_reason = Some(format!(
                "{} bytes at position {pos} are too short for a batch header",
                limit - pos
            ));
            break;
        };
        let header = match BatchHeader::parse(head) {
            Ok(h) => h,
            Err(e) => {
                outcome.stop_reason = Some(format!("bad batch header at position {pos}: {e}"));
                break;
            }
        };
        let size = header.total_size();
        if pos + size as u64 > limit {
            outcome.stop_reason = Some(format!(
                "batch at position {pos} (base offset {}) needs {size} bytes, only {} remain",
                header.base_offset,
                limit - pos
            ));
            break;
        }
        if header.last_offset_delta < 0 {
            outcome.stop_reason = Some(format!(
                "batch at position {pos} has negative last offset delta {}",
                header.last_offset_delta
            ));
            break;
        }
        // Compaction leaves gaps between batches; going back in offsets is damage.
        if let Some(want) = expected
            && header.base_offset < want
        {
            outcome.stop_reason = Some(format!(
                "batch at position {pos} has base offset {}, expected at least {want}",
                header.base_offset
            ));
            break;
        }
        if verify_crc {
            let Some(bytes) = window.get(pos, size)? else {
                outcome.stop_reason = Some(format!("batch at position {pos} could not be read whole"));
                break;
            };
            if let Err(e) = check_crc(&header, bytes) {
                outcome.stop_reason = Some(format!("batch at position {pos}: {e}"));
                break;
            }
        }
        on_batch(&ScannedBatch { position: pos, header });
        outcome.batches += 1;
        outcome.next_offset = Some(header.last_offset().saturating_add(1));
        expected = outcome.next_offset;
        pos += size as u64;
        outcome.valid_end = pos;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_util::batch;
    use crate::record::batch::set_base_offset;
    use std::io::Write;

    fn write_log(batches: &[Vec<u8>]) -> (tempfile::NamedTempFile, u64) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut next = 0;
        for b in batches {
            let mut b = b.clone();
            set_base_offset(&mut b, next);
            next += crate::record::BatchHeader::parse(&b).unwrap().offset_count();
            f.write_all(&b).unwrap();
        }
        let len = f.as_file().metadata().unwrap().len();
        (f, len)
    }

    #[test]
    fn walks_good_batches() {
        let (f, len) = write_log(&[batch(3, 0), batch(1, 0), batch(5, 0)]);
        let mut seen = Vec::new();
        let out = scan_batches(f.as_file(), 0, len, Some(0), true, |b| seen.push(b.header.base_offset)).unwrap();
        assert_eq!(seen, vec![0, 3, 4]);
        assert_eq!(out.valid_end, len);
        assert_eq!(out.next_offset, Some(9));
        assert!(out.stop_reason.is_none());
    }

    #[test]
    fn stops_at_torn_corrupt_or_discontiguous() {
        let (f, len) = write_log(&[batch(3, 0), batch(2, 0)]);
        let first = batch(3, 0).len() as u64;
        let out = scan_batches(f.as_file(), 0, len - 1, Some(0), true, |_| {}).unwrap();
        assert_eq!(out.valid_end, first);
        assert_eq!(out.next_offset, Some(3));
        assert!(out.stop_reason.is_some());

        let out = scan_batches(f.as_file(), 0, len, Some(7), true, |_| {}).unwrap();
        assert_eq!(out.valid_end, 0);
        assert_eq!(out.next_offset, None);

        // Flip a byte inside the second batch's records: only the CRC walk notices.
        f.as_file().write_at(&[0xee], len - 2).unwrap();
        let out = scan_batches(f.as_file(), 0, len, Some(0), false, |_| {}).unwrap();
        assert_eq!(out.valid_end, len);
        let out = scan_batches(f.as_file(), 0, len, Some(0), true, |_| {}).unwrap();
        assert_eq!(out.valid_end, first);
    }

    #[test]
    fn window_reads_across_refills() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        f.write_all(&data).unwrap();
        let mut w = FileWindow::new(f.as_file(), 10_000, 100);
        assert_eq!(w.get(0, 10).unwrap().unwrap(), &data[0..10]);
        assert_eq!(w.get(95, 10).unwrap().unwrap(), &data[95..105]);
        assert_eq!(w.get(50, 500).unwrap().unwrap(), &data[50..550]);
        assert_eq!(w.get(9_990, 10).unwrap().unwrap(), &data[9_990..]);
        assert!(w.get(9_995, 10).unwrap().is_none());
        assert!(w.get(u64::MAX, 10).unwrap().is_none());
        let mut w = FileWindow::new(f.as_file(), 20_000, 100);
        assert!(w.get(9_995, 10).unwrap().is_none(), "file shorter than the limit");
    }
}
