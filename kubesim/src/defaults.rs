//! The defaults the real API fills in when it decodes a write, for the kinds the sandbox
//! uses: Services, Pods and the pod templates of Deployments, ReplicaSets and DaemonSets.
//!
//! Only absent (or null) fields are filled; a value the client sent is never replaced, and a
//! field of the wrong shape is left for validation to refuse rather than defaulted around.
//! Defaults run on create and on update, as the real API's decoding does, so a PUT that
//! leaves a defaulted field out does not look like a spec change.

use serde_json::{Map, Value, json};

use crate::admission::Admission;
use crate::error::StatusError;
use crate::resources::ResourceInfo;

/// Fills in defaults; installed in every [`Store`](crate::Store), before any other hook.
#[derive(Debug, Default)]
pub struct Defaults;

impl Admission for Defaults {
    fn on_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
        apply(info, obj);
        Ok(())
    }

    fn on_update(
        &self,
        info: &ResourceInfo,
        _old: &Value,
        new: &mut Value,
    ) -> Result<(), StatusError> {
        apply(info, new);
        Ok(())
    }
}

/// Fills in the defaults of `obj`, served as `info`.
pub fn apply(info: &ResourceInfo, obj: &mut Value) {
    if info.custom {
        return;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Service") => {
            if let Some(spec) = field(obj, "spec") {
                service(spec);
            }
        }
        ("", "Pod") => {
            if let Some(spec) = field(obj, "spec") {
                pod_spec(spec);
                set(spec, "enableServiceLinks", json!(true));
            }
        }
        ("", "Secret") => {
            if let Some(secret) = obj.as_object_mut() {
                set(secret, "type", json!("Opaque"));
            }
        }
        ("apps", "Deployment") => {
            if let Some(spec) = field(obj, "spec") {
                deployment(spec);
            }
        }
        ("apps", "ReplicaSet") => {
            if let Some(spec) = field(obj, "spec") {
                set(spec, "replicas", json!(1));
                template(spec);
            }
        }
        ("apps", "DaemonSet") => {
            if let Some(spec) = field(obj, "spec") {
                set(spec, "revisionHistoryLimit", json!(10));
                set(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
                template(spec);
            }
        }
        _ => {}
    }
}

/// The object at `key` of `parent`, when `parent` is an object and it is one.
fn field<'a>(parent: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    parent.as_object_mut()?.get_mut(key)?.as_object_mut()
}

/// Sets `key` when it is absent or null.
fn set(map: &mut Map<String, Value>, key: &str, value: Value) {
    let slot = map.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = value;
    }
}

