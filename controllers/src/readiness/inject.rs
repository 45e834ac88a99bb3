//! The optional mutating webhook's decision (the AWS Load Balancer Controller's pod
//! mutator): a pod created in a namespace labelled
//! `elbv2.k8s.aws/pod-readiness-gate-inject: enabled` (or
//! `cloudnet.io/pod-readiness-gate-inject: enabled`) gets a readiness gate
//! `target-health.cloudnet.io/<name>` for every Service of ours that selects it and every
//! TargetGroupBinding whose Service selects it. Pure: AdmissionReview v1 JSON in, AdmissionReview
//! JSON out, with a JSONPatch. The webhook fails open: it allows every pod, and whatever it
//! cannot read it leaves unpatched; its configuration is `failurePolicy: Ignore`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use super::gates::{GATE_PREFIX, gate_name};

/// The namespace labels that switch injection on (value `enabled`).
pub const INJECT_LABELS: [&str; 2] = [
    "elbv2.k8s.aws/pod-readiness-gate-inject",
    "cloudnet.io/pod-readiness-gate-inject",
];

/// What the webhook knows of the pod's namespace.
#[derive(Debug, Clone, Default)]
pub struct NamespaceView {
    pub labels: BTreeMap<String, String>,
    /// Services of ours (a load balancer of ours sends to their pods), by name, with their
    /// selectors.
    pub services: Vec<(String, BTreeMap<String, String>)>,
    /// TargetGroupBindings (`ip`) by name, with their Service's selector.
    pub bindings: Vec<(String, BTreeMap<String, String>)>,
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The gates (condition types) to add to `pod`: none unless the namespace asks for them,
/// and none the pod already has under either prefix.
pub fn gates_to_inject(pod: &Value, view: &NamespaceView) -> Vec<String> {
    let enabled = INJECT_LABELS
        .iter()
        .any(|l| view.labels.get(*l).map(String::as_str) == Some("enabled"));
    if !enabled {
        return Vec::new();
    }
    let labels: BTreeMap<String, String> =
        serde_json::from_value(pod["metadata"]["labels"].clone()).unwrap_or_default();
    let present: Vec<String> = pod["spec"]["readinessGates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| gate_name(g["conditionType"].as_str()?).map(str::to_string))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for (name, selector) in view.services.iter().chain(&view.bindings) {
        if selects(selector, &labels) && !present.contains(name) {
            let gate = format!("{GATE_PREFIX}{name}");
            if !out.contains(&gate) {
                out.push(gate);
            }
        }
    }
    out
}

/// The JSONPatch that adds `gates` to `pod`'s `spec.readinessGates`.
pub fn patch(pod: &Value, gates: &[String]) -> Value {
    let entries: Vec<Value> = gates.iter().map(|g| json!({"conditionType": g})).collect();
    if pod["spec"]["readinessGates"].is_array() {
        Value::Array(
            entries
                .into_iter()
                .map(|e| json!({"op": "add", "path": "/spec/readinessGates/-", "value": e}))
                .collect(),
        )
    } else {
        json!([{"op": "add", "path": "/spec/readinessGates", "value": entries}])
    }
}

/// The namespace an AdmissionReview's pod is created in.
pub fn review_namespace(review: &Value) -> Option<&str> {
    review["request"]["namespace"]
        .as_str()
        .or_else(|| review["request"]["object"]["metadata"]["namespace"].as_str())
}

/// The AdmissionReview answer to `review`: always allowed; a Pod CREATE whose namespace asks
/// for gates gets the JSONPatch that adds them.
pub fn respond(review: &Value, view: &NamespaceView) -> Value {
    let request = &review["request"];
    let mut response = json!({"uid": request["uid"], "allowed": true});
    let is_pod_create = request["operation"] == "CREATE"
        && request["kind"]["kind"] == "Pod"
        && request["kind"]["group"]
            .as_str()
            .unwrap_or_default()
            .is_empty();
    if is_pod_create {
        let pod = &request["object"];
        let gates = gates_to_inject(pod, view);
        if !gates.is_empty() {
            let ops = patch(pod, &gates);
            response["patchType"] = json!("JSONPatch");
            response["patch"] =
                json!(base64::engine::general_purpose::STANDARD.encode(ops.to_string()));
        }
    }
    json!({
        "apiVersion": review["apiVersion"].as_str().unwrap_or("admission.k8s.io/v1"),
        "kind": "AdmissionReview",
        "response": response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AdmissionReview v1 request as the API server sends it for `kubectl apply` of a
    /// Deployment's pod.
    fn review(labels: Value, gates: Option<Value>) -> Value {
        let mut spec = json!({"containers": [{"name": "app", "image": "web:2"}]});
        if let Some(g) = gates {
            spec["readinessGates"] = g;
        }
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "shop",
                "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"generateName": "web-7d4b9c-", "labels": labels},
                    "spec": spec},
                "oldObject": null,
                "dryRun": false,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
            }
        })
    }

    fn view(enabled: bool) -> NamespaceView {
        let sel = |app: &str| BTreeMap::from([("app".to_string(), app.to_string())]);
        let mut labels = BTreeMap::new();
        if enabled {
            labels.insert(INJECT_LABELS[0].to_string(), "enabled".to_string());
        }
        NamespaceView {
            labels,
            services: vec![("web".into(), sel("web")), ("api".into(), sel("api"))],
            bindings: vec![("web-external".into(), sel("web"))],
        }
    }

    /// The pod after the API server applies the answer's patch.
    fn patched(review: &Value, answer: &Value) -> Value {
        let mut pod = review["request"]["object"].clone();
        if let Some(p) = answer["response"]["patch"].as_str() {
            assert_eq!(answer["response"]["patchType"], "JSONPatch");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p)
                .expect("base64");
            let ops: json_patch::Patch = serde_json::from_slice(&bytes).expect("a JSONPatch");
            json_patch::patch(&mut pod, &ops).expect("the patch applies");
        }
        pod
    }

    fn gates(pod: &Value) -> Vec<String> {
        pod["spec"]["readinessGates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["conditionType"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn a_pod_in_a_labelled_namespace_gets_a_gate_per_service_and_binding_selecting_it() {
        let r = review(json!({"app": "web", "pod-template-hash": "7d4b9c"}), None);
        let answer = respond(&r, &view(true));
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(
            answer["response"]["uid"],
            "705ab4f5-6393-11e8-b7cc-42010a800002"
        );
        assert_eq!(answer["response"]["allowed"], true);
        assert_eq!(
            gates(&patched(&r, &answer)),
            [
                "target-health.cloudnet.io/web",
                "target-health.cloudnet.io/web-external"
            ]
        );
    }

    #[test]
    fn existing_gates_are_kept_and_not_doubled() {
        let existing = json!([{"conditionType": "example.com/other"},
                              {"conditionType": "target-health.elbv2.k8s.aws/web"}]);
        let r = review(json!({"app": "web"}), Some(existing));
        let pod = patched(&r, &respond(&r, &view(true)));
        assert_eq!(
            gates(&pod),
            [
                "example.com/other",
                "target-health.elbv2.k8s.aws/web",
                "target-health.cloudnet.io/web-external"
            ]
        );
    }

    #[test]
    fn nothing_is_patched_without_the_label_a_selecting_service_or_a_pod_create() {
        let r = review(json!({"app": "web"}), None);
        let answer = respond(&r, &view(false));
        assert_eq!(answer["response"]["allowed"], true);
        assert!(answer["response"].get("patch").is_none());
        let other = review(json!({"app": "batch"}), None);
        assert!(
            respond(&other, &view(true))["response"]
                .get("patch")
                .is_none()
        );
        let mut update = review(json!({"app": "web"}), None);
        update["request"]["operation"] = json!("UPDATE");
        assert!(
            respond(&update, &view(true))["response"]
                .get("patch")
                .is_none()
        );
        // Garbage in: still allowed (the webhook fails open).
        let answer = respond(&json!({"request": {"uid": "x"}}), &view(true));
        assert_eq!(answer["response"]["allowed"], true);
        assert_eq!(review_namespace(&r), Some("shop"));
    }
}
