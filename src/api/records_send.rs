//! Response bodies that carry stored record sets without copying them.
//!
//! A Fetch response is mostly the bytes read from segments. Encoding it into one buffer would
//! copy every one of them once more; instead the response is encoded into [`RecordsSend`], a
//! buffer that, when the encoder writes one of the response's own record sets, ends the
//! current chunk and keeps a reference to the record set's `Bytes`. The connection then
//! writes the chunks with one vectored write. Kafka's broker sends fetch responses the same
//! way, as a sequence of sends with the records going straight from the log.

use std::collections::HashMap;
use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;

use super::RequestError;

/// Record sets smaller than this are copied into the surrounding chunk: a separate iovec per
/// small set would cost the writer more than the copy saves.
pub const MIN_SHARED_RECORDS: usize = 4096;

/// An encoded response body: one buffer, or several written back to back.
#[derive(Debug, Clone)]
pub enum ResponseBody {
    One(Bytes),
    Chunks(Vec<Bytes>),
}

impl ResponseBody {
    pub fn len(&self) -> usize {
        match self {
            ResponseBody::One(b) => b.len(),
            ResponseBody::Chunks(c) => c.iter().map(Bytes::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts in order.
    pub fn chunks(&self) -> &[Bytes] {
        match self {
            ResponseBody::One(b) => std::slice::from_ref(b),
            ResponseBody::Chunks(c) => c,
        }
    }

    /// The body as one buffer (copied if it is in several).
    pub fn to_contiguous(&self) -> Bytes {
        match self {
            ResponseBody::One(b) => b.clone(),
            ResponseBody::Chunks(c) => {
                let mut out = BytesMut::with_capacity(self.len());
                for chunk in c {
                    out.extend_from_slice(chunk);
                }
                out.freeze()
            }
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(b: Bytes) -> Self {
        ResponseBody::One(b)
    }
}

/// Encodes `response` with the record sets in `records` (each at least
/// [`MIN_SHARED_RECORDS`] long to be worth it) referenced rather than copied.
pub fn encode_sharing<T: Encodable>(
    response: &T,
    version: i16,
    records: impl IntoIterator<Item = Bytes>,
) -> Result<ResponseBody, RequestError> {
    let size = response
        .compute_size(version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    let mut buf = RecordsSend::new(records, size);
    response
        .encode(&mut buf, version)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    Ok(buf.finish())
}

/// The encoding buffer: finished chunks, the chunk being written, and the record sets that
/// may be referenced, by their address and length.
pub struct RecordsSend {
    done: Vec<Bytes>,
    /// Bytes in `done`.
    done_len: usize,
    current: BytesMut,
    shared: HashMap<(usize, usize), Bytes>,
}

impl RecordsSend {
    fn new(records: impl IntoIterator<Item = Bytes>, size: usize) -> RecordsSend {
        let shared: HashMap<(usize, usize), Bytes> = records
            .into_iter()
            .filter(|r| r.len() >= MIN_SHARED_RECORDS)
            .map(|r| ((r.as_ptr() as usize, r.len()), r))
            .collect();
        let shared_len: usize = shared.values().map(Bytes::len).sum();
        RecordsSend {
            done: Vec::with_capacity(2 * shared.len() + 1),
            done_len: 0,
            // Everything but the shared record sets; sized once so the chunks split off it
            // share one allocation.
            current: BytesMut::with_capacity(size.saturating_sub(shared_len)),
            shared,
        }
    }

    fn finish(mut self) -> ResponseBody {
        if self.done.is_empty() {
            return ResponseBody::One(self.current.freeze());
        }
        if !self.current.is_empty() {
            self.done.push(self.current.split().freeze());
        }
        ResponseBody::Chunks(self.done)
    }

    fn end_chunk(&mut self) {
        if !self.current.is_empty() {
            let chunk = self.current.split().freeze();
            self.done_len += chunk.len();
            self.done.push(chunk);
        }
    }

    /// Folds every chunk back into `current`, for the rare encoder that goes back to patch
    /// bytes it wrote earlier (message encoders never do; this keeps the buffer correct if
    /// one did).
    fn flatten(&mut self) {
        if self.done.is_empty() {
            return;
        }
        let mut all = BytesMut::with_capacity(self.done_len + self.current.len());
        for chunk in self.done.drain(..) {
            all.extend_from_slice(&chunk);
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
        if src.len() >= MIN_SHARED_RECORDS
            && let Some(records) = self.shared.get(&(src.as_ptr() as usize, src.len()))
        {
            let records = records.clone();
            self.end_chunk();
            self.done_len += records.len();
            self.done.push(records);
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
            let body = encode_sharing(&resp, version, records.iter().cloned()).unwrap();
            assert_eq!(body.to_contiguous(), plain, "v{version}: same bytes");
            assert_eq!(body.len(), plain.len());
            let chunks = body.chunks();
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
        let body = encode_sharing(&resp, 12, [stored.clone()]).unwrap();
        assert!(matches!(body, ResponseBody::One(_)), "nothing shared");
        assert_eq!(body.to_contiguous(), super::super::encode(&resp, 12).unwrap());
    }

    #[test]
    fn seeking_back_into_a_finished_chunk_flattens() {
        let set = Bytes::from(vec![5u8; 5000]);
        let mut buf = RecordsSend::new([set.clone()], 16);
        buf.put_slice(b"head");
        buf.put_slice(&set);
        buf.put_slice(b"tail");
        assert_eq!(buf.offset(), 4 + 5000 + 4);
        buf.range(0..4).copy_from_slice(b"HEAD");
        let body = buf.finish();
        let bytes = body.to_contiguous();
        assert_eq!(&bytes[..4], b"HEAD");
        assert_eq!(&bytes[4..5004], &set[..]);
        assert_eq!(&bytes[5004..], b"tail");
    }
}
