//! Raw wire-protocol tests over plain TCP: ApiVersions negotiation, and malformed input that
//! must close only the offending connection.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// APIs the broker is specified to serve.
const REQUIRED_APIS: [(i16, &str); 12] = [
    (0, "Produce"),
    (1, "Fetch"),
    (2, "ListOffsets"),
    (3, "Metadata"),
    (18, "ApiVersions"),
    (19, "CreateTopics"),
    (20, "DeleteTopics"),
    (23, "OffsetForLeaderEpoch"),
    (32, "DescribeConfigs"),
    (35, "DescribeLogDirs"),
    (37, "CreatePartitions"),
    (60, "DescribeCluster"),
];

fn check_ranges(resp: &ApiVersionsResponse) {
    let mut keys: Vec<i16> = resp.apis.iter().map(|a| a.api_key).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "duplicate api keys in {:?}", resp.apis);
    for a in &resp.apis {
        assert!(0 <= a.min && a.min <= a.max, "bad version range {a:?}");
    }
}

fn range_of(resp: &ApiVersionsResponse, key: i16) -> Option<ApiRange> {
    resp.apis.iter().copied().find(|a| a.api_key == key)
}

#[test]
fn api_versions_v3_lists_the_served_apis() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = raw_connect(broker.addr());

    let resp = raw_api_versions(&mut conn, 42).expect("ApiVersions v3 round trip");
    assert_eq!(resp.correlation_id, 42, "correlation id echoed");
    assert_eq!(resp.error_code, 0, "error code");
    assert_eq!(resp.throttle_time_ms, Some(0), "throttle time");
    check_ranges(&resp);
    for (key, name) in REQUIRED_APIS {
        assert!(
            range_of(&resp, key).is_some(),
            "{name} (key {key}) missing from ApiVersions: {:?}",
            resp.apis
        );
    }
    let av = range_of(&resp, API_API_VERSIONS).unwrap();
    assert!(av.min == 0 && av.max >= 3, "ApiVersions range {av:?} must cover 0..=3");
    let produce = range_of(&resp, API_PRODUCE).unwrap();
    assert!(
        produce.max >= 3,
        "Produce must support v3+ (record batch v2): {produce:?}"
    );

    // A second request on the same connection (pipelining/ordering sanity).
    let again = raw_api_versions(&mut conn, 43).expect("second ApiVersions");
    assert_eq!(again.correlation_id, 43);
    assert_eq!(again.apis, resp.apis, "stable answer");
}

#[test]
fn api_versions_v0_uses_the_old_layout() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = raw_connect(broker.addr());
    conn.write_all(&frame_request_v1(API_API_VERSIONS, 0, 7, &[])).unwrap();
    let resp = parse_api_versions_v0(&read_frame(&mut conn).expect("ApiVersions v0 response"));
    assert_eq!(resp.correlation_id, 7);
    assert_eq!(resp.error_code, 0);
    check_ranges(&resp);
    for (key, name) in REQUIRED_APIS {
        assert!(
            range_of(&resp, key).is_some(),
            "{name} (key {key}) missing from ApiVersions v0: {:?}",
            resp.apis
        );
    }
}

#[test]
fn unsupported_api_versions_version_gets_v0_error_with_ranges() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = raw_connect(broker.addr());

    // KIP-511: a client may send ApiVersions at a version newer than the broker knows; the
    // broker answers in the v0 layout with UNSUPPORTED_VERSION and its own ApiVersions range.
    conn.write_all(&frame_request_v2(API_API_VERSIONS, 99, 1234, &api_versions_body_v3()))
        .unwrap();
    let frame = read_frame(&mut conn).expect("a response to ApiVersions v99 (not a closed connection)");
    let resp = parse_api_versions_v0(&frame);
    assert_eq!(resp.correlation_id, 1234, "correlation id echoed");
    assert_eq!(resp.error_code, ERROR_UNSUPPORTED_VERSION, "error code");
    check_ranges(&resp);
    let av = range_of(&resp, API_API_VERSIONS)
        .unwrap_or_else(|| panic!("the ApiVersions range must be listed: {:?}", resp.apis));
    assert!(av.max >= 3 && av.max < 99, "ApiVersions range {av:?}");

    // The client then retries with a version the broker supports, on the same connection.
    let retry = raw_api_versions(&mut conn, 1235).expect("ApiVersions v3 after the v99 attempt");
    assert_eq!(retry.error_code, 0);
    assert!(range_of(&retry, API_PRODUCE).is_some());
}

