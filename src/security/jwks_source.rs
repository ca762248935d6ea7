//! Where OAUTHBEARER's verification keys come from: `sasl.oauthbearer.jwks.endpoint.url`, as
//! Kafka's key resolvers read it.
//!
//! - `file:` names a JWKS file, read at start (a missing, unreadable or malformed file stops
//!   the start) and read again when its modification time changes, as Kafka's
//!   `JwksFileVerificationKeyResolver` does; a token naming a `kid` the file lacks is refused.
//! - `https:` and `http:` name a JWKS endpoint, fetched at start (a failure stops the start)
//!   and then every `sasl.oauthbearer.jwks.endpoint.refresh.ms` by a thread of its own, as
//!   Kafka's `RefreshingHttpsJwks` does: a failed fetch is retried with exponential backoff
//!   from `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms` for at most
//!   `sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms`, and the keys already known are
//!   kept meanwhile. A token naming an unknown `kid` is refused and asks for a fetch now, at
//!   most once a minute per `kid` (16 `kid`s remembered, none longer than 1000 characters).
//!
//! The fetch is a plain HTTP/1.1 GET (TLS by rustls for `https:`) with 10 s timeouts and a 1 MiB bound on the answer, which must be
//! `200 OK`. The CAs that the endpoint's certificate
//! must chain to are those of the listener's `OAuthBearerLoginModule` JAAS options
//! `ssl.truststore.location` or `ssl.truststore.certificates` (PEM), which is where Kafka's
//! JWKS client takes its SSL settings from, else the system's CA bundle.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::RwLock;

use super::jwk::{JwkSet, KeyError};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE: usize = 1 << 20;
const MISSING_KID_MAX: usize = 16;
const MISSING_KID_WAIT: Duration = Duration::from_secs(60);
const MISSING_KID_MAX_LEN: usize = 1000;

/// How an `http:`/`https:` endpoint is fetched and refreshed.
#[derive(Clone, Debug)]
pub struct RefreshSettings {
    pub refresh: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// PEM CA certificates for `https:`; `None`: the system's bundle.
    pub trusted_pem: Option<Vec<u8>>,
}

pub enum JwksSource {
    File(FileJwks),
    Remote(Arc<RemoteJwks>),
}

impl JwksSource {
    /// The source a `sasl.oauthbearer.jwks.endpoint.url` names, with its keys read.
    pub fn open(url: &str, settings: RefreshSettings) -> Result<JwksSource, String> {
        let url = url.trim();
        let (scheme, _) = url
            .split_once(':')
            .ok_or("a URL with a scheme (file:, https: or http:)")?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(JwksSource::File(FileJwks::open(file_path(url))?)),
            "http" | "https" => {
                let remote = Arc::new(RemoteJwks::open(url, settings)?);
                let thread = remote.clone();
                std::thread::Builder::new()
                    .name("jwks-refresh".into())
                    .spawn(move || thread.run())
                    .map_err(|e| e.to_string())?;
                Ok(JwksSource::Remote(remote))
            }
            other => Err(format!(
                "{url} has the scheme {other}; only \"http\", \"https\" and \"file\" are supported"
            )),
        }
    }

    /// Checks a token's signature with the key its header names.
    pub fn verify(&self, alg: &str, kid: Option<&str>, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let keys = match self {
            JwksSource::File(file) => file.keys()?,
            JwksSource::Remote(remote) => remote.keys.read().clone(),
        };
        match keys.verify(alg, kid, message, signature) {
            Ok(()) => Ok(()),
            Err(KeyError::BadSignature) => Err("the signature does not verify".into()),
            Err(KeyError::NoKey(why)) => {
                if let JwksSource::Remote(remote) = self
                    && remote.expedite(kid.unwrap_or(""))
                {
                    tracing::info!(url = %remote.url, "fetching the JWKS again for a key it lacks");
                }
                Err(why)
            }
        }
    }
}

