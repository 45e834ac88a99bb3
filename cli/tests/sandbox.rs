//! The sandbox end to end: in process through its library, and as users run it, through the
//! `cloudnet` binary and the machine's kubectl.

use std::process::Command;
use std::time::Duration;

use cloudnet_cli::manifests;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use support::{examples, temp_dir};

mod support;

/// kubectl from PATH; in CI its absence fails the test, elsewhere it skips with a reason.
fn kubectl() -> Option<&'static str> {
    let found = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("kubectl");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "kubectl is not on PATH: run scripts/setup.sh"
    );
    eprintln!("skipping the kubectl part: kubectl is not on PATH (scripts/setup.sh installs it)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_come_up_on_nodes_from_the_mock_cloud() {
    let dir = temp_dir("inproc");
    let sandbox = Sandbox::start(&SandboxArgs::ephemeral(&dir)).await.unwrap();
    assert_eq!(
        sandbox.nodes.len(),
        2,
        "the default world has two m5.large nodes"
    );
    for n in &sandbox.nodes {
        assert!(
            n.provider_id.starts_with("aws:///us-west-2"),
            "{}",
            n.provider_id
        );
        // m5.large: 3 ENIs x (10 - 1) + 2, as the VPC CNI computes it.
        assert_eq!(n.max_pods, 29);
    }

    let docs = manifests::load(&[examples()]).unwrap();
    let applied = sandbox.apply(&docs).await;
    assert!(applied.iter().all(|a| a.result.is_ok()), "{applied:?}");
    assert!(
        sandbox.wait_settled(Duration::from_secs(60)).await,
        "the workload did not settle"
    );

    let summary = sandbox.summary().await.unwrap();
    let running: Vec<_> = summary.pods.iter().filter(|p| p[1] == "Running").collect();
    assert_eq!(running.len(), 3, "{summary}");
    let mut ips: Vec<_> = running.iter().map(|p| p[2].clone()).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "every pod has its own IP: {summary}");
    let nodes: Vec<_> = sandbox.nodes.iter().map(|n| n.name.clone()).collect();
    assert!(running.iter().all(|p| nodes.contains(&p[3])), "{summary}");
    let svc = summary
        .services
        .iter()
        .find(|s| s[0] == "default/web")
        .expect("service web");
    assert!(
        svc[2].starts_with("10.100."),
        "a ClusterIP is allocated: {summary}"
    );
    // The book's Ingress: one internet-facing ALB, its hostname in the Ingress's status.
    let ing = summary
        .ingresses
        .iter()
        .find(|i| i[0] == "default/web")
        .expect("ingress web");
    assert!(
        ing[2].starts_with("k8s-default-web-") && ing[2].ends_with(".elb.amazonaws.com"),
        "{summary}"
    );
    // The allocator gave every node its NodeNetwork (through the API, from the mock cloud).
    assert_eq!(summary.node_networks.len(), 2, "{summary}");

    if let Some(kubectl) = kubectl() {
        let out = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&sandbox.kubeconfig)
            .args([
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let phases = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            phases.lines().filter(|l| *l == "Running").count(),
            3,
            "{phases}"
        );
    }
    if let Some(kubectl) = kubectl()
        && let Some(aws) = cloudnet_testkit::aws_cli()
    {
        pod_ips_are_enis_secondaries_as_users_see_them(kubectl, &aws, &sandbox).await;
    }
    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// What issue 9 promises, checked with the users' own tools: every pod IP `kubectl get pods`
