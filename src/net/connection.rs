//! One client connection: length-prefixed framing, the request header, and replies written
//! in request order.
//!
//! Requests are read ahead and their synchronous part (decode, append, state changes) runs in
//! arrival order on this task, so a pipelined client sees Kafka's per-connection ordering.
//! Work that waits (an fsync for acks=all, a fetch long-poll) runs as its own task; the
//! writer awaits those in request order, so one slow request never reorders replies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::buffer_pool::BufferPool;
use super::memory_pool::{MemoryPool, PoolLease};
use super::reply_writer::{ReplyWriter, write_parts};
use crate::api::records_send::ResponsePart;
use crate::api::{ApiHandler, Caller, Reply, RequestError, ResponseBody};
use crate::metrics;
use crate::quota::ChannelMute;
use crate::security::sasl_authenticator::{Authenticated, Reauthentication, SaslFailure};
use crate::security::{KafkaPrincipal, ListenerSecurity, SaslServerAuthenticator, x500};

/// Replies awaiting their turn on one connection before reading stops for back-pressure.
const MAX_IN_FLIGHT: usize = 64;
/// Request bytes one connection may hold from reading a request to writing its reply: a
/// client pipelining large produce requests waits for its earlier answers instead of
/// growing the broker's memory by up to MAX_IN_FLIGHT requests.
const MAX_IN_FLIGHT_BYTES: usize = 16 << 20;

/// A reply slot in request order.
enum Outgoing {
    Ready(ResponseFrame),
    Pending(JoinHandle<Option<ResponseFrame>>),
    /// Whole frames written by the SASL authenticator during a re-authentication.
    Framed(Bytes),
}

/// Header fields the writer needs to frame a reply, and what its request's latency is
/// measured from.
struct ResponseFrame {
    correlation_id: i32,
    header_version: i16,
    body: ResponseBody,
    api_key: i16,
    received: Instant,
}

pub struct ConnectionLimits {
    pub max_request_bytes: usize,
    pub idle_timeout: Duration,
    /// Shared by every connection: bytes of requests read but not yet handled.
    pub memory_pool: MemoryPool,
    /// Shared by every connection: large request buffers kept for the next large request.
    pub buffers: Arc<BufferPool>,
}

/// How much of a frame is read into memory at a time: a frame's buffer grows with the bytes
/// that arrived, never with the size its length prefix claims. (Reads that doubled up to
/// 1 MiB took a third of the recv calls of a 1 MiB produce for no measurable CPU, and left
/// buffers of twice the frame's size that raised the broker's memory by 14-23 MB.)
const READ_CHUNK: usize = 64 * 1024;

/// Who is on the other end of a connection, once it has authenticated: what a future
/// authorizer will check requests against.
#[derive(Clone, Debug)]
pub struct Session {
    pub principal: KafkaPrincipal,
    pub peer: SocketAddr,
    /// The listener's index in `listeners`.
    pub listener: usize,
}

/// Takes a new connection through its listener's security: a TLS handshake on SSL and
/// SASL_SSL listeners (bounded by `connections.max.idle.ms`), then [`serve`].
pub async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    listener: usize,
    security: Arc<ListenerSecurity>,
    api: Arc<ApiHandler>,
    limits: Arc<ConnectionLimits>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(ssl) = &security.ssl else {
        let (reader, writer) = stream.into_split();
        let session = Session {
            principal: KafkaPrincipal::anonymous(),
            peer,
            listener,
        };
        return serve(reader, writer, session, &security, api, limits, shutdown).await;
    };
    let tls = match tokio::time::timeout(limits.idle_timeout, ssl.acceptor().accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, listener = %security.name, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, listener = %security.name, "TLS handshake not finished within connections.max.idle.ms");
            return;
        }
    };
    // An SSL client is named by its certificate's subject through ssl.principal.mapping.rules;
    // one without a certificate is anonymous, and one whose subject no rule maps is refused,
    // as Kafka fails its authentication.
    let subject = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| x500::subject_name(cert));
    let principal = match (subject, &security.principal_mapper) {
        (Some(subject), Some(mapper)) => match mapper.name(&subject) {
            Ok(name) => KafkaPrincipal::user(name),
            Err(why) => {
                tracing::info!(%peer, listener = %security.name, reason = %why, "closing connection: no principal for the client certificate");
                return;
            }
        },
        _ => KafkaPrincipal::anonymous(),
    };
    let (reader, writer) = tokio::io::split(tls);
    let session = Session {
        principal,
        peer,
        listener,
    };
    serve(reader, writer, session, &security, api, limits, shutdown).await
}

