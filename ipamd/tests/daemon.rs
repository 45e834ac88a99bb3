//! ipamd against the embedded Kubernetes API: sync from the NodeNetwork and the metadata,
//! allocation over the socket, spec written back, the release handshake, restart.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudnet_crds::node_network::{NodeNetwork, NodeNetworkSpec};
use cloudnet_ipamd::daemon::{self, Config};
use cloudnet_ipamd::metadata::Static;
use cloudnet_ipamd::pool::MetadataInterface;
use cloudnet_ipamd::report;
use cloudnet_ipamd::{Client, Error, PodRef};
use cloudnet_kubesim::{ADMIN, Identity, KubeSim};
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{conditions, wait::await_condition};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const NODE: &str = "node-1";
const IPAMD: &str = cloudnet_testkit::chart::NODE_IDENTITY;

/// The API under the chart's RBAC; dropping it at the end of a passing test fails it if RBAC
/// refused ipamd anything.
struct RbacApi(cloudnet_kubesim::Handle);

impl Drop for RbacApi {
    fn drop(&mut self) {
        let denials = self.0.auth().denials();
        if !std::thread::panicking() {
            assert!(
                denials.is_empty(),
                "refused by the chart's RBAC: {denials:?}"
            );
        }
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let code = out[9..12].parse().expect("status code");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn md(id: &str, ips: &[&str], prefixes: &[&str]) -> MetadataInterface {
    MetadataInterface {
        mac: format!("02:00:00:00:00:{:02x}", id.len()),
        interface_id: id.into(),
        device_number: None,
        local_ipv4s: ips.iter().map(|s| s.parse().unwrap()).collect(),
        ipv4_prefixes: prefixes.iter().map(|s| s.parse().unwrap()).collect(),
    }
}

/// The embedded API enforcing exactly the RBAC the Helm chart renders, ipamd acting as the
/// chart's `cloudnet-node` ServiceAccount (RBAC off only without helm and with
/// `CLOUDNET_SKIP_EXTERNAL=1`).
async fn setup() -> (RbacApi, kube::Client, kube::Client) {
    let objects = cloudnet_testkit::chart::rbac_yaml().map(|yaml| {
        cloudnet_kubesim::rbac::objects_from_yaml(yaml).expect("the chart renders YAML")
    });
    let config = cloudnet_kubesim::Config {
        tokens: vec![
            ("admin-token".into(), Identity::master(ADMIN)),
            ("ipamd-token".into(), Identity::new(IPAMD)),
        ],
        rbac: objects.is_some(),
        ..Default::default()
    };
    let handle = KubeSim::start(config).await.expect("kubesim starts");
    if let Some(objects) = &objects {
        handle.install(objects).expect("the chart's RBAC installs");
    }
    let admin = handle.client_for(ADMIN).await.expect("admin client");
    let ipamd = handle.client_for(IPAMD).await.expect("ipamd client");
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    crds.create(&PostParams::default(), &NodeNetwork::crd())
        .await
        .expect("crd");
    tokio::time::timeout(
        WAIT,
        await_condition(
            crds,
            "nodenetworks.cloudnet.io",
            conditions::is_crd_established(),
        ),
    )
    .await
    .expect("established in time")
    .expect("condition watch");
    let nns: Api<NodeNetwork> = Api::all(admin.clone());
    let nn = NodeNetwork::new(
        NODE,
        NodeNetworkSpec {
            provider_id: "aws:///us-west-2a/i-0123".into(),
            ..Default::default()
        },
    );
    nns.create(&PostParams::default(), &nn)
        .await
        .expect("nodenetwork");
    set_status(
        &admin,
        json!({
            "interfaces": [
                {"id": "eni-a", "index": 0, "subnetId": "subnet-1", "blocks": [
                    {"cidr": "10.0.0.10/32", "kind": "secondaryIp", "primary": true},
                    {"cidr": "10.0.0.11/32", "kind": "secondaryIp"},
                    {"cidr": "10.0.0.12/32", "kind": "secondaryIp"}
                ]},
                {"id": "eni-b", "index": 1, "subnetId": "subnet-1", "blocks": [
                    {"cidr": "10.0.1.10/32", "kind": "secondaryIp", "primary": true},
                    {"cidr": "10.0.2.0/28", "kind": "prefix"}
                ]}
            ]
        }),
    )
    .await;

    // The Node ipamd writes its condition on.
    let nodes: Api<Node> = Api::all(admin.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": NODE}})).expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("node created");

    // A pod already running on the node with 10.0.0.11, unknown to any checkpoint.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "old", "namespace": "default"},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    pods.patch_status(
        "old",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running", "podIP": "10.0.0.11", "podIPs": [{"ip": "10.0.0.11"}]}})),
    )
    .await
    .expect("pod status");
    (RbacApi(handle), admin, ipamd)
}

async fn set_status(admin: &kube::Client, status: serde_json::Value) {
    let nns: Api<NodeNetwork> = Api::all(admin.clone());
    nns.patch_status(
        NODE,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .expect("status patched");
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        socket: dir.join("run/ipamd.sock"),
        checkpoint: dir.join("lib/ipam.json"),
        introspection: "127.0.0.1:0".parse().unwrap(),
        cooldown: Duration::from_millis(300),
        sync_interval: Duration::from_millis(100),
        lag_allowance: Duration::from_millis(200),
        // The other tests allocate for pods that are not in the API: never free those here.
        orphan_grace: Duration::from_secs(3600),
        ..Config::new(NODE)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipamd_serves_the_agreed_pool_and_keeps_the_contract() {
    let (_api, admin, ipamd_client) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let metadata = Static(Arc::new(Mutex::new(vec![
        md("eni-a", &["10.0.0.10", "10.0.0.11", "10.0.0.12"], &[]),
        md("eni-b", &["10.0.1.10"], &[]),
    ])));
    let cfg = config(dir.path());
    let running = daemon::start(cfg.clone(), ipamd_client.clone(), metadata.clone())
        .await
        .expect("ipamd starts");
    let web = running.introspection;

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cfg.socket), 0o600);
    assert_eq!(mode(cfg.socket.parent().unwrap()), 0o700);

    eventually(WAIT, "ready", || async {
        (get(web, "/readyz").await.0 == 200).then_some(())
    })
    .await;

    let mut c = Client::connect(&cfg.socket, Duration::from_secs(5))
        .await
        .expect("connect");
    // 10.0.0.11 is held by the running pod; the /28 is not in the metadata yet.
    let a = c
        .allocate("c1", "eth0", "default", "web-1")
        .await
        .expect("allocate");
    assert_eq!(a.address, "10.0.0.12");
    assert_eq!(a.interface_id, "eni-a");
    assert_eq!(
        c.allocate("c1", "eth0", "default", "web-1").await.unwrap(),
        a,
        "idempotent"
    );
    match c.allocate("c2", "eth0", "default", "web-2").await {
        Err(Error::Rpc(s)) => assert_eq!(s.code(), tonic::Code::ResourceExhausted),
        other => panic!("expected exhaustion, got {other:?}"),
    }
    // The lagging /28 is reported as a disagreement once past the allowance.
    eventually(WAIT, "disagreement metric", || async {
        let (_, m) = get(web, "/metrics").await;
        m.contains("cloudnet_ipamd_disagreements{side=\"status_only\"} 1")
            .then_some(())
    })
    .await;

    // ... and as a Warning Event on the NodeNetwork and a False condition on the Node.
    let events: Api<Event> = Api::namespaced(admin.clone(), "default");
    let event_for = |reason: &'static str| {
        let events = events.clone();
        async move {
            events
                .list(&Default::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(NODE)
                        && e.regarding.as_ref().and_then(|r| r.kind.as_deref())
                            == Some("NodeNetwork")
                })
        }
    };
    let warning = eventually(WAIT, "disagreement Event", || event_for(report::DISAGREE)).await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.unwrap_or_default();
    assert!(note.contains("eni-b 10.0.2.0/28"), "{note}");
    let nodes: Api<Node> = Api::all(admin.clone());
    let condition = |want: &'static str| {
        let nodes = nodes.clone();
        async move {
            let node = nodes.get(NODE).await.ok()?;
            node.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == report::CONDITION && c.status == want)
        }
    };
    let cond = eventually(WAIT, "condition False", || condition("False")).await;
    assert_eq!(cond.reason.as_deref(), Some("SourcesDisagree"));
    assert!(cond.message.unwrap_or_default().contains("10.0.2.0/28"));
    // Reported, never resolved: the disputed block is still not handed out.
    match c.allocate("c2", "eth0", "default", "web-2").await {
        Err(Error::Rpc(s)) => assert_eq!(s.code(), tonic::Code::ResourceExhausted),
        other => panic!("the disputed block was handed out: {other:?}"),
    }

    // The metadata catches up: the prefix enters the pool.
    metadata.0.lock().unwrap()[1].ipv4_prefixes = vec!["10.0.2.0/28".parse().unwrap()];
    eventually(WAIT, "condition True", || condition("True")).await;
    let agree = eventually(WAIT, "agreement Event", || event_for(report::AGREE)).await;
    assert_eq!(agree.type_.as_deref(), Some("Normal"));
    let b = eventually(WAIT, "prefix in the pool", || {
        let mut c = c.clone();
        async move { c.allocate("c2", "eth0", "default", "web-2").await.ok() }
    })
    .await;
    assert_eq!(b.address, "10.0.2.0");
    assert_eq!(b.block, "10.0.2.0/28");

    let nns: Api<NodeNetwork> = Api::all(admin.clone());
    eventually(WAIT, "spec.inUse = 3", || async {
        (nns.get(NODE).await.ok()?.spec.in_use == 3).then_some(())
    })
    .await;

    let (_, allocs) = get(web, "/v1/allocations").await;
    let allocs: serde_json::Value = serde_json::from_str(&allocs).expect("json");
    let held: BTreeSet<&str> = allocs
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(held, BTreeSet::from(["10.0.0.11", "10.0.0.12", "10.0.2.0"]));
    let (_, pool) = get(web, "/v1/pool").await;
    let pool: serde_json::Value = serde_json::from_str(&pool).expect("json");
    assert_eq!(pool["counts"]["total"], 18);
    assert_eq!(pool["counts"]["assigned"], 3);

    // Release handshake: with a warm target of 2, the freed /28 is offered once cool.
    assert_eq!(
        c.release("c2", "eth0", "default", "web-2")
            .await
            .unwrap()
            .unwrap()
            .address,
        "10.0.2.0"
    );
    assert_eq!(
        c.release("c2", "eth0", "default", "web-2").await.unwrap(),
        None,
        "DEL twice"
    );
    assert_eq!(c.check("c2", "eth0").await.unwrap(), None);
    nns.patch(
        NODE,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"pool": {"warmIpTarget": 0}}})),
    )
    .await
    .expect("pool policy");
    eventually(WAIT, "offer in spec.release", || async {
        let nn = nns.get(NODE).await.ok()?;
        (nn.spec.release.len() == 1 && nn.spec.release[0].block.to_string() == "10.0.2.0/28")
            .then_some(())
    })
    .await;
    // Offers are final: nothing from the /28 is handed out any more.
    match c.allocate("c3", "eth0", "default", "web-3").await {
        Err(Error::Rpc(s)) => assert_eq!(s.code(), tonic::Code::ResourceExhausted),
        other => panic!("expected exhaustion after the offer, got {other:?}"),
    }
    set_status(&admin, json!({"released": ["10.0.2.0/28"]})).await;
    eventually(WAIT, "offer dropped", || async {
        nns.get(NODE)
            .await
            .ok()?
            .spec
            .release
            .is_empty()
            .then_some(())
    })
    .await;

    // Restart on the same checkpoint; the socket file left behind is stale.
    running.stop().await.expect("stops");
    assert!(cfg.socket.exists(), "socket file left behind");
    let running = daemon::start(cfg.clone(), ipamd_client, metadata.clone())
        .await
        .expect("restarts over a stale socket");
    let mut c = Client::connect(&cfg.socket, Duration::from_secs(5))
        .await
        .expect("reconnect");
    eventually(WAIT, "ready again", || async {
        (get(running.introspection, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(
        c.check("c1", "eth0").await.unwrap().unwrap().address,
        "10.0.0.12"
    );
    let s = c.status().await.expect("status");
    assert!(s.synced);
    assert_eq!(s.assigned, 2);
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_a_live_socket_is_refused_and_unsynced_pools_refuse_work() {
    let (_api, _admin, ipamd_client) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    // No metadata at all: nothing agrees, but the pool is synced (empty) once read.
    let metadata = Static::default();
    let cfg = config(dir.path());
    let running = daemon::start(cfg.clone(), ipamd_client.clone(), metadata.clone())
        .await
        .expect("starts");
    let mut c = Client::connect(&cfg.socket, Duration::from_secs(5))
        .await
        .expect("connect");
    eventually(WAIT, "synced", || {
        let mut c = c.clone();
        async move { c.status().await.ok().filter(|s| s.synced) }
    })
    .await;
    match c.allocate("c1", "eth0", "default", "p").await {
        Err(Error::Rpc(s)) => assert_eq!(s.code(), tonic::Code::ResourceExhausted),
        other => panic!("expected exhaustion, got {other:?}"),
    }
    let mut second = cfg.clone();
    second.introspection = "127.0.0.1:0".parse().unwrap();
    assert!(daemon::start(second, ipamd_client, metadata).await.is_err());
    running.stop().await.expect("stops");
}

/// A DEL that never reached ipamd: the address is freed once the pod is gone from the API
/// (deleted, or finished), within the grace and a sync tick, and cools as after a DEL; a
/// pod still there keeps its address, and so does a young allocation whose pod the API
/// shows late; the runtime's late DEL is a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_whose_pod_is_gone_without_a_del_is_freed() {
    let (_api, admin, ipamd_client) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let metadata = Static(Arc::new(Mutex::new(vec![
        md("eni-a", &["10.0.0.10", "10.0.0.11", "10.0.0.12"], &[]),
        md("eni-b", &["10.0.1.10"], &["10.0.2.0/28"]),
    ])));
    let grace = Duration::from_millis(1500);
    let cfg = Config {
        orphan_grace: grace,
        cooldown: Duration::from_secs(30),
        ..config(dir.path())
    };
    let running = daemon::start(cfg.clone(), ipamd_client.clone(), metadata)
        .await
        .expect("ipamd starts");
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    for name in ["web-1", "web-2", "web-3"] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let mut c = Client::connect(&cfg.socket, Duration::from_secs(5))
        .await
        .expect("connect");
    eventually(WAIT, "pool synced", || {
        let mut c = c.clone();
        async move { c.status().await.ok().filter(|s| s.synced && s.free >= 4) }
    })
    .await;
    let mut held = Vec::new();
    for (container, pod) in [("c1", "web-1"), ("c2", "web-2"), ("c3", "web-3")] {
        held.push(c.allocate(container, "eth0", "default", pod).await.unwrap());
    }
    // ADD before the API shows the pod (a lagging watch, a static pod's mirror).
    let late = c.allocate("c4", "eth0", "default", "late").await.unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "late", "namespace": "default"},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let cooling_before = c.status().await.unwrap().cooling;

    // web-1 is deleted and web-2 finishes; neither DEL reaches ipamd.
    let gone_at = std::time::Instant::now();
    pods.delete("web-1", &Default::default()).await.unwrap();
    pods.patch_status(
        "web-2",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
    )
    .await
    .unwrap();
    eventually(WAIT, "web-1 and web-2 freed", || {
        let mut c = c.clone();
        async move {
            let a = c.check("c1", "eth0").await.ok()?;
            let b = c.check("c2", "eth0").await.ok()?;
            (a.is_none() && b.is_none()).then_some(())
        }
    })
    .await;
    let took = gone_at.elapsed();
    assert!(
        took <= grace + 4 * cfg.sync_interval + Duration::from_secs(2),
        "freed {took:?} after the pods left (grace {grace:?}, tick {:?})",
        cfg.sync_interval
    );
    let st = c.status().await.unwrap();
    assert_eq!(
        st.cooling,
        cooling_before + 2,
        "freed addresses cool: {st:?}"
    );
    assert_eq!(c.check("c3", "eth0").await.unwrap(), Some(held[2].clone()));
    // Past the grace, the late pod is in the API: kept.
    tokio::time::sleep(grace + 3 * cfg.sync_interval).await;
    assert_eq!(c.check("c4", "eth0").await.unwrap(), Some(late));
    assert_eq!(
        running.core.metrics.orphans_freed.get(),
        2,
        "only the gone pods' addresses"
    );
    // The runtime's DEL, retried later, finds nothing to free.
    assert_eq!(
        c.release("c1", "eth0", "default", "web-1").await.unwrap(),
        None
    );
    let (_, m) = get(running.introspection, "/metrics").await;
    assert!(m.contains("cloudnet_ipamd_orphans_freed_total 2"), "{m}");

    // A pod deleted and created again under the same name (a StatefulSet's replacement)
    // before any DEL: another pod (another UID), so another address, and the old
    // attachment's address is freed by the sweep although a pod of that name runs.
    let db0 = || -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "db-0", "namespace": "default"},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x"}]}
        }))
        .unwrap()
    };
    let first = pods.create(&PostParams::default(), &db0()).await.unwrap();
    let first_uid = first.metadata.uid.clone().expect("a UID");
    let old = c
        .allocate_pod("c5", "eth0", &PodRef::new("default", "db-0", &first_uid))
        .await
        .unwrap();
    pods.delete("db-0", &Default::default()).await.unwrap();
    let second = pods.create(&PostParams::default(), &db0()).await.unwrap();
    let second_uid = second.metadata.uid.clone().expect("a UID");
    assert_ne!(first_uid, second_uid);
    let new = c
        .allocate_pod("c6", "eth0", &PodRef::new("default", "db-0", &second_uid))
        .await
        .unwrap();
    assert_ne!(new.address, old.address, "the new pod has its own address");
    assert_eq!(new.pod_uid, second_uid);
    eventually(WAIT, "the replaced pod's address freed", || {
        let mut c = c.clone();
        async move { c.check("c5", "eth0").await.ok()?.is_none().then_some(()) }
    })
    .await;
    tokio::time::sleep(grace + 3 * cfg.sync_interval).await;
    assert_eq!(c.check("c6", "eth0").await.unwrap(), Some(new.clone()));
    assert_eq!(running.core.metrics.orphans_freed.get(), 3);
    let (_, body) = get(running.introspection, "/v1/allocations").await;
    let held: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let mut addresses: Vec<&str> = held
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    let n = addresses.len();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), n, "no address held twice: {body}");
    let db0_held: Vec<&serde_json::Value> =
        held.iter().filter(|a| a["podName"] == "db-0").collect();
    assert_eq!(db0_held.len(), 1, "{body}");
    assert_eq!(db0_held[0]["podUid"], second_uid.as_str());
    running.stop().await.expect("stops");
}
