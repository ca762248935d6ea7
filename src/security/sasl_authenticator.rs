//! The SASL exchange that opens every connection of a SASL_PLAINTEXT or SASL_SSL listener,
//! as Kafka's `SaslServerAuthenticator` runs it: an optional ApiVersions, a SaslHandshake
//! naming the mechanism, then the mechanism's tokens (inside SaslAuthenticate requests after
//! a v1 handshake, as bare size-prefixed frames after a v0 one). Until it succeeds nothing
//! else is served, and frames are capped at `sasl.server.max.receive.size` so an
//! unauthenticated client cannot make the broker hold more than that.
//!
//! Failures close the connection as Kafka does: an unsupported mechanism is answered with
//! UNSUPPORTED_SASL_MECHANISM, bad credentials with SASL_AUTHENTICATION_FAILED, each after
//! `connection.failed.authentication.delay.ms`; any other request closes it unanswered.
//!
//! With `connections.max.reauth.ms`, a session lasts that long (KIP-368): the client is told
//! so in the SaslAuthenticate answer and re-authenticates on the open connection with the
//! same mechanism and principal ([`Reauthentication`]); the connection closes at its next
//! request after the session expired otherwise.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::oauthbearer::OAuthBearerSaslServer;
use super::sasl::{PlainSaslServer, SaslError, SaslServer, SaslStep};
use super::scram::{ScramMechanism, ScramSaslServer};
use super::{KafkaPrincipal, SaslListenerConfig};
use crate::api::{ApiHandler, Caller, Reply, errors};

/// Leaves `authenticate` with the session once a step completes the exchange.
macro_rules! return_on_done {
    ($this:ident, $server:expr, $step:expr, $mechanism:expr) => {
        if let Some(principal) = $step? {
            let lifetime = $this.lifetime($server);
            return Ok($this.session(principal, $mechanism, lifetime));
        }
    };
}

/// A completed authentication: who, how, and until when.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: KafkaPrincipal,
    pub mechanism: String,
    /// When the session ends (`connections.max.reauth.ms` after it began), if it does.
    pub expires: Option<Instant>,
}

impl Authenticated {
    pub fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|at| now >= at)
    }
}

/// A re-authentication in progress on an authenticated connection (KIP-368).
pub struct Reauthentication {
    previous: Authenticated,
    state: ReauthState,
}

enum ReauthState {
    Handshake,
    Authenticate(Box<dyn SaslServer>),
    /// The client asked for another mechanism: refused at its next frame, as Kafka does.
    BadMechanism(String),
}

impl Reauthentication {
    pub fn new(previous: Authenticated) -> Reauthentication {
        Reauthentication {
            previous,
            state: ReauthState::Handshake,
        }
    }
}

pub const SASL_HANDSHAKE_VERSIONS: (i16, i16) = (0, 1);
pub const SASL_AUTHENTICATE_VERSIONS: (i16, i16) = (0, 2);

/// Where the exchange stands, in Kafka's terms.
enum SaslState {
    /// ApiVersions or SaslHandshake may come.
    HandshakeOrVersions,
    /// ApiVersions was answered; SaslHandshake must come.
    Handshake,
    /// Tokens for `server`; `framed` when they come inside SaslAuthenticate requests.
    Authenticate { server: Box<dyn SaslServer>, framed: bool },
}

pub struct SaslServerAuthenticator<'a> {
    pub config: &'a SaslListenerConfig,
    pub api: &'a Arc<ApiHandler>,
    pub peer: SocketAddr,
    pub listener: usize,
    /// Each read waits at most this long (`connections.max.idle.ms`).
    pub idle_timeout: Duration,
}

/// Why the exchange ended without a principal.
#[derive(Debug)]
pub enum SaslFailure {
    /// The client closed the connection.
    Closed,
    /// The client failed to authenticate; it was told so when Kafka tells it.
    Failed(String),
}

