//! RBAC enforcement over HTTP: denials read as the real API's, bindings apply at once,
//! `system:masters` bypasses, and the audit against the grants gives the surplus.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use cloudnet_kubesim::rbac::{self, Policy};
use cloudnet_kubesim::{Config, Identity};

const NODE: &str = "system:serviceaccount:kube-system:cloudnet-node";

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("decodes")
}

fn pod_reader() -> ClusterRole {
    from(json!({"metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}))
}

fn node_binding() -> ClusterRoleBinding {
    from(json!({"metadata": {"name": "node-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "cloudnet-node", "namespace": "kube-system"}]}))
}

async fn forbidden<T: std::fmt::Debug>(result: kube::Result<T>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[tokio::test]
async fn denies_until_bound_and_reads_as_the_real_api() {
    let config = Config::default().with_rbac().with_identity(NODE);
    let (handle, admin) = crate::start_with(config).await;
    assert!(handle.rbac());
    let node = handle.client_for(NODE).await.expect("client");
    let pods: Api<Pod> = Api::all(node.clone());
    let denied = forbidden(pods.list(&ListParams::default()).await).await;
    assert_eq!(denied.code, 403);
    assert_eq!(denied.reason, "Forbidden");
    assert_eq!(
        denied.message,
        "pods is forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );
    let in_default: Api<Pod> = Api::namespaced(node.clone(), "default");
    let denied = forbidden(in_default.get("web").await).await;
    assert_eq!(
        denied.message,
        "pods \"web\" is forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(handle.auth().denials().len(), 2);

    // The admin is in system:masters; a binding it creates applies to the next request.
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &pod_reader())
        .await
        .expect("role");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &node_binding())
        .await
        .expect("binding");
    pods.list(&ListParams::default())
        .await
        .expect("allowed now");
    // Watches are authorized as `watch`, a subresource needs its own grant.
    let (code, _) = crate::get_json(&node, "/api/v1/pods?watch=1&timeoutSeconds=1").await;
    assert_eq!(code, 200);
    let (code, status) = crate::get_json(&node, "/api/v1/namespaces/default/pods/web/status").await;
    assert_eq!(code, 403, "{status}");
    assert_eq!(status["details"], json!({"name": "web", "kind": "pods"}));
    let configmaps: Api<ConfigMap> = Api::namespaced(node.clone(), "default");
    forbidden(configmaps.list(&ListParams::default()).await).await;

    // Removing the binding takes the access away at once.
    Api::<ClusterRoleBinding>::all(admin.clone())
        .delete("node-pods", &DeleteParams::default())
        .await
        .expect("unbind");
    forbidden(pods.list(&ListParams::default()).await).await;

    // Discovery is the default roles' (system:discovery for every authenticated identity).
    let (code, _) = crate::get_json(&node, "/apis").await;
    assert_eq!(code, 200);
    let (code, status) = crate::get_json(&node, "/_kubesim/audit").await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot get path \"/_kubesim/audit\""
    );
}

#[tokio::test]
async fn role_bindings_hold_in_their_namespace_and_dangling_roles_are_named() {
    let config = Config::default().with_rbac().with_identity(NODE);
    let (handle, admin) = crate::start_with(config).await;
    let node = handle.client_for(NODE).await.expect("client");
    let role: Role = from(
        json!({"metadata": {"name": "cm", "namespace": "kube-system"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["mine"]}]}),
    );
    Api::<Role>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    // Bound to the whole group of kube-system's service accounts.
    let binding: RoleBinding = from(
        json!({"metadata": {"name": "cm", "namespace": "kube-system"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
        "subjects": [{"kind": "Group", "name": "system:serviceaccounts:kube-system"}]}),
    );
    Api::<RoleBinding>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "kube-system");
    for name in ["mine", "theirs"] {
        cms.create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": name}})),
        )
        .await
        .expect("configmap");
    }
    let mine: Api<ConfigMap> = Api::namespaced(node.clone(), "kube-system");
    mine.get("mine").await.expect("the named one");
    forbidden(mine.get("theirs").await).await;
    forbidden(mine.list(&ListParams::default()).await).await;
    let elsewhere: Api<ConfigMap> = Api::namespaced(node.clone(), "default");
    forbidden(elsewhere.get("mine").await).await;

    let dangling: ClusterRoleBinding = from(json!({"metadata": {"name": "dangling"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gone"},
        "subjects": [{"kind": "User", "name": NODE}]}));
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &dangling)
        .await
        .expect("binding");
    let denied = forbidden(Api::<Pod>::all(node).list(&ListParams::default()).await).await;
    assert!(
        denied.message.ends_with(
            "at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found"
        ),
        "{}",
        denied.message
    );

    // The audit against the grants: the `get` was used, the default self-review grants were
    // not, and the three denied requests show as used but not granted.
    let policy = Policy::load(handle.store());
    let identity = Identity::new(NODE);
    let used = handle.auth().audit().remove(NODE).expect("audited");
    let usage = rbac::usage(&policy.grants(&identity), &used);
    let surplus: Vec<&str> = usage.surplus.iter().map(|a| a.resource.as_str()).collect();
    assert_eq!(
        surplus,
        [
            "selfsubjectreviews",
            "selfsubjectaccessreviews",
            "selfsubjectrulesreviews"
        ],
        "{:?}",
        usage.surplus
    );
    let ungranted: Vec<(String, String, Option<String>)> = usage
        .ungranted
        .iter()
        .map(|a| (a.verb.clone(), a.resource.clone(), a.namespace.clone()))
        .collect();
    assert_eq!(
        ungranted,
        vec![
            ("get".into(), "configmaps".into(), Some("default".into())),
            (
                "list".into(),
                "configmaps".into(),
                Some("kube-system".into())
            ),
            ("list".into(), "pods".into(), None),
        ]
    );
}

#[tokio::test]
async fn off_by_default() {
    let config = Config::default().with_identity(NODE);
    let (handle, _admin) = crate::start_with(config).await;
    assert!(!handle.rbac());
    let node = handle.client_for(NODE).await.expect("client");
    Api::<Pod>::all(node)
        .list(&ListParams::default())
        .await
        .expect("allowed");
    // No default roles stored either: nothing else changes.
    assert!(
        Policy::load(handle.store())
            .grants(&Identity::master("x"))
            .is_empty()
    );
}

/// `kubectl auth can-i`, as a service account's kubeconfig asks it: allowed, denied,
/// subresources, namespaces, `--list`, and a binding that applies at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_answers_from_the_policy() {
    let config = Config::default().with_rbac().with_identity(NODE);
    let (handle, admin) = crate::start_with(config).await;
    let Some(k) = crate::kubectl::Kubectl::for_identity(&handle, NODE) else {
        return;
    };
    let role: ClusterRole = from(json!({"metadata": {"name": "node-status"},
    "rules": [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}
    ]}));
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding: ClusterRoleBinding = from(json!({"metadata": {"name": "node-status"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-status"},
        "subjects": [{"kind": "ServiceAccount", "name": "cloudnet-node", "namespace": "kube-system"}]}));
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");

    // `can-i` exits 0 with "yes" when allowed and 1 with "no" when not.
    let can = |args: &'static [&'static str]| {
        let k = &k;
        async move {
            let mut full = vec!["auth", "can-i"];
            full.extend_from_slice(args);
            let (ok, out, err) = k.run(&full).await;
            assert!(
                out.trim() == "yes" || out.trim().starts_with("no"),
                "kubectl {full:?}: {out}\n{err}"
            );
            assert_eq!(ok, out.trim() == "yes", "{full:?}: {out}\n{err}");
            ok
        }
    };
    assert!(can(&["list", "nodes"]).await);
    assert!(can(&["watch", "nodes"]).await);
    assert!(can(&["get", "nodes/n1"]).await);
    assert!(!can(&["delete", "nodes"]).await);
    assert!(can(&["patch", "nodes", "--subresource=status"]).await);
    assert!(!can(&["update", "nodes", "--subresource=status"]).await);
    assert!(!can(&["patch", "nodes"]).await);
    assert!(!can(&["list", "pods", "-n", "default"]).await);
    assert!(!can(&["list", "pods", "--all-namespaces"]).await);

    // A RoleBinding in one namespace: yes there, no elsewhere.
    let ns: k8s_openapi::api::core::v1::Namespace = from(json!({"metadata": {"name": "team"}}));
    Api::all(admin.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let reader: ClusterRole = from(json!({"metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}));
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &reader)
        .await
        .expect("role");
    let team: RoleBinding = from(json!({"metadata": {"name": "pods", "namespace": "team"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "cloudnet-node", "namespace": "kube-system"}]}));
    Api::<RoleBinding>::namespaced(admin.clone(), "team")
        .create(&PostParams::default(), &team)
        .await
        .expect("binding");
    assert!(can(&["list", "pods", "-n", "team"]).await);
    assert!(!can(&["list", "pods", "-n", "default"]).await);

    // `--list`: the rules of the namespace, the default roles' included.
    let out = k.ok(&["auth", "can-i", "--list", "-n", "team"]).await;
    let row = |resource: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .unwrap_or_else(|| panic!("{resource} in {out}"))
            .to_string()
    };
    assert!(row("nodes").contains("[get list watch]"), "{out}");
    assert!(row("nodes/status").contains("[patch]"), "{out}");
    assert!(row("pods").contains("[list]"), "{out}");
    assert!(
        row("selfsubjectaccessreviews.authorization.k8s.io").contains("[create]"),
        "{out}"
    );
    let out = k.ok(&["auth", "can-i", "--list", "-n", "default"]).await;
    assert!(!out.lines().any(|l| l.starts_with("pods ")), "{out}");

    // A request kubectl makes for real gets the real message.
    let (ok, _, err) = k.run(&["get", "pods", "-n", "default"]).await;
    assert!(!ok);
    assert!(
        err.contains("Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
        "{err}"
    );
    assert!(handle.auth().denials().iter().all(|d| d.identity == NODE));
}
