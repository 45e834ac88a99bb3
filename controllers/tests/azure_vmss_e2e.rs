//! The IPAM allocator on Azure scale-set nodes (AKS's default pools) end to end: `app::run`
//! (what `cloudnet-controller --provider azure` runs) on [`AzureCloud`] against the mock's ARM
//! port and the embedded API (the controller as the chart's ServiceAccount). Each instance's
//! NIC takes 16 ipConfigurations in one per-instance model update (the Compute API; no NIC
//! PUT), its NodeNetwork lists them, the addresses are distinct across nodes, and the
//! allocator's second pass writes nothing.

mod chart_rbac;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use cloudnet_azure::{AzureCloud, AzureConfig, CredentialsChoice, RetryConfig};
use cloudnet_controllers::app::{self, Settings};
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_crds::NodeNetwork;
use cloudnet_mockcloud::azure::{AzureWorld, private_ips};
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

const CLUSTER: &str = "aks-vmss-e2e";
const WAIT: Duration = Duration::from_secs(60);
const VM_WRITE: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write";
const VM_READ: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read";
const NIC_WRITE: &str = "Microsoft.Network/networkInterfaces/write";

/// The scale set's instances: (computer name, resource ID, the addresses of its NIC's
/// ipConfigurations, primary first).
fn instances(mock: &Handle) -> Vec<(String, String, Vec<String>)> {
    mock.with_cloud(|c| {
        c.azure
            .nodes()
            .map(|vm: &Value| {
                let id = vm["id"].as_str().unwrap_or_default().to_string();
                let name = vm["properties"]["osProfile"]["computerName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
                    .as_str()
                    .and_then(|n| c.azure.lookup(n))
                    .map(private_ips)
                    .unwrap_or_default();
                (name, id, nic)
            })
            .collect()
    })
}

async fn connect(mock: &Handle, first: &str) -> AzureCloud {
    let imds = format!(
        "{}{}{first}",
        mock.endpoint_url(),
        cloudnet_mockcloud::azimds::PATH_PREFIX,
    );
    let instance = cloudnet_azure::config::discover(&imds)
        .await
        .expect("IMDS answers");
    let mut cfg = AzureConfig::new(
        &instance,
        "aks-vnet-12345678",
        "aks-subnet",
        "aks-agentpool-12345678-routetable",
        CLUSTER,
    );
    cfg.endpoint = mock.arm_endpoint_url();
    cfg.ca_pem = Some(mock.ca_pem().to_string());
    cfg.credentials = CredentialsChoice::Static("e2e".into());
    cfg.retry = RetryConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryConfig::default()
    };
    AzureCloud::connect(cfg).expect("the Azure backend connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_set_nodes_get_ip_configurations_through_their_instance_models() {
    let world = World {
        azure: Some(AzureWorld::default()),
        ..World::default()
    };
    let mock = MockCloud::start(Config::ephemeral(world))
        .await
        .expect("the mock cloud starts");
    let api = cloudnet_kubesim::KubeSim::start(
        cloudnet_kubesim::Config::default().with_identity(chart_rbac::CONTROLLER_IDENTITY),
    )
    .await
    .expect("the API starts");
    let admin = api
        .client_for(cloudnet_kubesim::ADMIN)
        .await
        .expect("admin client");
    let controller = api
        .client_for(chart_rbac::CONTROLLER_IDENTITY)
        .await
        .expect("controller client");
    common::install_crds(&admin).await;
    let nodes = instances(&mock);
    assert_eq!(nodes.len(), 2);
    for (name, id, ips) in &nodes {
        assert!(id.contains("/virtualMachineScaleSets/"), "{id}");
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "0"}},
            "spec": {"providerID": format!("azure://{id}")},
            "status": {"addresses": [{"type": "InternalIP", "address": ips[0]}]}
        }))
        .expect("node");
        Api::<Node>::all(admin.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("node created");
    }

    let cloud = connect(&mock, &nodes[0].0).await;
    let counts = cloud.counts().clone();
    let mut ipam = AllocatorConfig::default();
    ipam.knobs.warm_ip_target = 16;
    ipam.resync = Duration::from_secs(1);
    let settings = Settings {
        ipam: Some(ipam),
        ..Settings::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app::run(
        controller,
        cloud.cloud(),
        settings,
        Registry::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let networks: Api<NodeNetwork> = Api::all(admin.clone());
    for (name, _, _) in &nodes {
        eventually(WAIT, &format!("{name}'s NodeNetwork Ready"), || {
            let networks = networks.clone();
            async move {
                let s = networks.get(name).await.ok()?.status?;
                let ready = s
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                let secondaries = s
                    .interfaces
                    .first()?
                    .blocks
                    .iter()
                    .filter(|b| !b.primary && b.kind == "ipConfiguration")
                    .count();
                (ready && s.interfaces.len() == 1 && secondaries == 16).then_some(())
            }
        })
        .await;
    }
    let now = instances(&mock);
    let mut all = BTreeSet::new();
    for (name, _, ips) in &now {
        assert_eq!(ips.len(), 17, "{name}: {ips:?}");
        all.extend(ips.iter().cloned());
    }
    assert_eq!(all.len(), 34, "every address on one NIC only: {now:?}");
    assert_eq!(counts.of(VM_WRITE), 2, "{:?}", counts.snapshot());
    assert_eq!(counts.of(NIC_WRITE), 0, "{:?}", counts.snapshot());

    // The allocator's second pass (resync every second) writes nothing.
    let reads = counts.total();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(counts.total() > reads, "no second pass happened");
    assert_eq!(counts.mutating(), 2, "{:?}", counts.snapshot());
    assert!(counts.of(VM_READ) >= 2);

    let _ = stop.send(());
    running
        .await
        .expect("the controllers' task")
        .expect("the controllers stop cleanly");
}
