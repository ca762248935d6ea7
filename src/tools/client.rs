//! A small blocking Kafka client: connections that negotiate API versions, cluster metadata,
//! and requests routed to a node by id (a partition's leader, a group's coordinator). It
//! speaks only the wire protocol, so it works against any Kafka-protocol broker.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetFetchRequest, RequestHeader, ResponseHeader, metadata_request::MetadataRequestTopic,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};

use super::errors::{self, KafkaError};

/// How long a tool waits for one answer (Kafka's `request.timeout.ms` default).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a tool keeps retrying an operation that fails retriably (Kafka's
/// `default.api.timeout.ms`).
pub const API_TIMEOUT: Duration = Duration::from_secs(60);
/// Kafka's `retry.backoff.ms`.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// FindCoordinator key types.
pub const COORDINATOR_GROUP: i8 = 0;

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Versions above which a request changes shape in a way this client does not speak.
fn version_cap(api_key: i16) -> i16 {
    match api_key {
        // v10 names topics by id only, and Kafka 4.1 does not advertise it yet.
        k if k == OffsetCommitRequest::KEY || k == OffsetFetchRequest::KEY => 9,
        _ => i16::MAX,
    }
}

/// One connection to one broker, with the version ranges it advertised.
pub struct Connection {
    stream: TcpStream,
    pub addr: String,
    next_correlation_id: i32,
    client_id: StrBytes,
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `addr` (`host:port`) and negotiates API versions.
    pub fn open(addr: &str, client_id: &str) -> Result<Connection> {
        let sockets: Vec<_> = addr
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {addr}"))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for s in sockets {
            match TcpStream::connect_timeout(&s, Duration::from_secs(10)) {
                Ok(st) => {
                    stream = Some(st);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(anyhow!("Connection to {addr} could not be established: {e}")),
            (None, None) => bail!("{addr} resolves to no address"),
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        let mut conn = Connection {
            stream,
            addr: addr.to_string(),
            next_correlation_id: 0,
            client_id: sb(client_id),
            versions: HashMap::new(),
        };
        conn.negotiate()?;
        Ok(conn)
    }

    /// ApiVersions at our highest version; a broker that does not know it answers in v0
    /// with UNSUPPORTED_VERSION (KIP-511), and we ask again in v0.
    fn negotiate(&mut self) -> Result<()> {
        let ours = ApiVersionsRequest::VERSIONS.max;
        let request = ApiVersionsRequest::default()
            .with_client_software_name(sb("rivulet-tools"))
            .with_client_software_version(sb(env!("CARGO_PKG_VERSION")));
        // Such an answer in v0 does not decode as our version's; v0 itself every broker
        // knows, and it lists every API's range as well.
        let response: ApiVersionsResponse = match self.call_at(ours, &request) {
            Ok(r) if r.error_code != errors::UNSUPPORTED_VERSION => r,
            _ => self.call_at(0, &request)?,
        };
        KafkaError::check(response.error_code, None).context("ApiVersions")?;
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// The highest version of `R` that both sides support.
    pub fn version<R: Request>(&self) -> Result<i16> {
        let (their_min, their_max) = self
            .versions
            .get(&R::KEY)
            .copied()
            .ok_or_else(|| anyhow!(KafkaError::new(errors::UNSUPPORTED_VERSION, None)))
            .with_context(|| format!("the broker at {} does not support API key {}", self.addr, R::KEY))?;
        let high = their_max.min(R::VERSIONS.max).min(version_cap(R::KEY));
        let low = their_min.max(R::VERSIONS.min);
        if high < low {
            bail!(
                "the broker at {} supports API key {} versions {their_min} to {their_max}, this client {} to {}",
                self.addr,
                R::KEY,
                R::VERSIONS.min,
                R::VERSIONS.max
            );
        }
        Ok(high)
    }

    pub fn supports<R: Request>(&self) -> bool {
        self.version::<R>().is_ok()
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub fn call<R: Request>(&mut self, request: &R) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.call_at(version, request)
    }

    /// [`Self::call`] for a request the broker may hold longer than a normal request
    /// timeout (a JoinGroup waiting for the other members).
    pub fn call_waiting<R: Request>(&mut self, request: &R, timeout: Duration) -> Result<R::Response> {
        self.stream.set_read_timeout(Some(timeout))?;
        let response = self.call(request);
        self.stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        response
    }

    /// Sends `request` at `version` and waits for its response.
    pub fn call_at<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response> {
        let correlation_id = self.send(version, request)?;
        self.receive::<R>(version, correlation_id)
    }

    /// Sends `request` without waiting (a produce with acks=0 gets no response).
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> Result<i32> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut body = BytesMut::with_capacity(64);
        body.extend_from_slice(&[0; 4]);
        header.encode(&mut body, R::header_version(version))?;
        request.encode(&mut body, version)?;
        let len = (body.len() - 4) as i32;
        body[..4].copy_from_slice(&len.to_be_bytes());
        self.stream
            .write_all(&body)
            .with_context(|| format!("sending to {}", self.addr))?;
        Ok(correlation_id)
    }

    fn receive<R: Request>(&mut self, version: i16, correlation_id: i32) -> Result<R::Response> {
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .with_context(|| format!("the broker at {} disconnected", self.addr))?;
        let len = i32::from_be_bytes(len);
        if !(0..=256 << 20).contains(&len) {
            bail!("the broker at {} sent a frame of {len} bytes", self.addr);
        }
        let mut buf = vec![0u8; len as usize];
        self.stream
            .read_exact(&mut buf)
            .with_context(|| format!("the broker at {} disconnected", self.addr))?;
        let mut buf = bytes::Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, R::Response::header_version(version))?;
        if header.correlation_id != correlation_id {
            bail!(
                "the broker at {} answered correlation id {} to request {correlation_id}",
                self.addr,
                header.correlation_id
            );
        }
        let response = R::Response::decode(&mut buf, version)?;
        if buf.has_remaining() {
            bail!(
                "the broker at {} sent {} bytes after a response",
                self.addr,
                buf.remaining()
            );
        }
        Ok(response)
    }
}

/// A broker as Metadata describes it.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl Node {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Connections to a cluster, opened as they are needed.
pub struct Client {
    pub client_id: String,
    bootstrap: Connection,
    pub nodes: BTreeMap<i32, Node>,
    conns: HashMap<i32, Connection>,
    pub cluster_id: Option<String>,
    pub controller_id: i32,
}

impl Client {
    /// Connects to the first reachable address of `bootstrap` (comma-separated `host:port`s)
    /// and learns the cluster's nodes.
    pub fn connect(bootstrap: &str, client_id: &str) -> Result<Client> {
        let mut last = anyhow!("no bootstrap server given");
        for addr in bootstrap.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Connection::open(addr, client_id) {
                Ok(conn) => {
                    let mut client = Client {
                        client_id: client_id.to_string(),
                        bootstrap: conn,
                        nodes: BTreeMap::new(),
                        conns: HashMap::new(),
                        cluster_id: None,
                        controller_id: -1,
                    };
                    client.metadata(Some(&[]))?;
                    return Ok(client);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The bootstrap connection: for requests any node can answer.
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// A connection to node `id`, opened on first use.
    pub fn node(&mut self, id: i32) -> Result<&mut Connection> {
        if !self.conns.contains_key(&id) {
            let node = self
                .nodes
                .get(&id)
                .ok_or_else(|| anyhow!("node {id} is not in the cluster metadata"))?;
            let conn = Connection::open(&node.addr(), &self.client_id)?;
            self.conns.insert(id, conn);
        }
        Ok(self.conns.get_mut(&id).expect("inserted above"))
    }

    /// Drops the connection to node `id` (after it failed), so the next use reconnects.
    pub fn forget(&mut self, id: i32) {
        self.conns.remove(&id);
    }

    /// Metadata for `topics` (`None`: every topic; an empty slice: none, only the
    /// brokers), never creating topics. Updates the known nodes.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse> {
        self.metadata_creating(topics, false)
    }

    /// [`Self::metadata`] that, with `create`, lets a broker that creates topics on first
    /// use create missing ones, as the Java producer and consumer do by default.
    pub fn metadata_creating(&mut self, topics: Option<&[String]>, create: bool) -> Result<MetadataResponse> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(sb(n).into())))
                    .collect()
            }))
            .with_allow_auto_topic_creation(create);
        let conn = &mut self.bootstrap;
        let version = conn.version::<MetadataRequest>()?;
        // v0 has no way to ask for no topics: an empty list means all of them.
        if version == 0 && topics.is_some_and(<[String]>::is_empty) {
            bail!("the broker at {} only supports Metadata v0", conn.addr);
        }
        let response = conn.call_at(version, &request)?;
        self.nodes = response
            .brokers
            .iter()
            .map(|b| {
                let node = Node {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                };
                (node.id, node)
            })
            .collect();
        self.cluster_id = response.cluster_id.as_ref().map(|c| c.to_string());
        self.controller_id = response.controller_id.0;
        Ok(response)
    }

    /// The node coordinating `key` (a group id for COORDINATOR_GROUP), retrying while the
    /// coordinator is loading or not yet elected.
    pub fn coordinator(&mut self, key: &str, key_type: i8) -> Result<i32> {
        let deadline = Instant::now() + API_TIMEOUT;
        loop {
            let conn = &mut self.bootstrap;
            let version = conn.version::<FindCoordinatorRequest>()?;
            // v4 batches keys in a list; the single key field is gone.
            let request = if version >= 4 {
                FindCoordinatorRequest::default().with_coordinator_keys(vec![sb(key)])
            } else {
                FindCoordinatorRequest::default().with_key(sb(key))
            }
            .with_key_type(key_type);
            let response = conn.call_at(version, &request)?;
            let (code, message, node) = match response.coordinators.first() {
                Some(c) if version >= 4 => (c.error_code, c.error_message.clone(), c.node_id.0),
                _ => (response.error_code, response.error_message.clone(), response.node_id.0),
            };
            let error = KafkaError::new(code, message.as_deref());
            if code == 0 {
                if !self.nodes.contains_key(&node) {
                    self.metadata(Some(&[]))?;
                }
                return Ok(node);
            }
            if !error.is_retriable() || Instant::now() >= deadline {
                return Err(error.into());
            }
            std::thread::sleep(RETRY_BACKOFF);
        }
    }

    /// A connection to the coordinator of group `group`.
    pub fn group_coordinator(&mut self, group: &str) -> Result<&mut Connection> {
        let id = self.coordinator(group, COORDINATOR_GROUP)?;
        self.node(id)
    }
}

