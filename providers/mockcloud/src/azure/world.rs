//! The `azure:` section of a world file: the subscription, the resource group and location,
//! the throttling budget, and the VNets, route tables and scale sets it starts with. Unknown
//! keys are refused. Without the section, the built-in AKS-like world below (equal to
//! `worlds/azure.yaml`): a node resource group with a VNet, a node subnet with the kubenet
//! route table, and a scale set of two nodes.
//!
//! ```yaml
//! azure:
//!   subscription: 8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59
//!   resource_group: MC_cloudnet_cloudnet_eastus
//!   location: eastus
//!   retry_after_s: 1                 # Retry-After on accepted operations
//!   page_size: 100                   # list items per page before nextLink
//!   limits: {reads_per_hour: 12000, writes_per_hour: 1200}
//!   virtual_networks:
//!     - name: aks-vnet
//!       address_prefixes: [10.224.0.0/12]
//!       subnets: [{name: aks-subnet, address_prefix: 10.224.0.0/16, route_table: aks-routetable}]
//!   route_tables: [{name: aks-routetable}]
//!   network_security_groups: [{name: aks-agentpool-nsg}]   # on a subnet: network_security_group
//!   scale_sets:
//!     - {name: aks-nodepool1-vmss, vnet: aks-vnet, subnet: aks-subnet, capacity: 2}
//! ```
//!
//! Everything is created through the same PUTs a client sends, so a world cannot hold what
//! the API would refuse.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AzureState, COMPUTE_API_VERSIONS, Call, Limits, NETWORK_API_VERSIONS};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureWorld {
    pub subscription: String,
    #[serde(default = "default_tenant")]
    pub tenant: String,
    pub resource_group: String,
    /// More resource groups (empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_resource_groups: Vec<String>,
    pub location: String,
    #[serde(default = "default_retry_after")]
    pub retry_after_s: u64,
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub virtual_networks: Vec<VnetSpec>,
    #[serde(default)]
    pub route_tables: Vec<RouteTableSpec>,
    /// Network security groups (no rules of their own; Azure's default rules apply).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_security_groups: Vec<NsgSpec>,
    #[serde(default)]
    pub scale_sets: Vec<ScaleSetSpec>,
    /// Standalone VMs (AKS availability-set pools), each with its own NIC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_machines: Vec<VmSpec>,
    /// Roles and who acts as which, by the token's object id (see [`crate::grants`]);
    /// every call allowed without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbac: Option<crate::grants::GrantSpec>,
}

fn default_tenant() -> String {
    "72f988bf-0000-4000-8000-00000000cafe".to_string()
}

fn default_retry_after() -> u64 {
    1
}

