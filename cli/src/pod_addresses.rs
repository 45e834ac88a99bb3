//! Where the sandbox's pods get their addresses. By default from the VPC, as on a cluster:
//! one `cloudnet-ipamd` per simulated node, in process, each on its own unix socket and under
//! its own API identity; the simulated kubelet asks it over gRPC with the call the CNI plugin
//! makes (`Allocate` / `Release` for the pod's sandbox, interface `eth0`).
//!
//! ```text
//!  kubelet (sim) ──gRPC, <tmp>/<node>/ipamd.sock──▶ ipamd(node) ──spec.inUse──▶ NodeNetwork
//!                                                     ▲   ▲                        │
//!                               mock IMDS (instance) ─┘   └── status.interfaces ◀── allocator
//!                                                                                   (controller,
//!                                                                                    AWS SDK)
//! ```
//!
//! A pod's address is then a secondary address of its node's ENI in the mock cloud, handed
//! out only when the NodeNetwork status and the instance metadata agree on it.
//! `--pod-addresses range` keeps the old per-node /24 ranges (no ipamd, no cloud calls per
//! pod) for worlds too big to warm pools for.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use cloudnet_ipamd::Client;
use cloudnet_ipamd::daemon::{self, Config, Running};
use cloudnet_ipamd::error::Chain;
use cloudnet_ipamd::gce_metadata::NodeMetadata;
use cloudnet_kubesim::sim::kubelet::{PodAddressSource, PodKey};
use cloudnet_kubesim::sim::node::NodeRegistration;

/// The interface name the CNI plugin is called for.
const IFNAME: &str = "eth0";
/// How long one call to ipamd may take (the CNI plugin's bound too).
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// The `--pod-addresses` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PodAddresses {
    /// Each node's own /24 out of 10.244.0.0/16; no cloud calls per pod.
    Range,
    /// ENI secondary addresses from the mock cloud, through an ipamd per node.
    Vpc,
}

/// The API identity of every node's ipamd: the token of the chart's `cloudnet-node`
/// ServiceAccount, as the DaemonSet's pods have it.
pub const NODE_IDENTITY: &str = "system:serviceaccount:kube-system:cloudnet-node";

/// One node's daemon and a connection to it.
struct NodeDaemon {
    socket: PathBuf,
    introspection: std::net::SocketAddr,
    /// Taken when the sandbox stops.
    running: std::sync::Mutex<Option<Running>>,
    client: tokio::sync::Mutex<Option<Client>>,
}

/// The ipamds of every node, as a [`PodAddressSource`].
pub struct IpamdAddresses {
    nodes: BTreeMap<String, NodeDaemon>,
    /// Sockets and checkpoints; removed when the sandbox stops.
    dir: tempfile::TempDir,
}

impl IpamdAddresses {
    /// Starts an ipamd for every node: its API identity ([`NODE_IDENTITY`]), its own instance's
    /// metadata at the mock cloud (`metadata` of the node: IMDS on AWS, the GCE metadata
    /// server on GCP), its socket and checkpoint in a private temporary directory on tmpfs
    /// (`/dev/shm` when there is one), as on a node, where they are under /run.
    pub async fn start(
        api: &cloudnet_kubesim::server::Handle,
        nodes: &[NodeRegistration],
        metadata: impl Fn(&NodeRegistration) -> NodeMetadata,
    ) -> Result<IpamdAddresses> {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("cloudnet-sandbox-ipamd-")
            .tempdir_in(&base)
            .with_context(|| format!("cannot create the ipamd directory in {}", base.display()))?;
        let mut daemons = BTreeMap::new();
        for node in nodes {
            let identity = NODE_IDENTITY;
            api.add_identity(identity);
            let client = api
                .client_for(identity)
                .await
                .with_context(|| format!("no API client for {identity}"))?;
            let home = dir.path().join(&node.name);
            let config = Config {
                socket: home.join("run").join("ipamd.sock"),
                checkpoint: home.join("lib").join("ipam.json"),
                introspection: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                // ipamd reports its use (spec.inUse, what the allocator grows the pool by) on
                // this tick; a second keeps the sandbox's pools a step ahead of its pods.
                sync_interval: Duration::from_secs(1),
                ..Config::new(&node.name)
            };
            let running = daemon::start(config.clone(), client, metadata(node))
                .await
                .with_context(|| format!("cannot start ipamd for node {}", node.name))?;
            daemons.insert(
                node.name.clone(),
                NodeDaemon {
                    socket: config.socket,
                    introspection: running.introspection,
                    running: std::sync::Mutex::new(Some(running)),
                    client: tokio::sync::Mutex::new(None),
                },
            );
        }
        Ok(IpamdAddresses {
            nodes: daemons,
            dir,
        })
    }

