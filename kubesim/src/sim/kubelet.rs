//! Brings bound pods up: an address from the node's [`PodAddressSource`] (a host-network pod
//! takes the node's own), Running, Ready when every readiness gate is True; the address goes
//! back when the pod goes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use crate::compact::Doc;
use crate::error::{Error, Reason, StatusError};
use crate::meta;
use crate::store::Store;

/// The pod an address is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Where a node's pods get their addresses: a per-node range ([`RangeAddressSource`]), or the
/// node's daemon (the sandbox's ipamd source, the same call the CNI plugin makes).
#[async_trait]
pub trait PodAddressSource: Send + Sync {
    async fn acquire(&self, node: &str, pod: &PodKey) -> crate::Result<IpAddr>;
    async fn release(&self, node: &str, pod: &PodKey);
}

/// Gives each node its own /24 out of a pod CIDR (node N gets the N-th /24, in order of first
/// use).
pub struct RangeAddressSource {
    cidr: Ipv4Net,
    state: Mutex<RangeState>,
}

#[derive(Default)]
struct RangeState {
    node_ranges: BTreeMap<String, Ipv4Net>,
    used: HashMap<String, BTreeMap<Ipv4Addr, PodKey>>,
}

impl RangeAddressSource {
    pub fn new(cidr: Ipv4Net) -> Self {
        Self {
            cidr,
            state: Mutex::default(),
        }
    }
}

impl Default for RangeAddressSource {
    fn default() -> Self {
        Self::new(Ipv4Net::new(Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default())
    }
}

#[async_trait]
impl PodAddressSource for RangeAddressSource {
    async fn acquire(&self, node: &str, pod: &PodKey) -> crate::Result<IpAddr> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let range = match s.node_ranges.get(node) {
            Some(r) => *r,
            None => {
                let taken: Vec<Ipv4Net> = s.node_ranges.values().copied().collect();
                let range = self
                    .cidr
                    .subnets(24)
                    .ok()
                    .and_then(|mut subnets| subnets.find(|n| !taken.contains(n)))
                    .ok_or_else(|| Error::PoolExhausted {
                        pool: self.cidr.to_string(),
                    })?;
                s.node_ranges.insert(node.to_string(), range);
                range
            }
        };
        let used = s.used.entry(node.to_string()).or_default();
        if let Some((ip, _)) = used.iter().find(|(_, p)| *p == pod) {
            return Ok(IpAddr::V4(*ip));
        }
        let ip = range
            .hosts()
            .skip(1)
            .find(|ip| !used.contains_key(ip))
            .ok_or_else(|| Error::PoolExhausted {
                pool: range.to_string(),
            })?;
        used.insert(ip, pod.clone());
        Ok(IpAddr::V4(ip))
    }

    async fn release(&self, node: &str, pod: &PodKey) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(used) = s.used.get_mut(node) {
            used.retain(|_, p| p != pod);
        }
    }
}

/// The events a kubelet records when it starts a pod's containers (every image is present
/// on a simulated node, so nothing is pulled).
fn container_events(store: &Store, pod: &Value, node: &str) {
    let source = Source {
        component: "kubelet",
        host: Some(node),
    };
    for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let name = container["name"].as_str().unwrap_or_default();
        let image = container["image"].as_str().unwrap_or_default();
        for (reason, message) in [
            (
                "Pulled",
                format!("Container image {image:?} already present on machine"),
            ),
            ("Created", format!("Created container: {name}")),
            ("Started", format!("Started container {name}")),
        ] {
            let event = Event {
                api_version: "v1",
                kind: "Pod",
                field_path: Some(format!("spec.containers{{{name}}}")),
                event_type: EventType::Normal,
                reason,
                message,
            };
            events::record(store, pod, &event, &source);
        }
    }
}

/// The kubelets of every node, sharing one address source.
pub struct Kubelet {
    store: Arc<Store>,
    addresses: Arc<dyn PodAddressSource>,
    /// Addresses handed out, by pod, so they can be released when the pod goes.
    held: Mutex<BTreeMap<PodKey, String>>,
}

fn condition(kind: &str, ok: bool) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": meta::now()})
}

/// Whether every `spec.readinessGates` condition is True in `status.conditions`.
pub fn gates_pass<'a>(pod: impl Doc<'a>) -> bool {
    pod.items_at(&["spec", "readinessGates"]).all(|gate| {
        let wanted = gate.str_at(&["conditionType"]);
        pod.items_at(&["status", "conditions"])
            .any(|c| c.str_at(&["type"]) == wanted && c.str_at(&["status"]) == Some("True"))
    })
}

