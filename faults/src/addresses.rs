//! The simulated kubelet's side of the CNI: for each pod it calls its node's ipamd over the
//! unix socket with the call the CNI plugin makes (`Allocate` / `Release`, interface `eth0`).
//! The ipamds are processes that scenarios kill and restart, so a failed call drops the
//! connection and the next one dials again; a call while ipamd is down fails as the CNI
//! plugin's does, and the kubelet tries again on its next pass.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use cloudnet_ipamd::Client;
use cloudnet_ipamd::error::Chain;
use cloudnet_kubesim::sim::kubelet::{PodAddressSource, PodKey};

const IFNAME: &str = "eth0";
/// The CNI plugin's bound on one call.
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// Each node's ipamd socket, and a connection to it.
pub struct IpamdSockets {
    nodes: BTreeMap<String, (PathBuf, tokio::sync::Mutex<Option<Client>>)>,
}

impl IpamdSockets {
    pub fn new(sockets: impl IntoIterator<Item = (String, PathBuf)>) -> IpamdSockets {
        IpamdSockets {
            nodes: sockets
                .into_iter()
                .map(|(node, s)| (node, (s, tokio::sync::Mutex::new(None))))
                .collect(),
        }
    }

    async fn client(&self, node: &str) -> cloudnet_ipamd::Result<Client> {
        let Some((socket, cached)) = self.nodes.get(node) else {
            return Err(cloudnet_ipamd::Error::Protocol(format!(
                "no ipamd on node {node}"
            )));
        };
        let mut cached = cached.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let c = Client::connect(socket, RPC_TIMEOUT).await?;
        *cached = Some(c.clone());
        Ok(c)
    }

    async fn forget(&self, node: &str) {
        if let Some((_, cached)) = self.nodes.get(node) {
            *cached.lock().await = None;
        }
    }
}

#[async_trait]
impl PodAddressSource for IpamdSockets {
    async fn acquire(&self, node: &str, pod: &PodKey) -> cloudnet_kubesim::Result<IpAddr> {
        let no_address = |reason: String| cloudnet_kubesim::Error::NoAddress {
            node: node.to_string(),
            reason,
        };
        let answer = match self.client(node).await {
            Ok(mut c) => {
                c.allocate(&pod.uid, IFNAME, &pod.namespace, &pod.name)
                    .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(a) => a
                .address
                .parse()
                .map_err(|_| no_address(format!("ipamd answered a bad address {:?}", a.address))),
            Err(cloudnet_ipamd::Error::Rpc(s)) if s.code() == tonic::Code::ResourceExhausted => {
                Err(cloudnet_kubesim::Error::PoolExhausted {
                    pool: format!("ipamd on {node} ({})", s.message()),
                })
            }
            Err(e) => {
                self.forget(node).await;
                Err(no_address(Chain(&e).to_string()))
            }
        }
    }

    async fn release(&self, node: &str, pod: &PodKey) {
        let released = match self.client(node).await {
            Ok(mut c) => c
                .release(&pod.uid, IFNAME, &pod.namespace, &pod.name)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(error) = released {
            self.forget(node).await;
            tracing::warn!(node, pod = %format!("{}/{}", pod.namespace, pod.name), error = %Chain(&error), "Cannot release a pod address");
        }
    }
}
