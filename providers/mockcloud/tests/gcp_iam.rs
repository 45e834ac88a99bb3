//! Compute Engine IAM over the wire: a role set through the control endpoint allows what it
//! lists, refuses the rest with Compute Engine's 403 `forbidden` JSON naming the permission
//! and the resource (the call doing nothing, marked denied in the call log), and a `use`
//! permission is needed on what a create refers to.

mod common;

use serde_json::{Value, json};

const P: &str = "/compute/v1/projects/cloudnet-sandbox";

/// The controller's service account, as its token names it.
const AUTH: [(&str, &str); 1] = [(
    "Authorization",
    "Bearer ya29.mockcloud.ctl@cloudnet-sandbox.iam.gserviceaccount.com",
)];

#[tokio::test]
async fn a_role_allows_what_it_lists_and_refuses_the_rest_with_computes_403() {
    let h = common::start().await;
    let c = common::GceCaller {
        h: &h,
        headers: &AUTH,
    };
    let spec = json!({
        "roles": {"router": {"permissions": [
            "compute.instances.get", "compute.routes.create", "compute.routes.get"
        ]}},
        "bindings": {"ctl@cloudnet-sandbox.iam.gserviceaccount.com": "router"}
    });
    common::control_json(&h, "PUT", "/_mockcloud/gcp/iam", &spec.to_string()).await;

    let (s, v) = c
        .get("zones/us-central1-a/instances/gke-cloudnet-node-1")
        .await;
    assert_eq!(s, 200, "{v}");

    // The route's own permission is granted, the network's updatePolicy is not.
    let route = json!({"name": "r1", "network": "global/networks/cloudnet", "destRange": "10.100.0.0/24",
        "nextHopInstance": "zones/us-central1-a/instances/gke-cloudnet-node-1"});
    let (s, v) = c.call("POST", "global/routes", route.clone()).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["errors"][0]["reason"], "forbidden", "{v}");
    assert_eq!(
        v["error"]["message"],
        "Required 'compute.networks.updatePolicy' permission for 'projects/cloudnet-sandbox/global/networks/cloudnet'"
    );
    let (s, _) = c.get("global/routes/r1").await;
    assert_eq!(s, 404, "the refused insert made nothing");
    let (s, v) = c.call("DELETE", "global/routes/r1", Value::Null).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(
        v["error"]["message"],
        "Required 'compute.routes.delete' permission for 'projects/cloudnet-sandbox/global/routes/r1'"
    );
    let log = common::control_json(&h, "GET", "/_mockcloud/call-log", "").await;
    let denied: Vec<&str> = log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["denied"] == true)
        .map(|c| c["call"].as_str().unwrap())
        .collect();
    assert_eq!(denied, ["compute:routes.insert", "compute:routes.delete"]);

    // Granted the policy permissions too, the same insert goes through; a caller bound to
    // no role gets nothing.
    let spec = json!({
        "roles": {"router": {"permissions": [
            "compute.routes.create", "compute.networks.updatePolicy", "compute.instances.use"
        ]}},
        "bindings": {"ctl@cloudnet-sandbox.iam.gserviceaccount.com": "router"}
    });
    common::control_json(&h, "PUT", "/_mockcloud/gcp/iam", &spec.to_string()).await;
    let (s, v) = c.call("POST", "global/routes", route).await;
    assert_eq!(s, 200, "{v}");
    let (s, _, _) = common::http(&h, "GET", &format!("{P}/global/routes/r1"), &[], "").await;
    assert_eq!(s, 403, "anonymous is bound to no role");

    // A bad spec is refused; deleting IAM allows everything again.
    let (s, _, body) = common::http(
        &h,
        "PUT",
        "/_mockcloud/gcp/iam",
        &[],
        r#"{"roles":{},"bindings":{"x":"missing"}}"#,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("gcp.iam.bindings.x"), "{body}");
    common::control_json(&h, "DELETE", "/_mockcloud/gcp/iam", "").await;
    let (s, _, _) = common::http(&h, "GET", &format!("{P}/global/routes/r1"), &[], "").await;
    assert_eq!(s, 200);
}
