//! Services with a selector → EndpointSlices (discovery.k8s.io/v1), as the real
//! EndpointSlice controller keeps them.
//!
//! ```text
//!  Service + its pods + nodes + the slices it has ──plan (pure)──▶ SlicePlan
//!                                                                  │ create / update / delete
//!                                                                  ▼
//!                                                                store
//! ```
//!
//! Endpoints are grouped by the ports they resolve to (a named `targetPort` can resolve to
//! different numbers on different pods), at most [`MAX_ENDPOINTS`] per slice. Endpoints stay in
//! the slice that already holds them; new ones fill the free room of existing slices before new
//! slices are made; slices left empty are deleted, except one placeholder when the Service
//! selects nothing (the real controller keeps that one too). Services without a selector, and
//! ExternalName Services, are left alone: their slices are someone else's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::ignore_race;
use crate::compact::{Doc, Node};
use crate::error::StatusError;
use crate::meta;
use crate::store::{DeleteOptions, Store};

/// Most endpoints a slice holds (the real controller's default `--max-endpoints-per-slice`).
pub const MAX_ENDPOINTS: usize = 100;
/// Label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label naming the controller that manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// What to write to make a Service's slices match its pods.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SlicePlan {
    /// New slices (with `generateName`).
    pub create: Vec<Value>,
    /// Changed slices, carrying the resourceVersion they were read at.
    pub update: Vec<Value>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

impl SlicePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Whether this controller manages a Service's slices at all.
pub fn manages(service: &Value) -> bool {
    service["spec"]["selector"]
        .as_object()
        .is_some_and(|s| !s.is_empty())
        && service["spec"]["type"].as_str() != Some("ExternalName")
}

/// Whether a slice is one this controller made for `service_name`.
pub fn is_managed_slice(slice: &Value, service_name: &str) -> bool {
    let labels = &slice["metadata"]["labels"];
    labels[SERVICE_NAME_LABEL].as_str() == Some(service_name)
        && labels[MANAGED_BY_LABEL].as_str() == Some(MANAGED_BY)
}

fn selects<'a>(service: &Value, pod: impl Doc<'a>) -> bool {
    let labels = pod.at(&["metadata", "labels"]);
    service["spec"]["selector"].as_object().is_some_and(|sel| {
        sel.iter().all(|(k, v)| {
            let label = labels.and_then(|l| l.field(k));
            match v.as_str() {
                Some(want) => label.and_then(Doc::text) == Some(want),
                None => label.map_or(Value::Null, Doc::to_json) == *v,
            }
        })
    })
}

fn pod_ready<'a>(pod: impl Doc<'a>) -> bool {
    pod.items_at(&["status", "conditions"])
        .any(|c| c.str_at(&["type"]) == Some("Ready") && c.str_at(&["status"]) == Some("True"))
}

/// The pod's IPv4 address, if it has one.
fn pod_ipv4<'a>(pod: impl Doc<'a>) -> Option<String> {
    let listed = pod
        .items_at(&["status", "podIPs"])
        .filter_map(|ip| ip.str_at(&["ip"]));
    std::iter::once(pod.str_at(&["status", "podIP"]).unwrap_or_default())
        .chain(listed)
        .find(|ip| ip.parse::<Ipv4Addr>().is_ok())
        .map(str::to_string)
}

/// The number a Service port's `targetPort` means on this pod; `None` when a named port is
/// not declared by any of its containers.
fn resolve_target<'a>(port: &Value, pod: impl Doc<'a>) -> Option<i64> {
    let protocol = port["protocol"].as_str().unwrap_or("TCP");
    match &port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => {
            if let Ok(n) = name.parse::<i64>() {
                return Some(n);
            }
            pod.items_at(&["spec", "containers"])
                .flat_map(|c| c.items_at(&["ports"]))
                .find(|p| {
                    p.str_at(&["name"]) == Some(name.as_str())
                        && p.str_at(&["protocol"]).unwrap_or("TCP") == protocol
                })
                .and_then(|p| p.field("containerPort").and_then(Doc::integer))
        }
        _ => port["port"].as_i64(),
    }
}

