//! The controller's repertoire through the provider under deploy/iam/azure's custom role, as
//! the mock cloud enforces it: pod addresses (ipConfigurations added and released on a
//! standalone VM's NIC and, through the instance's model, on a scale-set instance's), kubenet routes (created for two nodes, one deleted), a public and an internal
//! Standard Load Balancer (members synced, a listener removed, deleted with the public IP), an
//! Ingress's Application Gateway (members synced, their health read, deleted with its public
//! IP).
//! ARM must refuse nothing, and every action the role grants must have been used, except
//! the few listed below with the reason no scenario here reaches them. A role without a
//! linked `join` action is refused with ARM's 403 `LinkedAuthorizationFailed`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use cloudnet_azure::client::network_client;
use cloudnet_azure::{AzureConfig, AzureLoadBalancers, AzureRoutes, CredentialsChoice};
use cloudnet_core::{
    Addresses, LoadBalancers, Route, RouteState, RouteTarget, Routes, Scheme, Target,
};
use cloudnet_mockcloud::Handle;
use cloudnet_mockcloud::azure::world::SubnetSpec;
use cloudnet_mockcloud::grants::{GrantSpec, Granted, RoleSource, unused};
use common::{
    addresses, config, first_interface, instance_id, ip_configurations, scale_set_node, service,
    standalone_vm, start, vm_node, wide_budget,
};

/// The object id of the controller's managed identity.
const CONTROLLER_OID: &str = "5c3f0d3e-0b7a-4e55-9a51-cafe00000001";
const ROLE: &str = "cloudnet-controller";

/// Granted actions no scenario here calls, each with the reason.
const UNUSED_ALLOWED: &[(&str, &str)] = &[];

fn role_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/iam/azure/controller-role.json")
}

fn granted() -> Granted {
    let text = std::fs::read_to_string(role_file()).expect("role file");
    Granted::from_azure_role(&text).expect("an Azure custom role definition")
}

/// A token whose `oid` claim is the controller's, as a workload identity token carries it.
fn controller_token() -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&format!(
            r#"{{"oid":"{CONTROLLER_OID}","appid":"cloudnet"}}"#
        ))
    )
}

async fn start_with(role: RoleSource) -> (Handle, Arc<AzureConfig>) {
    let h = start(|w| {
        // AKS's NSG on the node subnet, where the Services' allow rules go.
        *w = w.clone().with_node_nsg();
        // The Application Gateways' dedicated subnet, as the user makes it.
        w.virtual_networks[0].subnets.push(SubnetSpec {
            name: cloudnet_azure::lb::appgw::DEFAULT_SUBNET.into(),
            address_prefix: "10.225.0.0/24".into(),
            route_table: None,
            network_security_group: None,
        });
        w.rbac = Some(GrantSpec {
            roles: BTreeMap::from([(ROLE.to_string(), role)]),
            bindings: BTreeMap::from([(CONTROLLER_OID.to_string(), ROLE.to_string())]),
            base_dir: None,
        })
    })
    .await;
    let mut cfg = config(&h).await;
    cfg.credentials = CredentialsChoice::Static(controller_token());
    (h, Arc::new(cfg))
}

