//! The clouds the suite runs on, one module each behind [`Cloud`]'s small dispatch:
//!
//! | what | [`aws`] | [`gcp`] | [`azure`] |
//! |---|---|---|---|
//! | world | the mock's eksctl-style VPC, two m5.large | the built-in GKE-like project, two e2-standard-4 | AKS's default pool, a scale set of two Standard_DS2_v2; RBAC on |
//! | Nodes | EKS names, `aws:///zone/i-…` | GKE names, `gce://project/zone/name` | AKS names, `azure:///subscriptions/…/virtualMachineScaleSets/…/virtualMachines/<id>` |
//! | controller | `AWS_*`, `VPC_ID`, its access key | `CLOUD_PROVIDER=gcp`, `GCP_*` (the metadata server's token for its service account, held to deploy/iam's role) | `CLOUD_PROVIDER=azure`, `AZURE_*` (a static token naming it, bound to the chart's custom role) |
//! | ipamd reads | IMDSv2 | the GCE metadata server | Azure IMDS |
//! | a pod address is on its node | a private IP of an ENI attached to the instance | in an alias range (or the address) of the instance's interface | an ipConfiguration of the instance's NIC |
//! | load balancer, listener | ELBv2 load balancer, listener | regional forwarding rule (its address), one per protocol | Standard Load Balancer (its frontend's address), LB rule |
//! | targets | target group targets (pod IPs) | NEG endpoints (`GCE_VM_IP`: the pods' nodes) | backend pool addresses (pod IPs), taking traffic where the node subnet's NSG lets the clients in ([`azure_nsg`]) |
//! | ours | tags `cloudnet.io/cluster` / `kubernetes.io/cluster/<c>` | description `cloudnet.io/cluster=<c>` | tag `cloudnet.io/cluster` |
//!
//! Each module reads the mock's state dump (`GET /_mockcloud/state`) on its own: the
//! invariants never ask the controller's provider what it did.

pub mod aws;
pub mod azure;
pub mod azure_nsg;
pub mod gcp;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cloudnet_kubesim::sim::node::NodeRegistration;
use serde_json::Value;

/// The cluster name on every cloud resource the controller creates.
pub const CLUSTER: &str = "faults";

/// The cloud a run is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Gcp,
    Azure,
}

/// Every cloud, in the order runs and docs list them.
pub const CLOUDS: [Cloud; 3] = [Cloud::Aws, Cloud::Gcp, Cloud::Azure];