/// The slice ports of `service` as resolved on `pod`, in the Service's order.
fn ports_for<'a>(service: &Value, pod: impl Doc<'a>) -> Value {
    let ports: Vec<Value> = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|port| {
            let number = resolve_target(port, pod)?;
            let mut out = json!({
                "name": port["name"].as_str().unwrap_or_default(),
                "port": number,
                "protocol": port["protocol"].as_str().unwrap_or("TCP"),
            });
            if let Some(app) = port["appProtocol"].as_str() {
                out["appProtocol"] = json!(app);
            }
            Some(out)
        })
        .collect();
    Value::Array(ports)
}

/// Identity of an endpoint across passes: its pod's uid (or name, for hand-made objects).
fn endpoint_key(endpoint: &Value) -> String {
    let target = &endpoint["targetRef"];
    match target["uid"].as_str() {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => format!(
            "{}/{}",
            target["namespace"].as_str().unwrap_or_default(),
            target["name"].as_str().unwrap_or_default()
        ),
    }
}

fn endpoint_for<'a>(service: &Value, pod: impl Doc<'a>, ip: String, nodes: &[&Value]) -> Value {
    let publish = service["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let terminating = pod.deleting();
    let serving = publish || pod_ready(pod);
    let ready = publish || (pod_ready(pod) && !terminating);
    let mut endpoint = json!({
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {
            "kind": "Pod",
            "namespace": pod.meta("namespace"),
            "name": pod.meta("name"),
            "uid": pod.meta("uid"),
        },
    });
    if let Some(node) = pod.str_at(&["spec", "nodeName"]).filter(|n| !n.is_empty()) {
        endpoint["nodeName"] = json!(node);
        let zone = nodes
            .iter()
            .find(|n| meta::name(n) == node)
            .and_then(|n| n["metadata"]["labels"][ZONE_LABEL].as_str());
        if let Some(zone) = zone {
            endpoint["zone"] = json!(zone);
        }
    }
    endpoint
}

/// Endpoints sharing one set of resolved ports.
struct Group {
    ports: Value,
    /// Desired endpoints not yet placed in a slice, by key, in pod-name order.
    unplaced: Vec<(String, Value)>,
}

/// One slice being planned: an existing one (with its original) or a new one.
struct Planned {
    existing: Option<Value>,
    group: usize,
    endpoints: Vec<Value>,
}

fn labels_for(service: &Value) -> Value {
    let mut labels = service["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), json!(meta::name(service)));
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    if service["spec"]["clusterIP"].as_str() == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), json!(""));
    }
    Value::Object(labels)
}

fn slice_doc(
    service: &Value,
    existing: Option<&Value>,
    ports: &Value,
    endpoints: Vec<Value>,
) -> Value {
    let name = meta::name(service);
    let mut slice = match existing {
        Some(e) => e.clone(),
        None => json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"generateName": format!("{name}-"), "namespace": meta::namespace(service)},
        }),
    };
    let m = meta::meta_mut(&mut slice);
    m.insert("labels".into(), labels_for(service));
    m.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "v1", "kind": "Service", "name": name, "uid": meta::uid(service),
            "controller": true, "blockOwnerDeletion": true,
        }]),
    );
    slice["addressType"] = json!("IPv4");
    slice["ports"] = ports.clone();
    slice["endpoints"] = Value::Array(endpoints);
    slice
}

