//! Azure: Resource Manager's resources in the mock cloud's state dump (`azure.resources` by
//! lowercased ID). Ours is what carries the tag `cloudnet.io/cluster=<cluster>`; a pod's
//! address is an ipConfiguration `cloudnet-<n>` of its node's NIC (Azure CNI's secondary-IP
//! mode), which the allocator adds to a NIC that is not ours.
//!
//! The AKS-like side of the world lives here too (the sandbox uses it): the nodes of a pool
//! (scale-set instances or availability-set VMs) registered as AKS registers nodes, and the
//! cluster's VNet, node subnet and route table as AKS's `azure.json` names them. The suite's
//! world is AKS's default, a scale set, with RBAC on: the controller under the chart's role.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cloudnet_kubesim::sim::node::NodeRegistration;
use cloudnet_mockcloud::azure::{AzureState, ref_id};
use serde_json::Value;

use super::CLUSTER;

/// The name prefix of the ipConfigurations the allocator adds (the Azure backend's).
const CONFIG_PREFIX: &str = "cloudnet-";
/// Pods per node: AKS's default with Azure CNI.
pub const MAX_PODS: u32 = 30;
/// The controller's object ID in the bearer token it presents: the mock's call log names
/// ARM callers by it.
pub const CONTROLLER_OID: &str = "cloudnet-faults-controller";
/// The operator's object ID: changes by hand are logged under it.
pub const OPERATOR_OID: &str = "cloudnet-faults-operator";

/// A bearer token (an unsigned JWT) whose `oid` is `oid`: the mock takes any token and
/// names the caller by that claim.
pub fn token_for(oid: &str) -> String {
    let b64 = |v: &Value| base64url(v.to_string().as_bytes());
    format!(
        "{}.{}.unsigned",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::json!({"oid": oid}))
    )
}

/// Unpadded base64url (RFC 4648 section 5), as JWTs carry their parts.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The AKS-like world of AKS's default node pool, a VM scale set of two Standard_DS2_v2
/// (`AzureWorld::aks()`, as `cloudnet sandbox --provider azure` runs it), its capacity raised
/// to `nodes`; Resource Manager enforces RBAC: the controller acts under the chart's custom
/// role (deploy/iam/azure/controller-role.json), the operator as an owner.
pub fn world(nodes: usize) -> cloudnet_mockcloud::World {
    let mut azure = cloudnet_mockcloud::azure::AzureWorld::aks();
    if let Some(set) = azure.scale_sets.first_mut() {
        set.capacity = set.capacity.max(nodes as u64);
    }
    azure.rbac = Some(rbac());
    cloudnet_mockcloud::World {
        azure: Some(azure),
        ..cloudnet_mockcloud::World::default()
    }
}

/// The node subnet of [`world_with_small_subnet`].
pub const SMALL_SUBNET: &str = "10.224.0.0/25";

/// [`world`] with the node subnet cut to [`SMALL_SUBNET`] (123 usable addresses): room for
/// the scenario's pods and both nodes' warm pools (16 each) once the other user's NIC is
/// gone, so the allocator's rounds succeed again (in a /26 the warm pools alone would keep
/// the subnet exhausted).
pub fn world_with_small_subnet() -> cloudnet_mockcloud::World {
    let mut w = world(0);
    if let Some(subnet) = w
        .azure
        .as_mut()
        .and_then(|a| a.virtual_networks.first_mut())
        .and_then(|v| v.subnets.first_mut())
    {
        subnet.address_prefix = SMALL_SUBNET.to_string();
    }
    w
}

/// The controller's custom role, as the chart's docs give it to users.
const CONTROLLER_ROLE: &str = include_str!("../../../deploy/iam/azure/controller-role.json");

/// The controller's object ID bound to its custom role; the operator's to every action.
fn rbac() -> cloudnet_mockcloud::grants::GrantSpec {
    use cloudnet_mockcloud::grants::{GrantSpec, Granted, RoleSource};
    let role = Granted::from_azure_role(CONTROLLER_ROLE)
        .expect("deploy/iam/azure/controller-role.json is an Azure custom role definition");
    GrantSpec {
        roles: BTreeMap::from([
            (
                "cloudnet-controller".to_string(),
                RoleSource {
                    file: None,
                    permissions: role.allow,
                    not_permissions: role.deny,
                },
            ),
            (
                "owner".to_string(),
                RoleSource {
                    file: None,
                    permissions: vec!["*".to_string()],
                    not_permissions: Vec::new(),
                },
            ),
        ]),
        bindings: BTreeMap::from([
            (
                CONTROLLER_OID.to_string(),
                "cloudnet-controller".to_string(),
            ),
            (OPERATOR_OID.to_string(), "owner".to_string()),
        ]),
        base_dir: None,
    }
}

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

