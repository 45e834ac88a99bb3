//! The mock cloud in-process and a provider config pointed at its ARM port.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use azure_mgmt_network::models::Subnet;
use cloudnet_azure::lb::appgw::{self, attributes as attr};
use cloudnet_core::{
    Action, BackendGroup, FixedResponse, Listener, LoadBalancerKind, LoadBalancerSpec, Owner,
    OwnerKind, PathMatch, Protocol, Rule, Scheme, TargetKind,
};
use serde_json::json;

use cloudnet_azure::client::{compute_client, network_client};
use cloudnet_azure::{
    AzureAddresses, AzureConfig, CallPolicy, ClusterNetwork, MockEndpoints, RetryConfig,
};
use cloudnet_core::{
    AddressBlock, Addresses, AssignBlocks, BlockKind, BudgetConfig, Interface, InterfaceId,
    NodeRef, Op, OpClass, Rate, RateBudget, Service,
};
use cloudnet_mockcloud::azure::AzureWorld;
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};

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

/// Where the mock answers, IMDS as the VM `computer_name` (`None`: its first VM).
pub fn endpoints(h: &Handle, computer_name: Option<&str>) -> MockEndpoints {
    let imds = match computer_name {
        Some(name) => format!(
            "{}{}{name}",
            h.endpoint_url(),
            cloudnet_mockcloud::azimds::PATH_PREFIX
        ),
        None => h.endpoint_url(),
    };
    MockEndpoints {
        imds,
        arm: h.arm_endpoint_url(),
        ca_pem: h.ca_pem().to_string(),
        token: "test-token".into(),
    }
}

/// Retries backing off from 10 ms to 50 ms: the mock is local.
pub fn quick_retry() -> RetryConfig {
    RetryConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryConfig::default()
    }
}

/// The config a node of the mock's default world would have (IMDS on the main port).
pub async fn config(h: &Handle) -> AzureConfig {
    let network = ClusterNetwork::aks_sandbox();
    let made = AzureConfig::for_mock(&endpoints(h, None), &network, "demo").await;
    let mut cfg = made.expect("IMDS answers");
    cfg.retry = quick_retry();
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

/// The node of the default world's scale-set instance `i` (named as AKS names it).
pub fn scale_set_node(cfg: &AzureConfig, i: usize) -> NodeRef {
    NodeRef {
        name: format!("aks-nodepool1-12345678-vmss{i:06}"),
        instance_id: instance_id(cfg, i),
        zone: None,
    }
}

/// `count` ipConfigurations on `interface`.
pub fn ip_configurations(interface: InterfaceId, count: u32) -> AssignBlocks {
    AssignBlocks {
        interface,
        kind: BlockKind::IpConfiguration,
        count,
        prefix_len: None,
    }
}

/// The provider's pod addresses on `cfg`: a network and a compute client under one call
/// policy, returned for its counts.
pub fn addresses(cfg: &Arc<AzureConfig>) -> (AzureAddresses, CallPolicy) {
    let (client, policy) = network_client(cfg, wide_budget()).expect("a network client");
    let compute = compute_client(cfg, &policy).expect("a compute client");
    (AzureAddresses::new(client, compute, cfg.clone()), policy)
}

/// The mock's default Azure world, the provider's config on it, and its pod addresses with
/// their call policy.
pub async fn addresses_world() -> (Handle, Arc<AzureConfig>, AzureAddresses, CallPolicy) {
    let h = start(|_| {}).await;
    let cfg = Arc::new(config(&h).await);
    let (addrs, policy) = addresses(&cfg);
    (h, cfg, addrs, policy)
}

/// `count` ipConfigurations assigned on `node`'s interface `nic`, every one of them, and how
/// many ARM `operation` calls (as the mock logs them) that took.
pub async fn assign_counting(
    h: &Handle,
    addrs: &AzureAddresses,
    node: &NodeRef,
    nic: &InterfaceId,
    count: u32,
    operation: &str,
) -> (Vec<AddressBlock>, u64) {
    let before = arm_calls(h, operation);
    let request = ip_configurations(nic.clone(), count);
    let got = addrs.assign_blocks(node, &request).await.expect("assigned");
    assert_eq!(got.len(), count as usize, "{got:?}");
    (got, arm_calls(h, operation) - before)
}

/// The first (primary) interface of `node`, as the provider describes it.
pub async fn first_interface(addrs: &AzureAddresses, node: &NodeRef) -> Interface {
    let d = addrs
        .describe_node(node)
        .await
        .expect("the node is described");
    d.interfaces[0].clone()
}

/// A PUT straight into the mock's ARM state (`resourceGroups/{rg}/providers/...`), as
/// someone other than the provider would make it.
pub fn arm_put(h: &Handle, path: &str, body: serde_json::Value, api_version: &str) {
    let call = cloudnet_mockcloud::azure::Call {
        method: "PUT".into(),
        segments: path.split('/').map(str::to_string).collect(),
        api_version: Some(api_version.into()),
        body: Some(body),
        ..Default::default()
    };
    h.with_cloud(|c| c.azure.handle(&call))
        .expect("the mock takes it");
}

/// A standalone VM `name` with its NIC `{name}-nic` on the node subnet (an availability-set
/// node), made through the mock's own ARM handler: (the VM's ID, the NIC's ID).
pub fn standalone_vm(h: &Handle, cfg: &AzureConfig, name: &str) -> (String, String) {
    let rg = &cfg.resource_group;
    let nic = format!("{name}-nic");
    arm_put(
        h,
        &format!("resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/{nic}"),
        serde_json::json!({"location": cfg.location, "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"primary": true, "subnet": {"id": cfg.subnet_id()}}}
        ]}}),
        "2024-03-01",
    );
    let nic = cfg.network_id(&format!("networkInterfaces/{nic}"));
    arm_put(
        h,
        &format!("resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"),
        serde_json::json!({"location": cfg.location, "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "networkProfile": {"networkInterfaces": [{"id": nic}]}
        }}),
        "2024-07-01",
    );
    (
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}",
            cfg.subscription
        ),
        nic,
    )
}

