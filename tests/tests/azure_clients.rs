//! The mock cloud's Azure Resource Manager through Microsoft's own Python SDK
//! (azure-mgmt-network from PyPI, installed by scripts/setup.sh): HTTPS verified against the
//! mock's CA (`connection_verify`), `base_url` at the mock's ARM port, a static
//! TokenCredential, long-running operations through the SDK's ARM poller (one held
//! `InProgress` by a fault), and error codes as the SDK raises them.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudnet_mockcloud::{Config, Handle, MockCloud, World, azure::AzureWorld, faults::FaultRule};
use serde_json::{Value, json};

/// python3 with azure-mgmt-network (the project venv, scripts/setup.sh).
fn python_with_azure() -> Option<PathBuf> {
    cloudnet_testkit::python_with("azure.mgmt.network", "azure-mgmt-network")
}

/// Runs `tests/azure/<script> <arm endpoint> <ca.pem> <args...>` and reads the one JSON
/// object it prints.
async fn run_script(py: &Path, script: &str, mock: &Handle, args: &[&str]) -> Value {
    let ca = std::env::temp_dir().join(format!("mockcloud-ca-{}.pem", mock.arm_addr().port()));
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/azure")
        .join(script);
    let endpoint = format!("https://localhost:{}", mock.arm_addr().port());
    let mut command = Command::new(py);
    command.arg(script).arg(&endpoint).arg(&ca).args(args);
    // The scripts import their shared `arm_script.py`; no bytecode cache beside the sources.
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let _ = std::fs::remove_file(&ca);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client script failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_python_sdk_drives_resource_manager() {
    let Some(py) = python_with_azure() else {
        return;
    };
    let azure = AzureWorld {
        page_size: 2,
        ..AzureWorld::default()
    };
    let (subscription, group, scale_set) = (
        azure.subscription.clone(),
        azure.resource_group.clone(),
        azure.scale_sets[0].name.clone(),
    );
    let mut world = World {
        azure: Some(azure),
        ..World::default()
    };
    // The route table's creation stays InProgress for 1.5 s: the poller must wait it out.
    let slow: FaultRule = serde_json::from_value(json!({
        "service": "arm",
        "action": "Microsoft.Network/routeTables/write",
        "kind": "operation_running",
        "ms": 1500,
        "trigger": "once",
    }))
    .unwrap();
    world.faults.push(slow);
    let mock = MockCloud::start(Config::ephemeral(world)).await.unwrap();
    let v = run_script(
        &py,
        "network_client.py",
        &mock,
        &[&subscription, &group, &scale_set],
    )
    .await;

    assert_eq!(v["vnet_state"], "Succeeded");
    assert_eq!(v["vnet_subnets"], json!(["nodes"]));
    assert_eq!(v["overlap"]["status"], 400);
    assert_eq!(v["overlap"]["code"], "NetcfgSubnetRangesOverlap");
    assert_eq!(
        v["nic_ips"],
        json!(["10.10.0.4", "10.10.0.50", "10.10.0.5"]),
        "static first, then the lowest free past the 4 reserved"
    );
    assert_eq!(v["taken"]["code"], "PrivateIPAddressIsAllocated");
    assert_eq!(v["subnet_in_use"]["code"], "InUseSubnetCannotBeDeleted");
    assert_eq!(v["rt_state"], "Succeeded");
    assert!(
        v["rt_seconds"].as_f64().unwrap() >= 1.0,
        "the poller waited for the InProgress operation: {}",
        v["rt_seconds"]
    );
    assert_eq!(
        v["routes"],
        json!([
            ["pod-cidr-0", "10.244.0.0/24", "10.10.0.4"],
            ["pod-cidr-1", "10.244.1.0/24", "10.10.0.5"]
        ])
    );
    assert_eq!(v["pip_has_address"], true);
    assert_eq!(v["lb_rules"], json!(["tcp-80"]));
    assert_eq!(v["dangling"]["code"], "InvalidResourceReference");
    assert_eq!(v["pool_members"], json!(["primary"]));
    assert_eq!(
        v["stale_if_match"],
        json!({"status": 412, "code": "PreconditionFailed"})
    );
    assert_eq!(
        v["lb_in_use"]["code"],
        "InUseBackendAddressPoolCannotBeDeleted"
    );
    assert_eq!(v["not_found"]["status"], 404);
    assert_eq!(v["not_found"]["code"], "ResourceNotFound");
    assert_eq!(
        v["nics_listed"],
        json!(["py-extra-0", "py-extra-1", "py-extra-2", "py-nic"]),
        "every page followed"
    );
    assert_eq!(v["scale_set_ips"], json!(["10.224.0.4", "10.224.0.5"]));
    assert_eq!(v["deleted"]["code"], "ResourceNotFound");

    let calls = mock.with_cloud(|c| c.calls.clone());
    assert!(
        calls
            .get("arm:Microsoft.Network/locations/operations/read")
            .copied()
            .unwrap_or(0)
            >= 2,
        "the SDK polled operations: {calls:?}"
    );
    let by_caller = mock.with_cloud(|c| c.call_log.by_caller().clone());
    assert!(
        by_caller
            .get("python-sdk-oid")
            .is_some_and(|m| m.contains_key("arm:Microsoft.Network/loadBalancers/write")),
        "the caller is the token's oid: {by_caller:?}"
    );
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_python_sdk_writes_an_application_gateway_as_agic_does() {
    let Some(py) = python_with_azure() else {
        return;
    };
    let azure = AzureWorld::default();
    let (subscription, group) = (azure.subscription.clone(), azure.resource_group.clone());
    let world = World {
        azure: Some(azure),
        ..World::default()
    };
    let mock = MockCloud::start(Config::ephemeral(world)).await.unwrap();
    let v = run_script(
        &py,
        "app_gateway_client.py",
        &mock,
        &[&subscription, &group],
    )
    .await;

    assert_eq!(v["dangling"]["code"], "InvalidResourceReference");
    assert_eq!(
        v["no_priority"]["code"],
        "ApplicationGatewayRequestRoutingRulePriorityCannotBeEmpty"
    );
    assert_eq!(
        v["shared_subnet"]["code"],
        "ApplicationGatewaySubnetCannotBeUsedByOtherResources"
    );
    assert_eq!(v["state"], "Succeeded");
    assert_eq!(
        v["listeners"],
        json!([["shop", ["shop.example.com"]], ["any", []]])
    );
    assert_eq!(
        v["path_rule_ids"],
        json!([["shop", "pathRules", "api"]]),
        "path rules get their IDs under their path map"
    );
    assert_eq!(v["redirect_target"], "shop");
    assert_eq!(v["settings_path"], json!(["/v1/", null]));
    assert_eq!(v["pool_addresses"], json!([["10.244.0.7"], []]));
    assert_eq!(v["subnet_in_use"]["code"], "InUseSubnetCannotBeDeleted");
    assert_eq!(v["deleted"]["status"], 404);
    mock.shutdown().await;
}