    /// The directory of the sockets and checkpoints (`<dir>/<node>/run/ipamd.sock`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Where a node's ipamd serves introspection (`/v1/pool`, `/metrics`).
    pub fn introspection(&self, node: &str) -> Option<std::net::SocketAddr> {
        self.nodes.get(node).map(|d| d.introspection)
    }

    /// A node's pool as its ipamd reports it over gRPC.
    pub async fn status(&self, node: &str) -> Result<cloudnet_ipamd::rpc::proto::StatusReply> {
        let d = self
            .nodes
            .get(node)
            .with_context(|| format!("no ipamd on node {node}"))?;
        Ok(self.client(d).await?.status().await?)
    }

    async fn client(&self, d: &NodeDaemon) -> cloudnet_ipamd::Result<Client> {
        let mut cached = d.client.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let c = Client::connect(&d.socket, RPC_TIMEOUT).await?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// One `Allocate`. A pool that is not synced, not grown yet or full fails at once: the
    /// kubelet records why on the pod and tries again on its next pass, as it does when the
    /// CNI plugin fails.
    async fn allocate(&self, d: &NodeDaemon, pod: &PodKey) -> cloudnet_ipamd::Result<IpAddr> {
        let mut c = self.client(d).await?;
        match c.allocate_pod(&pod.uid, IFNAME, &pod_ref(pod)).await {
            Ok(a) => a.address.parse().map_err(|_| {
                cloudnet_ipamd::Error::Protocol(format!(
                    "Allocate answered a bad address {:?}",
                    a.address
                ))
            }),
            Err(e) => {
                if !matches!(e, cloudnet_ipamd::Error::Rpc(_)) {
                    // The connection may be what failed: dial again next time.
                    *d.client.lock().await = None;
                }
                Err(e)
            }
        }
    }

    /// Stops every daemon (their checkpoints stay consistent: each change was fsync'd).
    pub async fn stop(&self) {
        for (node, d) in &self.nodes {
            let running = d.running.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(running) = running
                && let Err(error) = running.stop().await
            {
                tracing::warn!(node, error = %Chain(&error), "ipamd ended with an error");
            }
        }
    }
}

/// The pod as the kubelet names it to the CNI plugin (`K8S_POD_*`).
fn pod_ref(pod: &PodKey) -> cloudnet_ipamd::PodRef {
    cloudnet_ipamd::PodRef::new(&pod.namespace, &pod.name, &pod.uid)
}

#[async_trait]
impl PodAddressSource for IpamdAddresses {
    async fn acquire(&self, node: &str, pod: &PodKey) -> cloudnet_kubesim::Result<IpAddr> {
        let no_address = |reason: String| cloudnet_kubesim::Error::NoAddress {
            node: node.to_string(),
            reason,
        };
        let d = self
            .nodes
            .get(node)
            .ok_or_else(|| no_address("no ipamd runs on this node".into()))?;
        self.allocate(d, pod).await.map_err(|e| match e {
            cloudnet_ipamd::Error::Rpc(s) if s.code() == tonic::Code::ResourceExhausted => {
                cloudnet_kubesim::Error::PoolExhausted {
                    pool: format!("ipamd on {node} ({})", s.message()),
                }
            }
            other => no_address(Chain(&other).to_string()),
        })
    }

    async fn release(&self, node: &str, pod: &PodKey) {
        let Some(d) = self.nodes.get(node) else {
            return;
        };
        let released = match self.client(d).await {
            Ok(mut c) => c
                .release_pod(&pod.uid, IFNAME, &pod_ref(pod))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(error) = released {
            // The address stays held in ipamd (its introspection shows it) until a CNI GC
            // names the live pods, as on a node whose runtime missed a DEL.
            tracing::warn!(node, pod = %format!("{}/{}", pod.namespace, pod.name), error = %Chain(&error), "Cannot release a pod address");
        }
    }
}
