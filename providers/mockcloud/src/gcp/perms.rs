//! The IAM permissions a Compute Engine call needs, as GCP checks them: the method's own
//! permission on the resource it names, and a `use` (or policy) permission on each resource
//! a create or update refers to.
//!
//! | Method | Own permission | Also, on what the body names |
//! |---|---|---|
//! | `X.insert` / `get` / `list` / `delete` | `compute.X.create` / `get` / `list` / `delete` | below |
//! | `X.patch`, `X.update` | `compute.X.update` | below |
//! | `X.aggregatedList` | `compute.X.list` | |
//! | `*Operations.get`/`wait`/`list` | `compute.*Operations.get`/`get`/`list` | |
//! | `instances.updateNetworkInterface` | `compute.instances.updateNetworkInterface` | `compute.subnetworks.use` on the interface's subnetwork when alias ranges are set |
//! | `networkEndpointGroups.attach`/`detachNetworkEndpoints` | the verb's own | `compute.instances.use` on each endpoint's instance (attach) |
//! | `networkEndpointGroups.listNetworkEndpoints` | `compute.networkEndpointGroups.get` | |
//! | `instanceGroups.addInstances`/`removeInstances`/`setNamedPorts` | `compute.instanceGroups.update` | `compute.instances.use` on each instance added |
//! | `instanceGroups.listInstances`, `backendServices.getHealth` | `compute.X.get` | |
//! | other verbs (`setTarget`, `setUrlMap`, `setSslCertificates`) | `compute.X.<verb>` | |
//!
//! References: `routes` and `firewalls` -> `compute.networks.updatePolicy` on the network (and
//! `compute.instances.use` on a route's `nextHopInstance`); `networkEndpointGroups`,
//! `instanceGroups`, internal `forwardingRules` and `addresses` -> `compute.networks.use` /
//! `compute.subnetworks.use`; `backendServices` -> `compute.healthChecks.useReadOnly`,
//! `compute.networkEndpointGroups.use`, `compute.instanceGroups.use`; `urlMaps` ->
//! `compute.backendServices.use`; target proxies (and `setUrlMap`) -> `compute.urlMaps.use`,
//! `compute.sslCertificates.get`; `forwardingRules` (and `setTarget`) ->
//! `compute.addresses.use`, `compute.backendServices.use`, `compute.targetHttpProxies.use`.
//! Regional and global variants take the scope's name (`compute.regionBackendServices.use`,
//! `compute.globalAddresses.use`). A reference that names no existing resource needs nothing:
//! the call answers its own `notFound` or `invalid`.

use serde_json::Value;

use super::{Call, GcpState, Scope, api_resource, method_name};
use crate::grants::Need;

