//! Shared by the fuzz targets: the request dispatch as the broker decodes it, the CRC patch
//! that lets mutated batches past the checksum, and the seed corpora.
//!
//! Seeds are not committed: every target writes its own when started with
//! `RIVULET_FUZZ_WRITE_SEEDS=<dir>` (see `run.sh`), so they always match the current formats
//! and the current list of served APIs.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use rivulet::api::RequestError;
use rivulet::record::batch::compute_crc;
use rivulet::record::{BATCH_HEADER_SIZE, Compression, RecordBatchBuilder, complete_batch_end, set_base_offset};

/// Where the CRC-32C sits in a batch header; it covers everything from the attributes on.
const CRC_POS: usize = 17;

/// Every codec a batch may use, uncompressed first.
pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Rewrites the CRC of every complete batch in `buf` (walked by the length fields, as the
/// log reads them) so that the checksum no longer stops a mutated batch; whatever follows the
/// last complete batch is left alone.
pub fn fix_crcs(buf: &mut [u8]) {
    let mut at = 0;
    while let Some(end) = complete_batch_end(buf, at) {
        if end - at < BATCH_HEADER_SIZE || end <= at {
            break;
        }
        let crc = compute_crc(&buf[at..end]);
        buf[at + CRC_POS..at + CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

/// Lists every request type the broker decodes, by API key, once: the body decoder the fuzz
/// target calls and the encoder the seeds are written with both come from this list.
macro_rules! requests {
    ($($key:ident => $ty:ty),* $(,)?) => {
        /// Decodes a request body as `ApiHandler::handle` does (`rivulet::api::decode`);
        /// `None` for an API this list does not know. A produce request also hands its
        /// records to `on_produce`, as the broker validates them next.
        pub fn decode_body(
            api: ApiKey,
            body: &mut Bytes,
            version: i16,
            on_produce: &mut dyn FnMut(&ProduceRequest),
        ) -> Option<Result<(), RequestError>> {
            Some(match api {
                ApiKey::Produce => rivulet::api::decode::<ProduceRequest>(body, version).map(|r| on_produce(&r)),
                $(ApiKey::$key => rivulet::api::decode::<$ty>(body, version).map(drop),)*
                _ => return None,
            })
        }

        /// The body of a default request of `api` at `version`, if it can be encoded.
        fn encode_default(api: ApiKey, version: i16) -> Option<BytesMut> {
            let mut out = BytesMut::new();
            let ok = match api {
                ApiKey::Produce => ProduceRequest::default().encode(&mut out, version).is_ok(),
                $(ApiKey::$key => <$ty>::default().encode(&mut out, version).is_ok(),)*
                _ => false,
            };
            ok.then_some(out)
        }
    };
}

requests! {
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    Metadata => MetadataRequest,
    ApiVersions => ApiVersionsRequest,
    CreateTopics => CreateTopicsRequest,
    DeleteTopics => DeleteTopicsRequest,
    DescribeConfigs => DescribeConfigsRequest,
    CreatePartitions => CreatePartitionsRequest,
    DescribeCluster => DescribeClusterRequest,
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
    DescribeLogDirs => DescribeLogDirsRequest,
    AlterConfigs => AlterConfigsRequest,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
    DeleteRecords => DeleteRecordsRequest,
    FindCoordinator => FindCoordinatorRequest,
    JoinGroup => JoinGroupRequest,
    SyncGroup => SyncGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
    DescribeGroups => DescribeGroupsRequest,
    ListGroups => ListGroupsRequest,
    DeleteGroups => DeleteGroupsRequest,
    OffsetDelete => OffsetDeleteRequest,
    InitProducerId => InitProducerIdRequest,
    AddPartitionsToTxn => AddPartitionsToTxnRequest,
    AddOffsetsToTxn => AddOffsetsToTxnRequest,
    EndTxn => EndTxnRequest,
    WriteTxnMarkers => WriteTxnMarkersRequest,
    TxnOffsetCommit => TxnOffsetCommitRequest,
    DescribeTransactions => DescribeTransactionsRequest,
    ListTransactions => ListTransactionsRequest,
    DescribeAcls => DescribeAclsRequest,
    CreateAcls => CreateAclsRequest,
    DeleteAcls => DeleteAclsRequest,
    AlterReplicaLogDirs => AlterReplicaLogDirsRequest,
    ElectLeaders => ElectLeadersRequest,
    AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
    ListPartitionReassignments => ListPartitionReassignmentsRequest,
    DescribeClientQuotas => DescribeClientQuotasRequest,
    AlterClientQuotas => AlterClientQuotasRequest,
    DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
    AlterUserScramCredentials => AlterUserScramCredentialsRequest,
    SaslHandshake => SaslHandshakeRequest,
    SaslAuthenticate => SaslAuthenticateRequest,
    DescribeQuorum => DescribeQuorumRequest,
    DescribeProducers => DescribeProducersRequest,
    ListConfigResources => ListConfigResourcesRequest,
    DescribeTopicPartitions => DescribeTopicPartitionsRequest,
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
    ShareGroupHeartbeat => ShareGroupHeartbeatRequest,
    ShareGroupDescribe => ShareGroupDescribeRequest,
    ShareFetch => ShareFetchRequest,
    ShareAcknowledge => ShareAcknowledgeRequest,
    DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest,
    AlterShareGroupOffsets => AlterShareGroupOffsetsRequest,
    DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest,
}

/// With `RIVULET_FUZZ_WRITE_SEEDS=<dir>` set, writes `seeds()` into `<dir>` and exits; called
/// from each target's libFuzzer init, so the seeds are built with the code they exercise.
pub fn write_seeds_if_asked(seeds: fn() -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os("RIVULET_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create the seed directory");
    let seeds = seeds();
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:04}")), seed).expect("write a seed");
    }
    println!("wrote {} seeds to {}", seeds.len(), dir.display());
    std::process::exit(0);
}

/// Sample batches: every codec, with keys, nulls, headers, producer fields and the
/// LogAppendTime and control flags, so mutations start from each branch of the format.
pub fn sample_batches() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for codec in CODECS {
        let mut plain = RecordBatchBuilder::new(codec);
        plain.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]);
        out.push(plain.build());

        let mut rich = RecordBatchBuilder::new(codec).producer(42, 3, 7).partition_leader_epoch(5);
        for i in 0..5u8 {
            let value = vec![b'a' + i; 40 + usize::from(i) * 30];
            rich.append(
                1_700_000_000_000 + i64::from(i),
                (i % 2 == 0).then_some(&[b'k', i][..]),
                (i != 3).then_some(&value[..]),
                &[("h", Some(b"x")), ("null", None)],
            );
        }
        out.push(rich.build());

        let mut stamped = RecordBatchBuilder::new(codec).log_append_time(1_700_000_000_123);
        stamped.append(-1, None, Some(b"stamped"), &[]);
        stamped.append(5, Some(b""), Some(b""), &[]);
        out.push(stamped.build());

        // More than one 64 KiB read of decompressed records, so records straddle the reads.
        let mut big = RecordBatchBuilder::new(codec);
        for i in 0..40u8 {
            big.append(1_700_000_000_000 + i64::from(i), Some(&[i]), Some(&[i; 2000]), &[]);
        }
        out.push(big.build());
    }
    let mut control = RecordBatchBuilder::new(Compression::None)
        .producer(9, 0, -1)
        .transactional(true)
        .control(true);
    control.append(0, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 0]), &[]);
    out.push(control.build());
    out
}

