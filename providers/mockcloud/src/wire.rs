//! What the server hands the request handlers and takes back from them: the shared cloud
//! behind its lock, a request read to its end, and a response. The server, the control
//! endpoint and the instance metadata service all use this module, and none of them the
//! others' internals, so the modules depend in one direction (server -> control/imds -> wire).
//! It also serves connections, plain or TLS, for both listeners (the query protocol's and
//! Azure Resource Manager's), and reads a request's body within the limits.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info_span, warn};

use crate::cloud::Cloud;
use crate::faults::Outcome;
use crate::query::Params;

pub(crate) struct Shared {
    pub(crate) cloud: Mutex<Cloud>,
    pub(crate) max_body_bytes: usize,
    pub(crate) read_timeout: Duration,
    /// The PEM of the CA behind the HTTPS (Azure Resource Manager) port.
    pub(crate) ca_pem: String,
}

impl Shared {
    /// The cloud's lock. A panic while holding it is caught before the guard drops, so
    /// poisoning would only follow a bug in the server itself; the state is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Cloud> {
        self.cloud.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the cloud under its lock on a blocking thread, so that a runtime worker
    /// never waits for the lock nor holds it while a call is worked out: whatever else the
    /// runtime serves (an embedded API in the same process) goes on meanwhile. None when the
    /// runtime is shutting down.
    pub(crate) async fn with_cloud<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Cloud) -> R + Send + 'static,
    ) -> Option<R> {
        let shared = self.clone();
        match tokio::task::spawn_blocking(move || f(&mut shared.lock())).await {
            Ok(r) => Some(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }

    /// Counts and logs a call and decides its faults: None when a `drop` fault closes the
    /// connection, else the outcome once any injected latency has passed.
    pub(crate) async fn admit(&self, service: &str, action: &str, caller: &str) -> Option<Outcome> {
        let outcome = self
            .lock()
            .admit_named(service, action, caller, Instant::now());
        if outcome.drop {
            debug!(service, %action, "Dropping connection");
            return None;
        }
        if !outcome.latency.is_zero() {
            tokio::time::sleep(outcome.latency).await;
        }
        Some(outcome)
    }
}

pub(crate) type Resp = Response<Full<Bytes>>;

pub(crate) fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A request read to its end within the size and time limits.
pub(crate) struct Received {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a request's body could not be read; each front answers it in its own error shape.
pub(crate) enum BodyError {
    /// Not received within the read timeout.
    Timeout,
    /// Larger than this many bytes.
    TooLarge(usize),
    Unreadable,
}

impl Received {
    /// Reads a request to its end within `shared`'s size and time limits.
    pub(crate) async fn read(
        shared: &Shared,
        req: Request<Incoming>,
    ) -> Result<Received, BodyError> {
        let (parts, body) = req.into_parts();
        let limited = Limited::new(body, shared.max_body_bytes);
        let body = match tokio::time::timeout(shared.read_timeout, limited.collect()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(BodyError::TooLarge(shared.max_body_bytes));
            }
            Ok(Err(_)) => return Err(BodyError::Unreadable),
            Ok(Ok(c)) => c.to_bytes(),
        };
        Ok(Received {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            headers: parts.headers,
            body,
        })
    }

    /// A header's value, when it is text.
    pub(crate) fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query string's parameters by name (the last of a repeated one).
    pub(crate) fn query_map(&self) -> BTreeMap<String, String> {
        Params::parse(self.query.as_bytes())
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A REST path's segments after its first one (the subscription or project), each passed
/// through `decode`, and that first one (empty when the path has none).
pub(crate) fn scoped_segments(
    rest: &str,
    decode: impl Fn(&str) -> String,
) -> (String, Vec<String>) {
    let mut segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let scope = if segments.is_empty() {
        String::new()
    } else {
        segments.remove(0)
    };
    (scope, segments)
}

/// Serves HTTP/1.1 connections from `listener` until `stop` changes, through `tls` when
/// given, each request answered by `route`; a connection still open at the stop gets two
/// seconds to finish.
pub(crate) async fn accept_loop<R, F>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    route: R,
) where
    R: Fn(Arc<Shared>, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Resp, Dropped>> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(error) => {
                warn!(%error, "Accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let stop = stop.clone();
        let route = route.clone();
        let Some(acceptor) = tls.clone() else {
            conns.spawn(
                serve_conn(stream, shared, stop, route).instrument(info_span!("conn", %peer)),
            );
            continue;
        };
        conns.spawn(
            async move {
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                match handshake {
                    Ok(Ok(tls)) => serve_conn(tls, shared, stop, route).await,
                    Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
                    Err(_) => debug!("TLS handshake timed out"),
                }
            }
            .instrument(info_span!("tls_conn", %peer)),
        );
    }
    conns.shutdown().await;
}

async fn serve_conn<I, R, F>(io: I, shared: Arc<Shared>, mut stop: watch::Receiver<bool>, route: R)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Fn(Arc<Shared>, Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Resp, Dropped>> + Send + 'static,
{
    let svc = service_fn(move |req| route(shared.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(error) = r {
                debug!(%error, "Connection ended");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

/// A `drop` fault: the connection closes without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}