/// Topics and partitions with their leaders, from one Metadata response.
#[derive(Debug, Default, Clone)]
pub struct TopicLayout {
    /// Topic name to (topic id, leader node by partition index; -1 without a leader).
    pub topics: BTreeMap<String, (uuid::Uuid, Vec<i32>)>,
    /// Topics the broker answered with an error, and the error.
    pub errors: BTreeMap<String, KafkaError>,
}

impl TopicLayout {
    pub fn from_metadata(response: &MetadataResponse) -> TopicLayout {
        let mut layout = TopicLayout::default();
        for t in &response.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if t.error_code != 0 {
                layout.errors.insert(name, KafkaError::new(t.error_code, None));
                continue;
            }
            let mut partitions: Vec<_> = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.leader_id.0))
                .collect();
            partitions.sort();
            let leaders = partitions.into_iter().map(|(_, leader)| leader).collect();
            layout.topics.insert(name, (t.topic_id, leaders));
        }
        layout
    }

    pub fn partitions(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, |t| t.1.len())
    }

    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.topics
            .get(topic)
            .and_then(|t| t.1.get(usize::try_from(partition).ok()?).copied())
            .filter(|l| *l >= 0)
    }
}

/// Metadata for `topics`, retried while a topic has no leader yet (one just created).
pub fn layout(client: &mut Client, topics: &[String]) -> Result<TopicLayout> {
    layout_of(client, topics, false)
}