/// The objects of the list at `key`.
fn items<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn service(spec: &mut Map<String, Value>) {
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind != "ExternalName" {
        set(spec, "ipFamilies", json!(["IPv4"]));
        set(spec, "ipFamilyPolicy", json!("SingleStack"));
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        set(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    for port in items(spec, "ports") {
        set(port, "protocol", json!("TCP"));
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if unset && let Some(number) = port.get("port").cloned() {
            port.insert("targetPort".into(), number);
        }
    }
}

fn deployment(spec: &mut Map<String, Value>) {
    set(spec, "replicas", json!(1));
    set(
        spec,
        "strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    );
    if let Some(strategy) = spec.get_mut("strategy").and_then(Value::as_object_mut) {
        set(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            set(strategy, "rollingUpdate", json!({}));
            if let Some(rolling) = strategy
                .get_mut("rollingUpdate")
                .and_then(Value::as_object_mut)
            {
                set(rolling, "maxUnavailable", json!("25%"));
                set(rolling, "maxSurge", json!("25%"));
            }
        }
    }
    set(spec, "revisionHistoryLimit", json!(10));
    set(spec, "progressDeadlineSeconds", json!(600));
    template(spec);
}

/// The pod template under a workload's spec.
fn template(spec: &mut Map<String, Value>) {
    if let Some(pod) = spec.get_mut("template").and_then(|t| field(t, "spec")) {
        pod_spec(pod);
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "schedulerName", json!("default-scheduler"));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "securityContext", json!({}));
    for key in ["initContainers", "containers"] {
        for container in items(spec, key) {
            let policy = pull_policy(container.get("image").and_then(Value::as_str));
            set(container, "imagePullPolicy", json!(policy));
            set(
                container,
                "terminationMessagePath",
                json!("/dev/termination-log"),
            );
            set(container, "terminationMessagePolicy", json!("File"));
            set(container, "resources", json!({}));
            for port in items(container, "ports") {
                set(port, "protocol", json!("TCP"));
            }
        }
    }
}

/// `Always` for `:latest` or an untagged image, `IfNotPresent` otherwise (a digest counts
/// as pinned).
pub fn pull_policy(image: Option<&str>) -> &'static str {
    let image = image.unwrap_or_default();
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or_default();
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn defaulted(api_version: &str, kind: &str, mut obj: Value) -> Value {
        let registry = Registry::default();
        let info = registry
            .lookup_kind(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version} {kind} is served"));
        apply(info, &mut obj);
        obj
    }

    #[test]
    fn services() {
        let cases = [
            (
                json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}}),
                json!({"spec": {
                "type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                "ports": [
                    {"port": 80, "protocol": "TCP", "targetPort": 80},
                    {"port": 53, "protocol": "UDP", "targetPort": "dns"}
                ]}}),
            ),
            (
                json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "targetPort": 0}]}}),
                json!({"spec": {
                    "type": "LoadBalancer", "sessionAffinity": "ClientIP", "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                    "externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": true,
                    "ports": [{"port": 443, "protocol": "TCP", "targetPort": 443}]}}),
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com", "sessionAffinity": "None"}}),
            ),
            // Wrong shapes are left for validation.
            (json!({"spec": "nope"}), json!({"spec": "nope"})),
            (
                json!({"spec": {"type": "ClusterIP", "ports": ["x", 3]}}),
                json!({"spec": {"type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster", "ports": ["x", 3]}}),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(defaulted("v1", "Service", input.clone()), want, "{input}");
        }
    }

    fn pod_spec_defaults(containers: Value) -> Value {
        json!({
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30, "securityContext": {}, "containers": containers,
        })
    }

    fn container(name: &str, image: &str, policy: &str) -> Value {
        json!({"name": name, "image": image, "imagePullPolicy": policy,
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "resources": {}})
    }

    #[test]
    fn pods() {
        let pod = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"containers": [
                {"name": "a", "image": "nginx"},
                {"name": "b", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                {"name": "c", "image": "registry:5000/app:latest", "imagePullPolicy": "Never"}
            ]}}),
        );
        let mut b = container("b", "nginx:1.27", "IfNotPresent");
        b["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}]);
        let mut want = pod_spec_defaults(json!([
            container("a", "nginx", "Always"),
            b,
            container("c", "registry:5000/app:latest", "Never"),
        ]));
        want["enableServiceLinks"] = json!(true);
        assert_eq!(pod["spec"], want);
        let kept = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"restartPolicy": "Never", "dnsPolicy": "Default", "containers": []}}),
        );
        assert_eq!(kept["spec"]["restartPolicy"], "Never");
        assert_eq!(kept["spec"]["dnsPolicy"], "Default");
    }

    #[test]
    fn deployments() {
        let d = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.27"}]}}}}),
        );
        assert_eq!(
            d["spec"],
            json!({
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "template": {"spec": pod_spec_defaults(json!([container("a", "nginx:1.27", "IfNotPresent")]))},
            })
        );
        let partial = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"replicas": 0, "strategy": {"rollingUpdate": {"maxSurge": 1}}}}),
        );
        assert_eq!(partial["spec"]["replicas"], 0);
        assert_eq!(
            partial["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}})
        );
        let recreate = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn other_kinds_are_untouched() {
        let cm = json!({"data": {"a": "b"}});
        assert_eq!(defaulted("v1", "ConfigMap", cm.clone()), cm);
        let ingress = json!({"spec": {"rules": []}});
        assert_eq!(
            defaulted("networking.k8s.io/v1", "Ingress", ingress.clone()),
            ingress
        );
    }

    #[test]
    fn pull_policies() {
        for (image, want) in [
            (Some("nginx"), "Always"),
            (Some("nginx:latest"), "Always"),
            (Some("nginx:1.27"), "IfNotPresent"),
            (Some("localhost:5000/nginx"), "Always"),
            (Some("localhost:5000/nginx:1.0"), "IfNotPresent"),
            (Some("nginx@sha256:abc"), "IfNotPresent"),
            (None, "Always"),
        ] {
            assert_eq!(pull_policy(image), want, "{image:?}");
        }
    }
}
