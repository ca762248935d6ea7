//! Reading a segment: batches found by position, offset or timestamp through the indexes, the
//! end of the whole batches within a byte budget, and bytes read with `pread`.

use super::*;

impl LogSegment {
    /// The first batch at or after byte `start` (below `limit`) for which `pred` holds.
    pub(crate) fn find_batch(
        &self,
        start: u64,
        limit: u64,
        mut pred: impl FnMut(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let mut window = FileWindow::new(&self.file, limit, 8 * 1024);
        let mut pos = start;
        loop {
            let Some(head) = window.get(pos, BATCH_HEADER_SIZE)? else {
                return Ok(None);
            };
            let header = BatchHeader::parse(head)?;
            let end = pos + header.total_size() as u64;
            if end > limit {
                return Ok(None);
            }
            if pred(&header) {
                return Ok(Some((pos, header)));
            }
            pos = end;
        }
    }

    /// Position and header of the batch holding `offset` (or the first batch after it), looking
    /// no further than `limit` bytes.
    pub(crate) fn translate_offset(&self, offset: i64, limit: u64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let start = self
            .offset_index
            .read()
            .lookup(offset)
            .map_or(0, |(_, pos)| u64::from(pos));
        self.find_batch(start, limit, |h| h.last_offset() >= offset)
    }

    /// The end of the whole batches from `first` (the position and header of a batch, always
    /// taken) that end at or before byte `target` and start below offset `upper`, reading at
    /// most `limit` bytes of the file, and the offset after them. The offset index jumps over
    /// the batches in between, so only headers near where the batches end are read.
    pub(crate) fn whole_batches_end(
        &self,
        first: (u64, &BatchHeader),
        target: u64,
        upper: i64,
        limit: u64,
    ) -> Result<(u64, i64), LogError> {
        let (pos, header) = first;
        let target = target.min(limit);
        let mut end = pos + header.total_size() as u64;
        let mut next = header.last_offset().saturating_add(1);
        // An indexed batch that starts by `target` and ends below `upper`: every batch before
        // it is taken. Index entries pair a batch's position with its last offset.
        let jump = {
            let index = self.offset_index.read();
            let by_bytes = index.lookup_position(target).filter(|&(last, _)| last < upper);
            let by_offset = index
                .lookup(upper.saturating_sub(1))
                .filter(|&(_, at)| u64::from(at) <= target);
            by_bytes.into_iter().chain(by_offset).max_by_key(|&(_, at)| at)
        };
        let mut jumped = false;
        if let Some((last_offset, at)) = jump
            && u64::from(at) > end
        {
            end = u64::from(at);
            // Refined below from the batch's own header; the entry's offset is that batch's
            // last, a bound that is never below the truth.
            next = last_offset;
            jumped = true;
        }
        let mut window = FileWindow::new(&self.file, limit, 8 * 1024);
        while let Some(head) = window.get(end, BATCH_HEADER_SIZE)? {
            let h = BatchHeader::parse(head)?;
            let batch_end = end + h.total_size() as u64;
            if batch_end > target || h.base_offset >= upper {
                if jumped {
                    next = h.base_offset;
                }
                break;
            }
            end = batch_end;
            next = h.last_offset().saturating_add(1);
            jumped = false;
        }
        Ok((end, next))
    }

    /// Where to start looking for the first record with timestamp >= `timestamp`.
    pub(crate) fn position_for_timestamp(&self, timestamp: i64, min_offset: i64) -> u64 {
        let from_time = self
            .time_index
            .read()
            .lookup(timestamp)
            .map_or(self.base_offset, |(_, o)| o);
        self.offset_index
            .read()
            .lookup(from_time.max(min_offset))
            .map_or(0, |(_, pos)| u64::from(pos))
    }

    /// Reads `len` bytes at `pos`; fewer if the file is shorter.
    ///
    /// The buffer is not zeroed first: fetches read hundreds of megabytes a second, and
    /// clearing memory that pread overwrites at once cost as much as the read itself.
    pub(crate) fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf: Vec<u8> = Vec::with_capacity(len);
        while buf.len() < len {
            let done = buf.len();
            let at = libc::off_t::try_from(pos + done as u64)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "read position past off_t"))?;
            // SAFETY: pread writes at most `len - done` bytes into the vector's spare capacity,
            // which is allocated (`with_capacity(len)`) and not yet part of the vector; the
            // length then grows by exactly the bytes it wrote.
            let n = unsafe { libc::pread(self.file.as_raw_fd(), buf.as_mut_ptr().add(done).cast(), len - done, at) };
            match n {
                0 => break,
                n if n > 0 => unsafe { buf.set_len(done + n as usize) },
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
        Ok(buf)
    }

    /// Calls `f(position, header, batch bytes)` for each whole batch, in file order, until it
    /// returns false. Reads through one buffer of about `buffer` bytes.
    pub(crate) fn for_each_batch(
        &self,
        buffer: usize,
        mut f: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<bool, LogError>,
    ) -> Result<(), LogError> {
        let limit = self.size();
        let mut window = FileWindow::new(&self.file, limit, buffer);
        let mut pos = 0u64;
        while pos < limit {
            let Some(head) = window.get(pos, BATCH_HEADER_SIZE)? else {
                break;
            };
            let header = BatchHeader::parse(head)?;
            let size = header.total_size();
            let Some(bytes) = window.get(pos, size)? else {
                return Err(crate::record::RecordError::CorruptMessage(format!(
                    "batch at position {pos} of {} runs past the end of the segment",
                    self.log_path.display()
                ))
                .into());
            };
            if !f(pos, &header, bytes)? {
                break;
            }
            pos += size as u64;
        }
        Ok(())
    }
}