/// The path of a `file:` URL, as Java's `URL` gives it: after `file:` and any `//authority`,
/// up to a query or fragment.
fn file_path(url: &str) -> PathBuf {
    let rest = &url["file:".len()..];
    let rest = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            &authority_and_path[authority_and_path.find('/').unwrap_or(authority_and_path.len())..]
        }
        None => rest,
    };
    PathBuf::from(rest.split(['?', '#']).next().unwrap_or(""))
}

pub struct FileJwks {
    path: PathBuf,
    /// The keys and the modification time of the file they were read from.
    cached: Mutex<(Option<SystemTime>, Arc<JwkSet>)>,
}

impl FileJwks {
    fn open(path: PathBuf) -> Result<FileJwks, String> {
        if path.is_dir() {
            return Err(format!("{} is a directory, not a JWKS file", path.display()));
        }
        let (modified, keys) = Self::read(&path)?;
        tracing::info!(path = %path.display(), keys = keys.len(), "JWKS file read");
        Ok(FileJwks {
            path,
            cached: Mutex::new((modified, Arc::new(keys))),
        })
    }

    fn read(path: &PathBuf) -> Result<(Option<SystemTime>, JwkSet), String> {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let json = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let keys = JwkSet::parse(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((modified, keys))
    }

    /// The file's keys, read again if the file changed since.
    fn keys(&self) -> Result<Arc<JwkSet>, String> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if modified != cached.0 {
            let (modified, keys) = Self::read(&self.path)?;
            tracing::info!(path = %self.path.display(), keys = keys.len(), "JWKS file read again");
            *cached = (modified, Arc::new(keys));
        }
        Ok(cached.1.clone())
    }
}

/// An `http:` or `https:` URL's parts.
#[derive(Debug, PartialEq, Eq)]
struct HttpUrl {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl HttpUrl {
    fn parse(url: &str) -> Result<HttpUrl, String> {
        let malformed = |why: &str| format!("malformed URL {url}: {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| malformed("no ://"))?;
        let tls = scheme.eq_ignore_ascii_case("https");
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(malformed("user information is not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p.parse::<u16>().map_err(|_| malformed("bad port"))?)),
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(malformed("no host"));
        }
        let path = path.split('#').next().unwrap_or("");
        Ok(HttpUrl {
            tls,
            host: host.to_string(),
            port: port.unwrap_or(if tls { 443 } else { 80 }),
            path: if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            },
        })
    }
}

pub struct RemoteJwks {
    url: String,
    target: HttpUrl,
    tls: Option<tls::Client>,
    settings: RefreshSettings,
    keys: RwLock<Arc<JwkSet>>,
    /// `kid`s that asked for a fetch, and when they may ask again.
    missing: Mutex<HashMap<String, Instant>>,
    /// Set when a fetch is wanted before the next scheduled one.
    expedited: Mutex<bool>,
    wake: Condvar,
}

impl RemoteJwks {
    fn open(url: &str, settings: RefreshSettings) -> Result<RemoteJwks, String> {
        let target = HttpUrl::parse(url)?;
        let tls = if target.tls {
            Some(tls::client(settings.trusted_pem.as_deref())?)
        } else {
            None
        };
        let remote = RemoteJwks {
            url: url.to_string(),
            target,
            tls,
            settings,
            keys: RwLock::new(Arc::new(JwkSet::default())),
            missing: Mutex::new(HashMap::new()),
            expedited: Mutex::new(false),
            wake: Condvar::new(),
        };
        let keys = remote
            .fetch()
            .map_err(|e| format!("could not fetch the JWKS from {url}: {e}"))?;
        tracing::info!(url, keys = keys.len(), "JWKS fetched");
        *remote.keys.write() = Arc::new(keys);
        Ok(remote)
    }

    fn fetch(&self) -> Result<JwkSet, String> {
        let body = http_get(&self.target, self.tls.as_ref())?;
        JwkSet::parse(&body)
    }

    /// Asks for a fetch now for a token whose `kid` no key has, unless that `kid` asked
    /// within the last minute; whether it did.
    fn expedite(&self, kid: &str) -> bool {
        if kid.len() > MISSING_KID_MAX_LEN {
            return false;
        }
        let now = Instant::now();
        let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        if missing.get(kid).is_some_and(|next| *next > now) {
            return false;
        }
        missing.insert(kid.to_string(), now + MISSING_KID_WAIT);
        while missing.len() > MISSING_KID_MAX {
            let oldest = missing.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone());
            missing.remove(&oldest.unwrap_or_default());
        }
        *self.expedited.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_one();
        true
    }