impl Cloud {
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
        }
    }

    /// `aws`, `gcp` or `azure`; anything else is an error naming the choices.
    pub fn parse(s: &str) -> Result<Cloud, String> {
        CLOUDS
            .into_iter()
            .find(|c| c.name() == s.trim())
            .ok_or_else(|| format!("no cloud {s:?}: expected aws, gcp or azure"))
    }

    /// The mock cloud's world for a run on this cloud (`nodes`: how many nodes at least;
    /// the world's own when fewer).
    pub fn world(self, nodes: usize) -> cloudnet_mockcloud::World {
        match self {
            Cloud::Aws => aws::world(nodes),
            Cloud::Gcp => gcp::world(nodes),
            Cloud::Azure => azure::world(nodes),
        }
    }

    /// A Node for every running instance, registered as the cloud's managed Kubernetes
    /// registers them.
    pub fn nodes(self, cloud: &cloudnet_mockcloud::Handle) -> Vec<NodeRegistration> {
        match self {
            Cloud::Aws => aws::nodes_from_cloud(cloud),
            Cloud::Gcp => gcp::nodes_from_cloud(cloud),
            Cloud::Azure => cloud.with_cloud(|c| azure::nodes_from_cloud(&c.azure)),
        }
    }

    /// The controller's caller in the mock's call log.
    pub fn controller_caller(self) -> &'static str {
        match self {
            Cloud::Aws => aws::CONTROLLER_KEY,
            Cloud::Gcp => gcp::CONTROLLER_CALLER,
            Cloud::Azure => azure::CONTROLLER_OID,
        }
    }

    /// Whether `address` is on `instance`'s network interfaces in the state dump.
    pub fn address_on_instance(self, dump: &Value, instance: &str, address: Ipv4Addr) -> bool {
        match self {
            Cloud::Aws => aws::instance_addresses(dump, instance).contains(&address),
            Cloud::Gcp => gcp::address_on_instance(dump, instance, address),
            Cloud::Azure => azure::instance_addresses(dump, instance).contains(&address),
        }
    }

    /// The cluster's load balancers: ID -> (the address or DNS name clients use, how many
    /// listeners).
    pub fn load_balancers(self, dump: &Value) -> BTreeMap<String, (String, usize)> {
        match self {
            Cloud::Aws => aws::load_balancers(dump),
            Cloud::Gcp => gcp::load_balancers(dump),
            Cloud::Azure => azure::load_balancers(dump),
        }
    }

    /// The cluster's backend groups: ID -> (registered target addresses, routed by a
    /// listener or rule).
    pub fn target_groups(self, dump: &Value) -> BTreeMap<String, (BTreeSet<String>, bool)> {
        match self {
            Cloud::Aws => aws::target_groups(dump),
            Cloud::Gcp => gcp::target_groups(dump),
            Cloud::Azure => azure::target_groups(dump),
        }
    }

    /// Registered targets the cloud reports unhealthy, as `(group ID, address)` (on GCP:
    /// endpoints the health checkers cannot reach through the firewall; the AWS and Azure
    /// mocks report every registered target healthy).
    pub fn unhealthy_targets(self, dump: &Value) -> BTreeSet<(String, String)> {
        match self {
            Cloud::Gcp => gcp::unhealthy_targets(dump),
            Cloud::Aws | Cloud::Azure => BTreeSet::new(),
        }
    }

    /// The target a Service's backend group holds for a pod at `pod` on `instance`: the pod's
    /// address, or on GCP (L4 NEGs of `GCE_VM_IP`) its node's address.
    pub fn service_target(self, dump: &Value, instance: &str, pod: Ipv4Addr) -> Option<String> {
        match self {
            Cloud::Aws | Cloud::Azure => Some(pod.to_string()),
            Cloud::Gcp => gcp::primary_address(dump, instance),
        }
    }

    /// Every resource without the cluster's ownership mark, by `collection/id`, with what
    /// the cluster legitimately changes on them left out.
    pub fn foreign_resources(self, dump: &Value) -> BTreeMap<String, Value> {
        match self {
            Cloud::Aws => aws::foreign_resources(dump),
            Cloud::Gcp => gcp::foreign_resources(dump),
            Cloud::Azure => azure::foreign_resources(dump),
        }
    }

    /// What of the cluster's is left in the cloud (after teardown there must be nothing).
    pub fn leftovers(self, dump: &Value) -> Vec<String> {
        match self {
            Cloud::Aws => aws::leftovers(dump),
            Cloud::Gcp => gcp::leftovers(dump),
            Cloud::Azure => azure::leftovers(dump),
        }
    }

    /// The calls that would make a second copy of something a Service's stack has.
    pub fn stack_creates(self) -> &'static [&'static str] {
        match self {
            Cloud::Aws => aws::STACK_CREATES,
            Cloud::Gcp => gcp::STACK_CREATES,
            Cloud::Azure => azure::STACK_CREATES,
        }
    }

    /// The call that registers a Service's targets.
    pub fn target_write(self) -> &'static str {
        match self {
            Cloud::Aws => "elbv2:RegisterTargets",
            Cloud::Gcp => "compute:networkEndpointGroups.attachNetworkEndpoints",
            Cloud::Azure => "arm:Microsoft.Network/loadBalancers/write",
        }
    }

    /// The call that makes a Service's listener, as a fault rule names it: (service,
    /// action). On Azure the load balancer and its rules are one PUT (after its public IP).
    pub fn listener_call(self) -> (&'static str, &'static str) {
        match self {
            Cloud::Aws => ("elbv2", "CreateListener"),
            Cloud::Gcp => ("compute", "forwardingRules.insert"),
            Cloud::Azure => ("arm", "Microsoft.Network/loadBalancers/write"),
        }
    }

    /// The call that adds room for pods on a node, as a fault rule names it: an interface
    /// created (AWS), a scale-set instance's model written with more ipConfigurations on its
    /// NIC (Azure: the suite's nodes are AKS's scale set); none on GCP.
    pub fn pool_growth_call(self) -> Option<(&'static str, &'static str)> {
        match self {
            Cloud::Aws => Some(("ec2", "CreateNetworkInterface")),
            Cloud::Gcp => None,
            Cloud::Azure => Some(("arm", azure::POOL_GROWTH_ACTION)),
        }
    }

    /// The fault rule (for `POST /_mockcloud/faults`) of a cloud fault, in the cloud's own
    /// format: `throttling` (half of all calls, seeded), `5xx` (every second call a 500),
    /// `drop` (every third connection), `lagging-pool` (what a pool growth call makes
    /// visible 2 s late: EC2's eventual consistency, ARM's operation `InProgress`).
    pub fn fault_rule(self, fault: &str) -> Option<Value> {
        let service = match self {
            Cloud::Aws => "*",
            Cloud::Gcp => "compute",
            Cloud::Azure => "arm",
        };
        Some(match (self, fault) {
            (Cloud::Aws, "throttling") => serde_json::json!({"kind": "error", "status": 503,
                "code": "RequestLimitExceeded", "trigger": {"probability": {"p": 0.5, "seed": 15}}}),
            (_, "throttling") => serde_json::json!({"service": service, "kind": "error",
                "status": 429, "trigger": {"probability": {"p": 0.5, "seed": 15}}}),
            (_, "5xx") => serde_json::json!({"service": service, "kind": "error", "status": 500,
                "trigger": {"every_nth": 2}}),
            (_, "drop") => {
                serde_json::json!({"service": service, "kind": "drop", "trigger": {"every_nth": 3}})
            }
            (Cloud::Aws, "lagging-pool") => serde_json::json!({"service": "ec2",
                "action": "CreateNetworkInterface", "kind": "eventual_consistency", "ms": 2000}),
            (Cloud::Azure, "lagging-pool") => serde_json::json!({"service": "arm",
                "action": azure::POOL_GROWTH_ACTION,
                "kind": "operation_running", "ms": 2000}),
            _ => return None,
        })
    }

    /// Whether a call of the call log (`service:action`) changes something.
    pub fn is_mutating(call: &str) -> bool {
        let (service, action) = call.split_once(':').unwrap_or(("", call));
        match service {
            "compute" => gcp::is_mutating(action),
            "arm" => azure::is_mutating(action),
            _ => aws::is_mutating(action),
        }
    }
}

