//! CRUD, patches, apply, conflicts, finalizers, status, selectors and paging through
//! `kube::Client`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{WAIT, api_error, create, delete, deployment, eventually, gone, merge, start};

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .expect("valid configmap")
}

/// The one container of the Deployments here.
fn main_container() -> serde_json::Value {
    json!([{"name": "main", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}])
}

#[tokio::test]
async fn create_get_list_update_delete() {
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("create");
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    let rv1: u64 = meta
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("rv");
    assert_eq!(
        api_error(
            api.create(&PostParams::default(), &cm("a", json!({})))
                .await
        ),
        (409, "AlreadyExists".into())
    );

    let got = api.get("a").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("v")
    );
    assert_eq!(
        api_error(api.get("missing").await),
        (404, "NotFound".into())
    );

    let mut changed = got.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .expect("replace");
    let rv2: u64 = updated
        .metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("rv");
    assert!(rv2 > rv1, "resourceVersion grows");
    // The stale copy conflicts.
    assert_eq!(
        api_error(api.replace("a", &PostParams::default(), &changed).await),
        (409, "Conflict".into())
    );

    // A no-op update keeps the resourceVersion.
    let same = api
        .replace("a", &PostParams::default(), &updated)
        .await
        .expect("no-op replace");
    assert_eq!(
        same.metadata.resource_version,
        updated.metadata.resource_version
    );

    let listed = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items.len(), 1);
    delete(&api, "a").await;
    assert_eq!(api_error(api.get("a").await), (404, "NotFound".into()));
    assert_eq!(
        api_error(api.delete("a", &DeleteParams::default()).await),
        (404, "NotFound".into())
    );
}

#[tokio::test]
async fn namespaces_must_exist_and_take_their_objects() {
    let (_h, client) = start().await;
    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    assert_eq!(
        api_error(
            nowhere
                .create(&PostParams::default(), &cm("a", json!({})))
                .await
        )
        .0,
        404
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.iter().any(|n| n == ns), "{ns} exists at start");
    }
    let _: Namespace = create(&namespaces, json!({"metadata": {"name": "team"}})).await;
    let team: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    team.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("create in ns");
    delete(&namespaces, "team").await;
    // The namespace controller empties the namespace, then it goes.
    eventually(WAIT, "the namespace's objects to go", || async {
        (team.get("a").await.is_err()).then_some(())
    })
    .await;
    gone("the namespace to go", || namespaces.get_opt("team")).await;
}

#[tokio::test]
async fn generate_name_and_generation() {
    let (_h, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut d = deployment("x", 1, main_container());
    d.metadata.name = None;
    d.metadata.generate_name = Some("web-".into());
    let created = api
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    let name = created.metadata.name.clone().expect("named");
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    assert_eq!(created.metadata.generation, Some(1));

    let labelled = merge(&api, &name, json!({"metadata": {"labels": {"a": "b"}}})).await;
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );
    let scaled = merge(&api, &name, json!({"spec": {"replicas": 4}})).await;
    assert_eq!(
        scaled.metadata.generation,
        Some(2),
        "spec changes bump the generation"
    );
    let status = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 4}})),
        )
        .await
        .expect("status");
    assert_eq!(
        status.metadata.generation,
        Some(2),
        "status changes keep the generation"
    );
    assert_eq!(status.status.and_then(|s| s.replicas), Some(4));

    let scale = api.get_scale(&name).await.expect("scale subresource");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(4));
    crate::scale(&api, &name, 2).await;
    assert_eq!(
        api.get(&name)
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(2)
    );
}

#[tokio::test]
async fn status_subresource_is_separate() {
    let (_h, client) = start().await;
    let api: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": "Running"}
    }))
    .expect("pod");
    let created = api
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Pending"),
        "status is reset on create"
    );

    // Status changes through the main endpoint are ignored.
    let patched = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "y"}}}),
            ),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    assert_eq!(
        patched
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("x"))
            .map(String::as_str),
        Some("y")
    );

    // Spec changes through /status are ignored.
    let mut running = patched.clone();
    running.status.get_or_insert_default().phase = Some("Running".into());
    running.spec.get_or_insert_default().node_name = Some("n1".into());
    let updated = api
        .replace_status("p", &PostParams::default(), &running)
        .await
        .expect("replace status");
    assert_eq!(
        updated.status.and_then(|s| s.phase).as_deref(),
        Some("Running")
    );
    assert_eq!(updated.spec.and_then(|s| s.node_name), None);
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut obj = cm("f", json!({}));
    obj.metadata.finalizers = Some(vec!["example.com/a".into(), "example.com/b".into()]);
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create");
    delete(&api, "f").await;
    let marked = api.get("f").await.expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    // No new finalizers while deleting.
    let add = api.patch("f", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/a", "example.com/b", "example.com/c"]}}))).await;
    assert_eq!(api_error(add).0, 422);
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "remove", "path": "/metadata/finalizers/0"}
            ]))
            .expect("json patch"),
        ),
    )
    .await
    .expect("remove one");
    assert!(api.get("f").await.is_ok(), "one finalizer left");
    merge(&api, "f", json!({"metadata": {"finalizers": null}})).await;
    assert_eq!(
        api_error(api.get("f").await).0,
        404,
        "gone with the last finalizer"
    );
}

