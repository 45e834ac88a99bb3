//! The RBAC the chart renders: exactly the verbs the binaries call, following the feature
//! switches, every rule commented, bound to the service accounts everyone names.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{chart, find, helm, renders, role_rules};

/// A rule as (apiGroup, resource, resourceNames, verbs).
type Rule = (String, String, Vec<String>, Vec<String>);

fn rules(role: &Value) -> Vec<Rule> {
    let mut out = role_rules(role);
    out.sort();
    out
}

fn rule(group: &str, resource: &str, verbs: &[&str]) -> Rule {
    (
        group.into(),
        resource.into(),
        vec![],
        verbs.iter().map(|v| v.to_string()).collect(),
    )
}

#[test]
fn the_rbac_is_what_the_binaries_call_and_follows_the_feature_switches() {
    let Some(helm) = helm() else { return };
    let all = renders(&helm);
    let defaults = &all.iter().find(|(n, _)| *n == "defaults").unwrap().1;
    let mut controller = vec![
        rule("", "nodes", &["get", "list", "watch"]),
        rule("", "services", &["list", "watch", "patch"]),
        rule("", "services/status", &["patch"]),
        rule("discovery.k8s.io", "endpointslices", &["list", "watch"]),
        rule(
            "networking.k8s.io",
            "ingresses",
            &["list", "watch", "patch"],
        ),
        rule("networking.k8s.io", "ingresses/status", &["patch"]),
        rule("networking.k8s.io", "ingressclasses", &["list", "watch"]),
        rule("cloudnet.io", "ingressclassparams", &["list", "watch"]),
        rule("cloud.google.com", "backendconfigs", &["get"]),
        rule("", "namespaces", &["list", "watch"]),
        rule("", "pods", &["list", "watch"]),
        rule("", "pods/status", &["patch"]),
        rule(
            "cloudnet.io",
            "nodenetworks",
            &["get", "list", "watch", "create", "patch"],
        ),
        rule("cloudnet.io", "nodenetworks/status", &["patch"]),
        rule("cloudnet.io", "interfaceconfigs", &["list", "watch"]),
        rule(
            "cloudnet.io",
            "targetgroupbindings",
            &["list", "watch", "patch"],
        ),
        rule("cloudnet.io", "targetgroupbindings/status", &["patch"]),
        rule("events.k8s.io", "events", &["create", "patch"]),
    ];
    controller.sort();
    assert_eq!(
        rules(find(defaults, "ClusterRole", "cloudnet-controller")),
        controller
    );
    let mut node = vec![
        rule("cloudnet.io", "nodenetworks", &["list", "watch", "patch"]),
        rule("", "nodes/status", &["patch"]),
        rule("", "pods", &["list", "watch"]),
        rule("events.k8s.io", "events", &["create", "patch"]),
    ];
    node.sort();
    assert_eq!(rules(find(defaults, "ClusterRole", "cloudnet-node")), node);
    let lease = rules(find(
        defaults,
        "Role",
        "cloudnet-controller-leader-election",
    ));
    assert_eq!(
        lease,
        vec![
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec![],
                vec!["create".into()]
            ),
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec!["cloudnet-controller".into()],
                vec!["get".into(), "update".into()]
            ),
        ]
    );
    // Every rule says why.
    let source = std::fs::read_to_string(chart().join("templates/rbac-controller.yaml")).unwrap()
        + &std::fs::read_to_string(chart().join("templates/rbac-node.yaml")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("- apiGroups:") {
            let above = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim_start().starts_with("{{"))
                .unwrap();
            assert!(
                above.trim_start().starts_with('#'),
                "no comment above line {}: {l}",
                i + 1
            );
        }
    }
    // Routes only, no pod IPAM and no Ingress: nothing of theirs is granted.
    let routes = &all.iter().find(|(n, _)| *n == "routes").unwrap().1;
    let granted = rules(find(routes, "ClusterRole", "cloudnet-controller"));
    let resources: BTreeSet<&str> = granted.iter().map(|r| r.1.as_str()).collect();
    for gone in [
        "nodenetworks",
        "nodenetworks/status",
        "interfaceconfigs",
        "ingresses",
        "ingressclasses",
    ] {
        assert!(
            !resources.contains(gone),
            "{gone} granted without its controller: {granted:?}"
        );
    }
    assert!(
        granted.contains(&rule("", "nodes", &["list", "watch"])),
        "{granted:?}"
    );
    // Bindings name the service accounts of the names everyone uses.
    for (kind, name, sa) in [
        (
            "ClusterRoleBinding",
            "cloudnet-controller",
            "cloudnet-controller",
        ),
        ("ClusterRoleBinding", "cloudnet-node", "cloudnet-node"),
        (
            "RoleBinding",
            "cloudnet-controller-leader-election",
            "cloudnet-controller",
        ),
    ] {
        let b = find(defaults, kind, name);
        assert_eq!(
            b["subjects"],
            json!([{ "kind": "ServiceAccount", "name": sa, "namespace": "kube-system" }])
        );
        assert_eq!(b["roleRef"]["name"], name);
    }
}
