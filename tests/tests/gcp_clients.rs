//! The mock cloud's Compute Engine through Google's own clients: the Python client library
//! (google-cloud-compute, REST, anonymous credentials, `api_endpoint` at the mock) and the
//! `gcloud` CLI (`api_endpoint_overrides/compute`, an access token file), as the AWS side
//! is driven through the aws CLI. Also the GCE metadata server, over plain HTTP.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request; (status, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A GET of `path` with `headers`; (status, body).
async fn get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    http(addr, "GET", path, headers, "").await
}

fn calls(h: &cloudnet_mockcloud::Handle) -> std::collections::BTreeMap<String, u64> {
    h.with_cloud(|c| c.calls.clone())
}

/// python3 with google-cloud-compute (the project venv, scripts/setup.sh).
fn python_with_compute() -> Option<PathBuf> {
    cloudnet_testkit::python_with("google.cloud.compute_v1", "google-cloud-compute")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn googles_python_client_drives_compute_engine() {
    let Some(py) = python_with_compute() else {
        return;
    };
    let mock = cloudnet_tests::MockGuard::start().await;
    // The `slow` network's operation (the 10th networks.insert) stays RUNNING for 1.5 s.
    let (status, _) = http(
        mock.handle.addr(),
        "POST",
        "/_mockcloud/faults",
        &[],
        r#"{"service":"compute","action":"networks.insert","kind":"operation_running","ms":1500,"trigger":{"every_nth":10}}"#,
    )
    .await;
    assert_eq!(status, 200);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gcp/compute_client.py");
    let endpoint = mock.handle.endpoint_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
            .args([&endpoint, "cloudnet-sandbox"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client script failed: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(
        v["subnet_secondary"],
        serde_json::json!([["pods", "10.20.0.0/16"]])
    );
    assert_eq!(v["subnet_gateway"], "10.10.0.1");
    assert_eq!(v["duplicate_network"]["code"], 409);
    assert_eq!(v["duplicate_network"]["reasons"][0], "alreadyExists");
    assert_eq!(v["vm1_ip"], "10.10.0.2");
    assert_eq!(
        v["vm1_aliases"],
        serde_json::json!([["10.20.1.0/24", "pods"]])
    );
    assert_eq!(
        v["stale_fingerprint"]["code"], 412,
        "{}",
        v["stale_fingerprint"]
    );
    assert_eq!(v["stale_fingerprint"]["reasons"][0], "conditionNotMet");
    assert_eq!(v["alias_overlap"]["code"], 400);
    assert_eq!(v["alias_overlap"]["reasons"][0], "invalid");
    assert!(
        v["alias_overlap"]["message"]
            .as_str()
            .unwrap()
            .contains("overlaps"),
        "{}",
        v["alias_overlap"]
    );
    assert_eq!(
        v["vm2_aliases"],
        serde_json::json!(["10.20.0.0/24"]),
        "the lowest free /24 of pods"
    );
    assert_eq!(v["not_found"]["code"], 404);
    assert_eq!(v["not_found"]["reasons"][0], "notFound");
    assert!(
        v["route_next_hop"]
            .as_str()
            .unwrap()
            .ends_with("/zones/us-central1-a/instances/vm-1")
    );
    assert_eq!(v["route_in_subnet"]["reasons"][0], "invalid");
    assert_eq!(
        v["network_in_use"]["reasons"][0],
        "resourceInUseByAnotherResource"
    );
    assert_eq!(
        v["pages"],
        serde_json::json!([3, 3, 1]),
        "7 networks in pages of 3"
    );
    assert_eq!(v["filtered"], serde_json::json!(["page-3"]));
    assert_eq!(
        v["aggregated"],
        serde_json::json!(["gke-cloudnet-node-1", "gke-cloudnet-node-2", "vm-1", "vm-2"]),
        "aggregatedList pages through every zone"
    );
    assert_eq!(v["neg_501"]["code"], 400);
    assert!(
        v["neg_501"]["message"].as_str().unwrap().contains("500"),
        "{}",
        v["neg_501"]
    );
    assert_eq!(v["neg_listed"], 500);
    assert_eq!(v["neg_size"], 500);
    assert_eq!(v["neg_outside_alias"]["reasons"][0], "invalid");
    assert_eq!(v["slow_first_status"], "RUNNING");
    assert_eq!(v["slow_polled_status"], "RUNNING");
    assert_eq!(
        v["slow_waited_status"], "DONE",
        "wait holds until the operation is done"
    );
    assert_eq!(v["slow_done"], true);

    let c = calls(&mock.handle);
    // vpc-a, its refused duplicate, 7 pages and `slow`: every insert is counted, faulted or not.
    assert_eq!(c.get("compute:networks.insert"), Some(&10), "{c:?}");
    // The refused 501-endpoint call is counted; it changed nothing (500 listed above).
    assert_eq!(
        c.get("compute:networkEndpointGroups.attachNetworkEndpoints"),
        Some(&3),
        "{c:?}"
    );
    assert!(
        c.get("compute:globalOperations.get").copied().unwrap_or(0) >= 1,
        "the client polled the slow operation: {c:?}"
    );
    let by_caller = mock.handle.with_cloud(|c| c.call_log.by_caller().clone());
    assert!(
        by_caller
            .get("anonymous")
            .is_some_and(|m| m.contains_key("compute:instances.updateNetworkInterface")),
        "{by_caller:?}"
    );
}

struct Gcloud {
    bin: PathBuf,
    config: PathBuf,
}

impl Gcloud {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .args(["--format=json", "--quiet"])
            .env("CLOUDSDK_CONFIG", &self.config)
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .env("CLOUDSDK_METRICS_ENVIRONMENT", "cloudnet-tests");
        cloudnet_tests::run_client(&mut command)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gcloud_cli_drives_compute_engine() {
    let Some(bin) = cloudnet_testkit::tool("gcloud") else {
        return;
    };
    let mock = cloudnet_tests::MockGuard::start().await;
    let dir = std::env::temp_dir().join(format!("cloudnet-gcloud-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "gcloud-test-token").unwrap();
    let g = Gcloud {
        bin,
        config: dir.join("config"),
    };
    let endpoint = format!("{}/compute/v1/", mock.handle.endpoint_url());
    let token_path = token.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        for (k, v) in [
            ("api_endpoint_overrides/compute", endpoint.as_str()),
            ("auth/access_token_file", token_path.as_str()),
            ("core/project", "cloudnet-sandbox"),
            ("component_manager/disable_update_check", "true"),
            ("core/disable_usage_reporting", "true"),
        ] {
            g.run(&["config", "set", k, v]).unwrap();
        }
        let out = vec![
            g.run(&[
                "compute",
                "networks",
                "create",
                "vpc-g",
                "--subnet-mode=custom",
            ]),
            g.run(&[
                "compute",
                "networks",
                "subnets",
                "create",
                "nodes-g",
                "--network=vpc-g",
                "--region=us-central1",
                "--range=10.30.0.0/24",
                "--secondary-range=pods=10.31.0.0/16",
            ]),
            g.run(&[
                "compute",
                "instances",
                "network-interfaces",
                "update",
                "gke-cloudnet-node-1",
                "--zone=us-central1-a",
                "--aliases=pods:10.4.7.0/24",
            ]),
            g.run(&[
                "compute",
                "instances",
                "network-interfaces",
                "update",
                "gke-cloudnet-node-2",
                "--zone=us-central1-b",
                "--aliases=pods:10.4.7.128/25",
            ]),
            g.run(&[
                "compute",
                "instances",
                "describe",
                "gke-cloudnet-node-1",
                "--zone=us-central1-a",
            ]),
            g.run(&["compute", "networks", "describe", "nope"]),
            g.run(&[
                "compute",
                "networks",
                "subnets",
                "list",
                "--filter=region:us-central1",
            ]),
        ];
        let _ = std::fs::remove_dir_all(&dir);
        out
    })
    .await
    .unwrap();
    let created: Value = serde_json::from_str(out[0].as_ref().unwrap()).unwrap();
    assert_eq!(created[0]["name"], "vpc-g", "{created}");
    let subnet: Value = serde_json::from_str(out[1].as_ref().unwrap()).unwrap();
    assert_eq!(
        subnet[0]["secondaryIpRanges"][0]["rangeName"], "pods",
        "{subnet}"
    );
    assert!(out[2].is_ok(), "alias update: {:?}", out[2]);
    let overlap = out[3].as_ref().unwrap_err();
    assert!(overlap.contains("overlaps"), "{overlap}");
    let node: Value = serde_json::from_str(out[4].as_ref().unwrap()).unwrap();
    assert_eq!(
        node["networkInterfaces"][0]["aliasIpRanges"][0]["ipCidrRange"],
        "10.4.7.0/24"
    );
    let missing = out[5].as_ref().unwrap_err();
    assert!(missing.contains("was not found"), "{missing}");
    let subnets: Value = serde_json::from_str(out[6].as_ref().unwrap()).unwrap();
    assert_eq!(subnets.as_array().map(Vec::len), Some(2), "{subnets}");

    let by_caller = mock.handle.with_cloud(|c| c.call_log.by_caller().clone());
    let mine = by_caller
        .get("gcloud-test-token")
        .expect("calls logged under the token");
    assert_eq!(
        mine.get("compute:instances.updateNetworkInterface"),
        Some(&2),
        "{mine:?}"
    );
    assert_eq!(mine.get("compute:networks.insert"), Some(&1), "{mine:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_server_serves_each_instance_with_its_alias_ranges() {
    let mock = cloudnet_tests::MockGuard::start().await;
    let addr = mock.handle.addr();
    let g = [("Metadata-Flavor", "Google")];
    let (s, _) = get(addr, "/computeMetadata/v1/project/project-id", &[]).await;
    assert_eq!(s, 403, "the Metadata-Flavor header is required");
    let (s, b) = get(addr, "/computeMetadata/v1/project/project-id", &g).await;
    assert_eq!((s, b.as_str()), (200, "cloudnet-sandbox"));
    // Give node 2 an alias range through the API, then read it back per instance.
    let (s, inst) = get(
        addr,
        "/compute/v1/projects/cloudnet-sandbox/zones/us-central1-b/instances/gke-cloudnet-node-2",
        &[],
    )
    .await;
    assert_eq!(s, 200, "{inst}");
    let inst: Value = serde_json::from_str(&inst).unwrap();
    let fp = inst["networkInterfaces"][0]["fingerprint"]
        .as_str()
        .unwrap();
    let body = format!(
        r#"{{"fingerprint":"{fp}","aliasIpRanges":[{{"ipCidrRange":"10.4.2.0/24","subnetworkRangeName":"pods"}}]}}"#
    );
    let (s, op) = http(
        addr,
        "PATCH",
        "/compute/v1/projects/cloudnet-sandbox/zones/us-central1-b/instances/gke-cloudnet-node-2/updateNetworkInterface?networkInterface=nic0",
        &[("Authorization", "Bearer ya29.mockcloud.node@cloudnet-sandbox.iam.gserviceaccount.com")],
        &body,
    )
    .await;
    assert_eq!(s, 200, "{op}");
    let op: Value = serde_json::from_str(&op).unwrap();
    assert_eq!(op["status"], "DONE");
    assert!(
        op["selfLink"].as_str().unwrap().starts_with(&format!(
            "http://{addr}/compute/v1/projects/cloudnet-sandbox/zones/us-central1-b/operations/"
        )),
        "{op}"
    );
    let by_caller = mock.handle.with_cloud(|c| c.call_log.by_caller().clone());
    assert!(
        by_caller["node@cloudnet-sandbox.iam.gserviceaccount.com"]
            .contains_key("compute:instances.updateNetworkInterface")
    );

    let node2 = [
        ("Metadata-Flavor", "Google"),
        ("X-Mockcloud-Instance", "gke-cloudnet-node-2"),
    ];
    let aliases = "/computeMetadata/v1/instance/network-interfaces/0/ip-aliases";
    for (path, want) in [("/", "0\n"), ("/0", "10.4.2.0/24")] {
        let (s, b) = get(addr, &format!("{aliases}{path}"), &node2).await;
        assert_eq!((s, b.as_str()), (200, want), "{path}");
    }
    let (_, b) = get(addr, "/_mockcloud/gce-metadata/us-central1-b/gke-cloudnet-node-2/computeMetadata/v1/instance/zone", &g).await;
    assert_eq!(b, "projects/123456789012/zones/us-central1-b");
    let (_, b) = get(
        addr,
        "/computeMetadata/v1/instance/network-interfaces/?recursive=true",
        &node2,
    )
    .await;
    let nics: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(nics[0]["ipAliases"][0], "10.4.2.0/24", "{nics}");
    assert_eq!(nics[0]["ip"], "10.0.0.3");
    assert_eq!(nics[0]["subnetmask"], "255.255.240.0");
    let (_, b) = get(addr, "/computeMetadata/v1/instance/name", &g).await;
    assert_eq!(
        b, "gke-cloudnet-node-1",
        "without a choice, the first instance"
    );
    let (s, b) = get(
        addr,
        "/computeMetadata/v1/instance/service-accounts/default/token",
        &g,
    )
    .await;
    assert_eq!(s, 200);
    let tok: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        tok["access_token"],
        "ya29.mockcloud.123456789012-compute@developer.gserviceaccount.com"
    );
    let (s, _) = get(addr, "/computeMetadata/v1/instance/nope", &g).await;
    assert_eq!(s, 404);
}
