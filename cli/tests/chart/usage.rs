//! The chart's RBAC against what the binaries really call: the sandbox runs the controllers and
//! an ipamd per node as their ServiceAccounts' API identities (`system:serviceaccount:kube-system:`
//! `cloudnet-controller`, `...:cloudnet-node`) on the
//! examples, and the embedded API's per-identity audit lists every (verb, resource) each used.
//! Every one must be granted by the rules the chart renders for that identity's service
//! account; a granted verb nobody used is printed as surplus (the examples do not exercise
//! every controller: routes are off and no TargetGroupBinding is applied).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{find, helm, renders, role_rules, temp_dir};

/// (group, resource, verb, namespace the grant is limited to)
type Grant = (String, String, String, Option<String>);

fn grants(role: &Value, namespace: Option<&str>) -> BTreeSet<Grant> {
    let namespace = namespace.map(str::to_string);
    let mut out = BTreeSet::new();
    for (g, res, _, verbs) in role_rules(role) {
        for v in verbs {
            out.insert((g.clone(), res.clone(), v, namespace.clone()));
        }
    }
    out
}

fn granted(grants: &BTreeSet<Grant>, a: &cloudnet_kubesim::auth::Access) -> Option<Grant> {
    grants
        .iter()
        .find(|(g, r, v, ns)| {
            g == &a.group
                && r == &a.resource
                && v == &a.verb
                && (ns.is_none() || ns.as_deref() == a.namespace.as_deref())
        })
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_binaries_call_in_the_sandbox_is_granted_by_the_chart() {
    use cloudnet_cli::manifests;
    use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
    let Some(helm) = helm() else { return };
    let docs = renders(&helm)
        .into_iter()
        .find(|(n, _)| *n == "defaults")
        .unwrap()
        .1;
    let mut controller = grants(find(&docs, "ClusterRole", "cloudnet-controller"), None);
    controller.extend(grants(
        find(&docs, "Role", "cloudnet-controller-leader-election"),
        Some("kube-system"),
    ));
    let node = grants(find(&docs, "ClusterRole", "cloudnet-node"), None);

    let dir = temp_dir("usage");
    let sandbox = Sandbox::start(&SandboxArgs::ephemeral(&dir)).await.unwrap();
    let examples = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"));
    let applied = sandbox.apply(&manifests::load(&[examples]).unwrap()).await;
    assert!(applied.iter().all(|a| a.result.is_ok()), "{applied:?}");
    assert!(
        sandbox.wait_settled(Duration::from_secs(60)).await,
        "the examples did not settle"
    );
    // The DaemonSet's probes hit what every node's ipamd serves on its introspection address.
    let ds = find(&docs, "DaemonSet", "cloudnet-node");
    let (live, ready) = super::probe_paths(super::container(ds, "containers", "ipamd"));
    let ipamd = sandbox
        .ipamd
        .clone()
        .expect("the sandbox runs an ipamd per node");
    for n in &sandbox.nodes {
        let addr = ipamd.introspection(&n.name).expect("introspection address");
        assert_eq!(super::http_status(addr, &live).await, 200, "{}", n.name);
        assert_eq!(super::http_status(addr, &ready).await, 200, "{}", n.name);
    }
    // The leader renews its Lease (an update) a few seconds after taking it.
    let renewed = || {
        sandbox
            .api
            .auth()
            .audit()
            .get(cloudnet_cli::controller::IDENTITY)
            .is_some_and(|used| {
                used.iter()
                    .any(|a| a.resource == "leases" && a.verb == "update")
            })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !renewed() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit = sandbox.api.auth().audit();
    let node_names: Vec<String> = sandbox.nodes.iter().map(|n| n.name.clone()).collect();
    sandbox.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();

    use cloudnet_cli::controller::IDENTITY as CONTROLLER;
    use cloudnet_cli::pod_addresses::NODE_IDENTITY as NODE;
    assert!(!node_names.is_empty());
    let identities = vec![
        (CONTROLLER.to_string(), &controller),
        (NODE.to_string(), &node),
    ];
    let mut missing = Vec::new();
    for (identity, grants) in &identities {
        let used = audit
            .get(identity)
            .unwrap_or_else(|| panic!("{identity} made no API call: {:?}", audit.keys()));
        for a in used {
            if granted(grants, a).is_none() {
                missing.push(format!("{identity}: {a:?}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the chart's RBAC does not grant what the binaries call:\n{}",
        missing.join("\n")
    );
    // What the examples exercise must be among the grants: the allocator's, Service's and
    // Ingress's writes, the Lease, ipamd's NodeNetwork patch.
    let used = |identity: &str| -> BTreeSet<(String, String)> {
        audit[identity]
            .iter()
            .map(|a| (a.resource.clone(), a.verb.clone()))
            .collect()
    };
    let c = used(CONTROLLER);
    for want in [
        ("nodenetworks", "create"),
        ("nodenetworks/status", "patch"),
        ("services/status", "patch"),
        ("ingresses/status", "patch"),
        ("leases", "update"),
    ] {
        assert!(
            c.contains(&(want.0.into(), want.1.into())),
            "{want:?} not used: {c:?}"
        );
    }
    let n = used(NODE);
    assert!(
        n.contains(&("nodenetworks".into(), "patch".into())),
        "{n:?}"
    );

    // Surplus: granted, never used on the examples (reported, not failed: see the module docs).
    for (identity, grants) in [(CONTROLLER, &controller), (NODE, &node)] {
        let used: Vec<&cloudnet_kubesim::auth::Access> = audit
            .iter()
            .filter(|(id, _)| *id == identity)
            .flat_map(|(_, a)| a)
            .collect();
        let surplus: Vec<_> = grants
            .iter()
            .filter(|g| {
                !used
                    .iter()
                    .any(|a| granted(&BTreeSet::from([(*g).clone()]), a).is_some())
            })
            .collect();
        eprintln!("{identity}: granted but not used on the examples: {surplus:?}");
    }
}
