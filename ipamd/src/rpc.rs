//! The gRPC service on the unix socket, and the client the CNI plugin (or a simulated
//! kubelet) uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};

use crate::core::Core;
use crate::error::{Chain, Error, Result};
use crate::metrics::RpcLabels;
use crate::state::{AllocKey, AllocRequest, Allocation, PodRef};

/// The longest an `Allocate` is held waiting for the pool to grow, whatever it asks.
pub const MAX_ADDRESS_WAIT: Duration = Duration::from_secs(10);

#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("cloudnet.ipam.v1");
}

use proto::ipam_client::IpamClient;
use proto::ipam_server::{Ipam, IpamServer};

fn to_proto(a: &Allocation) -> proto::Address {
    proto::Address {
        address: a.address.to_string(),
        prefix_len: 32,
        interface_id: a.interface.clone(),
        block: a.block.to_string(),
        pod_namespace: a.pod_namespace.clone(),
        pod_name: a.pod_name.clone(),
        pod_uid: a.pod_uid.clone(),
    }
}

fn key(a: Option<proto::Attachment>) -> Result<AllocKey, Status> {
    let a = a.ok_or_else(|| Status::invalid_argument("attachment is required"))?;
    if a.container_id.is_empty() || a.ifname.is_empty() {
        return Err(Status::invalid_argument(
            "attachment needs a container id and an interface name",
        ));
    }
    Ok(AllocKey::new(a.container_id, a.ifname))
}

fn status(e: Error) -> Status {
    match e {
        Error::PoolExhausted { .. } => Status::resource_exhausted(e.to_string()),
        Error::NotSynced => Status::unavailable(e.to_string()),
        Error::InvalidRequest(_) => Status::invalid_argument(e.to_string()),
        other => Status::internal(Chain(&other).to_string()),
    }
}

/// Records an RPC's duration when dropped.
struct Timer<'a> {
    core: &'a Core,
    method: &'static str,
    start: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.core.trace() {
            t.handler(self.start.elapsed());
        }
        self.core
            .metrics
            .rpc_seconds
            .get_or_create(&RpcLabels {
                method: self.method,
            })
            .observe(self.start.elapsed().as_secs_f64());
    }
}

pub struct Service {
    core: Core,
}

impl Service {
    pub fn new(core: Core) -> Self {
        Service { core }
    }

    fn timer(&self, method: &'static str) -> Timer<'_> {
        Timer {
            core: &self.core,
            method,
            start: Instant::now(),
        }
    }
}

#[tonic::async_trait]
impl Ipam for Service {
    async fn allocate(
        &self,
        req: Request<proto::AllocateRequest>,
    ) -> Result<Response<proto::AllocateReply>, Status> {
        let _t = self.timer("allocate");
        let r = req.into_inner();
        let wait = Duration::from_millis(u64::from(r.wait_ms)).min(MAX_ADDRESS_WAIT);
        let req = AllocRequest {
            key: key(r.attachment)?,
            pod_namespace: r.pod_namespace,
            pod_name: r.pod_name,
            pod_uid: r.pod_uid,
        };
        let a = self
            .core
            .allocate_within(&req, wait)
            .await
            .map_err(status)?;
        tracing::debug!(container = %a.key.container_id, address = %a.address, "Allocated");
        Ok(Response::new(proto::AllocateReply {
            address: Some(to_proto(&a)),
        }))
    }

    async fn release(
        &self,
        req: Request<proto::ReleaseRequest>,
    ) -> Result<Response<proto::ReleaseReply>, Status> {
        let _t = self.timer("release");
        let r = req.into_inner();
        let k = key(r.attachment)?;
        let a = self.core.release(&k, &r.pod_uid).await.map_err(status)?;
        Ok(Response::new(proto::ReleaseReply {
            released: a.as_ref().map(to_proto),
        }))
    }

    async fn check(
        &self,
        req: Request<proto::CheckRequest>,
    ) -> Result<Response<proto::CheckReply>, Status> {
        let _t = self.timer("check");
        let k = key(req.into_inner().attachment)?;
        Ok(Response::new(proto::CheckReply {
            address: self.core.check(&k).as_ref().map(to_proto),
        }))
    }

    async fn gc(&self, req: Request<proto::GcRequest>) -> Result<Response<proto::GcReply>, Status> {
        let _t = self.timer("gc");
        let valid = req
            .into_inner()
            .valid
            .into_iter()
            .map(|a| key(Some(a)))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let freed = self.core.gc(&valid).await.map_err(status)?;
        Ok(Response::new(proto::GcReply {
            released: freed.iter().map(to_proto).collect(),
        }))
    }

