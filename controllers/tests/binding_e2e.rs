//! TargetGroupBindings end to end: the real `kube::Client` against the embedded API, the real
//! AWS SDK clients against the mock cloud. The target group is made outside the suite (as
//! Terraform would) and holds a member someone else registered.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2 as elbv2;
use cloudnet_controllers::binding::{CONDITION, FINALIZER, run};
use cloudnet_controllers::metrics::{ControllerMetrics, ReconcileResult};
use cloudnet_crds::TargetGroupBinding;
use cloudnet_kubesim::Config as ApiConfig;
use cloudnet_mockcloud::{Handle as Cloud, World};
use cloudnet_testkit::eventually;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use service_env::{
    ADMIN_KEY, VPC, budget, calls, create_web_app, install_crd, mutating_since, pod_ips,
    provider_with, refused, sdk, set_endpoints, start_cloud, under_policy, wait_for_event,
};

mod chart_rbac;
mod service_env;

const WAIT: Duration = Duration::from_secs(60);

/// The registered members of a target group, as `ip:port`, sorted.
fn members(cloud: &Cloud, arn: &str) -> Vec<String> {
    let state = cloud.with_cloud(|c| serde_json::to_value(c.dump()).expect("state"));
    let mut out: Vec<String> = state["elbv2"]["target_groups"][arn]["targets"]
        .as_object()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn binding(name: &str, arn: &str) -> TargetGroupBinding {
    serde_json::from_value(json!({
        "apiVersion": "cloudnet.io/v1alpha1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"targetGroupARN": arn, "targetType": "ip", "serviceRef": {"name": "web", "port": 80}}
    }))
    .expect("binding")
}

/// An `ip` target group made outside Kubernetes (TCP:80 in the VPC): its ARN.
async fn foreign_group(elb: &elbv2::Client, name: &str) -> String {
    use elbv2::types::{ProtocolEnum, TargetTypeEnum};
    let create = elb.create_target_group().name(name).vpc_id(VPC).port(80);
    let create = create
        .protocol(ProtocolEnum::Tcp)
        .target_type(TargetTypeEnum::Ip);
    let out = create.send().await.expect("target group");
    let arn = out.target_groups()[0].target_group_arn();
    arn.expect("arn").to_string()
}

/// One call of each of these actions.
fn calls_of(actions: &[&str]) -> BTreeMap<String, u64> {
    actions.iter().map(|a| (a.to_string(), 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_fills_a_foreign_target_group_and_takes_only_its_own_targets_out() {
    let cloud = start_cloud(under_policy(World::default(), &["AKIDTEST"])).await;
    let sdk = sdk(&cloud, ADMIN_KEY).await;
    let lbs = provider_with(&cloud, "AKIDTEST", budget(), None).await;

    // The target group, made outside Kubernetes, with one member of someone else's.
    let elb = elbv2::Client::new(&sdk);
    let arn = foreign_group(&elb, "made-by-terraform").await;
    elb.register_targets()
        .target_group_arn(&arn)
        .targets(
            elbv2::types::TargetDescription::builder()
                .id("192.168.100.200")
                .port(8080)
                .build(),
        )
        .send()
        .await
        .expect("foreign member");
    let foreign = "192.168.100.200:8080".to_string();

    let api = chart_rbac::start(ApiConfig::default()).await;
    let client = api.admin.clone();
    let controller_client = api.controller.clone();
    install_crd::<TargetGroupBinding>(&client, WAIT).await;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let bindings: Api<TargetGroupBinding> = Api::namespaced(client.clone(), "default");

    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(
        controller_client.clone(),
        lbs,
        None,
        Duration::from_secs(600),
        metrics.controller("targetgroupbinding"),
        cloudnet_controllers::readiness::Gates::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    create_web_app(&client, "default", 3).await;
    let before = calls(&cloud);
    bindings
        .create(&PostParams::default(), &binding("web", &arn))
        .await
        .expect("binding");

    // Three pods registered next to the foreign member, in one call; status says so.
    let status = eventually(WAIT, "3 targets in status", || async {
        let b = bindings.get("web").await.ok()?;
        let s = b.status?;
        (s.targets == 3
            && s.conditions
                .iter()
                .any(|c| c.type_ == CONDITION && c.status == "True"))
        .then_some(s)
    })
    .await;
    assert_eq!(
        status.registered_targets,
        vec![
            "192.168.100.10:8080",
            "192.168.100.11:8080",
            "192.168.100.12:8080"
        ]
    );
    assert_eq!(status.observed_generation, Some(1));
    let mut want: Vec<String> = status.registered_targets.clone();
    want.push(foreign.clone());
    want.sort();
    assert_eq!(members(&cloud, &arn), want);
    assert_eq!(
        mutating_since(&cloud, &before),
        calls_of(&["elbv2:RegisterTargets"])
    );
    let b = bindings.get("web").await.expect("get");
    assert!(b.finalizers().contains(&FINALIZER.to_string()));

    // Scale to 10 and back to 1: one batched call each way; the foreign member stays.
    let before = calls(&cloud);
    set_endpoints(&slices, "web-1", &pod_ips(10)).await;
    eventually(WAIT, "11 members", || async {
        (members(&cloud, &arn).len() == 11).then_some(())
    })
    .await;
    set_endpoints(&slices, "web-1", &pod_ips(1)).await;
    eventually(WAIT, "1 target in status", || async {
        let s = bindings.get("web").await.ok()?.status?;
        (s.targets == 1).then_some(())
    })
    .await;
    assert_eq!(
        members(&cloud, &arn),
        vec!["192.168.100.10:8080".to_string(), foreign.clone()]
    );
    assert_eq!(
        mutating_since(&cloud, &before),
        calls_of(&["elbv2:RegisterTargets", "elbv2:DeregisterTargets"])
    );

    // A binding to a target group that does not exist: Warning Event, condition, no write.
    let before = calls(&cloud);
    let ghost = arn.replace("made-by-terraform", "ghost");
    bindings
        .create(&PostParams::default(), &binding("ghost", &ghost))
        .await
        .expect("ghost binding");
    let cond = eventually(WAIT, "the failed condition", || async {
        let s = bindings.get("ghost").await.ok()?.status?;
        s.conditions
            .into_iter()
            .find(|c| c.type_ == CONDITION && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason, "TargetGroupNotFound");
    assert!(cond.message.contains(&ghost), "{}", cond.message);
    let warned = wait_for_event(&client, "default", "TargetGroupNotFound", None, WAIT).await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    assert!(mutating_since(&cloud, &before).is_empty());
    bindings
        .delete("ghost", &DeleteParams::default())
        .await
        .expect("delete ghost");

    // Moved to another group: out of the old one (the foreign member stays), into the new one.
    let second = foreign_group(&elb, "made-by-terraform-too").await;
    let before = calls(&cloud);
    let patch = json!({"spec": {"targetGroupARN": second}});
    bindings
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("move");
    let status = eventually(WAIT, "the binding in the second group", || async {
        let s = bindings.get("web").await.ok()?.status?;
        (s.target_group_arn.as_deref() == Some(second.as_str())
            && s.conditions
                .iter()
                .any(|c| c.type_ == CONDITION && c.status == "True"))
        .then_some(s)
    })
    .await;
    assert_eq!(status.registered_targets, vec!["192.168.100.10:8080"]);
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(members(&cloud, &arn), vec![foreign.clone()]);
    assert_eq!(
        members(&cloud, &second),
        vec!["192.168.100.10:8080".to_string()]
    );
    assert_eq!(
        mutating_since(&cloud, &before),
        calls_of(&["elbv2:RegisterTargets", "elbv2:DeregisterTargets"])
    );

    // Delete: the binding's own target is deregistered; the groups and the foreign member stay.
    let before = calls(&cloud);
    bindings
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(WAIT, "the bindings gone", || async {
        let list = bindings.list(&ListParams::default()).await.ok()?;
        list.items.is_empty().then_some(())
    })
    .await;
    assert_eq!(members(&cloud, &arn), vec![foreign]);
    assert!(members(&cloud, &second).is_empty());
    assert_eq!(
        mutating_since(&cloud, &before),
        calls_of(&["elbv2:DeregisterTargets"]),
        "only our member deregistered; the group is never modified or deleted"
    );
    assert_eq!(cloud.with_cloud(|c| c.elbv2.target_group_count()), 2);
    assert!(metrics.reconciles("targetgroupbinding", ReconcileResult::Success) >= 3);
    assert!(metrics.reconciles("targetgroupbinding", ReconcileResult::Error) >= 1);
    assert_eq!(refused(&cloud), BTreeMap::new(), "calls refused by IAM");

    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, controller)
        .await
        .expect("the controller stops")
        .expect("no panic");
}
