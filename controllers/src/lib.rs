//! cloudnet-controllers: the controllers of the `cloudnet-controller` binary. Today the pod
//! address allocator; the route, Service and Ingress controllers join it here.
//!
//! ```text
//!  ipamd (each node)                allocator (here, one per cluster)              cloud
//!  NodeNetwork.spec ──watch──▶ queue by deficit ──▶ plan (pure) ──▶ apply ──Addresses──▶ EC2
//!  (inUse, release)                  ▲                                  │
//!  NodeNetwork.status ◀──────────────┴──── status, conditions, Events ◀─┘
//!  Node ──watch──▶ NodeNetwork created (owned by the Node); Node gone ──▶ addresses freed
//! ```
//!
//! - [`ipam`]: the allocator. [`ipam::target`] is the VPC CNI's knob arithmetic,
//!   [`ipam::plan`] decides a round's cloud steps, [`ipam::apply`] performs them,
//!   [`ipam::status`] turns the outcome into the `NodeNetwork` status, [`ipam::queue`]
//!   orders the work, [`ipam::allocator`] is the Kubernetes glue.
//! - [`server`]: `/metrics`, `/healthz` and `/readyz`.
//!
//! Nothing in this library names a cloud: it talks to [`cloudnet_core::Addresses`]. The
//! binary picks the provider.

pub mod error;
pub mod ipam;
pub mod server;

pub use error::{Error, Result};