/// Serves one connection until the client closes it, it misbehaves, or shutdown begins; in
/// the last case the replies already owed are still written. On a SASL listener the client
/// authenticates first, and nothing else is served until it has.
async fn serve<R, W>(
    mut reader: R,
    mut writer: W,
    mut session: Session,
    security: &ListenerSecurity,
    api: Arc<ApiHandler>,
    limits: Arc<ConnectionLimits>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: ReplyWriter,
{
    let (peer, listener) = (session.peer, session.listener);
    let authenticator = security.sasl.as_ref().map(|sasl| SaslServerAuthenticator {
        config: sasl,
        api: &api,
        peer,
        listener,
        idle_timeout: limits.idle_timeout,
    });
    // The SASL session, and a re-authentication of it in progress.
    let mut sasl_session: Option<Authenticated> = None;
    let mut reauth: Option<Reauthentication> = None;
    let mut last_reauth: Option<Instant> = None;
    if let Some(authenticator) = &authenticator {
        let outcome = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            outcome = authenticator.authenticate(&mut reader, &mut writer) => outcome,
        };
        match outcome {
            Ok(authenticated) => {
                session.principal = authenticated.principal.clone();
                sasl_session = Some(authenticated);
            }
            Err(SaslFailure::Closed) => return,
            Err(SaslFailure::Failed(why)) => {
                tracing::info!(%peer, listener = %security.name, reason = %why, "closing connection: authentication failed");
                let _ = writer.shutdown().await;
                return;
            }
        }
    }
    tracing::debug!(%peer, principal = %session.principal, "connection authenticated");
    let caller = Caller {
        principal: session.principal.clone(),
        mute: Arc::new(ChannelMute::default()),
    };
    let (tx, rx) = mpsc::channel::<(Outgoing, Option<OwnedSemaphorePermit>)>(MAX_IN_FLIGHT);
    let in_flight_bytes = Arc::new(Semaphore::new(MAX_IN_FLIGHT_BYTES));
    let writer_task = tokio::spawn(write_replies(writer, rx, peer));
    loop {
        // A client over its quota waits out its throttle time before its next request is
        // read (KIP-219), which holds back a client that ignores the throttle time too.
        if !wait_out_mute(&caller.mute, &mut shutdown).await {
            break;
        }
        let frame = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            frame = tokio::time::timeout(limits.idle_timeout, read_frame(&mut reader, &limits)) => frame,
        };
        let frame = match frame {
            Err(_) => {
                tracing::debug!(%peer, "closing idle connection");
                break;
            }
            Ok(Ok(Some((frame, lease)))) => (frame, lease),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        let (frame, lease) = frame;
        // A throttle decided while this request was being read (a fetch answered after its
        // long poll) holds the request too: Kafka reads nothing from a connection between
        // sending a throttled response and the end of its throttle.
        if !wait_out_mute(&caller.mute, &mut shutdown).await {
            break;
        }
        let received = Instant::now();
        // KIP-368: a SaslHandshake on an authenticated SASL connection begins a
        // re-authentication, whose frames go to the authenticator until it completes; any
        // other request after the session expired closes the connection.
        if let (Some(authenticator), Some(current)) = (&authenticator, &sasl_session) {
            // As Kafka: only a session that ends may be renewed, and not twice within a
            // second; otherwise the handshake is an ordinary request (ILLEGAL_SASL_STATE).
            let begins = reauth.is_none()
                && current.expires.is_some()
                && last_reauth.is_none_or(|at: Instant| received.duration_since(at) >= Duration::from_secs(1))
                && frame.get(..2) == Some(&(ApiKey::SaslHandshake as i16).to_be_bytes()[..]);
            if begins {
                last_reauth = Some(received);
            }
            if reauth.is_none() && !begins && current.expired(received) {
                tracing::info!(%peer, principal = %session.principal, "closing connection: its SASL session expired (connections.max.reauth.ms) without re-authentication");
                break;
            }
            if reauth.is_some() || begins {
                let state = reauth.get_or_insert_with(|| Reauthentication::new(current.clone()));
                let mut out = Vec::new();
                let step = authenticator.reauthenticate_frame(state, frame, &mut out).await;
                drop(lease);
                if !out.is_empty() && tx.send((Outgoing::Framed(Bytes::from(out)), None)).await.is_err() {
                    break;
                }
                match step {
                    Ok(Some(renewed)) => {
                        tracing::debug!(%peer, principal = %renewed.principal, "connection re-authenticated");
                        sasl_session = Some(renewed);
                        reauth = None;
                    }
                    Ok(None) => {}
                    Err(SaslFailure::Closed) => break,
                    Err(SaslFailure::Failed(why)) => {
                        tracing::info!(%peer, listener = %security.name, reason = %why, "closing connection: re-authentication failed");
                        break;
                    }
                }
                continue;
            }
        }
        let held = in_flight_bytes
            .clone()
            .acquire_many_owned(frame.len().min(MAX_IN_FLIGHT_BYTES) as u32)
            .await
            .ok();
        let handled = handle_frame(&api, frame, peer, listener, received, &caller);
        // The request has been decoded and applied: its bytes go back to the pool.
        drop(lease);
        match handled {
            Ok(Some(out)) => {
                if tx.send((out, held)).await.is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: malformed request");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer_task.await;
    // Share sessions live as long as their connection (KIP-932).
    api.share.connection_closed(peer);
}

/// Reads one size-prefixed frame as its bytes arrive, holding its size from the memory pool;
/// `Ok(None)` on a clean end of stream.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    limits: &ConnectionLimits,
) -> Result<Option<(Bytes, PoolLease)>, String> {
    let max_request_bytes = limits.max_request_bytes;
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        // A client that went away between requests (killed, or its host reset the
        // connection) closes the connection like an orderly end: nothing was malformed.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            tracing::debug!(error = %e, "client connection reset between requests");
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    }
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > max_request_bytes {
        return Err(format!(
            "frame of {size} bytes is larger than socket.request.max.bytes ({max_request_bytes}) or negative"
        ));
    }
    // Smallest header: api key, version, correlation id, null client id.
    if size < 10 {
        return Err(format!("frame of {size} bytes is too short for a request header"));
    }
    let size = size as usize;
    let mut lease = PoolLease::default();
    let mut buf = limits.buffers.take(size);
    while buf.len() < size {
        let want = (size - buf.len()).min(READ_CHUNK);
        // What this read may bring counts before it is read; a short read leaves the rest
        // held for the next.
        limits.memory_pool.grow_to(&mut lease, buf.len() + want).await;
        buf.reserve(want);
        let n = reader
            .read_buf(&mut (&mut buf).limit(want))
            .await
            .map_err(|e| format!("connection failed inside a {size}-byte frame: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection ended inside a {size}-byte frame after {} bytes",
                buf.len()
            ));
        }
    }
    Ok(Some((limits.buffers.freeze(buf), lease)))
}