/// The controller's settings for `cloud` (as the chart puts them in its environment): where
/// the cloud is, where the controller runs (`host`, the first node) and who it is.
/// `region` and `vpc` are AWS's; `dir` is where files it reads (a CA) are written.
pub fn controller_env(
    cloud: Cloud,
    mock: &cloudnet_mockcloud::Handle,
    host: &NodeRegistration,
    region: &str,
    vpc: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let endpoint = mock.endpoint_url();
    let host_name = host.provider_id.rsplit('/').next().unwrap_or_default();
    let env: Vec<(&str, String)> = match cloud {
        Cloud::Aws => vec![
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_REGION", region.to_string()),
            ("AWS_ACCESS_KEY_ID", aws::CONTROLLER_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", "faults".to_string()),
            ("VPC_ID", vpc.to_string()),
        ],
        Cloud::Gcp => vec![
            ("CLOUD_PROVIDER", "gcp".to_string()),
            ("GCP_COMPUTE_ENDPOINT", endpoint.clone()),
            (
                "GCP_METADATA_ENDPOINT",
                format!(
                    "{endpoint}{}{}/{host_name}",
                    cloudnet_mockcloud::gcemeta::PATH_PREFIX,
                    host.zone
                ),
            ),
            // The metadata server's token for the node's service account: the controller's
            // (see gcp::world), which the mock's IAM holds to deploy/iam's role.
            ("GCP_CREDENTIALS", "metadata-server".to_string()),
        ],
        Cloud::Azure => {
            let network = mock
                .with_cloud(|c| azure::network(&c.azure))
                .ok_or_else(|| {
                    anyhow::anyhow!("the Azure world has no VNet with a subnet and a route table")
                })?;
            let ca = dir.join("mockcloud-ca.pem");
            std::fs::write(&ca, mock.ca_pem())?;
            vec![
                ("CLOUD_PROVIDER", "azure".to_string()),
                ("AZURE_ARM_ENDPOINT", mock.arm_endpoint_url()),
                (
                    "AZURE_IMDS_ENDPOINT",
                    format!(
                        "{endpoint}{}{}",
                        cloudnet_mockcloud::azimds::PATH_PREFIX,
                        host.name
                    ),
                ),
                ("AZURE_CA_FILE", ca.display().to_string()),
                ("AZURE_VNET_NAME", network.vnet),
                ("AZURE_SUBNET_NAME", network.subnet),
                ("AZURE_ROUTE_TABLE_NAME", network.route_table),
                ("AZURE_CREDENTIALS", "static".to_string()),
                (
                    "AZURE_STATIC_TOKEN",
                    azure::token_for(azure::CONTROLLER_OID),
                ),
            ]
        }
    };
    Ok(env.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Where the ipamd of the node `name` (in `zone`, on `instance`) reads its instance's
/// metadata, on the mock cloud at `endpoint`.
pub fn ipamd_env(
    cloud: Cloud,
    endpoint: &str,
    name: &str,
    zone: &str,
    instance: &str,
) -> Vec<(String, String)> {
    let env: Vec<(&str, String)> = match cloud {
        Cloud::Aws => vec![
            ("IMDS_ENDPOINT", endpoint.to_string()),
            ("IMDS_INSTANCE_ID", instance.to_string()),
        ],
        Cloud::Gcp => vec![
            ("CLOUD_PROVIDER", "gcp".to_string()),
            (
                "GCE_METADATA_HOST",
                endpoint.trim_start_matches("http://").to_string(),
            ),
            (
                "IMDS_INSTANCE_ID",
                format!("zones/{zone}/instances/{instance}"),
            ),
        ],
        Cloud::Azure => vec![
            ("CLOUD_PROVIDER", "azure".to_string()),
            ("AZURE_IMDS_ENDPOINT", endpoint.to_string()),
            ("IMDS_INSTANCE_ID", name.to_string()),
            // As the chart passes it on Azure: free addresses above Azure CNI's batch are
            // offered back.
            (
                "WARM_IP_TARGET",
                cloudnet_crds::AZURE_WARM_IP_TARGET.to_string(),
            ),
        ],
    };
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_parse_by_name_and_a_wrong_one_names_the_choices() {
        assert_eq!(Cloud::parse("gcp"), Ok(Cloud::Gcp));
        assert_eq!(Cloud::parse("azure"), Ok(Cloud::Azure));
        assert!(
            Cloud::parse("oci")
                .unwrap_err()
                .contains("aws, gcp or azure")
        );
    }

    #[test]
    fn reads_are_not_mutating_on_any_cloud() {
        for (call, mutating) in [
            ("ec2:DescribeInstances", false),
            ("ec2:AssignPrivateIpAddresses", true),
            ("compute:instances.get", false),
            ("compute:instances.aggregatedList", false),
            ("compute:backendServices.getHealth", false),
            ("compute:zoneOperations.wait", false),
            ("compute:instances.updateNetworkInterface", true),
            ("compute:forwardingRules.insert", true),
            ("arm:Microsoft.Network/networkInterfaces/read", false),
            ("arm:Microsoft.Network/networkInterfaces/write", true),
            (
                "arm:Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write",
                true,
            ),
            ("arm:Microsoft.Network/loadBalancers/delete", true),
        ] {
            assert_eq!(Cloud::is_mutating(call), mutating, "{call}");
        }
    }
}
