//! Node objects as a cloud instance registers them.

use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use crate::error::StatusError;
use crate::meta;
use crate::store::Store;

/// What a node is registered from.
#[derive(Debug, Clone)]
pub struct NodeRegistration {
    pub name: String,
    /// e.g. `aws:///us-west-2a/i-0123456789abcdef0`.
    pub provider_id: String,
    pub internal_ip: String,
    pub zone: String,
    pub instance_type: String,
    pub max_pods: u32,
}

/// The Node object for a registration: Ready, with the well-known topology labels.
pub fn node_object(n: &NodeRegistration) -> Value {
    let region = n
        .zone
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": n.name,
            "labels": {
                "kubernetes.io/hostname": n.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": n.zone,
                "topology.kubernetes.io/region": region,
                "node.kubernetes.io/instance-type": n.instance_type,
            }
        },
        "spec": {"providerID": n.provider_id},
        "status": {
            "capacity": {"pods": n.max_pods.to_string(), "cpu": "2", "memory": "8Gi"},
            "allocatable": {"pods": n.max_pods.to_string(), "cpu": "2", "memory": "8Gi"},
            "addresses": [
                {"type": "InternalIP", "address": n.internal_ip},
                {"type": "Hostname", "address": n.name}
            ],
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": meta::now(), "lastTransitionTime": meta::now()
            }],
            "nodeInfo": {"kubeletVersion": "v1.33.0-kubesim", "operatingSystem": "linux", "architecture": "amd64"}
        }
    })
}

/// Creates the Node object in the store, with the Events a starting kubelet and the node
/// lifecycle controller record about it (`Starting`, `NodeReady`, `RegisteredNode`).
pub fn register_node(store: &Store, n: &NodeRegistration) -> Result<(), StatusError> {
    let info = super::info(store, "v1", "Node")?;
    let node = store.create(&info, None, node_object(n))?;
    let name = &n.name;
    for (component, host, reason, message) in [
        (
            "kubelet",
            Some(name.as_str()),
            "Starting",
            "Starting kubelet.".to_string(),
        ),
        (
            "kubelet",
            Some(name.as_str()),
            "NodeReady",
            format!("Node {name} status is now: NodeReady"),
        ),
        (
            "node-controller",
            None,
            "RegisteredNode",
            format!("Node {name} event: Registered Node {name} in Controller"),
        ),
    ] {
        let event = Event {
            api_version: "v1",
            kind: "Node",
            field_path: None,
            event_type: EventType::Normal,
            reason,
            message,
        };
        events::record(store, &node, &event, &Source { component, host });
    }
    Ok(())
}
