//! The Ingress controller at scale: 1,000 Ingresses in 100 IngressGroups over 400 Services
//! (3 endpoints each, ip targets), in the embedded API, against the mock cloud through the
//! SDK. Shares the Service bench's set-up (`tests/service_env`).
//!
//! `cargo test -p cloudnet-controllers --bench ingress_scale [-- SCALE]`
//!
//! SCALE (default 1) multiplies the sizes, e.g. `0.1` for a quick run. Phases:
//!
//! 1. converge from scratch (a controller task, a budget that never paces): wall time, calls
//!    by action, and the mutating calls against the minimum (per group one load balancer,
//!    one listener, a rule per Ingress, a target group and one RegisterTargets per Service);
//! 2. restart: a new controller task with a fresh provider (no caches) and the default rate
//!    budget: time until every Ingress has been reconciled and the cloud is quiet.
//!
//! Exits non-zero when an invariant breaks: not converged, a duplicate load balancer or
//! target group, a mutating call after the restart, or the restart not back in sync within
//! 60 s.

#[path = "../tests/service_env/mod.rs"]
mod service_env;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::ingress::reconcile::run;
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::{ControllerMetrics, ReconcileResult};
use cloudnet_core::BudgetConfig;
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use serde_json::json;
use service_env::*;

const INGRESSES: usize = 1_000;
const GROUPS: usize = 100;
const SERVICES: usize = 400;
const ENDPOINTS_PER_SERVICE: usize = 3;
const NAMESPACE: &str = "default";
const RESTART_TARGET: Duration = Duration::from_secs(60);

fn endpoint_ip(s: usize, e: usize) -> String {
    let i = s * ENDPOINTS_PER_SERVICE + e;
    format!("192.168.{}.{}", 192 + i / 250, i % 250 + 2)
}

/// Ingress `i`: in group `i % groups`, one path to one of the group's Services.
fn ingress(i: usize, groups: usize, services: usize) -> Ingress {
    let group = i % groups;
    let per_group = (services / groups).max(1);
    let svc = (group * per_group + (i / groups) % per_group) % services;
    serde_json::from_value(json!({
        "metadata": {"name": format!("ing-{i:04}"), "namespace": NAMESPACE, "annotations": {
            "alb.ingress.kubernetes.io/group.name": format!("group-{group:03}"),
            "alb.ingress.kubernetes.io/group.order": format!("{}", i / groups + 1),
            "alb.ingress.kubernetes.io/target-type": "ip"}},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
            {"path": format!("/app-{i:04}"), "pathType": "Prefix",
             "backend": {"service": {"name": svc_name(svc), "port": {"number": 80}}}}]}}]}
    }))
    .expect("ingress")
}

fn cluster_ip(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .expect("service")
}