#[tokio::test]
async fn owner_references_cascade() {
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .expect("owner");
    let mut child = cm("child", json!({}));
    child.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid
        }))
        .expect("ref"),
    ]);
    api.create(&PostParams::default(), &child)
        .await
        .expect("child");
    delete(&api, "owner").await;
    assert_eq!(api_error(api.get("child").await).0, 404);
}

#[tokio::test]
async fn patch_kinds() {
    let (_h, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(
        &PostParams::default(),
        &deployment("p", 1, main_container()),
    )
    .await
    .expect("create");
    // Strategic merge: containers merge by name, env by name.
    let smp = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "main", "env": [{"name": "B", "value": "2"}]},
        {"name": "side", "image": "busybox"}
    ]}}}});
    let d = api
        .patch("p", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .expect("strategic");
    let containers = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1"));
    let env: Vec<String> = containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(env, ["A", "B"]);
    // $patch: delete removes one container.
    let del = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
    let d = api
        .patch("p", &PatchParams::default(), &Patch::Strategic(del))
        .await
        .expect("delete directive");
    assert_eq!(
        d.spec
            .and_then(|s| s.template.spec)
            .map(|s| s.containers.len()),
        Some(1)
    );
    // Merge patch replaces lists.
    let merge =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}});
    let d = api
        .patch("p", &PatchParams::default(), &Patch::Merge(merge))
        .await
        .expect("merge");
    let names: Vec<String> = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    assert_eq!(names, ["only"]);
    // JSON patch, including a failing test op.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]))
            .expect("jp");
    let d = api
        .patch("p", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .expect("json patch");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(5));
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 1}]))
            .expect("jp");
    assert_eq!(
        api_error(
            api.patch("p", &PatchParams::default(), &Patch::Json::<()>(bad))
                .await
        )
        .0,
        422
    );
    // A merge patch naming a stale resourceVersion conflicts.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}});
    assert_eq!(
        api_error(
            api.patch("p", &PatchParams::default(), &Patch::Merge(stale))
                .await
        ),
        (409, "Conflict".into())
    );
}

#[tokio::test]
async fn server_side_apply() {
    let (_h, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "labels": {"a": "1", "b": "2"}},
        "spec": {"selector": {"app": "s"}, "ports": [{"port": 80}]}
    });
    let created = api
        .patch("s", &PatchParams::apply("one"), &Patch::Apply(&svc))
        .await
        .expect("apply creates");
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["one"]);
    // Re-applying without label b removes it; applying the same again changes nothing.
    let mut second = svc.clone();
    second["metadata"]["labels"] = json!({"a": "1"});
    let applied = api
        .patch("s", &PatchParams::apply("one"), &Patch::Apply(&second))
        .await
        .expect("apply");
    assert_eq!(applied.metadata.labels.clone().unwrap_or_default().len(), 1);
    let again = api
        .patch("s", &PatchParams::apply("one"), &Patch::Apply(&second))
        .await
        .expect("apply again");
    assert_eq!(
        again.metadata.resource_version, applied.metadata.resource_version,
        "no-op apply"
    );
    // Another manager changing an owned field conflicts unless forced.
    let other = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "9"}}});
    assert_eq!(
        api_error(
            api.patch("s", &PatchParams::apply("two"), &Patch::Apply(&other))
                .await
        )
        .0,
        409
    );
    let forced = api
        .patch(
            "s",
            &PatchParams::apply("two").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("forced");
    assert_eq!(
        forced
            .metadata
            .labels
            .unwrap_or_default()
            .get("a")
            .map(String::as_str),
        Some("9")
    );
}