/// The status of the first condition of type `kind`.
fn condition_status<'a>(pod: impl Doc<'a>, kind: &str) -> Option<&'a str> {
    pod.items_at(&["status", "conditions"])
        .find(|c| c.str_at(&["type"]) == Some(kind))
        .and_then(|c| c.str_at(&["status"]))
}

/// Whether a running pod's conditions are already what this pass would set.
fn settled<'a>(pod: impl Doc<'a>) -> bool {
    [
        ("PodScheduled", true),
        ("Initialized", true),
        ("ContainersReady", true),
        ("Ready", gates_pass(pod)),
    ]
    .into_iter()
    .all(|(kind, ok)| condition_status(pod, kind) == Some(if ok { "True" } else { "False" }))
}

impl Kubelet {
    pub fn new(store: Arc<Store>, addresses: Arc<dyn PodAddressSource>) -> Self {
        Self {
            store,
            addresses,
            held: Mutex::default(),
        }
    }

    fn key<'a>(pod: impl Doc<'a>) -> PodKey {
        PodKey {
            namespace: pod.meta("namespace").to_string(),
            name: pod.meta("name").to_string(),
            uid: pod.meta("uid").to_string(),
        }
    }

    /// The node of a pod that is to be given an address from the source in this pass: bound
    /// to an existing node, not deleting, not on the host network, without an address yet.
    fn needs_address<'a>(pod: impl Doc<'a>, nodes: &HashMap<&str, &Value>) -> Option<&'a str> {
        let node = pod.str_at(&["spec", "nodeName"])?;
        let starting = pod.str_at(&["status", "podIP"]).is_none_or(str::is_empty);
        let eligible = starting
            && pod.field("status").is_some_and(Doc::is_map)
            && !pod.deleting()
            && pod.at(&["spec", "hostNetwork"]).and_then(Doc::boolean) != Some(true)
            && nodes.contains_key(node);
        eligible.then_some(node)
    }

    /// One pass over every pod bound to an existing node.
    pub async fn sync(&self) -> Result<(), StatusError> {
        let pods_info = super::info(&self.store, "v1", "Pod")?;
        let nodes_info = super::info(&self.store, "v1", "Node")?;
        let nodes = super::list_all(&self.store, &nodes_info)?;
        let nodes: HashMap<&str, &Value> = nodes.iter().map(|n| (meta::name(n), &**n)).collect();
        // The pods in the store's compact form: a pod's `Value` is built only when it is
        // to be written.
        let pods = super::stored_all(&self.store, &pods_info)?;
        let live: HashSet<(&str, &str, &str)> = pods
            .iter()
            .map(|p| {
                let d = p.doc();
                (d.meta("namespace"), d.meta("name"), d.meta("uid"))
            })
            .collect();
        let gone: Vec<(PodKey, String)> = {
            let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.iter()
                .filter(|(k, _)| {
                    !live.contains(&(k.namespace.as_str(), k.name.as_str(), k.uid.as_str()))
                })
                .map(|(k, n)| (k.clone(), n.clone()))
                .collect()
        };
        drop(live);
        for (key, node) in gone {
            self.addresses.release(&node, &key).await;
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            tracing::debug!(pod = key.name, node, "Released a pod address");
        }
        // Each node's kubelet sets its pods up on its own: the nodes' address requests go
        // concurrently, each node's in order.
        let mut wanted: BTreeMap<&str, Vec<PodKey>> = BTreeMap::new();
        for pod in &pods {
            if let Some(node) = Self::needs_address(pod.doc(), &nodes) {
                wanted.entry(node).or_default().push(Self::key(pod.doc()));
            }
        }
        let mut acquired: HashMap<PodKey, crate::Result<IpAddr>> =
            futures::future::join_all(wanted.into_iter().map(|(node, keys)| async move {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let r = self.addresses.acquire(node, &key).await;
                    out.push((key, r));
                }
                out
            }))
            .await
            .into_iter()
            .flatten()
            .collect();
        for stored in &pods {
            let doc = stored.doc();
            let node_name = doc.str_at(&["spec", "nodeName"]).unwrap_or_default();
            let Some(&node) = nodes.get(node_name) else {
                continue;
            };
            if doc.deleting() || !doc.field("status").is_some_and(Doc::is_map) {
                continue;
            }
            let starting = doc.str_at(&["status", "podIP"]).is_none_or(str::is_empty);
            if !starting && settled(doc) {
                continue;
            }
            let pod = stored.value();
            let pod: &Value = &pod;
            let key = Self::key(pod);
            let mut status = pod["status"].clone();
            let starting = status["podIP"].as_str().is_none_or(str::is_empty);
            if starting {
                let host_ip = node["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                    .map(|a| a["address"].clone())
                    .unwrap_or(Value::Null);
                // A host-network pod shares the node's address and takes none from the source.
                let ip = if pod["spec"]["hostNetwork"] == true {
                    host_ip.clone()
                } else {
                    let ip = match acquired.remove(&key) {
                        Some(Ok(ip)) => ip,
                        None => continue,
                        Some(Err(error)) => {
                            // As the real kubelet reports a CNI ADD that failed; the pod stays
                            // Pending and is tried again on the next pass.
                            tracing::debug!(pod = key.name, node = node_name, %error, "No address for a pod");
                            let event = Event {
                                api_version: "v1",
                                kind: "Pod",
                                field_path: None,
                                event_type: EventType::Warning,
                                reason: "FailedCreatePodSandBox",
                                message: format!(
                                    "Failed to create pod sandbox: failed to set up the pod's network: {error}"
                                ),
                            };
                            let source = Source {
                                component: "kubelet",
                                host: Some(node_name),
                            };
                            events::record(&self.store, pod, &event, &source);
                            continue;
                        }
                    };
                    self.held
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key.clone(), node_name.to_string());
                    json!(ip.to_string())
                };
                status["podIP"] = ip.clone();
                status["podIPs"] = json!([{"ip": ip}]);
                status["hostIP"] = host_ip.clone();
                status["hostIPs"] = json!([{"ip": host_ip}]);
                status["startTime"] = json!(meta::now());
                status["phase"] = json!("Running");
                let containers = pod["spec"]["containers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                status["containerStatuses"] = json!(containers.iter().map(|c| json!({
                    "name": c["name"], "image": c["image"], "imageID": "", "ready": true,
                    "restartCount": 0, "started": true, "state": {"running": {"startedAt": meta::now()}}
                })).collect::<Vec<_>>());
            }
            let ready = gates_pass(pod);
            let mut conditions: Vec<Value> =
                status["conditions"].as_array().cloned().unwrap_or_default();
            for (kind, ok) in [
                ("PodScheduled", true),
                ("Initialized", true),
                ("ContainersReady", true),
                ("Ready", ready),
            ] {
                let want = if ok { "True" } else { "False" };
                match conditions.iter_mut().find(|c| c["type"] == kind) {
                    Some(c) if c["status"] == want => {}
                    Some(c) => *c = condition(kind, ok),
                    None => conditions.push(condition(kind, ok)),
                }
            }
            status["conditions"] = json!(conditions);
            if status == pod["status"] {
                continue;
            }
            let mut updated = pod.clone();
            updated["status"] = status;
            match self
                .store
                .update(&pods_info, Some(&key.namespace), &key.name, updated, true)
            {
                Ok(updated) if starting => container_events(&self.store, &updated, node_name),
                Ok(_) => {}
                Err(e) if matches!(e.reason, Reason::Conflict | Reason::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compact::Compact;

    #[test]
    fn a_pod_is_settled_when_its_conditions_are_what_a_pass_sets() {
        let conditions = |ready: &str| {
            json!([{"type": "PodScheduled", "status": "True"}, {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": "True"}, {"type": "Ready", "status": ready},
                {"type": "example.com/lb", "status": "True"}])
        };
        let pod = |gates: Value, ready: &str| json!({"spec": {"readinessGates": gates}, "status": {"podIP": "10.0.0.2", "conditions": conditions(ready)}});
        let cases = [
            (pod(json!([]), "True"), true),
            (pod(json!([]), "False"), false),
            (
                pod(json!([{"conditionType": "example.com/lb"}]), "True"),
                true,
            ),
            (
                pod(json!([{"conditionType": "example.com/other"}]), "True"),
                false,
            ),
            (
                pod(json!([{"conditionType": "example.com/other"}]), "False"),
                true,
            ),
            (json!({"status": {"podIP": "10.0.0.2"}}), false),
        ];
        for (pod, want) in cases {
            let compact = Compact::from_value(&pod);
            assert_eq!(settled(&pod), want, "{pod}");
            assert_eq!(settled(compact.node()), want, "compact {pod}");
        }
    }
}
