//! The HTTP side of the one port: reads a request head, answers `/healthz`, `/metrics`, `/j/ROOM`,
//! the browser client's files and `/`, and hands `/ws` upgrades on as WebSocket streams.
//!
//! Written on httparse rather than a framework so that a connection costs a few KiB: the head
//! is read into a small buffer, the WebSocket handshake is answered here, and tungstenite takes
//! over the socket with its own small buffer.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::invite::validate_room;

/// Longest request head accepted; browsers send well under 2 KiB.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// A WebSocket upgrade on `/ws`; `leftover` is what the client sent after the head.
    WebSocket {
        accept: String,
        leftover: Vec<u8>,
    },
    Health,
    Metrics,
    /// The browser client's page for a room.
    Room {
        room: String,
    },
    /// One of the page's own files.
    Asset {
        content_type: &'static str,
        body: &'static str,
    },
    Index,
    /// Answer with this status and text, then close.
    Refuse {
        status: u16,
        reason: &'static str,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("connection closed before a request arrived")]
    Closed,
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads one request head and decides its route.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Route, HeadError> {
    // Read straight into the heap buffer: a buffer on the stack would live in every
    // connection's future for as long as the connection does.
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(1024);
        }
        let n = stream.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let leftover = buf[len..].to_vec();
                return Ok(route(&request, leftover));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => continue,
            Ok(httparse::Status::Partial) => return Err(HeadError::TooLarge),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        }
    }
}

fn header<'a>(request: &'a httparse::Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn route(request: &httparse::Request, leftover: Vec<u8>) -> Route {
    let path = request.path.unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if request.method != Some("GET") && request.method != Some("HEAD") {
        return Route::Refuse {
            status: 405,
            reason: "only GET is served here",
        };
    }
    match path {
        "/ws" => websocket_route(request, leftover),
        "/healthz" => Route::Health,
        "/metrics" => Route::Metrics,
        "/" => Route::Index,
        _ => match path.strip_prefix("/j/") {
            Some(room) if validate_room(room.trim_end_matches('/')).is_ok() => Route::Room {
                room: room.trim_end_matches('/').to_string(),
            },
            _ => match super::web::asset(path) {
                Some((content_type, body)) => Route::Asset { content_type, body },
                None => Route::Refuse {
                    status: 404,
                    reason: "no such page",
                },
            },
        },
    }
}

fn websocket_route(request: &httparse::Request, leftover: Vec<u8>) -> Route {
    if !header(request, "upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        || !has_token(header(request, "connection"), "upgrade")
    {
        return Route::Refuse {
            status: 426,
            reason: "this is the WebSocket endpoint: connect with a WebSocket client",
        };
    }
    if header(request, "sec-websocket-version") != Some("13") {
        return Route::Refuse {
            status: 426,
            reason: "WebSocket version 13 is required",
        };
    }
    match header(request, "sec-websocket-key") {
        Some(key) if !key.is_empty() => Route::WebSocket {
            accept: derive_accept_key(key.as_bytes()),
            leftover,
        },
        _ => Route::Refuse {
            status: 400,
            reason: "missing Sec-WebSocket-Key",
        },
    }
}

/// Completes the WebSocket handshake.
pub async fn accept_websocket<S: AsyncWrite + Unpin>(
    stream: &mut S,
    accept: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await
}

/// Writes a whole response and closes the connection.
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    respond_with(stream, status, content_type, &[], body).await
}

/// `respond`, with more headers.
pub async fn respond_with<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(raw: &str) -> Result<Route, HeadError> {
        let mut bytes = raw.as_bytes();
        read_request(&mut bytes).await
    }

    const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    #[tokio::test]
    async fn a_websocket_upgrade_is_accepted_with_the_rfc_key() {
        let route = parse(&format!("{UPGRADE}early")).await.unwrap();
        assert_eq!(
            route,
            Route::WebSocket {
                // RFC 6455, section 1.3.
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                leftover: b"early".to_vec(),
            }
        );
    }

    #[tokio::test]
    async fn pages_and_refusals() {
        assert_eq!(
            parse("GET /healthz HTTP/1.1\r\n\r\n").await.unwrap(),
            Route::Health
        );
        assert_eq!(
            parse("GET /metrics HTTP/1.0\r\n\r\n").await.unwrap(),
            Route::Metrics
        );
        assert_eq!(
            parse("GET /j/team-1?x=1 HTTP/1.1\r\n\r\n").await.unwrap(),
            Route::Room {
                room: "team-1".into()
            }
        );
        assert!(matches!(
            parse("GET /web/room.js HTTP/1.1\r\n\r\n").await.unwrap(),
            Route::Asset { content_type, .. } if content_type.starts_with("text/javascript")
        ));
        for (raw, status) in [
            ("GET /j/bad%20room HTTP/1.1\r\n\r\n", 404),
            ("GET /nothing HTTP/1.1\r\n\r\n", 404),
            ("GET /web/../web/room.js HTTP/1.1\r\n\r\n", 404),
            ("POST /ws HTTP/1.1\r\n\r\n", 405),
            ("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", 426),
        ] {
            assert!(
                matches!(parse(raw).await.unwrap(), Route::Refuse { status: s, .. } if s == status),
                "{raw}"
            );
        }
        let no_key = UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
        assert!(matches!(
            parse(&no_key).await.unwrap(),
            Route::Refuse { status: 400, .. }
        ));
    }

    #[tokio::test]
    async fn broken_heads_are_errors_not_panics() {
        assert!(matches!(parse("").await, Err(HeadError::Closed)));
        assert!(matches!(
            parse("\u{1}\u{2} garbage\r\n\r\n").await,
            Err(HeadError::Malformed(_))
        ));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(parse(&huge).await, Err(HeadError::TooLarge)));
        // A head cut short by the peer closing is a closed connection, not a request.
        assert!(matches!(
            parse("GET / HTTP/1.1\r\nHost").await,
            Err(HeadError::Closed)
        ));
    }
}
