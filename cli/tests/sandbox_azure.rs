//! `cloudnet sandbox --provider azure`: in process through its library (pods addressed from
//! ipConfigurations that the mock's NICs show, the Service's Standard Load Balancer, cleanup
//! and a bad annotation's Event), and as users run it, through the `cloudnet` binary.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cloudnet_cli::manifests;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_controllers::cloud_flags::CloudProvider;
use cloudnet_mockcloud::azure::private_ips;
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::{Event, Service};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::Value;

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudnet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The mock's resources of one ARM type.
fn resources(sandbox: &Sandbox, type_: &str) -> Vec<Value> {
    sandbox
        .cloud
        .with_cloud(|c| c.azure.of_type(type_).cloned().collect())
}

/// Each VM's name with the private addresses of its NIC's ipConfigurations.
fn nic_addresses(sandbox: &Sandbox) -> Vec<(String, BTreeSet<String>)> {
    resources(sandbox, "Microsoft.Network/networkInterfaces")
        .iter()
        .map(|nic| {
            let vm = nic["properties"]["virtualMachine"]["id"]
                .as_str()
                .and_then(|id| id.rsplit('/').next())
                .unwrap_or_default()
                .to_string();
            (vm, private_ips(nic).into_iter().collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_sandbox_addresses_pods_from_nic_ip_configurations_and_makes_a_standard_lb() {
    let dir = temp_dir("azure-inproc");
    let args = SandboxArgs {
        provider: CloudProvider::Azure,
        ..SandboxArgs::ephemeral(&dir)
    };
    let sandbox = Sandbox::start(&args).await.unwrap();
    // AKS's availability-set nodes, in fault domains 0 and 1.
    let zones: Vec<&str> = sandbox.nodes.iter().map(|n| n.zone.as_str()).collect();
    assert_eq!(zones, ["0", "1"]);
    for n in &sandbox.nodes {
        assert!(
            n.provider_id.starts_with("azure:///subscriptions/")
                && n.provider_id.ends_with(&format!(
                    "/providers/Microsoft.Compute/virtualMachines/{}",
                    n.name
                )),
            "{}",
            n.provider_id
        );
    }

    let mut docs = manifests::load(&[examples().join("web.yaml")]).unwrap();
    docs.extend(manifests::load(&[examples().join("aks")]).unwrap());
    let applied = sandbox.apply(&docs).await;
    assert!(applied.iter().all(|a| a.result.is_ok()), "{applied:?}");
    assert!(
        sandbox.wait_settled(Duration::from_secs(60)).await,
        "the workload did not settle: {}",
        sandbox.summary().await.unwrap()
    );

    // Three pods running, each address an ipConfiguration of its own node's NIC.
    let summary = sandbox.summary().await.unwrap();
    let running: Vec<_> = summary.pods.iter().filter(|p| p[1] == "Running").collect();
    assert_eq!(running.len(), 3, "{summary}");
    let nics = nic_addresses(&sandbox);
    for pod in &running {
        let (ip, node) = (&pod[2], &pod[3]);
        let on_node = nics.iter().find(|(vm, _)| vm == node).map(|(_, ips)| ips);
        assert!(
            on_node.is_some_and(|ips| ips.contains(ip)),
            "pod {} at {ip} on {node}: {nics:?}",
            pod[0]
        );
    }
    let pod_ips: BTreeSet<&String> = running.iter().map(|p| &p[2]).collect();
    assert_eq!(pod_ips.len(), 3, "every pod has its own address");

    // web-public: one Standard Load Balancer with a public IP, its pool the nodes' (or the
    // pods') addresses.
    let lbs = resources(&sandbox, "Microsoft.Network/loadBalancers");
    assert_eq!(lbs.len(), 1, "{lbs:?}");
    assert_eq!(lbs[0]["sku"]["name"], "Standard");
    let node_ips: BTreeSet<&str> = sandbox
        .nodes
        .iter()
        .map(|n| n.internal_ip.as_str())
        .collect();
    let members: BTreeSet<String> = lbs[0]["properties"]["backendAddressPools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["properties"]["loadBalancerBackendAddresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|a| a["properties"]["ipAddress"].as_str().map(str::to_string))
        .collect();
    assert!(!members.is_empty(), "{}", lbs[0]);
    assert!(
        members
            .iter()
            .all(|m| node_ips.contains(m.as_str()) || pod_ips.contains(m)),
        "{members:?}"
    );
    let rule = &lbs[0]["properties"]["loadBalancingRules"][0]["properties"];
    assert_eq!(rule["idleTimeoutInMinutes"], 10, "{rule}");
    let pips = resources(&sandbox, "Microsoft.Network/publicIPAddresses");
    assert_eq!(pips.len(), 1, "{pips:?}");
    assert_eq!(
        pips[0]["properties"]["dnsSettings"]["domainNameLabel"],
        "cloudnet-web"
    );

    // Deleting the Service leaves no load balancer and no public IP.
    let services: Api<Service> = Api::namespaced(sandbox.client().clone(), "default");
    services
        .delete("web-public", &DeleteParams::default())
        .await
        .unwrap();
    let sb = &sandbox;
    eventually(
        Duration::from_secs(30),
        "the load balancer and its public IP are deleted",
        || async move {
            (resources(sb, "Microsoft.Network/loadBalancers").is_empty()
                && resources(sb, "Microsoft.Network/publicIPAddresses").is_empty())
            .then_some(())
        },
    )
    .await;

    // A bad annotation: a Warning Event naming it, and no load balancer.
    let bad: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "bad", "annotations": {
            "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout": "200"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                 "ports": [{"port": 80, "targetPort": 80}]}
    }))
    .unwrap();
    services.create(&Default::default(), &bad).await.unwrap();
    let events: Api<Event> = Api::namespaced(sandbox.client().clone(), "default");
    let events = &events;
    let note = eventually(
        Duration::from_secs(30),
        "a Warning Event for the bad annotation",
        || async move {
            let e = events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.involved_object.name.as_deref() == Some("bad")
                        && e.reason.as_deref() == Some("InvalidConfiguration")
                })?;
            Some(e.message.unwrap_or_default())
        },
    )
    .await;
    assert!(
        note.contains("azure-load-balancer-tcp-idle-timeout")
            && note.contains("must be between 4 and 100"),
        "{note}"
    );
    assert!(resources(&sandbox, "Microsoft.Network/loadBalancers").is_empty());

    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_azure_sandbox_through_the_binary_names_the_arm_endpoint_and_its_ca() {
    let dir = temp_dir("azure-bin");
    let kubeconfig = dir.join("kubeconfig");
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args([
            "sandbox",
            "--provider",
            "azure",
            "-f",
            examples().join("web.yaml").to_str().unwrap(),
            "-f",
            examples().join("aks").to_str().unwrap(),
            "--exit-after-apply",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--mockcloud-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Cloud: azure (mock Azure Resource Manager"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Waiting for the workload to settle ... done"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Azure ARM:       https://127.0.0.1:"),
        "{stdout}"
    );
    let ca = dir.join("mockcloud-ca.pem");
    assert!(
        stdout.contains(&format!("Mock cloud CA:   {}", ca.display())),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .contains("-----BEGIN CERTIFICATE-----")
    );
    assert!(
        stdout.contains("Load balancers (from Service and Ingress status): 1"),
        "{stdout}"
    );
    for name in ["aks-nodepool1-12345678-0", "aks-nodepool1-12345678-1"] {
        assert!(
            stdout.contains(&format!(
                "/providers/Microsoft.Compute/virtualMachines/{name}"
            )),
            "{stdout}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
