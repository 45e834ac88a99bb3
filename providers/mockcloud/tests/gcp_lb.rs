//! Compute Engine load-balancing resources over the wire: the L7 chain (health check, NEG,
//! backend service, URL map, target proxy, global forwarding rule on a reserved address),
//! deletion refused while referenced, quotas from the world file, and GCP faults.

mod common;

use cloudnet_mockcloud::World;
use serde_json::{Value, json};

fn reason(v: &Value) -> &str {
    v["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_l7_chain_builds_and_refuses_deleting_what_is_used() {
    let h = common::start().await;
    let c = common::GceCaller {
        h: &h,
        headers: &[],
    };
    let ok = |(s, v): (u16, Value)| {
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "DONE", "{v}");
    };
    ok(c.call("POST", "global/healthChecks", json!({"name": "hc", "type": "HTTP", "httpHealthCheck": {"port": 8080, "requestPath": "/healthz"}})).await);
    ok(c.call("POST", "zones/us-central1-a/networkEndpointGroups", json!({"name": "neg-a", "network": "global/networks/cloudnet", "subnetwork": "regions/us-central1/subnetworks/cloudnet-nodes", "defaultPort": 8080})).await);
    let (s, v) = c
        .call(
            "POST",
            "global/backendServices",
            json!({"name": "bs", "healthChecks": ["global/healthChecks/missing"]}),
        )
        .await;
    assert_eq!((s, reason(&v)), (404, "notFound"), "{v}");
    ok(c.call(
        "POST",
        "global/backendServices",
        json!({"name": "bs", "healthChecks": ["global/healthChecks/hc"],
        "backends": [{"group": "zones/us-central1-a/networkEndpointGroups/neg-a"}]}),
    )
    .await);
    ok(c.call(
        "POST",
        "global/urlMaps",
        json!({"name": "um", "defaultService": "global/backendServices/bs"}),
    )
    .await);
    ok(c.call(
        "POST",
        "global/targetHttpProxies",
        json!({"name": "tp", "urlMap": "global/urlMaps/um"}),
    )
    .await);
    ok(c.call("POST", "global/addresses", json!({"name": "ip"}))
        .await);
    ok(c.call("POST", "global/forwardingRules", json!({"name": "fr", "target": "global/targetHttpProxies/tp", "IPAddress": "global/addresses/ip", "portRange": "80"})).await);
    let (_, addr) = c.get("global/addresses/ip").await;
    assert_eq!(addr["status"], "IN_USE");
    let (_, fr) = c.get("global/forwardingRules/fr").await;
    assert_eq!(fr["IPAddress"], addr["address"]);
    assert_eq!(fr["portRange"], "80-80");
    assert!(fr["target"].as_str().unwrap().starts_with(&format!(
        "http://{}/compute/v1/projects/cloudnet-sandbox/global/targetHttpProxies/tp",
        h.addr()
    )));
    for (path, by) in [
        ("global/healthChecks/hc", "backendServices/bs"),
        (
            "zones/us-central1-a/networkEndpointGroups/neg-a",
            "backendServices/bs",
        ),
        ("global/backendServices/bs", "urlMaps/um"),
        ("global/urlMaps/um", "targetHttpProxies/tp"),
        ("global/targetHttpProxies/tp", "forwardingRules/fr"),
        ("global/addresses/ip", "forwardingRules/fr"),
    ] {
        let (s, v) = c.call("DELETE", path, Value::Null).await;
        assert_eq!(
            (s, reason(&v)),
            (400, "resourceInUseByAnotherResource"),
            "{path}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(by),
            "{path}: {v}"
        );
    }
    // A stale fingerprint on the backend service is 412; the current one works.
    let (_, bs) = c.get("global/backendServices/bs").await;
    let fp = bs["fingerprint"].as_str().unwrap().to_string();
    ok(c.call(
        "PATCH",
        "global/backendServices/bs",
        json!({"fingerprint": fp, "timeoutSec": 60}),
    )
    .await);
    let (s, v) = c
        .call(
            "PATCH",
            "global/backendServices/bs",
            json!({"fingerprint": fp, "timeoutSec": 90}),
        )
        .await;
    assert_eq!((s, reason(&v)), (412, "conditionNotMet"), "{v}");
    // Torn down from the front, everything goes.
    for path in [
        "global/forwardingRules/fr",
        "global/targetHttpProxies/tp",
        "global/urlMaps/um",
        "global/backendServices/bs",
        "global/healthChecks/hc",
        "zones/us-central1-a/networkEndpointGroups/neg-a",
        "global/addresses/ip",
    ] {
        ok(c.call("DELETE", path, Value::Null).await);
    }
    let dump = common::control_json(&h, "GET", "/_mockcloud/state", "").await;
    let left: Vec<&String> = dump["gcp"]["resources"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.contains("/instances/") && !k.contains("networks/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let calls = common::control_json(&h, "GET", "/_mockcloud/calls", "").await;
    assert_eq!(
        calls["compute:backendServices.insert"], 2,
        "the refused one counts too: {calls}"
    );
    assert_eq!(calls["compute:backendServices.patch"], 2);
}

#[tokio::test]
async fn quotas_come_from_the_world_and_faults_speak_gcp() {
    let mut world = World::default();
    let mut gcp = cloudnet_mockcloud::gcp::GcpWorld::default();
    gcp.quotas.insert("HEALTH_CHECKS".into(), 1);
    world.gcp = Some(gcp);
    let h = common::start_with(world).await;
    let c = common::GceCaller {
        h: &h,
        headers: &[],
    };
    let (s, _) = c
        .call(
            "POST",
            "global/healthChecks",
            json!({"name": "a", "type": "TCP"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = c
        .call(
            "POST",
            "global/healthChecks",
            json!({"name": "b", "type": "TCP"}),
        )
        .await;
    assert_eq!((s, reason(&v)), (403, "QUOTA_EXCEEDED"), "{v}");
    let (_, project) = c.get("").await;
    let row = project["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["metric"] == "HEALTH_CHECKS")
        .cloned()
        .unwrap();
    assert_eq!(
        (row["limit"].as_f64(), row["usage"].as_f64()),
        (Some(1.0), Some(1.0))
    );

    common::add_faults(&h, r#"[{"service":"compute","action":"instances.get","kind":"throttle","rate_per_sec":0.001,"burst":1},
        {"service":"compute","action":"zones.get","kind":"error","status":503,"trigger":"once"}]"#).await;
    let (s, _) = c
        .get("zones/us-central1-a/instances/gke-cloudnet-node-1")
        .await;
    assert_eq!(s, 200);
    let (s, v) = c
        .get("zones/us-central1-a/instances/gke-cloudnet-node-1")
        .await;
    assert_eq!((s, reason(&v)), (429, "rateLimitExceeded"), "{v}");
    let (s, v) = c.get("zones/us-central1-a").await;
    assert_eq!((s, reason(&v)), (503, "unavailable"), "{v}");
    let (s, v) = c.get("zones/us-central1-a").await;
    assert_eq!(s, 200, "{v}");
    let by_name = "zones/us-central1-a/instances?filter=name+%3D+%22gke-cloudnet-node-1%22";
    let (s, v) = c.get(by_name).await;
    assert_eq!(s, 200);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{v}");
    let (s, v) = c.get("zones/us-central1-a/instances?filter=name+%3D").await;
    assert_eq!((s, reason(&v)), (400, "invalid"), "{v}");
}
