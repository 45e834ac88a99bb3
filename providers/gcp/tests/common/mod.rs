//! Shared set-up: the mock cloud on an ephemeral port with its built-in GKE-like world
//! (project `cloudnet-sandbox`, network `cloudnet`, subnetwork `cloudnet-nodes` with `pods`
//! and `services` secondary ranges, nodes `gke-cloudnet-node-1`/`-2` in us-central1-a/-b),
//! and the provider pointed at it through the real client library.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use cloudnet_gcp::{CredentialsChoice, GcpConfig, GcpProvider, RetryConfig};
use cloudnet_mockcloud::faults::{FaultKind, FaultRule, Trigger};
use cloudnet_mockcloud::gcp::world::{AliasRangeSpec, GcpWorld};
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};

pub const PROJECT: &str = "cloudnet-sandbox";
pub const NETWORK: &str = "cloudnet";
pub const NODE_1: &str = "gke-cloudnet-node-1";
pub const NODE_2: &str = "gke-cloudnet-node-2";
pub const ZONE_1: &str = "us-central1-a";
pub const ZONE_2: &str = "us-central1-b";

pub async fn start() -> Handle {
    MockCloud::start(Config::ephemeral(World::default()))
        .await
        .expect("mock cloud starts")
}

/// The built-in GKE-like world, the nodes with pod ranges: node 1 (us-central1-a) a /21
/// (room for 1,200 pods), node 2 (us-central1-b) a /24.
pub fn with_pod_ranges() -> GcpWorld {
    let mut gcp = GcpWorld::default();
    for (i, range) in ["10.4.0.0/21", "10.4.8.0/24"].iter().enumerate() {
        gcp.instances[i].alias_ranges = vec![AliasRangeSpec {
            range: Some("pods".into()),
            ip_cidr_range: range.to_string(),
        }];
    }
    gcp
}

/// The mock cloud serving `gcp`.
pub async fn start_gcp(gcp: GcpWorld) -> Handle {
    let world = World {
        gcp: Some(gcp),
        ..World::default()
    };
    MockCloud::start(Config::ephemeral(world))
        .await
        .expect("mock cloud starts")
}

/// [`with_pod_ranges`]'s world.
pub async fn start_with_pod_ranges() -> Handle {
    start_gcp(with_pod_ranges()).await
}

/// A POST straight into the mock's Compute Engine state (what someone else made).
pub fn mock_post(h: &Handle, segments: &[&str], body: serde_json::Value) {
    mock_call(h, "POST", segments, body)
}

/// Someone else points URL map `url_map`'s default at backend service `service` (a drift
/// the provider repairs).
pub fn repoint_url_map(h: &Handle, url_map: &str, service: &str) {
    let body = serde_json::json!({"defaultService": format!("global/backendServices/{service}")});
    mock_call(h, "PATCH", &["global", "urlMaps", url_map], body);
}

/// A call straight into the mock's Compute Engine state, as someone else (no permission check).
pub fn mock_call(h: &Handle, method: &str, segments: &[&str], body: serde_json::Value) {
    let call = cloudnet_mockcloud::gcp::Call {
        method: method.into(),
        segments: segments.iter().map(|s| s.to_string()).collect(),
        query: BTreeMap::new(),
        body: Some(body),
        now_ms: 0,
        user: "someone-else".into(),
        running_ms: 0,
    };
    h.with_cloud(|c| c.gcp.handle(&call))
        .expect("mock call succeeds");
}

/// A config for the mock: anonymous credentials, its endpoint, everything given (no
/// discovery), quick retries.
pub fn config(h: &Handle, cluster: &str) -> GcpConfig {
    let mut c = GcpConfig::new(cluster);
    c.project = Some(PROJECT.into());
    c.region = Some("us-central1".into());
    c.network = Some(NETWORK.into());
    c.endpoint = Some(h.endpoint_url());
    c.credentials = CredentialsChoice::Anonymous;
    c.retry = RetryConfig {
        throttle_retries: 8,
        transient_retries: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
    };
    c.polling.initial_interval = Duration::from_millis(10);
    c.polling.max_interval = Duration::from_millis(50);
    c
}

pub async fn provider(h: &Handle, cluster: &str) -> GcpProvider {
    GcpProvider::connect(config(h, cluster))
        .await
        .expect("provider connects")
}

/// The mock's count of one Compute Engine method (`routes.insert`).
pub fn mock_calls(h: &Handle, method: &str) -> u64 {
    let key = format!("compute:{method}");
    h.with_cloud(|c| c.calls.get(&key).copied().unwrap_or(0))
}

/// The mock's Compute Engine counts, by method.
pub fn mock_compute_calls(h: &Handle) -> BTreeMap<String, u64> {
    h.with_cloud(|c| {
        c.calls
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("compute:").map(|m| (m.to_string(), *v)))
            .collect()
    })
}

/// Adds a fault rule for one Compute Engine method.
pub fn fault(h: &Handle, method: &str, kind: FaultKind, trigger: Trigger) -> u64 {
    h.with_cloud(|c| {
        c.faults.add(FaultRule {
            service: "compute".into(),
            action: method.into(),
            kind,
            trigger,
        })
    })
}

/// The mock's stored JSON of a resource (`projects/.../global/routes/x`), if any.
pub fn resource(h: &Handle, path_suffix: &str) -> Option<serde_json::Value> {
    h.with_cloud(|c| {
        c.gcp
            .resources
            .iter()
            .find(|(k, _)| k.ends_with(path_suffix))
            .map(|(_, v)| v.clone())
    })
}
