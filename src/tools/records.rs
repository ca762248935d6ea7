//! Record batches in and out: kafka-protocol's v2 batch encoder and decoder, with the
//! compression codecs of `record/` (the same ones the broker uses, so every codec Kafka has
//! works without the codec crate features).

use anyhow::{Result, anyhow};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use crate::record::batch::BATCH_HEADER_SIZE;
use crate::record::compression as codec;

fn codec_of(c: Compression) -> codec::Compression {
    match c {
        Compression::None => codec::Compression::None,
        Compression::Gzip => codec::Compression::Gzip,
        Compression::Snappy => codec::Compression::Snappy,
        Compression::Lz4 => codec::Compression::Lz4,
        Compression::Zstd => codec::Compression::Zstd,
    }
}

/// A codec by Kafka's name (`compression.type`).
pub fn compression_named(name: &str) -> Option<Compression> {
    Some(match codec::Compression::from_name(name)? {
        codec::Compression::None => Compression::None,
        codec::Compression::Gzip => Compression::Gzip,
        codec::Compression::Snappy => Compression::Snappy,
        codec::Compression::Lz4 => Compression::Lz4,
        codec::Compression::Zstd => Compression::Zstd,
    })
}

/// One v2 batch of `records` (offsets and sequences relative to the first).
pub fn encode_batch(records: &[Record], compression: Compression) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    let compress = |raw: &mut BytesMut, out: &mut BytesMut, c: Compression| -> Result<()> {
        if c == Compression::None {
            out.put_slice(raw);
        } else {
            out.put_slice(&codec::compress(codec_of(c), raw, None).map_err(|e| anyhow!("{e}"))?);
        }
        Ok(())
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
        Some(compress),
    )?;
    Ok(buf.freeze())
}

/// The batch header fields a consumer needs besides the records.
pub struct FetchedBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub producer_id: i64,
    pub transactional: bool,
    pub control: bool,
    pub records: Vec<Record>,
}

/// Length of the batch header up to and including the magic byte.
const HEADER_PREFIX: usize = 17;

/// The whole batches in a fetch response's records (a broker may cut the last one short;
/// it is fetched again from its offset). Batches of magic 0 and 1 are refused.
pub fn decode_batches(mut data: Bytes) -> Result<Vec<FetchedBatch>> {
    let mut out = Vec::new();
    while data.len() >= HEADER_PREFIX {
        let base_offset = i64::from_be_bytes(data[0..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
        let total = 12 + usize::try_from(length).map_err(|_| anyhow!("negative batch length"))?;
        if total < BATCH_HEADER_SIZE {
            anyhow::bail!("record batch at offset {base_offset} claims {total} bytes, less than a batch header");
        }
        if data.len() < total {
            break;
        }
        let magic = data[16];
        if magic != 2 {
            anyhow::bail!("record batch at offset {base_offset} has magic {magic}; only v2 batches are read");
        }
        let mut batch = data.split_to(total);
        let last_delta = i32::from_be_bytes(batch[23..27].try_into().expect("4 bytes"));
        let last_offset = base_offset
            .checked_add(i64::from(last_delta))
            .ok_or_else(|| anyhow!("record batch at offset {base_offset} ends past the largest offset"))?;
        let decompress = |raw: &mut Bytes, c: Compression| -> Result<Bytes> {
            if c == Compression::None {
                return Ok(raw.clone());
            }
            codec::decompress(codec_of(c), raw)
                .map(Bytes::from)
                .map_err(|e| anyhow!("{e}"))
        };
        let set = RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(decompress))?;
        let first = set.records.first();
        out.push(FetchedBatch {
            base_offset,
            last_offset,
            producer_id: first.map_or(-1, |r| r.producer_id),
            transactional: first.is_some_and(|r| r.transactional),
            control: first.is_some_and(|r| r.control),
            records: set.records,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::TimestampType;

    fn record(i: i64, value: &str) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1 + i as i32,
            timestamp: 1_000 + i,
            key: None,
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Default::default(),
        }
    }

    #[test]
    fn a_batch_shorter_than_its_header_or_past_the_last_offset_is_an_error() {
        let mut short = BytesMut::new();
        short.put_i64(0);
        short.put_i32(5);
        short.put_bytes(0, 4);
        short.put_u8(2);
        assert!(decode_batches(short.freeze()).is_err(), "a 17-byte batch");
        let mut batch = BytesMut::from(&encode_batch(&[record(0, "a")], Compression::None).unwrap()[..]);
        batch[0..8].copy_from_slice(&i64::MAX.to_be_bytes());
        batch[23..27].copy_from_slice(&5i32.to_be_bytes());
        assert!(decode_batches(batch.freeze()).is_err(), "last offset past i64::MAX");
    }

    #[test]
    fn every_codec_round_trips_and_a_cut_batch_is_left_for_later() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = encode_batch(&[record(0, "a"), record(1, "b")], c).unwrap();
            let mut two = BytesMut::new();
            two.put_slice(&batch);
            two.put_slice(&batch[..batch.len() - 3]);
            let decoded = decode_batches(two.freeze()).unwrap();
            assert_eq!(decoded.len(), 1, "{c:?}");
            assert_eq!(decoded[0].last_offset, 1);
            let values: Vec<_> = decoded[0].records.iter().map(|r| r.value.clone().unwrap()).collect();
            assert_eq!(values, vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        }
    }
}
