//! Idempotent producers: InitProducerId, sequence checks and duplicate detection, through
//! librdkafka with `enable.idempotence=true` and through hand-built Produce v9 requests.

mod common;

use std::io::Write;
use std::net::TcpStream;

use rdkafka::producer::BaseRecord;

use common::*;

const API_PRODUCE: i16 = 0;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

#[test]
fn idempotent_librdkafka_producer_delivers_each_record_once_in_order() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "idem", 3, &[]);
    let producer = tracked_producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "5"),
            ("batch.num.messages", "100"),
        ],
    );
    let n = 10_000usize;
    let payloads: Vec<String> = (0..n).map(|i| format!("value-{i}")).collect();
    for (i, value) in payloads.iter().enumerate() {
        let key = format!("k{}", i % 3);
        let record = BaseRecord::with_opaque_to("idem", i)
            .partition((i % 3) as i32)
            .key(key.as_bytes())
            .payload(value.as_bytes());
        send(&producer, record);
    }
    flush(&producer);
    let reports = take_reports(&producer);
    assert_eq!(reports.len(), n);
    assert!(reports.iter().all(|r| r.result.is_ok()), "every delivery succeeds");

    let consumed = consume_to_end(&bootstrap, "idem", 3);
    for (p, records) in consumed.iter().enumerate() {
        assert_dense_from_zero("idem", p as i32, records);
        let expected: Vec<&str> = payloads
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == p)
            .map(|(_, v)| v.as_str())
            .collect();
        let got: Vec<&str> = records
            .iter()
            .map(|r| std::str::from_utf8(r.value.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(got, expected, "partition {p}: each record once, in order");
    }
}

/// A v2 batch of `n` records carrying producer id, epoch and base sequence.
fn producer_batch(producer_id: i64, epoch: i16, base_sequence: i32, n: usize, attributes: i16) -> Vec<u8> {
    let mut records = Vec::new();
    for i in 0..n {
        let value = format!("v{base_sequence}-{i}");
        let mut body = vec![0u8]; // attributes
        put_uvarint(&mut body, (i as u64) << 1); // timestamp delta (zigzag)
        put_uvarint(&mut body, (i as u64) << 1); // offset delta
        put_uvarint(&mut body, 1); // key: null (zigzag -1)
        put_uvarint(&mut body, (value.len() as u64) << 1);
        body.extend_from_slice(value.as_bytes());
        put_uvarint(&mut body, 0); // no headers
        put_uvarint(&mut records, (body.len() as u64) << 1);
        records.extend_from_slice(&body);
    }
    let ts: i64 = 1_700_000_000_000;
    let mut tail = Vec::new();
    tail.extend_from_slice(&attributes.to_be_bytes());
    tail.extend_from_slice(&(n as i32 - 1).to_be_bytes());
    tail.extend_from_slice(&ts.to_be_bytes());
    tail.extend_from_slice(&ts.to_be_bytes());
    tail.extend_from_slice(&producer_id.to_be_bytes());
    tail.extend_from_slice(&epoch.to_be_bytes());
    tail.extend_from_slice(&base_sequence.to_be_bytes());
    tail.extend_from_slice(&(n as i32).to_be_bytes());
    tail.extend_from_slice(&records);
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes());
    batch.extend_from_slice(&((4 + 1 + 4 + tail.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes());
    batch.push(2);
    batch.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
    batch.extend_from_slice(&tail);
    batch
}

fn get_uvarint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// Produce v9 (flexible) of one batch to partition 0 of `topic`; returns (error code, base offset).
fn produce_v9(conn: &mut TcpStream, correlation_id: i32, topic: &str, records: Vec<u8>) -> (i16, i64) {
    let mut body = Vec::new();
    put_uvarint(&mut body, 0); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks = all
    body.extend_from_slice(&30_000i32.to_be_bytes());
    put_uvarint(&mut body, 2); // one topic
    put_uvarint(&mut body, topic.len() as u64 + 1);
    body.extend_from_slice(topic.as_bytes());
    put_uvarint(&mut body, 2); // one partition
    body.extend_from_slice(&0i32.to_be_bytes());
    put_uvarint(&mut body, records.len() as u64 + 1);
    body.extend_from_slice(&records);
    body.extend_from_slice(&[0, 0, 0]); // tagged fields: partition, topic, request
    conn.write_all(&frame_request_v2(API_PRODUCE, 9, correlation_id, &body))
        .unwrap();
    let frame = read_frame(conn).expect("a Produce v9 response");
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), correlation_id);
    // Response header v1: correlation id, then an empty tagged-field section.
    let mut pos = 5;
    assert_eq!(get_uvarint(&frame, &mut pos), 2, "one topic");
    let name_len = get_uvarint(&frame, &mut pos) as usize - 1;
    assert_eq!(&frame[pos..pos + name_len], topic.as_bytes());
    pos += name_len;
    assert_eq!(get_uvarint(&frame, &mut pos), 2, "one partition");
    assert_eq!(i32::from_be_bytes(frame[pos..pos + 4].try_into().unwrap()), 0);
    let error = i16::from_be_bytes(frame[pos + 4..pos + 6].try_into().unwrap());
    let base_offset = i64::from_be_bytes(frame[pos + 6..pos + 14].try_into().unwrap());
    (error, base_offset)
}

#[test]
fn raw_retries_are_deduplicated_and_gaps_refused() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    create_topic(&broker.bootstrap(), "rawidem", 1, &[]);
    let mut conn = raw_connect(broker.addr());
    let pid = 4242;
    assert_eq!(
        produce_v9(&mut conn, 1, "rawidem", producer_batch(pid, 0, 0, 3, 0)),
        (0, 0)
    );
    assert_eq!(
        produce_v9(&mut conn, 2, "rawidem", producer_batch(pid, 0, 3, 2, 0)),
        (0, 3)
    );
    // The same batch again: success with the original base offset, nothing written.
    assert_eq!(
        produce_v9(&mut conn, 3, "rawidem", producer_batch(pid, 0, 3, 2, 0)),
        (0, 3)
    );
    assert_eq!(
        produce_v9(&mut conn, 4, "rawidem", producer_batch(pid, 0, 0, 3, 0)),
        (0, 0)
    );
    // A gap in the sequence.
    assert_eq!(
        produce_v9(&mut conn, 5, "rawidem", producer_batch(pid, 0, 9, 1, 0)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // A new epoch starts at 0; the old one is then fenced.
    assert_eq!(
        produce_v9(&mut conn, 6, "rawidem", producer_batch(pid, 1, 0, 1, 0)),
        (0, 5)
    );
    assert_eq!(
        produce_v9(&mut conn, 7, "rawidem", producer_batch(pid, 0, 5, 1, 0)).0,
        INVALID_PRODUCER_EPOCH
    );
    // Transactional batches in a request without a transactional id are refused, as Kafka
    // refuses them, with or without an authorizer.
    assert_eq!(
        produce_v9(&mut conn, 8, "rawidem", producer_batch(pid, 1, 1, 1, 0x10)).0,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );

    let consumed = consume_to_end(&broker.bootstrap(), "rawidem", 1);
    let values: Vec<String> = consumed[0]
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(values, ["v0-0", "v0-1", "v0-2", "v3-0", "v3-1", "v0-0"]);
    assert_eq!(watermarks(&broker.bootstrap(), "rawidem", 0), (0, 6));
}