/// Waits until a muted connection's throttle has passed; false when the broker shuts down
/// first.
async fn wait_out_mute(mute: &ChannelMute, shutdown: &mut watch::Receiver<bool>) -> bool {
    let Some(until) = mute.take() else {
        return true;
    };
    tokio::select! {
        biased;
        _ = shutdown.changed() => false,
        _ = tokio::time::sleep_until(until.into()) => true,
    }
}

/// Decodes the header and dispatches; `Ok(None)` when no reply is owed (acks=0).
fn handle_frame(
    api: &Arc<ApiHandler>,
    mut frame: Bytes,
    peer: SocketAddr,
    listener: usize,
    received: Instant,
    caller: &Caller,
) -> Result<Option<Outgoing>, RequestError> {
    // Every header version starts with api key, api version and correlation id.
    let Some(&[k0, k1, v0, v1, c0, c1, c2, c3]) = frame.get(..8) else {
        return Err(RequestError::Malformed(format!(
            "frame of {} bytes has no request header",
            frame.len()
        )));
    };
    let api_key_raw = i16::from_be_bytes([k0, k1]);
    let api_version = i16::from_be_bytes([v0, v1]);
    let api_key =
        ApiKey::try_from(api_key_raw).map_err(|_| RequestError::Malformed(format!("unknown api key {api_key_raw}")))?;
    let raw_correlation_id = i32::from_be_bytes([c0, c1, c2, c3]);
    let request_metrics = metrics::registry().request(api_key_raw);
    if let Some(m) = request_metrics {
        m.requests.inc();
    }
    let header_version = api_key.request_header_version(api_version);
    let header = match RequestHeader::decode(&mut frame, header_version) {
        Ok(h) => h,
        // KIP-511: an ApiVersions request of a version unknown here may use a header layout
        // unknown here too; the correlation id sits at a fixed place, and that is enough to
        // answer with the supported ranges.
        Err(_) if api_key == ApiKey::ApiVersions => RequestHeader::default()
            .with_request_api_key(api_key_raw)
            .with_request_api_version(api_version)
            .with_correlation_id(raw_correlation_id),
        Err(e) => return Err(RequestError::Malformed(format!("bad request header: {e}"))),
    };
    let correlation_id = header.correlation_id;
    let reply = api.handle(api_key, &header, frame, peer, listener, caller)?;
    let response_version = reply.response_version(api_version);
    let header_version = api_key.response_header_version(response_version);
    let framed = move |header_version, body| ResponseFrame {
        correlation_id,
        header_version,
        body,
        api_key: api_key_raw,
        received,
    };
    Ok(match reply {
        Reply::Ready(body) => Some(Outgoing::Ready(framed(header_version, body.into()))),
        Reply::Deferred(fut) => Some(Outgoing::Pending(tokio::spawn(async move {
            Some(framed(header_version, fut.await?))
        }))),
        Reply::UnsupportedApiVersions(body) => Some(Outgoing::Ready(framed(0, body.into()))),
        // acks=0: done once handled, as nothing is written back.
        Reply::None => {
            if let Some(m) = request_metrics {
                m.total_time.observe(received.elapsed());
            }
            None
        }
    })
}

