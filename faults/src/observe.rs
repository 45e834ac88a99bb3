//! What each source says, read independently: the API (pods, Nodes, Services), the mock
//! cloud's state dump and call log (its control endpoint), each ipamd's introspection
//! endpoint and each node's checkpoint files. One [`Snapshot`] per sample; the
//! [`crate::invariants`] compare them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::clouds::Cloud;
use crate::env::Env;
use crate::http;

/// A pod as the API shows it.
#[derive(Debug, Clone)]
pub struct PodView {
    /// `namespace/name`.
    pub key: String,
    pub node: Option<String>,
    pub ip: Option<Ipv4Addr>,
    pub running: bool,
    pub ready: bool,
    pub deleting: bool,
    pub labels: BTreeMap<String, String>,
}

/// One call from the mock cloud's call log.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Call {
    pub seq: u64,
    pub at_ms: u64,
    pub caller: String,
    pub call: String,
    #[serde(default)]
    pub denied: bool,
}

impl Call {
    /// Whether the call changes something (not a read, in the cloud's own naming).
    pub fn is_mutating(&self) -> bool {
        Cloud::is_mutating(&self.call)
    }
}

/// Everything read in one sample.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Instant,
    /// The cloud the state dump is read as.
    pub provider: Cloud,
    pub pods: Vec<PodView>,
    /// Node name -> instance ID (from `spec.providerID`).
    pub node_instance: BTreeMap<String, String>,
    /// `namespace/name` of each LoadBalancer Service -> the hostname (or address) in its
    /// status.
    pub services: BTreeMap<String, Option<String>>,
    /// `namespace/name` of each Ingress -> the hostname in its status.
    pub ingresses: BTreeMap<String, Option<String>>,
    /// The mock cloud's state dump.
    pub cloud: Value,
    /// Per node, the allocations its ipamd reports (`None`: it did not answer).
    pub ipamd: BTreeMap<String, Option<Vec<(Ipv4Addr, String)>>>,
    /// Per node, the allocations its checkpoint holds (`None`: missing or unreadable).
    pub checkpoints: BTreeMap<String, Option<Vec<(Ipv4Addr, String)>>>,
}

impl Snapshot {
    pub async fn take(env: &Env) -> Result<Snapshot> {
        let at = Instant::now();
        let pods = Api::<Pod>::all(env.client.clone())
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.host_network) != Some(true))
            .map(pod_view)
            .collect();
        let node_instance = Api::<Node>::all(env.client.clone())
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| {
                let name = n.metadata.name?;
                let id = n.spec?.provider_id?;
                Some((name, id.rsplit('/').next()?.to_string()))
            })
            .collect();
        let services = Api::<Service>::all(env.client.clone())
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
            .map(|s| key_and_hostname(&s.metadata, serde_json::to_value(&s.status)))
            .collect();
        let ingresses = Api::<Ingress>::all(env.client.clone())
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|i| key_and_hostname(&i.metadata, serde_json::to_value(&i.status)))
            .collect();
        let cloud = http::request(env.control(), "GET", "/_mockcloud/state", None).await?;
        let mut ipamd = BTreeMap::new();
        let mut checkpoints = BTreeMap::new();
        for n in &env.nodes {
            let reported = http::request(n.introspection, "GET", "/v1/allocations", None)
                .await
                .ok()
                .map(|v| allocations(&v));
            ipamd.insert(n.name.clone(), reported);
            let saved = match cloudnet_ipamd::checkpoint::load(&n.checkpoint) {
                Ok(Ok(p)) => Some(
                    p.allocations
                        .iter()
                        .map(|a| (a.address, format!("{}/{}", a.pod_namespace, a.pod_name)))
                        .collect(),
                ),
                _ => None,
            };
            checkpoints.insert(n.name.clone(), saved);
        }
        Ok(Snapshot {
            at,
            provider: env.options.cloud,
            pods,
            node_instance,
            services,
            ingresses,
            cloud,
            ipamd,
            checkpoints,
        })
    }

    /// The mock cloud's clock at this sample.
    pub fn cloud_ms(&self) -> u64 {
        self.cloud["now_ms"].as_u64().unwrap_or(0)
    }

    /// Pods that are not being deleted, with `app=<app>`.
    pub fn app_pods(&self, app: &str) -> impl Iterator<Item = &PodView> {
        self.pods
            .iter()
            .filter(move |p| !p.deleting && p.labels.get("app").map(String::as_str) == Some(app))
    }

    /// Whether a pod has a working address: Running, with an address that is on its node's
    /// interface in the cloud.
    pub fn pod_has_working_address(&self, pod: &PodView) -> bool {
        let (Some(ip), Some(node)) = (pod.ip, pod.node.as_ref()) else {
            return false;
        };
        pod.running
            && self
                .node_instance
                .get(node)
                .is_some_and(|i| self.provider.address_on_instance(&self.cloud, i, ip))
    }

    /// The target a Service's backend group holds for `pod` (its address, or on GCP its
    /// node's).
    pub fn service_target(&self, pod: &PodView) -> Option<String> {
        let instance = self.node_instance.get(pod.node.as_ref()?)?;
        self.provider.service_target(&self.cloud, instance, pod.ip?)
    }

    /// The cluster's backend groups: ID -> (registered target addresses, routed by a
    /// listener or rule).
    pub fn target_groups(&self) -> BTreeMap<String, (BTreeSet<String>, bool)> {
        self.provider.target_groups(&self.cloud)
    }

    /// The ARN of the cluster's load balancer under the hostname of the Ingress `key`.
    pub fn ingress_load_balancer(&self, key: &str) -> Option<String> {
        let host = self.ingresses.get(key)?.as_ref()?;
        self.load_balancers()
            .into_iter()
            .find(|(_, (dns, _))| dns == host)
            .map(|(arn, _)| arn)
    }

    /// The paths the rules of the load balancer `lb`'s listeners match (every string
    /// starting with `/` in their conditions; on GCP the path rules of its URL map).
    pub fn rule_paths(&self, lb: &str) -> BTreeSet<String> {
        if self.provider == crate::Cloud::Gcp {
            return crate::clouds::gcp::rule_paths(&self.cloud, lb);
        }
        if self.provider == Cloud::Azure {
            return crate::clouds::azure::rule_paths(&self.cloud, lb);
        }
        let elbv2 = &self.cloud["elbv2"];
        let listeners: BTreeSet<&str> = elbv2["listeners"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, l)| l["load_balancer_arn"].as_str() == Some(lb))
            .map(|(arn, _)| arn.as_str())
            .collect();
        let mut out = BTreeSet::new();
        for rule in elbv2["rules"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
        {
            if rule["listener_arn"]
                .as_str()
                .is_some_and(|l| listeners.contains(l))
            {
                paths_in(&rule["conditions"], &mut out);
            }
        }
        out
    }

    /// The cluster's load balancers: ID -> (DNS name or address, number of listeners).
    pub fn load_balancers(&self) -> BTreeMap<String, (String, usize)> {
        self.provider.load_balancers(&self.cloud)
    }
}