#[tokio::test]
async fn selectors_and_paging() {
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i}"), json!({"tier": tier, "n": i.to_string()})),
        )
        .await
        .expect("create");
    }
    let count = |lp: ListParams| {
        let api = api.clone();
        async move { api.list(&lp).await.expect("list").items.len() }
    };
    assert_eq!(count(ListParams::default().labels("tier=even")).await, 4);
    assert_eq!(count(ListParams::default().labels("tier!=even")).await, 3);
    assert_eq!(count(ListParams::default().labels("n in (1,2,3)")).await, 3);
    assert_eq!(
        count(ListParams::default().labels("n notin (1,2,3),tier=odd")).await,
        1
    );
    assert_eq!(count(ListParams::default().labels("tier")).await, 7);
    assert_eq!(count(ListParams::default().labels("!tier")).await, 0);
    assert_eq!(
        count(ListParams::default().fields("metadata.name=c3")).await,
        1
    );
    assert_eq!(
        count(ListParams::default().fields("metadata.namespace=default,metadata.name!=c3")).await,
        6
    );

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.expect("page");
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);

    // Field selectors on pods.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for (name, node) in [("p1", "n1"), ("p2", "n2")] {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c"}]}})).expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod");
    }
    let cases = [("spec.nodeName=n1", 1), ("status.phase=Pending", 2)];
    crate::assert_field_selections(&pods, &cases).await;
}

#[tokio::test]
async fn audit_records_each_identity() {
    let config = cloudnet_kubesim::Config::default().with_identity("controller");
    let (handle, admin) = crate::start_with(config).await;
    let controller = handle.client_for("controller").await.expect("client");
    let api: Api<ConfigMap> = Api::namespaced(controller, "kube-system");
    api.create(&PostParams::default(), &cm("x", json!({})))
        .await
        .expect("create");
    api.get("x").await.expect("get");
    let all: Api<Pod> = Api::all(admin.clone());
    all.list(&ListParams::default()).await.expect("list");
    let audit = handle.auth().audit();
    let used: Vec<(String, String, Option<String>)> = audit
        .get("controller")
        .expect("controller recorded")
        .iter()
        .map(|a| (a.verb.clone(), a.resource.clone(), a.namespace.clone()))
        .collect();
    assert!(used.contains(&(
        "create".into(),
        "configmaps".into(),
        Some("kube-system".into())
    )));
    assert!(used.contains(&(
        "get".into(),
        "configmaps".into(),
        Some("kube-system".into())
    )));
    assert!(!used.iter().any(|u| u.1 == "pods"));
    let (code, body) = crate::get_json(&admin, "/_kubesim/audit").await;
    assert_eq!(code, 200);
    assert!(body["admin"].as_array().is_some_and(|a| {
        a.iter()
            .any(|e| e["verb"] == "list" && e["resource"] == "pods" && e["namespace"].is_null())
    }));
}

#[tokio::test]
async fn writes_get_the_real_api_defaults() {
    let (_handle, client) = start().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let bare: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "bare"},
        "spec": {"selector": {"matchLabels": {"app": "bare"}},
            "template": {"metadata": {"labels": {"app": "bare"}},
                "spec": {"containers": [{"name": "main", "image": "nginx"}]}}}
    }))
    .expect("deployment");
    let created = deployments
        .create(&PostParams::default(), &bare)
        .await
        .expect("create");
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    let spec = created.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let strategy = spec.strategy.expect("strategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(pod.scheduler_name.as_deref(), Some("default-scheduler"));
    let c = &pod.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        c.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );

    // A PUT that leaves the defaults out is not a spec change.
    let mut again = bare.clone();
    again.metadata.resource_version = created.metadata.resource_version.clone();
    let replaced = deployments
        .replace("bare", &PostParams::default(), &again)
        .await
        .expect("replace");
    assert_eq!(replaced.metadata.generation, Some(1));
    assert_eq!(replaced.spec.and_then(|s| s.replicas), Some(1));

    let services: Api<Service> = Api::namespaced(client, "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    }))
    .expect("service");
    let svc = services
        .create(&PostParams::default(), &svc)
        .await
        .expect("service")
        .spec
        .expect("spec");
    assert_eq!(svc.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(svc.session_affinity.as_deref(), Some("None"));
    assert_eq!(svc.ip_families, Some(vec!["IPv4".to_string()]));
    assert_eq!(svc.ip_family_policy.as_deref(), Some("SingleStack"));
    let port = &svc.ports.expect("ports")[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
}