/// Plans the slices of one Service from its pods, the nodes (for zones) and the slices it
/// has now (`existing`: those labelled for it and managed by this controller). Pods are read
/// in either form (the store's compact one in a pass).
pub fn plan<'a, D: Doc<'a>>(
    service: &Value,
    pods: &[D],
    nodes: &[&Value],
    existing: &[&Value],
) -> SlicePlan {
    let mut out = SlicePlan::default();
    if !manages(service) {
        return out;
    }
    let namespace = meta::namespace(service);
    let mut selected: Vec<D> = pods
        .iter()
        .copied()
        .filter(|p| p.meta("namespace") == namespace && selects(service, *p))
        .filter(|p| !matches!(p.str_at(&["status", "phase"]), Some("Succeeded" | "Failed")))
        .collect();
    selected.sort_by(|a, b| a.meta("name").cmp(b.meta("name")));

    let mut groups: Vec<Group> = Vec::new();
    for pod in selected {
        let Some(ip) = pod_ipv4(pod) else { continue };
        let ports = ports_for(service, pod);
        let endpoint = endpoint_for(service, pod, ip, nodes);
        let entry = (endpoint_key(&endpoint), endpoint);
        match groups.iter_mut().find(|g| g.ports == ports) {
            Some(g) => g.unplaced.push(entry),
            None => groups.push(Group {
                ports,
                unplaced: vec![entry],
            }),
        }
    }
    let placeholder = groups.is_empty();
    if placeholder {
        groups.push(Group {
            ports: json!([]),
            unplaced: Vec::new(),
        });
    }

    let mut existing: Vec<&Value> = existing.to_vec();
    existing.sort_by(|a, b| meta::name(a).cmp(meta::name(b)));
    let mut planned: Vec<Planned> = Vec::new();
    let mut leftovers: Vec<&Value> = Vec::new();
    // Endpoints stay where they are when their slice still has the right ports.
    for slice in existing {
        let group = (slice["addressType"].as_str() == Some("IPv4"))
            .then(|| groups.iter().position(|g| g.ports == slice["ports"]))
            .flatten();
        let Some(gi) = group else {
            leftovers.push(slice);
            continue;
        };
        let g = &mut groups[gi];
        let mut kept = Vec::new();
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            if kept.len() >= MAX_ENDPOINTS {
                break;
            }
            let key = endpoint_key(endpoint);
            if let Some(i) = g.unplaced.iter().position(|(k, _)| *k == key) {
                kept.push(g.unplaced.remove(i).1);
            }
        }
        planned.push(Planned {
            existing: Some(slice.clone()),
            group: gi,
            endpoints: kept,
        });
    }
    // New endpoints fill free room first, then new slices.
    for (gi, g) in groups.iter_mut().enumerate() {
        let mut rest = std::mem::take(&mut g.unplaced).into_iter().map(|(_, e)| e);
        for p in planned.iter_mut().filter(|p| p.group == gi) {
            let room = MAX_ENDPOINTS.saturating_sub(p.endpoints.len());
            p.endpoints.extend(rest.by_ref().take(room));
        }
        let rest: Vec<Value> = rest.collect();
        for chunk in rest.chunks(MAX_ENDPOINTS) {
            planned.push(Planned {
                existing: None,
                group: gi,
                endpoints: chunk.to_vec(),
            });
        }
    }
    if placeholder && planned.is_empty() {
        // Reuse a slice whose ports no longer match rather than delete one and make another.
        let reused = (!leftovers.is_empty()).then(|| leftovers.remove(0).clone());
        planned.push(Planned {
            existing: reused,
            group: 0,
            endpoints: Vec::new(),
        });
    }
    let mut kept_placeholder = false;
    for p in planned {
        let keep = !p.endpoints.is_empty() || (placeholder && !kept_placeholder);
        match (&p.existing, keep) {
            (Some(old), false) => out.delete.push(meta::name(old).to_string()),
            (None, false) => {}
            (existing, true) => {
                kept_placeholder |= p.endpoints.is_empty();
                let doc = slice_doc(
                    service,
                    existing.as_ref(),
                    &groups[p.group].ports,
                    p.endpoints,
                );
                match existing {
                    Some(old) if *old == doc => {}
                    Some(_) => out.update.push(doc),
                    None => out.create.push(doc),
                }
            }
        }
    }
    out.delete
        .extend(leftovers.iter().map(|s| meta::name(s).to_string()));
    out
}