/// `namespace/name` of a Service or Ingress, and the hostname (else the address) of the
/// first load balancer ingress in its status.
fn key_and_hostname(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    status: serde_json::Result<Value>,
) -> (String, Option<String>) {
    let key = format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    );
    let host = status.ok().and_then(|s| {
        let first = &s["loadBalancer"]["ingress"][0];
        first["hostname"]
            .as_str()
            .or_else(|| first["ip"].as_str())
            .map(str::to_string)
    });
    (key, host)
}

fn paths_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(p) if p.starts_with('/') => {
            out.insert(p.clone());
        }
        Value::Array(a) => a.iter().for_each(|v| paths_in(v, out)),
        Value::Object(o) => o.values().for_each(|v| paths_in(v, out)),
        _ => {}
    }
}

/// Whether an AWS resource in the state dump carries this cluster's ownership tag.
pub use crate::clouds::aws::owned;

fn pod_view(p: Pod) -> PodView {
    let key = format!(
        "{}/{}",
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default()
    );
    let status = p.status.unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    PodView {
        key,
        node: p.spec.and_then(|s| s.node_name),
        ip: status.pod_ip.and_then(|ip| ip.parse().ok()),
        running: status.phase.as_deref() == Some("Running"),
        ready,
        deleting: p.metadata.deletion_timestamp.is_some(),
        labels: p.metadata.labels.unwrap_or_default(),
    }
}

/// `(address, namespace/name)` of each allocation in ipamd's `/v1/allocations`.
fn allocations(v: &Value) -> Vec<(Ipv4Addr, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let ip = a["address"].as_str()?.parse().ok()?;
            let ns = a["pod_namespace"]
                .as_str()
                .or_else(|| a["podNamespace"].as_str())?;
            let name = a["pod_name"].as_str().or_else(|| a["podName"].as_str())?;
            Some((ip, format!("{ns}/{name}")))
        })
        .collect()
}

/// The mock cloud's calls after `since`.
pub async fn calls_since(env: &Env, since: u64) -> Result<(Vec<Call>, u64)> {
    let page = http::request(
        env.control(),
        "GET",
        &format!("/_mockcloud/call-log?since={since}"),
        None,
    )
    .await?;
    let calls: Vec<Call> = serde_json::from_value(page["calls"].clone())?;
    let last = page["last_seq"].as_u64().unwrap_or(since);
    Ok((calls, last))
}
