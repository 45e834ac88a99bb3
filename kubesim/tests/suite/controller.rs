//! A CRD, its custom resources, and a kube-runtime `Controller` reconciling them with a
//! finalizer and a status.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::{conditions, wait::await_condition, watcher};
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{WAIT, api_error, delete, eventually, merge, start};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd"
)]
pub struct WidgetSpec {
    pub size: i32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct WidgetStatus {
    pub observed: i32,
}

async fn install_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .expect("crd created");
    tokio::time::timeout(
        WAIT,
        await_condition(
            crds,
            "widgets.example.com",
            conditions::is_crd_established(),
        ),
    )
    .await
    .expect("established in time")
    .expect("condition watch");
}

#[tokio::test]
async fn custom_resources_follow_their_crd() {
    let (_h, client) = start().await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        api_error(widgets.list(&ListParams::default()).await).0,
        404,
        "not served before the CRD"
    );
    install_crd(&client).await;

    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    assert!(discovery.has_group("example.com"));

    let w = Widget::new("w1", WidgetSpec { size: 1 });
    let created = widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    assert!(created.status.is_none());
    let with_status = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observed": 7}, "spec": {"size": 9}})),
        )
        .await
        .expect("status");
    assert_eq!(with_status.status.map(|s| s.observed), Some(7));
    assert_eq!(
        with_status.spec.size, 1,
        "spec is not changed through /status"
    );
    assert_eq!(
        api_error(
            widgets
                .patch(
                    "w1",
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"spec": {"size": 2}}))
                )
                .await
        )
        .0,
        415,
        "no strategic merge patch for custom resources"
    );

    // A cluster-scoped CRD, used through DynamicObject.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })).expect("crd");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("cluster crd");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let g: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"x": 1}})).expect("gadget");
    gadgets
        .create(&PostParams::default(), &g)
        .await
        .expect("create gadget");
    assert_eq!(
        gadgets
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );

    // A CRD with a bad name is refused; deleting a CRD removes its objects.
    let mut bad = crd.clone();
    bad.metadata.name = Some("wrong.example.com".into());
    assert_eq!(
        api_error(crds.create(&PostParams::default(), &bad).await).0,
        422
    );
    delete(&crds, "gadgets.example.com").await;
    assert_eq!(api_error(gadgets.list(&ListParams::default()).await).0, 404);
}

struct Ctx {
    client: kube::Client,
    cleanups: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed")]
struct ReconcileError(#[source] Box<kube::runtime::finalizer::Error<kube::Error>>);

async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let api: Api<Widget> = Api::namespaced(ctx.client.clone(), &w.namespace().unwrap_or_default());
    finalizer(&api, "example.com/cleanup", w, |event| async {
        match event {
            Event::Apply(w) => {
                let status = json!({"apiVersion": "example.com/v1", "kind": "Widget", "status": {"observed": w.spec.size}});
                api.patch_status(&w.name_any(), &PatchParams::apply("widget-controller").force(), &Patch::Apply(&status))
                    .await?;
                Ok(Action::await_change())
            }
            Event::Cleanup(_) => {
                ctx.cleanups.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| ReconcileError(Box::new(e)))
}

fn error_policy(_: Arc<Widget>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn runtime_controller_reconciles() {
    let (_h, client) = start().await;
    install_crd(&client).await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        cleanups: AtomicUsize::new(0),
    });
    let controller = tokio::spawn(
        Controller::new(widgets.clone(), watcher::Config::default())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {}),
    );

    widgets
        .create(
            &PostParams::default(),
            &Widget::new("w", WidgetSpec { size: 3 }),
        )
        .await
        .expect("create");
    eventually(WAIT, "status and finalizer", || async {
        let w = widgets.get("w").await.ok()?;
        (w.status.as_ref().map(|s| s.observed) == Some(3)
            && w.finalizers().iter().any(|f| f == "example.com/cleanup"))
        .then_some(())
    })
    .await;
    merge(&widgets, "w", json!({"spec": {"size": 5}})).await;
    eventually(WAIT, "status follows spec", || async {
        (widgets.get("w").await.ok()?.status?.observed == 5).then_some(())
    })
    .await;
    delete(&widgets, "w").await;
    eventually(WAIT, "finalizer released", || async {
        widgets.get("w").await.is_err().then_some(())
    })
    .await;
    assert_eq!(ctx.cleanups.load(Ordering::SeqCst), 1);
    controller.abort();
}