/// Deterministic filler bytes.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect()
}

/// Waits for the broker to close `conn`: reads until EOF or a reset. Any bytes before that are
/// ignored (a broker may answer part of the garbage before giving up on it).
fn expect_closed(mut conn: TcpStream, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
                ) =>
            {
                return;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: the broker kept the connection open (no EOF within 10 s)")
            }
            Err(e) => panic!("{what}: unexpected read error {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the broker kept sending without closing"
        );
    }
}

#[test]
fn malformed_frames_close_only_their_own_connection() {
    let dir = temp_data_dir();
    let mut broker = BrokerProcess::start(dir.path(), &[]);
    let addr = broker.addr();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "survivor", 1, &[]);

    // Two well-behaved clients that stay connected throughout.
    let mut healthy = raw_connect(addr);
    let mut correlation = 1;
    raw_api_versions(&mut healthy, correlation).expect("healthy connection before the abuse");
    let producer = tracked_producer(&bootstrap, &[("linger.ms", "0")]);
    let mut produced = 0i64;
    let placed = produce_all(&producer, "survivor", Some(0), &[(b"k".to_vec(), b"before".to_vec())]);
    assert_eq!(placed, vec![(0, 0)]);
    produced += 1;

    let mut truncated_client_id = Vec::new();
    truncated_client_id.extend_from_slice(&14i32.to_be_bytes());
    truncated_client_id.extend_from_slice(&API_METADATA.to_be_bytes());
    truncated_client_id.extend_from_slice(&1i16.to_be_bytes());
    truncated_client_id.extend_from_slice(&5i32.to_be_bytes());
    truncated_client_id.extend_from_slice(&1000i16.to_be_bytes()); // client id longer than the frame
    truncated_client_id.extend_from_slice(b"abcd");

    let unknown_api = frame_request_v1(999, 0, 9, &[]);

    let mut garbage_header = 32i32.to_be_bytes().to_vec();
    garbage_header.extend_from_slice(&noise(32, 7));
    garbage_header[4] = 0xAB; // the api key is negative: no such API

    let mut huge = 0x7fff_ffffi32.to_be_bytes().to_vec();
    huge.extend_from_slice(&noise(64, 3));

    let mut negative = (-16i32).to_be_bytes().to_vec();
    negative.extend_from_slice(&noise(16, 4));

    // (what, bytes, whether we half-close our side to make the frame end)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("random bytes", noise(4096, 1), true),
        ("a 0x7fffffff length prefix", huge, false),
        ("a negative length prefix", negative, false),
        ("a valid size with a garbage header", garbage_header, false),
        ("an unknown api key", unknown_api, false),
        ("a client id running past the frame", truncated_client_id, false),
        ("a zero-length frame", 0i32.to_be_bytes().to_vec(), false),
    ];

    let check_others = |healthy: &mut TcpStream,
                        correlation: &mut i32,
                        produced: &mut i64,
                        broker: &mut BrokerProcess,
                        after: &str| {
        assert!(broker.is_alive(), "broker died after {after}");
        *correlation += 1;
        let resp = raw_api_versions(healthy, *correlation)
            .unwrap_or_else(|e| panic!("the concurrent raw connection broke after {after}: {e}"));
        assert_eq!(resp.correlation_id, *correlation);
        let placed = produce_all(
            &producer,
            "survivor",
            Some(0),
            &[(b"k".to_vec(), after.as_bytes().to_vec())],
        );
        assert_eq!(placed, vec![(0, *produced)], "the rdkafka producer after {after}");
        *produced += 1;
    };

    for (what, bytes, half_close) in cases {
        let mut bad = raw_connect(addr);
        // The broker may close while we are still writing; that is fine.
        let _ = bad.write_all(&bytes);
        if half_close {
            let _ = bad.shutdown(Shutdown::Write);
        }
        expect_closed(bad, what);
        check_others(&mut healthy, &mut correlation, &mut produced, &mut broker, what);
    }

    // A frame cut short by the client closing.
    {
        let mut bad = raw_connect(addr);
        let mut frame = 100i32.to_be_bytes().to_vec();
        frame.extend_from_slice(&frame_request_v1(API_METADATA, 1, 11, &[])[4..]);
        frame.truncate(24);
        bad.write_all(&frame).unwrap();
        bad.shutdown(Shutdown::Both).unwrap();
    }
    check_others(
        &mut healthy,
        &mut correlation,
        &mut produced,
        &mut broker,
        "a truncated frame and close",
    );

    // Many connections opened and dropped mid-request at once.
    let conns: Vec<TcpStream> = (0..50)
        .map(|i| {
            let mut c = raw_connect(addr);
            let _ = c.write_all(&noise(10 + i, i as u64));
            c
        })
        .collect();
    drop(conns);
    check_others(
        &mut healthy,
        &mut correlation,
        &mut produced,
        &mut broker,
        "50 abandoned connections",
    );

    // A brand-new connection works too, and every good record is in the log.
    let mut fresh = raw_connect(addr);
    raw_api_versions(&mut fresh, 1).expect("a new connection after the abuse");
    let consumed = consume_to_end(&bootstrap, "survivor", 1);
    assert_eq!(consumed[0].len() as i64, produced, "records in the log");
    assert_dense_from_zero("survivor", 0, &consumed[0]);
    assert_eq!(consumed[0][0].value.as_deref(), Some(&b"before"[..]));
}