    /// The refresh thread: a fetch every `refresh` and whenever one is expedited.
    fn run(self: Arc<Self>) {
        let mut next = Instant::now() + self.settings.refresh;
        loop {
            let mut expedited = self.expedited.lock().unwrap_or_else(|e| e.into_inner());
            while !*expedited && Instant::now() < next {
                let wait = next.saturating_duration_since(Instant::now());
                expedited = self
                    .wake
                    .wait_timeout(expedited, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let was_expedited = std::mem::replace(&mut *expedited, false);
            drop(expedited);
            if !was_expedited {
                next += self.settings.refresh;
            }
            self.refresh();
        }
    }

    /// One refresh, retried with exponential backoff for at most `retry_backoff_max`; on
    /// failure the keys already known stay.
    fn refresh(&self) {
        let start = Instant::now();
        let mut backoff = self.settings.retry_backoff;
        loop {
            match self.fetch() {
                Ok(keys) => {
                    let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
                    for kid in keys.key_ids() {
                        missing.remove(kid);
                    }
                    tracing::info!(url = %self.url, keys = keys.len(), "JWKS refreshed");
                    *self.keys.write() = Arc::new(keys);
                    return;
                }
                Err(e) => {
                    let left = self.settings.retry_backoff_max.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        tracing::warn!(url = %self.url, error = %e, "JWKS refresh failed; the keys already known stay");
                        return;
                    }
                    std::thread::sleep(backoff.min(left));
                    backoff = backoff.saturating_mul(2);
                }
            }
        }
    }
}

/// The TLS client of `https:` endpoints: rustls with the ring provider.
mod tls {
    use std::net::TcpStream;
    use std::sync::Arc;

    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
    use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};

    use super::ReadWrite;

    const SYSTEM_CA_BUNDLES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ];

    pub type Client = Arc<ClientConfig>;