/// Sample batches back to back with consecutive offsets, as in a segment.
pub fn sample_log() -> Vec<u8> {
    let mut log = Vec::new();
    let mut next = 0i64;
    for mut batch in sample_batches() {
        let header = rivulet::record::BatchHeader::parse(&batch).expect("sample batch header");
        set_base_offset(&mut batch, next);
        next += header.offset_count();
        log.extend_from_slice(&batch);
    }
    log
}

/// A request frame as it follows the 4-byte size prefix: header, then `body`.
pub fn frame(api: ApiKey, version: i16, body: &[u8]) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut out = BytesMut::new();
    header.encode(&mut out, api.request_header_version(version)).ok()?;
    out.extend_from_slice(body);
    Some(out.to_vec())
}

/// Request frames: a default request of every served API at every served version, and
/// populated produce, fetch and metadata requests.
pub fn request_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for &(api, lo, hi) in rivulet::api::SUPPORTED_APIS {
        assert!(
            encode_default(api, lo).is_some() || (lo..=hi).any(|v| encode_default(api, v).is_some()),
            "{api:?} is served but the fuzz crate's request list lacks it (tests/fuzz/src/lib.rs)"
        );
        for version in lo..=hi {
            if let Some(body) = encode_default(api, version) {
                seeds.extend(frame(api, version, &body));
            }
        }
    }
    let topic = TopicName(StrBytes::from_static_str("t"));
    let mut produce_topic = produce_request::TopicProduceData::default().with_name(topic.clone());
    for batch in sample_batches() {
        produce_topic
            .partition_data
            .push(produce_request::PartitionProduceData::default().with_records(Some(Bytes::from(batch))));
    }
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_topic]);
    let fetch = FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![
        fetch_request::FetchTopic::default()
            .with_topic(topic.clone())
            .with_partitions(vec![
                fetch_request::FetchPartition::default()
                    .with_fetch_offset(3)
                    .with_partition_max_bytes(1 << 20),
            ]),
    ]);
    let metadata = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic)),
    ]));
    for version in [3, 7, 9, 11, 13] {
        let mut body = BytesMut::new();
        if produce.encode(&mut body, version).is_ok() {
            seeds.extend(frame(ApiKey::Produce, version, &body));
        }
    }
    for version in [4, 11, 12, 13, 17] {
        let mut body = BytesMut::new();
        if fetch.encode(&mut body, version).is_ok() {
            seeds.extend(frame(ApiKey::Fetch, version, &body));
        }
    }
    for version in [0, 9, 12] {
        let mut body = BytesMut::new();
        if metadata.encode(&mut body, version).is_ok() {
            seeds.extend(frame(ApiKey::Metadata, version, &body));
        }
    }
    seeds
}