/// A Metadata v0..=4 request body; `topics: None` is the null array (v1+: all topics).
fn metadata_body(version: i16, topics: Option<&[&str]>, allow_auto_create: bool) -> Vec<u8> {
    let mut body = Vec::new();
    match topics {
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(ts) => {
            body.extend_from_slice(&(ts.len() as i32).to_be_bytes());
            for t in ts {
                body.extend_from_slice(&(t.len() as i16).to_be_bytes());
                body.extend_from_slice(t.as_bytes());
            }
        }
    }
    if version >= 4 {
        body.push(allow_auto_create as u8);
    }
    body
}

fn read_string(r: &mut WireReader<'_>) -> Option<String> {
    let n = r.i16();
    (n >= 0).then(|| String::from_utf8(r.bytes(n as usize).to_vec()).expect("utf-8 string"))
}

/// Topics (name -> (error code, partition count)) of a Metadata v0..=4 response.
fn metadata_topics(conn: &mut TcpStream, version: i16, correlation_id: i32, body: &[u8]) -> Vec<(String, i16, usize)> {
    conn.write_all(&frame_request_v1(API_METADATA, version, correlation_id, body))
        .unwrap();
    let frame = read_frame(conn).unwrap_or_else(|e| panic!("Metadata v{version}: {e}"));
    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), correlation_id);
    if version >= 3 {
        r.i32(); // throttle time
    }
    for _ in 0..r.i32() {
        r.i32();
        read_string(&mut r);
        r.i32();
        if version >= 1 {
            read_string(&mut r); // rack
        }
    }
    if version >= 2 {
        read_string(&mut r); // cluster id
    }
    if version >= 1 {
        r.i32(); // controller id
    }
    let mut topics = Vec::new();
    for _ in 0..r.i32() {
        let error = r.i16();
        let name = read_string(&mut r).expect("topic name");
        if version >= 1 {
            r.bytes(1); // is_internal
        }
        let partitions = r.i32();
        for _ in 0..partitions {
            r.i16();
            r.i32();
            r.i32();
            for _ in 0..r.i32() {
                r.i32();
            }
            for _ in 0..r.i32() {
                r.i32();
            }
        }
        // Internal topics (__consumer_offsets, ...) may exist; they are not under test here.
        if !name.starts_with("__") {
            topics.push((name, error, partitions as usize));
        }
    }
    assert_eq!(r.remaining(), 0, "trailing bytes after Metadata v{version} response");
    topics.sort();
    topics
}

#[test]
fn metadata_topic_list_semantics_per_version() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &["--set", "auto.create.topics.enable=false"]);
    create_topic(&broker.bootstrap(), "alpha", 2, &[]);
    create_topic(&broker.bootstrap(), "beta", 1, &[]);
    let mut conn = raw_connect(broker.addr());
    let both = vec![("alpha".to_string(), 0, 2), ("beta".to_string(), 0, 1)];

    assert_eq!(
        metadata_topics(&mut conn, 0, 1, &metadata_body(0, Some(&[]), false)),
        both,
        "v0: an empty list means all topics"
    );
    assert_eq!(
        metadata_topics(&mut conn, 1, 2, &metadata_body(1, Some(&[]), false)),
        vec![],
        "v1: an empty list means no topics"
    );
    assert_eq!(
        metadata_topics(&mut conn, 1, 3, &metadata_body(1, None, false)),
        both,
        "v1: null means all topics"
    );
    assert_eq!(
        metadata_topics(&mut conn, 4, 4, &metadata_body(4, Some(&["alpha", "nope"]), true)),
        vec![("alpha".to_string(), 0, 2), ("nope".to_string(), 3, 0)],
        "v4 naming an unknown topic with auto-creation disabled on the broker"
    );
}

