//! cloudnet-controllers: the controllers of the `cloudnet-controller` binary: the pod address
//! allocator, the Service (L4) controller and its garbage collector, TargetGroupBindings, the
//! route controller and leader election; the Ingress controller joins them here.
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
//! - [`service`]: Services of `type: LoadBalancer` -> the neutral L4 spec (the AWS Load
//!   Balancer Controller's annotations), their targets, the controller loop, and garbage
//!   collection of the stacks of Services that are gone.
//! - [`routes`]: nodes' pod CIDRs vs the cloud's routes: the pure plan and the debounced
//!   controller loop.
//! - [`binding`]: TargetGroupBindings: a Service port's targets in a target group made
//!   outside Kubernetes; only targets are registered and deregistered.
//! - [`readiness`]: pod readiness gates: a gated pod's condition turns True once its target
//!   is healthy in the load balancer groups the Service, Ingress and TargetGroupBinding
//!   controllers publish.
//! - [`metrics`]: reconciles, durations and queue depth per controller.
//! - [`leader`]: Lease leader election; only the leader writes.
//! - [`lb_controller`]: the settings the Service and Ingress controllers run with.
//! - [`node_ref`]: the cloud's instance from a Node's providerID.
//! - [`server`]: `/metrics`, `/healthz` and `/readyz`.
//! - [`ingress`]: Ingresses and IngressGroups -> the neutral L7 spec (the AWS Load Balancer
//!   Controller's annotations), and the controller loop.
//! - [`gce`]: ingress-gce's annotations (Ingress, Service, IngressClass names) and the
//!   BackendConfig subset, read as ingress-gce reads them.
//! - [`annotations`], [`events`], [`cache`]: what the controllers share (annotation readers,
//!   Events, cache readiness).
//! - [`cloud_flags`]: `--provider aws|gcp|azure` and the GCP settings (the binary builds the
//!   provider from them); [`azure_flags`]: the `AZURE_*` settings and the Azure backend's
//!   config they make (IMDS fills in what is unset).
//! - [`azure`]: cloud-provider-azure's Service annotations, checked and passed to the Azure
//!   backend as the spec's attributes.
//! - [`app`]: the process: which controllers run, under which lease; the binary and
//!   `cloudnet sandbox` both start them through [`app::run`].
//!
//! Nothing in this library names a cloud: it talks to the [`cloudnet_core::Cloud`] traits.
//! The binary (or the sandbox) picks the provider.

pub mod annotations;
pub mod app;
pub mod azure;
pub mod azure_flags;
pub mod binding;
pub mod cache;
pub mod cloud_flags;
pub mod error;
pub mod events;
pub mod finalizers;
pub mod flags;
pub mod gce;
#[cfg(test)]
mod golden;
pub mod ingress;
pub mod ipam;
pub mod lb_controller;
pub mod leader;
pub mod metrics;
pub mod node_ref;
pub mod readiness;
pub mod routes;
pub mod server;
pub mod service;

pub use error::{Error, Result};