async fn repertoire(h: &Handle, cfg: &Arc<AzureConfig>) {
    let (client, _) = network_client(cfg, wide_budget()).expect("client");
    let (addrs, _) = addresses(cfg);
    let (vm, _) = standalone_vm(h, cfg, "vm1");
    // Pod addresses: on the standalone VM 20 ipConfigurations (16 + 4) on its NIC, on a
    // scale-set node 16 through the instance's model; 4 released on each.
    for (node, count) in [(vm_node(&vm), 20), (scale_set_node(cfg, 0), 16)] {
        let nic = first_interface(&addrs, &node).await.id;
        let got = addrs
            .assign_blocks(&node, &ip_configurations(nic.clone(), count))
            .await
            .unwrap_or_else(|e| panic!("assign on {}: {e}", node.name));
        let release: Vec<_> = got[..4].iter().map(|b| b.cidr).collect();
        addrs
            .release_blocks(&node, &nic, &release)
            .await
            .unwrap_or_else(|e| panic!("release on {}: {e}", node.name));
    }

    // Kubenet routes for two scale-set nodes, one deleted.
    let routes = AzureRoutes::new(client.clone(), cfg.clone());
    let route = |i: usize| Route {
        table: cfg.route_table_id(),
        destination: format!("10.244.{i}.0/24").parse().expect("cidr"),
        target: RouteTarget::Instance(instance_id(cfg, i)),
        node: Some(format!("aks-nodepool1-12345678-vmss{i:06}")),
        state: RouteState::Active,
        owned: true,
    };
    routes.create(&route(0)).await.expect("route 0");
    routes.create(&route(1)).await.expect("route 1");
    routes.list().await.expect("list routes");
    routes.delete(&route(1)).await.expect("delete route");

    // Load balancers: public and internal, members synced, a listener fewer, deleted.
    let lbs = AzureLoadBalancers::new(client.clone(), cfg.clone());
    for (name, scheme) in [
        ("web", Scheme::InternetFacing),
        ("dns-int", Scheme::Internal),
    ] {
        let spec = service(name, scheme);
        let status = lbs.ensure(&spec).await.expect("ensure");
        let targets = [
            Target {
                ip: "10.224.0.40".parse().expect("ip"),
                port: 8080,
            },
            Target {
                ip: "10.224.0.41".parse().expect("ip"),
                port: 8080,
            },
        ];
        lbs.sync_targets(&status.id, &spec.groups[0].key, &targets)
            .await
            .expect("members");
        let mut fewer = spec.clone();
        fewer.listeners.pop();
        fewer.groups.pop();
        lbs.ensure(&fewer).await.expect("a listener fewer");
    }
    // An Ingress's Application Gateway: ensured, its pool synced, deleted below with the
    // rest (and its public IP).
    let spec = common::ingress("web");
    let status = lbs.ensure(&spec).await.expect("gateway");
    let pod = Target {
        ip: "10.224.0.42".parse().expect("ip"),
        port: 8080,
    };
    lbs.sync_targets(&status.id, &spec.groups[0].key, &[pod])
        .await
        .expect("gateway members");
    let health = lbs
        .target_health(&status.groups[0].id)
        .await
        .expect("gateway members' health (backendhealth)");
    assert_eq!(health.len(), 1, "{health:?}");

    for o in lbs.list_owned().await.expect("owned") {
        LoadBalancers::delete(&lbs, &o.id).await.expect("delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repertoire_runs_within_the_role_and_uses_what_it_grants() {
    let (h, cfg) = start_with(RoleSource {
        file: Some(role_file()),
        ..RoleSource::default()
    })
    .await;
    repertoire(&h, &cfg).await;
    let (refused, used) = h.with_cloud(|c| {
        (
            c.call_log.denied_by_caller().clone(),
            c.azure
                .rbac
                .as_ref()
                .and_then(|r| r.used().get(ROLE).cloned())
                .unwrap_or_default(),
        )
    });
    assert_eq!(refused, BTreeMap::new(), "calls refused by RBAC");
    let granted: BTreeSet<String> = granted().allow.into_iter().collect();
    let (surplus, stale) = unused(&granted, &used, UNUSED_ALLOWED);
    assert!(
        surplus.is_empty(),
        "granted by deploy/iam/azure/controller-role.json but never called: {surplus:?}; used: {used:?}"
    );
    assert!(
        stale.is_empty(),
        "listed as unused but not granted or used after all: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_subnet_join_is_refused_with_arms_linked_403() {
    let g = granted();
    let (h, cfg) = start_with(RoleSource {
        permissions: g.allow,
        not_permissions: vec!["Microsoft.Network/virtualNetworks/subnets/join/action".into()],
        ..RoleSource::default()
    })
    .await;
    let (addrs, _) = addresses(&cfg);
    let (vm, _) = standalone_vm(&h, &cfg, "vm1");
    // On the standalone VM's NIC, and the same link on a scale-set instance's model update.
    for node in [vm_node(&vm), scale_set_node(&cfg, 0)] {
        let nic = first_interface(&addrs, &node).await.id;
        let e = addrs
            .assign_blocks(&node, &ip_configurations(nic, 1))
            .await
            .expect_err("refused");
        let text = format!("{e} {e:?}");
        assert!(text.contains("LinkedAuthorizationFailed"), "{text}");
        assert!(
            text.contains("Microsoft.Network/virtualNetworks/subnets/join/action"),
            "{text}"
        );
    }
    let denied = h.with_cloud(|c| c.call_log.denied_by_caller().clone());
    assert_eq!(
        denied[CONTROLLER_OID]["arm:Microsoft.Network/networkInterfaces/write"], 1,
        "{denied:?}"
    );
    assert_eq!(
        denied[CONTROLLER_OID]["arm:Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write"],
        1,
        "{denied:?}"
    );
}