/// The permissions `call` needs, its own first.
pub fn needs(state: &GcpState, call: &Call) -> Vec<Need> {
    let method = method_name(&call.method, &call.segments);
    let (resource, verb) = method.rsplit_once('.').unwrap_or((method.as_str(), ""));
    let own_verb = match (resource, verb) {
        (_, "insert") => "create",
        (_, "aggregatedList") => "list",
        (_, "patch" | "update") => "update",
        (r, "wait") if r.ends_with("Operations") => "get",
        (_, "listNetworkEndpoints" | "listInstances" | "getHealth") => "get",
        ("instanceGroups", "addInstances" | "removeInstances" | "setNamedPorts") => "update",
        (_, v) => v,
    };
    let target = target_of(state, call);
    let mut out = vec![Need::new(
        format!("compute.{resource}.{own_verb}"),
        target.clone(),
    )];
    if call.method == "GET" {
        return out;
    }
    let scope = scope_of(&call.segments);
    let body = call.body.as_ref().unwrap_or(&Value::Null);
    let mut refs = Refs {
        state,
        scope: &scope,
        out: &mut out,
    };
    let coll = collection_of(&call.segments);
    match (coll.as_deref(), verb) {
        (Some("routes"), "insert") => {
            refs.add(body, "network", "networks", "updatePolicy");
            refs.add(body, "nextHopInstance", "instances", "use");
        }
        (Some("firewalls"), "insert" | "patch" | "update") => {
            refs.add(body, "network", "networks", "updatePolicy");
        }
        (Some("networkEndpointGroups" | "instanceGroups"), "insert") => {
            refs.add(body, "network", "networks", "use");
            refs.add(body, "subnetwork", "subnetworks", "use");
        }
        (Some("addresses"), "insert") => {
            refs.add(body, "subnetwork", "subnetworks", "use");
        }
        (Some("backendServices"), "insert" | "patch" | "update") => {
            for hc in body["healthChecks"].as_array().into_iter().flatten() {
                refs.add_ref(hc, "healthChecks", "useReadOnly");
            }
            for b in body["backends"].as_array().into_iter().flatten() {
                let group = b["group"].as_str().unwrap_or_default();
                if group.contains("/networkEndpointGroups/") {
                    refs.add(b, "group", "networkEndpointGroups", "use");
                } else {
                    refs.add(b, "group", "instanceGroups", "use");
                }
            }
        }
        (Some("urlMaps"), "insert" | "patch" | "update") => {
            let mut services = Vec::new();
            collect_services(body, &mut services);
            for s in services {
                refs.add_ref(&Value::String(s), "backendServices", "use");
            }
        }
        (Some("targetHttpProxies" | "targetHttpsProxies"), "insert" | "setUrlMap") => {
            refs.add(body, "urlMap", "urlMaps", "use");
            for c in body["sslCertificates"].as_array().into_iter().flatten() {
                refs.add_ref(c, "sslCertificates", "get");
            }
        }
        (Some("targetHttpsProxies"), "setSslCertificates") => {
            for c in body["sslCertificates"].as_array().into_iter().flatten() {
                refs.add_ref(c, "sslCertificates", "get");
            }
        }
        (Some("forwardingRules"), "insert" | "setTarget") => {
            refs.add(body, "IPAddress", "addresses", "use");
            refs.add(body, "backendService", "backendServices", "use");
            refs.add(body, "network", "networks", "use");
            refs.add(body, "subnetwork", "subnetworks", "use");
            let target = body["target"].as_str().unwrap_or_default();
            let coll = if target.contains("/targetHttpsProxies/") {
                "targetHttpsProxies"
            } else {
                "targetHttpProxies"
            };
            refs.add(body, "target", coll, "use");
        }
        (Some("instances"), "updateNetworkInterface") => {
            let aliased = body["aliasIpRanges"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            if aliased {
                // The interface's own subnetwork, as stored on the instance.
                let nic = call.query.get("networkInterface").cloned();
                let subnet = state.resources.get(&instance_path(call)).and_then(|i| {
                    i["networkInterfaces"]
                        .as_array()?
                        .iter()
                        .find(|n| nic.as_deref().is_none_or(|want| n["name"] == want))
                        .cloned()
                });
                if let Some(n) = subnet {
                    refs.add(&n, "subnetwork", "subnetworks", "use");
                }
            }
        }
        (Some("networkEndpointGroups"), "attachNetworkEndpoints") => {
            for e in body["networkEndpoints"].as_array().into_iter().flatten() {
                refs.add(e, "instance", "instances", "use");
            }
        }
        (Some("instanceGroups"), "addInstances") => {
            for i in body["instances"].as_array().into_iter().flatten() {
                refs.add(i, "instance", "instances", "use");
            }
        }
        _ => {}
    }
    dedup(out)
}

fn dedup(v: Vec<Need>) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::with_capacity(v.len());
    for n in v {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Every `service` reference in a URL map (default, path matchers, path rules).
fn collect_services(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("defaultService" | "service", Value::String(s)) if !out.contains(s) => {
                        out.push(s.clone())
                    }
                    _ => collect_services(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_services(x, out)),
        _ => {}
    }
}

struct Refs<'a> {
    state: &'a GcpState,
    scope: &'a Scope,
    out: &'a mut Vec<Need>,
}

impl Refs<'_> {
    /// `compute.<coll in the reference's scope>.<verb>` on the resource `v[field]` names.
    fn add(&mut self, v: &Value, field: &str, coll: &str, verb: &str) {
        self.add_ref(&v[field], coll, verb);
    }

    fn add_ref(&mut self, reference: &Value, coll: &str, verb: &str) {
        let Some(r) = reference.as_str().filter(|r| !r.is_empty()) else {
            return;
        };
        let Ok(path) = self.state.resolve(r, coll, self.scope) else {
            return;
        };
        if !self.state.resources.contains_key(&path) {
            return;
        }
        let segs: Vec<String> = path.split('/').map(str::to_string).collect();
        let scope = scope_of(&segs);
        self.out.push(Need::new(
            format!("compute.{}.{verb}", api_resource(&scope, coll)),
            self.state.rel(&path),
        ));
    }
}

fn scope_of(segments: &[String]) -> Scope {
    match segments {
        [r, name, ..] if r == "regions" => Scope::Region(name.clone()),
        [z, name, ..] if z == "zones" => Scope::Zone(name.clone()),
        _ => Scope::Global,
    }
}