#[test]
fn metadata_auto_creation_follows_the_request_flag() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let mut conn = raw_connect(broker.addr());
    let topics = metadata_topics(&mut conn, 4, 1, &metadata_body(4, Some(&["not-wanted"]), false));
    assert_eq!(
        topics,
        vec![("not-wanted".to_string(), 3, 0)],
        "allow_auto_topic_creation=false"
    );
    assert_eq!(topic_partition_count(&broker.bootstrap(), "not-wanted"), None);

    metadata_topics(&mut conn, 4, 2, &metadata_body(4, Some(&["wanted"]), true));
    wait_for(CLIENT_TIMEOUT, "the auto-created topic", || {
        topic_partition_count(&broker.bootstrap(), "wanted")
    });
    assert_eq!(
        topic_partition_count(&broker.bootstrap(), "wanted"),
        Some(1),
        "num.partitions default"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    create_topic(&broker.bootstrap(), "piped", 3, &[]);
    let mut conn = raw_connect(broker.addr());
    let mut burst = Vec::new();
    for corr in 1..=60 {
        let frame = match corr % 3 {
            0 => frame_request_v2(API_API_VERSIONS, 3, corr, &api_versions_body_v3()),
            1 => frame_request_v1(API_METADATA, 1, corr, &metadata_body(1, None, false)),
            _ => frame_request_v1(API_API_VERSIONS, 0, corr, &[]),
        };
        burst.extend_from_slice(&frame);
    }
    conn.write_all(&burst).unwrap();
    for corr in 1..=60 {
        let frame = read_frame(&mut conn).unwrap_or_else(|e| panic!("response #{corr}: {e}"));
        let got = i32::from_be_bytes(frame[..4].try_into().unwrap());
        assert_eq!(got, corr, "responses must come back in request order");
    }
}

/// OffsetForLeaderEpoch v3 for one partition: (error, leader epoch, end offset).
fn offset_for_leader_epoch(
    conn: &mut TcpStream,
    correlation_id: i32,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i32).to_be_bytes()); // replica id: a consumer
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&current_leader_epoch.to_be_bytes());
    body.extend_from_slice(&leader_epoch.to_be_bytes());
    conn.write_all(&frame_request_v1(23, 3, correlation_id, &body)).unwrap();
    let frame = read_frame(conn).expect("OffsetForLeaderEpoch response");
    let mut r = WireReader::new(&frame);
    assert_eq!(r.i32(), correlation_id);
    r.i32(); // throttle time
    assert_eq!(r.i32(), 1, "one topic");
    assert_eq!(read_string(&mut r).as_deref(), Some(topic));
    assert_eq!(r.i32(), 1, "one partition");
    let error = r.i16();
    assert_eq!(r.i32(), partition);
    let epoch = r.i32();
    let end = i64::from_be_bytes(r.bytes(8).try_into().unwrap());
    assert_eq!(r.remaining(), 0, "trailing bytes");
    (error, epoch, end)
}

#[test]
fn offset_for_leader_epoch_answers_like_a_single_epoch_leader() {
    let dir = temp_data_dir();
    let broker = BrokerProcess::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "epochs", 1, &[]);
    let producer = tracked_producer(&bootstrap, &[]);
    let recs: Vec<_> = (0..5).map(|i| (vec![i], vec![i])).collect();
    produce_all(&producer, "epochs", Some(0), &recs);

    let mut conn = raw_connect(broker.addr());
    assert_eq!(
        offset_for_leader_epoch(&mut conn, 1, "epochs", 0, -1, 0),
        (0, 0, 5),
        "epoch 0, no fencing"
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, 2, "epochs", 0, 0, 0),
        (0, 0, 5),
        "epoch 0, current epoch 0"
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, 3, "epochs", 0, 0, 7),
        (0, -1, -1),
        "an epoch later than any known: UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET"
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, 4, "epochs", 0, 1, 0).0,
        75,
        "a current leader epoch newer than the leader's: UNKNOWN_LEADER_EPOCH"
    );
    assert_eq!(
        offset_for_leader_epoch(&mut conn, 5, "epochs", 9, -1, 0).0,
        3,
        "a partition the topic does not have: UNKNOWN_TOPIC_OR_PARTITION"
    );
}
