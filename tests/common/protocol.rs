//! A minimal Kafka protocol client for tests: sends any request the `kafka-protocol` codec
//! knows and decodes its response, so a test can look at exactly what a broker put on the
//! wire (null against empty strings, per-record errors, session ids) where a full client
//! would hide it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// A byte stream a connection runs over: TCP, or TLS over TCP.
pub trait ByteStream: Read + Write + Send {}
impl<T: Read + Write + Send> ByteStream for T {}

pub struct KafkaConnection {
    /// The socket, for its timeouts.
    tcp: TcpStream,
    stream: Box<dyn ByteStream>,
    next_correlation_id: i32,
    client_id: String,
}

impl KafkaConnection {
    /// Connects to `bootstrap` (`host:port`).
    pub fn connect(bootstrap: &str) -> KafkaConnection {
        Self::try_connect(bootstrap).unwrap_or_else(|e| panic!("connect to {bootstrap}: {e}"))
    }

    /// [`Self::connect`] that reports a refused connection (a broker already killed).
    pub fn try_connect(bootstrap: &str) -> std::io::Result<KafkaConnection> {
        let stream = TcpStream::connect(bootstrap)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(KafkaConnection {
            tcp: stream.try_clone()?,
            stream: Box::new(stream),
            next_correlation_id: 1,
            client_id: "rivulet-tests".to_string(),
        })
    }

    /// Connects, naming itself `client_id` in every request header (for quotas).
    pub fn connect_as(bootstrap: &str, client_id: &str) -> KafkaConnection {
        let mut conn = Self::connect(bootstrap);
        conn.client_id = client_id.to_string();
        conn
    }

    /// A connection over `stream` (a TLS session on `tcp`).
    pub fn over(tcp: &TcpStream, stream: impl ByteStream + 'static) -> KafkaConnection {
        tcp.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set the read timeout");
        KafkaConnection {
            tcp: tcp.try_clone().expect("clone the socket"),
            stream: Box::new(stream),
            next_correlation_id: 1,
            client_id: "rivulet-tests".to_string(),
        }
    }

    /// The underlying stream, to write what no request encodes (a bare SASL token).
    pub fn stream(&mut self) -> &mut dyn ByteStream {
        &mut *self.stream
    }

    /// Waits up to `timeout` for each response instead of 60 s: recompressing a bomb takes
    /// a debug build most of a minute on a loaded two-core machine.
    pub fn with_read_timeout(self, timeout: Duration) -> KafkaConnection {
        self.tcp.set_read_timeout(Some(timeout)).expect("set the read timeout");
        self
    }

    /// Sends `request` as version `version` and returns the decoded response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        self.try_call(version, request).expect("request round trip")
    }

    /// [`Self::call`] that reports a broken connection (a broker killed mid-request) instead
    /// of panicking.
    pub fn try_call<R: Request>(&mut self, version: i16, request: &R) -> std::io::Result<R::Response> {
        let correlation_id = self.send(version, request)?;
        self.receive::<R>(version, correlation_id)
    }

    /// Writes `request` without waiting for its response (to pipeline several); returns its
    /// correlation id for [`Self::receive`].
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> std::io::Result<i32> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)?;
        Ok(correlation_id)
    }

    /// Reads the next response, which must be the one to `correlation_id`.
    pub fn receive<R: Request>(&mut self, version: i16, correlation_id: i32) -> std::io::Result<R::Response> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf)?;
        let mut buf = bytes::Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, R::Response::header_version(version)).expect("decode header");
        assert_eq!(header.correlation_id, correlation_id, "correlation id");
        let response = R::Response::decode(&mut buf, version).expect("decode response");
        assert_eq!(buf.remaining(), 0, "trailing bytes after the response");
        Ok(response)
    }
}

/// One uncompressed v2 batch of `(key, value)` records, CreateTime now, no producer id.
pub fn record_batch<'a>(records: impl IntoIterator<Item = (Option<&'a [u8]>, &'a [u8])>) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record,
        RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset minus sequence is constant;
            // the batch's base sequence is the first record's, NO_SEQUENCE.
            sequence: NO_SEQUENCE + i as i32,
            timestamp: now,
            key: k.map(bytes::Bytes::copy_from_slice),
            value: Some(bytes::Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// Asks for `group`'s coordinator until one is ready: Kafka creates `__consumer_offsets` at
/// the first FindCoordinator and answers COORDINATOR_NOT_AVAILABLE while it loads.
pub fn find_coordinator(conn: &mut KafkaConnection, group: &str) {
    use kafka_protocol::messages::FindCoordinatorRequest;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = conn.call(
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]),
        );
        if r.coordinators.first().is_some_and(|c| c.error_code == 0) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no coordinator for {group}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
