//! cloudnet-core: the provider-neutral model and the cloud traits of cloudnet.
//!
//! Nothing in here knows an SDK or Kubernetes. The controllers turn Kubernetes objects into
//! the model with pure functions; a provider (`providers/aws`, and later GCP and Azure) turns
//! the model into its cloud's resources and calls; the mock cloud stands in for AWS (the only
//! cloud it serves today).
//!
//! ```text
//!  Kubernetes objects ──(controllers: pure)──> model ──(provider: I/O)──> cloud API
//!          ▲                                                                 │
//!          └──────────────── status, conditions, Events <────────────────────┘
//! ```
//!
//! - [`model`]: addresses (nodes, interfaces, blocks, limits), routes, load balancers.
//! - [`provider`]: the [`Addresses`], [`Routes`] and [`LoadBalancers`] traits and their
//!   capabilities. What a cloud cannot do is a capability the caller reads first
//!   ([`AddressCapabilities::hot_plug_interfaces`], [`LoadBalancerCapabilities::check`]),
//!   never a method that fails with "not implemented". A listener's certificates are the
//!   cloud's references or certificate material ([`CertificateRef::Material`], a TLS
//!   Secret's content): only GCP uploads material (self-managed `sslCertificates`,
//!   [`LoadBalancerCapabilities::check_uploading_certificates`]); AWS and Azure refuse it as
//!   `InvalidInput` naming the listener's certificates.
//! - [`error`]: the one error type and the three clouds' code tables.
//! - [`ownership`]: every tag and name the suite puts on a cloud resource.
//! - [`budget`]: the token buckets every call of a provider goes through.
//! - [`retry`]: how a provider's call layer tries a failed call again ([`RetryConfig`]).
//!
//! # How the traits map onto the three clouds
//!
//! The AWS column is what `cloudnet-aws` calls and its tests run against the mock cloud and
//! moto; the GCP column's `Addresses` and `Routes` rows are what `cloudnet-gcp` calls
//! (its crate docs have the exact calls), its load-balancer rows and the Azure column are a
//! design from those clouds' API references, not yet built or tested.
//!
//! | Trait method | AWS (EC2, ELBv2) | GCP (Compute Engine) | Azure (Microsoft.Network) |
//! |---|---|---|---|
//! | `Addresses::describe_node` | `DescribeInstances`, `DescribeNetworkInterfaces` (filter `attachment.instance-id`), `DescribeInstanceTypes` (ENIs, IPv4 per ENI, prefix support; cached) | `instances.get` (`networkInterfaces[].aliasIpRanges`), `subnetworks.get` (secondary ranges), machine type limits (NICs by vCPU) | `virtualMachines.get` (NIC IDs), `networkInterfaces.get` (`ipConfigurations`), VM size limits (NICs, 256 ipConfigurations per NIC) |
//! | `Addresses::attach_interface` | `CreateNetworkInterface` (tags at creation), `AttachNetworkInterface`, `ModifyNetworkInterfaceAttribute` (DeleteOnTermination); `DeleteNetworkInterface` if the attach fails | — (capability `hot_plug_interfaces = false`: NICs are fixed at VM creation) | — (capability `hot_plug_interfaces = false`: adding a NIC needs the VM stopped) |
//! | `Addresses::detach_interface` | `DetachNetworkInterface`, `DeleteNetworkInterface` | — | — |
//! | `Addresses::assign_blocks` | `AssignPrivateIpAddresses` (`SecondaryPrivateIpAddressCount` or `Ipv4PrefixCount`) | `instances.updateNetworkInterface` adding `aliasIpRanges` (fingerprint for concurrency) | `networkInterfaces.createOrUpdate` adding `ipConfigurations` (etag for concurrency) |
//! | `Addresses::release_blocks` | `UnassignPrivateIpAddresses` (`PrivateIpAddress.N` or `Ipv4Prefix.N`) | `instances.updateNetworkInterface` without those ranges | `networkInterfaces.createOrUpdate` without those ipConfigurations |
//! | `Addresses::list_orphans` / `delete_orphan` | `DescribeNetworkInterfaces` (`tag:cloudnet.io/cluster`, `status=available`), `DeleteNetworkInterface` | alias ranges of deleted pods on `instances.list` (no separate NIC to leak) | `networkInterfaces.list` by tag with no `virtualMachine`, `networkInterfaces.delete` |
//! | `Routes::list` | `DescribeRouteTables` (by ID or cluster tag) | `routes.list` (filter by name prefix / network) | `routeTables.get` (`routes`) |
//! | `Routes::create` | `CreateRoute` / `ReplaceRoute` (`InstanceId` or `NetworkInterfaceId`), `ModifyInstanceAttribute` (SourceDestCheck off) | `routes.insert` (`nextHopInstance`), `canIpForward` set at VM creation | `routes.createOrUpdate` (`VirtualAppliance`, next hop the node IP), NIC `enableIPForwarding` |
//! | `Routes::delete` | `DeleteRoute` (blackholed ones too) | `routes.delete` | `routes.delete` |
//! | `LoadBalancers::ensure` (L4) | `CreateLoadBalancer` (network), `CreateTargetGroup` (`ip` or `instance`), `CreateListener` (TCP/UDP/TLS), `Modify*Attributes`, `AddTags` | `forwardingRules.insert`, `regionBackendServices.insert`, `healthChecks.insert`, NEGs (`GCE_VM_IP`) or instance groups | `loadBalancers.createOrUpdate` (frontend IP, backend pools, probes, load-balancing rules), `publicIPAddresses.createOrUpdate` |
//! | `LoadBalancers::ensure` (L7) | `CreateLoadBalancer` (application), `CreateTargetGroup`, `CreateListener` (HTTP/HTTPS, ACM certificates), `CreateRule` / `ModifyRule` / `SetRulePriorities`, `CreateSecurityGroup` + `AuthorizeSecurityGroupIngress` | `globalForwardingRules.insert`, `targetHttp(s)Proxies.insert`, `urlMaps.insert` (host rules, path matchers), `backendServices.insert`, `networkEndpointGroups.insert` (`GCE_VM_IP_PORT`), `healthChecks.insert`, `sslCertificates.insert`/`.delete` (a Secret's material, named after its content) | `applicationGateways.createOrUpdate` (listeners, request routing rules, URL path maps, backend pools, HTTP settings, probes, SSL certificates from Key Vault) |
//! | `LoadBalancers::sync_targets` | `RegisterTargets` / `DeregisterTargets` (batches), `DescribeTargetHealth` | `networkEndpointGroups.attachNetworkEndpoints` / `detachNetworkEndpoints` (batches of 500), `backendServices.getHealth` | `loadBalancers.createOrUpdate` with the IP-based pool, or `applicationGateways.createOrUpdate` with the gateway's pool (one PUT under the ETag when the addresses differ) |
//! | `LoadBalancers::sync_bound_targets` | `DescribeTargetGroups` (by ARN, type checked), `RegisterTargets` / `DeregisterTargets` of the caller's own members, `DescribeTargetHealth` | the same NEG calls on a NEG named by the user | the same backend pool calls on a pool named by resource ID |
//! | `LoadBalancers::target_health` | `DescribeTargetHealth` (one group, by ARN) | `backendServices.getHealth` | the pool's addresses (`loadBalancers.get` / `applicationGateways.get`); health not read (a metric and the `backendHealth` action): members report `Unavailable` |
//! | `LoadBalancers::delete` | `DeleteListener`, `DeleteRule`, `DeleteLoadBalancer`, `DeleteTargetGroup`, `RevokeSecurityGroupIngress`, `DeleteSecurityGroup` | `forwardingRules.delete`, proxies, `urlMaps.delete`, `backendServices.delete`, NEGs, `healthChecks.delete` | `loadBalancers.delete` / `applicationGateways.delete`, `publicIPAddresses.delete` |
//! | `LoadBalancers::list_owned` | `DescribeLoadBalancers` + `DescribeTags` (`cloudnet.io/cluster`) | `forwardingRules.list` / `urlMaps.list` with label filter `cloudnet-cluster` | `loadBalancers.list` / `applicationGateways.list` by tag |
//!
//! Capabilities per cloud (what the backends will report):
//!
//! | Capability | AWS | GCP | Azure |
//! |---|---|---|---|
//! | `hot_plug_interfaces` | yes | no | no |
//! | block kinds | `SecondaryIp`, `Prefix` (/28, Nitro) | `AliasRange` (any size) | `IpConfiguration` |
//! | route targets | instance, interface | instance, IP | IP (virtual appliance) |
//! | weighted forward / redirect / fixed response | yes / yes / yes | yes / yes / no (URL map has no fixed response) | no / yes / no |
//! | target kinds | pod IP, node port | pod IP (NEG), node port | pod IP, node port |

pub mod budget;
pub mod error;
pub mod model;
pub mod ownership;
pub mod provider;
pub mod retry;

pub use budget::{BudgetConfig, Op, OpClass, Rate, RateBudget, Service};
pub use error::{Error, ErrorKind, Limit, Result};
pub use model::*;
pub use ownership::{NameRules, Owner, OwnerKind, derive_name};
pub use provider::{
    AddressCapabilities, Addresses, Cloud, LoadBalancerCapabilities, LoadBalancers,
    RouteCapabilities, Routes,
};
pub use retry::RetryConfig;

#[cfg(test)]
mod tests;
