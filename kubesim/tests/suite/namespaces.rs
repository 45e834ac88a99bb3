//! Namespace deletion as the real API does it: Terminating, emptied by the namespace
//! controller (honouring finalizers), 403 for new content meanwhile, then gone.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::{
    WAIT, api_error, assert_contains, delete, eventually, forbidden, gone, merge, start,
    start_kubectl,
};

#[tokio::test]
async fn a_deleted_namespace_terminates_until_its_content_is_gone() {
    let (_h, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns");
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    let spec = created.spec.expect("spec");
    assert_eq!(spec.finalizers, Some(vec!["kubernetes".to_string()]));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .expect("cm");
    cms.create(&PostParams::default(), &held)
        .await
        .expect("held");
    let free: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "free"}})).expect("cm");
    cms.create(&PostParams::default(), &free)
        .await
        .expect("free");

    delete(&namespaces, "team").await;
    let terminating = namespaces.get("team").await.expect("still there");
    assert_eq!(
        terminating.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Terminating")
    );
    assert!(terminating.metadata.deletion_timestamp.is_some());

    // New content is refused with the namespace lifecycle's answer.
    let late: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "late"}})).expect("cm");
    assert_eq!(
        forbidden(cms.create(&PostParams::default(), &late).await),
        "configmaps \"late\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );

    // The controller deletes what it can and reports what waits on a finalizer.
    eventually(WAIT, "free to go", || async {
        cms.get_opt("free").await.ok()?.is_none().then_some(())
    })
    .await;
    let waiting = eventually(WAIT, "the conditions to name the finalizer", || async {
        let ns = namespaces.get("team").await.ok()?;
        let conditions = ns.status?.conditions?;
        let c = conditions
            .into_iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")?;
        Some(c.message.unwrap_or_default())
    })
    .await;
    assert_eq!(
        waiting,
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    let held = cms.get("held").await.expect("held stays");
    assert!(held.metadata.deletion_timestamp.is_some());

    // Releasing the finalizer lets the object and then the namespace go.
    merge(&cms, "held", json!({"metadata": {"finalizers": null}})).await;
    gone("the namespace to go", || namespaces.get_opt("team")).await;
    assert_eq!(api_error(cms.get("held").await).0, 404);
    // The name can be used again.
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_deletes_a_file_holding_a_namespace_and_its_objects() {
    let Some((_handle, client, k)) = start_kubectl().await else {
        return;
    };
    let dir = k.dir();
    let file = dir.join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1
kind: Namespace
metadata:
  name: app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: app
data:
  a: b
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
",
    )
    .expect("manifest");
    let file = file.to_str().expect("utf-8 path");
    let out = k.ok(&["apply", "-f", file]).await;
    assert_contains(
        &out,
        &[
            "namespace/app created",
            "configmap/settings created",
            "deployment.apps/web created",
        ],
    );
    // kubectl waits for every object, the namespace included, to be gone.
    let out = k.ok(&["delete", "-f", file]).await;
    assert!(
        out.contains("namespace \"app\" deleted")
            && out.contains("configmap \"settings\" deleted")
            && out.contains("deployment.apps \"web\" deleted"),
        "{out}"
    );
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(namespaces.get_opt("app").await.expect("get").is_none());
    let (ok, _, err) = k.run(&["get", "configmap", "settings", "-n", "app"]).await;
    assert!(!ok && err.contains("NotFound"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
