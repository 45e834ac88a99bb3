//! The mock cloud in-process and a provider config pointed at its ARM port.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use cloudnet_azure::{AzureConfig, CredentialsChoice, RetryConfig};
use std::collections::BTreeMap;

use cloudnet_core::{
    Action, BackendGroup, BudgetConfig, HealthCheck, IpAddressType, Listener, LoadBalancerKind,
    LoadBalancerSpec, NodeRef, Op, OpClass, Owner, OwnerKind, Protocol, Rate, RateBudget, Scheme,
    Service, Subnets, TargetKind, WeightedGroup,
};
use cloudnet_mockcloud::azure::AzureWorld;
use cloudnet_mockcloud::azure::Call;
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use serde_json::json;

pub async fn start(f: impl FnOnce(&mut AzureWorld)) -> Handle {
    let mut az = AzureWorld::default();
    f(&mut az);
    let world = World {
        azure: Some(az),
        ..World::default()
    };
    MockCloud::start(Config::ephemeral(world))
        .await
        .expect("mock cloud starts")
}

/// The config a node of the mock's default world would have (IMDS on the main port).
pub async fn config(h: &Handle) -> AzureConfig {
    let instance = cloudnet_azure::config::discover(&h.endpoint_url())
        .await
        .expect("IMDS answers");
    let mut cfg = AzureConfig::new(
        &instance,
        "aks-vnet-12345678",
        "aks-subnet",
        "aks-agentpool-12345678-routetable",
        "demo",
    );
    cfg.endpoint = h.arm_endpoint_url();
    cfg.ca_pem = Some(h.ca_pem().to_string());
    cfg.credentials = CredentialsChoice::Static("test-token".into());
    cfg.retry = RetryConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryConfig::default()
    };
    cfg
}

/// A budget wide enough not to pace a test's calls.
pub fn wide_budget() -> RateBudget {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(10_000.0, 10_000));
    }
    let _ = (Service::Compute, OpClass::Describe);
    RateBudget::new(&b)
}

/// ARM calls the mock logged, by operation (`Microsoft.Network/routeTables/write`).
pub fn arm_calls(h: &Handle, operation: &str) -> u64 {
    h.with_cloud(|c| {
        c.calls
            .get(&format!("arm:{operation}"))
            .copied()
            .unwrap_or(0)
    })
}

pub fn shared(cfg: AzureConfig) -> Arc<AzureConfig> {
    Arc::new(cfg)
}

/// The scale-set instance IDs of the mock's default world's pool.
pub fn instance_id(cfg: &AzureConfig, i: usize) -> String {
    format!(
        "azure:///subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/{i}",
        cfg.subscription, cfg.resource_group
    )
}

/// A standalone VM `vm1` with its NIC `vm1-nic` on the node subnet (an availability-set
/// node), made through the mock's own ARM handler.
pub fn standalone_vm(
    h: &cloudnet_mockcloud::Handle,
    cfg: &cloudnet_azure::AzureConfig,
) -> (String, String) {
    let rg = &cfg.resource_group;
    let put = |path: String, body: serde_json::Value, version: &str| {
        let call = Call {
            method: "PUT".into(),
            segments: path.split('/').map(str::to_string).collect(),
            api_version: Some(version.into()),
            body: Some(body),
            ..Call::default()
        };
        h.with_cloud(|c| c.azure.handle(&call))
            .expect("the mock takes it");
    };
    put(
        format!("resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/vm1-nic"),
        json!({"location": cfg.location, "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"primary": true, "subnet": {"id": cfg.subnet_id()}}}
        ]}}),
        "2024-03-01",
    );
    let nic = cfg.network_id("networkInterfaces/vm1-nic");
    put(
        format!("resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/vm1"),
        json!({"location": cfg.location, "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "networkProfile": {"networkInterfaces": [{"id": nic}]}
        }}),
        "2024-07-01",
    );
    (
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/vm1",
            cfg.subscription
        ),
        nic,
    )
}

/// The node of [`standalone_vm`]'s VM id.
pub fn vm_node(vm: &str) -> NodeRef {
    NodeRef {
        name: "vm1".into(),
        instance_id: format!("azure://{vm}"),
        zone: None,
    }
}

/// A Service's load balancer: TCP 80 and UDP 53 to pod IPs.
pub fn service(name: &str, scheme: Scheme) -> LoadBalancerSpec {
    let key = |p: &str| format!("shop/{name}:{p}");
    let listener = |port, protocol, g: String| Listener {
        port,
        protocol,
        certificates: vec![],
        ssl_policy: None,
        default_action: Action::Forward {
            groups: vec![WeightedGroup {
                group: g,
                weight: 1,
            }],
        },
        rules: vec![],
    };
    let group = |k: String, protocol, port| BackendGroup {
        key: k,
        protocol,
        port,
        target_kind: TargetKind::PodIp,
        health_check: HealthCheck::defaults_for(protocol),
        attributes: BTreeMap::new(),
    };
    LoadBalancerSpec {
        owner: Owner::namespaced("demo", OwnerKind::Service, "shop", name),
        kind: LoadBalancerKind::Network,
        scheme,
        ip_address_type: IpAddressType::Ipv4,
        listeners: vec![
            listener(80, Protocol::Tcp, key("80")),
            listener(53, Protocol::Udp, key("53")),
        ],
        groups: vec![
            group(key("80"), Protocol::Tcp, 8080),
            group(key("53"), Protocol::Udp, 5353),
        ],
        attributes: BTreeMap::new(),
        subnets: Subnets::Discover,
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}
