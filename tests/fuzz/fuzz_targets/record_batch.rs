//! Produced record data from a hostile client: `validate_batches` over the whole blob, then
//! every complete batch read record by record through each reader the broker has (the owned
//! `records`, `record_iter`, the streaming `RecordStream`, the `LogValidator`), rebuilt in
//! another codec as recompression and compaction do, and patched in place as an append does.
//! Half of the inputs get valid CRCs, so mutations reach the record decoding behind the
//! checksum.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet::record::batch::verify_crc;
use rivulet::record::{
    BatchHeader, LogValidator, RecordStream, StreamingBatchBuilder, batch_max_timestamp, complete_batch_end, record_iter,
    records, set_base_offset, set_log_append_time, set_partition_leader_epoch, validate_batches,
};

/// Kafka's default `max.message.bytes`.
const MAX_MESSAGE_BYTES: usize = 1_048_588;
/// Decompressed bytes the readers may pull per batch here: well past any seed, small enough to
/// keep each run fast.
const LIMIT: usize = 4 << 20;

type Records = Vec<(i64, Option<Vec<u8>>, Option<Vec<u8>>, usize)>;

/// Reads `batch` through the streaming reader: the records' (offset, key, value, header
/// count), and their largest timestamp.
fn stream(batch: &[u8], limit: usize) -> Result<(Records, i64), ()> {
    let mut stream = RecordStream::new(batch, limit).map_err(drop)?;
    let mut out = Vec::new();
    let mut max_timestamp = -1;
    while let Some(r) = stream.next_record().map_err(drop)? {
        assert!(r.size_in_bytes > 0);
        max_timestamp = max_timestamp.max(r.timestamp);
        out.push((r.offset, r.key.map(<[u8]>::to_vec), r.value.map(<[u8]>::to_vec), r.headers().count()));
    }
    assert_eq!(stream.records_read(), out.len());
    Ok((out, max_timestamp))
}

fn check_batch(batch: &[u8], flags: u8) {
    let Ok(header) = BatchHeader::parse(batch) else { return };
    let crc_ok = verify_crc(&header, batch).is_ok();

    let streamed = stream(batch, LIMIT);
    let iterated: Result<Vec<_>, _> = record_iter(batch, LIMIT).and_then(|it| it.collect());
    assert_eq!(streamed.is_ok(), iterated.is_ok(), "RecordStream and record_iter disagree");
    let validator = LogValidator {
        compacted: flags & 2 != 0,
        timestamp_bounds: (flags & 4 != 0).then_some((0, 1_800_000_000_000)),
        decompressed_limit: LIMIT,
    };
    let validated = validator.validate_batch(batch);
    assert_eq!(streamed.is_ok(), validated.is_ok(), "RecordStream and LogValidator disagree");
    if let (Ok((s, _)), Ok(v)) = (&streamed, &validated) {
        assert_eq!(s.len(), v.records);
        assert!(v.record_error_count >= v.record_errors.len());
    }
    // Timestamp lookups read stored batches without a decompression bound; a batch the
    // bounded readers accept must give them its records' largest timestamp.
    let max_timestamp = batch_max_timestamp(batch);
    if let Ok((_, streamed_max)) = &streamed
        && !header.timestamp_type_is_log_append()
    {
        assert_eq!(max_timestamp.ok(), Some(*streamed_max), "batch_max_timestamp disagrees with the records");
    }
    if flags & 8 != 0 {
        // The owned reader at its default 64 MiB limit, as the produce path calls it.
        let _ = records(batch);
    }

    // A rebuild in another codec (topic compression.type, compaction) keeps every record.
    if let Ok((original, _)) = &streamed {
        let codec = rivulet_fuzz::CODECS[usize::from(flags >> 4) % rivulet_fuzz::CODECS.len()];
        if let Ok(mut builder) = StreamingBatchBuilder::like(&header, codec) {
            let mut appended = true;
            let mut s = RecordStream::new(batch, LIMIT).expect("streamed once already");
            while let Some(r) = s.next_record().expect("streamed once already") {
                if builder.append(r.offset_delta, &r).is_err() {
                    appended = false;
                    break;
                }
            }
            if appended && !builder.is_empty() && let Ok(rebuilt) = builder.finish() {
                let (reread, _) = stream(&rebuilt, LIMIT).expect("a rebuilt batch reads back");
                assert_eq!(&reread, original, "{codec} rebuild changed the records");
                let h = BatchHeader::parse(&rebuilt).expect("rebuilt header");
                verify_crc(&h, &rebuilt).expect("rebuilt CRC");
            }
        }
    }

    // The append path's in-place patches: offset and epoch lie outside the CRC, the
    // LogAppendTime stamp recomputes it.
    let mut copy = batch.to_vec();
    set_base_offset(&mut copy, 1 << 40);
    set_partition_leader_epoch(&mut copy, 17);
    let patched = BatchHeader::parse(&copy).expect("patching keeps the header parseable");
    assert_eq!(patched.base_offset, 1 << 40);
    assert_eq!(patched.partition_leader_epoch, 17);
    assert_eq!(verify_crc(&patched, &copy).is_ok(), crc_ok, "base offset or epoch patch changed the CRC check");
    set_log_append_time(&mut copy, 1_700_000_000_000);
    let stamped = BatchHeader::parse(&copy).expect("stamping keeps the header parseable");
    assert!(stamped.timestamp_type_is_log_append());
    assert_eq!(stamped.max_timestamp, 1_700_000_000_000);
    // A batch already stamped with this time is left as it is, CRC included; the broker only
    // stamps batches whose CRC it has checked.
    if crc_ok {
        verify_crc(&stamped, &copy).expect("stamping a valid batch keeps its CRC valid");
    }
}

fuzz_target!(
    init: rivulet_fuzz::write_seeds_if_asked(rivulet_fuzz::record_batch_seeds),
    |data: &[u8]| {
        let Some((&flags, rest)) = data.split_first() else { return };
        let mut buf = rest.to_vec();
        if flags & 1 != 0 {
            rivulet_fuzz::fix_crcs(&mut buf);
        }
        if let Ok(validated) = validate_batches(&buf, MAX_MESSAGE_BYTES) {
            let mut end = 0;
            for b in &validated.batches {
                assert_eq!(b.position, end, "batches are back to back");
                assert!(b.records_count > 0 && b.size <= MAX_MESSAGE_BYTES);
                end = b.position + b.size;
            }
            assert_eq!(end, buf.len());
        }
        let mut at = 0;
        while let Some(end) = complete_batch_end(&buf, at) {
            if end <= at {
                break;
            }
            check_batch(&buf[at..end], flags);
            at = end;
        }
    }
);
