//! The HTTP server: one listener for the AWS query protocol (EC2 and ELBv2, told apart by the
//! SigV4 credential scope or, unsigned, by `Version`), the instance metadata service
//! (`/latest/...`, `/_mockcloud/imds/<instance-id>/latest/...`) and the control endpoint
//! (`/_mockcloud/...`).
//!
//! Bad input never panics or hangs the server: bodies are capped, reads time out, a handler
//! panic becomes `InternalError`, and a `drop` fault closes the connection on purpose.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, header};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span};

use crate::awserror::AwsError;
use crate::cloud::{Cloud, Service};
use crate::ec2::World;
use crate::error::{Error, Result};
use crate::query::Params;
use crate::wire::{self, BodyError, Dropped, Received, Resp, Shared, respond};
use crate::xml::{ELBV2_XMLNS, ec2_response, query_response};
use crate::{arm, authz, azimds, calllog, control, gce, gcemeta, imds, tls};

/// The default listen address, as LocalStack's.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";

/// The default Azure Resource Manager (HTTPS) listen address of the binary.
pub const DEFAULT_ARM_LISTEN: &str = "127.0.0.1:4567";

/// How a mock cloud starts.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where Azure Resource Manager listens (HTTPS); an ephemeral port on the main
    /// listener's address when None.
    pub arm_listen: Option<SocketAddr>,
    pub world: World,
    /// Larger request bodies are refused.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request.
    pub read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            arm_listen: None,
            world: World::default(),
            max_body_bytes: 8 << 20,
            read_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Listens on an ephemeral loopback port (for tests).
    pub fn ephemeral(world: World) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            world,
            ..Config::default()
        }
    }
}

/// The mock cloud server.
pub struct MockCloud;

/// A running mock cloud.
pub struct Handle {
    addr: SocketAddr,
    arm_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    arm_task: tokio::task::JoinHandle<()>,
}

