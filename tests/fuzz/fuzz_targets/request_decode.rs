//! A request frame (what follows the 4-byte size prefix) from a hostile client, taken through
//! the broker's path: the api key and version at the front choose the header version, the
//! header decodes (with KIP-511's fallback for ApiVersions), the served-version check, then
//! the body decodes as that API's request. A produce request's records go on through the
//! batch checks the produce path starts with.

#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;
use rivulet::record::{LogValidator, complete_batch_end, decompressed_limit, validate_batches};

/// Kafka's default `max.message.bytes`.
const MAX_MESSAGE_BYTES: usize = 1_048_588;

fn check_produce(request: &ProduceRequest) {
    for topic in &request.topic_data {
        for partition in &topic.partition_data {
            let Some(records) = &partition.records else { continue };
            let Some(end) = complete_batch_end(records, 0) else { continue };
            let batch = &records[..end];
            if validate_batches(batch, MAX_MESSAGE_BYTES).is_ok() {
                let validator = LogValidator {
                    compacted: true,
                    timestamp_bounds: Some((0, i64::MAX)),
                    decompressed_limit: decompressed_limit(MAX_MESSAGE_BYTES),
                };
                let _ = validator.validate_batch(batch);
            }
        }
    }
}

fuzz_target!(
    init: rivulet_fuzz::write_seeds_if_asked(rivulet_fuzz::request_seeds),
    |data: &[u8]| {
        let mut frame = Bytes::copy_from_slice(data);
        // As src/net/connection.rs: every header version starts with key, version, correlation id.
        let Some(&[k0, k1, v0, v1, c0, c1, c2, c3]) = frame.get(..8) else { return };
        let api_key_raw = i16::from_be_bytes([k0, k1]);
        let api_version = i16::from_be_bytes([v0, v1]);
        let Ok(api_key) = ApiKey::try_from(api_key_raw) else { return };
        let header_version = api_key.request_header_version(api_version);
        let header = match RequestHeader::decode(&mut frame, header_version) {
            Ok(h) => h,
            Err(_) if api_key == ApiKey::ApiVersions => RequestHeader::default()
                .with_request_api_key(api_key_raw)
                .with_request_api_version(api_version)
                .with_correlation_id(i32::from_be_bytes([c0, c1, c2, c3])),
            Err(_) => return,
        };
        assert_eq!(header.request_api_key, api_key_raw);
        assert_eq!(header.request_api_version, api_version);
        // As ApiHandler::handle, with the unstable versions enabled so that every decoder runs.
        let version = header.request_api_version;
        let served = rivulet::api::version_range(api_key, true).is_some_and(|(lo, hi)| (lo..=hi).contains(&version));
        if !served || (api_key == ApiKey::Produce && version < rivulet::api::PRODUCE_MIN_SERVED) {
            return;
        }
        let decoded = rivulet_fuzz::decode_body(api_key, &mut frame, version, &mut check_produce);
        assert!(decoded.is_some(), "{api_key:?} is served but has no decoder in the fuzz crate");
    }
);
