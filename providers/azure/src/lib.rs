//! cloudnet-azure: the Azure backend of cloudnet, on Azure Resource Manager's Network
//! provider through `azure_mgmt_network` 0.21 (with `azure_core` and `azure_identity` 0.21,
//! reqwest on rustls).
//!
//! ```text
//!  controllers ─> Routes / Addresses (this crate)
//!                     │ typed builders (azure_mgmt_network, api-version 2024-03-01)
//!                     ▼
//!  azure_core pipeline: [retry off] ─> CallPolicy (budget, counts, If-Match, 429/5xx) ─> reqwest
//!                     │ long-running PUT/DELETE: the library polls Azure-AsyncOperation,
//!                     ▼ each poll through CallPolicy too
//!  Azure Resource Manager (or the mock cloud's --arm-listen, its CA trusted)
//! ```
//!
//! - [`config`]: what the provider is told; subscription, resource group and location from
//!   IMDS ([`config::discover`]).
//! - [`client`]: the Network client: endpoint override, extra CA, credentials (static token,
//!   Workload Identity, managed identity), azure_core's retries off.
//! - [`call`]: every request through the core's rate budget, counted per RBAC operation,
//!   429 retried after `Retry-After` (through the budget), 5xx and dropped connections with
//!   backoff; `If-Match` for writes made under [`call::with_if_match`].
//! - [`error`]: ARM error codes as [`cloudnet_core::Error`] (by code, then status).
//! - [`nodes`]: a node's NICs from its VM resource ID.
//! - [`routes`]: [`cloudnet_core::Routes`] for kubenet, changes coalesced into one route
//!   table PUT per batch window under the table's ETag.
//! - [`lb`]: [`cloudnet_core::LoadBalancers`] for Services on a Standard Load Balancer
//!   (observe -> pure [`lb::diff()`] -> [`lb::ChangeSet`] -> apply) with its allow rules on
//!   the cluster's NSG ([`lb::security_rules`], [`lb::security_group`]), the Service annotations
//!   of [`lb::attributes`] read from the spec's attributes; for Ingresses ([`lb::appgw`]) one
//!   Application Gateway v2 per Ingress (or group), AGIC's annotations of
//!   [`lb::appgw::attributes`] read from the spec's and groups' attributes.
//! - [`addresses`]: [`cloudnet_core::Addresses`] with secondary ipConfigurations on the
//!   node's NIC, 16 per NIC PUT under its ETag; on a scale-set instance's NIC 16 per
//!   per-instance model update ([`addresses::scale_set`]); `hot_plug_interfaces = false`.
//! - [`compute`]: the two Compute API calls (read a scale-set instance, update its model),
//!   serde types for the fields used, on the Network client's pipeline and [`CallPolicy`].
//! - [`cloud`]: [`AzureCloud::connect`]: the three on one client (one budget, one set of
//!   counts) as the controllers hold them ([`cloudnet_core::Cloud`]).
//!
//! # How the traits map onto ARM
//!
//! | Trait method | ARM calls |
//! |---|---|
//! | `Routes::list` | `routeTables/read` |
//! | `Routes::create` / `delete` | `networkInterfaces/read` once per VM (its primary address); per batch window `routeTables/read` + `routeTables/write` (If-Match), again on 412 |
//! | `Addresses::describe_node` | the VM's NICs (scale-set instance: its `networkInterfaces` list; standalone VM: the resource group's NICs filtered by `virtualMachine.id`); `virtualNetworks/subnets/read` once per subnet |
//! | `Addresses::assign_blocks` | per 16: `networkInterfaces/read` + `networkInterfaces/write` (If-Match; new `cloudnet-<n>` ipConfigurations, `Dynamic`). Scale-set instance: per 16 `virtualMachineScaleSets/virtualMachines/read` + `.../virtualMachines/write` (If-Match; the model's NIC gets the ipConfigurations) + `Microsoft.Compute/locations/operations/read` + the NIC's read (`.../virtualMachines/networkInterfaces/read`) for the addresses |
//! | `Addresses::release_blocks` | per 16: `networkInterfaces/read` + `networkInterfaces/write` without them (nothing when already gone). Scale-set instance: the NIC's read, then per 16 the instance's read + write without them (nothing when already gone) |
//! | `Addresses::attach_interface` / `detach_interface` / `delete_orphan` | none: `InvalidInput` (`NotSupported`) |
//! | `Addresses::list_orphans` | none: always empty (the suite creates no NICs) |
//! | `LoadBalancers::ensure` | `publicIPAddresses/read` (internet-facing), `loadBalancers/read`; `publicIPAddresses/write` when missing; `loadBalancers/write` (If-Match) only when the projection differs; then the Service's allow rules: `virtualNetworks/subnets/read` once per process (the node subnet's NSG, unless `AZURE_SECURITY_GROUP_NAME` names it), `networkSecurityGroups/read`, `networkSecurityGroups/write` (If-Match, the whole rule list; 412: read again) only when the Service's rules differ: a second ensure makes no write |
//! | `LoadBalancers::sync_targets` | `loadBalancers/read`; `loadBalancers/write` with the pool's addresses when they differ |
//! | `LoadBalancers::delete` | `loadBalancers/read`; `networkSecurityGroups/read` and, when the Service has rules there, `networkSecurityGroups/write` without them; `loadBalancers/delete`, per public IP its frontends used `publicIPAddresses/read` and `publicIPAddresses/delete` (ours only: a user's named IP stays; gone is done) |
//! | `LoadBalancers::list_owned` | `loadBalancers/read` and `applicationGateways/read` (the resource group's lists), by the `cloudnet.io/*` tags |
//! | `LoadBalancers::ensure` (Application) | `publicIPAddresses/read`, `applicationGateways/read`; `publicIPAddresses/write` when missing; one `applicationGateways/write` (If-Match) of the whole gateway only when a field the suite sets differs (a second ensure makes no write); on 412 read, decide and write again |
//! | `LoadBalancers::sync_targets` (gateway pool) | `applicationGateways/read`; one `applicationGateways/write` (If-Match) with the pool's addresses when they differ, none otherwise |
//! | `LoadBalancers::delete` (gateway) | `applicationGateways/read`, `applicationGateways/delete`, then the suite's public IPs as for a load balancer |
//! | `LoadBalancers::target_health` (gateway pool) | `applicationGateways/read`; with members, `applicationGateways/backendhealth/action` and `locations/operationResults/read` polls of its `Location` until it answers |
//!
//! A long-running PUT adds `locations/operations/read` polls (only while the operation runs)
//! and the library's final GET of the resource.
//!
//! # What the client library does and does not do
//!
//! The generated builders take no request headers: `If-Match` is added by [`call::CallPolicy`]
//! from a task-local ([`call::with_if_match`]). The library's long-running-operation loop
//! reports an operation that ends `Failed` without ARM's error code (mapped to `Transient`
//! `OperationFailed`); errors ARM returns synchronously (412, 409, 400 codes) keep their code.
//!
//! The library's DELETE builders have no operation poller in 0.21: a delete is sent and its
//! 202 taken as done (ARM removes the resource while the operation runs).
//!
//! The controllers pass the Service annotations of [`lb::attributes`] through, checked, in
//! cloud-provider-azure's dialect (`cloudnet_controllers::azure`). The library's poller for
//! `backendhealth` reads the operation's `Location` as a status URL and cannot finish on ARM's
//! answers, so the action is sent alone and its `Location` polled here
//! ([`call::with_get_url`]). Not built: the gateway's managed identity for Key Vault
//! certificates (the user grants it), WAF policies, rewrite rules and weighted backends on
//! the gateway, groups the suite does not own (`sync_bound_targets`: `NotSupported`), a
//! shared gateway the suite did not create (refused), and per-member health of Standard Load
//! Balancer pools (a metric on Azure: members report `Unavailable`). The Compute API is called
//! only for a scale-set instance's model (no VM sizes): the node's NICs are found through the
//! Network API, so `describe_node` leaves `instance_type` empty. A scale-set NIC that the
//! instance's model does not name, or another node's NIC, is refused (`InvalidInput`) before
//! any write.

pub mod addresses;
pub mod call;
pub mod client;
pub mod cloud;
pub mod compute;
pub mod config;
pub mod error;
pub mod lb;
pub mod nodes;
pub mod routes;

pub use addresses::AzureAddresses;
pub use call::{CallCounts, CallPolicy, RetryConfig};
pub use cloud::AzureCloud;
pub use config::{AzureConfig, ClusterNetwork, CredentialsChoice, Instance, MockEndpoints};
pub use error::{ConfigError, ConfigResult};
pub use lb::AzureLoadBalancers;
pub use routes::AzureRoutes;