/// [`layout`], creating missing topics where the broker creates them on first use.
pub fn layout_creating(client: &mut Client, topics: &[String]) -> Result<TopicLayout> {
    layout_of(client, topics, true)
}

fn layout_of(client: &mut Client, topics: &[String], create: bool) -> Result<TopicLayout> {
    let deadline = Instant::now() + API_TIMEOUT;
    loop {
        let layout = TopicLayout::from_metadata(&client.metadata_creating(Some(topics), create)?);
        let leaderless = layout
            .topics
            .values()
            .any(|(_, leaders)| leaders.iter().any(|l| *l < 0))
            || layout.errors.values().any(|e| e.code == errors::LEADER_NOT_AVAILABLE)
            // A topic being created on first use may be unknown for a moment yet.
            || (create && layout.errors.values().any(|e| e.code == errors::UNKNOWN_TOPIC_OR_PARTITION));
        if !leaderless || Instant::now() >= deadline {
            return Ok(layout);
        }
        std::thread::sleep(RETRY_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    /// An ApiVersions v0 answer: error code, then (key, min, max) per API.
    fn v0_answer(correlation_id: i32, error: i16, keys: &[(i16, i16, i16)]) -> Vec<u8> {
        let mut body = BytesMut::new();
        body.put_i32(correlation_id);
        body.put_i16(error);
        body.put_i32(keys.len() as i32);
        for (k, min, max) in keys {
            body.put_i16(*k);
            body.put_i16(*min);
            body.put_i16(*max);
        }
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn an_older_broker_answering_in_v0_is_asked_again_in_v0() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let keys = [(ApiVersionsRequest::KEY, 0, 2), (MetadataRequest::KEY, 0, 9)];
        let broker = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut versions = Vec::new();
            for error in [errors::UNSUPPORTED_VERSION, 0] {
                let mut len = [0u8; 4];
                s.read_exact(&mut len).unwrap();
                let mut req = vec![0u8; i32::from_be_bytes(len) as usize];
                s.read_exact(&mut req).unwrap();
                versions.push(i16::from_be_bytes([req[2], req[3]]));
                let correlation_id = i32::from_be_bytes([req[4], req[5], req[6], req[7]]);
                s.write_all(&v0_answer(correlation_id, error, &keys)).unwrap();
            }
            versions
        });
        let conn = Connection::open(&addr, "test").unwrap();
        assert_eq!(conn.version::<MetadataRequest>().unwrap(), 9);
        assert!(
            conn.version::<FindCoordinatorRequest>().is_err(),
            "an API the broker lacks"
        );
        assert_eq!(broker.join().unwrap(), vec![ApiVersionsRequest::VERSIONS.max, 0]);
    }
}
