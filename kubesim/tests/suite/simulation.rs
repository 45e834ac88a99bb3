//! The simulated scheduler, kubelet and Service allocation, seen through `kube::Client`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{
    WAIT, create_deployment, delete, eventually, none_left, scale, start, start_cluster,
    start_nodes,
};

fn pod(name: &str, gate: bool) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if gate {
        spec["readinessGates"] = json!([{"conditionType": "example.com/lb-ready"}]);
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("pod")
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn pods_get_scheduled_addressed_and_ready() {
    let (handle, client) = start().await;
    let _sim = start_nodes(
        &handle,
        &[
            ("node-a", "us-west-2a", "m5.large", 2),
            ("node-b", "us-west-2a", "m5.large", 1),
        ],
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, gate) in [
        ("p1", false),
        ("p2", false),
        ("gated", true),
        ("extra", false),
    ] {
        pods.create(&PostParams::default(), &pod(name, gate))
            .await
            .expect("create");
    }
    let running = eventually(WAIT, "three pods running", || async {
        let list = pods
            .list(&ListParams::default().fields("status.phase=Running"))
            .await
            .ok()?;
        (list.items.len() == 3).then_some(list.items)
    })
    .await;
    let ips: BTreeSet<String> = running
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(ips.len(), 3, "distinct pod IPs: {ips:?}");
    let pending = pods
        .list(&ListParams::default().fields("spec.nodeName="))
        .await
        .expect("list");
    assert_eq!(
        pending.items.len(),
        1,
        "max pods leaves one pod unscheduled"
    );

    let gated = pods.get("gated").await.expect("gated");
    if gated
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .is_some()
    {
        assert!(!ready(&gated), "the readiness gate holds Ready");
        let cond =
            json!({"status": {"conditions": [{"type": "example.com/lb-ready", "status": "True"}]}});
        pods.patch_status("gated", &PatchParams::default(), &Patch::Strategic(cond))
            .await
            .expect("gate");
        eventually(WAIT, "gated pod Ready", || async {
            ready(&pods.get("gated").await.ok()?).then_some(())
        })
        .await;
    }

    // Deleting a bound pod frees its slot and address; the pending pod gets scheduled.
    let victim = running
        .iter()
        .find_map(|p| p.metadata.name.clone())
        .expect("a running pod");
    delete(&pods, &victim).await;
    eventually(WAIT, "the pending pod runs", || async {
        let list = pods
            .list(&ListParams::default().fields("status.phase=Running"))
            .await
            .ok()?;
        (list.items.len() == 3).then_some(())
    })
    .await;
}

#[tokio::test]
async fn services_get_cluster_ips_and_node_ports() {
    let (handle, client) = start().await;
    let _sim = start_nodes(&handle, &[]);
    let services: Api<Service> = Api::namespaced(client, "default");
    let svc = |name: &str, kind: &str| -> Service {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"type": kind, "selector": {"app": "x"}, "ports": [{"port": 80}]}})).expect("svc")
    };
    let a = services
        .create(&PostParams::default(), &svc("a", "ClusterIP"))
        .await
        .expect("a");
    let b = services
        .create(&PostParams::default(), &svc("b", "NodePort"))
        .await
        .expect("b");
    let c = services
        .create(&PostParams::default(), &svc("c", "NodePort"))
        .await
        .expect("c");
    let ip = |s: &Service| {
        s.spec
            .as_ref()
            .and_then(|s| s.cluster_ip.clone())
            .unwrap_or_default()
    };
    assert!(ip(&a).starts_with("10.100.") && ip(&a) != ip(&b));
    let port = |s: &Service| {
        s.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref()?.first()?.node_port)
            .unwrap_or_default()
    };
    assert!((30000..=32767).contains(&port(&b)) && port(&b) != port(&c));
    // An update that leaves the clusterIP out keeps it.
    let kept = services
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("patch");
    assert_eq!(ip(&kept), ip(&a));
}

