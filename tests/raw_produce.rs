//! Produce requests built by hand (record batch v2 encoded here, CRC-32C and all), to check
//! how the broker validates batches and which error codes it answers with. The expected
//! codes are Apache Kafka's (ProduceRequest.validateRecords, LogValidator).

mod common;

use std::io::Write;
use std::net::TcpStream;

use common::*;

const NONE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const INVALID_RECORD: i16 = 87;

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// One record of a v2 batch.
struct Rec<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [(&'a str, Option<&'a [u8]>)],
}

fn encode_records(recs: &[Rec<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let mut body = Vec::new();
        body.push(0); // attributes
        put_varint(&mut body, i as i64); // timestamp delta
        put_varint(&mut body, i as i64); // offset delta
        for field in [r.key, r.value] {
            match field {
                None => put_varint(&mut body, -1),
                Some(b) => {
                    put_varint(&mut body, b.len() as i64);
                    body.extend_from_slice(b);
                }
            }
        }
        put_varint(&mut body, r.headers.len() as i64);
        for (k, v) in r.headers {
            put_varint(&mut body, k.len() as i64);
            body.extend_from_slice(k.as_bytes());
            match v {
                None => put_varint(&mut body, -1),
                Some(b) => {
                    put_varint(&mut body, b.len() as i64);
                    body.extend_from_slice(b);
                }
            }
        }
        put_varint(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

/// A record batch v2 holding `recs`, with `codec` (attributes bits 0-2) applied to the
/// records section by `compress`.
fn batch_with(recs: &[Rec<'_>], magic: u8, codec: i16, compress: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let base_ts: i64 = 1_700_000_000_000;
    let records = compress(&encode_records(recs));
    // Everything after the CRC field.
    let mut tail = Vec::new();
    tail.extend_from_slice(&codec.to_be_bytes()); // attributes
    tail.extend_from_slice(&(recs.len() as i32 - 1).to_be_bytes()); // last offset delta
    tail.extend_from_slice(&base_ts.to_be_bytes());
    tail.extend_from_slice(&(base_ts + recs.len() as i64 - 1).to_be_bytes());
    tail.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    tail.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    tail.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    tail.extend_from_slice(&(recs.len() as i32).to_be_bytes());
    tail.extend_from_slice(&records);
    let crc = crc32c::crc32c(&tail);

    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset
    let length = 4 + 1 + 4 + tail.len(); // leader epoch + magic + crc + tail
    batch.extend_from_slice(&(length as i32).to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    batch.push(magic);
    batch.extend_from_slice(&crc.to_be_bytes());
    batch.extend_from_slice(&tail);
    batch
}

fn batch(recs: &[Rec<'_>]) -> Vec<u8> {
    batch_with(recs, 2, 0, |b| b.to_vec())
}

fn simple(n: usize, tag: &str) -> Vec<u8> {
    let values: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let recs: Vec<Rec<'_>> = values
        .iter()
        .map(|v| Rec {
            key: Some(b"key"),
            value: Some(v.as_bytes()),
            headers: &[],
        })
        .collect();
    batch(&recs)
}

/// Produce (non-flexible versions 3-8) for one partition; returns (error code, base offset).
fn produce(
    conn: &mut TcpStream,
    version: i16,
    correlation_id: i32,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> (i16, i64) {
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks = all
    body.extend_from_slice(&30_000i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes()); // one topic
    body.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&1i32.to_be_bytes()); // one partition
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&(records.len() as i32).to_be_bytes());
    body.extend_from_slice(records);
    conn.write_all(&frame_request_v1(API_PRODUCE, version, correlation_id, &body))
        .unwrap();
    let frame = read_frame(conn).unwrap_or_else(|e| panic!("no Produce v{version} response (connection closed?): {e}"));

    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), correlation_id, "correlation id");
    assert_eq!(r.i32(), 1, "one topic in the response");
    let name_len = r.i16() as usize;
    assert_eq!(r.bytes(name_len), topic.as_bytes());
    assert_eq!(r.i32(), 1, "one partition in the response");
    assert_eq!(r.i32(), partition);
    let error = r.i16();
    let base_offset = i64::from_be_bytes(r.bytes(8).try_into().unwrap());
    (error, base_offset)
}

struct Setup {
    _dir: tempfile::TempDir,
    broker: BrokerProcess,
    conn: TcpStream,
}

fn setup() -> Setup {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    create_topic(&broker.bootstrap(), "raw", 1, &[]);
    let conn = raw_connect(broker.addr());
    Setup {
        _dir: dir,
        broker,
        conn,
    }
}

#[test]
fn hand_built_batches_are_stored_and_read_back_by_librdkafka() {
    let mut s = setup();
    let headers: [(&str, Option<&[u8]>); 3] = [("a", Some(b"1")), ("a", Some(b"2")), ("n", None)];
    let recs = [
        Rec {
            key: Some(b"k0"),
            value: Some(b"v0"),
            headers: &headers,
        },
        Rec {
            key: None,
            value: Some(b""),
            headers: &[],
        },
        Rec {
            key: Some(b""),
            value: None,
            headers: &[],
        },
    ];
    assert_eq!(produce(&mut s.conn, 3, 1, "raw", 0, &batch(&recs)), (NONE, 0));
    assert_eq!(produce(&mut s.conn, 8, 2, "raw", 0, &simple(5, "second")), (NONE, 3));
    let zstd = batch_with(&recs[..1], 2, 4, |b| zstd::encode_all(b, 3).unwrap());
    assert_eq!(
        produce(&mut s.conn, 7, 3, "raw", 0, &zstd),
        (NONE, 8),
        "zstd with Produce v7"
    );

    let consumed = consume_to_end(&s.broker.bootstrap(), "raw", 1);
    let got = &consumed[0];
    assert_eq!(got.len(), 9);
    assert_dense_from_zero("raw", 0, got);
    let h = |k: &str, v: Option<&[u8]>| (k.to_string(), v.map(<[u8]>::to_vec));
    assert_eq!(got[0].key.as_deref(), Some(&b"k0"[..]));
    assert_eq!(
        got[0].headers,
        vec![h("a", Some(b"1")), h("a", Some(b"2")), h("n", None)]
    );
    assert_eq!((got[1].key.as_deref(), got[1].value.as_deref()), (None, Some(&b""[..])));
    assert_eq!((got[2].key.as_deref(), got[2].value.as_deref()), (Some(&b""[..]), None));
    assert_eq!(got[7].value.as_deref(), Some(&b"second-4"[..]));
    assert_eq!(got[8].value.as_deref(), Some(&b"v0"[..]));
    assert_eq!(got[8].headers.len(), 3);
}

#[test]
fn invalid_batches_get_kafkas_error_codes_and_leave_the_log_alone() {
    let mut s = setup();
    assert_eq!(produce(&mut s.conn, 3, 1, "raw", 0, &simple(2, "good")), (NONE, 0));
    let mut corr = 10;
    // Every case is checked; the mismatches are reported together.
    let mut mismatches = Vec::new();
    let mut expect = |conn: &mut TcpStream, version: i16, records: Vec<u8>, partition: i32, want: i16, what: &str| {
        corr += 1;
        let (error, _) = produce(conn, version, corr, "raw", partition, &records);
        if error != want {
            mismatches.push(format!("{what}: expected error code {want}, got {error}"));
        }
    };

    let mut bad_crc = simple(3, "crc");
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff; // payload byte changed after the CRC was computed
    expect(
        &mut s.conn,
        3,
        bad_crc,
        0,
        CORRUPT_MESSAGE,
        "a batch whose CRC does not match",
    );

    let mut bad_crc_field = simple(3, "crc2");
    bad_crc_field[17] ^= 0x01; // the CRC field itself
    expect(
        &mut s.conn,
        3,
        bad_crc_field,
        0,
        CORRUPT_MESSAGE,
        "a batch with a flipped CRC field",
    );

    let mut two = simple(1, "first");
    two.extend_from_slice(&simple(1, "second"));
    expect(&mut s.conn, 3, two, 0, INVALID_RECORD, "two batches for one partition");

    let mut truncated = simple(4, "cut");
    truncated.truncate(truncated.len() - 5);
    expect(
        &mut s.conn,
        3,
        truncated,
        0,
        INVALID_RECORD,
        "a batch shorter than its length field",
    );

    expect(&mut s.conn, 3, Vec::new(), 0, INVALID_RECORD, "no batch at all");

    let zstd = batch_with(
        &[Rec {
            key: None,
            value: Some(b"z"),
            headers: &[],
        }],
        2,
        4,
        |b| zstd::encode_all(b, 3).unwrap(),
    );
    expect(
        &mut s.conn,
        6,
        zstd,
        0,
        UNSUPPORTED_COMPRESSION_TYPE,
        "zstd before Produce v7",
    );

    expect(
        &mut s.conn,
        3,
        simple(1, "p9"),
        9,
        UNKNOWN_TOPIC_OR_PARTITION,
        "a partition the topic does not have",
    );

    assert!(
        mismatches.is_empty(),
        "error codes differ from Kafka's:\n  {}",
        mismatches.join("\n  ")
    );

    // None of that reached the log, and the connection still works.
    assert_eq!(produce(&mut s.conn, 3, 99, "raw", 0, &simple(1, "after")), (NONE, 2));
    assert_eq!(watermarks(&s.broker.bootstrap(), "raw", 0), (0, 3));
    let consumed = consume_to_end(&s.broker.bootstrap(), "raw", 1);
    let values: Vec<_> = consumed[0].iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(
        values,
        vec![b"good-0".to_vec(), b"good-1".to_vec(), b"after-0".to_vec()]
    );
}

#[test]
fn magic_1_batch_in_produce_v3_is_an_invalid_record() {
    let mut s = setup();
    let magic1 = batch_with(
        &[Rec {
            key: None,
            value: Some(b"old"),
            headers: &[],
        }],
        1,
        0,
        |b| b.to_vec(),
    );
    let (error, _) = produce(&mut s.conn, 3, 1, "raw", 0, &magic1);
    assert_eq!(
        error, INVALID_RECORD,
        "Produce v3+ only takes magic 2 batches (Kafka: InvalidRecordException)"
    );
    assert_eq!(watermarks(&s.broker.bootstrap(), "raw", 0), (0, 0));
}

#[test]
fn acks_zero_produce_gets_no_response() {
    let mut s = setup();
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes()); // acks = 0
    body.extend_from_slice(&30_000i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(b"raw");
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    let records = simple(2, "fire-and-forget");
    body.extend_from_slice(&(records.len() as i32).to_be_bytes());
    body.extend_from_slice(&records);
    s.conn.write_all(&frame_request_v1(API_PRODUCE, 3, 500, &body)).unwrap();
    // The next response on the connection must be the ApiVersions one.
    let resp = raw_api_versions(&mut s.conn, 501).expect("ApiVersions after an acks=0 produce");
    assert_eq!(resp.correlation_id, 501, "an acks=0 produce must not be answered");
    wait_for(CLIENT_TIMEOUT, "the acks=0 records to be stored", || {
        (watermarks(&s.broker.bootstrap(), "raw", 0).1 == 2).then_some(())
    });
}
