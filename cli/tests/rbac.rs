//! The sandbox under exactly the RBAC the Helm chart renders, enforced by the embedded API:
//! the controller and every ipamd act as the chart's ServiceAccounts, the examples come up and
//! go away again, and
//! - a request RBAC refuses fails the test (checked after every phase);
//! - every (verb, resource) an identity used is granted (none used-but-not-granted);
//! - every granted verb some identity never used fails the test, unless [`ALLOWED_SURPLUS`]
//!   lists it with the reason the examples cannot reach it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use cloudnet_cli::controller::IDENTITY as CONTROLLER;
use cloudnet_cli::manifests;
use cloudnet_cli::pod_addresses::NODE_IDENTITY as NODE;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_kubesim::auth::Access;
use cloudnet_kubesim::rbac;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);

/// Granted, and not used by this run, each with why: (identity, verb, group, resource).
const ALLOWED_SURPLUS: &[(&str, &str, &str, &str, &str)] = &[
    (
        CONTROLLER,
        "get",
        "cloud.google.com",
        "backendconfigs",
        "a BackendConfig named by a Service's cloud.google.com/backend-config is read only in \
         ingress-gce's dialect (on GCP); these examples run on AWS; controllers/src/gce_tests.rs \
         and ingress/gce_tests.rs cover the reading",
    ),
    (
        CONTROLLER,
        "patch",
        "cloudnet.io",
        "targetgroupbindings",
        "the finalizer of a TargetGroupBinding: the examples bind no target group (one the \
         suite does not own); controllers/tests/binding_e2e.rs runs that controller",
    ),
    (
        CONTROLLER,
        "patch",
        "cloudnet.io",
        "targetgroupbindings/status",
        "as above, the TargetGroupBinding's status",
    ),
    (
        CONTROLLER,
        "patch",
        "",
        "pods/status",
        "a readiness gate's condition: only pods carrying a target-health readiness gate get \
         it, and the examples' pods carry none; controllers/tests/readiness_e2e.rs runs it",
    ),
    (
        CONTROLLER,
        "patch",
        "events.k8s.io",
        "events",
        "kube's Recorder patches an Event's series only when the same event repeats",
    ),
    (
        NODE,
        "create",
        "events.k8s.io",
        "events",
        "ipamd reports an Event only when its pool and its node disagree (ipamd report.rs)",
    ),
    (
        NODE,
        "patch",
        "events.k8s.io",
        "events",
        "as above, on a repeat",
    ),
];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudnet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_no_denials(sandbox: &Sandbox, phase: &str) {
    let denials = sandbox.api.auth().denials();
    assert!(
        denials.is_empty(),
        "RBAC refused requests ({phase}):\n{}",
        denials
            .iter()
            .map(|d| format!("{}: {}", d.identity, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn describe(a: &Access) -> String {
    let scope = a.namespace.as_deref().unwrap_or("cluster");
    format!("{} {}/{} ({scope})", a.verb, a.group, a.resource)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_run_under_the_charts_rbac_with_nothing_refused_and_no_unexplained_surplus() {
    let Some(yaml) = cloudnet_testkit::chart::rbac_yaml() else {
        return;
    };
    let objects = rbac::objects_from_yaml(yaml).expect("the chart renders YAML");
    assert!(objects.len() >= 6, "{objects:?}");
    let dir = temp_dir("rbac");
    let rendered = dir.join("rbac.yaml");
    std::fs::write(&rendered, yaml).unwrap();
    let args = SandboxArgs {
        rbac: true,
        files: vec![rendered],
        ..SandboxArgs::ephemeral(&dir)
    };
    let sandbox = Sandbox::start(&args).await.expect("the sandbox starts");
    assert!(sandbox.api.rbac());

    let examples = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"));
    let files: Vec<PathBuf> = ["web.yaml", "web-public.yaml", "web-ingress.yaml"]
        .iter()
        .map(|f| examples.join(f))
        .collect();
    let docs = manifests::load(&files).unwrap();
    let applied = sandbox.apply(&docs).await;
    assert!(applied.iter().all(|a| a.result.is_ok()), "{applied:?}");
    assert!(sandbox.wait_settled(WAIT).await, "the examples settle");
    assert_no_denials(&sandbox, "bring-up");

    // Take them down again: finalizers released, load balancers deleted, addresses returned.
    let client = sandbox.client().clone();
    for doc in docs.iter().rev() {
        let (group, version) = doc
            .api_version()
            .split_once('/')
            .unwrap_or(("", doc.api_version()));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, doc.kind()));
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            doc.namespace().unwrap_or("default"),
            &resource,
        );
        api.delete(doc.name(), &DeleteParams::default())
            .await
            .expect("delete");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut left = 0;
        for (g, v, k) in [
            ("", "v1", "Service"),
            ("networking.k8s.io", "v1", "Ingress"),
            ("", "v1", "Pod"),
        ] {
            let api: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                "default",
                &ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, k)),
            );
            left += api
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
                .len();
        }
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} objects left"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_no_denials(&sandbox, "tear-down");

    // The allocator's repair paths: a NodeNetwork that lost its finalizer gets it back (get,
    // then patch), and a Node that goes takes its NodeNetwork with it (the finalizer checks
    // the Node, frees its addresses, then lets go).
    let networks: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cloudnet.io",
            "v1alpha1",
            "NodeNetwork",
        )),
    );
    let first = &sandbox.nodes[0].name;
    networks
        .patch(
            first,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed");
    let deadline = tokio::time::Instant::now() + WAIT;
    while networks
        .get(first)
        .await
        .expect("get")
        .metadata
        .finalizers
        .is_none_or(|f| f.is_empty())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finalizer comes back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last = &sandbox.nodes[sandbox.nodes.len() - 1].name;
    let nodes: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Node")),
    );
    nodes
        .delete(last, &DeleteParams::default())
        .await
        .expect("node deleted");
    let deadline = tokio::time::Instant::now() + WAIT;
    while networks.get_opt(last).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the NodeNetwork goes with its Node"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!sandbox.controllers_stopped());
    assert_no_denials(&sandbox, "repairs");

    let audit = sandbox.api.auth().audit();
    sandbox.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();

    let report = rbac::surplus::report(&objects, &audit, &[CONTROLLER, NODE]);
    let mut failures = Vec::new();
    let allowed: BTreeSet<(&str, &str, &str, &str)> = ALLOWED_SURPLUS
        .iter()
        .map(|(id, verb, group, resource, _why)| (*id, *verb, *group, *resource))
        .collect();
    let mut allowed_seen = BTreeSet::new();
    for (identity, usage) in &report {
        for a in &usage.ungranted {
            failures.push(format!("{identity}: used, not granted: {}", describe(a)));
        }
        for a in &usage.surplus {
            let key = (
                identity.as_str(),
                a.verb.as_str(),
                a.group.as_str(),
                a.resource.as_str(),
            );
            if let Some(k) = allowed.iter().find(|k| **k == key) {
                allowed_seen.insert(*k);
                eprintln!("{identity}: granted, not used (allowed): {}", describe(a));
            } else {
                failures.push(format!("{identity}: granted, never used: {}", describe(a)));
            }
        }
    }
    // An allowlist entry that is used after all is stale: drop it.
    for stale in allowed.difference(&allowed_seen) {
        failures.push(format!(
            "allowlisted but used (remove the entry): {stale:?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
