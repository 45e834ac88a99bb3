//! `cloudnet sandbox --provider azure`: in process through its library (pods addressed from
//! ipConfigurations that the mock's NICs show, the Service's Standard Load Balancer, cleanup
//! and a bad annotation's Event), and as users run it, through the `cloudnet` binary.

use std::collections::BTreeSet;
use std::time::Duration;

use cloudnet_cli::manifests;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_controllers::cloud_flags::CloudProvider;
use cloudnet_mockcloud::azure::private_ips;
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};
use support::{examples, run_sandbox_binary, temp_dir};

mod support;

/// The mock's resources of one ARM type.
fn resources(sandbox: &Sandbox, type_: &str) -> Vec<Value> {
    sandbox
        .cloud
        .with_cloud(|c| c.azure.of_type(type_).cloned().collect())
}

/// Each node's name with the private addresses of its NIC's ipConfigurations (the NIC's
/// `virtualMachine` is the node's providerID).
fn nic_addresses(sandbox: &Sandbox) -> Vec<(String, BTreeSet<String>)> {
    resources(sandbox, "Microsoft.Network/networkInterfaces")
        .iter()
        .filter_map(|nic| {
            let vm = nic["properties"]["virtualMachine"]["id"].as_str()?;
            let node = sandbox.nodes.iter().find(|n| {
                n.provider_id
                    .trim_start_matches("azure://")
                    .eq_ignore_ascii_case(vm)
            })?;
            Some((node.name.clone(), private_ips(nic).into_iter().collect()))
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
    // AKS's default pool: two scale-set instances.
    assert_eq!(sandbox.nodes.len(), 2);
    for (i, n) in sandbox.nodes.iter().enumerate() {
        assert!(
            n.provider_id.starts_with("azure:///subscriptions/")
                && n.provider_id.ends_with(&format!(
                    "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/{i}"
                )),
            "{}",
            n.provider_id
        );
        assert_eq!(n.name, format!("aks-nodepool1-12345678-vmss{i:06}"));
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

    // Three pods running, each address an ipConfiguration of its own node's NIC (written
    // through the instance's model).
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
    // AKS's NSG on the node subnet lets the Internet in to the Service's backend port, under
    // the load balancer's name (a Standard Load Balancer is closed without it).
    let nsgs = resources(&sandbox, "Microsoft.Network/networkSecurityGroups");
    assert_eq!(nsgs.len(), 1, "{nsgs:?}");
    let allow = &nsgs[0]["properties"]["securityRules"];
    let lb_name = lbs[0]["name"].as_str().unwrap();
    assert_eq!(allow.as_array().map(Vec::len), Some(1), "{allow}");
    assert_eq!(allow[0]["name"], format!("{lb_name}-TCP"), "{allow}");
    let p = &allow[0]["properties"];
    assert_eq!(
        (
            &p["access"],
            &p["direction"],
            &p["sourceAddressPrefix"],
            &p["priority"]
        ),
        (
            &json!("Allow"),
            &json!("Inbound"),
            &json!("Internet"),
            &json!(500)
        ),
        "{p}"
    );
    assert_eq!(
        p["destinationPortRange"],
        rule["backendPort"].to_string(),
        "{p}"
    );
    // The Service's public IP (with its DNS label) and the gateway's.
    let pips = resources(&sandbox, "Microsoft.Network/publicIPAddresses");
    assert_eq!(pips.len(), 2, "{pips:?}");
    assert!(
        pips.iter()
            .any(|p| p["properties"]["dnsSettings"]["domainNameLabel"] == "cloudnet-web"),
        "{pips:?}"
    );

    // web-ingress: one Application Gateway v2 in appgw-subnet, its pool the pods' addresses,
    // AGIC's annotations in its HTTP settings and probe.
    let gateways = resources(&sandbox, "Microsoft.Network/applicationGateways");
    assert_eq!(gateways.len(), 1, "{gateways:?}");
    let gw = &gateways[0]["properties"];
    assert!(
        gw["gatewayIPConfigurations"][0]["properties"]["subnet"]["id"]
            .as_str()
            .is_some_and(|id| id.ends_with("/subnets/appgw-subnet")),
        "{gw}"
    );
    let pool: BTreeSet<String> = gw["backendAddressPools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["properties"]["backendAddresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|a| a["ipAddress"].as_str().map(str::to_string))
        .collect();
    let pods: BTreeSet<String> = pod_ips.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(pool, pods, "{gw}");
    assert_eq!(
        gw["backendHttpSettingsCollection"][0]["properties"]["requestTimeout"], 30,
        "{gw}"
    );

    // Deleting the Service and the Ingress leaves no load balancer, no gateway, no public
    // IP and no rule on the NSG.
    let services: Api<Service> = Api::namespaced(sandbox.client().clone(), "default");
    services
        .delete("web-public", &DeleteParams::default())
        .await
        .unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(sandbox.client().clone(), "default");
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let sb = &sandbox;
    eventually(
        Duration::from_secs(60),
        "the load balancer, the gateway and their public IPs are deleted",
        || async move {
            (resources(sb, "Microsoft.Network/loadBalancers").is_empty()
                && resources(sb, "Microsoft.Network/applicationGateways").is_empty()
                && resources(sb, "Microsoft.Network/publicIPAddresses").is_empty())
            .then_some(())
        },
    )
    .await;
    let nsgs = resources(&sandbox, "Microsoft.Network/networkSecurityGroups");
    assert_eq!(
        nsgs[0]["properties"]["securityRules"],
        json!([]),
        "{nsgs:?}"
    );

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
    let stdout = run_sandbox_binary("azure", "aks", &dir);
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
        stdout.contains("Load balancers (from Service and Ingress status): 2"),
        "{stdout}"
    );
    for i in 0..2 {
        assert!(
            stdout.contains(&format!(
                "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/{i}"
            )),
            "{stdout}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
