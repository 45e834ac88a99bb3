//! Bad input gets the 4xx `Status` the real API gives, and the server keeps serving.

use serde_json::{Value, json};

use crate::{get_json, raw, start};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn status_of(code: u16, body: &Value) -> (u16, String) {
    assert_eq!(body["kind"], "Status", "a Status body for {code}: {body}");
    assert_eq!(body["code"].as_u64(), Some(u64::from(code)));
    (
        code,
        body["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// What, path, content type, body, expected code and reason.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_requests_get_status_errors() {
    let (handle, client) = start().await;
    let json_body = |v: Value| serde_json::to_vec(&v).expect("json");
    let cases: Vec<Case> = vec![
        (
            "malformed json",
            CMS,
            "application/json",
            b"{\"metadata\": {".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "malformed yaml",
            CMS,
            "application/yaml",
            b"metadata: [unclosed\n  - x: : :".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "not an object",
            CMS,
            "application/json",
            b"[1,2,3]".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "empty body",
            CMS,
            "application/json",
            Vec::new(),
            400,
            "BadRequest",
        ),
        (
            "wrong apiVersion",
            CMS,
            "application/json",
            json_body(
                json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            ),
            400,
            "BadRequest",
        ),
        (
            "wrong kind",
            CMS,
            "application/json",
            json_body(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}})),
            400,
            "BadRequest",
        ),
        (
            "metadata of the wrong type",
            CMS,
            "application/json",
            json_body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}})),
            400,
            "BadRequest",
        ),
        (
            "labels of the wrong type",
            CMS,
            "application/json",
            json_body(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": 1}}}),
            ),
            400,
            "BadRequest",
        ),
        (
            "invalid name",
            CMS,
            "application/json",
            json_body(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}}),
            ),
            422,
            "Invalid",
        ),
        (
            "no name",
            CMS,
            "application/json",
            json_body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
            422,
            "Invalid",
        ),
        (
            "long name",
            CMS,
            "application/json",
            json_body(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a".repeat(254)}}),
            ),
            422,
            "Invalid",
        ),
        (
            "service name must be a DNS-1035 label",
            "/api/v1/namespaces/default/services",
            "application/json",
            json_body(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}})),
            422,
            "Invalid",
        ),
        (
            "unknown resource",
            "/api/v1/namespaces/default/widgets",
            "application/json",
            json_body(json!({})),
            404,
            "NotFound",
        ),
        (
            "unknown group",
            "/apis/example.com/v1/widgets",
            "application/json",
            json_body(json!({})),
            404,
            "NotFound",
        ),
        (
            "protobuf envelope without an object",
            CMS,
            "application/vnd.kubernetes.protobuf",
            b"k8s\x00".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "protobuf without the envelope",
            CMS,
            "application/vnd.kubernetes.protobuf",
            b"\x0a\x02\x08\x01".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "CBOR body",
            CMS,
            "application/cbor",
            b"\xa0".to_vec(),
            415,
            "UnsupportedMediaType",
        ),
        (
            "namespace that does not exist",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            json_body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})),
            404,
            "NotFound",
        ),
    ];
    for (what, path, ctype, body, code, reason) in cases {
        let (got, status) = raw(&client, "POST", path, ctype, body).await;
        assert_eq!(
            status_of(got, &status),
            (code, reason.to_string()),
            "{what}"
        );
    }

    // Patches.
    let (c, _) = raw(
        &client,
        "POST",
        CMS,
        "application/json",
        json_body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}})),
    )
    .await;
    assert_eq!(c, 201);
    let ok = format!("{CMS}/ok");
    for (what, ctype, body, code, reason) in [
        (
            "unknown patch type",
            "text/plain",
            b"{}".to_vec(),
            415,
            "UnsupportedMediaType",
        ),
        (
            "malformed merge patch",
            "application/merge-patch+json",
            b"{{".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "json patch that is not a list",
            "application/json-patch+json",
            b"{}".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "apply without a field manager",
            "application/apply-patch+yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n".to_vec(),
            422,
            "Invalid",
        ),
        (
            "malformed apply yaml",
            "application/apply-patch+yaml",
            b"a: [".to_vec(),
            400,
            "BadRequest",
        ),
    ] {
        let (got, status) = raw(&client, "PATCH", &ok, ctype, body).await;
        assert_eq!(
            status_of(got, &status),
            (code, reason.to_string()),
            "{what}"
        );
    }
    let (got, status) = raw(
        &client,
        "PUT",
        "/api/v1/namespaces/default/configmaps/ok/log",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status_of(got, &status).0, 405);
    let (got, status) = get_json(&client, &format!("{CMS}?labelSelector=a%20in%20b")).await;
    assert_eq!(
        status_of(got, &status),
        (400, "BadRequest".to_string()),
        "bad selector"
    );

    // Oversized bodies: 413.
    let big = json_body(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"k": "x".repeat(3 * 1024 * 1024 + 10)}}),
    );
    let (got, status) = raw(&client, "POST", CMS, "application/json", big).await;
    assert_eq!(
        status_of(got, &status),
        (413, "RequestEntityTooLarge".to_string())
    );

    // Unknown tokens: 401.
    let url = format!("{}/api/v1/namespaces", handle.url());
    let mut kubeconfig = kube::config::Kubeconfig::from_yaml(
        &handle
            .kubeconfig_yaml(cloudnet_kubesim::ADMIN)
            .expect("kubeconfig"),
    )
    .expect("parse");
    for user in &mut kubeconfig.auth_infos {
        if let Some(info) = user.auth_info.as_mut() {
            info.token = Some("wrong".to_string().into());
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    let stranger = kube::Client::try_from(config).expect("client");
    let (got, status) = get_json(&stranger, "/api/v1/namespaces").await;
    assert_eq!(
        status_of(got, &status),
        (401, "Unauthorized".to_string()),
        "{url}"
    );

    // Still serving.
    let (got, body) = get_json(&client, CMS).await;
    assert_eq!(got, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn discovery_documents() {
    let (_h, client) = start().await;
    let (code, core) = get_json(&client, "/api/v1").await;
    assert_eq!(code, 200);
    let pods = core["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "pods"))
        .cloned()
        .expect("pods listed");
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert!(
        pods["verbs"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("watch")))
    );
    let (_, groups) = get_json(&client, "/apis").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["name"].as_str()).collect())
        .unwrap_or_default();
    for g in [
        "apps",
        "discovery.k8s.io",
        "networking.k8s.io",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "events.k8s.io",
    ] {
        assert!(names.contains(&g), "{g} served");
    }
    let (_, version) = get_json(&client, "/version").await;
    assert_eq!(version["major"], "1");
    // kube's own discovery works against it.
    let discovery = kube::Discovery::new(client).run().await.expect("discovery");
    assert!(discovery.has_group("discovery.k8s.io"));
}
