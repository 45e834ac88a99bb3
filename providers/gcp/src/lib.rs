//! cloudnet-gcp: the GCP backend of cloudnet, on Compute Engine through the official Rust
//! client (`google-cloud-compute-v1`, only the services it calls).
//!
//! ```text
//!  controllers ─> Routes / Addresses (this crate) ─> Caller (rate budget, counts, retries)
//!                                                      │
//!                       google-cloud-compute-v1 <──────┘ ─> Compute Engine REST v1
//!                       (credentials: ADC / metadata server / anonymous)      │
//!                                         operations polled to DONE <─────────┘
//! ```
//!
//! - [`config`]: what the provider is told, and discovery from the metadata server.
//! - [`client`]: the clients, one per service, with the endpoint override and credentials.
//! - [`cloud`]: [`GcpCloud`], the provider and its load balancers as a [`cloudnet_core::Cloud`].
//! - [`call`]: every call through the core's rate budget, counted per method, retried on
//!   429 `rateLimitExceeded` (through the budget) and 5xx (with backoff).
//! - [`ops`]: waiting for zonal, regional and global operations.
//! - [`error`]: client and operation errors as [`cloudnet_core::Error`], GCP's reason kept
//!   as the code.
//! - [`names`]: resource names and URLs.
//! - [`addresses`]: [`cloudnet_core::Addresses`] with alias IP ranges (node IPAM).
//! - [`routes`]: [`cloudnet_core::Routes`] for routes-based clusters.
//! - [`instances`]: reading instances, finding an instance's zone.
//! - [`fingerprint`]: read-modify-write under fingerprints, again on 412 `conditionNotMet`.
//! - [`lb`]: [`cloudnet_core::LoadBalancers`] on GCLB ([`GcpLoadBalancers`]): L7 global
//!   forwarding rules, proxies, URL maps, backend services and NEGs; L4 regional passthrough;
//!   the VPC firewall rules that let each stack's traffic and health checks in.
//!
//! # How the traits map onto Compute Engine
//!
//! Tested through the client library against the mock cloud (`tests/`); every call goes
//! through [`call::Caller`] and is counted per method under the API's own name.
//!
//! | Trait method | Compute Engine calls |
//! |---|---|
//! | `Routes::list` | `routes.list` (paged, 500 a page), filtered to the network; ours = name prefix `k8s-<cluster>-` **and** description `cloudnet.io/cluster=<cluster>` |
//! | `Routes::create` | `routes.get` (by the derived name); `instances.aggregatedList` (filter `name = "<n>"`, once per instance: its zone); `routes.insert` (`nextHopInstance`, priority, description); when the range moved to another node, `routes.delete` first; operations polled with `globalOperations.get` only while `RUNNING` |
//! | `Routes::delete` | `routes.get`, `routes.delete` (ours only; gone is done) |
//! | `Addresses::describe_node` | `instances.get`; `subnetworks.get` (once per subnetwork) |
//! | `Addresses::assign_blocks` | `instances.get`; `instances.updateNetworkInterface` (fingerprint; the current ranges plus `/<len>` netmask-only ranges from the pods range, so Compute Engine picks free blocks); `instances.get` (what it picked); on 412 read and write again |
//! | `Addresses::release_blocks` | `instances.get`; `instances.updateNetworkInterface` without those ranges (nothing when already gone) |
//! | `Addresses::attach_interface` / `detach_interface` / `delete_orphan` | none: `InvalidInput` (`NotSupported`); `hot_plug_interfaces` is false |
//! | `Addresses::list_orphans` | none: always empty (no detached interfaces on GCE) |
//!
//! | Resource | Name | Ownership |
//! |---|---|---|
//! | route | `k8s-<cluster, 30 chars>-<16 hex of sha256(cluster, range)>` | description `cloudnet.io/cluster=<c> cloudnet.io/node=<node>` |
//! | alias range | picked by Compute Engine from the `pods` secondary range | on the node's interface; ranges from other ranges are never released |
//! | L7 stack (`LoadBalancers`, [`lb`]) | `k8s-<ns>-<name>-<hash>` per part: global forwarding rule and proxy and URL map per listener, backend service + health check + zonal `GCE_VM_IP_PORT` NEGs per group (one name for all three) | description `cloudnet.io/cluster=<c> cloudnet.io/owner-kind=<k> cloudnet.io/owner=<ns/name> cloudnet.io/resource=<part>` |
//! | L4 stack ([`lb`]) | per protocol: regional forwarding rule, backend service, health check, zonal `GCE_VM_IP` NEGs | the same description |
//! | firewall rules ([`lb::firewall`]) | `k8s-<ns>-<name>-<hash>`, global: one per L7 stack (Google's front ends and health checkers to the groups' ports), two per L4 stack (health checkers to the checks' ports; clients to the listeners' ports at the load balancer's address) | the same description; a rule under our name without it is a `Conflict`, never changed |
//!
//! Credentials come from the client library's own chain ([`config::CredentialsChoice`]):
//! Application Default Credentials (a key file, gcloud's ADC, or the metadata server, which
//! is how GKE Workload Identity hands out the Kubernetes service account's Google identity),
//! the metadata server directly, or none for the mock cloud.
//!
//! The load balancers' calls, and what they leave out, are in [`lb`].

pub mod addresses;
pub mod call;
pub mod client;
pub mod cloud;
pub mod config;
pub mod error;
pub mod fingerprint;
pub mod instances;
pub mod lb;
pub mod names;
pub mod ops;
pub mod provider;
pub mod routes;
pub mod tls;

pub use call::{CallCounts, Caller, Method, RetryConfig};
pub use cloud::GcpCloud;
pub use config::{CredentialsChoice, GcpConfig, Location};
pub use error::{ConfigError, ConfigResult};
pub use lb::GcpLoadBalancers;
pub use provider::GcpProvider;
