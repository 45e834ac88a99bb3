//! Server-side Table output, as `kubectl get` asks for it.

use serde_json::{Value, json};

use crate::{raw, send, start};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn get(client: &kube::Client, path: &str, accept: &str) -> (u16, Vec<u8>) {
    let request = http::Request::builder()
        .uri(path)
        .header("accept", accept)
        .body(kube::client::Body::empty())
        .expect("request builds");
    send(client, request).await
}

async fn get_json(client: &kube::Client, path: &str, accept: &str) -> (u16, Value) {
    let (code, body) = get(client, path, accept).await;
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn column_names(table: &Value) -> Vec<&str> {
    table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect()
}

#[tokio::test]
async fn lists_gets_and_watches_print_tables() {
    let (_handle, client) = start().await;
    for name in ["a", "b"] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
        let (code, _) = raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            serde_json::to_vec(&cm).expect("json"),
        )
        .await;
        assert_eq!(code, 201);
    }
    let base = "/api/v1/namespaces/default/configmaps";

    let (code, table) = get_json(&client, base, TABLE).await;
    assert_eq!(code, 200, "{table}");
    assert_eq!(
        (table["kind"].as_str(), table["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    assert_eq!(column_names(&table), ["Name", "Data", "Age"]);
    assert!(table["metadata"]["resourceVersion"].is_string());
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0]["cells"][0], &rows[0]["cells"][1]),
        (&json!("a"), &json!(1))
    );
    assert_eq!(rows[0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(rows[0]["object"]["metadata"]["name"], "a");
    assert!(rows[0]["object"].get("data").is_none());

    let (_, table) = get_json(&client, &format!("{base}?includeObject=Object"), TABLE).await;
    assert_eq!(table["rows"][1]["object"]["data"], json!({"k": "v"}));
    let (_, table) = get_json(&client, &format!("{base}?includeObject=None"), TABLE).await;
    assert!(table["rows"][1]["object"].is_null());
    let (code, status) = get_json(&client, &format!("{base}?includeObject=All"), TABLE).await;
    assert_eq!((code, status["kind"].as_str()), (400, Some("Status")));

    let (code, table) = get_json(&client, &format!("{base}/b"), TABLE).await;
    assert_eq!(code, 200);
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(table["rows"][0]["cells"][0], "b");
    let (code, _) = get_json(&client, &format!("{base}/missing"), TABLE).await;
    assert_eq!(code, 404);

    // Without the Table media type first, plain objects as before.
    let (_, list) = get_json(&client, base, "application/json").await;
    assert_eq!(list["kind"], "ConfigMapList");
    let (_, list) = get_json(
        &client,
        base,
        "application/json, application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    .await;
    assert_eq!(list["kind"], "ConfigMapList");

    // A watch: every event's object is a Table; only the first carries the columns.
    let (code, body) = get(&client, &format!("{base}?watch=1&timeoutSeconds=1"), TABLE).await;
    assert_eq!(code, 200);
    let events: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("event is JSON"))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["type"], "ADDED");
        assert_eq!(event["object"]["kind"], "Table");
        assert_eq!(event["object"]["rows"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            column_names(&event["object"]).len(),
            if i == 0 { 3 } else { 0 }
        );
    }
}