impl MockCloud {
    /// Binds the listener and serves in the background until [`Handle::shutdown`].
    pub async fn start(config: Config) -> Result<Handle> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        let arm_listen = config
            .arm_listen
            .unwrap_or_else(|| SocketAddr::new(config.listen.ip(), 0));
        let arm_listener = TcpListener::bind(arm_listen)
            .await
            .map_err(|source| Error::Bind {
                addr: arm_listen,
                source,
            })?;
        let arm_addr = arm_listener.local_addr()?;
        let cert = tls::generate()?;
        let shared = Arc::new(Shared {
            cloud: Mutex::new(Cloud::new(config.world)?),
            max_body_bytes: config.max_body_bytes,
            read_timeout: config.read_timeout,
            ca_pem: cert.ca_pem,
        });
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(
            wire::accept_loop(listener, None, shared.clone(), rx.clone(), route)
                .instrument(info_span!("mockcloud", %addr)),
        );
        let arm_task = tokio::spawn(
            wire::accept_loop(
                arm_listener,
                Some(tokio_rustls::TlsAcceptor::from(cert.server_config)),
                shared.clone(),
                rx,
                arm::route,
            )
            .instrument(info_span!("mockcloud_arm", %arm_addr)),
        );
        info!(%addr, %arm_addr, "Mock cloud listening");
        Ok(Handle {
            addr,
            arm_addr,
            shared,
            shutdown: tx,
            task,
            arm_task,
        })
    }
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What to give SDKs and the `aws` CLI as `--endpoint-url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Azure Resource Manager (HTTPS) address.
    pub fn arm_addr(&self) -> SocketAddr {
        self.arm_addr
    }

    /// What to give Azure SDKs as their Resource Manager endpoint (`base_url`).
    pub fn arm_endpoint_url(&self) -> String {
        format!("https://{}", self.arm_addr)
    }

    /// The PEM of the CA that signed the HTTPS certificate (also `GET /_mockcloud/ca.pem`).
    pub fn ca_pem(&self) -> &str {
        &self.shared.ca_pem
    }

    /// Runs `f` on the cloud's state under its lock (for tests and embedders).
    pub fn with_cloud<R>(&self, f: impl FnOnce(&mut Cloud) -> R) -> R {
        f(&mut self.shared.lock())
    }

    /// Stops accepting, lets in-flight requests finish briefly, then closes everything.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = self.arm_task.await;
    }
}

fn receive_error(e: BodyError) -> AwsError {
    match e {
        BodyError::Timeout => AwsError::client(
            "RequestTimeout",
            "The request body was not received in time",
        ),
        BodyError::TooLarge(limit) => AwsError::client(
            "RequestEntityTooLarge",
            format!("The request body exceeds {limit} bytes"),
        )
        .with_status(413),
        BodyError::Unreadable => {
            AwsError::client("MalformedQueryString", "The request body could not be read")
        }
    }
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    let path = req.uri().path().to_string();
    let is_imds = path.starts_with("/latest/") || path.starts_with("/_mockcloud/imds/");
    let rx = match Received::read(&shared, req).await {
        Ok(rx) => rx,
        Err(e) => return Ok(error_response(None, &receive_error(e), "")),
    };
    if is_imds {
        return off_runtime(shared, rx, imds::handle).await;
    }
    if path.starts_with(gce::PATH_PREFIX) {
        return gce::handle(&shared, rx).await.ok_or(Dropped);
    }
    if path.starts_with("/computeMetadata/") || path.starts_with(gcemeta::PATH_PREFIX) {
        return off_runtime(shared, rx, gcemeta::handle).await;
    }
    if path.starts_with("/metadata/") || path.starts_with(azimds::PATH_PREFIX) {
        return off_runtime(shared, rx, azimds::handle).await;
    }
    if path.starts_with("/_mockcloud/") {
        return off_runtime(shared, rx, control::handle).await;
    }
    query(&shared, rx).await
}

/// Answers a request whose handler works under the cloud's lock from start to end (the
/// metadata services, the control endpoint) on a blocking thread, as
/// [`Shared::with_cloud`] does for the cloud APIs: a runtime worker never waits for the lock.
async fn off_runtime(
    shared: Arc<Shared>,
    rx: Received,
    handler: fn(&Shared, &Received) -> Resp,
) -> Result<Resp, Dropped> {
    match tokio::task::spawn_blocking(move || handler(&shared, &rx)).await {
        Ok(r) => Ok(r),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Dropped),
    }
}

/// The service a request is for: the SigV4 scope first, then `Version`.
fn service_of(headers: &HeaderMap, params: &Params) -> Option<Service> {
    let scoped = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| {
            let cred = auth.split("Credential=").nth(1)?;
            let cred = cred.split([',', ' ']).next()?;
            Service::from_signing_name(cred.split('/').nth(3)?)
        });
    scoped.or_else(|| params.get("Version").and_then(Service::from_version))
}

fn error_response(service: Option<Service>, e: &AwsError, rid: &str) -> Resp {
    let body = match service {
        Some(Service::Elbv2) => e.to_query_xml(ELBV2_XMLNS, rid),
        _ => e.to_ec2_xml(rid),
    };
    let mut r = respond(e.status, "text/xml;charset=UTF-8", body);
    if let Ok(v) = header::HeaderValue::from_str(rid) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

async fn query(shared: &Shared, rx: Received) -> Result<Resp, Dropped> {
    let mut params = Params::parse(rx.query.as_bytes());
    if !rx.body.is_empty() {
        let body = Params::parse(&rx.body);
        params = Params::from_pairs(
            params
                .iter()
                .chain(body.iter())
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    let rid = shared.lock().ids.request_id();
    let Some(service) = service_of(&rx.headers, &params) else {
        let e = AwsError::client(
            "InvalidAction",
            "Could not determine the service: sign the request (SigV4 credential scope ec2 or elasticloadbalancing) or give a known Version",
        );
        return Ok(error_response(None, &e, &rid));
    };
    let Some(action) = params.action().map(str::to_string) else {
        let e = AwsError::client(
            "MissingAction",
            "The request must contain the parameter Action",
        );
        return Ok(error_response(Some(service), &e, &rid));
    };
    let caller = calllog::caller_of(rx.header(header::AUTHORIZATION));
    let authorized = authz::authorize(
        &mut shared.lock(),
        service,
        &action,
        &params,
        &caller,
        Instant::now(),
    );
    if let Err(e) = authorized {
        debug!(service = service.name(), %action, %caller, code = %e.code, "Refused by IAM");
        return Ok(error_response(Some(service), &e, &rid));
    }
    let Some(outcome) = shared.admit(service.name(), &action, &caller).await else {
        return Err(Dropped);
    };
    if let Some(e) = outcome.error {
        debug!(service = service.name(), %action, code = %e.code, "Injected error");
        return Ok(error_response(Some(service), &e, &rid));
    }
    let result = {
        let mut cloud = shared.lock();
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            cloud.handle(service, &action, &params, Instant::now(), outcome.hide_ms)
        }))
        .unwrap_or_else(|_| {
            Err(AwsError::server(
                500,
                "InternalError",
                "An internal error has occurred",
            ))
        })
    };
    match result {
        Ok(body) => {
            let xml = match service {
                Service::Ec2 => ec2_response(&action, &rid, &body),
                Service::Elbv2 => query_response(ELBV2_XMLNS, &action, &rid, &body),
            };
            let mut r = respond(200, "text/xml;charset=UTF-8", xml);
            if let Ok(v) = header::HeaderValue::from_str(&rid) {
                r.headers_mut().insert("x-amzn-requestid", v);
            }
            Ok(r)
        }
        Err(e) => {
            debug!(service = service.name(), %action, code = %e.code, "Request failed");
            Ok(error_response(Some(service), &e, &rid))
        }
    }
}
