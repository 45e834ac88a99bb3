//! The `cloudnet-controller` binary as a user runs it: a process with a kubeconfig, the
//! cloud's endpoint and environment variables, against the embedded API (under the chart's
//! RBAC, as the chart's `cloudnet-controller` ServiceAccount) and the mock cloud.

mod chart_rbac;
mod service_env;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use cloudnet_kubesim::Config as ApiConfig;
use cloudnet_mockcloud::{Handle as Cloud, World};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, PostParams};
use serde_json::json;
use service_env::{refused, start_cloud, under_policy};

const WAIT: Duration = Duration::from_secs(60);

/// The mock cloud with the binaries' access keys under the controller policy from deploy/iam,
/// the embedded API under the chart's RBAC, and a fresh directory holding a `kubeconfig` for
/// the controller's ServiceAccount.
async fn start(name: &str) -> (Cloud, chart_rbac::RbacApi, std::path::PathBuf) {
    let cloud = start_cloud(under_policy(
        World::default(),
        &["AKIDTEST", "AKIDREPLICA0", "AKIDREPLICA1"],
    ))
    .await;
    let rbac = chart_rbac::start(ApiConfig::default()).await;
    let dir =
        std::env::temp_dir().join(format!("cloudnet-controller-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    rbac.handle
        .write_kubeconfig(&dir.join("kubeconfig"), chart_rbac::CONTROLLER_IDENTITY)
        .expect("kubeconfig");
    (cloud, rbac, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_becomes_ready_leads_and_gives_a_service_its_load_balancer() {
    let (cloud, rbac, dir) = start("bin").await;
    let client = rbac.admin.clone();
    let kubeconfig = dir.join("kubeconfig");

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
        .env("POD_NAMESPACE", "kube-system")
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
        Api::namespaced(client.clone(), "kube-system");
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
    assert_eq!(refused(&cloud), BTreeMap::new(), "calls refused by IAM");
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

/// One `cloudnet-controller` process signing its cloud calls with its own access key; its
/// log goes to a file, shown when the test fails.
struct Replica {
    identity: String,
    akid: String,
    log: std::path::PathBuf,
    child: tokio::process::Child,
}

impl Replica {
    fn spawn(dir: &std::path::Path, cloud: &str, identity: &str, akid: &str) -> Replica {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let log = dir.join(format!("{identity}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudnet-controller"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env("CLUSTER_NAME", "bin")
            .env("AWS_ENDPOINT_URL", cloud)
            .env("AWS_REGION", "us-west-2")
            .env("AWS_ACCESS_KEY_ID", akid)
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("VPC_ID", "vpc-0c10d0e7000000001")
            .env("ENABLE_POD_IPAM", "false")
            .env("POD_NAME", identity)
            .env("POD_NAMESPACE", "kube-system")
            .env("LOG_FORMAT", "text")
            .env("METRICS_BIND_ADDRESS", format!("127.0.0.1:{port}"))
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        Replica {
            identity: identity.into(),
            akid: akid.into(),
            log,
            child,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log when the process has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.identity, self.log());
        }
    }
}

/// Polls `probe` every 100 ms until it gives a value, checking that every replica runs;
/// panics with their logs after `within`.
async fn until<T, F, Fut>(
    replicas: &mut [&mut Replica],
    within: Duration,
    what: &str,
    probe: F,
) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        for r in replicas.iter_mut() {
            r.assert_running();
        }
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            let logs: Vec<String> = replicas
                .iter()
                .map(|r| format!("--- {} ---\n{}", r.identity, r.log()))
                .collect();
            panic!("{what}: not within {within:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn targets(cloud: &cloudnet_mockcloud::Handle) -> usize {
    let state = cloud.with_cloud(|c| serde_json::to_value(c.dump()).expect("state"));
    state["elbv2"]["target_groups"]
        .as_object()
        .map(|g| {
            g.values()
                .filter_map(|g| g["targets"].as_object())
                .map(serde_json::Map::len)
                .sum()
        })
        .unwrap_or(0)
}

fn is_read(call: &str) -> bool {
    call.split_once(':')
        .is_some_and(|(_, a)| a.starts_with("Describe"))
}

/// The callers of calls other than reads, in the mock cloud's call log after `since`.
fn writers(cloud: &cloudnet_mockcloud::Handle, since: u64) -> Vec<String> {
    let mut callers: Vec<String> = cloud
        .with_cloud(|c| c.call_log.page(since))
        .calls
        .into_iter()
        .filter(|c| !is_read(&c.call))
        .map(|c| c.caller)
        .collect();
    callers.sort();
    callers.dedup();
    callers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_leader_writes_and_the_other_takes_over_a_killed_leader() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    let (cloud, rbac, dir) = start("ha").await;
    let client = rbac.admin.clone();
    let mut r0 = Replica::spawn(&dir, &cloud.endpoint_url(), "controller-0", "AKIDREPLICA0");
    let mut r1 = Replica::spawn(&dir, &cloud.endpoint_url(), "controller-1", "AKIDREPLICA1");

    let slice = |n: usize| -> EndpointSlice {
        let ips: Vec<String> = (0..n).map(|i| format!("192.168.100.{}", 10 + i)).collect();
        service_env::slice("default", "web-1", "web", &ips)
    };
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    slices
        .create(&PostParams::default(), &slice(3))
        .await
        .expect("slice");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    }))
    .expect("service");
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");

    until(&mut [&mut r0, &mut r1], WAIT, "3 targets", || async {
        (targets(&cloud) == 3).then_some(())
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let holder = || async {
        leases
            .get("cloudnet-controller")
            .await
            .ok()?
            .spec?
            .holder_identity
    };
    let leader = holder().await.expect("a leader");
    let (mut leader, mut follower) = if leader == r0.identity {
        (r0, r1)
    } else {
        (r1, r0)
    };
    // Let the follower run a while longer: it sees the same Service and slices.
    tokio::time::sleep(Duration::from_secs(3)).await;
    follower.assert_running();
    assert_eq!(
        writers(&cloud, 0),
        [leader.akid.clone()],
        "only the leader calls the cloud to change it"
    );

    // SIGKILL: no lease release; the follower must wait out the lease (15 s by default).
    leader.child.kill().await.expect("kill");
    let killed_at = tokio::time::Instant::now();
    let last_renewal = leases
        .get("cloudnet-controller")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.renew_time);
    let seq = cloud.with_cloud(|c| c.call_log.page(u64::MAX).last_seq);
    slices
        .patch(
            "web-1",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"endpoints": slice(5).endpoints})),
        )
        .await
        .expect("scale to 5");
    let successor = follower.identity.clone();
    let new = until(
        &mut [&mut follower],
        Duration::from_secs(30),
        "a new leader",
        || async { holder().await.filter(|h| *h == successor) },
    )
    .await;
    let took = killed_at.elapsed();
    // The follower may take the lease only once it expired (15 s after the dead leader's last
    // renewal). It times the lease from when it saw the renewal (as client-go does, so clocks
    // need not agree), which is up to one retry period (2 s) late, and polls every retry
    // period: at most two retry periods after the expiry, plus scheduling slack.
    let spec = leases
        .get("cloudnet-controller")
        .await
        .expect("lease")
        .spec
        .expect("spec");
    let ms = |t: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>| {
        t.expect("a lease time").0.as_millisecond()
    };
    let expired = ms(last_renewal) + 15_000;
    let acquired = ms(spec.acquire_time);
    assert!(
        acquired >= expired,
        "{new} took the lease {} ms before it expired",
        expired - acquired
    );
    assert!(
        acquired - expired <= 5_000,
        "{new} took the lease {} ms after it expired",
        acquired - expired
    );
    assert!(
        took <= Duration::from_secs(20),
        "{new} took over after {took:?}"
    );
    until(&mut [&mut follower], WAIT, "5 targets", || async {
        (targets(&cloud) == 5).then_some(())
    })
    .await;
    assert_eq!(writers(&cloud, seq), [follower.akid.clone()]);
    let calls = cloud.with_cloud(|c| c.calls.clone());
    assert_eq!(calls.get("elbv2:CreateLoadBalancer"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("elbv2:CreateTargetGroup"), Some(&1), "{calls:?}");
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 1);
    assert_eq!(cloud.with_cloud(|c| c.elbv2.target_group_count()), 1);
    eprintln!(
        "takeover {took:?} after the kill, {} ms after the lease expired",
        acquired - expired
    );
    follower.child.kill().await.expect("stop");
    assert_eq!(refused(&cloud), BTreeMap::new(), "calls refused by IAM");
    let _ = std::fs::remove_dir_all(&dir);
}