/// An Ingress with two hosts: shop.example.com (/api to api, the rest to web) and
/// admin.example.com (to admin), on port 80; no default backend (404).
pub fn ingress(name: &str) -> LoadBalancerSpec {
    let rule = |priority, host: &str, path: &str, g: &str| Rule {
        priority,
        hosts: vec![host.into()],
        paths: vec![PathMatch::Prefix(path.into())],
        conditions: vec![],
        action: Action::forward_to(g),
    };
    let group = |key: &str, port| BackendGroup::new(key, Protocol::Http, port, TargetKind::PodIp);
    let mut api = group("shop/api:80", 8080);
    api.attributes
        .insert(attr::BACKEND_PATH_PREFIX.into(), "/v1/".into());
    api.attributes
        .insert(attr::HEALTH_PROBE_PATH.into(), "/healthz".into());
    let not_found = Action::FixedResponse(FixedResponse {
        status_code: 404,
        content_type: Some("text/plain".into()),
        body: None,
    });
    let http = Listener {
        rules: vec![
            rule(1, "shop.example.com", "/api", "shop/api:80"),
            rule(2, "shop.example.com", "/", "shop/web:80"),
            rule(3, "admin.example.com", "/", "shop/admin:80"),
        ],
        ..Listener::new(80, Protocol::Http, not_found)
    };
    LoadBalancerSpec::new(
        Owner::namespaced("demo", OwnerKind::Ingress, "shop", name),
        LoadBalancerKind::Application,
        vec![http],
        vec![
            api,
            group("shop/web:80", 3000),
            group("shop/admin:80", 9000),
        ],
    )
}

/// The dedicated subnet an Application Gateway needs, as a user makes it.
pub async fn gateway_subnet(
    client: &azure_mgmt_network::Client,
    cfg: &cloudnet_azure::AzureConfig,
) {
    let subnet: Subnet =
        serde_json::from_value(json!({"properties": {"addressPrefix": "10.225.0.0/24"}})).unwrap();
    client
        .subnets_client()
        .create_or_update(
            &cfg.resource_group,
            &cfg.vnet,
            appgw::DEFAULT_SUBNET,
            subnet,
            &cfg.subscription,
        )
        .await
        .expect("the gateway subnet is made");
}

/// The node of [`standalone_vm`]'s VM id (named as the VM).
pub fn vm_node(vm: &str) -> NodeRef {
    NodeRef {
        name: vm.rsplit('/').next().unwrap_or(vm).into(),
        instance_id: format!("azure://{vm}"),
        zone: None,
    }
}

/// A Service's load balancer: TCP 80 and UDP 53 to pod IPs.
pub fn service(name: &str, scheme: Scheme) -> LoadBalancerSpec {
    let key = |p: &str| format!("shop/{name}:{p}");
    let listener =
        |port, protocol, p: &str| Listener::new(port, protocol, Action::forward_to(key(p)));
    let group =
        |p: &str, protocol, port| BackendGroup::new(key(p), protocol, port, TargetKind::PodIp);
    LoadBalancerSpec {
        scheme,
        ..LoadBalancerSpec::new(
            Owner::namespaced("demo", OwnerKind::Service, "shop", name),
            LoadBalancerKind::Network,
            vec![
                listener(80, Protocol::Tcp, "80"),
                listener(53, Protocol::Udp, "53"),
            ],
            vec![
                group("80", Protocol::Tcp, 8080),
                group("53", Protocol::Udp, 5353),
            ],
        )
    }
}
