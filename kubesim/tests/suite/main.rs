//! The embedded API's test suite: one binary, so the heavy client crates link once.

mod bad_input;
mod bounded;
mod concurrency;
mod conformance;
mod controller;
mod dry_run;
mod events;
mod events_api;
mod imperative;
mod kubectl;
mod modules;
mod namespaces;
mod properties;
mod rollout;
mod simulation;
mod tables;
mod watching;

use std::sync::Arc;
use std::time::Duration;

use cloudnet_kubesim::sim::{
    self, Simulation, kubelet::RangeAddressSource, node::NodeRegistration,
};
use cloudnet_kubesim::{ADMIN, Config, Handle, KubeSim};
use serde_json::Value;

pub use cloudnet_testkit::eventually;

/// Generous: the suite shares two cores with builds.
pub const WAIT: Duration = Duration::from_secs(30);

pub async fn start_with(config: Config) -> (Handle, kube::Client) {
    let handle = KubeSim::start(config).await.expect("server starts");
    let client = handle.client_for(ADMIN).await.expect("client builds");
    (handle, client)
}

pub async fn start() -> (Handle, kube::Client) {
    start_with(Config::default()).await
}

/// Starts the simulated cluster (scheduler, kubelets, controllers) on `handle` with one node,
/// `node-a`, of `instance_type` holding at most `max_pods` pods. Keep the returned
/// [`Simulation`] alive for as long as the cluster should run.
pub fn start_cluster(handle: &Handle, instance_type: &str, max_pods: u32) -> Simulation {
    let simulation = sim::start(handle.store(), Arc::new(RangeAddressSource::default()));
    sim::node::register_node(
        handle.store(),
        &NodeRegistration {
            name: "node-a".into(),
            provider_id: "aws:///us-west-2a/i-a".into(),
            internal_ip: "192.168.1.10".into(),
            zone: "us-west-2a".into(),
            instance_type: instance_type.into(),
            max_pods,
        },
    )
    .expect("node");
    simulation
}

/// Code and reason of an API error.
pub fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A raw request with the admin token: (status code, JSON body).
pub async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    use http_body_util::BodyExt;
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .expect("request builds");
    let response = client.send(request).await.expect("request is answered");
    let code = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