/// `record_batch` input: a flags byte (bit 0: patch the CRCs), then the batches.
pub fn record_batch_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = sample_batches()
        .into_iter()
        .flat_map(|b| [[&[1u8][..], &b].concat(), [&[0u8][..], &b].concat()])
        .collect();
    seeds.push([&[1u8][..], &sample_log()].concat());
    seeds
}

/// `decompression` input: codec byte, two bytes of output limit (in KiB), compressed data.
pub fn decompression_seeds() -> Vec<Vec<u8>> {
    let payloads: [Vec<u8>; 3] = [
        Vec::new(),
        b"hello hello hello hello".to_vec(),
        (0..100_000u32).map(|i| (i % 251) as u8).collect(),
    ];
    let mut seeds = Vec::new();
    for (id, codec) in CODECS.iter().enumerate() {
        for payload in &payloads {
            let data = rivulet::record::compress(*codec, payload, None).expect("compress a seed");
            seeds.push([&[id as u8, 0, 64][..], &data].concat());
        }
    }
    // librdkafka's snappy framing: one raw block.
    let raw = snap_raw(b"raw snappy raw snappy raw snappy");
    seeds.push([&[2u8, 0, 1][..], &raw].concat());
    seeds
}

/// A raw snappy block, recovered from the xerial framing the broker writes (a 16-byte stream
/// header and a 4-byte chunk length before the block).
fn snap_raw(data: &[u8]) -> Vec<u8> {
    let xerial = rivulet::record::compress(Compression::Snappy, data, None).expect("snappy");
    xerial[20..].to_vec()
}

/// `segment_recovery` input: a flags byte (bit 0: patch the CRCs), then the segment file.
pub fn segment_seeds() -> Vec<Vec<u8>> {
    let log = sample_log();
    let mut torn = log.clone();
    torn.truncate(log.len() - 7);
    let mut gap = log.clone();
    // A batch whose base offset goes backwards: recovery cuts there.
    if let Some(end) = complete_batch_end(&gap, 0) {
        set_base_offset(&mut gap[end..], 0);
    }
    vec![
        [&[1u8][..], &log].concat(),
        [&[0u8][..], &log].concat(),
        [&[1u8][..], &torn].concat(),
        [&[1u8][..], &gap].concat(),
        vec![1],
    ]
}

/// `sasl_exchange` input: a mechanism byte, then tokens separated by NUL NUL; valid first
/// messages of each mechanism, and the same with bytes changed.
pub fn sasl_seeds() -> Vec<Vec<u8>> {
    let firsts: [&[u8]; 3] = [b"\0alice\0alice-secret", b"n,,n=alice,r=abcdef", b"n,a=alice,n=alice,r=x,ext=1"];
    let mut seeds = Vec::new();
    for (mechanism, first) in firsts.iter().enumerate() {
        let mut seed = vec![mechanism as u8];
        seed.extend_from_slice(first);
        seed.extend_from_slice(b"\0\0c=biws,r=abcdef,p=AAAA");
        seeds.push(seed.clone());
        seed[3] ^= 0x20;
        seeds.push(seed);
    }
    seeds
}