    async fn status(
        &self,
        _req: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusReply>, Status> {
        let _t = self.timer("status");
        let (synced, c) = self.core.counts();
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(Response::new(proto::StatusReply {
            synced,
            total: n(c.total),
            assigned: n(c.assigned),
            cooling: n(c.cooling),
            free: n(c.free),
        }))
    }
}

/// Binds the socket (0600 in a 0700 directory). A socket file left by a dead daemon is
/// removed with a log line; one a live daemon answers on is an error.
pub async fn bind(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        crate::fsutil::private_dir(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(Error::AlreadyRunning(path.to_path_buf()));
        }
        tracing::warn!(path = %path.display(), "Removed a stale socket file left by a previous run");
        std::fs::remove_file(path).map_err(|e| Error::io("remove stale socket", path, e))?;
    }
    let l = UnixListener::bind(path).map_err(|e| Error::io("bind", path, e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("chmod", path, e))?;
    Ok(l)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    core: Core,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    Server::builder()
        .add_service(IpamServer::new(Service::new(core)))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

/// A connection to ipamd. Every call is bounded by the client's timeout, the connection
/// included, so a caller never waits longer on a dead daemon.
#[derive(Clone, Debug)]
pub struct Client {
    inner: IpamClient<tonic::transport::Channel>,
    timeout: Duration,
    address_wait: Duration,
}

impl Client {
    pub async fn connect(socket: impl Into<PathBuf>, timeout: Duration) -> Result<Self> {
        let socket = socket.into();
        let endpoint = Endpoint::from_static("http://ipamd.invalid")
            .connect_timeout(timeout)
            .timeout(timeout);
        let connect = endpoint.connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }));
        let channel = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        Ok(Client {
            inner: IpamClient::new(channel),
            timeout,
            address_wait: Duration::ZERO,
        })
    }

    /// Lets each `Allocate` wait up to `wait` in ipamd for an address when none is free,
    /// answered as soon as the pool grows (kept under the call's timeout); zero (the
    /// default) is refused at once.
    pub fn with_address_wait(mut self, wait: Duration) -> Self {
        self.address_wait = wait.min(self.timeout.saturating_sub(self.timeout / 4));
        self
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => Ok(r?.into_inner()),
            Err(_) => Err(Error::Timeout(self.timeout)),
        }
    }

    /// An address for a pod named without its UID (see [`Client::allocate_pod`]).
    pub async fn allocate(
        &mut self,
        container_id: &str,
        ifname: &str,
        pod_namespace: &str,
        pod_name: &str,
    ) -> Result<proto::Address> {
        let pod = PodRef::new(pod_namespace, pod_name, "");
        self.allocate_pod(container_id, ifname, &pod).await
    }

    /// An address for the attachment of `pod`; the pod's UID tells it from a later pod of
    /// the same name.
    pub async fn allocate_pod(
        &mut self,
        container_id: &str,
        ifname: &str,
        pod: &PodRef,
    ) -> Result<proto::Address> {
        let req = proto::AllocateRequest {
            attachment: Some(attachment(container_id, ifname)),
            pod_namespace: pod.namespace.clone(),
            pod_name: pod.name.clone(),
            pod_uid: pod.uid.clone(),
            wait_ms: u32::try_from(self.address_wait.as_millis()).unwrap_or(u32::MAX),
        };
        let mut c = self.inner.clone();
        self.bounded(c.allocate(req))
            .await?
            .address
            .ok_or_else(|| Error::Protocol("Allocate answered without an address".into()))
    }

    /// Frees an attachment of a pod named without its UID (see [`Client::release_pod`]).
    pub async fn release(
        &mut self,
        container_id: &str,
        ifname: &str,
        pod_namespace: &str,
        pod_name: &str,
    ) -> Result<Option<proto::Address>> {
        let pod = PodRef::new(pod_namespace, pod_name, "");
        self.release_pod(container_id, ifname, &pod).await
    }

    /// Frees the attachment's address, or, when it holds none, the address rebuilt from the
    /// API for the pod's UID.
    pub async fn release_pod(
        &mut self,
        container_id: &str,
        ifname: &str,
        pod: &PodRef,
    ) -> Result<Option<proto::Address>> {
        let req = proto::ReleaseRequest {
            attachment: Some(attachment(container_id, ifname)),
            pod_namespace: pod.namespace.clone(),
            pod_name: pod.name.clone(),
            pod_uid: pod.uid.clone(),
        };
        let mut c = self.inner.clone();
        Ok(self.bounded(c.release(req)).await?.released)
    }

    pub async fn check(
        &mut self,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<proto::Address>> {
        let req = proto::CheckRequest {
            attachment: Some(attachment(container_id, ifname)),
        };
        let mut c = self.inner.clone();
        Ok(self.bounded(c.check(req)).await?.address)
    }

    pub async fn gc(&mut self, valid: &[(String, String)]) -> Result<Vec<proto::Address>> {
        let req = proto::GcRequest {
            valid: valid.iter().map(|(c, i)| attachment(c, i)).collect(),
        };
        let mut c = self.inner.clone();
        Ok(self.bounded(c.gc(req)).await?.released)
    }

    pub async fn status(&mut self) -> Result<proto::StatusReply> {
        let mut c = self.inner.clone();
        self.bounded(c.status(proto::StatusRequest {})).await
    }
}

fn attachment(container_id: &str, ifname: &str) -> proto::Attachment {
    proto::Attachment {
        container_id: container_id.into(),
        ifname: ifname.into(),
    }
}