    /// A TLS client trusting `pem`'s CA certificates, or the system's bundle.
    pub fn client(pem: Option<&[u8]>) -> Result<Client, String> {
        let mut roots = RootCertStore::empty();
        let bundle = match pem {
            Some(pem) => pem.to_vec(),
            None => {
                let env = std::env::var("SSL_CERT_FILE").ok();
                let path = env
                    .iter()
                    .map(String::as_str)
                    .chain(SYSTEM_CA_BUNDLES.iter().copied())
                    .find(|p| std::path::Path::new(p).is_file())
                    .ok_or("no truststore for the https JWKS endpoint: set ssl.truststore.location (PEM) in the listener's OAuthBearerLoginModule options, or install a system CA bundle")?;
                std::fs::read(path).map_err(|e| format!("{path}: {e}"))?
            }
        };
        let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&bundle).filter_map(Result::ok).collect();
        roots.add_parsable_certificates(certs);
        if roots.is_empty() {
            return Err("the JWKS endpoint's truststore holds no CA certificate".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// TLS over `socket` to `host`, whose certificate must name it.
    pub fn connect(client: &Client, host: &str, socket: TcpStream) -> Result<Box<dyn ReadWrite>, String> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
        let conn = ClientConnection::new(client.clone(), name).map_err(|e| e.to_string())?;
        Ok(Box::new(StreamOwned::new(conn, socket)))
    }
}

/// GET `url`: the body of a `200 OK` answer.
fn http_get(url: &HttpUrl, tls: Option<&tls::Client>) -> Result<Vec<u8>, String> {
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", url.host))?;
    let mut last = format!("{}: no address", url.host);
    let mut socket = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    let socket = socket.ok_or(last)?;
    socket.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    socket.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let host_header = match (url.tls, url.port) {
        (true, 443) | (false, 80) => url.host.clone(),
        _ => format!("{}:{}", url.host, url.port),
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nUser-Agent: rivulet\r\nConnection: close\r\n\r\n",
        url.path
    );
    let mut stream: Box<dyn ReadWrite> = match tls {
        Some(client) => tls::connect(client, &url.host, socket)?,
        None => Box::new(socket),
    };
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response.len() > MAX_RESPONSE + 65536 {
                    return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
                }
                if let Ok(Some(body)) = parse_response(&response) {
                    return Ok(body);
                }
            }
            // A TLS peer that closes without close_notify: the answer may still be whole.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    match parse_response(&response) {
        Ok(Some(body)) => Ok(body),
        Ok(None) => parse_until_close(&response),
        Err(e) => Err(e),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// An answer's status, its headers (names in lower case), and where its body starts.
type Head = (u16, HashMap<String, String>, usize);

/// The status line and headers of an answer, once they have all come.
fn head(response: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&response[..end]).map_err(|_| "a header that is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("no HTTP status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

/// The body of a whole answer delimited by Content-Length or chunks; `None` while more is
/// to come.
fn parse_response(response: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let Some((status, headers, start)) = head(response)? else {
        return Ok(None);
    };
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let body = &response[start..];
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        return dechunk(body);
    }
    match headers.get("content-length") {
        Some(len) => {
            let len = len.parse::<usize>().map_err(|_| "a bad Content-Length")?;
            if len > MAX_RESPONSE {
                return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
            }
            Ok((body.len() >= len).then(|| body[..len].to_vec()))
        }
        None => Ok(None),
    }
}

/// An answer with neither length nor chunks ends when the server closes.
fn parse_until_close(response: &[u8]) -> Result<Vec<u8>, String> {
    match head(response)? {
        Some((200, headers, start)) if !headers.contains_key("content-length") => Ok(response[start..].to_vec()),
        Some(_) => Err("the answer was cut short".into()),
        None => Err("no HTTP answer".into()),
    }
}

/// A chunked body, if its last chunk has come.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "a bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        if size == 0 {
            return Ok(Some(out));
        }
        // A chunk size is the server's claim: compared without adding to it, so a huge one
        // cannot overflow the sums below.
        if size > MAX_RESPONSE.saturating_sub(out.len()) {
            return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
        }
        let data = line_end + 2;
        if body.len() < data + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[data..data + size]);
        body = &body[data + size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwk::test_keys::*;
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_are_read_as_java_reads_them() {
        assert_eq!(file_path("file:///etc/jwks.json"), PathBuf::from("/etc/jwks.json"));
        assert_eq!(file_path("file:/etc/jwks.json"), PathBuf::from("/etc/jwks.json"));
        assert_eq!(
            file_path("file://host/etc/jwks.json?x"),
            PathBuf::from("/etc/jwks.json")
        );
        assert_eq!(
            HttpUrl::parse("https://idp.example/oauth2/keys?v=1").unwrap(),
            HttpUrl {
                tls: true,
                host: "idp.example".into(),
                port: 443,
                path: "/oauth2/keys?v=1".into()
            }
        );
        let local = HttpUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (local.host.as_str(), local.port, local.path.as_str()),
            ("::1", 8080, "/")
        );
        assert!(HttpUrl::parse("https://user@idp.example/").is_err());
        assert!(JwksSource::open("ftp://idp.example/keys", settings()).is_err());
    }

    #[test]
    fn answers_are_whole_only_when_their_length_or_last_chunk_has_come() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
        assert_eq!(parse_response(ok), Ok(Some(b"body".to_vec())));
        assert_eq!(parse_response(&ok[..ok.len() - 1]), Ok(None));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbod\r\n1;x=y\r\ny\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Ok(Some(b"body".to_vec())));
        assert_eq!(parse_response(&chunked[..40]), Ok(None));
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n").is_err());
        assert_eq!(parse_until_close(b"HTTP/1.0 200 OK\r\n\r\n{}"), Ok(b"{}".to_vec()));
    }

    fn settings() -> RefreshSettings {
        RefreshSettings {
            refresh: Duration::from_secs(3600),
            retry_backoff: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(100),
            trusted_pem: None,
        }
    }

    /// An HTTP server answering each GET with the JWKS `body` holds at the time.
    fn serve(body: Arc<Mutex<String>>) -> (String, Arc<Mutex<usize>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                *counter.lock().unwrap() += 1;
                let body = body.lock().unwrap().clone();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, hits)
    }

    fn verify_token(source: &JwksSource, token: &str) -> Result<(), String> {
        let (message, signature) = token.rsplit_once('.').unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                message.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let signature = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).unwrap();
        source.verify(
            header["alg"].as_str().unwrap(),
            header["kid"].as_str(),
            message.as_bytes(),
            &signature,
        )
    }

    #[test]
    fn an_endpoint_is_fetched_again_for_an_unknown_kid_at_most_once_a_minute() {
        let old = TestKey::new("ES256", "old");
        let new = TestKey::new("ES256", "new");
        let body = Arc::new(Mutex::new(jwks(&[&old])));
        let (url, hits) = serve(body.clone());
        let source = JwksSource::open(&url, settings()).unwrap();
        assert_eq!(*hits.lock().unwrap(), 1);
        assert_eq!(verify_token(&source, &old.sign("{}")), Ok(()));

        // The identity provider rotates its key: the first token with the new kid is refused
        // and asks for a fetch, after which the new key verifies.
        *body.lock().unwrap() = jwks(&[&old, &new]);
        assert!(verify_token(&source, &new.sign("{}")).is_err());
        let deadline = Instant::now() + Duration::from_secs(10);
        while verify_token(&source, &new.sign("{}")).is_err() {
            assert!(Instant::now() < deadline, "the new key was not fetched");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(*hits.lock().unwrap(), 2);

        // A kid the endpoint does not have asks once, then not again within the minute.
        let stranger = TestKey::new("ES256", "stranger");
        assert!(verify_token(&source, &stranger.sign("{}")).is_err());
        std::thread::sleep(Duration::from_millis(300));
        assert!(verify_token(&source, &stranger.sign("{}")).is_err());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(*hits.lock().unwrap(), 3);
    }

    #[test]
    fn an_https_endpoint_is_trusted_only_through_the_truststore() {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use rustls::StreamOwned;
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject;
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
            )
            .unwrap();
        let server = Arc::new(server);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/keys", listener.local_addr().unwrap());
        let idp = TestKey::new("ES256", "tls");
        let body = jwks(&[&idp]);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let tls = rustls::ServerConnection::new(server.clone()).unwrap();
                let mut stream = StreamOwned::new(tls, conn);
                let mut request = [0u8; 4096];
                if stream.read(&mut request).is_ok() {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                }
            }
        });
        let trusted = RefreshSettings {
            trusted_pem: Some(ca_pem.into_bytes()),
            ..settings()
        };
        let source = JwksSource::open(&url, trusted).unwrap();
        assert_eq!(verify_token(&source, &idp.sign("{}")), Ok(()));
        // Another CA: the handshake fails, and so does the start.
        let other = KeyPair::generate().unwrap();
        let other_ca = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&other)
            .unwrap();
        let untrusted = RefreshSettings {
            trusted_pem: Some(other_ca.pem().into_bytes()),
            ..settings()
        };
        assert!(JwksSource::open(&url, untrusted).is_err());
    }

    #[test]
    fn a_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let first = TestKey::new("ES384", "first");
        let second = TestKey::new("ES384", "second");
        std::fs::write(&path, jwks(&[&first])).unwrap();
        let url = format!("file://{}", path.display());
        let source = JwksSource::open(&url, settings()).unwrap();
        assert_eq!(verify_token(&source, &first.sign("{}")), Ok(()));
        assert!(verify_token(&source, &second.sign("{}")).is_err());

        std::fs::write(&path, jwks(&[&second])).unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(verify_token(&source, &second.sign("{}")), Ok(()));
        assert!(verify_token(&source, &first.sign("{}")).is_err());

        assert!(JwksSource::open(&format!("file://{}", dir.path().display()), settings()).is_err());
        assert!(JwksSource::open("file:///no/such/jwks.json", settings()).is_err());
        std::fs::write(&path, "not json").unwrap();
        assert!(JwksSource::open(&url, settings()).is_err());
    }
}
