//! The members of a Service's backend groups: pod IPs from its EndpointSlices, or nodes on
//! the node port.
//!
//! Pure, and what target sync (the hot path) recomputes on every EndpointSlice or Node change.
//! An address listed in several slices (slices overlap while the EndpointSlice controller
//! moves endpoints) counts once; endpoints that are not ready are not targets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cloudnet_core::{LoadBalancerSpec, Target, TargetKind};
use k8s_openapi::api::core::v1::{Node, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::model::group_key;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Nodes with this label never receive load balancer traffic (Kubernetes' own label).
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Every group's targets, by group key, sorted. Groups of the spec with no member get an empty
/// list, so a sync empties them.
pub fn targets(
    svc: &Service,
    spec: &LoadBalancerSpec,
    slices: &[EndpointSlice],
    nodes: &[Node],
) -> BTreeMap<String, Vec<Target>> {
    let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let local = local_traffic(svc);
    let own = own_slices(svc, slices);
    let mut out = BTreeMap::new();
    for port in ports {
        let key = group_key(namespace, name, port);
        let Some(group) = spec.group(&key) else {
            continue;
        };
        let members = members(&own, port, group.target_kind, group.port, local, nodes);
        out.insert(key, members.into_iter().collect());
    }
    out
}

/// Whether the Service keeps traffic on the node it arrives at
/// (`externalTrafficPolicy: Local`).
fn local_traffic(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        == Some("Local")
}

/// The members of one Service port (what a TargetGroupBinding registers), sorted: its ready
/// endpoints (pod IPs) or the nodes on `node_port`, by the same rules as a Service's own
/// groups.
pub fn port_targets(
    svc: &Service,
    port: &ServicePort,
    kind: TargetKind,
    node_port: u16,
    slices: &[EndpointSlice],
    nodes: &[Node],
) -> Vec<Target> {
    let local = local_traffic(svc);
    let own = own_slices(svc, slices);
    members(&own, port, kind, node_port, local, nodes)
        .into_iter()
        .collect()
}

fn members(
    own: &[&EndpointSlice],
    port: &ServicePort,
    kind: TargetKind,
    node_port: u16,
    local: bool,
    nodes: &[Node],
) -> BTreeSet<Target> {
    match kind {
        TargetKind::PodIp => pod_targets(own, port),
        TargetKind::NodePort => {
            let local_nodes = local.then(|| nodes_with_local_endpoints(own));
            node_targets(nodes, node_port, local_nodes.as_ref())
        }
    }
}

/// The Service's own EndpointSlices (by the service-name label, in its namespace).
fn own_slices<'a>(svc: &Service, slices: &'a [EndpointSlice]) -> Vec<&'a EndpointSlice> {
    let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    slices
        .iter()
        .filter(|s| {
            s.metadata.namespace.as_deref().unwrap_or("default") == namespace
                && s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    .map(String::as_str)
                    == Some(name)
        })
        .collect()
}

/// Ready IPv4 endpoints on the port that matches the Service port by name.
fn pod_targets(slices: &[&EndpointSlice], port: &ServicePort) -> BTreeSet<Target> {
    let mut out = BTreeSet::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(slice_port) = slice.ports.as_deref().unwrap_or_default().iter().find(|p| {
            p.name.as_deref().unwrap_or_default() == port.name.as_deref().unwrap_or_default()
        }) else {
            continue;
        };
        let Some(target_port) = slice_port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for ep in &slice.endpoints {
            // An unset `ready` means ready (the EndpointSlice API's rule).
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready {
                continue;
            }
            for addr in &ep.addresses {
                if let Ok(ip) = addr.parse::<IpAddr>() {
                    out.insert(Target {
                        ip,
                        port: target_port,
                    });
                }
            }
        }
    }
    out
}

fn nodes_with_local_endpoints(slices: &[&EndpointSlice]) -> BTreeSet<String> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|ep| ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .filter_map(|ep| ep.node_name.clone())
        .collect()
}

/// Nodes that can take traffic: an InternalIP, not excluded by label, not being deleted; with
/// `externalTrafficPolicy: Local` only those running a ready endpoint.
fn node_targets(
    nodes: &[Node],
    node_port: u16,
    only: Option<&BTreeSet<String>>,
) -> BTreeSet<Target> {
    let mut out = BTreeSet::new();
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if node.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if node
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(EXCLUDE_LABEL))
        {
            continue;
        }
        if only.is_some_and(|set| !set.contains(name)) {
            continue;
        }
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_deref())
            .unwrap_or_default()
            .iter()
            .find(|a| a.type_ == "InternalIP")
            .and_then(|a| a.address.parse::<IpAddr>().ok());
        if let Some(ip) = ip {
            out.insert(Target {
                ip,
                port: node_port,
            });
        }
    }
    out
}
