//! The `/metrics` endpoint: a minimal HTTP/1.1 responder, enough for Prometheus and curl.
//! One request per connection: `GET /metrics` is answered with the exposition, any other
//! path with 404, any other method on it with 405, and the connection is closed.
//!
//! A scraper is not trusted more than a Kafka client: the request head is read into a fixed
//! buffer of [`MAX_REQUEST_HEAD`] bytes and must arrive within [`REQUEST_TIMEOUT`], and at
//! most [`MAX_CONNECTIONS`] scrapes are served at once, so no client makes it hold more
//! memory or sockets than that.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::{BrokerState, exposition, registry};

/// Largest request line plus headers; Prometheus sends a few hundred bytes.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Scrapes served at once; further connections wait to be accepted.
const MAX_CONNECTIONS: usize = 16;

/// Serves `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, state: Arc<dyn BrokerState>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, state.as_ref()).await {
                tracing::debug!(error = %e, "metrics endpoint: connection ended without an answer");
            }
            drop(permit);
        });
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    WrongMethod,
    NotFound,
    BadRequest,
}

async fn answer(mut stream: TcpStream, state: &dyn BrokerState) -> std::io::Result<()> {
    let mut head = [0u8; MAX_REQUEST_HEAD];
    let route = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream, &mut head)).await {
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request head too slow",
            ));
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => {
            // Over the limit: say so and close without reading the rest.
            let _ = respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
                false,
            )
            .await;
            return Ok(());
        }
        Ok(Ok(Some(len))) => route(&head[..len]),
    };
    match route {
        Route::Metrics { head_only } => {
            let body = exposition::render(registry(), state);
            respond(
                &mut stream,
                "200 OK",
                exposition::CONTENT_TYPE,
                body.as_bytes(),
                head_only,
            )
            .await
        }
        Route::WrongMethod => respond(&mut stream, "405 Method Not Allowed", "text/plain", b"", false).await,
        Route::NotFound => {
            let body = b"Not found: the figures are at /metrics\n";
            respond(&mut stream, "404 Not Found", "text/plain", body, false).await
        }
        Route::BadRequest => respond(&mut stream, "400 Bad Request", "text/plain", b"", false).await,
    }
}

/// Reads until the blank line that ends the head; `Ok(Some(len))` with the head's length,
/// `Ok(None)` when it does not fit in `buf`.
async fn read_head(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Ok(None);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside the request head",
            ));
        }
        // The terminator may straddle two reads.
        let from = filled.saturating_sub(3);
        filled += n;
        if let Some(end) = buf[from..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(from + end + 4));
        }
    }
}

fn route(head: &[u8]) -> Route {
    let Some(line) = head
        .split(|&b| b == b'\r')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
    else {
        return Route::BadRequest;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    // The query string (`?name[]=...` filters of some scrapers) does not change the answer.
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return Route::NotFound;
    }
    match method {
        "GET" => Route::Metrics { head_only: false },
        "HEAD" => Route::Metrics { head_only: true },
        _ => Route::WrongMethod,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = |t: &str| route(format!("GET {t} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(get("/metrics"), Route::Metrics { head_only: false });
        assert_eq!(get("/metrics?name[]=up"), Route::Metrics { head_only: false });
        assert_eq!(get("/"), Route::NotFound);
        assert_eq!(get("/metrics/x"), Route::NotFound);
        assert_eq!(
            route(b"HEAD /metrics HTTP/1.0\r\n\r\n"),
            Route::Metrics { head_only: true }
        );
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::WrongMethod);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe\r\n\r\n"), Route::BadRequest);
    }
}