#[tokio::test]
async fn deployments_get_pods_and_scale() {
    use k8s_openapi::api::apps::v1::Deployment;
    let (handle, client) = start().await;
    let _sim = start_cluster(&handle, "m5.large", 29);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let containers = json!([{"name": "nginx", "image": "nginx"}]);
    create_deployment(&deployments, "web", 3, containers).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    eventually(WAIT, "three ready pods", || async {
        let d = deployments.get("web").await.ok()?;
        (d.status?.ready_replicas == Some(3)).then_some(())
    })
    .await;
    let listed = pods
        .list(&ListParams::default().labels("app=web,pod-template-hash"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 3);
    scale(&deployments, "web", 1).await;
    eventually(WAIT, "one pod left", || async {
        (pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items
            .len()
            == 1)
            .then_some(())
    })
    .await;
    delete(&deployments, "web").await;
    let of_web = ListParams::default().labels("app=web");
    none_left(&pods, &of_web, "pods go with their deployment").await;
}

#[tokio::test]
async fn services_get_endpoint_slices() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let (handle, client) = start().await;
    let _sim = start_nodes(
        &handle,
        &[
            ("node-a", "us-west-2a", "m5.large", 150),
            ("node-b", "us-west-2b", "m5.large", 150),
        ],
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let containers = json!([
        {"name": "nginx", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}
    ]);
    create_deployment(&deployments, "web", 3, containers).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}
    }))
    .expect("service");
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let of_web = ListParams::default().labels(
        "kubernetes.io/service-name=web,endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io",
    );
    let ready = |e: &k8s_openapi::api::discovery::v1::Endpoint| {
        e.conditions.as_ref().and_then(|c| c.ready) == Some(true)
    };
    let slice = eventually(WAIT, "one slice with three ready endpoints", || async {
        let list = slices.list(&of_web).await.ok()?;
        let [slice] = list.items.as_slice() else {
            return None;
        };
        (slice.endpoints.len() == 3 && slice.endpoints.iter().all(ready)).then(|| slice.clone())
    })
    .await;
    assert_eq!(slice.address_type, "IPv4");
    let port = slice
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .expect("a port");
    assert_eq!(
        (port.port, port.protocol.as_deref()),
        (Some(8080), Some("TCP"))
    );
    let owner = &slice.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Service", "web")
    );
    for e in &slice.endpoints {
        assert!(
            e.node_name.is_some()
                && e.zone
                    .as_deref()
                    .is_some_and(|z| z.starts_with("us-west-2"))
        );
        assert_eq!(
            e.target_ref.as_ref().and_then(|t| t.kind.as_deref()),
            Some("Pod")
        );
    }

    // A pod whose readiness gate flips is listed ready, then not ready.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut gated = pod("gated", true);
    gated.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    if let Some(spec) = gated.spec.as_mut() {
        spec.containers[0].ports = Some(vec![
            serde_json::from_value(json!({"name": "http", "containerPort": 8080})).expect("port"),
        ]);
    }
    pods.create(&PostParams::default(), &gated)
        .await
        .expect("gated pod");
    let gated_ready = |want: bool| {
        let slices = slices.clone();
        let of_web = of_web.clone();
        async move {
            let list = slices.list(&of_web).await.ok()?;
            let endpoint = list
                .items
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .find(|e| e.target_ref.as_ref().and_then(|t| t.name.as_deref()) == Some("gated"))?;
            (ready(endpoint) == want).then_some(())
        }
    };
    eventually(WAIT, "the gated pod listed not ready", || {
        gated_ready(false)
    })
    .await;
    let gate = |status: &str| {
        Patch::Strategic(json!({"status": {"conditions": [
            {"type": "example.com/lb-ready", "status": status}]}}))
    };
    pods.patch_status("gated", &PatchParams::default(), &gate("True"))
        .await
        .expect("gate");
    eventually(WAIT, "the gated pod listed ready", || gated_ready(true)).await;
    pods.patch_status("gated", &PatchParams::default(), &gate("False"))
        .await
        .expect("gate");
    eventually(WAIT, "the gated pod listed not ready again", || {
        gated_ready(false)
    })
    .await;
    delete(&pods, "gated").await;

    // 250 endpoints: three slices, every pod once.
    scale(&deployments, "web", 250).await;
    let list = eventually(WAIT, "250 endpoints in three slices", || async {
        let list = slices.list(&of_web).await.ok()?;
        let total: usize = list.items.iter().map(|s| s.endpoints.len()).sum();
        (list.items.len() == 3 && total == 250).then_some(list)
    })
    .await;
    let names: BTreeSet<&str> = list
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter_map(|e| e.target_ref.as_ref()?.name.as_deref())
        .collect();
    assert_eq!(names.len(), 250);
    assert!(list.items.iter().all(|s| s.endpoints.len() <= 100));
    assert!(
        list.items
            .iter()
            .any(|s| s.metadata.name == slice.metadata.name),
        "the first slice was updated in place"
    );

    delete(&services, "web").await;
    none_left(&slices, &of_web, "slices go with their service").await;
}

/// A rolling update with `maxSurge: 1, maxUnavailable: 0` and a readiness gate: a new pod
/// is added, and an old one goes only after the new one's gate is True.
#[tokio::test]
async fn a_rolling_update_waits_for_readiness_gates() {
    use k8s_openapi::api::apps::v1::Deployment;
    let (handle, client) = start().await;
    let _sim = start_cluster(&handle, "m5.large", 29);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "readinessGates": [{"conditionType": "example.com/lb-ready"}],
                "containers": [{"name": "nginx", "image": "nginx:1"}]}}}
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    let open_gates = || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .expect("list");
        for p in list.items {
            let running = p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some();
            if running && !ready(&p) {
                let cond = json!({"status": {"conditions": [
                    {"type": "example.com/lb-ready", "status": "True"}]}});
                let _ = pods
                    .patch_status(
                        p.metadata.name.as_deref().unwrap_or_default(),
                        &PatchParams::default(),
                        &Patch::Strategic(cond),
                    )
                    .await;
            }
        }
    };
    let status = |d: &Deployment| {
        let s = d.status.clone().unwrap_or_default();
        (
            s.replicas.unwrap_or(0),
            s.updated_replicas.unwrap_or(0),
            s.ready_replicas.unwrap_or(0),
        )
    };
    eventually(WAIT, "three ready pods", || async {
        open_gates().await;
        let d = deployments.get("web").await.ok()?;
        (status(&d) == (3, 3, 3)).then_some(())
    })
    .await;
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:2"}]}}}})),
        )
        .await
        .expect("new template");
    // One surge pod, held by its gate: the three old pods stay.
    eventually(WAIT, "one new pod beside three old", || async {
        let d = deployments.get("web").await.ok()?;
        (status(&d) == (4, 1, 3)).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let d = deployments.get("web").await.expect("get");
    assert_eq!(
        status(&d),
        (4, 1, 3),
        "no old pod goes before the new one is Ready"
    );
    // Opening the gates as pods come lets the rollout finish, never below 3 Ready.
    let lowest = std::sync::atomic::AtomicI32::new(3);
    eventually(WAIT, "the rollout completes", || async {
        open_gates().await;
        let d = deployments.get("web").await.ok()?;
        let (replicas, updated, ready) = status(&d);
        lowest.fetch_min(ready, std::sync::atomic::Ordering::Relaxed);
        (replicas == 3 && updated == 3 && ready == 3).then_some(())
    })
    .await;
    assert_eq!(
        lowest.into_inner(),
        3,
        "Ready pods never fell below replicas - maxUnavailable"
    );
}
