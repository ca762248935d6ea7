//! Response bodies that carry stored record sets without copying them.
//!
//! A Fetch response is mostly the bytes of stored batches. Encoding it into one buffer would
//! copy every one of them; instead the response is encoded into [`RecordsSend`], a buffer
//! that, when the encoder writes one of the response's own record sets, ends the current
//! chunk and keeps the record set as a part of its own: a [`FileRecords`] range that a
//! plaintext connection sends with `sendfile`, or `Bytes` already in memory. Kafka's broker
//! sends fetch responses the same way, as a sequence of sends with the records going
//! straight from the log.
//!
//! The message encoder wants each record set as `Bytes` of its length. A file range that was
//! never read stands in as a [`placeholder`]: `Bytes` over an address range reserved for
//! this and never touched, recognised by its address when the encoder writes it and replaced
//! by the file range.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;

use super::RequestError;
use crate::log::FileRecords;

/// Record sets smaller than this are copied into the surrounding chunk: a separate iovec (or
/// `sendfile` call) per small set would cost the writer more than the copy saves.
pub const MIN_SHARED_RECORDS: usize = 4096;

/// One part of an encoded response.
#[derive(Debug, Clone)]
pub enum ResponsePart {
    Bytes(Bytes),
    /// Stored batches, sent from their segment file.
    File(FileRecords),
}

