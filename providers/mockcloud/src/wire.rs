//! What the server hands the request handlers and takes back from them: the shared cloud
//! behind its lock, a request read to its end, and a response. The server, the control
//! endpoint and the instance metadata service all use this module, and none of them the
//! others' internals, so the modules depend in one direction (server -> control/imds -> wire).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, header};
use http_body_util::Full;

use crate::cloud::Cloud;

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

/// A `drop` fault: the connection closes without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}