/// One pass over every Service, plus the slices whose Service is gone.
pub fn sync(store: &Store) -> Result<(), StatusError> {
    let svc_info = super::info(store, "v1", "Service")?;
    let pod_info = super::info(store, "v1", "Pod")?;
    let node_info = super::info(store, "v1", "Node")?;
    let slice_info = super::info(store, "discovery.k8s.io/v1", "EndpointSlice")?;
    let services = super::list_all(store, &svc_info)?;
    // The pods in the store's compact form: a pass reads a few fields of every pod.
    let pods = super::stored_all(store, &pod_info)?;
    let nodes = super::list_all(store, &node_info)?;
    let slices = super::list_all(store, &slice_info)?;
    let nodes: Vec<&Value> = nodes.iter().map(AsRef::as_ref).collect();
    let mut pods_by_ns: BTreeMap<&str, Vec<Node<'_>>> = BTreeMap::new();
    for p in &pods {
        let p = p.doc();
        pods_by_ns.entry(p.meta("namespace")).or_default().push(p);
    }
    let mut live: BTreeSet<(&str, &str)> = BTreeSet::new();
    for svc in &services {
        let (ns, name) = (meta::namespace(svc), meta::name(svc));
        live.insert((ns, name));
        if meta::is_deleting(svc) || !manages(svc) {
            continue;
        }
        let existing: Vec<&Value> = slices
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| meta::namespace(s) == ns && is_managed_slice(s, name))
            .collect();
        let pods = pods_by_ns.get(ns).map(Vec::as_slice).unwrap_or_default();
        let plan = plan(svc, pods, &nodes, &existing);
        if !plan.is_empty() {
            tracing::debug!(
                namespace = ns,
                service = name,
                create = plan.create.len(),
                update = plan.update.len(),
                delete = plan.delete.len(),
                "Syncing EndpointSlices"
            );
        }
        apply(store, ns, plan, &slice_info)?;
    }
    // Slices of Services that are gone (cascading deletion usually got there first).
    for slice in &slices {
        let labels = &slice["metadata"]["labels"];
        let ns = meta::namespace(slice);
        let owner = labels[SERVICE_NAME_LABEL].as_str().unwrap_or_default();
        if labels[MANAGED_BY_LABEL].as_str() == Some(MANAGED_BY) && !live.contains(&(ns, owner)) {
            ignore_race(store.delete(
                &slice_info,
                Some(ns),
                meta::name(slice),
                &DeleteOptions::default(),
            ))?;
        }
    }
    Ok(())
}