impl ResponsePart {
    pub fn len(&self) -> usize {
        match self {
            ResponsePart::Bytes(b) => b.len(),
            ResponsePart::File(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An encoded response body: one buffer, or several parts written back to back.
#[derive(Debug, Clone)]
pub enum ResponseBody {
    One(Bytes),
    Parts(Vec<ResponsePart>),
}

impl ResponseBody {
    pub fn len(&self) -> usize {
        match self {
            ResponseBody::One(b) => b.len(),
            ResponseBody::Parts(p) => p.iter().map(ResponsePart::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts in order.
    pub fn into_parts(self) -> Vec<ResponsePart> {
        match self {
            ResponseBody::One(b) => vec![ResponsePart::Bytes(b)],
            ResponseBody::Parts(p) => p,
        }
    }

    /// The body as one buffer: copied if it is in several parts, stored records read.
    pub fn to_contiguous(&self) -> io::Result<Bytes> {
        match self {
            ResponseBody::One(b) => Ok(b.clone()),
            ResponseBody::Parts(parts) => {
                let mut out = BytesMut::with_capacity(self.len());
                for part in parts {
                    match part {
                        ResponsePart::Bytes(b) => out.extend_from_slice(b),
                        ResponsePart::File(f) => out.extend_from_slice(&f.read()?),
                    }
                }
                Ok(out.freeze())
            }
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(b: Bytes) -> Self {
        ResponseBody::One(b)
    }
}

/// Addresses reserved for placeholders: far more than any record set in one response.
const RESERVED_BYTES: usize = 1 << 30;

/// The reserved range: mapped without access to memory or swap (PROT_READ, MAP_NORESERVE),
/// so it costs address space only, and never unmapped. None if the mapping failed.
fn reserved() -> Option<&'static [u8]> {
    static RESERVED: OnceLock<Option<usize>> = OnceLock::new();
    let base = (*RESERVED.get_or_init(|| {
        // SAFETY: a new anonymous, private, read-only mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RESERVED_BYTES,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(ptr as usize)
    }))?;
    // SAFETY: the mapping is RESERVED_BYTES long, readable (as zeros) and never unmapped.
    Some(unsafe { std::slice::from_raw_parts(base as *const u8, RESERVED_BYTES) })
}

/// `Bytes` of `len` bytes that stand for the `index`th record set of one response until the
/// encoder writes it. None when the range cannot hold it (the caller reads the records).
pub fn placeholder(index: usize, len: usize) -> Option<Bytes> {
    let end = index.checked_add(len)?;
    reserved()?.get(index..end).map(Bytes::from_static)
}

/// A record set of a response to encode: the `Bytes` placed in the response, and what is
/// sent in its place.
pub struct SharedRecords {
    pub placed: Bytes,
    pub part: ResponsePart,
}

impl SharedRecords {
    /// Records in memory, sent as they are.
    pub fn bytes(records: Bytes) -> SharedRecords {
        SharedRecords {
            placed: records.clone(),
            part: ResponsePart::Bytes(records),
        }
    }
}

/// Encodes `response` with the record sets in `records` (each at least
/// [`MIN_SHARED_RECORDS`] long to be worth it) referenced rather than copied.
pub fn encode_sharing<T: Encodable>(
    response: &T,
    version: i16,
    records: impl IntoIterator<Item = SharedRecords>,
) -> Result<ResponseBody, RequestError> {
    let size = response
        .compute_size(version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    let mut buf = RecordsSend::new(records, size);
    response
        .encode(&mut buf, version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    buf.finish()
}

/// The encoding buffer: finished parts, the chunk being written, and the record sets that
/// may be referenced, by the address and length of the `Bytes` placed in the response.
pub struct RecordsSend {
    done: Vec<ResponsePart>,
    /// Bytes in `done`.
    done_len: usize,
    current: BytesMut,
    shared: HashMap<(usize, usize), ResponsePart>,
    /// The shortest shared record set: shorter writes are never one.
    shortest_shared: usize,
    /// A stored record set that had to be read (see [`Self::flatten`]) and could not be.
    failed: Option<io::Error>,
}

impl RecordsSend {
    fn new(records: impl IntoIterator<Item = SharedRecords>, size: usize) -> RecordsSend {
        let shared: HashMap<(usize, usize), ResponsePart> = records
            .into_iter()
            // Small sets in memory are copied; a file range is always sent as one, since its
            // placeholder holds no records.
            .filter(|r| matches!(r.part, ResponsePart::File(_)) || r.placed.len() >= MIN_SHARED_RECORDS)
            .map(|r| ((r.placed.as_ptr() as usize, r.placed.len()), r.part))
            .collect();
        let shared_len: usize = shared.values().map(ResponsePart::len).sum();
        RecordsSend {
            done: Vec::with_capacity(2 * shared.len() + 1),
            done_len: 0,
            // Everything but the shared record sets; sized once so the chunks split off it
            // share one allocation.
            current: BytesMut::with_capacity(size.saturating_sub(shared_len)),
            shortest_shared: shared.keys().map(|&(_, len)| len.max(1)).min().unwrap_or(usize::MAX),
            shared,
            failed: None,
        }
    }

    fn finish(mut self) -> Result<ResponseBody, RequestError> {
        if let Some(e) = self.failed {
            return Err(RequestError::Encode(format!("cannot read stored records: {e}")));
        }
        if self.done.is_empty() {
            return Ok(ResponseBody::One(self.current.freeze()));
        }
        if !self.current.is_empty() {
            self.done.push(ResponsePart::Bytes(self.current.split().freeze()));
        }
        Ok(ResponseBody::Parts(self.done))
    }

    fn end_chunk(&mut self) {
        if !self.current.is_empty() {
            let chunk = self.current.split().freeze();
            self.done_len += chunk.len();
            self.done.push(ResponsePart::Bytes(chunk));
        }
    }

    /// Folds every part back into `current`, for the rare encoder that goes back to patch
    /// bytes it wrote earlier (message encoders never do; this keeps the buffer correct if
    /// one did). Stored records are read for it.
    fn flatten(&mut self) {
        if self.done.is_empty() {
            return;
        }
        let mut all = BytesMut::with_capacity(self.done_len + self.current.len());
        for part in self.done.drain(..) {
            match part {
                ResponsePart::Bytes(b) => all.extend_from_slice(&b),
                ResponsePart::File(f) => match f.read() {
                    Ok(b) => all.extend_from_slice(&b),
                    Err(e) => {
                        // Keeps offsets right; `finish` reports the failure.
                        all.resize(all.len() + f.len(), 0);
                        self.failed.get_or_insert(e);
                    }
                },
            }
        }
        all.extend_from_slice(&self.current);
        self.current = all;
        self.done_len = 0;
    }
}

// SAFETY: every method delegates to the `BytesMut` being written, whose contract this keeps:
// `chunk_mut` is that buffer's spare capacity and `advance_mut` commits bytes written there.
unsafe impl BufMut for RecordsSend {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `chunk_mut()`, which is `current`'s.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= self.shortest_shared
            && let Some(part) = self.shared.get(&(src.as_ptr() as usize, src.len()))
        {
            let part = part.clone();
            self.end_chunk();
            self.done_len += part.len();
            self.done.push(part);
            return;
        }
        self.current.extend_from_slice(src);
    }
}

impl ByteBufMut for RecordsSend {
    fn offset(&self) -> usize {
        self.done_len + self.current.len()
    }

    fn seek(&mut self, offset: usize) {
        if offset < self.done_len {
            self.flatten();
        }
        self.current.resize(offset - self.done_len, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        if r.start < self.done_len {
            self.flatten();
        }
        let base = self.done_len;
        &mut self.current[r.start - base..r.end - base]
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn response(records: &[Bytes]) -> FetchResponse {
        FetchResponse::default().with_session_id(7).with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(
                    records
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            PartitionData::default()
                                .with_partition_index(i as i32)
                                .with_high_watermark(100)
                                .with_records(Some(r.clone()))
                        })
                        .collect(),
                ),
        ])
    }

    #[test]
    fn large_record_sets_are_referenced_and_the_bytes_match_a_plain_encoding() {
        let big = Bytes::from(vec![7u8; 10_000]);
        let small = Bytes::from(vec![9u8; 100]);
        let other = Bytes::from(vec![3u8; MIN_SHARED_RECORDS]);
        let records = [big.clone(), small.clone(), other.clone()];
        for version in [7, 11, 12, 16] {
            let resp = response(&records);
            let plain = super::super::encode(&resp, version).unwrap();
            let body = encode_sharing(&resp, version, records.iter().cloned().map(SharedRecords::bytes)).unwrap();
            assert_eq!(body.to_contiguous().unwrap(), plain, "v{version}: same bytes");
            assert_eq!(body.len(), plain.len());
            let chunks: Vec<Bytes> = body
                .into_parts()
                .into_iter()
                .map(|p| match p {
                    ResponsePart::Bytes(b) => b,
                    ResponsePart::File(_) => unreachable!("no file records here"),
                })
                .collect();
            assert!(
                chunks
                    .iter()
                    .any(|c| c.as_ptr() == big.as_ptr() && c.len() == big.len()),
                "v{version}: the large record set is sent as is"
            );
            assert!(chunks.iter().any(|c| c.as_ptr() == other.as_ptr()));
            assert!(
                !chunks.iter().any(|c| c.as_ptr() == small.as_ptr()),
                "v{version}: a small record set is copied"
            );
        }
    }

    #[test]
    fn an_equal_copy_elsewhere_is_not_mistaken_for_a_record_set() {
        let stored = Bytes::from(vec![1u8; 8192]);
        let lookalike = Bytes::from(vec![1u8; 8192]);
        let resp = response(std::slice::from_ref(&lookalike));
        let body = encode_sharing(&resp, 12, [SharedRecords::bytes(stored.clone())]).unwrap();
        assert!(matches!(body, ResponseBody::One(_)), "nothing shared");
        assert_eq!(body.to_contiguous().unwrap(), super::super::encode(&resp, 12).unwrap());
    }

    #[test]
    fn placeholders_are_told_apart_by_address_and_refused_past_the_reserved_range() {
        let a = placeholder(0, 8192).unwrap();
        let b = placeholder(1, 8192).unwrap();
        assert_eq!((a.len(), b.len()), (8192, 8192));
        assert_ne!(a.as_ptr(), b.as_ptr());
        assert!(placeholder(0, RESERVED_BYTES + 1).is_none());
        assert!(placeholder(usize::MAX, 2).is_none());
    }

    #[test]
    fn seeking_back_into_a_finished_chunk_flattens() {
        let set = Bytes::from(vec![5u8; 5000]);
        let mut buf = RecordsSend::new([SharedRecords::bytes(set.clone())], 16);
        buf.put_slice(b"head");
        buf.put_slice(&set);
        buf.put_slice(b"tail");
        assert_eq!(buf.offset(), 4 + 5000 + 4);
        buf.range(0..4).copy_from_slice(b"HEAD");
        let body = buf.finish().unwrap();
        let bytes = body.to_contiguous().unwrap();
        assert_eq!(&bytes[..4], b"HEAD");
        assert_eq!(&bytes[4..5004], &set[..]);
        assert_eq!(&bytes[5004..], b"tail");
    }
}