/// The collection a scoped path names (`routes` in `global/routes/x`).
fn collection_of(segments: &[String]) -> Option<String> {
    match segments {
        [g, c, ..] if g == "global" => Some(c.clone()),
        [s, _, c, ..] if s == "regions" || s == "zones" => Some(c.clone()),
        [c, _, _] => Some(c.clone()),
        _ => None,
    }
}

fn instance_path(call: &Call) -> String {
    call.segments
        .iter()
        .take(4)
        .cloned()
        .collect::<Vec<_>>()
        .join("/")
}

/// What GCP names in a refusal: the resource the call acts on, or the project (with its
/// scope) for lists and creates without a name.
fn target_of(state: &GcpState, call: &Call) -> String {
    let s = &call.segments;
    if let [c, name, _] = s.as_slice()
        && c.starts_with("targetHttp")
    {
        return state.rel(&format!("global/{c}/{name}"));
    }
    let scoped = matches!(s.first().map(String::as_str), Some("regions" | "zones"));
    let name_at = if scoped { 3 } else { 2 };
    let coll_end = if scoped { 3 } else { 2 };
    let named = match s.get(name_at) {
        Some(_) => Some(s[..=name_at].join("/")),
        None if call.method == "POST" => call.body.as_ref().and_then(|b| {
            b["name"]
                .as_str()
                .map(|n| format!("{}/{n}", s[..coll_end.min(s.len())].join("/")))
        }),
        None => None,
    };
    match named {
        Some(p) if s.first().map(String::as_str) != Some("aggregated") => state.rel(&p),
        _ => format!("projects/{}", state.project),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::GcpWorld;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn call(method: &str, path: &str, body: Option<Value>) -> Call {
        Call {
            method: method.into(),
            segments: path.split('/').map(str::to_string).collect(),
            query: BTreeMap::new(),
            body,
            now_ms: 0,
            user: "t".into(),
            running_ms: 0,
        }
    }

    fn perms(n: &[Need]) -> Vec<&str> {
        n.iter().map(|n| n.permission.as_str()).collect()
    }

    #[test]
    fn methods_map_to_their_permissions_and_references_to_use() {
        let s = GcpState::new(&GcpWorld::default(), std::time::SystemTime::now()).expect("world");
        let get = needs(
            &s,
            &call(
                "GET",
                "zones/us-central1-a/instances/gke-cloudnet-node-1",
                None,
            ),
        );
        assert_eq!(perms(&get), ["compute.instances.get"]);
        assert_eq!(
            get[0].resource,
            "projects/cloudnet-sandbox/zones/us-central1-a/instances/gke-cloudnet-node-1"
        );
        let alias = needs(
            &s,
            &call(
                "PATCH",
                "zones/us-central1-a/instances/gke-cloudnet-node-1/updateNetworkInterface",
                Some(
                    json!({"aliasIpRanges": [{"ipCidrRange": "10.4.0.0/24", "subnetworkRangeName": "pods"}]}),
                ),
            ),
        );
        assert_eq!(
            perms(&alias),
            [
                "compute.instances.updateNetworkInterface",
                "compute.subnetworks.use"
            ]
        );
        let route = needs(
            &s,
            &call(
                "POST",
                "global/routes",
                Some(json!({"name": "r", "network": "global/networks/cloudnet",
                    "nextHopInstance": "zones/us-central1-a/instances/gke-cloudnet-node-1"})),
            ),
        );
        assert_eq!(
            perms(&route),
            [
                "compute.routes.create",
                "compute.networks.updatePolicy",
                "compute.instances.use"
            ]
        );
        assert_eq!(
            route[0].resource,
            "projects/cloudnet-sandbox/global/routes/r"
        );
        let list = needs(&s, &call("GET", "aggregated/instances", None));
        assert_eq!(perms(&list), ["compute.instances.list"]);
        assert_eq!(list[0].resource, "projects/cloudnet-sandbox");
        let wait = needs(
            &s,
            &call("POST", "zones/us-central1-a/operations/op/wait", None),
        );
        assert_eq!(perms(&wait), ["compute.zoneOperations.get"]);
        let rbs = needs(
            &s,
            &call(
                "POST",
                "regions/us-central1/backendServices",
                Some(json!({"name": "b"})),
            ),
        );
        assert_eq!(perms(&rbs), ["compute.regionBackendServices.create"]);
        let gfr = needs(&s, &call("DELETE", "global/forwardingRules/f", None));
        assert_eq!(perms(&gfr), ["compute.globalForwardingRules.delete"]);
    }
}