/// shows is a secondary address that `aws ec2 describe-network-interfaces` shows on an ENI
/// attached to that pod's node.
async fn pod_ips_are_enis_secondaries_as_users_see_them(
    kubectl: &str,
    aws: &std::path::Path,
    sandbox: &Sandbox,
) {
    let kubeconfig = sandbox.kubeconfig.clone();
    let kubectl = kubectl.to_string();
    let aws = aws.to_path_buf();
    let endpoint = sandbox.cloud.endpoint_url();
    let instance_of: std::collections::BTreeMap<String, String> = sandbox
        .nodes
        .iter()
        .map(|n| {
            let id = n.provider_id.rsplit('/').next().unwrap_or_default();
            (n.name.clone(), id.to_string())
        })
        .collect();
    // Both tools block: run them off the runtime that serves the API and the mock cloud.
    tokio::task::spawn_blocking(move || {
        let pods = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.podIP} {.spec.nodeName}{\"\\n\"}{end}",
            ])
            .output()
            .unwrap();
        assert!(pods.status.success(), "{}", String::from_utf8_lossy(&pods.stderr));
        let enis = Command::new(&aws)
            .args(["--endpoint-url", &endpoint, "--region", "us-west-2", "--output", "json"])
            .args(["ec2", "describe-network-interfaces"])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        assert!(enis.status.success(), "{}", String::from_utf8_lossy(&enis.stderr));
        let enis: serde_json::Value = serde_json::from_slice(&enis.stdout).unwrap();
        let mut secondary_on = std::collections::BTreeMap::new();
        for eni in enis["NetworkInterfaces"].as_array().unwrap() {
            let Some(instance) = eni["Attachment"]["InstanceId"].as_str() else {
                continue;
            };
            for ip in eni["PrivateIpAddresses"].as_array().unwrap() {
                if ip["Primary"] == false {
                    secondary_on.insert(
                        ip["PrivateIpAddress"].as_str().unwrap().to_string(),
                        instance.to_string(),
                    );
                }
            }
        }
        let listed = String::from_utf8_lossy(&pods.stdout).to_string();
        let mut checked = 0;
        for line in listed.lines().filter(|l| !l.trim().is_empty()) {
            let (ip, node) = line.split_once(' ').unwrap();
            assert_eq!(
                secondary_on.get(ip),
                instance_of.get(node),
                "pod IP {ip} on {node}: not a secondary address of that node's ENIs ({secondary_on:?})"
            );
            checked += 1;
        }
        assert_eq!(checked, 3, "{listed}");
    })
    .await
    .unwrap();
}

fn cloudnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(args)
        .args([
            "--mockcloud-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap()
}

#[test]
fn the_binary_applies_the_examples_and_prints_the_summary() {
    let dir = temp_dir("bin");
    let kubeconfig = dir.join("kubeconfig");
    let out = cloudnet(&[
        "sandbox",
        "-f",
        examples().to_str().unwrap(),
        "--exit-after-apply",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deployment/web applied"), "{stdout}");
    assert!(
        stdout.contains("Waiting for the workload to settle ... done"),
        "{stdout}"
    );
    assert_eq!(stdout.matches(" Running ").count(), 3, "{stdout}");
    // The pods' addresses are the VPC's (ENI secondaries through ipamd).
    assert_eq!(stdout.matches(" Running 192.168.").count(), 3, "{stdout}");
    // web-public's NLB and the web Ingress's ALB, as their status shows them.
    assert!(
        stdout.contains("Load balancers (from Service and Ingress status): 2"),
        "{stdout}"
    );
    assert!(stdout.contains(".elb.us-west-2.amazonaws.com"), "{stdout}");
    assert!(kubeconfig.exists());
    #[cfg(unix)]
    {
        // It holds a bearer token: the owner alone may read it.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_manifest_fails_with_its_location_and_the_rest_still_applies() {
    let dir = temp_dir("bad");
    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n---\n\
         apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    )
    .unwrap();
    let out = cloudnet(&[
        "sandbox",
        "-f",
        dir.to_str().unwrap(),
        "--exit-after-apply",
        "--kubeconfig",
        dir.join("kc").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stdout.contains("configmap/good applied"), "{stdout}");
    assert!(stdout.contains("widget/w FAILED"), "{stdout}");
    assert!(stdout.contains("bad.yaml (document 2)"), "{stdout}");
    assert!(
        stdout.contains("example.com/v1 Widget is not served"),
        "{stdout}"
    );
    assert!(stderr.contains("1 object(s) failed to apply"), "{stderr}");

    std::fs::write(dir.join("bad.yaml"), "a: [\n").unwrap();
    let out = cloudnet(&["sandbox", "-f", dir.to_str().unwrap(), "--exit-after-apply"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid YAML"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_range_source_stays_behind_a_flag() {
    let dir = temp_dir("range");
    let out = cloudnet(&[
        "sandbox",
        "-f",
        examples().to_str().unwrap(),
        "--exit-after-apply",
        "--pod-addresses",
        "range",
        "--kubeconfig",
        dir.join("kc").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Per-node /24s out of 10.244.0.0/16, not the VPC's 192.168.0.0/16.
    let running: Vec<&str> = stdout.lines().filter(|l| l.contains(" Running ")).collect();
    assert_eq!(running.len(), 3, "{stdout}");
    assert!(running.iter().all(|l| l.contains(" 10.244.")), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