fn apply(
    store: &Store,
    ns: &str,
    plan: SlicePlan,
    info: &crate::resources::ResourceInfo,
) -> Result<(), StatusError> {
    for name in &plan.delete {
        ignore_race(store.delete(info, Some(ns), name, &DeleteOptions::default()))?;
    }
    for slice in plan.update {
        let name = meta::name(&slice).to_string();
        ignore_race(store.update(info, Some(ns), &name, slice, false))?;
    }
    for slice in plan.create {
        ignore_race(store.create(info, Some(ns), slice).map(|_: Arc<Value>| ()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "uid": format!("svc-{name}"), "labels": {"team": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9100, "protocol": "TCP"}
            ]}
        })
    }

    struct PodBuilder(Value);

    impl PodBuilder {
        fn new(name: &str, ip: &str) -> Self {
            Self(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
                "spec": {"nodeName": "node-a", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                    "conditions": [{"type": "Ready", "status": "True"}]}
            }))
        }
        fn not_ready(mut self) -> Self {
            self.0["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
            self
        }
        fn terminating(mut self) -> Self {
            self.0["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
            self
        }
        fn http_port(mut self, port: u16) -> Self {
            self.0["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(port);
            self
        }
        fn labels(mut self, labels: Value) -> Self {
            self.0["metadata"]["labels"] = labels;
            self
        }
        fn no_ip(mut self) -> Self {
            self.0["status"] = json!({"phase": "Pending"});
            self
        }
        fn build(self) -> Value {
            self.0
        }
    }

    fn node(name: &str, zone: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {ZONE_LABEL: zone}}})
    }

    fn many(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                PodBuilder::new(
                    &format!("p{i:03}"),
                    &format!("10.0.{}.{}", i / 200, i % 200 + 1),
                )
                .build()
            })
            .collect()
    }

    /// Gives planned creates the names and resourceVersions the store would.
    fn stored(plan: &SlicePlan) -> Vec<Value> {
        plan.create
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut s = s.clone();
                s["metadata"]["name"] = json!(format!("web-{i}"));
                s["metadata"]["resourceVersion"] = json!("1");
                s
            })
            .collect()
    }

    fn refs(values: &[Value]) -> Vec<&Value> {
        values.iter().collect()
    }

    fn endpoint_names(slice: &Value) -> Vec<&str> {
        slice["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["targetRef"]["name"].as_str())
            .collect()
    }

    #[test]
    fn one_slice_with_resolved_ports_and_conditions() {
        let svc = service("web");
        let pods = [
            PodBuilder::new("a", "10.0.0.1").build(),
            PodBuilder::new("b", "10.0.0.2").not_ready().build(),
            PodBuilder::new("c", "10.0.0.3").terminating().build(),
            PodBuilder::new("other", "10.0.0.4")
                .labels(json!({"app": "db"}))
                .build(),
            PodBuilder::new("pending", "").no_ip().build(),
        ];
        let nodes = [node("node-a", "us-west-2a")];
        let plan = plan(&svc, &refs(&pods), &refs(&nodes), &[]);
        assert!(plan.update.is_empty() && plan.delete.is_empty());
        let [slice] = plan.create.as_slice() else {
            panic!("one slice: {plan:?}")
        };
        assert_eq!(slice["metadata"]["generateName"], "web-");
        assert_eq!(slice["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(slice["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(slice["metadata"]["labels"]["team"], "web");
        assert_eq!(slice["metadata"]["ownerReferences"][0]["uid"], "svc-web");
        assert_eq!(slice["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(
            slice["ports"],
            json!([
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9100, "protocol": "TCP"}
            ])
        );
        assert_eq!(endpoint_names(slice), ["a", "b", "c"]);
        let conditions: Vec<&Value> = slice["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["conditions"])
            .collect();
        assert_eq!(
            conditions,
            [
                &json!({"ready": true, "serving": true, "terminating": false}),
                &json!({"ready": false, "serving": false, "terminating": false}),
                &json!({"ready": false, "serving": true, "terminating": true}),
            ]
        );
        let a = &slice["endpoints"][0];
        assert_eq!(a["addresses"], json!(["10.0.0.1"]));
        assert_eq!(a["nodeName"], "node-a");
        assert_eq!(a["zone"], "us-west-2a");
        assert_eq!(
            a["targetRef"],
            json!({"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"})
        );
    }

    #[test]
    fn publish_not_ready_addresses_marks_every_endpoint_ready() {
        let mut svc = service("web");
        svc["spec"]["publishNotReadyAddresses"] = json!(true);
        let pods = [PodBuilder::new("b", "10.0.0.2").not_ready().build()];
        let plan = plan(&svc, &refs(&pods), &[], &[]);
        assert_eq!(plan.create[0]["endpoints"][0]["conditions"]["ready"], true);
        assert!(plan.create[0]["endpoints"][0].get("zone").is_none());
    }

    #[test]
    fn pods_resolving_ports_differently_get_separate_slices() {
        let svc = service("web");
        let pods = [
            PodBuilder::new("a", "10.0.0.1").build(),
            PodBuilder::new("b", "10.0.0.2").http_port(8443).build(),
        ];
        let plan = plan(&svc, &refs(&pods), &[], &[]);
        assert_eq!(plan.create.len(), 2);
        assert_eq!(plan.create[1]["ports"][0]["port"], 8443);
        assert_eq!(endpoint_names(&plan.create[1]), ["b"]);
    }

    #[test]
    fn a_named_port_no_container_declares_is_left_out() {
        let svc = service("web");
        let mut pod = PodBuilder::new("a", "10.0.0.1").build();
        pod["spec"]["containers"][0]["ports"] = json!([]);
        let plan = plan(&svc, &[&pod], &[], &[]);
        assert_eq!(
            plan.create[0]["ports"],
            json!([{"name": "metrics", "port": 9100, "protocol": "TCP"}])
        );
    }

    #[test]
    fn splits_at_one_hundred_endpoints() {
        let svc = service("web");
        let pods = many(250);
        let plan = plan(&svc, &refs(&pods), &[], &[]);
        let sizes: Vec<usize> = plan
            .create
            .iter()
            .map(|s| endpoint_names(s).len())
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
        let all: BTreeSet<&str> = plan.create.iter().flat_map(endpoint_names).collect();
        assert_eq!(all.len(), 250);
    }

    #[test]
    fn an_unchanged_service_plans_nothing() {
        let svc = service("web");
        let pods = many(150);
        let first = plan(&svc, &refs(&pods), &[], &[]);
        let existing = stored(&first);
        let again = plan(&svc, &refs(&pods), &[], &refs(&existing));
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn growth_fills_existing_slices_before_making_new_ones() {
        let svc = service("web");
        let pods = many(250);
        let existing = stored(&plan(&svc, &refs(&pods[..3]), &[], &[]));
        let plan = plan(&svc, &refs(&pods), &[], &refs(&existing));
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0]["metadata"]["name"], "web-0");
        assert_eq!(plan.update[0]["metadata"]["resourceVersion"], "1");
        assert_eq!(endpoint_names(&plan.update[0]).len(), 100);
        assert_eq!(
            endpoint_names(&plan.update[0])[..3],
            ["p000", "p001", "p002"],
            "existing endpoints stay first, in place"
        );
        let sizes: Vec<usize> = plan
            .create
            .iter()
            .map(|s| endpoint_names(s).len())
            .collect();
        assert_eq!(sizes, [100, 50]);
    }

    #[test]
    fn a_condition_change_updates_its_slice_only() {
        let svc = service("web");
        let mut pods = many(150);
        let existing = stored(&plan(&svc, &refs(&pods), &[], &[]));
        pods[120] = PodBuilder::new("p120", "10.0.0.121").not_ready().build();
        let plan = plan(&svc, &refs(&pods), &[], &refs(&existing));
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0]["metadata"]["name"], "web-1");
        assert_eq!(
            plan.update[0]["endpoints"][20]["conditions"]["ready"],
            false
        );
    }

    #[test]
    fn shrinking_deletes_emptied_slices() {
        let svc = service("web");
        let pods = many(250);
        let existing = stored(&plan(&svc, &refs(&pods), &[], &[]));
        // Keep only pods that lived in the first slice.
        let plan = plan(&svc, &refs(&pods[..10]), &[], &refs(&existing));
        assert!(plan.create.is_empty());
        assert_eq!(plan.delete, ["web-1", "web-2"]);
        assert_eq!(endpoint_names(&plan.update[0]).len(), 10);
    }

    #[test]
    fn selecting_nothing_keeps_one_empty_slice() {
        let svc = service("web");
        let created = plan::<&Value>(&svc, &[], &[], &[]);
        assert_eq!(created.create.len(), 1);
        assert_eq!(created.create[0]["endpoints"], json!([]));

        let pods = many(150);
        let existing = stored(&plan(&svc, &refs(&pods), &[], &[]));
        let emptied = plan::<&Value>(&svc, &[], &[], &refs(&existing));
        assert!(emptied.create.is_empty());
        assert_eq!(emptied.delete, ["web-1"]);
        assert_eq!(emptied.update.len(), 1);
        assert_eq!(emptied.update[0]["endpoints"], json!([]));
        assert_eq!(emptied.update[0]["ports"], json!([]));
    }

    #[test]
    fn slices_with_other_ports_or_families_are_replaced() {
        let svc = service("web");
        let pods = many(3);
        let mut existing = stored(&plan(&svc, &refs(&pods), &[], &[]));
        existing[0]["ports"] = json!([{"name": "http", "port": 1, "protocol": "TCP"}]);
        let mut v6 = existing[0].clone();
        v6["metadata"]["name"] = json!("web-v6");
        v6["addressType"] = json!("IPv6");
        existing.push(v6);
        let plan = plan(&svc, &refs(&pods), &[], &refs(&existing));
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.delete, ["web-0", "web-v6"]);
    }

    #[test]
    fn services_without_a_selector_are_left_alone() {
        let mut svc = service("web");
        svc["spec"]["selector"] = Value::Null;
        let pods = many(3);
        let existing = stored(&plan(&service("web"), &refs(&pods), &[], &[]));
        assert!(plan(&svc, &refs(&pods), &[], &refs(&existing)).is_empty());
        let mut external = service("web");
        external["spec"]["type"] = json!("ExternalName");
        assert!(plan(&external, &refs(&pods), &[], &[]).is_empty());
    }

    #[test]
    fn pods_in_other_namespaces_and_finished_pods_are_not_endpoints() {
        let svc = service("web");
        let mut elsewhere = PodBuilder::new("x", "10.0.0.9").build();
        elsewhere["metadata"]["namespace"] = json!("other");
        let mut done = PodBuilder::new("y", "10.0.0.8").build();
        done["status"]["phase"] = json!("Succeeded");
        let plan = plan(&svc, &[&elsewhere, &done], &[], &[]);
        assert_eq!(plan.create[0]["endpoints"], json!([]));
    }
}
