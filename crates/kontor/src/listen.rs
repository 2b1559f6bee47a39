//! The listener of both services: HTTP/1.1 on hyper with the time limits a slow or idle client
//! cannot outlast, and graceful shutdown.
//!
//! | limit | default | setting |
//! |---|---|---|
//! | reading a request's head (line and headers), and waiting on a kept-alive connection for the next one | 10 s | `header_read_timeout` (`KONTOR_HEADER_READ_TIMEOUT`, `--header-read-timeout`; hyper's `header_read_timeout`; the connection is closed) |
//! | a request body's next bytes | 10 s | `body_read_timeout` (`KONTOR_BODY_READ_TIMEOUT`, `--body-read-timeout`; tower-http's `TimeoutBody`; the request fails with 408/400 in the service's error shape) |
//! | a request head | 80 KiB | hyper's `max_header_size` (past it hyper answers a bare 431 and closes); up to it the services answer 414 / 431 with their error body (`kontor_odata::error::oversized_head`) |
//!
//! Durations are written `10s` or `500ms`. HTTP/2 is not offered (these limits are HTTP/1's):
//! clients of plain `http://` use HTTP/1.1 anyway.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::Service as _;
use tower_http::timeout::TimeoutBody;

/// The largest request head hyper reads: the longest URI and the largest headers the services
/// answer with their own 414 / 431, and room for the request line.
const MAX_HEAD_BYTES: usize =
    kontor_odata::error::MAX_URI_BYTES + kontor_odata::error::MAX_HEADER_BYTES + 16 * 1024;

/// How long a client may take (see the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Reading a request head, and waiting idle for the next request on a connection.
    pub header_read: Duration,
    /// The wait for a request body's next bytes.
    pub body_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { header_read: Duration::from_secs(10), body_read: Duration::from_secs(10) }
    }
}

/// `10s`, `500ms` or `10` (seconds); zero is refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let d = if let Some(ms) = t.strip_suffix("ms") {
        Duration::from_millis(ms.trim().parse().ok()?)
    } else {
        Duration::from_secs(t.strip_suffix('s').unwrap_or(t).trim().parse().ok()?)
    };
    (!d.is_zero()).then_some(d)
}

/// Serves `app` on `listener` with `timeouts` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish and returns once every connection closed.
pub async fn serve(
    mut listener: tokio::net::TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connections hold a receiver; the sender's `closed` tells when the last one ended.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            conn = axum::serve::Listener::accept(&mut listener) => conn,
            _ = &mut shutdown => break,
        };
        let router = app.clone();
        let body_read = timeouts.body_read;
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let req = req.map(|body| Body::new(TimeoutBody::new(body_read, body)));
            router.clone().call(req)
        });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header_read)
                .max_header_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        }
                        break;
                    }
                    _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const SHORT: Timeouts =
        Timeouts { header_read: Duration::from_millis(300), body_read: Duration::from_millis(300) };

    /// A Financials-shaped app (a route reading its body, the OData error shape) on port 0.
    async fn start() -> (std::net::SocketAddr, crate::serve::Shutdown, tokio::task::JoinHandle<()>)
    {
        let app = kontor_financials_server::odata_errors(
            Router::new().route("/echo", post(|body: axum::body::Bytes| async move { body })),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = crate::serve::Shutdown::new();
        let stop = shutdown.wait();
        let task = tokio::spawn(async move { serve(listener, app, SHORT, stop).await.unwrap() });
        (addr, shutdown, task)
    }

    /// Reads until the server closes the connection; what it sent, and how long that took.
    async fn read_to_close(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out));
        read.await.expect("the server closes the connection").ok();
        (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
    }

    #[tokio::test]
    async fn a_client_sending_half_a_request_line_is_disconnected_after_the_header_timeout() {
        let (addr, _shutdown, _task) = start().await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /echo HT").await.unwrap();
        let (_, waited) = read_to_close(&mut slow).await;
        assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
        let (addr, _shutdown, _task) = start().await;
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            .await
            .unwrap();
        let (answer, waited) = read_to_close(&mut idle).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hi"), "{answer}");
        assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
    }

    #[tokio::test]
    async fn a_stalled_body_fails_in_the_odata_error_shape_after_the_body_timeout() {
        let (addr, _shutdown, _task) = start().await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\nhalf",
        )
        .await
        .unwrap();
        let (answer, waited) = read_to_close(&mut slow).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("application/json"), "{answer}");
        assert!(answer.contains(r#"{"error":{"code":"BadRequest""#), "{answer}");
        assert!(answer.contains("designated timeout"), "{answer}");
        assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_ends_once_connections_are_done() {
        let (addr, shutdown, task) = start().await;
        let mut open = tokio::net::TcpStream::connect(addr).await.unwrap();
        open.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        open.read_exact(&mut first).await.unwrap();
        shutdown.fire();
        tokio::time::timeout(Duration::from_secs(2), task).await.expect("serve ends").unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");
    }

    #[test]
    fn durations_read_as_seconds_or_milliseconds() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
