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
//! - [`call`]: every call through the core's rate budget, counted per method, retried on
//!   429 `rateLimitExceeded` (through the budget) and 5xx (with backoff).
//! - [`ops`]: waiting for zonal, regional and global operations.
//! - [`error`]: client and operation errors as [`cloudnet_core::Error`], GCP's reason kept
//!   as the code.
//! - [`names`]: resource names and URLs.
//! - [`fingerprint`]: read-modify-write under fingerprints, again on 412 `conditionNotMet`.
//! - [`lb`]: [`cloudnet_core::LoadBalancers`] on GCLB ([`GcpLoadBalancers`]): L7 global
//!   forwarding rules, proxies, URL maps, backend services and NEGs; L4 regional passthrough.
//!
//! What is not built yet: see [`lb`] for what the load balancers leave out.

pub mod call;
pub mod client;
pub mod config;
pub mod error;
pub mod fingerprint;
pub mod lb;
pub mod names;
pub mod ops;
pub mod provider;

pub use call::{CallCounts, Caller, Method, RetryConfig};
pub use config::{CredentialsChoice, GcpConfig, Location};
pub use error::{ConfigError, ConfigResult};
pub use lb::GcpLoadBalancers;
pub use provider::GcpProvider;
