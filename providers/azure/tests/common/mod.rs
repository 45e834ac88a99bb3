//! The mock cloud in-process and a provider config pointed at its ARM port.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use cloudnet_azure::{AzureConfig, CredentialsChoice, RetryConfig};
use cloudnet_core::{BudgetConfig, Op, OpClass, Rate, RateBudget, Service};
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
