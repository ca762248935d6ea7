//! OffsetCommit v10 and OffsetFetch v10 name topics by id (KIP-848): offsets committed that
//! way are the group's offsets for every client, and an unknown id gets UNKNOWN_TOPIC_ID. As on
//! Kafka 4.1, these versions are served only with `unstable.api.versions.enable=true`.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

const UNKNOWN_TOPIC_ID: i16 = 100;

fn compact_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64 + 1);
    buf.extend_from_slice(s.as_bytes());
}

fn skip_compact_str(r: &mut WireReader<'_>) -> String {
    let len = r.uvarint();
    if len == 0 {
        return String::new();
    }
    String::from_utf8(r.bytes(len as usize - 1).to_vec()).unwrap()
}

fn uuid(r: &mut WireReader<'_>) -> [u8; 16] {
    r.bytes(16).try_into().unwrap()
}

fn i64_at(r: &mut WireReader<'_>) -> i64 {
    i64::from_be_bytes(r.bytes(8).try_into().unwrap())
}

fn roundtrip(conn: &mut std::net::TcpStream, api: i16, version: i16, body: &[u8]) -> Vec<u8> {
    conn.write_all(&frame_request_v2(api, version, 7, body)).unwrap();
    read_frame(conn).expect("a response")
}

/// The topic id of `topic` from a Metadata v12 response.
fn topic_id(conn: &mut std::net::TcpStream, topic: &str) -> [u8; 16] {
    let mut body = Vec::new();
    put_uvarint(&mut body, 2); // one topic
    body.extend_from_slice(&[0u8; 16]);
    compact_str(&mut body, topic);
    body.push(0);
    body.extend_from_slice(&[0, 0, 0]); // no auto-create, no authorized ops, tagged fields
    let frame = roundtrip(conn, 3, 12, &body);
    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), 7, "correlation id");
    r.tagged_fields();
    r.i32(); // throttle
    for _ in 0..r.uvarint().saturating_sub(1) {
        r.i32();
        skip_compact_str(&mut r);
        r.i32();
        skip_compact_str(&mut r);
        r.tagged_fields();
    }
    skip_compact_str(&mut r); // cluster id
    r.i32(); // controller
    assert_eq!(r.uvarint(), 2, "one topic in the metadata response");
    assert_eq!(r.i16(), 0, "topic error");
    assert_eq!(skip_compact_str(&mut r), topic);
    uuid(&mut r)
}

fn offset_commit_v10(conn: &mut std::net::TcpStream, group: &str, id: [u8; 16], partition: i32, offset: i64) -> i16 {
    let mut body = Vec::new();
    compact_str(&mut body, group);
    body.extend_from_slice(&(-1i32).to_be_bytes()); // generation: a simple commit
    compact_str(&mut body, "");
    body.push(0); // no group.instance.id
    put_uvarint(&mut body, 2);
    body.extend_from_slice(&id);
    put_uvarint(&mut body, 2);
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    compact_str(&mut body, "by-id");
    body.push(0);
    body.push(0);
    body.push(0);
    let frame = roundtrip(conn, 8, 10, &body);
    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), 7);
    r.tagged_fields();
    r.i32();
    assert_eq!(r.uvarint(), 2, "one topic in the commit response");
    assert_eq!(uuid(&mut r), id, "the response names the topic by id");
    assert_eq!(r.uvarint(), 2);
    assert_eq!(r.i32(), partition);
    r.i16()
}

/// (offset, metadata, error) of one partition through OffsetFetch v10.
fn offset_fetch_v10(conn: &mut std::net::TcpStream, group: &str, id: [u8; 16], partition: i32) -> (i64, String, i16) {
    let mut body = Vec::new();
    put_uvarint(&mut body, 2);
    compact_str(&mut body, group);
    body.push(0); // member id: null
    body.extend_from_slice(&(-1i32).to_be_bytes());
    put_uvarint(&mut body, 2);
    body.extend_from_slice(&id);
    put_uvarint(&mut body, 2);
    body.extend_from_slice(&partition.to_be_bytes());
    body.push(0);
    body.push(0);
    body.push(0); // require_stable = false
    body.push(0);
    let frame = roundtrip(conn, 9, 10, &body);
    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), 7);
    r.tagged_fields();
    r.i32();
    assert_eq!(r.uvarint(), 2, "one group");
    assert_eq!(skip_compact_str(&mut r), group);
    assert_eq!(r.uvarint(), 2, "one topic");
    assert_eq!(uuid(&mut r), id, "the response names the topic by id");
    assert_eq!(r.uvarint(), 2);
    assert_eq!(r.i32(), partition);
    let offset = i64_at(&mut r);
    r.i32();
    let metadata = skip_compact_str(&mut r);
    (offset, metadata, r.i16())
}

#[test]
fn offsets_committed_and_fetched_by_topic_id() {
    let dir = temp_data_dir();
    // Kafka 4.1 serves v10 only with its unstable versions enabled.
    let broker = BrokerProcess::start(dir.path(), &["--set", "unstable.api.versions.enable=true"]);
    create_topic(&broker.bootstrap(), "by-id", 2, &[]);
    let mut conn = raw_connect(broker.addr());
    let id = topic_id(&mut conn, "by-id");
    assert_ne!(id, [0u8; 16], "the topic has an id");

    assert_eq!(
        offset_commit_v10(&mut conn, "id-group", id, 1, 42),
        0,
        "commit by topic id"
    );
    assert_eq!(
        offset_fetch_v10(&mut conn, "id-group", id, 1),
        (42, "by-id".to_string(), 0)
    );

    // The same offset through librdkafka, which names topics.
    let consumer = plain_consumer(&broker.bootstrap(), &[("group.id", "id-group")]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("by-id", 1);
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    assert_eq!(
        committed.find_partition("by-id", 1).unwrap().offset(),
        Offset::Offset(42)
    );

    let unknown = [7u8; 16];
    assert_eq!(
        offset_commit_v10(&mut conn, "id-group", unknown, 0, 1),
        UNKNOWN_TOPIC_ID
    );
    assert_eq!(offset_fetch_v10(&mut conn, "id-group", unknown, 0).2, UNKNOWN_TOPIC_ID);
}