/// The calls that would make a second copy of something a Service's stack has (its load
/// balancer is one resource, written again on every change: its public IP is the copy).
pub const STACK_CREATES: &[&str] = &["arm:Microsoft.Network/publicIPAddresses/write"];

/// Not a `read`.
pub fn is_mutating(action: &str) -> bool {
    !action.ends_with("/read")
}

/// Whether a resource carries this cluster's tag.
pub fn owned(resource: &Value) -> bool {
    resource["tags"][cloudnet_core::ownership::TAG_CLUSTER].as_str() == Some(CLUSTER)
}

fn resources(dump: &Value) -> impl Iterator<Item = (&String, &Value)> {
    dump["azure"]["resources"].as_object().into_iter().flatten()
}

pub(super) fn lookup<'a>(dump: &'a Value, id: &str) -> Option<&'a Value> {
    dump["azure"]["resources"]
        .get(id.trim_end_matches('/').to_lowercase())
        .filter(|v| !v.is_null())
}

fn of_type<'a>(dump: &'a Value, type_: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    resources(dump).filter(move |(_, r)| r["type"].as_str() == Some(type_))
}

/// The call that grows a node's pool on the suite's world (AKS's scale set): the instance's
/// model written with more ipConfigurations on its NIC.
pub const POOL_GROWTH_ACTION: &str =
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write";

/// A scale-set instance's type.
pub const INSTANCE_TYPE: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines";

/// Every resource of `type_` in the dump.
pub fn resources_of<'a>(dump: &'a Value, type_: &'a str) -> impl Iterator<Item = &'a Value> {
    of_type(dump, type_).map(|(_, r)| r)
}

/// The dump's key of the machine a Node's providerID ends in `instance`: a standalone VM
/// (`.../virtualMachines/<name>`) or a scale-set instance (`.../virtualMachines/<id>`
/// under its set; the world has one set).
pub fn instance_key(dump: &Value, instance: &str) -> Option<String> {
    let suffix = format!("/virtualmachines/{}", instance.to_lowercase());
    resources(dump)
        .find(|(k, r)| {
            k.ends_with(&suffix)
                && matches!(
                    r["type"].as_str(),
                    Some("Microsoft.Compute/virtualMachines" | INSTANCE_TYPE)
                )
        })
        .map(|(k, _)| k.clone())
}

