//! A fault-injecting HTTP proxy for the end-to-end tests: it stands between the engine and a
//! service (HTTP/1.1 on hyper, forwarding with reqwest) and, while a [`Fault`] is set, answers
//! the way a troubled service or network would. The services' own code is never touched.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes every request through.
    None,
    /// Answers every request `429 Too Many Requests` with `Retry-After` (whole seconds), as
    /// Dataverse's service protection limits do.
    Throttle { retry_after_secs: u64 },
    /// Listens nowhere: connections are refused, and open ones are cut.
    Unreachable,
    /// Forwards every request, and answers it after `delay`.
    Slow { delay: Duration },
    /// Every `every`-th answer announces its whole length but stops half way and the connection
    /// closes: a truncated body.
    Truncate { every: u64 },
    /// Every `every`-th request is forwarded (it takes effect) and the connection is then reset
    /// (TCP RST) before any answer: the client cannot know whether it was applied.
    Reset { every: u64 },
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    fault: watch::Sender<Fault>,
    requests: AtomicU64,
    injected: AtomicU64,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://host:port`), passing
    /// everything through until told otherwise.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("the proxy's client"),
            fault: watch::channel(Fault::None).0,
            requests: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        FaultProxy { url: format!("http://{addr}"), shared, task }
    }

    /// Sets the fault from now on.
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// Requests that reached the proxy (or, while unreachable, connections refused count none).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Requests the fault was applied to (connections cut while unreachable included).
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(mut listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut rx = shared.fault.subscribe();
    let mut connections = JoinSet::new();
    loop {
        if *rx.borrow_and_update() == Fault::Unreachable {
            // Stop listening (new connections are refused) and cut the open ones.
            drop(listener);
            shared.injected.fetch_add(connections.len() as u64, Ordering::Relaxed);
            connections.abort_all();
            while rx.borrow_and_update().eq(&Fault::Unreachable) {
                if rx.changed().await.is_err() {
                    return;
                }
            }
            listener = loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
        }
        while connections.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // A reset, not a graceful close, whenever the proxy drops a connection.
                let _ = stream.set_zero_linger();
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { handle(&shared, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// Why the proxy gave no answer (hyper then drops the connection).
#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fault proxy cut the connection")
    }
}

impl std::error::Error for Cut {}

async fn handle(
    shared: &Shared,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Cut> {
    let n = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = *shared.fault.borrow();
    if let Fault::Throttle { retry_after_secs } = fault {
        shared.injected.fetch_add(1, Ordering::Relaxed);
        let body = r#"{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}"#;
        return Ok(hyper::Response::builder()
            .status(429)
            .header("retry-after", retry_after_secs.to_string())
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("a 429 answer"));
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(Body::new(body), usize::MAX).await.map_err(|_| Cut)?;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut forward =
        shared.client.request(parts.method.clone(), format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "connection" | "content-length" | "transfer-encoding")
        {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.body(body).send().await.map_err(|_| Cut)?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|_| Cut)?;
    match fault {
        Fault::Reset { every } if n.is_multiple_of(every) => {
            shared.injected.fetch_add(1, Ordering::Relaxed);
            return Err(Cut);
        }
        Fault::Slow { delay } => {
            shared.injected.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        _ => {}
    }
    let mut out = hyper::Response::builder().status(status);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding") {
            out = out.header(name, value);
        }
    }
    let body = match fault {
        Fault::Truncate { every } if n.is_multiple_of(every) && bytes.len() > 1 => {
            shared.injected.fetch_add(1, Ordering::Relaxed);
            out = out.header("content-length", bytes.len().to_string());
            let half = bytes.slice(..bytes.len() / 2);
            let chunks: Vec<Result<Bytes, Cut>> = vec![Ok(half), Err(Cut)];
            Body::from_stream(futures::stream::iter(chunks))
        }
        _ => Body::from(bytes),
    };
    Ok(out.body(body).expect("an answer"))
}
