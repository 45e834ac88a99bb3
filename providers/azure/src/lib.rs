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
//!
//! # How the traits map onto ARM
//!
//! | Trait method | ARM calls |
//! |---|---|
//! | `Routes::list` | `routeTables/read` |
//! | `Routes::create` / `delete` | `networkInterfaces/read` once per VM (its primary address); per batch window `routeTables/read` + `routeTables/write` (If-Match), again on 412 |
//!
//! # What the client library does and does not do
//!
//! The generated builders take no request headers: `If-Match` is added by [`call::CallPolicy`]
//! from a task-local ([`call::with_if_match`]). The library's long-running-operation loop
//! reports an operation that ends `Failed` without ARM's error code (mapped to `Transient`
//! `OperationFailed`); errors ARM returns synchronously (412, 409, 400 codes) keep their code.
//!
//! Not built: the Compute API (VM sizes, scale-set models) is not called; the node's NICs
//! are found through the Network API alone.

pub mod call;
pub mod client;
pub mod config;
pub mod error;
pub mod nodes;
pub mod routes;

pub use call::{CallCounts, CallPolicy, RetryConfig};
pub use config::{AzureConfig, CredentialsChoice, Instance};
pub use error::{ConfigError, ConfigResult};
pub use routes::AzureRoutes;