/// Every private address of the ipConfigurations of the NICs of the machine `instance` (a
/// VM's name or a scale-set instance's ID, as the Node's providerID ends).
pub fn instance_addresses(dump: &Value, instance: &str) -> BTreeSet<Ipv4Addr> {
    instance_key(dump, instance)
        .and_then(|k| lookup(dump, &k))
        .into_iter()
        .flat_map(|vm| {
            vm["properties"]["networkProfile"]["networkInterfaces"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|n| lookup(dump, n["id"].as_str()?))
        .flat_map(|nic| {
            nic["properties"]["ipConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|c| c["properties"]["privateIPAddress"].as_str()?.parse().ok())
        .collect()
}

/// The first VNet's first subnet (the nodes'), as its VNet shows it.
pub fn node_subnet(dump: &Value) -> Option<Value> {
    let vnet = resources_of(dump, "Microsoft.Network/virtualNetworks").next()?;
    vnet["properties"]["subnets"].as_array()?.first().cloned()
}

/// A subnet's free addresses, as Azure counts them: its size less the five it reserves and
/// the configurations in it (NIC ipConfigurations, scale-set instances' included, and
/// load-balancer and gateway frontends), counted from every resource of the dump (a
/// subnet's own back-references are rendered only when ARM is read).
pub fn free_addresses(dump: &Value, subnet: &Value) -> Option<usize> {
    let cidr: ipnet::Ipv4Net = subnet["properties"]["addressPrefix"]
        .as_str()?
        .parse()
        .ok()?;
    let id = subnet["id"].as_str()?;
    let size = 1usize << (32 - cidr.prefix_len());
    let used = resources(dump)
        .flat_map(|(_, r)| {
            [
                "ipConfigurations",
                "frontendIPConfigurations",
                "gatewayIPConfigurations",
            ]
            .into_iter()
            .flat_map(move |seg| r["properties"][seg].as_array().into_iter().flatten())
        })
        .filter(|c| {
            c["properties"]["subnet"]["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(id))
        })
        .count();
    Some(size.saturating_sub(5).saturating_sub(used))
}

/// The ipConfigurations the allocator holds on every NIC (its pools).
pub fn pool_configs(dump: &Value) -> usize {
    resources_of(dump, "Microsoft.Network/networkInterfaces")
        .flat_map(|nic| {
            nic["properties"]["ipConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(CONFIG_PREFIX))
        })
        .count()
}

/// Nothing of the deleted machine `instance` is left: no VM or instance under its key, and
/// no route whose next hop is one of its `addresses`.
pub fn nothing_of(dump: &Value, instance: &str, addresses: &[String]) -> bool {
    if instance_key(dump, instance).is_some() {
        return false;
    }
    let routes = resources_of(dump, "Microsoft.Network/routeTables")
        .flat_map(|t| t["properties"]["routes"].as_array().into_iter().flatten());
    let children = resources_of(dump, "Microsoft.Network/routeTables/routes");
    !routes
        .chain(children)
        .filter_map(|r| r["properties"]["nextHopIpAddress"].as_str())
        .any(|hop| addresses.iter().any(|a| a == hop))
}

/// The cluster's load balancers and Application Gateways: ID -> (their first frontend's
/// address, how many rules).
pub fn load_balancers(dump: &Value) -> BTreeMap<String, (String, usize)> {
    of_type(dump, "Microsoft.Network/loadBalancers")
        .chain(of_type(dump, GATEWAY_TYPE))
        .filter(|(_, lb)| owned(lb))
        .map(|(id, lb)| {
            let p = &lb["properties"];
            let frontend = &p["frontendIPConfigurations"][0]["properties"];
            let address = frontend["privateIPAddress"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    let ip = lookup(dump, frontend["publicIPAddress"]["id"].as_str()?)?;
                    ip["properties"]["ipAddress"].as_str().map(str::to_string)
                })
                .unwrap_or_default();
            let rules = p["loadBalancingRules"]
                .as_array()
                .or_else(|| p["requestRoutingRules"].as_array())
                .map_or(0, Vec::len);
            (id.clone(), (address, rules))
        })
        .collect()
}

const GATEWAY_TYPE: &str = "Microsoft.Network/applicationGateways";

/// Every `backendAddressPool` ID referenced anywhere under `v`, lowercased.
fn pool_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if matches!(
                    k.as_str(),
                    "backendAddressPool" | "defaultBackendAddressPool"
                ) && let Some(id) = x["id"].as_str()
                {
                    out.insert(id.to_lowercase());
                }
                pool_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| pool_refs(x, out)),
        _ => {}
    }
}

/// The backend pools of the cluster's load balancers and Application Gateways: pool ID ->
/// (member addresses, used by a rule). A gateway's default pool (the empty one behind its
/// listeners' 404) is not a group of targets.
pub fn target_groups(dump: &Value) -> BTreeMap<String, (BTreeSet<String>, bool)> {
    let mut out = BTreeMap::new();
    for (_, lb) in of_type(dump, "Microsoft.Network/loadBalancers")
        .chain(of_type(dump, GATEWAY_TYPE))
        .filter(|(_, lb)| owned(lb))
    {
        let p = &lb["properties"];
        let mut used = BTreeSet::new();
        pool_refs(&p["loadBalancingRules"], &mut used);
        pool_refs(&p["requestRoutingRules"], &mut used);
        pool_refs(&p["urlPathMaps"], &mut used);
        for pool in p["backendAddressPools"].as_array().into_iter().flatten() {
            if lb["type"] == GATEWAY_TYPE
                && pool["name"] == cloudnet_azure::lb::appgw::desired::DEFAULT_POOL
            {
                continue;
            }
            let id = pool["id"].as_str().unwrap_or_default().to_lowercase();
            let members = pool["properties"]["loadBalancerBackendAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["properties"]["ipAddress"].as_str())
                .chain(
                    pool["properties"]["backendAddresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["ipAddress"].as_str()),
                )
                .map(str::to_string)
                .collect();
            // A load balancer's pool takes traffic only where the NSG lets its clients in
            // (a gateway's backends are reached from its subnet, inside the VNet).
            let routed = used.contains(&id)
                && (lb["type"] == GATEWAY_TYPE
                    || super::azure_nsg::pool_reachable(dump, lb, &id, &members));
            out.insert(id, (members, routed));
        }
    }
    out
}

/// The paths the path rules of the Application Gateway `id` match.
pub fn rule_paths(dump: &Value, id: &str) -> BTreeSet<String> {
    lookup(dump, id)
        .into_iter()
        .flat_map(|g| {
            g["properties"]["urlPathMaps"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .flat_map(|m| {
            m["properties"]["pathRules"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .flat_map(|r| r["properties"]["paths"].as_array().into_iter().flatten())
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

/// Every resource not the cluster's, by ID, without what the cluster legitimately changes
/// on them: its load balancers' allow rules on an NSG, its `cloudnet-<n>` ipConfigurations
/// on a node's NIC (and the NIC's
/// `provisioningState` while that write's operation runs), the subnets' lists of
/// ipConfigurations in them, and ETags.
pub fn foreign_resources(dump: &Value) -> BTreeMap<String, Value> {
    let mut foreign: Vec<(&String, Value)> = resources(dump)
        .filter(|(_, r)| !owned(r))
        .map(|(id, r)| (id, normalise(r)))
        .collect();
    super::azure_nsg::strip_service_rules(dump, &mut foreign);
    foreign
        .into_iter()
        .map(|(id, r)| (format!("azure{id}"), r))
        .collect()
}

fn normalise(r: &Value) -> Value {
    let mut r = r.clone();
    strip(&mut r);
    r
}

/// Drops ETags, `provisioningState`s (a NIC is `Updating` while the cluster's PUT of its
/// ipConfigurations runs), back-references (a subnet's `ipConfigurations`) and the cluster's
/// `cloudnet-<n>` ipConfigurations (on a NIC, and in a scale-set instance's own model)
/// everywhere in `v`.
fn strip(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("etag");
            if let Some(configs) = o.get_mut("ipConfigurations").and_then(Value::as_array_mut) {
                configs.retain(|c| {
                    !c["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(CONFIG_PREFIX))
                });
            }
            if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
                p.remove("provisioningState");
                if p.contains_key("addressPrefix") {
                    p.remove("ipConfigurations");
                }
            }
            o.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Every resource of the cluster still there, and every Service rule left on an NSG.
pub fn leftovers(dump: &Value) -> Vec<String> {
    resources(dump)
        .filter(|(_, r)| owned(r))
        .map(|(id, _)| format!("azure {id}"))
        .chain(super::azure_nsg::leftover_rules(dump))
        .collect()
}

#[cfg(test)]
mod tests {
    use cloudnet_mockcloud::azure::AzureWorld;
    use serde_json::json;

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

    #[test]
    fn a_vms_addresses_are_its_nics_ip_configurations_and_ours_on_it_are_not_a_change() {
        let nic = |configs: Value| {
            json!({"type": "Microsoft.Network/networkInterfaces", "etag": "W/\"1\"",
                "properties": {"ipConfigurations": configs}})
        };
        let primary = json!({"name": "ipconfig1", "properties": {"privateIPAddress": "10.224.0.4", "primary": true}});
        let pod = json!({"name": "cloudnet-1", "properties": {"privateIPAddress": "10.224.0.9"}});
        let vm = json!({"type": INSTANCE_TYPE, "name": "vmss_1",
            "properties": {"networkProfile": {"networkInterfaces": [{"id": "/S/VMSS/virtualMachines/1/networkInterfaces/NIC0"}]}}});
        let nic_key = "/s/vmss/virtualmachines/1/networkinterfaces/nic0";
        let before = json!({"azure": {"resources": {nic_key: nic(json!([primary])),
            "/s/vmss/virtualmachines/1": vm}}});
        let mut after = before.clone();
        after["azure"]["resources"][nic_key] = nic(json!([primary, pod]));
        after["azure"]["resources"][nic_key]["etag"] = json!("W/\"2\"");
        assert!(instance_addresses(&after, "1").contains(&"10.224.0.9".parse().unwrap()));
        assert!(!instance_addresses(&before, "1").contains(&"10.224.0.9".parse().unwrap()));
        assert!(instance_addresses(&after, "0").is_empty());
        let model = |configs: Value| {
            json!({"type": INSTANCE_TYPE, "properties": {"networkProfileConfiguration": {
                "networkInterfaceConfigurations": [{"properties": {"ipConfigurations": configs}}]}}})
        };
        let with_model = |configs: Value| {
            let mut d = before.clone();
            d["azure"]["resources"]["/s/vmss/virtualmachines/1"] = model(configs);
            d
        };
        assert_eq!(
            foreign_resources(&with_model(json!([primary]))),
            foreign_resources(&with_model(json!([primary, pod])))
        );
        assert_eq!(foreign_resources(&before), foreign_resources(&after));
        // While the PUT's operation runs (ARM answers it InProgress) the NIC is `Updating`:
        // the cluster's own write, not a change of someone else's.
        after["azure"]["resources"][nic_key]["properties"]["provisioningState"] = json!("Updating");
        assert_eq!(foreign_resources(&before), foreign_resources(&after));
        // Anything else on the NIC is someone else's change.
        after["azure"]["resources"][nic_key]["properties"]["enableIPForwarding"] = json!(true);
        assert_ne!(foreign_resources(&before), foreign_resources(&after));
    }

    #[test]
    fn the_suites_world_is_a_scale_set_with_the_controller_under_the_charts_role() {
        let w = world(4).azure.expect("an Azure world");
        assert_eq!(w.scale_sets[0].capacity, 4);
        assert!(w.virtual_machines.is_empty());
        let mut grants = cloudnet_mockcloud::grants::Grants::compile(
            w.rbac.as_ref().expect("RBAC on"),
            "azure.rbac",
            cloudnet_mockcloud::grants::Granted::from_azure_role,
        )
        .expect("the grants load");
        let need = |p: &str| vec![cloudnet_mockcloud::grants::Need::new(p, "/subscriptions/s")];
        assert!(
            grants
                .check(
                    CONTROLLER_OID,
                    &need("Microsoft.Network/loadBalancers/write")
                )
                .is_ok()
        );
        assert!(
            grants
                .check(
                    CONTROLLER_OID,
                    &need("Microsoft.Network/networkInterfaces/delete")
                )
                .is_err()
        );
        assert!(
            grants
                .check(
                    OPERATOR_OID,
                    &need("Microsoft.Network/networkInterfaces/delete")
                )
                .is_ok()
        );
        let small = world_with_small_subnet().azure.expect("an Azure world");
        assert_eq!(
            small.virtual_networks[0].subnets[0].address_prefix,
            SMALL_SUBNET
        );
    }

    #[test]
    fn a_subnet_counts_five_reserved_and_every_configuration_in_it_as_used() {
        let sid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes";
        let subnet = json!({"id": sid, "properties": {"addressPrefix": "10.224.0.0/26"}});
        let config = |subnet: &str| json!({"properties": {"subnet": {"id": subnet}}});
        let dump = json!({"azure": {"resources": {
            // A scale-set instance's NIC: two addresses (the ID's case differs, as ARM's may).
            "nic-a": {"type": "Microsoft.Network/networkInterfaces", "properties": {
                "ipConfigurations": [config(sid), config(&sid.to_uppercase())]}},
            // An internal load balancer's frontend in the subnet.
            "lb": {"type": "Microsoft.Network/loadBalancers", "properties": {
                "frontendIPConfigurations": [config(sid)]}},
            // Another subnet's NIC.
            "nic-b": {"type": "Microsoft.Network/networkInterfaces", "properties": {
                "ipConfigurations": [config("/subscriptions/s/other")]}},
        }}});
        assert_eq!(free_addresses(&dump, &subnet), Some(64 - 5 - 3));
    }

    #[test]
    fn a_gateways_default_pool_is_no_target_group_and_its_path_rules_are_read() {
        let gw = json!({"type": GATEWAY_TYPE, "tags": {cloudnet_core::ownership::TAG_CLUSTER: CLUSTER},
            "properties": {
                "backendAddressPools": [
                    {"id": "/G/backendAddressPools/pool-a", "name": "pool-a",
                     "properties": {"backendAddresses": [{"ipAddress": "10.224.0.9"}]}},
                    {"id": "/G/backendAddressPools/pool-default", "name": "pool-default",
                     "properties": {"backendAddresses": []}}],
                "requestRoutingRules": [{"properties": {"urlPathMap": {"id": "/G/urlPathMaps/m"}}}],
                "urlPathMaps": [{"properties": {
                    "defaultBackendAddressPool": {"id": "/G/backendAddressPools/pool-default"},
                    "pathRules": [{"properties": {"paths": ["/shop"],
                        "backendAddressPool": {"id": "/G/backendAddressPools/pool-a"}}}]}}]}});
        let dump = json!({"azure": {"resources": {"/g": gw}}});
        let groups = target_groups(&dump);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(
            groups["/g/backendaddresspools/pool-a"],
            (BTreeSet::from(["10.224.0.9".to_string()]), true)
        );
        assert_eq!(load_balancers(&dump)["/g"].1, 1);
        assert_eq!(
            rule_paths(&dump, "/G"),
            BTreeSet::from(["/shop".to_string()])
        );
    }

    #[test]
    fn a_token_names_its_object_id() {
        let t = token_for(CONTROLLER_OID);
        assert_eq!(
            cloudnet_mockcloud::arm::caller_of(Some(&format!("Bearer {t}"))).as_deref(),
            Some(CONTROLLER_OID)
        );
    }
}
