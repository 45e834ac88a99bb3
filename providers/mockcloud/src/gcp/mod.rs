//! Compute Engine (REST v1) as a state machine with the real API's rules: resources under
//! `projects/{project}/{global|regions/R|zones/Z}/{collection}/{name}`, operations that
//! clients poll or `wait` on, fingerprints on updates (412 `conditionNotMet` when stale),
//! list filters and pages, references that must exist and block deletion while used, alias
//! IP ranges checked against the subnetwork's ranges, NEG endpoints checked against their
//! instances, and quotas from the world file.
//!
//! ```text
//! gce (HTTP) ──(Call)──▶ GcpState::handle ──▶ network / instances / lb / negs / ops / list
//!            ◀── JSON (resource, list, operation) or GcpError ──┘
//! ```
//!
//! Resources are kept as the JSON the API returns, with every reference a full URL under
//! [`API_BASE`]; the HTTP front rewrites that base to the address the client used. A
//! mutating call takes effect when it is accepted; its operation reports `DONE` at once, or
//! `RUNNING` for as long as an `operation_running` fault says.

pub mod alias;
pub mod error;
pub mod filter;
mod groups;
pub mod health;
mod instances;
mod lb;
mod list;
mod names;
mod negs;
mod network;
pub mod ops;
pub mod perms;
pub mod world;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use error::{GcpError, GcpResult};
pub use names::{api_resource, collection_allowed, kind_of, method_name, valid_name};
pub use ops::Operation;
pub use world::GcpWorld;

/// A self-signed certificate for `names` and its matching private key, PEM: what a
/// self-managed `sslCertificates` insert must carry (the mock checks the pair).
pub fn key_pair(names: &[&str]) -> Result<(String, String), String> {
    cloudnet_tlsca::self_signed(names).map_err(|e| e.to_string())
}

/// The body of a self-managed `sslCertificates` insert named `name`, with a fresh pair.
pub fn self_managed_certificate(name: &str) -> Result<serde_json::Value, String> {
    let (certificate, private_key) = key_pair(&[&format!("{name}.example.com")])?;
    Ok(serde_json::json!({
        "name": name,
        "certificate": certificate,
        "privateKey": private_key,
    }))
}

use crate::grants::{Granted, Grants};
use crate::ids::splitmix64;

/// The base of every URL the state holds.
pub const API_BASE: &str = "https://www.googleapis.com/compute/v1/";

/// Where a resource lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Region(String),
    Zone(String),
}

impl Scope {
    /// `global`, `regions/R` or `zones/Z`.
    pub fn path(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Region(r) => format!("regions/{r}"),
            Scope::Zone(z) => format!("zones/{z}"),
        }
    }
}

/// One request, parsed by the HTTP front.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path after `/compute/v1/projects/{project}/`, split on `/`.
    pub segments: Vec<String>,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
    pub now_ms: u64,
    /// The caller (service account or token), shown as an operation's `user`.
    pub user: String,
    /// An `operation_running` fault: the operation stays RUNNING this long.
    pub running_ms: u64,
}

/// Resource limits per project (global resources) or per region (regional and zonal ones),
/// by Compute Engine quota metric.
pub type Quotas = BTreeMap<String, u64>;

#[derive(Debug, Serialize)]
pub struct GcpState {
    pub project: String,
    pub project_number: u64,
    /// Region -> its zones.
    pub regions: BTreeMap<String, Vec<String>>,
    pub quotas: Quotas,
    /// Every resource by its path under the project (`zones/Z/instances/N`).
    pub resources: BTreeMap<String, Value>,
    /// NEG path -> its endpoints, in attach order.
    pub neg_endpoints: BTreeMap<String, Vec<Value>>,
    /// Instance-group path -> member instance URLs.
    pub group_members: BTreeMap<String, Vec<String>>,
    pub operations: BTreeMap<String, Operation>,
    /// Service account of each instance (path -> email) and the default one.
    pub default_service_account: String,
    /// IAM from the world's `gcp.iam` (or the control endpoint); None allows every call.
    #[serde(skip)]
    pub iam: Option<Grants>,
    next_id: u64,
    #[serde(skip)]
    wall_epoch: SystemTime,
}