/// Parts of replies shorter than this are copied into the staging buffer (headers, most
/// responses); longer ones (a fetch response's record sets) are written from where they are.
const COPY_BELOW: usize = 16 * 1024;
/// Replies gathered past this many bytes are written even if more are already due, so a
/// fast pipelining client cannot make the writer hold much.
const GATHER_MAX: usize = 4 << 20;

async fn write_replies<W: ReplyWriter>(
    mut writer: W,
    mut rx: mpsc::Receiver<(Outgoing, Option<OwnedSemaphorePermit>)>,
    peer: SocketAddr,
) {
    // Replies that are due are gathered and written with one vectored write.
    let mut staging = BytesMut::with_capacity(64 * 1024);
    let mut parts: Vec<ResponsePart> = Vec::new();
    let mut gathered = 0usize;
    // Permits of replies gathered but not yet written: released once they are.
    let mut held: Vec<OwnedSemaphorePermit> = Vec::new();
    while let Some((out, permit)) = rx.recv().await {
        // What is gathered goes out before waiting on a reply that is not ready (a fetch
        // long-poll): a produce answer must not wait for the fetch pipelined behind it.
        if let Outgoing::Pending(handle) = &out
            && !handle.is_finished()
            && (!parts.is_empty() || !staging.is_empty())
        {
            if write_gathered(&mut writer, &mut staging, &mut parts).await.is_err() {
                return;
            }
            gathered = 0;
            held.clear();
        }
        held.extend(permit);
        let frame = match out {
            Outgoing::Framed(bytes) => {
                staging.extend_from_slice(&bytes);
                if write_gathered(&mut writer, &mut staging, &mut parts).await.is_err() {
                    return;
                }
                gathered = 0;
                held.clear();
                continue;
            }
            Outgoing::Ready(f) => f,
            Outgoing::Pending(handle) => match handle.await {
                Ok(Some(f)) => f,
                // A reply that could not be encoded cannot be skipped: the client matches
                // replies to requests by order, so the connection must close.
                Ok(None) => {
                    tracing::error!(%peer, "a reply could not be produced; closing connection");
                    return;
                }
                Err(e) => {
                    tracing::error!(%peer, error = %e, "request task failed; closing connection");
                    return;
                }
            },
        };
        let start = staging.len();
        let header = ResponseHeader::default().with_correlation_id(frame.correlation_id);
        staging.put_i32(0);
        if let Err(e) = header.encode(&mut staging, frame.header_version) {
            tracing::error!(%peer, error = %e, "cannot encode response header; closing connection");
            return;
        }
        let body_len = frame.body.len();
        let size = (staging.len() - start - 4 + body_len) as i32;
        staging[start..start + 4].copy_from_slice(&size.to_be_bytes());
        gathered += staging.len() - start + body_len;
        for part in frame.body.into_parts() {
            match part {
                ResponsePart::Bytes(chunk) if chunk.len() < COPY_BELOW => staging.extend_from_slice(&chunk),
                part => {
                    if !staging.is_empty() {
                        parts.push(ResponsePart::Bytes(staging.split().freeze()));
                    }
                    parts.push(part);
                }
            }
        }
        if let Some(m) = metrics::registry().request(frame.api_key) {
            m.total_time.observe(frame.received.elapsed());
        }
        if rx.is_empty() || gathered >= GATHER_MAX {
            if write_gathered(&mut writer, &mut staging, &mut parts).await.is_err() {
                return;
            }
            gathered = 0;
            held.clear();
            if staging.capacity() > 1 << 20 {
                // An unusually large reply was staged: do not keep its memory.
                staging = BytesMut::with_capacity(64 * 1024);
            }
        }
    }
    let _ = write_gathered(&mut writer, &mut staging, &mut parts).await;
    let _ = writer.shutdown().await;
}

/// Writes the gathered parts and what is staged after them, leaving both empty.
async fn write_gathered<W: ReplyWriter>(
    writer: &mut W,
    staging: &mut BytesMut,
    parts: &mut Vec<ResponsePart>,
) -> std::io::Result<()> {
    if !staging.is_empty() {
        parts.push(ResponsePart::Bytes(staging.split().freeze()));
    }
    let result = write_parts(writer, parts).await;
    parts.clear();
    result
}
