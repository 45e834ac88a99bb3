//! The controllers on Azure end to end: `app::run` (what `cloudnet-controller --provider
//! azure` runs) on [`AzureCloud`] through `azure_mgmt_network` against the mock's ARM port,
//! and the embedded API (the controller as the chart's ServiceAccount, RBAC off). The node
//! pool is an availability set (standalone VMs; a scale-set NIC takes no ipConfigurations
//! through the Network API): the allocator fills each node's one NIC with ipConfigurations,
//! 16 in one NIC PUT, and a second pass writes nothing; a LoadBalancer Service becomes a
//! Standard Load Balancer whose pool holds its pods' addresses, a resync of it writes
//! nothing, and deleting it leaves no load balancer and no public IP.

mod azure_env;
mod chart_rbac;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use azure_env::resources;
use cloudnet_controllers::app::Settings;
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_controllers::service::ServiceSettings;
use cloudnet_core::TargetKind;
use cloudnet_mockcloud::Handle;
use cloudnet_mockcloud::azure::{AzureWorld, private_ips};
use cloudnet_testkit::eventually;
use common::{Controllers, NodeSeen};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const CLUSTER: &str = "aks-e2e";
const WAIT: Duration = Duration::from_secs(60);
const NODES: [&str; 2] = ["aks-nodepool1-12345678-0", "aks-nodepool1-12345678-1"];
const NIC_WRITE: &str = "Microsoft.Network/networkInterfaces/write";
const NIC_READ: &str = "Microsoft.Network/networkInterfaces/read";

/// A VM's resource ID and the addresses of its NIC's ipConfigurations, primary first.
fn vm(mock: &Handle, name: &str) -> (String, Vec<String>) {
    let vm = resources(mock, "Microsoft.Compute/virtualMachines")
        .into_iter()
        .find(|v| v["name"] == name)
        .expect("the VM");
    let id = vm["id"].as_str().expect("id").to_string();
    let nic = resources(mock, "Microsoft.Network/networkInterfaces")
        .into_iter()
        .find(|n| {
            n["properties"]["virtualMachine"]["id"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(&id))
        })
        .expect("the VM's NIC");
    (id, private_ips(&nic))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_get_ip_configurations_and_a_service_gets_a_standard_load_balancer_that_goes_away() {
    let mock = azure_env::mock(AzureWorld::availability_set()).await;
    let cloud = azure_env::connect(&mock, NODES[0], CLUSTER).await;
    let counts = cloud.counts().clone();
    // As `cloudnet-controller --provider azure` runs it (cloud-provider-azure's dialect), with
    // pod IP targets (`DEFAULT_TARGET_TYPE=ip`), 16 warm addresses per node and short resyncs
    // so that the second passes happen within the test.
    let mut service = ServiceSettings::cloud_provider_azure(CLUSTER);
    service.default_target_kind = TargetKind::PodIp;
    let mut ipam = AllocatorConfig::default();
    ipam.knobs.warm_ip_target = 16;
    ipam.resync = Duration::from_secs(1);
    let settings = Settings {
        ipam: Some(ipam),
        service: Some(service),
        service_resync: Duration::from_secs(1),
        ..Settings::default()
    };
    let nodes: Vec<NodeSeen> = NODES
        .iter()
        .map(|&name| {
            let (id, ips) = vm(&mock, name);
            azure_env::node_seen(name, &id, &ips[0])
        })
        .collect();
    let controllers = Controllers::start(cloud.cloud(), settings, &nodes).await;
    let admin = controllers.admin.clone();

    // Each node's NIC: its primary and 16 ipConfigurations, written in one NIC PUT, and its
    // NodeNetwork Ready listing them.
    for name in NODES {
        common::network_ready_when(&admin, name, |s| azure_env::ip_configurations(s, 16)).await;
        let (_, ips) = vm(&mock, name);
        assert_eq!(ips.len(), 17, "{name}: {ips:?}");
    }
    assert_eq!(counts.of(NIC_WRITE), 2, "{:?}", counts.snapshot());

    // The allocator's second pass (resync every second) reads and writes nothing.
    let reads = counts.of(NIC_READ);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(counts.of(NIC_READ) > reads, "no second pass happened");
    assert_eq!(counts.of(NIC_WRITE), 2, "{:?}", counts.snapshot());

    // A LoadBalancer Service with two pods on each node (addresses of the nodes' NICs).
    let pod_ips: Vec<String> = NODES
        .iter()
        .flat_map(|n| vm(&mock, n).1.into_iter().skip(1).take(2))
        .collect();
    let address = common::web_service_with_pods(
        &admin,
        json!({"service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout": "15"}),
        &pod_ips,
        WAIT,
    )
    .await;
    let services: Api<Service> = Api::namespaced(admin.clone(), "default");
    let pips = resources(&mock, "Microsoft.Network/publicIPAddresses");
    assert_eq!(pips.len(), 1, "{pips:#?}");
    assert_eq!(pips[0]["properties"]["ipAddress"], json!(address));
    let want: BTreeSet<String> = pod_ips.iter().cloned().collect();
    let (mock, want) = (&mock, &want);
    eventually(WAIT, "the pool holds the pods", || async move {
        let lbs = resources(mock, "Microsoft.Network/loadBalancers");
        let members: BTreeSet<String> = lbs
            .first()?
            .pointer("/properties/backendAddressPools/0/properties/loadBalancerBackendAddresses")?
            .as_array()?
            .iter()
            .filter_map(|a| a["properties"]["ipAddress"].as_str().map(str::to_string))
            .collect();
        (lbs.len() == 1 && members == *want).then_some(())
    })
    .await;
    let lbs = resources(mock, "Microsoft.Network/loadBalancers");
    assert_eq!(lbs[0]["sku"]["name"], "Standard");
    let rule = &lbs[0]["properties"]["loadBalancingRules"][0]["properties"];
    assert_eq!(
        (rule["frontendPort"].clone(), rule["backendPort"].clone()),
        (json!(80), json!(8080))
    );
    assert_eq!(rule["idleTimeoutInMinutes"], 15);

    // A second reconcile past the resync period (the Service touched) runs a full ensure:
    // it reads the load balancer and writes nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (writes, lb_reads) = (
        counts.mutating(),
        counts.of("Microsoft.Network/loadBalancers/read"),
    );
    services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "1"}}})),
        )
        .await
        .unwrap();
    let counts_ref = &counts;
    eventually(WAIT, "the second ensure", || async move {
        (counts_ref.of("Microsoft.Network/loadBalancers/read") > lb_reads).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counts.mutating(), writes, "{:?}", counts.snapshot());

    // Deleted: no load balancer, no public IP; the nodes keep their addresses.
    common::delete_web_service(&admin, WAIT).await;
    assert!(resources(mock, "Microsoft.Network/loadBalancers").is_empty());
    assert!(resources(mock, "Microsoft.Network/publicIPAddresses").is_empty());
    for name in NODES {
        assert_eq!(vm(mock, name).1.len(), 17, "{name}");
    }

    controllers.stop().await;
}