/// An 8-byte fingerprint, in the URL-safe base64 the API shows (`--KE24GB4T0=`): the
/// client libraries decode it with that alphabet and refuse `+` and `/`.
pub fn fingerprint(seed: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(splitmix64(seed).to_be_bytes())
}

impl GcpState {
    pub fn new(world: &GcpWorld, wall_epoch: SystemTime) -> crate::error::Result<GcpState> {
        let mut s = GcpState {
            project: world.project.clone(),
            project_number: world.project_number,
            regions: world
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.zones.clone()))
                .collect(),
            quotas: world::default_quotas(),
            resources: BTreeMap::new(),
            neg_endpoints: BTreeMap::new(),
            group_members: BTreeMap::new(),
            operations: BTreeMap::new(),
            default_service_account: format!(
                "{}-compute@developer.gserviceaccount.com",
                world.project_number
            ),
            iam: None,
            next_id: 0,
            wall_epoch,
        };
        s.iam = world
            .iam
            .as_ref()
            .map(|spec| Grants::compile(spec, "gcp.iam", Granted::from_gcp_role))
            .transpose()
            .map_err(crate::error::Error::InvalidWorld)?;
        s.quotas.extend(world.quotas.clone());
        world::build(&mut s, world)?;
        Ok(s)
    }

    /// `projects/{project}/` under [`API_BASE`].
    pub fn project_url(&self) -> String {
        format!("{API_BASE}projects/{}/", self.project)
    }

    /// The full URL of a path under the project.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.project_url())
    }

    fn next_id(&mut self) -> String {
        self.next_id += 1;
        // Positive, 19 digits, like the API's uint64 ids; a bijection, so never repeated.
        ((splitmix64(self.next_id ^ self.project_number) >> 2) | (1 << 60)).to_string()
    }

    fn next_fingerprint(&mut self) -> String {
        self.next_id += 1;
        fingerprint(self.next_id ^ 0x5eed)
    }

    pub fn timestamp(&self, now_ms: u64) -> String {
        let t = self.wall_epoch + Duration::from_millis(now_ms);
        chrono::DateTime::<chrono::Utc>::from(t)
            .with_timezone(&chrono::FixedOffset::west_opt(7 * 3600).unwrap_or_else(|| {
                chrono::FixedOffset::east_opt(0)
                    .unwrap_or_else(|| unreachable!("0 is a valid offset"))
            }))
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    }

    /// The zone's region, when the zone exists.
    pub fn region_of_zone(&self, zone: &str) -> Option<&str> {
        self.regions
            .iter()
            .find(|(_, zs)| zs.iter().any(|z| z == zone))
            .map(|(r, _)| r.as_str())
    }

    fn check_scope(&self, scope: &Scope) -> GcpResult<()> {
        match scope {
            Scope::Global => Ok(()),
            Scope::Region(r) if self.regions.contains_key(r) => Ok(()),
            Scope::Zone(z) if self.region_of_zone(z).is_some() => Ok(()),
            Scope::Region(r) => Err(GcpError::not_found(&format!(
                "projects/{}/regions/{r}",
                self.project
            ))),
            Scope::Zone(z) => Err(GcpError::not_found(&format!(
                "projects/{}/zones/{z}",
                self.project
            ))),
        }
    }

    /// `projects/P/<path>`, as error messages name resources.
    pub fn rel(&self, path: &str) -> String {
        format!("projects/{}/{path}", self.project)
    }

    /// A reference as clients write it (a full URL, `projects/P/...`, `global/...`, or a bare
    /// name in `default_scope`'s `coll`) -> the path under the project, when it is in this
    /// project and of collection `coll`.
    pub fn resolve(&self, reference: &str, coll: &str, default_scope: &Scope) -> GcpResult<String> {
        let r = reference.trim();
        let after_project = r
            .find("projects/")
            .map(|i| &r[i + "projects/".len()..])
            .map(|rest| match rest.split_once('/') {
                Some((p, tail)) if p == self.project => Ok(tail.to_string()),
                _ => Err(GcpError::not_found(r)),
            });
        let path = match after_project {
            Some(p) => p?,
            None if r.contains('/') => r.to_string(),
            None => format!("{}/{coll}/{r}", default_scope.path()),
        };
        let segs: Vec<&str> = path.split('/').collect();
        let ok = match segs.as_slice() {
            ["global", c, n] => *c == coll && !n.is_empty(),
            ["regions" | "zones", _, c, n] => *c == coll && !n.is_empty(),
            _ => false,
        };
        if !ok {
            return Err(GcpError::invalid_field(
                coll,
                reference,
                &format!("The URL is malformed or does not name a {}.", kind_of(coll)),
            ));
        }
        Ok(path)
    }

    /// Like [`GcpState::resolve`], and the resource must exist; gives its full URL.
    pub fn existing(
        &self,
        reference: &str,
        coll: &str,
        default_scope: &Scope,
    ) -> GcpResult<String> {
        let path = self.resolve(reference, coll, default_scope)?;
        if self.resources.contains_key(&path) {
            Ok(self.url(&path))
        } else {
            Err(GcpError::not_found(&self.rel(&path)))
        }
    }

    /// The path under the project of a full URL this state wrote.
    pub fn path_of(&self, url: &str) -> Option<String> {
        url.strip_prefix(&self.project_url()).map(str::to_string)
    }

    pub fn get_url(&self, url: &str) -> Option<&Value> {
        self.path_of(url).and_then(|p| self.resources.get(&p))
    }

    /// Resources other than `path` that hold its URL (not counting their own selfLink).
    pub fn users_of(&self, path: &str) -> Vec<String> {
        let url = self.url(path);
        let mut users: Vec<String> = self
            .resources
            .iter()
            .filter(|(p, _)| p.as_str() != path)
            .filter(|(_, v)| mentions(v, &url, true))
            .map(|(p, _)| self.url(p))
            .collect();
        for (neg, eps) in &self.neg_endpoints {
            if eps.iter().any(|e| mentions(e, &url, false)) {
                users.push(self.url(neg));
            }
        }
        for (group, members) in &self.group_members {
            if members.iter().any(|m| m == &url) {
                users.push(self.url(group));
            }
        }
        users
    }

    /// Adds the fields every resource has and stores it.
    fn store(
        &mut self,
        scope: &Scope,
        coll: &str,
        mut obj: Map<String, Value>,
        now_ms: u64,
    ) -> String {
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let path = format!("{}/{coll}/{name}", scope.path());
        obj.insert("kind".into(), json!(format!("compute#{}", kind_of(coll))));
        obj.insert("id".into(), json!(self.next_id()));
        obj.insert("creationTimestamp".into(), json!(self.timestamp(now_ms)));
        obj.insert("selfLink".into(), json!(self.url(&path)));
        match scope {
            Scope::Region(r) => {
                obj.insert("region".into(), json!(self.url(&format!("regions/{r}"))));
            }
            Scope::Zone(z) => {
                obj.insert("zone".into(), json!(self.url(&format!("zones/{z}"))));
            }
            Scope::Global => {}
        }
        self.resources.insert(path.clone(), Value::Object(obj));
        path
    }

    /// Whether the caller may make `call` (always, without IAM): the refusal is Compute
    /// Engine's 403 `forbidden` naming the first permission the caller's role lacks.
    pub fn authorize(&mut self, call: &Call) -> GcpResult<()> {
        if self.iam.is_none() {
            return Ok(());
        }
        let needs = perms::needs(self, call);
        let Some(iam) = self.iam.as_mut() else {
            return Ok(());
        };
        iam.check(&call.user, &needs)
            .map_err(|r| GcpError::forbidden(&r.need.permission, &r.need.resource))
    }

    /// Answers one call.
    pub fn handle(&mut self, call: &Call) -> GcpResult<Value> {
        let s: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        let m = call.method.as_str();
        match (m, s.as_slice()) {
            ("GET", []) => Ok(self.project_json()),
            ("GET", ["regions"]) => list::list_places(self, call, "regions"),
            ("GET", ["zones"]) => list::list_places(self, call, "zones"),
            ("GET", ["regions", r]) => self.region_json(r),
            ("GET", ["zones", z]) => self.zone_json(z),
            ("GET", ["aggregated", coll]) => list::aggregated(self, call, coll),
            ("POST", [c @ ("targetHttpProxies" | "targetHttpsProxies"), name, verb]) => {
                self.verb(call, &Scope::Global, c, name, verb)
            }
            _ => {
                let (scope, rest) = match s.as_slice() {
                    ["global", rest @ ..] => (Scope::Global, rest),
                    ["regions", r, rest @ ..] => (Scope::Region((*r).into()), rest),
                    ["zones", z, rest @ ..] => (Scope::Zone((*z).into()), rest),
                    _ => return Err(unknown(call)),
                };
                self.check_scope(&scope)?;
                self.scoped(call, &scope, rest)
            }
        }
    }

    fn scoped(&mut self, call: &Call, scope: &Scope, rest: &[&str]) -> GcpResult<Value> {
        let m = call.method.as_str();
        if rest.first() == Some(&"operations") {
            return ops::handle(self, call, scope, &rest[1..]);
        }
        let Some(coll) = rest
            .first()
            .copied()
            .filter(|c| collection_allowed(scope, c))
        else {
            return Err(unknown(call));
        };
        match (m, &rest[1..]) {
            ("GET", []) => list::list(self, call, scope, coll),
            ("POST", []) => self.insert(call, scope, coll),
            ("GET", [name]) => {
                let path = format!("{}/{coll}/{name}", scope.path());
                self.resources
                    .get(&path)
                    .cloned()
                    .ok_or_else(|| GcpError::not_found(&self.rel(&path)))
            }
            ("DELETE", [name]) => self.delete(call, scope, coll, name),
            ("PATCH" | "PUT", [name]) => self.update(call, scope, coll, name),
            (_, [name, verb]) => self.verb(call, scope, coll, name, verb),
            _ => Err(unknown(call)),
        }
    }

    fn body(call: &Call) -> GcpResult<Map<String, Value>> {
        match &call.body {
            Some(Value::Object(o)) => Ok(o.clone()),
            Some(_) => Err(GcpError::bad_request(
                "The request body must be a JSON object",
            )),
            None => Err(GcpError::required("resource")),
        }
    }

    fn insert(&mut self, call: &Call, scope: &Scope, coll: &str) -> GcpResult<Value> {
        let mut obj = Self::body(call)?;
        for k in ["id", "selfLink", "creationTimestamp", "kind"] {
            obj.remove(k);
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            return Err(GcpError::required("resource.name"));
        }
        if !valid_name(&name) {
            return Err(GcpError::invalid_field(
                "resource.name",
                &name,
                "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})'",
            ));
        }
        let path = format!("{}/{coll}/{name}", scope.path());
        if self.resources.contains_key(&path) {
            return Err(GcpError::already_exists(&self.rel(&path)));
        }
        self.check_quota(scope, coll)?;
        self.prepare(scope, coll, &mut obj, None, call.now_ms)?;
        let path = self.store(scope, coll, obj, call.now_ms);
        self.after_insert(&path);
        Ok(self.operation(call, scope, "insert", &path))
    }

    /// Per-collection checks and defaults; `old` is the current resource on an update.
    fn prepare(
        &mut self,
        scope: &Scope,
        coll: &str,
        obj: &mut Map<String, Value>,
        old: Option<&Value>,
        now_ms: u64,
    ) -> GcpResult<()> {
        match coll {
            "networks" => network::prepare_network(self, obj),
            "subnetworks" => network::prepare_subnetwork(self, scope, obj, old),
            "routes" => network::prepare_route(self, obj),
            "firewalls" => network::prepare_firewall(self, obj),
            "addresses" => network::prepare_address(self, scope, obj),
            "instances" => instances::prepare(self, scope, obj, now_ms),
            "networkEndpointGroups" => negs::prepare(self, scope, obj),
            _ => lb::prepare(self, scope, coll, obj, old),
        }
    }

    fn after_insert(&mut self, path: &str) {
        if path.contains("/forwardingRules/") {
            lb::claim_address(self, path);
        }
        if path.contains("/networkEndpointGroups/") {
            self.neg_endpoints.insert(path.to_string(), Vec::new());
        }
        if path.contains("/instanceGroups/") {
            self.group_members.insert(path.to_string(), Vec::new());
        }
    }

    fn delete(&mut self, call: &Call, scope: &Scope, coll: &str, name: &str) -> GcpResult<Value> {
        let path = format!("{}/{coll}/{name}", scope.path());
        let Some(current) = self.resources.get(&path) else {
            return Err(GcpError::not_found(&self.rel(&path)));
        };
        if let Some(user) = current
            .get("users")
            .and_then(Value::as_array)
            .and_then(|u| u.first())
            .and_then(Value::as_str)
        {
            return Err(GcpError::in_use(&self.rel(&path), user));
        }
        let users = self.users_of(&path);
        let blocking: Vec<&String> = users
            .iter()
            // An instance leaves the NEGs and groups it is in, as in Compute Engine.
            .filter(|u| {
                !(coll == "instances"
                    && (u.contains("/networkEndpointGroups/") || u.contains("/instanceGroups/")))
            })
            .collect();
        if let Some(user) = blocking.first() {
            return Err(GcpError::in_use(&self.rel(&path), user));
        }
        let url = self.url(&path);
        if coll == "instances" {
            for eps in self.neg_endpoints.values_mut() {
                eps.retain(|e| !mentions(e, &url, false));
            }
            for members in self.group_members.values_mut() {
                members.retain(|m| m != &url);
            }
            negs::refresh_sizes(self);
        }
        if coll == "forwardingRules" {
            lb::release_address(self, &path);
        }
        self.resources.remove(&path);
        self.neg_endpoints.remove(&path);
        self.group_members.remove(&path);
        Ok(self.operation(call, scope, "delete", &path))
    }

    /// PATCH (merge) or PUT (replace), with the fingerprint checked where the resource has one.
    fn update(&mut self, call: &Call, scope: &Scope, coll: &str, name: &str) -> GcpResult<Value> {
        let path = format!("{}/{coll}/{name}", scope.path());
        let Some(current) = self.resources.get(&path).cloned() else {
            return Err(GcpError::not_found(&self.rel(&path)));
        };
        const PATCHABLE: &[&str] = &[
            "subnetworks",
            "firewalls",
            "healthChecks",
            "backendServices",
            "urlMaps",
            "networks",
        ];
        if !PATCHABLE.contains(&coll) {
            return Err(unknown(call));
        }
        let body = Self::body(call)?;
        let has_fp = current.get("fingerprint").is_some();
        if has_fp {
            match body.get("fingerprint").and_then(Value::as_str) {
                None if coll == "subnetworks" => {
                    return Err(GcpError::required("resource.fingerprint"));
                }
                Some(fp) if Some(fp) != current["fingerprint"].as_str() => {
                    return Err(GcpError::stale_fingerprint());
                }
                _ => {}
            }
        }
        if let Some(n) = body.get("name").and_then(Value::as_str)
            && n != name
        {
            return Err(GcpError::invalid_field(
                "resource.name",
                n,
                "The name cannot change.",
            ));
        }
        let mut obj = if call.method == "PUT" {
            let mut o = body.clone();
            o.insert("name".into(), json!(name));
            o
        } else {
            let mut o = current.as_object().cloned().unwrap_or_default();
            for (k, v) in &body {
                if v.is_null() {
                    o.remove(k);
                } else {
                    o.insert(k.clone(), v.clone());
                }
            }
            o
        };
        // What the server sets: a client's values never stick.
        const SERVER_SET: [&str; 6] = [
            "id",
            "selfLink",
            "creationTimestamp",
            "kind",
            "region",
            "zone",
        ];
        for k in SERVER_SET.iter().chain(&["fingerprint"]) {
            obj.remove(*k);
        }
        self.prepare(scope, coll, &mut obj, Some(&current), call.now_ms)?;
        for k in SERVER_SET {
            if let Some(v) = current.get(k) {
                obj.insert(k.into(), v.clone());
            }
        }
        if has_fp {
            obj.insert("fingerprint".into(), json!(self.next_fingerprint()));
        }
        self.resources.insert(path.clone(), Value::Object(obj));
        let verb = if call.method == "PUT" {
            "update"
        } else {
            "patch"
        };
        Ok(self.operation(call, scope, verb, &path))
    }

    fn verb(
        &mut self,
        call: &Call,
        scope: &Scope,
        coll: &str,
        name: &str,
        verb: &str,
    ) -> GcpResult<Value> {
        let path = format!("{}/{coll}/{name}", scope.path());
        if !self.resources.contains_key(&path) {
            return Err(GcpError::not_found(&self.rel(&path)));
        }
        match (call.method.as_str(), coll, verb) {
            ("PATCH" | "POST", "instances", "updateNetworkInterface") => {
                instances::update_network_interface(self, call, scope, &path)
            }
            ("POST", "networkEndpointGroups", _) => negs::verb(self, call, scope, &path, verb),
            ("POST", "instanceGroups", _) => groups::group_verb(self, call, scope, &path, verb),
            ("POST", c @ ("targetHttpProxies" | "targetHttpsProxies"), _) => {
                lb::proxy_verb(self, call, scope, c, &path, verb)
            }
            ("POST", "forwardingRules", "setTarget") => lb::set_target(self, call, scope, &path),
            ("POST", "backendServices", "getHealth") => groups::get_health(self, call, &path),
            _ => Err(unknown(call)),
        }
    }

    /// Makes the operation of a mutating call on `path` and answers it.
    fn operation(&mut self, call: &Call, scope: &Scope, kind: &str, path: &str) -> Value {
        ops::create(self, call, scope, kind, path)
    }

    fn check_quota(&self, scope: &Scope, coll: &str) -> GcpResult<()> {
        let Some(metric) = world::quota_metric(scope, coll) else {
            return Ok(());
        };
        let Some(limit) = self.quotas.get(metric).copied() else {
            return Ok(());
        };
        let usage = self.quota_usage(scope, coll);
        if usage >= limit {
            let where_ = match scope {
                Scope::Global => "globally".to_string(),
                Scope::Region(r) => format!("in region {r}"),
                Scope::Zone(z) => format!("in region {}", self.region_of_zone(z).unwrap_or(z)),
            };
            return Err(GcpError::quota_exceeded(metric, limit, &where_));
        }
        Ok(())
    }

    /// Resources counted against the quota of (scope, coll): all of the project for global
    /// ones, the region's (and its zones') for the others.
    fn quota_usage(&self, scope: &Scope, coll: &str) -> u64 {
        let region = match scope {
            Scope::Global => None,
            Scope::Region(r) => Some(r.clone()),
            Scope::Zone(z) => self.region_of_zone(z).map(str::to_string),
        };
        self.resources
            .keys()
            .filter(|p| {
                let segs: Vec<&str> = p.split('/').collect();
                match (segs.as_slice(), &region) {
                    (["global", c, _], None) => *c == coll,
                    (["regions", r, c, _], Some(want)) => *c == coll && r == want,
                    (["zones", z, c, _], Some(want)) => {
                        *c == coll && self.region_of_zone(z) == Some(want.as_str())
                    }
                    _ => false,
                }
            })
            .count() as u64
    }

    fn quota_rows(&self, scope: &Scope) -> Vec<Value> {
        world::QUOTA_METRICS
            .iter()
            .filter(|(s, _, _)| {
                matches!(
                    (s, scope),
                    (world::QuotaScope::Global, Scope::Global)
                        | (world::QuotaScope::Regional, Scope::Region(_))
                )
            })
            .filter_map(|(_, coll, metric)| {
                let limit = self.quotas.get(*metric)?;
                let usage = self.quota_usage(scope, coll);
                Some(json!({"metric": metric, "limit": *limit as f64, "usage": usage as f64}))
            })
            .collect()
    }

    fn project_json(&self) -> Value {
        json!({
            "kind": "compute#project",
            "id": self.project_number.to_string(),
            "name": self.project,
            "selfLink": self.project_url().trim_end_matches('/'),
            "defaultServiceAccount": self.default_service_account,
            "quotas": self.quota_rows(&Scope::Global),
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
        })
    }

    fn region_json(&self, region: &str) -> GcpResult<Value> {
        let zones = self
            .regions
            .get(region)
            .ok_or_else(|| GcpError::not_found(&self.rel(&format!("regions/{region}"))))?;
        Ok(json!({
            "kind": "compute#region",
            "id": (1000 + self.regions.keys().position(|r| r == region).unwrap_or(0)).to_string(),
            "name": region,
            "status": "UP",
            "zones": zones.iter().map(|z| self.url(&format!("zones/{z}"))).collect::<Vec<_>>(),
            "quotas": self.quota_rows(&Scope::Region(region.to_string())),
            "selfLink": self.url(&format!("regions/{region}")),
        }))
    }

    fn zone_json(&self, zone: &str) -> GcpResult<Value> {
        let region = self
            .region_of_zone(zone)
            .ok_or_else(|| GcpError::not_found(&self.rel(&format!("zones/{zone}"))))?;
        Ok(json!({
            "kind": "compute#zone",
            "id": (2000 + self.regions.values().flatten().position(|z| z == zone).unwrap_or(0)).to_string(),
            "name": zone,
            "status": "UP",
            "region": self.url(&format!("regions/{region}")),
            "selfLink": self.url(&format!("zones/{zone}")),
        }))
    }
}

/// Whether `v` holds `url` as a string anywhere (skipping, when asked, `selfLink` and an
/// address's `users`, which point back at what uses it rather than at what it uses).
fn mentions(v: &Value, url: &str, skip_self: bool) -> bool {
    match v {
        Value::String(s) => s == url,
        Value::Array(a) => a.iter().any(|x| mentions(x, url, skip_self)),
        Value::Object(o) => o.iter().any(|(k, x)| {
            !(skip_self && (k == "selfLink" || k == "users")) && mentions(x, url, skip_self)
        }),
        _ => false,
    }
}

fn unknown(call: &Call) -> GcpError {
    GcpError::not_found(&format!(
        "{} /compute/v1/projects/.../{}",
        call.method,
        call.segments.join("/")
    ))
}

/// The query parameter `name` as an unsigned number within `range`.
pub fn query_u64(call: &Call, name: &str, default: u64, max: u64) -> GcpResult<u64> {
    match call.query.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
            GcpError::invalid_field(name, v, &format!("Must be a number between 0 and {max}."))
        }),
    }
}