fn default_page_size() -> usize {
    100
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnetSpec {
    pub name: String,
    pub address_prefixes: Vec<String>,
    #[serde(default)]
    pub subnets: Vec<SubnetSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSpec {
    pub name: String,
    pub address_prefix: String,
    /// A route table of `route_tables`, associated with the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<String>,
    /// A network security group of `network_security_groups`, associated with the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableSpec {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsgSpec {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSetSpec {
    pub name: String,
    pub vnet: String,
    pub subnet: String,
    pub capacity: u64,
    #[serde(default = "default_vm_size")]
    pub vm_size: String,
}

/// A standalone VM and its NIC `<name>-nic` (one ipConfiguration `ipconfig1` in `subnet`),
/// as an AKS availability-set node is: its NIC takes more ipConfigurations through the
/// Network API, which a scale-set instance's does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    pub name: String,
    pub vnet: String,
    pub subnet: String,
    #[serde(default = "default_vm_size")]
    pub vm_size: String,
    /// The VM's fault domain in its availability set (what AKS labels as the node's zone).
    #[serde(default)]
    pub fault_domain: u32,
}

/// The Application Gateways' dedicated subnet, as AGIC's add-on makes it.
fn appgw_subnet() -> SubnetSpec {
    SubnetSpec {
        name: "appgw-subnet".into(),
        address_prefix: "10.225.0.0/24".into(),
        route_table: None,
        network_security_group: None,
    }
}

fn default_vm_size() -> String {
    "Standard_DS2_v2".to_string()
}

impl Default for AzureWorld {
    fn default() -> AzureWorld {
        AzureWorld {
            subscription: "8f5d3c2a-1b4e-4c6d-9a7f-0e1d2c3b4a59".into(),
            tenant: default_tenant(),
            resource_group: "MC_cloudnet_cloudnet_eastus".into(),
            other_resource_groups: Vec::new(),
            location: "eastus".into(),
            retry_after_s: default_retry_after(),
            page_size: default_page_size(),
            limits: Limits::default(),
            virtual_networks: vec![VnetSpec {
                name: "aks-vnet-12345678".into(),
                address_prefixes: vec!["10.224.0.0/12".into()],
                subnets: vec![SubnetSpec {
                    name: "aks-subnet".into(),
                    address_prefix: "10.224.0.0/16".into(),
                    route_table: Some("aks-agentpool-12345678-routetable".into()),
                    network_security_group: None,
                }],
            }],
            route_tables: vec![RouteTableSpec {
                name: "aks-agentpool-12345678-routetable".into(),
            }],
            network_security_groups: Vec::new(),
            scale_sets: vec![ScaleSetSpec {
                name: "aks-nodepool1-12345678-vmss".into(),
                vnet: "aks-vnet-12345678".into(),
                subnet: "aks-subnet".into(),
                capacity: 2,
                vm_size: default_vm_size(),
            }],
            virtual_machines: Vec::new(),
            rbac: None,
        }
    }
}

impl AzureWorld {
    /// The world of `cloudnet sandbox --provider azure` (`worlds/aks.yaml`): the default
    /// world (its pool a scale set of two, AKS's default) with AKS's network security group
    /// on the node subnet, and the Application Gateways' dedicated subnet, as AGIC's add-on
    /// makes it.
    pub fn aks() -> AzureWorld {
        let mut world = AzureWorld::default().with_node_nsg();
        world.virtual_networks[0].subnets.push(appgw_subnet());
        world
    }

    /// AKS's NSG (`aks-agentpool-<id>-nsg`, no rules of its own) on the first subnet, as
    /// AKS associates it with the node subnet of the VNet it makes.
    pub fn with_node_nsg(mut self) -> AzureWorld {
        let name = "aks-agentpool-12345678-nsg".to_string();
        self.network_security_groups
            .push(NsgSpec { name: name.clone() });
        if let Some(subnet) = self
            .virtual_networks
            .first_mut()
            .and_then(|v| v.subnets.first_mut())
        {
            subnet.network_security_group = Some(name);
        }
        self
    }

    /// The default world with its pool as an availability set (AKS's
    /// `--vm-set-type AvailabilitySet`): two standalone VMs in fault domains 0 and 1 instead
    /// of the scale set (`worlds/aks-availability-set.yaml`).
    pub fn availability_set() -> AzureWorld {
        let vm = |i: u32| VmSpec {
            name: format!("aks-nodepool1-12345678-{i}"),
            vnet: "aks-vnet-12345678".into(),
            subnet: "aks-subnet".into(),
            vm_size: default_vm_size(),
            fault_domain: i,
        };
        let mut world = AzureWorld {
            scale_sets: Vec::new(),
            virtual_machines: vec![vm(0), vm(1)],
            ..AzureWorld::default()
        };
        world.virtual_networks[0].subnets.push(appgw_subnet());
        world
    }

    pub fn resource_groups(&self) -> Vec<String> {
        std::iter::once(self.resource_group.clone())
            .chain(self.other_resource_groups.iter().cloned())
            .collect()
    }
}

fn put(s: &mut AzureState, path: String, body: serde_json::Value, compute: bool) -> Result<()> {
    let version = if compute {
        COMPUTE_API_VERSIONS[COMPUTE_API_VERSIONS.len() - 1]
    } else {
        NETWORK_API_VERSIONS[NETWORK_API_VERSIONS.len() - 1]
    };
    let call = Call {
        method: "PUT".into(),
        segments: path.split('/').map(str::to_string).collect(),
        api_version: Some(version.into()),
        body: Some(body),
        ..Call::default()
    };
    s.handle(&call)
        .map(|_| ())
        .map_err(|e| Error::InvalidWorld(format!("azure: PUT {path}: {e}")))
}

pub(super) fn build(s: &mut AzureState, w: &AzureWorld) -> Result<()> {
    let rg = &w.resource_group;
    let net = format!("resourceGroups/{rg}/providers/Microsoft.Network");
    let id = |rest: &str| format!("/subscriptions/{}/{net}/{rest}", w.subscription);
    for rt in &w.route_tables {
        put(
            s,
            format!("{net}/routeTables/{}", rt.name),
            json!({"location": w.location, "properties": {"routes": []}}),
            false,
        )?;
    }
    for nsg in &w.network_security_groups {
        put(
            s,
            format!("{net}/networkSecurityGroups/{}", nsg.name),
            json!({"location": w.location, "properties": {"securityRules": []}}),
            false,
        )?;
    }
    for v in &w.virtual_networks {
        let subnets: Vec<_> = v
            .subnets
            .iter()
            .map(|sn| {
                let mut p = json!({"addressPrefix": sn.address_prefix});
                if let Some(rt) = &sn.route_table {
                    p["routeTable"] = json!({"id": id(&format!("routeTables/{rt}"))});
                }
                if let Some(nsg) = &sn.network_security_group {
                    p["networkSecurityGroup"] =
                        json!({"id": id(&format!("networkSecurityGroups/{nsg}"))});
                }
                json!({"name": sn.name, "properties": p})
            })
            .collect();
        put(
            s,
            format!("{net}/virtualNetworks/{}", v.name),
            json!({
                "location": w.location,
                "properties": {
                    "addressSpace": {"addressPrefixes": v.address_prefixes},
                    "subnets": subnets,
                },
            }),
            false,
        )?;
    }
    for ss in &w.scale_sets {
        let subnet = id(&format!(
            "virtualNetworks/{}/subnets/{}",
            ss.vnet, ss.subnet
        ));
        put(
            s,
            format!(
                "resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{}",
                ss.name
            ),
            json!({
                "location": w.location,
                "sku": {"name": ss.vm_size, "tier": "Standard", "capacity": ss.capacity},
                "properties": {
                    "upgradePolicy": {"mode": "Automatic"},
                    "virtualMachineProfile": {
                        "osProfile": {"computerNamePrefix": ss.name},
                        "networkProfile": {"networkInterfaceConfigurations": [{
                            "name": ss.name,
                            "properties": {
                                "primary": true,
                                "ipConfigurations": [{
                                    "name": "ipconfig1",
                                    "properties": {"primary": true, "subnet": {"id": subnet}},
                                }],
                            },
                        }]},
                    },
                },
            }),
            true,
        )?;
    }
    for vm in &w.virtual_machines {
        let subnet = id(&format!(
            "virtualNetworks/{}/subnets/{}",
            vm.vnet, vm.subnet
        ));
        let nic = format!("{}-nic", vm.name);
        put(
            s,
            format!("{net}/networkInterfaces/{nic}"),
            json!({
                "location": w.location,
                "properties": {"ipConfigurations": [{
                    "name": "ipconfig1",
                    "properties": {
                        "primary": true,
                        "privateIPAllocationMethod": "Dynamic",
                        "subnet": {"id": subnet},
                    },
                }]},
            }),
            false,
        )?;
        put(
            s,
            format!(
                "resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{}",
                vm.name
            ),
            json!({
                "location": w.location,
                "properties": {
                    "hardwareProfile": {"vmSize": vm.vm_size},
                    "osProfile": {"computerName": vm.name},
                    "platformFaultDomain": vm.fault_domain,
                    "networkProfile": {"networkInterfaces": [{
                        "id": id(&format!("networkInterfaces/{nic}")),
                        "properties": {"primary": true},
                    }]},
                },
            }),
            true,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_world_is_the_shipped_file() {
        let file = include_str!("../../worlds/azure.yaml");
        let parsed: AzureWorld = serde_yaml::from_str(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, AzureWorld::default());
    }

    #[test]
    fn the_aks_world_is_its_file_and_builds_a_scale_set_of_two() {
        let file = include_str!("../../worlds/aks.yaml");
        let parsed: AzureWorld = serde_yaml::from_str(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, AzureWorld::aks());
        let s = AzureState::new(&parsed).unwrap_or_else(|e| panic!("{e}"));
        let nodes: Vec<&str> = s.nodes().filter_map(|n| n["name"].as_str()).collect();
        assert_eq!(
            nodes,
            [
                "aks-nodepool1-12345678-vmss_0",
                "aks-nodepool1-12345678-vmss_1"
            ]
        );
    }

    #[test]
    fn the_availability_set_world_is_its_file_and_builds_two_writable_vms() {
        let file = include_str!("../../worlds/aks-availability-set.yaml");
        let parsed: AzureWorld = serde_yaml::from_str(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, AzureWorld::availability_set());
        let s = AzureState::new(&parsed).unwrap_or_else(|e| panic!("{e}"));
        let vms: Vec<(&str, &str)> = s
            .nics()
            .map(|n| {
                (
                    n["properties"]["virtualMachine"]["id"]
                        .as_str()
                        .and_then(|v| v.rsplit('/').next())
                        .unwrap_or_default(),
                    n["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
                        .as_str()
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            vms,
            [
                ("aks-nodepool1-12345678-0", "10.224.0.4"),
                ("aks-nodepool1-12345678-1", "10.224.0.5")
            ]
        );
    }

    #[test]
    fn the_default_world_builds_two_nodes_with_addresses() {
        let s = AzureState::new(&AzureWorld::default()).unwrap_or_else(|e| panic!("{e}"));
        let ips: Vec<&str> = s
            .nics()
            .filter_map(|n| {
                n["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"].as_str()
            })
            .collect();
        assert_eq!(ips, ["10.224.0.4", "10.224.0.5"]);
    }
}
