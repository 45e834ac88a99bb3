//! The `cloudnet-controller` binary as a user runs it: a process with a kubeconfig, the
//! cloud's endpoint and environment variables, against the embedded API and the mock cloud.

use std::process::Stdio;
use std::time::Duration;

use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::{Config as CloudConfig, MockCloud, World};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_becomes_ready_leads_and_gives_a_service_its_load_balancer() {
    let cloud = MockCloud::start(CloudConfig::ephemeral(World::default()))
        .await
        .expect("mock cloud");
    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let dir = std::env::temp_dir().join(format!("cloudnet-controller-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, ADMIN)
        .expect("kubeconfig");

    // A node whose address no instance has: its target is refused (a Warning Event, retried),
    // and the Service must still show where its load balancer is.
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.96.10"}]}
    }))
    .expect("node");
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .expect("node");

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudnet-controller"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", &kubeconfig)
        .env("CLUSTER_NAME", "bin")
        .env("AWS_ENDPOINT_URL", cloud.endpoint_url())
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("VPC_ID", "vpc-0c10d0e7000000001")
        .env("ENABLE_POD_IPAM", "false")
        .env("POD_NAME", "controller-0")
        .env("POD_NAMESPACE", "default")
        .env("LOG_FORMAT", "text")
        .env("METRICS_BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]
        }
    }))
    .expect("service");
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");

    let deadline = tokio::time::Instant::now() + WAIT;
    let hostname = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stdout.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut err).await;
            }
            panic!("cloudnet-controller exited ({status}):\n{err}");
        }
        let s = services.get("web").await.expect("get");
        let host = s
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .and_then(|i| i.first().and_then(|i| i.hostname.clone()));
        if let Some(h) = host {
            break h;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill().await;
            let mut err = String::new();
            if let Some(mut e) = child.stdout.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut err).await;
            }
            panic!("no hostname in time; the controller's log:\n{err}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        hostname.ends_with(".elb.us-west-2.amazonaws.com"),
        "{hostname}"
    );
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 1);

    // It holds the lease and says it is ready.
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "default");
    let holder = lease
        .get("cloudnet-controller")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("controller-0"));
    let ready = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(ready.is_ok(), "the health endpoint listens");
    // The Service controller's reconciles are in /metrics, by result.
    let metrics = cloudnet_testkit::eventually(
        Duration::from_secs(30),
        "the reconcile counted in /metrics",
        || async {
            let m = http_get(port, "/metrics").await;
            m.contains("cloudnet_controller_reconciles_total{controller=\"service\"")
                .then_some(m)
        },
    )
    .await;
    assert!(
        metrics.contains(r#"cloudnet_controller_queue_depth{controller="service"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"cloudnet_controller_reconcile_duration_seconds_count{controller="service"}"#
        ),
        "{metrics}"
    );

    child.kill().await.expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plain HTTP/1.0 GET on loopback; the body.
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut out = String::new();
    conn.read_to_string(&mut out).await.expect("response");
    out
}