struct Task {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn spawn(
    client: kube::Client,
    lbs: std::sync::Arc<dyn cloudnet_core::LoadBalancers>,
    metrics: &ControllerMetrics,
) -> Task {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(
        LbControllerSettings {
            resync: Duration::from_secs(3600),
            ..LbControllerSettings::new(
                client,
                lbs,
                IngressSettings::new(CLUSTER),
                metrics.controller("ingress"),
            )
        },
        async move {
            let _ = stopped.await;
        },
    ));
    Task { stop, task }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scale: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1.0);
    let sized = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let (ingresses, groups, services) = (sized(INGRESSES), sized(GROUPS), sized(SERVICES));
    let targets = services * ENDPOINTS_PER_SERVICE;
    println!(
        "ingress_scale: {ingresses} Ingresses in {groups} groups over {services} Services ({targets} ip targets)"
    );
    let mut failures = Failures(Vec::new());

    let mut w = world(1_000);
    if let Some(elbv2) = w.elbv2.as_mut() {
        elbv2.quotas.load_balancers = groups + 10;
    }
    let cloud = start_cloud(w).await;
    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    api.store().set_namespace_quota(usize::MAX);
    let client = api.client_for(ADMIN).await.expect("client");
    let pp = PostParams::default();
    let svc_api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let slice_api: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    let ing_api: Api<Ingress> = Api::namespaced(client.clone(), NAMESPACE);
    for s in 0..services {
        let name = svc_name(s);
        svc_api
            .create(&pp, &cluster_ip(&name))
            .await
            .expect("service");
        let ips: Vec<String> = (0..ENDPOINTS_PER_SERVICE)
            .map(|e| endpoint_ip(s, e))
            .collect();
        slice_api
            .create(&pp, &slice(NAMESPACE, &format!("{name}-1"), &name, &ips))
            .await
            .expect("slice");
    }
    // The target groups: one per (group, Service) pair the Ingresses route to.
    let pairs: std::collections::BTreeSet<(usize, String)> = (0..ingresses)
        .map(|i| {
            let ing = ingress(i, groups, services);
            let svc = ing.spec.as_ref().and_then(|s| s.rules.as_ref()).map(|r| {
                r[0].http.as_ref().expect("http").paths[0]
                    .backend
                    .service
                    .as_ref()
                    .expect("svc")
                    .name
                    .clone()
            });
            (i % groups, svc.expect("svc"))
        })
        .collect();
    let target_groups = pairs.len();
    let registered_targets = (target_groups * ENDPOINTS_PER_SERVICE) as u64;

    // 1. Converge from scratch.
    println!("1. converge from scratch (a budget that never paces)");
    let metrics = ControllerMetrics::default();
    let seq = last_seq(&cloud);
    let started = Instant::now();
    let first = spawn(
        client.clone(),
        provider_with(&cloud, "AKIDCONVERGE", budget(), Some(NODE_SG)).await,
        &metrics,
    );
    for i in 0..ingresses {
        ing_api
            .create(&pp, &ingress(i, groups, services))
            .await
            .expect("ingress");
    }
    let deadline = Instant::now() + Duration::from_secs(1200);
    let converged = loop {
        if elbv2_count(&cloud, "load_balancers") == groups
            && elbv2_count(&cloud, "target_groups") == target_groups
            && elbv2_count(&cloud, "rules") >= ingresses
            && target_count(&cloud) == registered_targets
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let took = started.elapsed();
    let (calls, _) = calls_of(&cloud, seq, "AKIDCONVERGE");
    let (reads, mutating) = reads_and_writes(&calls);
    println!(
        "  converged in {took:.1?}: {} calls, {reads} reads, {mutating} mutating",
        reads + mutating
    );
    for (k, n) in &calls {
        println!("      {k}: {n}");
    }
    let minimum = (2 * groups + ingresses + 2 * target_groups) as u64;
    println!(
        "  mutating calls vs the minimum ({groups} load balancers + {groups} listeners + {ingresses} rules + {target_groups} target groups + {target_groups} RegisterTargets = {minimum}): {mutating} ({:.2}x)",
        mutating as f64 / minimum as f64
    );
    failures.check(
        converged,
        format!("{groups} load balancers, {target_groups} target groups, {ingresses} rules, {registered_targets} targets"),
    );
    failures.check(
        count(&calls, "elbv2:CreateLoadBalancer") == groups as u64
            && count(&calls, "elbv2:CreateTargetGroup") == target_groups as u64,
        format!(
            "{} CreateLoadBalancer, {} CreateTargetGroup (no duplicates)",
            count(&calls, "elbv2:CreateLoadBalancer"),
            count(&calls, "elbv2:CreateTargetGroup")
        ),
    );
    let _ = first.stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), first.task).await;

    // 2. Restart: fresh provider, default budget.
    println!("2. restart: a new controller, fresh provider, default budget");
    let metrics = ControllerMetrics::default();
    let seq = last_seq(&cloud);
    let started = Instant::now();
    let second = spawn(
        client.clone(),
        provider_with(
            &cloud,
            "AKIDRESTART",
            BudgetConfig::default(),
            Some(NODE_SG),
        )
        .await,
        &metrics,
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let in_sync = loop {
        let done = metrics.reconciles("ingress", ReconcileResult::Success) >= ingresses as u64;
        let (_, last) = calls_of(&cloud, seq, "AKIDRESTART");
        if done && now_ms(&cloud).saturating_sub(last) >= 2_000 {
            break Some(started.elapsed().saturating_sub(Duration::from_secs(2)));
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (calls, _) = calls_of(&cloud, seq, "AKIDRESTART");
    let (reads, mutating) = reads_and_writes(&calls);
    match in_sync {
        Some(t) => println!("  back in sync in {t:.1?}: {reads} reads, {mutating} mutating"),
        None => println!("  not back in sync within 600 s: {reads} reads, {mutating} mutating"),
    }
    for (k, n) in &calls {
        println!("      {k}: {n}");
    }
    failures.check(
        in_sync.is_some_and(|t| t < RESTART_TARGET),
        format!("back in sync within {RESTART_TARGET:?}"),
    );
    failures.check(
        mutating == 0,
        format!("{mutating} mutating calls after the restart"),
    );
    let _ = second.stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), second.task).await;

    if failures.0.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("BROKEN: {:?}", failures.0);
        ExitCode::FAILURE
    }
}
