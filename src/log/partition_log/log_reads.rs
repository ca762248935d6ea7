//! Reads: batches from an offset within a byte limit (the first whole, KIP-74), below the high
//! watermark or the last stable offset, and offsets by timestamp.

use super::*;
use crate::log::{FetchedRecords, FileRecords};

/// The log's offsets as a read saw them.
struct ReadBounds {
    high_watermark: i64,
    log_start: i64,
    log_end: i64,
}

/// Whole batches of one segment: bytes `[position, end)`, and the offset after them.
struct Located {
    segment: Arc<LogSegment>,
    position: u64,
    end: u64,
    next_offset: i64,
}

impl Located {
    fn into_records(self) -> FileRecords {
        FileRecords::new(self.segment, self.position, (self.end - self.position) as usize)
    }
}

impl PartitionLog {
    /// Whole batches from the one holding `offset`, all from one segment, at most `max_bytes`
    /// unless `min_one_batch` and the first batch alone is larger (KIP-74). Reads up to the log
    /// end: what the broker itself reads back; clients read through [`Self::fetch`].
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, i64::MAX)
    }

    /// [`Self::read`] as a consumer sees the log: only below the high watermark. An offset
    /// between the high watermark and the log end reads nothing (not out of range), as on
    /// Kafka; a fetch waiting for it wakes when the high watermark moves
    /// ([`Self::durable_watch`]).
    pub fn fetch(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, self.high_watermark())
    }

    /// Calls `f` with every stored batch from the log start to the log end, in order: how the
    /// coordinators rebuild their state at start. Reads `chunk` bytes at a time.
    pub fn for_each_batch(&self, chunk: usize, mut f: impl FnMut(&BatchHeader, &[u8])) -> Result<(), LogError> {
        let mut offset = self.log_start_offset();
        let end = self.log_end_offset();
        while offset < end {
            let slice = self.read(offset, chunk, true)?;
            if slice.records.is_empty() {
                break;
            }
            let buf = &slice.records[..];
            let mut pos = 0usize;
            while pos < buf.len() {
                let header = BatchHeader::parse(&buf[pos..])?;
                let size = header.total_size();
                if buf.len() - pos < size {
                    break;
                }
                f(&header, &buf[pos..pos + size]);
                pos += size;
                offset = header.last_offset() + 1;
            }
        }
        Ok(())
    }

    /// [`Self::fetch`] for a read_committed consumer: only below the last stable offset.
    pub fn fetch_committed(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<FetchSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, self.last_stable_offset())
    }

    /// [`Self::fetch`] or [`Self::fetch_committed`] without reading the batches: where they
    /// are, for the network layer to send from the file.
    pub fn fetch_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        read_committed: bool,
    ) -> Result<FetchedRecords, LogError> {
        let upper = if read_committed {
            self.last_stable_offset()
        } else {
            self.high_watermark()
        };
        let (bounds, located) = self.locate(offset, max_bytes, min_one_batch, upper)?;
        Ok(FetchedRecords {
            next_offset: located.as_ref().map(|l| l.next_offset),
            records: located.map(Located::into_records),
            high_watermark: bounds.high_watermark,
            log_start_offset: bounds.log_start,
            log_end_offset: bounds.log_end,
        })
    }

    fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        upper: i64,
    ) -> Result<FetchSlice, LogError> {
        let (bounds, located) = self.locate(offset, max_bytes, min_one_batch, upper)?;
        let records = match located {
            None => Bytes::new(),
            Some(l) => l.into_records().read().map_err(LogError::from)?,
        };
        Ok(FetchSlice {
            records,
            high_watermark: bounds.high_watermark,
            log_start_offset: bounds.log_start,
            log_end_offset: bounds.log_end,
        })
    }

    /// Where a read from `offset` below `upper` finds its whole batches: all in one segment,
    /// at most `max_bytes` unless `min_one_batch` and the first batch alone is larger
    /// (KIP-74). None when there is nothing to return.
    fn locate(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        upper: i64,
    ) -> Result<(ReadBounds, Option<Located>), LogError> {
        let high_watermark = self.high_watermark();
        let (log_end, log_start, segments) = self.snapshot();
        let upper = upper.min(log_end);
        let bounds = ReadBounds {
            high_watermark: high_watermark.min(log_end),
            log_start,
            log_end,
        };
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start,
                log_end,
            });
        }
        if offset >= upper {
            return Ok((bounds, None));
        }
        let first = segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        for segment in segments.iter().skip(first) {
            let limit = segment.size();
            let Some((pos, header)) = segment.translate_offset(offset, limit)? else {
                continue;
            };
            if header.base_offset >= upper {
                break;
            }
            let first_size = header.total_size();
            let budget = if min_one_batch && first_size > max_bytes {
                first_size
            } else {
                max_bytes
            };
            if budget < first_size {
                return Ok((bounds, None));
            }
            let target = pos.saturating_add(budget as u64);
            let (end, next_offset) = segment.whole_batches_end((pos, &header), target, upper, limit)?;
            return Ok((
                bounds,
                Some(Located {
                    segment: segment.clone(),
                    position: pos,
                    end,
                    next_offset,
                }),
            ));
        }
        Ok((bounds, None))
    }

    /// The first record with timestamp >= `timestamp`, as (offset, timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let (log_end, log_start, segments) = self.snapshot();
        for segment in segments.iter() {
            if segment.max_timestamp().0 < timestamp {
                continue;
            }
            let limit = segment.size();
            let mut pos = segment.position_for_timestamp(timestamp, log_start);
            while let Some((at, header)) = segment.find_batch(pos, limit, |h| {
                h.base_offset >= log_end || (h.max_timestamp >= timestamp && h.last_offset() >= log_start)
            })? {
                if header.base_offset >= log_end {
                    return Ok(None);
                }
                let bytes = segment.read_at(at, header.total_size())?;
                // Stored batches were bounded when produced: stream them, one record at a time.
                let mut stream = RecordStream::new(&bytes, usize::MAX)?;
                while let Some(r) = stream.next_record()? {
                    if r.timestamp >= timestamp && r.offset >= log_start && r.offset < log_end {
                        return Ok(Some((r.offset, r.timestamp)));
                    }
                }
                pos = at + header.total_size() as u64;
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first such record), as (offset, timestamp).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let (_, offset) = *self.max_timestamp.lock();
        if offset < 0 {
            return Ok(None);
        }
        let (log_end, log_start, segments) = self.snapshot();
        if offset >= log_end || offset < log_start {
            return Ok(None);
        }
        let index = segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        let Some(segment) = segments.get(index) else {
            return Ok(None);
        };
        let Some((pos, header)) = segment.translate_offset(offset, segment.size())? else {
            return Ok(None);
        };
        let bytes = segment.read_at(pos, header.total_size())?;
        // The first record with the batch's largest timestamp wins.
        let mut best: Option<(i64, i64)> = None;
        let mut stream = RecordStream::new(&bytes, usize::MAX)?;
        while let Some(r) = stream.next_record()? {
            if r.offset >= log_start && best.is_none_or(|(_, ts)| r.timestamp > ts) {
                best = Some((r.offset, r.timestamp));
            }
        }
        Ok(best.or(Some((header.last_offset(), header.max_timestamp))))
    }
}
