//! The AKS-like side of `cloudnet sandbox --provider azure`: the mock's AKS world
//! ([`cloudnet_mockcloud::azure::AzureWorld::aks`], its pool a scale set as AKS's default),
//! its instances (or, in a `--world` with an availability-set pool, its VMs) registered as AKS
//! registers nodes, and the cluster's VNet, node subnet and route table as AKS's `azure.json`
//! names them. Pod ipConfigurations reach a scale-set instance's NIC through the instance's
//! model (the Compute API), a standalone VM's through a NIC PUT.

use cloudnet_kubesim::sim::node::NodeRegistration;
use cloudnet_mockcloud::azure::{AzureState, ref_id};

/// Pods per node: AKS's default with Azure CNI.
pub const MAX_PODS: u32 = 30;
/// The bearer token the sandbox's controller presents (the mock takes any).
pub const CONTROLLER_TOKEN: &str = "cloudnet-sandbox-controller";

/// The cluster's network as AKS's `azure.json` names it.
pub use cloudnet_azure::ClusterNetwork as AksNetwork;

fn last(id: &str) -> String {
    id.rsplit('/').next().unwrap_or_default().to_string()
}

/// The first VNet's first subnet and the route table on it (else the first route table).
pub fn network(s: &AzureState) -> Option<AksNetwork> {
    let vnet = s.of_type("Microsoft.Network/virtualNetworks").next()?;
    let subnet = vnet["properties"]["subnets"].as_array()?.first()?;
    let route_table = ref_id(&subnet["properties"], "routeTable")
        .map(last)
        .or_else(|| {
            s.of_type("Microsoft.Network/routeTables")
                .next()
                .and_then(|t| t["name"].as_str().map(str::to_string))
        })?;
    Some(AksNetwork {
        vnet: vnet["name"].as_str()?.to_string(),
        subnet: subnet["name"].as_str()?.to_string(),
        route_table,
    })
}

/// A Node for every VM (and scale-set instance), as AKS registers them: named as the VM's
/// computer name, providerID `azure://<VM resource ID>`, the VM size as instance type, the
/// fault domain as zone (AKS's label for nodes outside availability zones), max-pods 30.
pub fn nodes_from_cloud(s: &AzureState) -> Vec<NodeRegistration> {
    s.nodes()
        .filter_map(|vm| {
            let id = vm["id"].as_str()?;
            let p = &vm["properties"];
            let nic = p["networkProfile"]["networkInterfaces"]
                .as_array()?
                .first()
                .and_then(|n| n["id"].as_str())
                .and_then(|n| s.lookup(n))?;
            let configs = nic["properties"]["ipConfigurations"].as_array()?;
            let primary = configs
                .iter()
                .find(|c| c["properties"]["primary"] == true)
                .or_else(|| configs.first())?;
            Some(NodeRegistration {
                name: p["osProfile"]["computerName"]
                    .as_str()
                    .or_else(|| vm["name"].as_str())?
                    .to_string(),
                provider_id: format!("azure://{id}"),
                internal_ip: primary["properties"]["privateIPAddress"]
                    .as_str()?
                    .to_string(),
                zone: p["platformFaultDomain"].as_u64().unwrap_or(0).to_string(),
                instance_type: vm["sku"]["name"]
                    .as_str()
                    .or_else(|| p["hardwareProfile"]["vmSize"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                max_pods: MAX_PODS,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use cloudnet_mockcloud::azure::AzureWorld;

    use super::*;

    #[test]
    fn the_aks_world_registers_its_two_scale_set_instances() {
        let s = AzureState::new(&AzureWorld::aks()).expect("world builds");
        let nodes = nodes_from_cloud(&s);
        let got: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.internal_ip.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("aks-nodepool1-12345678-vmss000000", "10.224.0.4"),
                ("aks-nodepool1-12345678-vmss000001", "10.224.0.5")
            ]
        );
        assert_eq!(
            nodes[1].provider_id,
            "azure:///subscriptions/8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59/resourceGroups/MC_cloudnet_cloudnet_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/1"
        );
        assert_eq!(nodes[0].instance_type, "Standard_DS2_v2");
    }

    #[test]
    fn the_availability_set_world_registers_two_aks_nodes_in_two_fault_domains() {
        let s = AzureState::new(&AzureWorld::availability_set()).expect("world builds");
        let nodes = nodes_from_cloud(&s);
        let got: Vec<(&str, &str, &str)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.internal_ip.as_str(), n.zone.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("aks-nodepool1-12345678-0", "10.224.0.4", "0"),
                ("aks-nodepool1-12345678-1", "10.224.0.5", "1")
            ]
        );
        assert_eq!(
            nodes[0].provider_id,
            "azure:///subscriptions/8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59/resourceGroups/MC_cloudnet_cloudnet_eastus/providers/Microsoft.Compute/virtualMachines/aks-nodepool1-12345678-0"
        );
        assert_eq!(nodes[0].instance_type, "Standard_DS2_v2");
        assert_eq!(
            network(&s),
            Some(AksNetwork {
                vnet: "aks-vnet-12345678".into(),
                subnet: "aks-subnet".into(),
                route_table: "aks-agentpool-12345678-routetable".into(),
            })
        );
    }
}
