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
mod rbac;
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
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::kubectl::Kubectl;

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

/// Starts the embedded API and a kubectl pointed at it; `None` when the machine has no kubectl
/// (see `cloudnet_testkit::kubectl` for when that fails the run instead).
pub(crate) async fn start_kubectl() -> Option<(Handle, kube::Client, Kubectl)> {
    let (handle, client) = start().await;
    let kubectl = Kubectl::for_handle(&handle)?;
    Some((handle, client, kubectl))
}

/// Creates the object `value` describes through `api`.
pub async fn create<K>(api: &Api<K>, value: Value) -> K
where
    K: Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(value).expect("the object parses");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create")
}

/// Applies the JSON merge patch `body` to `name` through `api`.
pub async fn merge<K>(api: &Api<K>, name: &str, body: Value) -> K
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .expect("merge patch")
}

/// Deletes `name` through `api` (a finalizer may keep it for a while).
pub async fn delete<K>(api: &Api<K>, name: &str)
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete");
}

/// Sets the replicas of Deployment `name` through its scale subresource.
pub async fn scale(api: &Api<Deployment>, name: &str, replicas: i32) -> Scale {
    let body = json!({"spec": {"replicas": replicas}});
    api.patch_scale(name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .expect("scale")
}

/// The resource version a list of `api` answers with: where a watch starts.
pub async fn list_version<K>(api: &Api<K>) -> String
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let list = api.list(&ListParams::default()).await.expect("list");
    list.metadata
        .resource_version
        .expect("a list has a version")
}

/// A Deployment `name` of `replicas` pods labelled `app: name` running `containers`.
pub fn deployment(name: &str, replicas: i64, containers: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": containers}}}
    }))
    .expect("valid deployment")
}

/// Creates the Deployment [`deployment`] describes through `api`.
pub async fn create_deployment(
    api: &Api<Deployment>,
    name: &str,
    replicas: i64,
    containers: Value,
) -> Deployment {
    let object = deployment(name, replicas, containers);
    api.create(&PostParams::default(), &object)
        .await
        .expect("create the deployment")
}

/// Waits until `get` answers that the object is gone.
pub async fn gone<F, Fut, T>(what: &str, get: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = kube::Result<Option<T>>>,
{
    eventually(WAIT, what, || async {
        get().await.ok()?.is_none().then_some(())
    })
    .await;
}

/// Asserts how many objects listing `api` with each field selector finds.
pub async fn assert_field_selections<K>(api: &Api<K>, cases: &[(&str, usize)])
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    for &(selector, want) in cases {
        let params = ListParams::default().fields(selector);
        let listed = api.list(&params).await.expect("list");
        assert_eq!(listed.items.len(), want, "{selector}");
    }
}

/// Waits until listing `api` with `params` finds nothing.
pub async fn none_left<K>(api: &Api<K>, params: &ListParams, what: &str)
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    eventually(WAIT, what, || async {
        api.list(params).await.ok()?.items.is_empty().then_some(())
    })
    .await;
}

/// Starts the simulated cluster (scheduler, kubelets, controllers) on `handle` with one node,
/// `node-a`, of `instance_type` holding at most `max_pods` pods. Keep the returned
/// [`Simulation`] alive for as long as the cluster should run.
pub fn start_cluster(handle: &Handle, instance_type: &str, max_pods: u32) -> Simulation {
    start_nodes(handle, &[("node-a", "us-west-2a", instance_type, max_pods)])
}

/// Starts the simulated cluster on `handle` with these nodes: (name, zone, instance type,
/// max pods), provider ID `aws:///ZONE/i-NAME`.
pub fn start_nodes(handle: &Handle, nodes: &[(&str, &str, &str, u32)]) -> Simulation {
    let simulation = sim::start(handle.store(), Arc::new(RangeAddressSource::default()));
    for &(name, zone, instance_type, max_pods) in nodes {
        let node = NodeRegistration {
            name: name.into(),
            provider_id: format!("aws:///{zone}/i-{name}"),
            internal_ip: "192.168.1.10".into(),
            zone: zone.into(),
            instance_type: instance_type.into(),
            max_pods,
        };
        sim::node::register_node(handle.store(), &node).expect("node");
    }
    simulation
}

/// Code and reason of an API error.
pub fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The message of a 403 `Forbidden` answer (panics on any other outcome).
pub fn forbidden<T: std::fmt::Debug>(result: kube::Result<T>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
            status.message
        }
        other => panic!("expected 403, got {other:?}"),
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
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .expect("request builds");
    let (code, bytes) = send(client, request).await;
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Asserts that `text` contains each of `wants`, naming the first one missing.
pub fn assert_contains(text: &str, wants: &[&str]) {
    for want in wants {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
}

/// A GET of `path` asking for JSON: (status code, JSON body).
pub async fn get_json(client: &kube::Client, path: &str) -> (u16, Value) {
    raw(client, "GET", path, "application/json", Vec::new()).await
}

/// Sends `request` with the client's credentials: (status code, body).
pub async fn send(
    client: &kube::Client,
    request: http::Request<kube::client::Body>,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let response = client.send(request).await.expect("request is answered");
    let code = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body reads");
    (code, body.to_bytes().to_vec())
}