impl SaslServerAuthenticator<'_> {
    /// Runs the exchange; the session on success. Either way nothing of the exchange is
    /// left unread or unwritten, so the connection can go on with ordinary requests.
    pub async fn authenticate<R, W>(&self, reader: &mut R, writer: &mut W) -> Result<Authenticated, SaslFailure>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut state = SaslState::HandshakeOrVersions;
        let mut mechanism = String::new();
        loop {
            let frame = match tokio::time::timeout(self.idle_timeout, self.read_frame(reader)).await {
                Err(_) => return Err(SaslFailure::Failed("idle during authentication".into())),
                Ok(Ok(Some(frame))) => frame,
                Ok(Ok(None)) => return Err(SaslFailure::Closed),
                Ok(Err(e)) => return Err(SaslFailure::Failed(e)),
            };
            if let SaslState::Authenticate { server, framed: false } = &mut state {
                // After a v0 handshake the frames are the mechanism's bare tokens.
                return_on_done!(
                    self,
                    server.as_ref(),
                    self.raw_token(server.as_mut(), &frame, writer).await,
                    &mechanism
                );
                continue;
            }
            let mut body = Bytes::from(frame);
            let Some(&[k0, k1, v0, v1]) = body.get(..4) else {
                return Err(SaslFailure::Failed("frame too short for a request header".into()));
            };
            let api_key = i16::from_be_bytes([k0, k1]);
            let version = i16::from_be_bytes([v0, v1]);
            let Ok(api) = ApiKey::try_from(api_key) else {
                // Kafka would take this for a pre-handshake GSSAPI token, which is not offered.
                return Err(SaslFailure::Failed(format!(
                    "unknown api key {api_key} before authentication"
                )));
            };
            let header = match RequestHeader::decode(&mut body, api.request_header_version(version)) {
                Ok(h) => h,
                Err(e) if api == ApiKey::ApiVersions => {
                    return Err(SaslFailure::Failed(format!("bad ApiVersions header: {e}")));
                }
                Err(e) => return Err(SaslFailure::Failed(format!("bad request header: {e}"))),
            };
            state = match (state, api) {
                (SaslState::HandshakeOrVersions, ApiKey::ApiVersions) => {
                    let reply = self
                        .api
                        .handle(api, &header, body, self.peer, self.listener, &Caller::anonymous())
                        .map_err(|e| SaslFailure::Failed(e.to_string()))?;
                    // An ApiVersions of a version unknown here is answered in v0, and the
                    // client may ask again.
                    let (bytes, header_version, next) = match reply {
                        Reply::Ready(b) => (b, api.response_header_version(version), SaslState::Handshake),
                        Reply::UnsupportedApiVersions(b) => (b, 0, SaslState::HandshakeOrVersions),
                        _ => return Err(SaslFailure::Failed("ApiVersions gave no reply".into())),
                    };
                    write_response(writer, header.correlation_id, header_version, &bytes).await?;
                    next
                }
                (SaslState::HandshakeOrVersions | SaslState::Handshake, ApiKey::SaslHandshake) => {
                    let (next, requested) = self.handshake(&header, body, writer).await?;
                    mechanism = requested;
                    next
                }
                (
                    SaslState::Authenticate {
                        mut server,
                        framed: true,
                    },
                    ApiKey::SaslAuthenticate,
                ) => {
                    return_on_done!(
                        self,
                        server.as_ref(),
                        self.authenticate_request(server.as_mut(), &header, body, writer, None)
                            .await,
                        &mechanism
                    );
                    SaslState::Authenticate { server, framed: true }
                }
                (_, other) => {
                    return Err(SaslFailure::Failed(format!(
                        "Unexpected Kafka request of type {other:?} during SASL authentication"
                    )));
                }
            };
        }
    }

    /// Reads one size-prefixed frame no larger than `sasl.server.max.receive.size`, its
    /// buffer growing with the bytes that arrive rather than with the size claimed.
    async fn read_frame<R: AsyncRead + Unpin>(&self, reader: &mut R) -> Result<Option<Vec<u8>>, String> {
        let mut size = [0u8; 4];
        match reader.read_exact(&mut size).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
        let size = i32::from_be_bytes(size);
        if size < 0 || size as usize > self.config.max_receive_size {
            return Err(format!(
                "Failing SASL authentication due to invalid receive size {size} (sasl.server.max.receive.size is {})",
                self.config.max_receive_size
            ));
        }
        let mut frame = Vec::new();
        (&mut *reader)
            .take(size as u64)
            .read_to_end(&mut frame)
            .await
            .map_err(|e| e.to_string())?;
        if frame.len() != size as usize {
            return Err("connection ended inside a frame".into());
        }
        Ok(Some(frame))
    }

    /// Answers a SaslHandshake; the next state and the mechanism asked for.
    async fn handshake<W: AsyncWrite + Unpin>(
        &self,
        header: &RequestHeader,
        mut body: Bytes,
        writer: &mut W,
    ) -> Result<(SaslState, String), SaslFailure> {
        let version = header.request_api_version;
        let (lo, hi) = SASL_HANDSHAKE_VERSIONS;
        if !(lo..=hi).contains(&version) {
            return Err(SaslFailure::Failed(format!(
                "SaslHandshake v{version} is not supported"
            )));
        }
        let request = SaslHandshakeRequest::decode(&mut body, version)
            .map_err(|e| SaslFailure::Failed(format!("bad SaslHandshake: {e}")))?;
        let mechanism = request.mechanism.to_string();
        let server = self.new_server(&mechanism);
        let response = SaslHandshakeResponse::default()
            .with_error_code(if server.is_some() {
                errors::NONE
            } else {
                errors::UNSUPPORTED_SASL_MECHANISM
            })
            .with_mechanisms(
                self.config
                    .enabled_mechanisms
                    .iter()
                    .map(|m| StrBytes::from_string(m.clone()))
                    .collect(),
            );
        let bytes = encode(&response, version)?;
        write_response(
            writer,
            header.correlation_id,
            ApiKey::SaslHandshake.response_header_version(version),
            &bytes,
        )
        .await?;
        match server {
            Some(server) => Ok((
                SaslState::Authenticate {
                    server,
                    framed: version >= 1,
                },
                mechanism,
            )),
            None => {
                tokio::time::sleep(self.config.failed_authentication_delay).await;
                Err(SaslFailure::Failed(format!("Unsupported SASL mechanism {mechanism}")))
            }
        }
    }

    fn new_server(&self, mechanism: &str) -> Option<Box<dyn SaslServer>> {
        if !self.config.enabled_mechanisms.iter().any(|m| m == mechanism) {
            return None;
        }
        if mechanism == "PLAIN" {
            return Some(Box::new(PlainSaslServer::new(self.config.plain_users.clone()?)));
        }
        if mechanism == "OAUTHBEARER" {
            return Some(Box::new(OAuthBearerSaslServer::new(self.config.oauthbearer.clone()?)));
        }
        let scram = ScramMechanism::from_name(mechanism)?;
        let topics = self.api.topics.clone();
        Some(Box::new(ScramSaslServer::new(
            scram,
            Box::new(move |user, m| topics.scram_credential(user, m)),
        )))
    }

    async fn authenticate_request<W: AsyncWrite + Unpin>(
        &self,
        server: &mut dyn SaslServer,
        header: &RequestHeader,
        mut body: Bytes,
        writer: &mut W,
        previous: Option<&KafkaPrincipal>,
    ) -> Result<Option<KafkaPrincipal>, SaslFailure> {
        let version = header.request_api_version;
        let (lo, hi) = SASL_AUTHENTICATE_VERSIONS;
        if !(lo..=hi).contains(&version) {
            return Err(SaslFailure::Failed(format!(
                "SaslAuthenticate v{version} is not supported"
            )));
        }
        let request = SaslAuthenticateRequest::decode(&mut body, version)
            .map_err(|e| SaslFailure::Failed(format!("bad SaslAuthenticate: {e}")))?;
        let header_version = ApiKey::SaslAuthenticate.response_header_version(version);
        let step = server
            .evaluate_response(&request.auth_bytes)
            .and_then(|step| match (step, previous) {
                // A re-authentication must name the principal the connection already has.
                (SaslStep::Complete { authorization_id, .. }, Some(previous))
                    if KafkaPrincipal::user(authorization_id.clone()) != *previous =>
                {
                    Err(SaslError::Authentication(format!(
                        "Cannot change principals during re-authentication from {}.{}: User.{authorization_id}",
                        previous.principal_type, previous.name
                    )))
                }
                (step, _) => Ok(step),
            });
        match step {
            Ok(step) => {
                let (reply, principal) = match step {
                    SaslStep::Continue(reply) => (reply, None),
                    SaslStep::Complete {
                        reply,
                        authorization_id,
                    } => (reply, Some(KafkaPrincipal::user(authorization_id))),
                };
                // The session's lifetime is told once it is established (0: it does not end).
                let lifetime = match &principal {
                    Some(_) => self
                        .lifetime(server)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                    None => 0,
                };
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(errors::NONE)
                    .with_auth_bytes(Bytes::from(reply))
                    .with_session_lifetime_ms(lifetime);
                write_response(
                    writer,
                    header.correlation_id,
                    header_version,
                    &encode(&response, version)?,
                )
                .await?;
                Ok(principal)
            }
            Err(e) => {
                let message = self.failure_message(server.mechanism(), &e);
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(errors::SASL_AUTHENTICATION_FAILED)
                    .with_error_message(Some(StrBytes::from_string(message)));
                write_response(
                    writer,
                    header.correlation_id,
                    header_version,
                    &encode(&response, version)?,
                )
                .await?;
                tokio::time::sleep(self.config.failed_authentication_delay).await;
                Err(SaslFailure::Failed(format!(
                    "{} authentication failed: {e}",
                    server.mechanism()
                )))
            }
        }
    }

    /// A v0-handshake token: the reply goes back as a bare frame, and a failure just closes.
    async fn raw_token<W: AsyncWrite + Unpin>(
        &self,
        server: &mut dyn SaslServer,
        token: &[u8],
        writer: &mut W,
    ) -> Result<Option<KafkaPrincipal>, SaslFailure> {
        match server.evaluate_response(token) {
            Ok(SaslStep::Continue(reply)) => {
                write_frame(writer, &[&reply]).await?;
                Ok(None)
            }
            Ok(SaslStep::Complete {
                reply,
                authorization_id,
            }) => {
                if !reply.is_empty() {
                    write_frame(writer, &[&reply]).await?;
                }
                Ok(Some(KafkaPrincipal::user(authorization_id)))
            }
            Err(e) => {
                tokio::time::sleep(self.config.failed_authentication_delay).await;
                Err(SaslFailure::Failed(format!(
                    "{} authentication failed: {e}",
                    server.mechanism()
                )))
            }
        }
    }

    /// How long a session just established lasts: `connections.max.reauth.ms`, or less if
    /// the credential expires sooner, as Kafka computes it; `None` when it does not end.
    fn lifetime(&self, server: &dyn SaslServer) -> Option<Duration> {
        let credential = server.credential_expiration_ms().map(|expires_ms| {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            Duration::from_millis(u64::try_from(expires_ms.saturating_sub(now_ms)).unwrap_or(0))
        });
        match (credential, self.config.max_reauth) {
            (Some(c), Some(max)) => Some(c.min(max)),
            (c, max) => c.or(max),
        }
    }

    fn session(&self, principal: KafkaPrincipal, mechanism: &str, lifetime: Option<Duration>) -> Authenticated {
        Authenticated {
            principal,
            mechanism: mechanism.to_string(),
            expires: lifetime.map(|d| Instant::now() + d),
        }
    }

    /// Takes one frame of a re-authentication (the SaslHandshake that began it, then
    /// SaslAuthenticate requests), writing its answer to `out`; the renewed session once
    /// it completes. Kafka's rules: the same mechanism, the same principal, nothing else
    /// in between.
    pub async fn reauthenticate_frame(
        &self,
        reauth: &mut Reauthentication,
        frame: Bytes,
        out: &mut Vec<u8>,
    ) -> Result<Option<Authenticated>, SaslFailure> {
        let mut body = frame;
        let Some(&[k0, k1, v0, v1]) = body.get(..4) else {
            return Err(SaslFailure::Failed("frame too short for a request header".into()));
        };
        let version = i16::from_be_bytes([v0, v1]);
        let api = ApiKey::try_from(i16::from_be_bytes([k0, k1]))
            .map_err(|_| SaslFailure::Failed("unknown api key during re-authentication".into()))?;
        let header = RequestHeader::decode(&mut body, api.request_header_version(version))
            .map_err(|e| SaslFailure::Failed(format!("bad request header: {e}")))?;
        let state = std::mem::replace(&mut reauth.state, ReauthState::Handshake);
        match (state, api) {
            (ReauthState::Handshake, ApiKey::SaslHandshake) if version >= 1 => {
                let (state, mechanism) = match self.handshake(&header, body, out).await? {
                    (SaslState::Authenticate { server, .. }, mechanism) => {
                        (ReauthState::Authenticate(server), mechanism)
                    }
                    _ => return Err(SaslFailure::Failed("SaslHandshake did not begin an exchange".into())),
                };
                reauth.state = if mechanism == reauth.previous.mechanism {
                    state
                } else {
                    ReauthState::BadMechanism(format!(
                        "SASL mechanism '{mechanism}' requested by client is not supported for re-authentication of mechanism '{}'",
                        reauth.previous.mechanism
                    ))
                };
                Ok(None)
            }
            (ReauthState::Authenticate(mut server), ApiKey::SaslAuthenticate) => {
                let done = self
                    .authenticate_request(server.as_mut(), &header, body, out, Some(&reauth.previous.principal))
                    .await?;
                match done {
                    Some(principal) => {
                        let lifetime = self.lifetime(server.as_ref());
                        Ok(Some(self.session(principal, &reauth.previous.mechanism, lifetime)))
                    }
                    None => {
                        reauth.state = ReauthState::Authenticate(server);
                        Ok(None)
                    }
                }
            }
            (ReauthState::BadMechanism(why), _) => Err(SaslFailure::Failed(why)),
            (_, other) => Err(SaslFailure::Failed(format!(
                "Unexpected Kafka request of type {other:?} during SASL re-authentication"
            ))),
        }
    }

    /// What the client is told: the mechanism's own message when it may see it, else Kafka's
    /// generic one, which does not say whether the user exists.
    fn failure_message(&self, mechanism: &str, e: &SaslError) -> String {
        match e {
            SaslError::Authentication(m) => m.clone(),
            SaslError::InvalidCredentials(_) | SaslError::Internal(_) => format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
            ),
        }
    }
}

fn encode<T: Encodable>(message: &T, version: i16) -> Result<Bytes, SaslFailure> {
    crate::api::encode(message, version).map_err(|e| SaslFailure::Failed(e.to_string()))
}

async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    correlation_id: i32,
    header_version: i16,
    body: &[u8],
) -> Result<(), SaslFailure> {
    let mut header = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut header, header_version)
        .map_err(|e| SaslFailure::Failed(e.to_string()))?;
    write_frame(writer, &[&header, body]).await
}

async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, parts: &[&[u8]]) -> Result<(), SaslFailure> {
    let size: usize = parts.iter().map(|p| p.len()).sum();
    let mut frame = BytesMut::with_capacity(4 + size);
    frame.put_i32(size as i32);
    for p in parts {
        frame.extend_from_slice(p);
    }
    let io = |e: std::io::Error| SaslFailure::Failed(format!("cannot write to the client: {e}"));
    writer.write_all(&frame).await.map_err(io)?;
    writer.flush().await.map_err(io)
}
